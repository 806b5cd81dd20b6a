"""rq, unchanged: jobs enqueued on two queues, a dependent job, a job
retried until it succeeds and one that always fails, run by a burst
worker; results, states and registries read back through rq."""
import sys, os, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from redis import Redis
from rq import Queue, Worker, Retry
from rq.job import Job
import rq_jobs as jobs
port = int(sys.argv[1])
r = Redis(port=port)
r.flushall()
q = Queue("default", connection=r)
hi = Queue("high", connection=r)
tmp = tempfile.mktemp()
a = q.enqueue(jobs.add, 2, 3)
b = hi.enqueue(jobs.add, 10, 20, job_id="fixed-id")
f = q.enqueue(jobs.flaky, tmp, retry=Retry(max=3))
x = q.enqueue(jobs.boom)
d = q.enqueue(jobs.add, 1, 1, depends_on=a)
assert len(q) == 3 and len(hi) == 1, (len(q), len(hi))
w = Worker([hi, q], connection=r)
w.work(burst=True)
# retries put the flaky job back; run until the queues are empty
for _ in range(5):
    if len(q) == 0:
        break
    w.work(burst=True)
for job, want in [(a, 5), (b, 30), (d, 2)]:
    job.refresh()
    assert job.get_status() == "finished", (job.id, job.get_status())
    assert job.return_value() == want, (job.id, job.return_value())
f.refresh(); assert f.get_status() == "finished" and f.return_value() == "done after 3", (f.get_status(), f.return_value())
x.refresh(); assert x.get_status() == "failed" and "always" in x.latest_result().exc_string
assert q.failed_job_registry.count == 1 and x.id in q.failed_job_registry.get_job_ids()
assert q.finished_job_registry.count >= 3
print("ok", port)
