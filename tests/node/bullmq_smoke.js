// BullMQ, unchanged: a queue with plain, delayed, prioritized and retried
// jobs (exponential backoff), a worker processing them, events, and the
// job states and counts the library reads back.
const { Queue, Worker, QueueEvents } = require('bullmq');
const port = parseInt(process.argv[2], 10);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
function fail(msg) { console.error(msg); process.exit(1); }
(async () => {
  const name = 'q' + Date.now();
  const prefix = process.argv[3] || 'bull';
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  await events.waitUntilReady();
  await queue.obliterate({ force: true });
  const attempts = {};
  const completed = [];
  const worker = new Worker(name, async (job) => {
    attempts[job.name] = (attempts[job.name] || 0) + 1;
    if (job.name === 'flaky' && attempts[job.name] < 3) throw new Error('not yet');
    if (job.name === 'broken') throw new Error('always');
    return { sum: (job.data.a || 0) + (job.data.b || 0) };
  }, { connection, prefix, concurrency: 2 });
  worker.on('completed', (job) => completed.push(job.name));
  const started = Date.now();
  const plain = await queue.add('plain', { a: 1, b: 2 });
  const delayed = await queue.add('delayed', { a: 5 }, { delay: 300 });
  const low = await queue.add('low', { a: 1 }, { priority: 10 });
  const flaky = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delay: 50 } });
  const broken = await queue.add('broken', {}, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
  await queue.addBulk([{ name: 'bulk1', data: { a: 10 } }, { name: 'bulk2', data: { b: 20 } }]);
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const counts = await queue.getJobCounts('completed', 'failed', 'delayed', 'wait', 'active', 'prioritized');
    if (counts.completed === 6 && counts.failed === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const counts = await queue.getJobCounts('completed', 'failed', 'delayed', 'wait', 'active', 'prioritized');
  if (counts.completed !== 6 || counts.failed !== 1) fail('counts ' + JSON.stringify(counts));
  const p = await queue.getJob(plain.id);
  if (p.returnvalue.sum !== 3 || (await p.getState()) !== 'completed') fail('plain ' + JSON.stringify(p.returnvalue));
  const d = await queue.getJob(delayed.id);
  if (d.finishedOn - started < 300) fail('the delayed job ran early: ' + (d.finishedOn - started));
  const f = await queue.getJob(flaky.id);
  if (f.attemptsMade !== 3 || attempts.flaky !== 3) fail('flaky attempts ' + f.attemptsMade);
  const b = await queue.getJob(broken.id);
  if ((await b.getState()) !== 'failed' || b.failedReason !== 'always' || attempts.broken !== 2) fail('broken ' + b.failedReason);
  const failed = await queue.getFailed();
  if (failed.length !== 1 || failed[0].id !== broken.id) fail('getFailed');
  // the events stream saw every completion
  const seen = await queue.client.then((c) => c.xlen(`${prefix}:${name}:events`));
  if (seen < 7) fail('events stream has ' + seen);
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  console.log('bullmq ok', port, JSON.stringify(counts));
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
