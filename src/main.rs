//! The `shardis` binary: `shardis server [options]` runs a node.

use clap::{Args, CommandFactory, Parser, Subcommand};
use shardis::config::RuntimeConfig;
use shardis::node::Server;
use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOC: shardis::alloc::CountingAllocator = shardis::alloc::CountingAllocator;

#[derive(Parser)]
#[command(name = "shardis", version, about = "A Redis-compatible cache node and sharding proxy")]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Run a cache node (the default).
    Server(ServerArgs),
    /// Run a proxy that shards keys over nodes by ketama hashing.
    Proxy(ProxyArgs),
}

/// Flags for `shardis proxy`, or a twemproxy YAML file with `--config`.
#[derive(Args, Default)]
struct ProxyArgs {
    /// A twemproxy-style YAML file (the first pool is served).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    bind: Option<String>,
    /// A backend as host:port[:weight] [name]; repeat for each node.
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Key hash: fnv1a_64 (twemproxy's default), md5, fnv1_64, fnv1a_32, fnv1_32, one_at_a_time.
    #[arg(long)]
    hash: Option<String>,
    /// Two characters delimiting the hashed part of a key, e.g. "{}".
    #[arg(long = "hash-tag")]
    hash_tag: Option<String>,
    /// Milliseconds to wait for a backend before failing its requests.
    #[arg(long)]
    timeout: Option<u64>,
    /// Take a backend off the ring after --server-failure-limit failures.
    #[arg(long = "auto-eject-hosts")]
    auto_eject_hosts: bool,
    #[arg(long = "server-failure-limit")]
    server_failure_limit: Option<u32>,
    /// Milliseconds before an ejected backend is tried again.
    #[arg(long = "server-retry-timeout")]
    server_retry_timeout: Option<u64>,
    /// The nodes' cluster secret, presented with TXN.HELLO for cross-node
    /// transactions. Default: the file --cluster-secret-file names.
    #[arg(long = "cluster-secret")]
    cluster_secret: Option<String>,
    /// A file holding the cluster secret, created (mode 0600) if missing.
    /// [default: ~/.shardis/cluster-secret, shared with nodes run by the
    /// same user]
    #[arg(long = "cluster-secret-file")]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// Milliseconds a prepared cross-node transaction waits for its commit.
    #[arg(long = "txn-timeout")]
    txn_timeout: Option<u64>,
    /// Pipelined connections to each backend, shared by all clients
    /// (default: one per thread, so one on a 2-core machine).
    #[arg(long = "server-connections")]
    server_connections: Option<usize>,
    #[arg(long)]
    threads: Option<usize>,
    /// Clients served at once (twemproxy's client_connections); 0 = no limit.
    #[arg(long)]
    maxclients: Option<u64>,
}

fn build_pool(args: &ProxyArgs) -> Result<shardis::proxy::config::PoolConfig, String> {
    use shardis::proxy::config::{PoolConfig, ServerSpec, parse_yaml};
    let mut pool = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut pools = parse_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if pools.len() > 1 {
                let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "{}: shardis proxy serves one pool, the file defines {} ({}); run one proxy per pool",
                    path.display(),
                    pools.len(),
                    names.join(", ")
                ));
            }
            pools.remove(0)
        }
        None => PoolConfig::new("shardis", Vec::new()),
    };
    for n in &args.nodes {
        pool.servers.push(ServerSpec::parse(n)?);
    }
    if let Some(h) = &args.hash {
        pool.hash = shardis::proxy::ketama::KeyHash::parse(h)?;
    }
    if let Some(t) = &args.hash_tag {
        let b = t.as_bytes();
        if b.len() != 2 {
            return Err("--hash-tag takes two characters, e.g. {}".into());
        }
        pool.hash_tag = Some([b[0], b[1]]);
    }
    if args.timeout.is_some() {
        pool.timeout_ms = args.timeout;
    }
    if args.auto_eject_hosts {
        pool.auto_eject_hosts = true;
    }
    if let Some(n) = args.server_failure_limit {
        pool.server_failure_limit = n;
    }
    if let Some(ms) = args.server_retry_timeout {
        pool.server_retry_timeout_ms = ms;
    }
    if args.cluster_secret.is_some() {
        pool.cluster_secret = args.cluster_secret.clone();
    }
    if let Some(ms) = args.txn_timeout {
        pool.txn_timeout_ms = ms;
    }
    if let Some(n) = args.maxclients {
        pool.client_connections = n;
    }
    if let Some(n) = args.server_connections {
        pool.server_connections = Some(n.max(1));
    }
    if pool.servers.is_empty() {
        return Err("no backend: give --node host:port (repeatable) or --config file.yml".into());
    }
    Ok(pool)
}

fn run_proxy(args: ProxyArgs) {
    let mut pool = match build_pool(&args) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            std::process::exit(1);
        }
    };
    if pool.cluster_secret.is_none() {
        pool.cluster_secret = cluster_secret(args.cluster_secret_file.clone());
    }
    // A backend connection is one task: one per thread lets every thread
    // carry traffic, and one in all gives the largest batches.
    pool.server_connections.get_or_insert(threads(args.threads));
    let addr = match (&args.bind, args.port, &pool.listen) {
        (bind, port, Some(listen)) if bind.is_none() && port.is_none() => listen.clone(),
        (bind, port, _) => format!("{}:{}", bind.clone().unwrap_or_else(|| "127.0.0.1".into()), port.unwrap_or(6380)),
    };
    // One thread: tokio's single-threaded scheduler, an event loop like
    // twemproxy's with no cross-thread wake-ups (measurably cheaper per
    // request). The node keeps the multi-threaded one even then: scripts
    // need `block_in_place`.
    let rt = match threads(args.threads) {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"),
        _ => runtime(args.threads),
    };
    rt.block_on(async move {
        let signal = shutdown_signal();
        let listener = listen_or_exit(&addr, 511).await;
        let local = listener.local_addr().expect("local addr");
        tracing::info!(addr = %local, backends = pool.servers.len(), "shardis proxy ready to accept connections");
        let _ = tokio::spawn(shardis::proxy::server::Proxy::new(pool).run(listener, signal)).await;
    });
}

/// The tokio runtime: `threads` workers, by default one less than the
/// cores (at least one), leaving a core to the kernel and local clients.
fn runtime(requested: Option<usize>) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads(requested))
        // a worker with nothing left to run: freed memory goes back to the
        // OS from its heap, and the AOF syncs the group of connections
        // waiting for it (group commit)
        .on_thread_park(|| {
            shardis::alloc::collect_if_asked();
            shardis::persist::aof::on_worker_idle();
        })
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Worker threads: as requested, else one less than the cores (at least one).
fn threads(requested: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    requested.unwrap_or(cores.saturating_sub(1)).max(1)
}

/// Listens on `addr` with a backlog of `backlog` connections (redis-server's
/// `tcp-backlog`; the kernel caps it at `net.core.somaxconn`), so a burst of
/// connects is queued instead of dropped into SYN retransmits.
async fn listen(addr: &str, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address");
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(backlog)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn listen_or_exit(addr: &str, backlog: u32) -> tokio::net::TcpListener {
    match listen(addr, backlog).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen");
            std::process::exit(1);
        }
    }
}

/// Flags mirror redis-server's option names.
#[derive(Args, Default)]
struct ServerArgs {
    /// A redis.conf-style file; flags given here override it.
    config_file: Option<std::path::PathBuf>,
    /// TCP port [default: 6379]; 0 picks a free one.
    #[arg(long)]
    port: Option<u16>,
    /// Addresses to listen on, space-separated; a leading '-' makes one
    /// optional (redis.conf's `bind 127.0.0.1 -::1`) [default: 127.0.0.1]
    #[arg(long)]
    bind: Option<String>,
    /// Memory limit: bytes or a unit (100mb, 1gb); 0 = none [default: 0]
    #[arg(long)]
    maxmemory: Option<String>,
    /// What to evict at maxmemory: noeviction, allkeys-lru, volatile-lru,
    /// allkeys-lfu, volatile-lfu, allkeys-random, volatile-random,
    /// volatile-ttl [default: noeviction]
    #[arg(long = "maxmemory-policy")]
    maxmemory_policy: Option<String>,
    /// Keys sampled per eviction by the random and TTL policies [default: 5]
    #[arg(long = "maxmemory-samples")]
    maxmemory_samples: Option<String>,
    /// Password clients must give with AUTH [default: none]
    #[arg(long)]
    requirepass: Option<String>,
    /// Most clients connected at once [default: 10000]
    #[arg(long)]
    maxclients: Option<String>,
    /// Close idle clients after this many seconds; 0 = never [default: 0]
    #[arg(long)]
    timeout: Option<String>,
    /// Largest bulk string a client may send [default: 512mb]
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    /// Shared secret the 2PC coordinator must present (TXN.HELLO) before
    /// any TXN.* command. Default: the file --cluster-secret-file names.
    #[arg(long = "cluster-secret")]
    cluster_secret: Option<String>,
    /// A file holding the cluster secret, created (mode 0600) if missing.
    /// [default: ~/.shardis/cluster-secret, shared with proxies run by the
    /// same user]
    #[arg(long = "cluster-secret-file")]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// Worker threads serving connections. Default: one less than the
    /// cores (at least 1), leaving a core to the kernel's network stack and
    /// to clients on the same machine.
    #[arg(long)]
    threads: Option<usize>,
    /// "yes": keep an append-only file (in `appenddirname` under `dir`).
    #[arg(long)]
    appendonly: Option<String>,
}

/// redis-server takes any configuration option on its command line as
/// `--name value ...`. For `shardis server`, options that are not one of
/// its flags are taken out of the arguments (with the values up to the next
/// `--`, joined by spaces, as redis-server does) and applied as settings
/// after the flags; an unknown setting is an error at startup.
fn split_config_overrides(argv: Vec<String>) -> (Vec<String>, Vec<(String, String)>) {
    if argv.get(1).map(String::as_str) != Some("server") {
        return (argv, Vec::new());
    }
    let cli = Cli::command();
    let known: Vec<String> =
        cli.find_subcommand("server").map(|s| s.get_arguments().filter_map(|a| a.get_long()).map(str::to_string).collect()).unwrap_or_default();
    let (mut kept, mut overrides) = (Vec::new(), Vec::new());
    let mut args = argv.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(name) = arg.strip_prefix("--").filter(|n| !n.is_empty() && !n.contains('=')) else {
            kept.push(arg);
            continue;
        };
        if known.iter().any(|k| k == name) || name == "help" || name == "version" {
            kept.push(arg);
            continue;
        }
        let mut values = Vec::new();
        while let Some(v) = args.next_if(|v| !v.starts_with("--")) {
            values.push(v);
        }
        overrides.push((name.to_string(), values.join(" ")));
    }
    (kept, overrides)
}

fn build_config(args: &ServerArgs) -> Result<RuntimeConfig, String> {
    let config = RuntimeConfig::default();
    if let Some(path) = &args.config_file {
        config.load_file(path).map_err(|e| e.to_string())?;
    }
    let flags: [(&str, Option<String>); 11] = [
        ("port", args.port.map(|p| p.to_string())),
        ("bind", args.bind.clone()),
        ("maxmemory", args.maxmemory.clone()),
        ("maxmemory-policy", args.maxmemory_policy.clone()),
        ("maxmemory-samples", args.maxmemory_samples.clone()),
        ("requirepass", args.requirepass.clone()),
        ("maxclients", args.maxclients.clone()),
        ("timeout", args.timeout.clone()),
        ("proto-max-bulk-len", args.proto_max_bulk_len.clone()),
        ("appendonly", args.appendonly.clone()),
        ("cluster-secret", args.cluster_secret.clone()),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            config.apply_startup(name, &v).map_err(|e| format!("--{name} {v}: {e}"))?;
        }
    }
    Ok(config)
}

/// The cluster secret from `file` or the default file, for a process not
/// given `--cluster-secret`; `None` (logged: cross-node transactions are
/// then off) if none can be had.
fn cluster_secret(file: Option<std::path::PathBuf>) -> Option<String> {
    use shardis::txn::secret::{Source, resolve};
    match resolve(file.map_or(Source::Default, Source::File)) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cross-node transactions are disabled: {e}");
            None
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when first polled, so a signal that arrives right after the
/// "ready" log line is not lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

fn main() {
    let (argv, overrides) = split_config_overrides(std::env::args().collect());
    let cli = Cli::parse_from(argv);
    let args = match cli.role {
        Some(Role::Server(a)) => a,
        Some(Role::Proxy(p)) => {
            init_logging(None);
            return run_proxy(p);
        }
        None => ServerArgs::default(),
    };
    let config = match build_config(&args).and_then(|c| {
        for (name, value) in &overrides {
            c.apply_startup(name, value).map_err(|e| format!("--{name} {value}: {e}"))?;
        }
        Ok(c)
    }) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            // Before logging is set up, as redis-server reports it.
            let _ = writeln!(std::io::stderr(), "{e}");
            std::process::exit(1);
        }
    };
    if config.get("daemonize").as_deref() == Some("yes") {
        daemonize();
    }
    init_logging(config.get("logfile").filter(|f| !f.is_empty()));
    let pidfile = config.get("pidfile").filter(|f| !f.is_empty()).or_else(|| {
        // redis-server writes its default pid file when daemonized
        (config.get("daemonize").as_deref() == Some("yes")).then(|| "/var/run/redis.pid".to_string())
    });
    if let Some(path) = &pidfile
        && let Err(e) = std::fs::write(path, format!("{}\n", std::process::id()))
    {
        tracing::warn!(path, error = %e, "cannot write the pid file");
    }
    let ignored = config.ignored_directives();
    if !ignored.is_empty() {
        tracing::warn!("these settings have no effect in shardis (yet): {}", ignored.join(", "));
    }
    if config.cluster_secret().is_none()
        && let Some(secret) = cluster_secret(args.cluster_secret_file.clone())
    {
        let _ = config.set("cluster-secret", &secret);
    }
    let threads = threads(args.threads);
    runtime(Some(threads)).block_on(async move {
        let signal = shutdown_signal();
        let backlog = config.get("tcp-backlog").and_then(|b| b.parse().ok()).unwrap_or(511);
        let mut port = config.get("port").unwrap_or_default();
        let mut listeners: Vec<tokio::net::TcpListener> = Vec::new();
        for addr in config.bind().split_whitespace() {
            // `-addr`: skipped when it cannot be bound (no IPv6, say)
            let (optional, host) = match addr.strip_prefix('-') {
                Some(h) => (true, h),
                None => (false, addr),
            };
            let host = match host {
                "*" => "0.0.0.0",
                "::*" => "::",
                h => h,
            };
            let full = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            match listen(&full, backlog).await {
                Ok(l) => {
                    // port 0: every address gets the port the first one got
                    if let Ok(a) = l.local_addr() {
                        port = a.port().to_string();
                    }
                    listeners.push(l)
                }
                Err(e) if optional => tracing::info!(addr = %full, error = %e, "optional bind address skipped"),
                Err(e) => {
                    tracing::error!(addr = %full, error = %e, "cannot listen");
                    std::process::exit(1);
                }
            }
        }
        let Some(first) = listeners.first() else {
            tracing::error!(bind = %config.bind(), "no address to listen on");
            std::process::exit(1);
        };
        let local = first.local_addr().expect("local addr");
        config.set("port", &local.port().to_string()).ok();
        tracing::info!(
            addr = %local,
            pid = std::process::id(),
            version = env!("CARGO_PKG_VERSION"),
            port = local.port(),
            maxmemory = config.maxmemory.load(std::sync::atomic::Ordering::Relaxed),
            policy = config.policy().name(),
            threads,
            "shardis node ready to accept connections"
        );
        // The accept loops run on workers, next to the connections they
        // spawn, not on the thread that only waits for the runtime.
        let server = Server::new(config, shardis::command::COMMANDS.len());
        if config_flag(&server, "appendonly") {
            shardis::persist::aof::start(&server, |server, client, args| shardis::command::dispatch(&mut shardis::node::Ctx { server, client }, args));
        } else {
            shardis::persist::load_at_startup(&server);
        }
        let _ = tokio::spawn(shardis::net::run(server.clone(), listeners, signal)).await;
        shardis::persist::flush_aof(&server);
        if !server.persistence.final_save_done.load(std::sync::atomic::Ordering::Relaxed) {
            let s = server.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || shardis::persist::save_on_shutdown(&s, None)).await {
                tracing::error!(error = %e, "Error trying to save the DB before exiting");
            }
        }
        // Still referenced here: the keyspace is not freed key by key on
        // the way out (100 ms at 1M keys); the process exit returns it.
        if let Some(path) = &pidfile {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("ready to exit, bye bye");
        std::process::exit(0);
    });
}

/// A yes/no setting of the node.
fn config_flag(server: &Server, name: &str) -> bool {
    server.config.flag(name, false)
}

/// Logs to stderr, or appended to `file` (redis-server's `logfile`).
fn init_logging(file: Option<String>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = file.map(|f| match std::fs::OpenOptions::new().create(true).append(true).open(&f) {
        Ok(file) => file,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "Can't open the log file {f}: {e}");
            std::process::exit(1);
        }
    });
    match log {
        Some(file) => tracing_subscriber::fmt().with_ansi(false).with_env_filter(filter).with_writer(std::sync::Mutex::new(file)).init(),
        None => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
}

/// redis-server's `daemonize yes`: the process goes to the background
/// (the parent exits), leaves its session and terminal, with standard
/// input and output on /dev/null. Called before any thread exists.
fn daemonize() {
    // SAFETY: no other thread exists yet (no runtime, no logging), so the
    // child inherits a consistent process; both sides only call
    // async-signal-safe functions until the parent exits.
    unsafe {
        match libc::fork() {
            -1 => {
                let _ = writeln!(std::io::stderr(), "daemonize: fork failed");
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}
