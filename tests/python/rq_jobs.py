"""The job functions the rq test enqueues."""
import os
def add(a, b):
    return a + b
def flaky(path):
    # fails the first two times, then succeeds
    n = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as f:
        f.write(str(n + 1))
    if n < 2:
        raise RuntimeError("not yet")
    return "done after %d" % (n + 1)
def boom():
    raise ValueError("always")
