"""redis-py against a running server: the connect handshake (HELLO,
CLIENT SETINFO), everyday commands, pipelines, SCAN, INFO, RESP2 and RESP3.
Exits non-zero on the first failed check."""
import sys

import redis

port = int(sys.argv[1])

for protocol in (2, 3):
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    assert r.ping() is True
    r.flushall()
    assert r.set("greeting", "hello", ex=60) is True
    assert r.get("greeting") == "hello"
    assert 0 < r.ttl("greeting") <= 60
    assert r.get("missing") is None
    assert r.set("greeting", "x", nx=True) is None
    assert r.set("greeting", "hi", xx=True, get=True) == "hello"
    assert r.incr("n") == 1 and r.incrby("n", 9) == 10
    assert r.incrbyfloat("f", 0.5) == 0.5
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "c") == ["1", "2", None]
    assert r.exists("a", "b", "c") == 2
    assert r.type("a") == "string"
    assert r.expire("a", 100) is True and r.persist("a") is True
    assert r.getex("b", px=5000) == "2" and r.pttl("b") > 0
    assert r.append("a", "x") == 2 and r.strlen("a") == 2
    assert r.getrange("greeting", 0, 0) == "h"
    assert r.rename("a", "a2") is True
    assert r.copy("a2", "a3") is True
    assert r.delete("a2", "a3", "nope") == 2
    for i in range(100):
        r.set(f"scan:{i}", i)
    assert len(list(r.scan_iter(match="scan:*", count=7))) == 100
    assert sorted(r.keys("scan:1?")) == [f"scan:{i}" for i in range(10, 20)]
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f"p:{i}", i).get(f"p:{i}")
    res = pipe.execute()
    assert res[1] == "0" and res[-1] == "49"
    info = r.info()
    assert "redis_version" in info and info["connected_clients"] >= 1
    assert "used_memory" in r.info("memory")
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.client_setname("py") is True and r.client_getname() == "py"
    assert any(c.get("name") == "py" for c in r.client_list())
    assert r.dbsize() >= 100
    assert r.object("encoding", "n") == "int"
    # sets: a Python set in both protocols (a RESP3 set, a RESP2 array)
    assert r.sadd("tags", "a", "b", "3") == 3 and r.sadd("tags", "a") == 0
    assert r.smembers("tags") == {"a", "b", "3"}
    assert r.sismember("tags", "b") and r.smismember("tags", ["a", "z"]) == [1, 0]
    assert r.sadd("nums", 3, 1, 2) == 3 and r.object("encoding", "nums") == "intset"
    assert r.sinter("tags", "nums") == {"3"} and r.sintercard(2, ["tags", "nums"]) == 1
    assert r.sunion("nums") == {"1", "2", "3"} and r.sdiff("nums", "tags") == {"1", "2"}
    assert r.spop("nums", 3) is not None and r.exists("nums") == 0
    assert r.srandmember("tags") in {"a", "b", "3"} and len(r.srandmember("tags", -5)) == 5
    assert r.delete("tags") == 1
    # sorted sets: scores as floats (RESP3 doubles, RESP2 strings parsed),
    # leaderboards, a delayed-job queue by time
    assert r.zadd("board", {"ann": 10, "bob": 7.5, "cy": 12}) == 3
    assert r.zincrby("board", 2.5, "bob") == 10.0
    # (redis-py hands pairs out as tuples in RESP2 and lists in RESP3)
    pairs = lambda v: [tuple(x) for x in v]
    assert pairs(r.zrange("board", 0, -1, withscores=True)) == [("ann", 10.0), ("bob", 10.0), ("cy", 12.0)]
    assert r.zrevrank("board", "cy") == 0 and r.zscore("board", "ann") == 10.0
    assert pairs(r.zrange("board", 0, 0, desc=True, withscores=True)) == [("cy", 12.0)]
    assert r.zrangebyscore("board", "(10", "+inf") == ["cy"] and r.zcount("board", 10, 10) == 2
    assert r.zadd("board", {"ann": 20}, gt=True, ch=True) == 1 and r.zscore("board", "ann") == 20.0
    assert r.zmscore("board", ["cy", "nobody"]) == [12.0, None]
    assert pairs(r.zpopmin("board", 1)) == [("bob", 10.0)]
    assert tuple(r.bzpopmax("board", timeout=1)) == ("board", "ann", 20.0)
    assert r.zunionstore("u", {"board": 2, "nums2": 1}) == 1 and r.zscore("u", "cy") == 24.0
    assert r.zadd("jobs", {"job:a": 1700000000, "job:b": 1700000005}) == 2
    assert r.zrangebyscore("jobs", 0, 1700000001) == ["job:a"] and r.zrem("jobs", "job:a") == 1
    assert r.zscore("jobs", "job:b") == 1700000005.0 and r.zcard("jobs") == 1
    assert r.delete("board", "u", "jobs") == 3
    try:
        r.execute_command("NOSUCHCMD", "x")
        raise AssertionError("unknown command did not raise")
    except redis.ResponseError as e:
        assert str(e).startswith("unknown command 'NOSUCHCMD'"), e
    r.close()
print("redis-py ok")
