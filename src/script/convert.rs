//! Lua <-> RESP conversion rules (as Redis documents them for EVAL), the
//! arguments of `redis.call` / `redis.pcall` (the command itself runs
//! through the caller's [`super::CommandCall`]), and the wording of script
//! errors.

use super::CallError;
use crate::resp::Reply;
use bytes::Bytes;
use mlua::{Lua, Value};

/// A command's reply as a Lua value: integers to numbers, bulk strings to
/// strings, nil to false, arrays to tables, status and error replies to
/// `{ok=...}` / `{err=...}` tables.
pub fn reply_to_lua(lua: &Lua, reply: Reply) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Ok => status_table(lua, "OK")?,
        Reply::Status(s) => status_table(lua, &s)?,
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.set("err", e.as_ref())?;
            Value::Table(t)
        }
        Reply::Int(i) => Value::Integer(i),
        Reply::Bulk(b) | Reply::Verbatim(b) => Value::String(lua.create_string(&b[..])?),
        Reply::Double(d) => Value::String(lua.create_string(crate::resp::reply::format_double(d))?),
        Reply::Nil | Reply::NilArray | Reply::NoReply => Value::Boolean(false),
        Reply::Encoded(resp) => super::list_table(
            lua,
            crate::resp::reply::bulk_array_items(&resp).iter().map(|b| lua.create_string(&b[..]).map(Value::String)).collect::<mlua::Result<_>>()?,
        )?,
        Reply::Array(items) | Reply::Set(items) => super::list_table(lua, items.into_iter().map(|r| reply_to_lua(lua, r)).collect::<mlua::Result<_>>()?)?,
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

fn status_table(lua: &Lua, s: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.set("ok", s)?;
    Ok(Value::Table(t))
}

/// A script's return value as a reply: numbers truncate to integers, true
/// is 1, false and nil are nil, `{err=}` / `{ok=}` tables are error and
/// status replies, other tables are arrays up to their first nil.
pub fn lua_to_reply(value: &Value) -> Reply {
    match value {
        Value::Nil | Value::Boolean(false) => Reply::Nil,
        Value::Boolean(true) => Reply::Int(1),
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(*n as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(String::from_utf8_lossy(&e.as_bytes()).into_owned().into());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Status(String::from_utf8_lossy(&s.as_bytes()).into_owned().into());
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(lua_to_reply(&v)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

/// Runs one command for `redis.call` / `redis.pcall`.
pub fn call_from_script(args: &[Value], call: super::CommandCall) -> Reply {
    if args.is_empty() {
        return Reply::error("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(n) => argv.push(Bytes::from(crate::util::format_human_float(*n))),
            _ => return Reply::error("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    call(&argv)
}

/// The innermost error of a chain of callback errors.
fn innermost(e: &mlua::Error) -> &mlua::Error {
    match e {
        mlua::Error::CallbackError { cause, .. } => innermost(cause),
        other => other,
    }
}

/// Words a script failure as Redis 7 does:
/// `ERR user_script:1: boom script: <sha>, on @user_script:1.`
pub fn script_error(e: &mlua::Error, sha: &str) -> String {
    let inner = innermost(e);
    if let mlua::Error::ExternalError(ext) = inner
        && let Some(call) = ext.downcast_ref::<CallError>()
    {
        return call.0.replace("{sha}", sha);
    }
    let msg = match inner {
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    };
    let line = msg.strip_prefix("user_script:").and_then(|r| r.split(':').next()).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    let msg = msg.lines().next().unwrap_or("").to_string();
    format!("ERR {msg} script: {sha}, on @user_script:{line}.")
}
