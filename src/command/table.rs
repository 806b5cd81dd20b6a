//! The one command table. A command is added here and nowhere else.

use super::flags::*;
use super::{
    Handler, bitmap as bm, connection as conn, dump, geo, hash as h, hll as hl, keys, list as l, lock, pubsub as ps, replication as repl, scripting as lua,
    server as srv, set as st, sort, stream as xs, string as s, transaction as tx, txn, zset as z,
};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One command (or subcommand) as Redis describes it in `COMMAND INFO`.
pub struct Command {
    /// Lower case, as Redis prints it.
    pub name: &'static str,
    /// Redis's convention: N exactly, -N at least N (the name counts).
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [Command],
}

/// Where a command's keys are: Redis's key specs, in the three forms
/// commands use (Redis's `index`, `keynum` and `keyword` searches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    None,
    /// Positions `first..=last` (negative `last`: from the end) every `step`.
    Range(i32, i32, i32),
    /// A count at this position, then that many keys (EVAL, LMPOP, BLMPOP).
    Counted(usize),
    /// A destination at 1, then a count at this position and that many
    /// keys (ZUNIONSTORE and the other sorted set STORE forms).
    StoreCounted(usize),
    /// The key at 1, and the argument after the last STORE or STOREDIST
    /// from this position on (GEORADIUS, GEORADIUSBYMEMBER).
    StoreKeyword(usize),
    /// SORT: the key at 1, and a STORE destination (LIMIT's, GET's and
    /// BY's arguments skipped, as Redis's `sortGetKeys` skips them).
    Sort,
    /// MIGRATE: the key at 3, or, when it is empty, every argument after
    /// the `KEYS` keyword.
    Migrate,
    /// XREAD and XREADGROUP: the first half of the arguments after
    /// `STREAMS` (Redis's `xreadGetKeys`: BLOCK, COUNT, GROUP and NOACK
    /// are skipped on the way).
    Streams,
}

impl Command {
    /// Redis's legacy (first, last, step) triple for COMMAND INFO: zeros
    /// where the keys move (`movablekeys`).
    pub fn legacy_keys(&self) -> (i32, i32, i32) {
        match self.keys {
            Keys::None | Keys::Counted(_) => (0, 0, 0),
            Keys::Range(f, l, s) => (f, l, s),
            Keys::StoreCounted(_) | Keys::StoreKeyword(_) | Keys::Sort => (1, 1, 1),
            Keys::Migrate => (3, 3, 1),
            Keys::Streams => (0, 0, 0),
        }
    }

    /// Whether the key positions depend on the arguments.
    pub fn movable_keys(&self) -> bool {
        matches!(self.keys, Keys::Counted(_) | Keys::StoreCounted(_) | Keys::StoreKeyword(_) | Keys::Sort | Keys::Migrate | Keys::Streams)
    }

    /// Positions of key arguments in `args` (COMMAND GETKEYS, routing).
    pub fn key_positions<A: AsRef<[u8]>>(&self, args: &[A]) -> Vec<usize> {
        self.key_iter(args.len(), |i| args[i].as_ref()).collect()
    }

    /// [`Command::key_positions`] without allocating, reading arguments
    /// through `arg` (the proxy reads them from its receive buffer).
    pub fn key_iter<'b>(&self, nargs: usize, arg: impl Fn(usize) -> &'b [u8]) -> KeyIter {
        let counted = |at: usize| {
            if at >= nargs {
                return (0, 0);
            }
            let n = crate::util::parse_i64(arg(at)).unwrap_or(0).clamp(0, (nargs - at - 1) as i64) as usize;
            (at + 1, at + 1 + n)
        };
        let mut first = None;
        let (start, end, step) = match self.keys {
            Keys::None => (0, 0, 1),
            Keys::Range(first, last, step) => {
                let last = if last < 0 { nargs as i64 + last as i64 } else { (last as i64).min(nargs as i64 - 1) };
                (first as usize, (last + 1).max(first as i64) as usize, step.max(1) as usize)
            }
            Keys::Counted(at) => {
                let (start, end) = counted(at);
                (start, end, 1)
            }
            Keys::StoreKeyword(from) => {
                first = (nargs > 1).then_some(1);
                let found =
                    (from..nargs.saturating_sub(1)).filter(|&i| arg(i).eq_ignore_ascii_case(b"store") || arg(i).eq_ignore_ascii_case(b"storedist")).last();
                match found {
                    Some(i) => (i + 1, i + 2, 1),
                    None => (0, 0, 1),
                }
            }
            Keys::Sort => {
                first = (nargs > 1).then_some(1);
                let (mut i, mut store) = (2, None);
                while i < nargs {
                    let a = arg(i);
                    if a.eq_ignore_ascii_case(b"limit") {
                        i += 2;
                    } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                        i += 1;
                    } else if a.eq_ignore_ascii_case(b"store") && i + 1 < nargs {
                        store = Some(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
                match store {
                    Some(s) => (s, s + 1, 1),
                    None => (0, 0, 1),
                }
            }
            Keys::StoreCounted(at) => {
                first = (nargs > 1).then_some(1);
                let (start, end) = counted(at);
                (start, end, 1)
            }
            Keys::Migrate if nargs > 3 && !arg(3).is_empty() => (3, 4, 1),
            Keys::Migrate => match (6..nargs).find(|&i| arg(i).eq_ignore_ascii_case(b"keys")) {
                Some(i) => (i + 1, nargs, 1),
                None => (0, 0, 1),
            },
            Keys::Streams => {
                let mut i = 1;
                let mut found = None;
                while i < nargs {
                    let a = arg(i);
                    if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
                        i += 1;
                    } else if a.eq_ignore_ascii_case(b"group") {
                        i += 2;
                    } else if a.eq_ignore_ascii_case(b"streams") {
                        found = Some(i);
                        break;
                    } else if !a.eq_ignore_ascii_case(b"noack") {
                        break;
                    }
                    i += 1;
                }
                match found {
                    Some(at) if (nargs - at - 1).is_multiple_of(2) => (at + 1, at + 1 + (nargs - at - 1) / 2, 1),
                    _ => (0, 0, 1),
                }
            }
        };
        first.into_iter().chain((start..end.max(start)).step_by(step))
    }
}

/// The key positions of one command line.
pub type KeyIter = std::iter::Chain<std::option::IntoIter<usize>, std::iter::StepBy<std::ops::Range<usize>>>;

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:literal, $since:literal, $summary:literal, $handler:expr) => {
        cmd!($name, $arity, $flags, $keys, $group, $since, $summary, $handler, &[])
    };
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:literal, $since:literal, $summary:literal, $handler:expr, $subs:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            group: $group,
            summary: $summary,
            since: $since,
            handler: $handler,
            subcommands: $subs,
        }
    };
}

const NOKEYS: Keys = Keys::None;
const KEY1: Keys = Keys::Range(1, 1, 1);
const KEYS_ALL: Keys = Keys::Range(1, -1, 1);
const KEY12: Keys = Keys::Range(1, 2, 1);
const CONN: u32 = NOSCRIPT | LOADING | STALE | FAST;

fn container(ctx: &mut super::Ctx, args: &[bytes::Bytes]) -> crate::resp::Reply {
    // Never called: the dispatcher resolves subcommands first.
    let _ = ctx;
    super::wrong_arity(&String::from_utf8_lossy(&args[0]))
}

const PS: u32 = PUBSUB | LOADING | STALE;

static PUBSUB_SUBS: [Command; 6] = [
    cmd!("channels", -2, PS, NOKEYS, "pubsub", "2.8.0", "Returns the active channels.", ps::pubsub_channels),
    cmd!("numpat", 2, PS, NOKEYS, "pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", ps::pubsub_numpat),
    cmd!("numsub", -2, PS, NOKEYS, "pubsub", "2.8.0", "Returns a count of subscribers to channels.", ps::pubsub_numsub),
    cmd!("shardchannels", -2, PS, NOKEYS, "pubsub", "7.0.0", "Returns the active shard channels.", ps::pubsub_shardchannels),
    cmd!("shardnumsub", -2, PS, NOKEYS, "pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", ps::pubsub_shardnumsub),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "pubsub", "6.2.0", "Returns helpful text about the different subcommands.", ps::pubsub_help),
];

static CLIENT_SUBS: [Command; 17] = [
    cmd!("tracking", -3, CONN, NOKEYS, "connection", "6.0.0", "Controls server-assisted client-side caching for the connection.", conn::client_tracking),
    cmd!("caching", 3, CONN, NOKEYS, "connection", "6.0.0", "Instructs the server whether to track the keys in the next request.", conn::client_caching),
    cmd!(
        "getredir",
        2,
        CONN,
        NOKEYS,
        "connection",
        "6.0.0",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
        conn::client_getredir
    ),
    cmd!(
        "trackinginfo",
        2,
        CONN,
        NOKEYS,
        "connection",
        "6.2.0",
        "Returns information about server-assisted client-side caching for the connection.",
        conn::client_trackinginfo
    ),
    cmd!("id", 2, CONN, NOKEYS, "connection", "5.0.0", "Returns the unique client ID of the connection.", conn::client_id),
    cmd!("setname", 3, CONN, NOKEYS, "connection", "2.6.9", "Sets the connection name.", conn::client_setname),
    cmd!("getname", 2, CONN, NOKEYS, "connection", "2.6.9", "Returns the name of the connection.", conn::client_getname),
    cmd!(
        "unblock",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "connection",
        "5.0.0",
        "Unblocks a client blocked by a blocking command from a different connection.",
        conn::client_unblock
    ),
    cmd!("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", "2.4.0", "Lists open connections.", conn::client_list),
    cmd!("info", 2, CONN, NOKEYS, "connection", "6.2.0", "Returns information about the connection.", conn::client_info),
    cmd!("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", "2.4.0", "Terminates open connections.", conn::client_kill),
    cmd!("setinfo", 4, CONN, NOKEYS, "connection", "7.2.0", "Sets information specific to the client or connection.", conn::client_setinfo),
    cmd!(
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "connection",
        "7.0.0",
        "Sets the client eviction mode of the connection.",
        conn::client_no_evict
    ),
    cmd!(
        "no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "connection",
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        conn::client_no_touch
    ),
    cmd!("reply", 3, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", "3.2.0", "Instructs the server whether to reply to commands.", conn::client_reply),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "connection", "5.0.0", "Returns helpful text about the different subcommands.", conn::client_help),
    cmd!(
        "unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "connection",
        "6.2.0",
        "Resumes processing commands from paused clients.",
        conn::client_unpause
    ),
];

static CONFIG_SUBS: [Command; 5] = [
    cmd!(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "server",
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        srv::config_get
    ),
    cmd!("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.0.0", "Sets configuration parameters in-flight.", srv::config_set),
    cmd!("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.0.0", "Resets the server's statistics.", srv::config_resetstat),
    cmd!("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.8.0", "Persists the effective configuration to file.", srv::config_rewrite),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "server", "5.0.0", "Returns helpful text about the different subcommands.", srv::config_help),
];

static COMMAND_SUBS: [Command; 6] = [
    cmd!("count", 2, LOADING | STALE, NOKEYS, "server", "2.8.13", "Returns a count of commands.", srv::command_count),
    cmd!("info", -2, LOADING | STALE, NOKEYS, "server", "2.8.13", "Returns information about one, multiple or all commands.", srv::command_info),
    cmd!("docs", -2, LOADING | STALE, NOKEYS, "server", "7.0.0", "Returns documentary information about one, multiple or all commands.", srv::command_docs),
    cmd!("list", -2, LOADING | STALE, NOKEYS, "server", "7.0.0", "Returns a list of command names.", srv::command_list),
    cmd!("getkeys", -4, LOADING | STALE, NOKEYS, "server", "2.8.13", "Extracts the key names from an arbitrary command.", srv::command_getkeys),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "server", "5.0.0", "Returns helpful text about the different subcommands.", srv::command_help),
];

const KEY2: Keys = Keys::Range(2, 2, 1);

static XGROUP_SUBS: [Command; 6] = [
    cmd!("create", -5, WRITE | DENYOOM, KEY2, "stream", "5.0.0", "Creates a consumer group.", xs::xgroup),
    cmd!("setid", -5, WRITE, KEY2, "stream", "5.0.0", "Sets the last-delivered ID of a consumer group.", xs::xgroup),
    cmd!("destroy", 4, WRITE, KEY2, "stream", "5.0.0", "Destroys a consumer group.", xs::xgroup),
    cmd!("createconsumer", 5, WRITE | DENYOOM, KEY2, "stream", "6.2.0", "Creates a consumer in a consumer group.", xs::xgroup),
    cmd!("delconsumer", 5, WRITE, KEY2, "stream", "5.0.0", "Deletes a consumer from a consumer group.", xs::xgroup),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "stream", "5.0.0", "Returns helpful text about the different subcommands.", xs::xgroup_help),
];

static XINFO_SUBS: [Command; 4] = [
    cmd!("stream", -3, READONLY, KEY2, "stream", "5.0.0", "Returns information about a stream.", xs::xinfo_stream),
    cmd!("groups", 3, READONLY, KEY2, "stream", "5.0.0", "Returns a list of the consumer groups of a stream.", xs::xinfo_groups),
    cmd!("consumers", 4, READONLY, KEY2, "stream", "5.0.0", "Returns a list of the consumers in a consumer group.", xs::xinfo_consumers),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "stream", "5.0.0", "Returns helpful text about the different subcommands.", xs::xinfo_help),
];

static OBJECT_SUBS: [Command; 5] = [
    cmd!("encoding", 3, READONLY, Keys::Range(2, 2, 1), "generic", "2.2.3", "Returns the internal encoding of a Redis object.", keys::object_encoding),
    cmd!("idletime", 3, READONLY, Keys::Range(2, 2, 1), "generic", "2.2.3", "Returns the time since the last access to a Redis object.", keys::object_idletime),
    cmd!(
        "freq",
        3,
        READONLY,
        Keys::Range(2, 2, 1),
        "generic",
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        keys::object_freq
    ),
    cmd!("refcount", 3, READONLY, Keys::Range(2, 2, 1), "generic", "2.2.3", "Returns the reference count of a value of a key.", keys::object_refcount),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "generic", "6.2.0", "Returns helpful text about the different subcommands.", keys::object_help),
];

static FUNCTION_SUBS: [Command; 3] = [
    cmd!("flush", -2, WRITE | NOSCRIPT, NOKEYS, "scripting", "7.0.0", "Deletes all libraries and functions.", srv::function_flush),
    cmd!("list", -2, NOSCRIPT, NOKEYS, "scripting", "7.0.0", "Returns information about all libraries.", srv::function_list),
    cmd!("stats", 2, NOSCRIPT, NOKEYS, "scripting", "7.0.0", "Returns information about a function during execution.", srv::function_stats),
];

static SCRIPT_SUBS: [Command; 5] = [
    cmd!("load", 3, NOSCRIPT | STALE, NOKEYS, "scripting", "2.6.0", "Loads a server-side Lua script to the script cache.", lua::script_load),
    cmd!(
        "exists",
        -3,
        NOSCRIPT | STALE,
        NOKEYS,
        "scripting",
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
        lua::script_exists
    ),
    cmd!("flush", -2, NOSCRIPT, NOKEYS, "scripting", "2.6.0", "Removes all server-side Lua scripts from the script cache.", lua::script_flush),
    cmd!("kill", 2, NOSCRIPT | STALE, NOKEYS, "scripting", "2.6.0", "Terminates a server-side Lua script during execution.", lua::script_kill),
    cmd!("help", 2, LOADING | STALE, NOKEYS, "scripting", "5.0.0", "Returns helpful text about the different subcommands.", lua::script_help),
];

static DEBUG_SUBS: [Command; 2] = [
    cmd!("sleep", 3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "1.0.0", "Blocks the server for the given seconds.", srv::debug_sleep),
    cmd!(
        "effects",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "server",
        "0.1.0",
        "Reads the effect log from an offset: [offset, db, command] entries (KEEP starts keeping it).",
        srv::debug_effects
    ),
];

/// Every command the node serves.
pub static COMMANDS: &[Command] = &[
    // hashes
    cmd!("lpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", l::lpush),
    cmd!("rpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", l::rpush),
    cmd!("lpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", l::lpushx),
    cmd!("rpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", "2.2.0", "Appends an element to a list only when the list exists.", l::rpushx),
    cmd!(
        "lpop",
        -2,
        WRITE | FAST,
        KEY1,
        "list",
        "1.0.0",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        l::lpop
    ),
    cmd!(
        "rpop",
        -2,
        WRITE | FAST,
        KEY1,
        "list",
        "1.0.0",
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        l::rpop
    ),
    cmd!("llen", 2, READONLY | FAST, KEY1, "list", "1.0.0", "Returns the length of a list.", l::llen),
    cmd!("lindex", 3, READONLY, KEY1, "list", "1.0.0", "Returns an element from a list by its index.", l::lindex),
    cmd!("lset", 4, WRITE | DENYOOM, KEY1, "list", "1.0.0", "Sets the value of an element in a list by its index.", l::lset),
    cmd!("linsert", 5, WRITE | DENYOOM, KEY1, "list", "2.2.0", "Inserts an element before or after another element in a list.", l::linsert),
    cmd!("lrange", 4, READONLY, KEY1, "list", "1.0.0", "Returns a range of elements from a list.", l::lrange),
    cmd!("ltrim", 4, WRITE, KEY1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", l::ltrim),
    cmd!("lrem", 4, WRITE, KEY1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", l::lrem),
    cmd!("lpos", -3, READONLY, KEY1, "list", "6.0.6", "Returns the index of matching elements in a list.", l::lpos),
    cmd!(
        "lmove",
        5,
        WRITE | DENYOOM,
        KEY12,
        "list",
        "6.2.0",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        l::lmove
    ),
    cmd!(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        KEY12,
        "list",
        "1.2.0",
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        l::rpoplpush
    ),
    cmd!(
        "lmpop",
        -4,
        WRITE,
        Keys::Counted(1),
        "list",
        "7.0.0",
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        l::lmpop
    ),
    cmd!(
        "blpop",
        -3,
        WRITE | BLOCKING | NOSCRIPT,
        Keys::Range(1, -2, 1),
        "list",
        "2.0.0",
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        l::blpop
    ),
    cmd!(
        "brpop",
        -3,
        WRITE | BLOCKING | NOSCRIPT,
        Keys::Range(1, -2, 1),
        "list",
        "2.0.0",
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        l::brpop
    ),
    cmd!(
        "blmove",
        6,
        WRITE | BLOCKING | NOSCRIPT | DENYOOM,
        KEY12,
        "list",
        "6.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        l::blmove
    ),
    cmd!(
        "brpoplpush",
        4,
        WRITE | BLOCKING | NOSCRIPT | DENYOOM,
        KEY12,
        "list",
        "2.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        l::brpoplpush
    ),
    cmd!(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        Keys::Counted(2),
        "list",
        "7.0.0",
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        l::blmpop
    ),
    cmd!("hset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", h::hset),
    cmd!("hsetnx", 4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", h::hsetnx),
    cmd!("hmset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Sets the values of multiple fields.", h::hset),
    cmd!("hget", 3, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the value of a field in a hash.", h::hget),
    cmd!("hmget", -3, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the values of all fields in a hash.", h::hmget),
    cmd!("hgetall", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all fields and values in a hash.", h::hgetall),
    cmd!(
        "hdel",
        -3,
        WRITE | FAST,
        KEY1,
        "hash",
        "2.0.0",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        h::hdel
    ),
    cmd!("hlen", 2, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the number of fields in a hash.", h::hlen),
    cmd!("hstrlen", 3, READONLY | FAST, KEY1, "hash", "3.2.0", "Returns the length of the value of a field.", h::hstrlen),
    cmd!("hexists", 3, READONLY | FAST, KEY1, "hash", "2.0.0", "Determines whether a field exists in a hash.", h::hexists),
    cmd!("hkeys", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all fields in a hash.", h::hkeys),
    cmd!("hvals", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all values in a hash.", h::hvals),
    cmd!(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        KEY1,
        "hash",
        "2.0.0",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        h::hincrby
    ),
    cmd!(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        KEY1,
        "hash",
        "2.6.0",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        h::hincrbyfloat
    ),
    cmd!("hrandfield", -2, READONLY, KEY1, "hash", "6.2.0", "Returns one or more random fields from a hash.", h::hrandfield),
    cmd!("hscan", -3, READONLY, KEY1, "hash", "2.8.0", "Iterates over fields and values of a hash.", h::hscan),
    // bitmaps
    cmd!("setbit", 4, WRITE | DENYOOM, KEY1, "bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", bm::setbit),
    cmd!("getbit", 3, READONLY | FAST, KEY1, "bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", bm::getbit),
    cmd!("bitcount", -2, READONLY, KEY1, "bitmap", "2.6.0", "Count set bits in a string", bm::bitcount),
    cmd!("bitpos", -3, READONLY, KEY1, "bitmap", "2.8.7", "Find first bit set or clear in a string", bm::bitpos),
    cmd!("bitop", -4, WRITE | DENYOOM, Keys::Range(2, -1, 1), "bitmap", "2.6.0", "Perform bitwise operations between strings", bm::bitop),
    cmd!("bitfield", -2, WRITE | DENYOOM, KEY1, "bitmap", "3.2.0", "Perform arbitrary bitfield integer operations on strings", bm::bitfield),
    cmd!(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        KEY1,
        "bitmap",
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        bm::bitfield_ro
    ),
    // hyperloglog
    cmd!("pfadd", -2, WRITE | DENYOOM | FAST, KEY1, "hyperloglog", "2.8.9", "Adds the specified elements to the specified HyperLogLog.", hl::pfadd),
    cmd!(
        "pfcount",
        -2,
        READONLY,
        KEYS_ALL,
        "hyperloglog",
        "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        hl::pfcount
    ),
    cmd!("pfmerge", -2, WRITE | DENYOOM, KEYS_ALL, "hyperloglog", "2.8.9", "Merge N different HyperLogLogs into a single one.", hl::pfmerge),
    cmd!(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        Keys::Range(2, 2, 1),
        "hyperloglog",
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
        hl::pfdebug
    ),
    cmd!("pfselftest", 1, ADMIN, NOKEYS, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values", hl::pfselftest),
    // sets
    cmd!("sadd", -3, WRITE | DENYOOM | FAST, KEY1, "set", "1.0.0", "Add one or more members to a set", st::sadd),
    cmd!("srem", -3, WRITE | FAST, KEY1, "set", "1.0.0", "Remove one or more members from a set", st::srem),
    cmd!("scard", 2, READONLY | FAST, KEY1, "set", "1.0.0", "Get the number of members in a set", st::scard),
    cmd!("sismember", 3, READONLY | FAST, KEY1, "set", "1.0.0", "Determine if a given value is a member of a set", st::sismember),
    cmd!("smismember", -3, READONLY | FAST, KEY1, "set", "6.2.0", "Returns the membership associated with the given elements for a set", st::smismember),
    cmd!("smembers", 2, READONLY, KEY1, "set", "1.0.0", "Get all the members in a set", st::smembers),
    cmd!("srandmember", -2, READONLY, KEY1, "set", "1.0.0", "Get one or multiple random members from a set", st::srandmember),
    cmd!("spop", -2, WRITE | FAST, KEY1, "set", "1.0.0", "Remove and return one or multiple random members from a set", st::spop),
    cmd!("smove", 4, WRITE | FAST, KEY12, "set", "1.0.0", "Move a member from one set to another", st::smove),
    cmd!("sinter", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Intersect multiple sets", st::sinter),
    cmd!("sintercard", -3, READONLY, Keys::Counted(1), "set", "7.0.0", "Intersect multiple sets and return the cardinality of the result", st::sintercard),
    cmd!("sinterstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Intersect multiple sets and store the resulting set in a key", st::sinterstore),
    cmd!("sunion", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Add multiple sets", st::sunion),
    cmd!("sunionstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Add multiple sets and store the resulting set in a key", st::sunionstore),
    cmd!("sdiff", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Subtract multiple sets", st::sdiff),
    cmd!("sdiffstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Subtract multiple sets and store the resulting set in a key", st::sdiffstore),
    cmd!("sscan", -3, READONLY, KEY1, "set", "2.8.0", "Incrementally iterate Set elements", st::sscan),
    // sorted sets
    cmd!(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        KEY1,
        "sorted-set",
        "1.2.0",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        z::zadd
    ),
    cmd!("zincrby", 4, WRITE | DENYOOM | FAST, KEY1, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", z::zincrby),
    cmd!(
        "zrem",
        -3,
        WRITE | FAST,
        KEY1,
        "sorted-set",
        "1.2.0",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        z::zrem
    ),
    cmd!("zcard", 2, READONLY | FAST, KEY1, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", z::zcard),
    cmd!("zcount", 4, READONLY | FAST, KEY1, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", z::zcount),
    cmd!(
        "zlexcount",
        4,
        READONLY | FAST,
        KEY1,
        "sorted-set",
        "2.8.9",
        "Returns the number of members in a sorted set within a lexicographical range.",
        z::zlexcount
    ),
    cmd!("zscore", 3, READONLY | FAST, KEY1, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", z::zscore),
    cmd!("zmscore", -3, READONLY | FAST, KEY1, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", z::zmscore),
    cmd!("zrank", 3, READONLY | FAST, KEY1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", z::zrank),
    cmd!(
        "zrevrank",
        3,
        READONLY | FAST,
        KEY1,
        "sorted-set",
        "2.0.0",
        "Returns the index of a member in a sorted set ordered by descending scores.",
        z::zrevrank
    ),
    cmd!("zrange", -4, READONLY, KEY1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", z::zrange),
    cmd!("zrangestore", -5, WRITE | DENYOOM, KEY12, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", z::zrangestore),
    cmd!("zrangebyscore", -4, READONLY, KEY1, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", z::zrangebyscore),
    cmd!(
        "zrevrangebyscore",
        -4,
        READONLY,
        KEY1,
        "sorted-set",
        "2.2.0",
        "Returns members in a sorted set within a range of scores in reversed order.",
        z::zrevrangebyscore
    ),
    cmd!("zrangebylex", -4, READONLY, KEY1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", z::zrangebylex),
    cmd!(
        "zrevrangebylex",
        -4,
        READONLY,
        KEY1,
        "sorted-set",
        "2.8.9",
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        z::zrevrangebylex
    ),
    cmd!("zrevrange", -4, READONLY, KEY1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", z::zrevrange),
    cmd!(
        "zremrangebyrank",
        4,
        WRITE,
        KEY1,
        "sorted-set",
        "2.0.0",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        z::zremrangebyrank
    ),
    cmd!(
        "zremrangebyscore",
        4,
        WRITE,
        KEY1,
        "sorted-set",
        "1.2.0",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        z::zremrangebyscore
    ),
    cmd!(
        "zremrangebylex",
        4,
        WRITE,
        KEY1,
        "sorted-set",
        "2.8.9",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        z::zremrangebylex
    ),
    cmd!(
        "zpopmin",
        -2,
        WRITE | FAST,
        KEY1,
        "sorted-set",
        "5.0.0",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        z::zpopmin
    ),
    cmd!(
        "zpopmax",
        -2,
        WRITE | FAST,
        KEY1,
        "sorted-set",
        "5.0.0",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        z::zpopmax
    ),
    cmd!(
        "zmpop",
        -4,
        WRITE,
        Keys::Counted(1),
        "sorted-set",
        "7.0.0",
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        z::zmpop
    ),
    cmd!(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        Keys::Range(1, -2, 1),
        "sorted-set",
        "5.0.0",
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        z::bzpopmin
    ),
    cmd!(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        Keys::Range(1, -2, 1),
        "sorted-set",
        "5.0.0",
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        z::bzpopmax
    ),
    cmd!(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        Keys::Counted(2),
        "sorted-set",
        "7.0.0",
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        z::bzmpop
    ),
    cmd!("zrandmember", -2, READONLY, KEY1, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", z::zrandmember),
    cmd!("zunion", -3, READONLY, Keys::Counted(1), "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", z::zunion),
    cmd!("zinter", -3, READONLY, Keys::Counted(1), "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", z::zinter),
    cmd!("zdiff", -3, READONLY, Keys::Counted(1), "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", z::zdiff),
    cmd!(
        "zintercard",
        -3,
        READONLY,
        Keys::Counted(1),
        "sorted-set",
        "7.0.0",
        "Returns the number of members of the intersect of multiple sorted sets.",
        z::zintercard
    ),
    cmd!(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        Keys::StoreCounted(2),
        "sorted-set",
        "2.0.0",
        "Stores the union of multiple sorted sets in a key.",
        z::zunionstore
    ),
    cmd!(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        Keys::StoreCounted(2),
        "sorted-set",
        "2.0.0",
        "Stores the intersect of multiple sorted sets in a key.",
        z::zinterstore
    ),
    cmd!(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        Keys::StoreCounted(2),
        "sorted-set",
        "6.2.0",
        "Stores the difference of multiple sorted sets in a key.",
        z::zdiffstore
    ),
    cmd!("zscan", -3, READONLY, KEY1, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", z::zscan),
    cmd!(
        "sort",
        -2,
        WRITE | DENYOOM | PATTERNS,
        Keys::Sort,
        "generic",
        "1.0.0",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        sort::sort
    ),
    cmd!("sort_ro", -2, READONLY | PATTERNS, Keys::Sort, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", sort::sort_ro),
    // geo (on sorted sets)
    cmd!(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        KEY1,
        "geo",
        "3.2.0",
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        geo::geoadd
    ),
    cmd!("geodist", -4, READONLY, KEY1, "geo", "3.2.0", "Returns the distance between two members of a geospatial index.", geo::geodist),
    cmd!("geohash", -2, READONLY, KEY1, "geo", "3.2.0", "Returns members from a geospatial index as geohash strings.", geo::geohash),
    cmd!("geopos", -2, READONLY, KEY1, "geo", "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", geo::geopos),
    cmd!(
        "georadius",
        -6,
        WRITE | DENYOOM,
        Keys::StoreKeyword(6),
        "geo",
        "3.2.0",
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        geo::georadius
    ),
    cmd!(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        Keys::StoreKeyword(5),
        "geo",
        "3.2.0",
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        geo::georadiusbymember
    ),
    cmd!(
        "georadius_ro",
        -6,
        READONLY,
        KEY1,
        "geo",
        "3.2.10",
        "Returns members from a geospatial index that are within a distance from a coordinate.",
        geo::georadius_ro
    ),
    cmd!(
        "georadiusbymember_ro",
        -5,
        READONLY,
        KEY1,
        "geo",
        "3.2.10",
        "Returns members from a geospatial index that are within a distance from a member.",
        geo::georadiusbymember_ro
    ),
    cmd!("geosearch", -7, READONLY, KEY1, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", geo::geosearch),
    cmd!(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        KEY12,
        "geo",
        "6.2.0",
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        geo::geosearchstore
    ),
    // strings
    cmd!("get", 2, READONLY | FAST, KEY1, "string", "1.0.0", "Returns the string value of a key.", s::get),
    cmd!(
        "set",
        -3,
        WRITE | DENYOOM,
        KEY1,
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        s::set
    ),
    cmd!("setnx", 3, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", s::setnx),
    cmd!(
        "setex",
        4,
        WRITE | DENYOOM,
        KEY1,
        "string",
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        s::setex
    ),
    cmd!(
        "psetex",
        4,
        WRITE | DENYOOM,
        KEY1,
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        s::psetex
    ),
    cmd!(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        s::getset
    ),
    cmd!("getdel", 2, WRITE | FAST, KEY1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", s::getdel),
    cmd!("getex", -2, WRITE | FAST, KEY1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", s::getex),
    cmd!("mget", -2, READONLY | FAST, KEYS_ALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.", s::mget),
    cmd!(
        "mset",
        -3,
        WRITE | DENYOOM,
        Keys::Range(1, -1, 2),
        "string",
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        s::mset
    ),
    cmd!(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        Keys::Range(1, -1, 2),
        "string",
        "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        s::msetnx
    ),
    cmd!(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        s::incr
    ),
    cmd!(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        s::decr
    ),
    cmd!(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        s::incrby
    ),
    cmd!(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        s::decrby
    ),
    cmd!(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        s::incrbyfloat
    ),
    cmd!(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        KEY1,
        "string",
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        s::append
    ),
    cmd!("strlen", 2, READONLY | FAST, KEY1, "string", "2.2.0", "Returns the length of a string value.", s::strlen),
    cmd!("lcs", -3, READONLY, KEY12, "string", "7.0.0", "Finds the longest common substring.", s::lcs),
    cmd!("getrange", 4, READONLY, KEY1, "string", "2.4.0", "Returns a substring of the string stored at a key.", s::getrange),
    cmd!("substr", 4, READONLY, KEY1, "string", "1.0.0", "Returns a substring from a string value.", s::getrange),
    cmd!(
        "setrange",
        4,
        WRITE | DENYOOM,
        KEY1,
        "string",
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        s::setrange
    ),
    cmd!("delex", -2, WRITE | FAST, KEY1, "string", "8.4.0", "Conditionally removes the specified key based on value comparison.", s::delex),
    cmd!("delifeq", 3, WRITE | FAST, KEY1, "string", "9.0.0", "Deletes the key if its value equals the given value.", s::delifeq),
    // keys
    cmd!("del", -2, WRITE, KEYS_ALL, "generic", "1.0.0", "Deletes one or more keys.", keys::del),
    cmd!("unlink", -2, WRITE | FAST, KEYS_ALL, "generic", "4.0.0", "Asynchronously deletes one or more keys.", keys::unlink),
    cmd!("exists", -2, READONLY | FAST, KEYS_ALL, "generic", "1.0.0", "Determines whether one or more keys exist.", keys::exists),
    cmd!("type", 2, READONLY | FAST, KEY1, "generic", "1.0.0", "Determines the type of value stored at a key.", keys::type_),
    cmd!("keys", 2, READONLY, NOKEYS, "generic", "1.0.0", "Returns all key names that match a pattern.", keys::keys),
    cmd!("scan", -2, READONLY, NOKEYS, "generic", "2.8.0", "Iterates over the key names in the database.", keys::scan),
    cmd!("rename", 3, WRITE, KEY12, "generic", "1.0.0", "Renames a key and overwrites the destination.", keys::rename),
    cmd!("renamenx", 3, WRITE | FAST, KEY12, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", keys::renamenx),
    cmd!("randomkey", 1, READONLY, NOKEYS, "generic", "1.0.0", "Returns a random key name from the database.", keys::randomkey),
    cmd!(
        "touch",
        -2,
        READONLY | FAST,
        KEYS_ALL,
        "generic",
        "3.2.1",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        keys::touch
    ),
    cmd!("move", 3, WRITE | FAST, KEY1, "generic", "1.0.0", "Moves a key to another database.", keys::move_key),
    cmd!("dump", 2, READONLY, KEY1, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", dump::dump),
    cmd!("restore", -4, WRITE | DENYOOM, KEY1, "generic", "2.6.0", "Creates a key from the serialized representation of a value.", dump::restore),
    cmd!("migrate", -6, WRITE, Keys::Migrate, "generic", "2.6.0", "Atomically transfers a key from one Redis instance to another.", dump::migrate),
    cmd!("copy", -3, WRITE | DENYOOM, KEY12, "generic", "6.2.0", "Copies the value of a key to a new key.", keys::copy),
    cmd!("object", -2, 0, NOKEYS, "generic", "2.2.3", "A container for object introspection commands.", container, &OBJECT_SUBS),
    // streams
    cmd!("xadd", -5, WRITE | DENYOOM | FAST, KEY1, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", xs::xadd),
    cmd!("xrange", -4, READONLY, KEY1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", xs::xrange),
    cmd!("xrevrange", -4, READONLY, KEY1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", xs::xrevrange),
    cmd!("xlen", 2, READONLY | FAST, KEY1, "stream", "5.0.0", "Return the number of messages in a stream.", xs::xlen),
    cmd!("xdel", -3, WRITE | FAST, KEY1, "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", xs::xdel),
    cmd!("xtrim", -4, WRITE, KEY1, "stream", "5.0.0", "Deletes messages from the beginning of a stream.", xs::xtrim),
    cmd!("xsetid", -3, WRITE | DENYOOM | FAST, KEY1, "stream", "5.0.0", "An internal command for replicating stream values.", xs::xsetid),
    cmd!(
        "xread",
        -4,
        READONLY | BLOCKING,
        Keys::Streams,
        "stream",
        "5.0.0",
        "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        xs::xread
    ),
    cmd!(
        "xreadgroup",
        -7,
        WRITE | BLOCKING,
        Keys::Streams,
        "stream",
        "5.0.0",
        "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        xs::xreadgroup
    ),
    cmd!("xgroup", -2, 0, NOKEYS, "stream", "5.0.0", "A container for consumer groups commands.", container, &XGROUP_SUBS),
    cmd!(
        "xack",
        -4,
        WRITE | FAST,
        KEY1,
        "stream",
        "5.0.0",
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        xs::xack
    ),
    cmd!(
        "xpending",
        -3,
        READONLY,
        KEY1,
        "stream",
        "5.0.0",
        "Returns the information and entries from a stream consumer group's pending entries list.",
        xs::xpending
    ),
    cmd!(
        "xclaim",
        -6,
        WRITE | FAST,
        KEY1,
        "stream",
        "5.0.0",
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        xs::xclaim
    ),
    cmd!(
        "xautoclaim",
        -6,
        WRITE | FAST,
        KEY1,
        "stream",
        "6.2.0",
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        xs::xautoclaim
    ),
    cmd!("xinfo", -2, 0, NOKEYS, "stream", "5.0.0", "A container for stream introspection commands.", container, &XINFO_SUBS),
    cmd!("expire", -3, WRITE | FAST, KEY1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", keys::expire),
    cmd!("pexpire", -3, WRITE | FAST, KEY1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", keys::pexpire),
    cmd!("expireat", -3, WRITE | FAST, KEY1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", keys::expireat),
    cmd!("pexpireat", -3, WRITE | FAST, KEY1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", keys::pexpireat),
    cmd!("ttl", 2, READONLY | FAST, KEY1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", keys::ttl),
    cmd!("pttl", 2, READONLY | FAST, KEY1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", keys::pttl),
    cmd!("expiretime", 2, READONLY | FAST, KEY1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", keys::expiretime),
    cmd!(
        "pexpiretime",
        2,
        READONLY | FAST,
        KEY1,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        keys::pexpiretime
    ),
    cmd!("persist", 2, WRITE | FAST, KEY1, "generic", "2.2.0", "Removes the expiration time of a key.", keys::persist),
    // connection
    cmd!("ping", -1, FAST, NOKEYS, "connection", "1.0.0", "Returns the server's liveliness response.", conn::ping),
    cmd!("echo", 2, FAST | LOADING | STALE, NOKEYS, "connection", "1.0.0", "Returns the given string.", conn::echo),
    cmd!("hello", -1, NO_AUTH | CONN, NOKEYS, "connection", "6.0.0", "Handshakes with the Redis server.", conn::hello),
    cmd!("auth", -2, NO_AUTH | CONN, NOKEYS, "connection", "1.0.0", "Authenticates the connection.", conn::auth),
    cmd!("select", 2, CONN, NOKEYS, "connection", "1.0.0", "Changes the selected database.", conn::select),
    cmd!("quit", -1, NO_QUEUE | NO_AUTH | CONN, NOKEYS, "connection", "1.0.0", "Closes the connection.", conn::quit),
    cmd!("reset", 1, NO_QUEUE | NO_AUTH | CONN, NOKEYS, "connection", "6.2.0", "Resets the connection.", conn::reset),
    cmd!("client", -2, 0, NOKEYS, "connection", "2.4.0", "A container for client connection commands.", container, &CLIENT_SUBS),
    // pub/sub
    cmd!("subscribe", -2, PS | NOSCRIPT, NOKEYS, "pubsub", "2.0.0", "Listens for messages published to channels.", ps::subscribe),
    cmd!("unsubscribe", -1, PS | NOSCRIPT, NOKEYS, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", ps::unsubscribe),
    cmd!(
        "psubscribe",
        -2,
        PS | NOSCRIPT,
        NOKEYS,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        ps::psubscribe
    ),
    cmd!(
        "punsubscribe",
        -1,
        PS | NOSCRIPT,
        NOKEYS,
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        ps::punsubscribe
    ),
    cmd!("ssubscribe", -2, PS | NOSCRIPT, NOKEYS, "pubsub", "7.0.0", "Listens for messages published to shard channels.", ps::ssubscribe),
    cmd!("sunsubscribe", -1, PS | NOSCRIPT, NOKEYS, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", ps::sunsubscribe),
    cmd!("publish", 3, PS | FAST, NOKEYS, "pubsub", "2.0.0", "Posts a message to a channel.", ps::publish),
    cmd!("spublish", 3, PS | FAST, NOKEYS, "pubsub", "7.0.0", "Post a message to a shard channel", ps::spublish),
    cmd!("pubsub", -2, 0, NOKEYS, "pubsub", "2.8.0", "A container for Pub/Sub commands.", container, &PUBSUB_SUBS),
    // scripting (keys are declared by numkeys)
    cmd!("eval", -3, NOSCRIPT | STALE | EXCLUSIVE, Keys::Counted(2), "scripting", "2.6.0", "Executes a server-side Lua script.", lua::eval),
    cmd!(
        "evalsha",
        -3,
        NOSCRIPT | STALE | EXCLUSIVE,
        Keys::Counted(2),
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
        lua::evalsha
    ),
    cmd!(
        "eval_ro",
        -3,
        NOSCRIPT | STALE | READONLY | EXCLUSIVE,
        Keys::Counted(2),
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script.",
        lua::eval_ro
    ),
    cmd!(
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | READONLY | EXCLUSIVE,
        Keys::Counted(2),
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        lua::evalsha_ro
    ),
    cmd!("script", -2, 0, NOKEYS, "scripting", "2.6.0", "A container for Lua scripts management commands.", container, &SCRIPT_SUBS),
    // transactions
    cmd!("multi", 1, NOSCRIPT | LOADING | STALE | FAST | NO_QUEUE, NOKEYS, "transactions", "1.2.0", "Starts a transaction.", tx::multi),
    cmd!("exec", 1, NOSCRIPT | LOADING | STALE | NO_QUEUE | EXCLUSIVE, NOKEYS, "transactions", "1.2.0", "Executes all commands in a transaction.", tx::exec),
    cmd!("discard", 1, NOSCRIPT | LOADING | STALE | FAST | NO_QUEUE, NOKEYS, "transactions", "2.0.0", "Discards a transaction.", tx::discard),
    cmd!(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_QUEUE,
        KEYS_ALL,
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        tx::watch
    ),
    cmd!("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, NOKEYS, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", tx::unwatch),
    // blocking locks with fencing tokens
    cmd!(
        "lock.acquire",
        -4,
        WRITE | DENYOOM,
        KEY1,
        "lock",
        "0.1.0",
        "Takes a lease lock, waiting in FIFO order if asked; returns a fencing token.",
        lock::acquire
    ),
    cmd!("lock.release", 3, WRITE | FAST, KEY1, "lock", "0.1.0", "Releases a lease lock held by the given owner.", lock::release),
    cmd!("lock.extend", 4, WRITE | FAST, KEY1, "lock", "0.1.0", "Extends a lease lock held by the given owner.", lock::extend),
    // cross-node transactions: the 2PC participant (internal)
    cmd!(
        "txn.hello",
        2,
        TXN | FAST | NO_QUEUE,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Authorises TXN commands on this connection with the cluster secret.",
        txn::hello
    ),
    cmd!(
        "txn.prepare",
        -6,
        TXN | WRITE | DENYOOM | NO_QUEUE | EXCLUSIVE,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Phase 1 of a cross-node transaction: lock keys, check watches, vote.",
        txn::prepare
    ),
    cmd!(
        "txn.commit",
        2,
        TXN | WRITE | NO_QUEUE | EXCLUSIVE,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Phase 2: apply a prepared transaction and record the commit.",
        txn::commit
    ),
    cmd!("txn.abort", 2, TXN | WRITE | NO_QUEUE | NO_GATE, NOKEYS, "transactions", "0.1.0", "Abort a prepared or unknown transaction.", txn::abort),
    cmd!(
        "txn.nowait",
        1,
        TXN | NO_QUEUE | FAST,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Defer instead of wait on keys held by cross-node transactions.",
        txn::nowait
    ),
    cmd!(
        "txn.forget",
        2,
        TXN | NO_QUEUE | FAST,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Releases a primary's commit decision once every participant has it.",
        txn::forget
    ),
    cmd!("txn.record", -8, TXN | WRITE, NOKEYS, "transactions", "0.1.0", "Re-creates a prepared transaction from the journal (AOF replay).", txn::record),
    cmd!("txn.decided", -3, TXN | WRITE, NOKEYS, "transactions", "0.1.0", "Records a transaction's decision from the journal (AOF replay).", txn::decided),
    cmd!("txn.fence", 2, TXN | WRITE | FAST, NOKEYS, "transactions", "0.1.0", "Raises the fencing-token high-water mark (AOF replay).", txn::fence),
    cmd!("txn.status", -2, TXN | NO_QUEUE, NOKEYS, "transactions", "0.1.0", "The state of a transaction on this node.", txn::status),
    cmd!("txn.list", 1, TXN | NO_QUEUE | ADMIN, NOKEYS, "transactions", "0.1.0", "Lists in-doubt (prepared) transactions.", txn::list),
    cmd!(
        "txn.resolve",
        3,
        TXN | NO_QUEUE | ADMIN | NO_GATE,
        NOKEYS,
        "transactions",
        "0.1.0",
        "Commits or aborts an in-doubt transaction by hand.",
        txn::resolve
    ),
    // server
    cmd!("info", -1, LOADING | STALE, NOKEYS, "server", "1.0.0", "Returns information and statistics about the server.", srv::info),
    cmd!("dbsize", 1, READONLY | FAST, NOKEYS, "server", "1.0.0", "Returns the number of keys in the database.", srv::dbsize),
    cmd!("swapdb", 3, WRITE | FAST | EXCLUSIVE, NOKEYS, "server", "4.0.0", "Swaps two Redis databases.", keys::swapdb),
    cmd!("flushdb", -1, WRITE | EXCLUSIVE, NOKEYS, "server", "1.0.0", "Removes all keys from the current database.", srv::flushdb),
    cmd!("flushall", -1, WRITE | EXCLUSIVE, NOKEYS, "server", "1.0.0", "Removes all keys from all databases.", srv::flushall),
    cmd!("config", -2, 0, NOKEYS, "server", "2.0.0", "A container for server configuration commands.", container, &CONFIG_SUBS),
    cmd!("command", -1, LOADING | STALE, NOKEYS, "server", "2.8.13", "Returns detailed information about all commands.", srv::command, &COMMAND_SUBS),
    cmd!("time", 1, LOADING | STALE | FAST, NOKEYS, "server", "2.6.0", "Returns the server time.", srv::time),
    cmd!(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "server",
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        srv::monitor
    ),
    cmd!("lastsave", 1, LOADING | STALE | FAST, NOKEYS, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", srv::lastsave),
    cmd!("save", 1, ADMIN | NOSCRIPT | NO_GATE | NO_MULTI, NOKEYS, "server", "1.0.0", "Synchronously saves the database(s) to disk.", srv::save),
    cmd!("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_GATE, NOKEYS, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk.", srv::bgrewriteaof),
    cmd!("bgsave", -1, ADMIN | NOSCRIPT | NO_GATE, NOKEYS, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", srv::bgsave),
    cmd!(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_GATE | NO_MULTI,
        NOKEYS,
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        srv::shutdown
    ),
    cmd!("function", -2, 0, NOKEYS, "scripting", "7.0.0", "A container for function commands.", container, &FUNCTION_SUBS),
    cmd!("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "1.0.0", "A container for debugging commands.", container, &DEBUG_SUBS),
    cmd!(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NOKEYS,
        "server",
        "3.0.0",
        "An internal command for configuring the replication stream.",
        repl::replconf
    ),
    cmd!("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", "1.0.0", "An internal command used in replication.", repl::sync),
    cmd!("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", "2.8.0", "An internal command used in replication.", repl::psync),
    cmd!("role", 1, NOSCRIPT | LOADING | STALE | FAST, NOKEYS, "server", "2.8.12", "Returns the replication role.", srv::role),
    cmd!(
        "readonly",
        1,
        LOADING | STALE | FAST,
        NOKEYS,
        "cluster",
        "3.0.0",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
        srv::ok
    ),
    cmd!(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        NOKEYS,
        "cluster",
        "3.0.0",
        "Enables read-write queries for a connection to a Reids Cluster replica node.",
        srv::ok
    ),
    cmd!(
        "wait",
        3,
        NOSCRIPT,
        NOKEYS,
        "generic",
        "3.0.0",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        srv::wait
    ),
    cmd!("memory", -2, READONLY, NOKEYS, "server", "4.0.0", "A container for memory diagnostics commands.", srv::memory),
    cmd!("slowlog", -2, ADMIN | LOADING | STALE, NOKEYS, "server", "2.2.12", "A container for slow log commands.", srv::slowlog),
];

/// FNV-1a: command names are short and trusted to be few, so the default
/// SipHash (built against hash flooding) costs more than it protects here;
/// the lookup runs once per command.
#[derive(Default)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        self.0 = bytes.iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type NameIndex = HashMap<&'static str, usize, std::hash::BuildHasherDefault<NameHasher>>;

static INDEX: LazyLock<NameIndex> = LazyLock::new(|| COMMANDS.iter().enumerate().map(|(i, c)| (c.name, i)).collect());

/// Finds a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<(usize, &'static Command)> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    INDEX.get(lower).map(|&i| (i, &COMMANDS[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").unwrap().1.name, "get");
        assert!(lookup(b"nosuch").is_none());
    }

    #[test]
    fn key_positions() {
        let (_, mset) = lookup(b"mset").unwrap();
        assert_eq!(mset.key_positions(&["mset", "a", "1", "b", "2"]), vec![1, 3]);
        let (_, del) = lookup(b"del").unwrap();
        assert_eq!(del.key_positions(&["del", "a", "b", "c"]), vec![1, 2, 3]);
        let (_, get) = lookup(b"get").unwrap();
        assert_eq!(get.key_positions(&["get", "k"]), vec![1]);
        let (_, blpop) = lookup(b"blpop").unwrap();
        assert_eq!(blpop.key_positions(&["blpop", "a", "b", "0"]), vec![1, 2]);
        let (_, eval) = lookup(b"eval").unwrap();
        assert_eq!(eval.key_positions(&["eval", "s", "2", "k1", "k2", "a"]), vec![3, 4]);
        assert_eq!(eval.key_positions(&["eval", "s", "5", "k1"]), vec![3], "a count past the end is clamped");
        assert_eq!(eval.key_positions(&["eval", "s", "-1", "k1"]), Vec::<usize>::new());
        let (_, blmpop) = lookup(b"blmpop").unwrap();
        assert_eq!(blmpop.key_positions(&["blmpop", "0", "2", "a", "b", "left"]), vec![3, 4]);
        let (_, migrate) = lookup(b"migrate").unwrap();
        assert_eq!(migrate.key_positions(&["migrate", "h", "1", "k", "0", "5"]), vec![3]);
        assert_eq!(migrate.key_positions(&["migrate", "h", "1", "", "0", "5", "REPLACE", "KEYS", "a", "b"]), vec![8, 9]);
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS.iter() {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(seen.insert(c.name), "{} twice", c.name);
        }
    }
}
