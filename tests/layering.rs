//! The module layering the README's Layout section describes, checked on
//! the source: each module imports only those below it, so the data layer
//! never reaches for clients, the script engine never for the dispatcher,
//! and node state never for the connection layer.

use std::path::Path;

/// Lower modules first; a module may use only those before it (and the
/// leaf helpers every layer shares).
const ORDER: &[&str] = &["store", "lock", "txn", "script", "node", "persist", "command", "net", "proxy"];
const SHARED: &[&str] = &["resp", "util", "alloc", "config", "fuzzing"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn each_module_imports_only_those_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (rank, module) in ORDER.iter().enumerate() {
        // the proxy (on top, reading the command table) owns no node state
        let allowed: Vec<&str> = ORDER[..=rank].iter().copied().filter(|m| *module != "proxy" || *m != "node").collect();
        let mut files = Vec::new();
        sources(&src.join(module), &mut files);
        assert!(!files.is_empty(), "src/{module}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for used in code.split("crate::").skip(1) {
                    let name: String = used.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !allowed.contains(&name.as_str()) && !SHARED.contains(&name.as_str()) {
                        violations.push(format!("{}:{}: crate::{name}", f.strip_prefix(&src).unwrap().display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports from a higher layer:\n{}", violations.join("\n"));
}
