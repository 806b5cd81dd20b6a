// ioredis against a running server: its connect handshake (INFO ready
// check, CLIENT SETNAME/SETINFO), everyday commands, pipelines, MULTI, SCAN.
// Exits non-zero on the first failed check.
const assert = require("assert");
const Redis = require("ioredis");

async function main() {
  const port = Number(process.argv[2]);
  const r = new Redis({ port, host: "127.0.0.1", connectionName: "io", lazyConnect: true, maxRetriesPerRequest: 0 });
  await r.connect();
  assert.strictEqual(await r.ping(), "PONG");
  await r.flushall();
  assert.strictEqual(await r.set("greeting", "hello", "EX", 60), "OK");
  assert.strictEqual(await r.get("greeting"), "hello");
  assert.strictEqual(await r.get("missing"), null);
  assert.strictEqual(await r.incrby("n", 5), 5);
  assert.strictEqual(await r.incrbyfloat("f", "0.25"), "0.25");
  assert.strictEqual(await r.mset("a", "1", "b", "2"), "OK");
  assert.deepStrictEqual(await r.mget("a", "b", "c"), ["1", "2", null]);
  assert.strictEqual(await r.client("GETNAME"), "io");
  const piped = await r.pipeline().set("p", "1").incr("p").get("p").exec();
  assert.deepStrictEqual(piped.map(([err, v]) => v), ["OK", 2, "2"]);
  const tx = await r.multi().set("t", "x").get("t").exec();
  assert.deepStrictEqual(tx.map(([err, v]) => v), ["OK", "x"]);
  await r.watch("w");
  await r.set("w", "changed");
  const aborted = await r.multi().set("w", "mine").exec();
  assert.strictEqual(aborted, null);
  for (let i = 0; i < 50; i++) await r.set(`scan:${i}`, i);
  const found = new Set();
  await new Promise((resolve, reject) => {
    const s = r.scanStream({ match: "scan:*", count: 7 });
    s.on("data", (keys) => keys.forEach((k) => found.add(k)));
    s.on("end", resolve);
    s.on("error", reject);
  });
  assert.strictEqual(found.size, 50);
  assert.ok((await r.info("server")).includes("redis_version:"));
  await assert.rejects(r.call("NOSUCHCMD"), /unknown command 'NOSUCHCMD'/);
  await r.quit();
  console.log("ioredis ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
