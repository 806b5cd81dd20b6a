"""redis-py's Lock, unchanged, against a running server: acquire, release,
extend, reacquire, blocking_timeout, and a lost lock raising
LockNotOwnedError. Its release/extend/reacquire run Lua through EVALSHA
with the SCRIPT LOAD fallback on NOSCRIPT."""
import sys
import threading
import time

import redis
from redis.exceptions import LockError, LockNotOwnedError

port = int(sys.argv[1])
r = redis.Redis(port=port)
r.flushall()
r.script_flush()

lock = r.lock("resource", timeout=5)
assert lock.acquire(blocking=False)
assert r.get("resource") is not None
assert lock.owned()
assert lock.extend(10)
assert r.pttl("resource") > 9000
assert lock.reacquire()
assert r.pttl("resource") > 4000
other = r.lock("resource", timeout=5, blocking_timeout=0.2)
t0 = time.time()
assert not other.acquire()

lock.release()
assert r.get("resource") is None
assert other.acquire()

# a lost lock: its key expired and someone else took it
lost = r.lock("lost", timeout=0.2)
assert lost.acquire()
time.sleep(0.35)
thief = r.lock("lost", timeout=5)
assert thief.acquire()
try:
    lost.release()
    raise AssertionError("releasing a lost lock must raise")
except LockNotOwnedError:
    pass
try:
    lost.extend(1)
    raise AssertionError("extending a lost lock must raise")
except LockError:
    pass

# mutual exclusion between threads
counter = {"inside": 0, "max": 0, "done": 0}
def worker():
    c = redis.Redis(port=port)
    for _ in range(10):
        with c.lock("mutex", timeout=5, blocking_timeout=10):
            counter["inside"] += 1
            counter["max"] = max(counter["max"], counter["inside"])
            time.sleep(0.002)
            counter["inside"] -= 1
            counter["done"] += 1
threads = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
assert counter["max"] == 1, counter
assert counter["done"] == 80, counter
print("redis-py lock ok")
