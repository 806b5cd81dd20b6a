//! The fuzz targets (`shardis::fuzzing`) in the suite, on stable Rust: every
//! seed under `tests/fuzz/corpus/<target>/`, then deterministic mutations
//! of them (bit flips, cut and repeated ranges, splices of two seeds,
//! boundary numbers written into headers). The long runs are libFuzzer's,
//! in `scripts/fuzz`; this keeps each target exercised on every change and
//! replays any input saved there as a seed.

use shardis::fuzzing::TARGETS;
use std::path::Path;

const MUTATIONS: usize = 4000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const NUMBERS: [&[u8]; 8] = [b"-1", b"0", b"9223372036854775807", b"-9223372036854775808", b"4294967296", b"1073741824", b"\0", b"\r\n"];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 if at < data.len() => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                let part = data[at..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    data.splice(at..at, part.iter().copied());
                }
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            4 => {
                data.splice(at..at, NUMBERS[rng.below(NUMBERS.len())].iter().copied());
            }
            _ => data.truncate(at),
        }
    }
    data
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for s in &seeds {
            target(s);
        }
        let mut rng = Rng(0x9e3779b97f4a7c15 ^ name.len() as u64);
        for _ in 0..MUTATIONS {
            target(&mutate(&mut rng, &seeds));
        }
    }
}
