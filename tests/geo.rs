//! Geo commands against redis-server 7.0 byte for byte: positions,
//! geohash strings and distances to the last digit, searches by radius and
//! by box from coordinates and members (the unsorted results in Redis's own
//! order, which follows the cells it scans), ANY, COUNT, ASC/DESC, the
//! WITH options in RESP2 and RESP3, STORE / STOREDIST and every error.

mod common;

use common::{Pair, Rng, TestServer};

fn pair(resp3: bool) -> (TestServer, TestServer, Pair) {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        let (a, b) = (p.ours.cmd(&["HELLO", "3"]), p.redis.cmd(&["HELLO", "3"]));
        assert!(a.starts_with('%') && b.starts_with('%'));
    }
    (ours, redis, p)
}

/// Loads points around a few cities and far away (poles, the date line).
fn load(p: &mut Pair, r: &Rng, n: usize) {
    let centers = [(13.36, 38.11), (2.35, 48.85), (-73.98, 40.75), (179.9, -16.5), (-179.95, 65.0), (0.0, 84.9), (139.7, 35.7)];
    for chunk in 0..n / 100 {
        let mut c = vec!["GEOADD".to_string(), "pts".into()];
        for i in 0..100 {
            let (x, y) = centers[(r.next() % centers.len() as u64) as usize];
            let spread = [0.01, 0.5, 3.0][(r.next() % 3) as usize];
            let lon = (x + (r.next() % 2000) as f64 / 1000.0 * spread - spread).clamp(-180.0, 180.0);
            let lat = (y + (r.next() % 2000) as f64 / 1000.0 * spread - spread).clamp(-85.05, 85.05);
            c.extend([format!("{lon:.6}"), format!("{lat:.6}"), format!("p{}", chunk * 100 + i)]);
        }
        let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        p.same(&c, "load");
    }
}

fn searches(resp3: bool, seed: u64, rounds: usize) {
    let (_o, _r, mut p) = pair(resp3);
    let r = Rng::new(seed);
    load(&mut p, &r, 3000);
    p.same(&["OBJECT", "ENCODING", "pts"], "encoding");
    p.same(&["SET", "str", "x"], "str");
    let centers = ["13.4 38.1", "2.3 48.9", "-74 40.7", "179.99 -16.4", "-179.99 65", "0 85", "139.7 35.7", "100 0"];
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} round {round}");
        let center: Vec<String> = r.pick(&centers).split(' ').map(String::from).collect();
        let radius = r.pick(&["0", "1", "50", "500", "5000", "20000", "200000", "-1", "x", "1e400"]).to_string();
        let unit = r.pick(&["m", "km", "km", "mi", "ft", "KM", "parsec"]).to_string();
        let member = format!("p{}", r.next() % 3100);
        let mut opts: Vec<String> = Vec::new();
        for o in ["WITHDIST", "WITHCOORD", "WITHHASH", "ASC", "DESC"] {
            if r.next().is_multiple_of(4) {
                opts.push(o.into());
            }
        }
        if r.next().is_multiple_of(3) {
            opts.extend(["COUNT".to_string(), r.pick(&["1", "5", "50", "0", "-1", "x"]).into()]);
            if r.next().is_multiple_of(2) {
                opts.push("ANY".into());
            }
        }
        let key = r.pick(&["pts", "pts", "pts", "pts", "none", "str"]).to_string();
        let mut c: Vec<String> = match r.next() % 8 {
            0 => [vec!["GEORADIUS".to_string(), key.clone()], center.clone(), vec![radius, unit]].concat(),
            1 => vec!["GEORADIUSBYMEMBER".into(), key.clone(), member.clone(), radius, unit],
            2 => [vec!["GEORADIUS_RO".to_string(), key.clone()], center.clone(), vec![radius, unit]].concat(),
            3 | 4 => {
                let mut c = vec!["GEOSEARCH".to_string(), key.clone()];
                if r.next().is_multiple_of(2) {
                    c.extend(["FROMMEMBER".to_string(), member.clone()]);
                } else {
                    c.push("FROMLONLAT".into());
                    c.extend(center.clone());
                }
                if r.next().is_multiple_of(2) {
                    c.extend(["BYRADIUS".to_string(), radius, unit]);
                } else {
                    c.extend(["BYBOX".to_string(), r.pick(&["100", "1000", "40000", "0", "-5"]).into(), r.pick(&["300", "1000", "2", "0"]).into(), unit]);
                }
                c
            }
            5 => {
                let mut c = vec!["GEOSEARCHSTORE".to_string(), "dst".into(), key.clone(), "FROMLONLAT".into()];
                c.extend(center.clone());
                c.extend(["BYBOX".to_string(), "4000".into(), "2000".into(), "km".into()]);
                if r.next().is_multiple_of(2) {
                    c.push("STOREDIST".into());
                }
                c
            }
            6 => {
                [vec!["GEORADIUS".to_string(), key.clone()], center.clone(), vec![radius, unit, r.pick(&["STORE", "STOREDIST"]).into(), "dst".into()]].concat()
            }
            _ => {
                let c = match r.next() % 4 {
                    0 => vec!["GEODIST".to_string(), key.clone(), member.clone(), format!("p{}", r.next() % 3000)],
                    1 => vec!["GEOPOS".to_string(), key.clone(), member.clone(), "nope".into()],
                    2 => vec!["GEOHASH".to_string(), key.clone(), member.clone(), "nope".into()],
                    _ => vec!["GEODIST".to_string(), key.clone(), member.clone(), "p1".into(), unit],
                };
                let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
                p.same(&c, &ctx);
                continue;
            }
        };
        c.extend(opts);
        if r.next().is_multiple_of(30) {
            c.push("BOGUS".into());
        }
        let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        p.same(&c, &ctx);
        if c.contains(&"dst") {
            p.same(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"], &ctx);
            p.same(&["OBJECT", "ENCODING", "dst"], &ctx);
        }
    }
}

#[test]
fn geo_searches_match_redis_server_in_resp2() {
    searches(false, 0x9e37_79b9_7f4a_7c15, 600);
}

#[test]
fn geo_searches_match_redis_server_in_resp3() {
    searches(true, 0x2545_f491_4f6c_dd1d, 600);
}

/// GEOADD's options and errors, positions at the edges of the map, and a
/// geo set being an ordinary sorted set.
#[test]
fn geoadd_and_positions_as_redis() {
    for resp3 in [false, true] {
        let (_o, _r, mut p) = pair(resp3);
        for c in [
            &["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"][..],
            &["GEOADD", "g", "NX", "0", "0", "Palermo", "1", "1", "null-island"],
            &["GEOADD", "g", "XX", "CH", "2", "2", "null-island", "3", "3", "new"],
            &["GEOADD", "g", "NX", "XX", "0", "0", "x"],
            &["GEOADD", "g", "0", "0"],
            &["GEOADD", "g", "NX"],
            &["GEOADD", "g", "181", "0", "x"],
            &["GEOADD", "g", "0", "85.06", "x"],
            &["GEOADD", "g", "x", "0", "y"],
            &["GEOADD", "g", "180", "85.05112878", "corner", "-180", "-85.05112878", "other-corner"],
            &["GEOPOS", "g", "corner", "other-corner", "Palermo", "null-island"],
            &["GEOHASH", "g", "corner", "other-corner", "null-island"],
            &["GEODIST", "g", "corner", "other-corner"],
            &["GEODIST", "g", "Palermo", "Catania", "mi"],
            &["GEODIST", "g", "Palermo", "Catania", "ft", "x"],
            &["GEODIST", "g", "Palermo", "Catania", "yards"],
            &["GEODIST", "g", "Palermo", "nobody"],
            &["GEODIST", "none", "a", "b"],
            &["GEOPOS", "none", "a"],
            &["ZRANGE", "g", "0", "-1", "WITHSCORES"],
            &["ZADD", "g", "-1", "negative", "9007199254740993", "too-big"],
            &["GEOPOS", "g", "negative", "too-big"],
            &["GEOHASH", "g", "negative"],
            &["GEOSEARCH", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "10000", "km"],
            &["GEOSEARCH", "g", "FROMLONLAT", "0", "0"],
            &["GEOSEARCH", "g", "BYRADIUS", "1", "km"],
            &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"],
            &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"],
            &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "300", "km", "ANY"],
            &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "300", "km", "STORE", "x"],
            &["GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "300", "km", "WITHDIST"],
            &["GEORADIUS", "g", "15", "37", "300", "km", "STORE", "d", "WITHCOORD"],
            &["GEORADIUS_RO", "g", "15", "37", "300", "km", "STORE", "d"],
            &["GEORADIUSBYMEMBER", "none", "x", "garbage", "units"],
            &["GEORADIUSBYMEMBER", "g", "Palermo", "garbage", "km"],
            &["GEORADIUS", "g", "15", "37", "300", "km", "COUNT", "1", "STORE", "d"],
            &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
            &["GEORADIUS", "g", "15", "37", "1", "m", "STORE", "d"],
            &["EXISTS", "d"],
            &["SET", "s", "x"],
            &["GEOADD", "s", "0", "0", "x"],
            &["GEOPOS", "s", "x"],
            &["GEORADIUS", "s", "x", "y", "z", "w"],
        ] {
            p.same(c, &format!("resp3={resp3}"));
        }
    }
}
