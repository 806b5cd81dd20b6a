//! Lua scripting: EVAL and friends, with Redis 7's semantics.
//!
//! One Lua 5.1 state per server (the `mlua` crate with Lua built from
//! source), as Redis has: compiled scripts are cached by SHA1 and survive
//! across connections until SCRIPT FLUSH. A script runs with the server's
//! exclusive gate held, like EXEC, so no other command interleaves; it
//! calls commands through the same dispatcher entry as MULTI's queue, so
//! writes signal WATCH and obey every rule of the command table.
//!
//! Sandbox: only the base, table, string and math libraries plus `bit`;
//! no `os`, `io`, `require`, `loadfile` or `dofile`; the global table is
//! read-only and reading an undefined global is an error, as in Redis.
//! A runaway script is stopped by SCRIPT KILL (checked by an instruction
//! hook) unless it has written; meanwhile other clients get `-BUSY` once it
//! has run longer than `busy-reply-threshold`.

mod cjson;
mod cmsgpack;
mod convert;
mod luastruct;

use crate::resp::Reply;
use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use convert::{lua_to_reply, reply_to_lua};

/// Runs one command for `redis.call` / `redis.pcall`: the command layer
/// passes it in, so the engine imports nothing from it.
pub type CommandCall<'a> = &'a mut dyn FnMut(&[Bytes]) -> Reply;

/// `Some(n)` when the table's keys are exactly 1..n (a Lua array; n may be
/// 0), the rule cjson and cmsgpack use to choose array or object/map.
pub(crate) fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let len = t.raw_len();
    let mut count = 0;
    for pair in t.clone().pairs::<Value, Value>() {
        pair?;
        count += 1;
    }
    Ok((count == len).then_some(len))
}

/// A Lua array (1..n) of `items`.
pub(crate) fn list_table(lua: &Lua, items: Vec<Value>) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, item)?;
    }
    Ok(Value::Table(t))
}

/// Bytes the Lua state may hold (scripts, their data, the compiled cache).
const SCRIPT_MEMORY_LIMIT: usize = 128 * 1024 * 1024;

/// Lowercase hex SHA1, as SCRIPT LOAD returns and EVALSHA takes.
pub fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// A command error raised by `redis.call`, carried through Lua to the
/// top, where it becomes the script's error reply.
#[derive(Debug)]
pub(crate) struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The state a running script shares with other connections.
#[derive(Default)]
pub struct ScriptRun {
    /// Milliseconds since the epoch when the running script started; 0 =
    /// none running.
    started_ms: AtomicU64,
    kill: Arc<AtomicBool>,
    /// The running script has written: SCRIPT KILL must refuse.
    wrote: AtomicBool,
}

impl ScriptRun {
    /// Milliseconds the current script has run, if one is running.
    pub fn running_for_ms(&self) -> Option<u64> {
        match self.started_ms.load(Ordering::SeqCst) {
            0 => None,
            t => Some(crate::util::now_ms().saturating_sub(t)),
        }
    }

    /// A script starts running.
    pub fn start(&self) {
        self.kill.store(false, Ordering::SeqCst);
        self.wrote.store(false, Ordering::SeqCst);
        self.started_ms.store(crate::util::now_ms().max(1), Ordering::SeqCst);
    }

    /// The script ended (the caller wakes the commands parked meanwhile in
    /// the wait registry).
    pub fn finish(&self) {
        self.started_ms.store(0, Ordering::SeqCst);
    }

    /// The flag SCRIPT KILL raises (for [`Engine::run`]).
    pub fn kill_flag(&self) -> Arc<AtomicBool> {
        self.kill.clone()
    }

    /// SCRIPT KILL: `Err` with the reply when there is nothing to kill or
    /// the script has written.
    pub fn request_kill(&self) -> Result<(), Reply> {
        if self.running_for_ms().is_none() {
            return Err(Reply::error("NOTBUSY No scripts in execution right now."));
        }
        if self.wrote.load(Ordering::SeqCst) {
            return Err(Reply::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        self.kill.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::SeqCst);
    }
}

/// The Lua state and the script cache.
pub struct Engine {
    lua: Lua,
    /// sha -> compiled function
    functions: HashMap<String, Function>,
    /// sha -> body (SCRIPT EXISTS, EVALSHA after a flush of compiled code)
    bodies: HashMap<String, Bytes>,
}

/// The server's scripting state.
pub struct Scripting {
    engine: Mutex<Engine>,
    pub run: ScriptRun,
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting { engine: Mutex::new(Engine::new().expect("the Lua state")), run: ScriptRun::default() }
    }
}

impl Scripting {
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `bit` (LuaBitOp), which Redis bundles for scripts: 32-bit operations.
fn install_bit(lua: &Lua) -> mlua::Result<()> {
    let bit = lua.create_table()?;
    let tobit = |x: f64| (x as i64) as i32;
    bit.set("tobit", lua.create_function(move |_, x: f64| Ok(tobit(x)))?)?;
    bit.set("bnot", lua.create_function(move |_, x: f64| Ok(!tobit(x)))?)?;
    bit.set("band", lua.create_function(move |_, v: mlua::Variadic<f64>| Ok(v.iter().fold(-1i32, |a, &x| a & tobit(x))))?)?;
    bit.set("bor", lua.create_function(move |_, v: mlua::Variadic<f64>| Ok(v.iter().fold(0i32, |a, &x| a | tobit(x))))?)?;
    bit.set("bxor", lua.create_function(move |_, v: mlua::Variadic<f64>| Ok(v.iter().fold(0i32, |a, &x| a ^ tobit(x))))?)?;
    bit.set("lshift", lua.create_function(move |_, (x, n): (f64, f64)| Ok(((tobit(x) as u32) << (tobit(n) & 31)) as i32))?)?;
    bit.set("rshift", lua.create_function(move |_, (x, n): (f64, f64)| Ok(((tobit(x) as u32) >> (tobit(n) & 31)) as i32))?)?;
    bit.set("arshift", lua.create_function(move |_, (x, n): (f64, f64)| Ok(tobit(x) >> (tobit(n) & 31)))?)?;
    bit.set("rol", lua.create_function(move |_, (x, n): (f64, f64)| Ok((tobit(x) as u32).rotate_left((tobit(n) & 31) as u32) as i32))?)?;
    bit.set("ror", lua.create_function(move |_, (x, n): (f64, f64)| Ok((tobit(x) as u32).rotate_right((tobit(n) & 31) as u32) as i32))?)?;
    bit.set("bswap", lua.create_function(move |_, x: f64| Ok(tobit(x).swap_bytes()))?)?;
    bit.set(
        "tohex",
        lua.create_function(move |_, (x, n): (f64, Option<f64>)| {
            let n = n.map(tobit).unwrap_or(8);
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let v = (tobit(x) as u32) as u64 & ((1u64 << (4 * width)) - 1);
            Ok(if upper { format!("{v:0width$X}") } else { format!("{v:0width$x}") })
        })?,
    )?;
    lua.globals().set("bit", bit)
}

/// `user_script:<line>: ` for an error raised in a callback, as Lua adds
/// to errors raised by scripts themselves.
fn position(lua: &Lua) -> String {
    match lua.inspect_stack(1, |d| d.current_line()).flatten() {
        Some(line) => format!("user_script:{line}: "),
        None => String::new(),
    }
}

impl Engine {
    fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::new())?;
        let g = lua.globals();
        for name in ["loadfile", "dofile", "print", "collectgarbage", "module", "setfenv", "getfenv", "newproxy", "gcinfo"] {
            g.raw_set(name, Value::Nil)?;
        }
        install_bit(&lua)?;
        cjson::install(&lua)?;
        cmsgpack::install(&lua)?;
        luastruct::install(&lua)?;
        // A script's allocations are bounded: past this it gets "not enough
        // memory" instead of growing the server without limit.
        lua.set_memory_limit(SCRIPT_MEMORY_LIMIT)?;
        let redis = lua.create_table()?;
        redis.set("sha1hex", lua.create_function(|_, s: mlua::LuaString| Ok(sha1_hex(&s.as_bytes())))?)?;
        redis.set(
            "error_reply",
            lua.create_function(|lua, msg: String| {
                let t = lua.create_table()?;
                t.set("err", msg)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "status_reply",
            lua.create_function(|lua, msg: String| {
                let t = lua.create_table()?;
                t.set("ok", msg)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::Variadic<String>)| {
                let text = msg.join(" ");
                match level {
                    0 => tracing::debug!(target: "script", "{text}"),
                    1 | 2 => tracing::info!(target: "script", "{text}"),
                    _ => tracing::warn!(target: "script", "{text}"),
                }
                Ok(())
            })?,
        )?;
        for (name, v) in [("LOG_DEBUG", 0), ("LOG_VERBOSE", 1), ("LOG_NOTICE", 2), ("LOG_WARNING", 3)] {
            redis.set(name, v)?;
        }
        redis.set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        redis.set("set_repl", lua.create_function(|_, _: mlua::Variadic<Value>| Ok(()))?)?;
        redis.set("setresp", lua.create_function(|_, _: i64| Ok(()))?)?;
        for (name, v) in [("REPL_NONE", 0), ("REPL_AOF", 1), ("REPL_SLAVE", 2), ("REPL_REPLICA", 2), ("REPL_ALL", 3)] {
            redis.set(name, v)?;
        }
        g.raw_set("redis", redis)?;
        // The global table is read-only and undefined globals are errors.
        let meta = lua.create_table()?;
        meta.set(
            "__index",
            lua.create_function(|lua, (_, name): (Table, String)| -> mlua::Result<()> {
                Err(mlua::Error::RuntimeError(format!("{}Script attempted to access nonexistent global variable '{name}'", position(lua))))
            })?,
        )?;
        meta.set(
            "__newindex",
            lua.create_function(|lua, _: mlua::Variadic<Value>| -> mlua::Result<()> {
                Err(mlua::Error::RuntimeError(format!("{}Attempt to modify a readonly table", position(lua))))
            })?,
        )?;
        g.set_metatable(Some(meta))?;
        Ok(Engine { lua, functions: HashMap::new(), bodies: HashMap::new() })
    }

    /// Compiles `body` (cached by its SHA1) and returns the SHA1.
    pub fn load(&mut self, body: &Bytes) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        if !self.functions.contains_key(&sha) {
            let f = self.lua.load(&body[..]).set_name("@user_script").into_function().map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                Reply::error(format!("ERR Error compiling script (new function): {msg}"))
            })?;
            self.functions.insert(sha.clone(), f);
            self.bodies.insert(sha.clone(), body.clone());
        }
        Ok(sha)
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.functions.contains_key(&sha.to_ascii_lowercase())
    }

    pub fn flush(&mut self) {
        self.functions.clear();
        self.bodies.clear();
    }

    /// Runs a cached script with KEYS and ARGV; `call` runs a command for
    /// `redis.call` / `redis.pcall`.
    /// `kill` is SCRIPT KILL's flag, checked every 100,000 instructions.
    pub fn run(&mut self, sha: &str, keys: &[Bytes], argv: &[Bytes], kill: Arc<AtomicBool>, call: CommandCall) -> Reply {
        let Some(f) = self.functions.get(sha).cloned() else {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        };
        let lua = &self.lua;
        let result = (|| -> mlua::Result<Reply> {
            let g = lua.globals();
            let to_table = |items: &[Bytes]| -> mlua::Result<Table> {
                let t = lua.create_table_with_capacity(items.len(), 0)?;
                for (i, v) in items.iter().enumerate() {
                    t.raw_set(i + 1, lua.create_string(&v[..])?)?;
                }
                Ok(t)
            };
            g.raw_set("KEYS", to_table(keys)?)?;
            g.raw_set("ARGV", to_table(argv)?)?;
            let redis: Table = g.raw_get("redis")?;
            lua.set_hook(HookTriggers::new().every_nth_instruction(100_000), move |_, _| {
                if kill.load(Ordering::SeqCst) {
                    return Err(mlua::Error::external(CallError("ERR Script killed by user with SCRIPT KILL...".into())));
                }
                Ok(VmState::Continue)
            })?;
            let cell = std::cell::RefCell::new(call);
            let reply = lua.scope(|scope| {
                let call = |raise: bool| {
                    let cell = &cell;
                    scope.create_function(move |lua, args: mlua::Variadic<Value>| -> mlua::Result<Value> {
                        let mut call = cell.borrow_mut();
                        let reply = convert::call_from_script(&args, &mut **call);
                        match reply {
                            Reply::Error(e) if raise => {
                                let line = lua.inspect_stack(1, |d| d.current_line()).flatten().unwrap_or(0);
                                Err(mlua::Error::external(CallError(format!("{e} script: {sha}, on @user_script:{line}."))))
                            }
                            other => reply_to_lua(lua, other),
                        }
                    })
                };
                redis.raw_set("call", call(true)?)?;
                redis.raw_set("pcall", call(false)?)?;
                let value: Value = f.call(())?;
                redis.raw_set("call", Value::Nil)?;
                redis.raw_set("pcall", Value::Nil)?;
                Ok(lua_to_reply(&value))
            });
            lua.remove_hook();
            reply
        })();
        match result {
            Ok(r) => r,
            Err(e) => Reply::error(convert::script_error(&e, sha)),
        }
    }
}
