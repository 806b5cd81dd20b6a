//! The cluster secret: what a 2PC coordinator (the proxy) or a recovering
//! participant presents with `TXN.HELLO` before any `TXN.*` command.
//!
//! Cross-node transactions must work out of the box, and no ordinary client
//! may touch them: a client that can send `TXN.ABORT` or `TXN.PREPARE` can
//! split a transaction or lock a key for good. So there is always a secret,
//! and by default nobody has to type it: like Erlang's `.erlang.cookie`, a
//! node and a proxy started by the same user on the same machine share
//! `$HOME/.shardis/cluster-secret`, made with 32 random bytes (mode 0600)
//! by whichever process needs it first. On several machines the operator
//! copies that file, or passes `--cluster-secret-file PATH` or
//! `--cluster-secret VALUE` to every node and proxy. With none of these
//! available (no HOME, an unreadable file), `TXN.*` is refused with an error
//! that says so, and cross-node EXEC fails cleanly.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where the secret comes from when `--cluster-secret VALUE` (or
/// `cluster-secret` in a config file) does not give it.
pub enum Source {
    /// `--cluster-secret-file PATH`: read, or created if missing.
    File(PathBuf),
    /// `$HOME/.shardis/cluster-secret`, read or created.
    Default,
}

/// The default secret file, if there is a home directory.
pub fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".shardis").join("cluster-secret"))
}

/// The secret, or why there is none (the caller logs it; TXN.* is then off).
pub fn resolve(source: Source) -> Result<String, String> {
    let path = match source {
        Source::File(p) => p,
        Source::Default => default_path().ok_or("no HOME directory for the default cluster secret file")?,
    };
    read_or_create(&path).map_err(|e| format!("cluster secret file {}: {e}", path.display()))
}

fn read_or_create(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return non_empty(text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Written under a private name, then linked into place: two processes
    // starting at once never see a half-written file, and the one that
    // loses the race reads the winner's secret.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        writeln!(f, "{}", random_hex(32)?)?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => tracing::info!(path = %path.display(), "created a cluster secret for cross-node transactions"),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    non_empty(std::fs::read_to_string(path)?)
}

fn non_empty(text: String) -> std::io::Result<String> {
    let secret = text.trim();
    if secret.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"));
    }
    Ok(secret.to_string())
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares in time independent of where the inputs differ, so response
/// times tell a guesser nothing.
pub fn matches(secret: &[u8], offered: &[u8]) -> bool {
    if secret.len() != offered.len() {
        return false;
    }
    secret.iter().zip(offered).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_shared() {
        let dir = std::env::temp_dir().join(format!("shardis-secret-{}", std::process::id()));
        let path = dir.join("sub").join("cluster-secret");
        let a = resolve(Source::File(path.clone())).unwrap();
        let b = resolve(Source::File(path.clone())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "  \n").unwrap();
        assert!(resolve(Source::File(path)).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn comparison() {
        assert!(matches(b"abc", b"abc"));
        assert!(!matches(b"abc", b"abd"));
        assert!(!matches(b"abc", b"ab"));
    }
}
