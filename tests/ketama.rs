//! The ketama ring against vectors produced by twemproxy 0.5.0 itself
//! (`tests/data/ketama`, a copy of `shared/data/ketama`): every line of every
//! file must match.

use shardis::proxy::config::parse_yaml;
use shardis::proxy::ketama::{Distribution, Ring};
use std::path::PathBuf;

#[test]
fn reproduces_every_twemproxy_vector() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ketama");
    let mut files = 0;
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("tsv") {
            continue;
        }
        let yml = std::fs::read_to_string(path.with_extension("yml")).unwrap();
        let pool = parse_yaml(&yml).unwrap().remove(0);
        let servers: Vec<_> = pool.servers.iter().map(|s| s.ring_server()).collect();
        let dist = Distribution { hash: pool.hash, tag: pool.hash_tag, ring: Ring::build(&servers, &vec![true; servers.len()]) };
        let data = std::fs::read(&path).unwrap();
        let mut checked = 0;
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let tab = line.iter().rposition(|&b| b == b'\t').expect("key<TAB>index");
            let (key, idx) = (&line[..tab], std::str::from_utf8(&line[tab + 1..]).unwrap().trim().parse::<usize>().unwrap());
            assert_eq!(dist.server_for_key(key), Some(idx), "{}: key {:?}", path.display(), String::from_utf8_lossy(key));
            checked += 1;
        }
        assert!(checked >= 1000, "{}: only {checked} vectors", path.display());
        files += 1;
        total += checked;
    }
    assert_eq!(files, 9, "expected the nine twemproxy vector files");
    eprintln!("{total} twemproxy vectors reproduced");
}
