//! Test harness: starts the real `shardis` binary on a free port, learns the
//! port from its log, and kills it on drop. Also a raw RESP connection for
//! byte-exact checks.
#![allow(dead_code)]

pub mod dataset;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// True when the suite runs against redis-server (`SHARDIS_TEST_REDIS=1`);
/// tests of shardis-only behaviour skip themselves then.
pub fn against_redis() -> bool {
    std::env::var_os("SHARDIS_TEST_REDIS").is_some()
}

pub struct TestServer {
    child: Child,
    pub port: u16,
    /// The process's working directory (its `dir`: dump.rdb goes here).
    pub dir: std::path::PathBuf,
    /// `dir` was made for this process and goes with it.
    owns_dir: bool,
}

/// A new empty directory under the system's temp dir, for one server's
/// files (no test reads or writes a stray dump.rdb of another).
pub fn fresh_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("shardis-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test dir");
    dir
}

impl TestServer {
    /// Starts `shardis proxy --port 0` in front of `nodes` (host:port each).
    pub fn start_proxy(nodes: &[String], args: &[&str]) -> TestServer {
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        for n in nodes {
            all.push("--node".into());
            all.push(n.clone());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_logged("proxy", &all)
    }

    /// Starts a proxy with extra environment (e.g. SHARDIS_FAULT).
    pub fn start_proxy_env(nodes: &[String], args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        for n in nodes {
            all.push("--node".into());
            all.push(n.clone());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_logged_env("proxy", &all, env)
    }

    /// Starts `shardis proxy <args>` as given (e.g. `--config file.yml`).
    pub fn start_proxy_with(args: &[&str]) -> TestServer {
        Self::spawn_logged("proxy", &args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    /// Starts a shardis node on a given port (to restart a killed one).
    pub fn start_on_port(port: u16) -> TestServer {
        Self::spawn_logged("server", &["--port".to_string(), port.to_string()])
    }

    /// Starts `redis-server` on a free port, whatever SHARDIS_TEST_REDIS says.
    pub fn start_redis_server(args: &[&str]) -> TestServer {
        Self::start_redis(args)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts `shardis server --port 0 <args>`; with `SHARDIS_TEST_REDIS=1`
    /// starts `redis-server` with the same flags instead, so the same test
    /// checks that our expectations are Redis's.
    pub fn start(args: &[&str]) -> TestServer {
        if against_redis() {
            return Self::start_redis(args);
        }
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_logged("server", &all)
    }

    /// Runs `shardis <role> <args>` and learns its port from the log.
    fn spawn_logged(role: &str, args: &[String]) -> TestServer {
        Self::spawn_logged_env(role, args, &[])
    }

    fn spawn_logged_env(role: &str, args: &[String], env: &[(&str, &str)]) -> TestServer {
        let dir = fresh_dir();
        let mut s = Self::spawn_in(&dir, role, args, env);
        s.owns_dir = true;
        s
    }

    /// Starts `shardis server --port 0 <args>` working in `dir` (kept when
    /// the server goes: a restart finds its files there).
    pub fn start_in(dir: &std::path::Path, args: &[&str]) -> TestServer {
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_in(dir, "server", &all, &[])
    }

    /// [`start_in`](Self::start_in) with extra environment (fault points).
    pub fn start_in_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_in(dir, "server", &all, env)
    }

    /// Starts `shardis server --port <port> <args>` working in `dir` (a
    /// killed node restarted on its port with its files).
    pub fn start_in_on_port(dir: &std::path::Path, port: u16, args: &[&str]) -> TestServer {
        let mut all: Vec<String> = vec!["--port".into(), port.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn_in(dir, "server", &all, &[])
    }

    fn spawn_in(dir: &std::path::Path, role: &str, args: &[String], env: &[(&str, &str)]) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shardis"))
            .current_dir(dir)
            .arg(role)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shardis");
        let stderr = child.stderr.take().expect("stderr");
        // Read the log on a thread: the port arrives on a channel, and the
        // thread keeps draining so the server never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("SHARDIS_TEST_LOG").is_some() {
                    eprintln!("[shardis] {line}");
                }
                if let Some(rest) = line.split("addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let (Some(tx), Some(port)) = (tx.take(), addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())) {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(20)).expect("shardis did not report its address");
        TestServer { child, port, dir: dir.to_path_buf(), owns_dir: false }
    }

    fn start_redis(args: &[&str]) -> TestServer {
        let dir = fresh_dir();
        let mut s = Self::start_redis_in(&dir, args);
        s.owns_dir = true;
        s
    }

    /// Starts `redis-server` working in `dir` (kept when it goes).
    pub fn start_redis_in(dir: &std::path::Path, args: &[&str]) -> TestServer {
        // redis-server takes a config file only as its first argument
        let (file, flags) = match args.first() {
            Some(f) if !f.starts_with("--") => (Some(*f), &args[1..]),
            _ => (None, args),
        };
        // The free port is learnt by binding and releasing it, so another
        // process may take it first: then redis-server exits and the start
        // is retried on a new port. Ready means it answers PING, not only
        // that something accepts on the port.
        for _attempt in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new("redis-server")
                .current_dir(dir)
                .args(file)
                .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--enable-debug-command", "yes"])
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            // up to 2,000 looks 10 ms apart: a bounded wait for readiness
            for _ in 0..2000 {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if redis_answers_ping(port) && child.try_wait().ok().flatten().is_none() {
                    return TestServer { child, port, dir: dir.to_path_buf(), owns_dir: false };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().expect("connect")
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// A raw connection allowed TXN.* (TXN.HELLO with the default cluster
    /// secret, which nodes and proxies started without one share).
    pub fn txn_raw(&self) -> Raw {
        let mut r = self.raw();
        assert_eq!(r.cmd(&["TXN.HELLO", &default_cluster_secret()]), "+OK\r\n");
        r
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself (SHUTDOWN, signals).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn redis_answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    // +PONG, or -NOAUTH under requirepass: a Redis is answering
    matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf[0] == b'+' || buf[0] == b'-'))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A plain TCP connection that sends RESP and returns each reply's exact bytes.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream, buf: Vec::new() }
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.send_bytes(&out);
    }

    /// Sends a command whose arguments are arbitrary bytes.
    pub fn send_args(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send_bytes(&out);
    }

    /// Sends binary arguments; the reply as text.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> String {
        self.send_args(args);
        self.read_reply()
    }

    /// Sends a command; the reply's exact bytes (binary-safe).
    pub fn cmd_raw(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(args);
        self.read_reply_bytes()
    }

    /// Reads one complete reply (RESP2 or RESP3) and returns its bytes.
    pub fn read_reply(&mut self) -> String {
        String::from_utf8_lossy(&self.read_reply_bytes()).into_owned()
    }

    /// [`Raw::read_reply`] without the text conversion.
    pub fn read_reply_bytes(&mut self) -> Vec<u8> {
        loop {
            let len = frame_len(&self.buf, 0);
            if let Some(len) = len {
                return self.buf.drain(..len).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "connection closed while waiting for a reply; have {:?}", String::from_utf8_lossy(&self.buf));
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A full sync's payload after SYNC in the `$<length>\r\n<bytes>` form
    /// (no CRLF after it), skipping the newlines a waiting replica gets.
    pub fn read_sync_payload(&mut self) -> Vec<u8> {
        let mut chunk = [0u8; 65536];
        let (header, len) = loop {
            while self.buf.first() == Some(&b'\n') {
                self.buf.remove(0);
            }
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = line.strip_prefix('$').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("not a payload header: {line:?}"));
                break (end + 2, len);
            }
            let n = self.stream.read(&mut chunk).expect("read the payload header");
            assert!(n > 0, "connection closed before the payload");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        while self.buf.len() < header + len {
            let n = self.stream.read(&mut chunk).expect("read the payload");
            assert!(n > 0, "connection closed after {} of {len} payload bytes", self.buf.len() - header);
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let payload = self.buf[header..header + len].to_vec();
        self.buf.drain(..header + len);
        payload
    }

    /// A reply if one arrives within `wait`, else None (the connection
    /// stays usable).
    pub fn try_read_reply(&mut self, wait: Duration) -> Option<String> {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 65536];
        let got = loop {
            if let Some(len) = frame_len(&self.buf, 0) {
                let frame: Vec<u8> = self.buf.drain(..len).collect();
                break Some(String::from_utf8_lossy(&frame).into_owned());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => break None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => break None,
            }
        };
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        got
    }

    /// Sends a command and returns its reply's exact bytes.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read_reply()
    }

    /// True once the server has closed this connection (after reading
    /// anything still pending).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                // closed with our bytes still unread on its side
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Length of the complete RESP2/RESP3 reply at `buf[pos..]`, if complete.
/// Hand-written so that any reply shape (sets of arrays, attributes,
/// RESP2 nulls) can be framed without interpreting it.
pub fn frame_len(buf: &[u8], pos: usize) -> Option<usize> {
    let line_end = |from: usize| buf[from..].windows(2).position(|w| w == b"\r\n").map(|i| from + i);
    let end = line_end(pos)?;
    let header = std::str::from_utf8(&buf[pos + 1..end]).ok()?;
    let after = end + 2;
    match *buf.get(pos)? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after - pos),
        b'$' | b'=' | b'!' => {
            let n: i64 = header.parse().ok()?;
            if n < 0 {
                return Some(after - pos);
            }
            let total = after + n as usize + 2;
            (buf.len() >= total).then_some(total - pos)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = header.parse().ok()?;
            let items = if matches!(buf[pos], b'%' | b'|') { n * 2 } else { n };
            let mut cur = after;
            for _ in 0..items.max(0) {
                cur += frame_len(buf, cur)?;
            }
            // An attribute is followed by the reply it describes.
            if buf[pos] == b'|' {
                cur += frame_len(buf, cur)?;
            }
            Some(cur - pos)
        }
        _ => None,
    }
}

/// A Python with redis-py from PyPI, in a venv under target/ (made once).
pub fn python_with_redis_py() -> std::path::PathBuf {
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv");
    let python = venv.join("bin/python");
    let ready = python.exists() && std::process::Command::new(&python).args(["-c", "import redis"]).status().is_ok_and(|s| s.success());
    if !ready {
        let ok = std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed").success();
        assert!(ok, "python3 -m venv failed");
        let ok = std::process::Command::new(&python).args(["-m", "pip", "install", "-q", "redis>=5,<7"]).status().expect("pip").success();
        assert!(ok, "pip install redis failed");
    }
    python
}

/// The same Python with more PyPI packages installed (once).
pub fn python_with(package: &str, module: &str) -> std::path::PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let python = python_with_redis_py();
    let ready = std::process::Command::new(&python).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ready {
        let ok = std::process::Command::new(&python).args(["-m", "pip", "install", "-q", package]).status().expect("pip").success();
        assert!(ok, "pip install {package} failed");
    }
    python
}

/// `node_modules` under target/ with `package` (an npm spec) installed
/// (once), for the Node libraries the tests run.
pub fn node_modules_with(package: &str, module: &str) -> std::path::PathBuf {
    // one install at a time in this test binary, each package in its own
    // prefix (other test binaries install theirs meanwhile)
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/node-{module}"));
    if !dir.join("node_modules").join(module).exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(package)
            .status()
            .expect("npm is installed")
            .success();
        assert!(ok, "npm install {package} failed");
    }
    dir.join("node_modules")
}

/// Resident memory of a process in kB, from /proc.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The process's peak resident set (`VmHWM`), in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Hostile inline lines with NUL bytes (they once made the parser loop
/// forever, growing memory by hundreds of MB a second): each is held as an
/// incomplete line, as Redis's `strchr` does, until 64 kB more arrive, then
/// refused; the process keeps serving and its memory stays put.
pub fn nul_lines_are_harmless(s: &TestServer, pid: Option<u32>) {
    let before = pid.map(rss_kb);
    let mut bystander = s.raw();
    for input in [&b"\0\n"[..], b"PI\0NG\r\n", b"\0PING\r\n", b"ECHO \"a\0b\"\r\n"] {
        let mut bad = s.raw();
        bad.send_bytes(input);
        bad.send_bytes(b"PING\r\n");
        assert_eq!(bad.try_read_reply(Duration::from_millis(200)), None, "input {:?} was answered", String::from_utf8_lossy(input));
        assert_eq!(bystander.cmd(&["PING"]), "+PONG\r\n");
        bad.send_bytes(&vec![b'x'; 70 * 1024]);
        assert_eq!(bad.read_reply(), "-ERR Protocol error: too big inline request\r\n");
        assert!(bad.is_closed());
    }
    if let (Some(pid), Some(before)) = (pid, before) {
        let after = rss_kb(pid);
        assert!(after < before + 20 * 1024, "RSS grew from {before} kB to {after} kB");
    }
}

/// The cluster secret every node and proxy started without one uses (the
/// file exists once any node has started).
pub fn default_cluster_secret() -> String {
    let path = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".shardis/cluster-secret");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
}

/// A network namespace joined to this one by a veth pair: a second host
/// whose connections come from a non-loopback address (198.18.N.2 to our
/// 198.18.N.1, the benchmarking range, on links this test owns). Needs root
/// and iproute2; removed on drop.
pub struct OtherHost {
    pub name: String,
    link: String,
    pub our_addr: String,
}

impl OtherHost {
    pub fn create() -> OtherHost {
        let n = std::process::id() % 250;
        let name = format!("shardis-t{}", std::process::id());
        let link = format!("shv{}", std::process::id() % 100_000);
        let our_addr = format!("198.18.{n}.1");
        let run = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "ip {args:?} failed (the test needs root and iproute2)");
        };
        run(&["netns", "add", &name]);
        let host = OtherHost { name: name.clone(), link: link.clone(), our_addr: our_addr.clone() };
        let peer = format!("{link}p");
        run(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        run(&["link", "set", &peer, "netns", &name]);
        run(&["addr", "add", &format!("{our_addr}/30"), "dev", &link]);
        run(&["link", "set", &link, "up"]);
        run(&["netns", "exec", &name, "ip", "addr", "add", &format!("198.18.{n}.2/30"), "dev", &peer]);
        run(&["netns", "exec", &name, "ip", "link", "set", &peer, "up"]);
        host
    }

    /// Sends `request` from the other host to `port` on our side and
    /// returns what came back before the server closed (or 2 s passed).
    pub fn exchange(&self, port: u16, request: &[u8]) -> Vec<u8> {
        // the new link may take a moment to come up: connect retries for 5 s
        // The new link may take a moment to come up: connect retries for
        // 5 s. A refusing server speaks first and closes (redis-server
        // then resets a connection whose request it left unread, losing
        // its message): read for a moment before sending.
        let script = "import socket,sys,time\nfor i in range(50):\n  try:\n    s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2)\n    break\n  except OSError:\n    time.sleep(0.1)\nout=b''\ns.settimeout(0.3)\ntry:\n  out=s.recv(65536)\nexcept socket.timeout: pass\ns.settimeout(2)\nif not out:\n  s.sendall(bytes.fromhex(sys.argv[3]))\ntry:\n  while True:\n    b=s.recv(65536)\n    if not b: break\n    out+=b\nexcept OSError: pass\nsys.stdout.buffer.write(out)\n";
        let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
        let out =
            Command::new("ip").args(["netns", "exec", &self.name, "python3", "-c", script, &self.our_addr, &port.to_string(), &hex]).output().expect("python3");
        out.stdout
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.link]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// The top-level elements of an array, set or map reply (frames as
/// text).
#[allow(dead_code)]
pub fn elements(reply: &str) -> Vec<String> {
    let b = reply.as_bytes();
    let mut at = b.iter().position(|&c| c == b'\n').expect("header") + 1;
    let mut out = Vec::new();
    while at < b.len() {
        let n = frame_len(b, at).expect("complete");
        out.push(reply[at..at + n].to_string());
        at += n;
    }
    out
}

/// The top-level elements of an array or push of bulk strings, as their
/// contents.
pub fn strings(reply: &str) -> Vec<String> {
    elements(reply)
        .into_iter()
        .map(|e| {
            assert!(e.starts_with('$'), "not a bulk string: {e:?}");
            let body = &e[e.find("\r\n").expect("header") + 2..];
            body.strip_suffix("\r\n").expect("terminated").to_string()
        })
        .collect()
}

/// A xorshift generator several closures can share (`&self`): the random
/// sequences of the differential tests are reproducible from their seed.
pub struct Rng(pub std::cell::Cell<u64>);

#[allow(dead_code)]
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(std::cell::Cell::new(seed))
    }

    pub fn next(&self) -> u64 {
        let mut s = self.0.get();
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0.set(s);
        s
    }

    pub fn pick<'a>(&self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// The bytes of a bulk string reply.
pub fn bulk_bytes(reply: &[u8]) -> Vec<u8> {
    let header_end = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    let n: usize = std::str::from_utf8(&reply[1..header_end]).unwrap().parse().unwrap();
    reply[header_end + 2..header_end + 2 + n].to_vec()
}

/// The `host:port` of each server (a proxy's `--node` list).
pub fn addrs(nodes: &[TestServer]) -> Vec<String> {
    nodes.iter().map(|n| n.addr()).collect()
}

/// One field of an INFO section, as text.
pub fn info_field(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let info = r.cmd(&["INFO", section]);
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).map(|v| v.trim().to_string())
}

/// INFO clients `blocked_clients`.
pub fn blocked_clients(r: &mut Raw) -> usize {
    info_field(r, "clients", "blocked_clients").expect("blocked_clients in INFO").parse().unwrap()
}

/// A shardis connection and a redis-server connection driven side by side
/// (the differential tests).
pub struct Pair {
    pub ours: Raw,
    pub redis: Raw,
}

impl Pair {
    /// Sends `cmd` to both and requires identical replies; returns ours.
    pub fn same(&mut self, cmd: &[&str], context: &str) -> String {
        let (a, b) = (self.ours.cmd(cmd), self.redis.cmd(cmd));
        assert_eq!(a, b, "{context}: {cmd:?}");
        a
    }
}

/// Polls `ready` every `poll` until it holds; panics with `what` if it
/// has not held within `limit` (a bounded wait for a condition, never a
/// timing check).
pub fn wait_until(what: &str, limit: Duration, poll: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        if std::time::Instant::now() >= deadline {
            panic!("{what}");
        }
        std::thread::sleep(poll);
    }
}
