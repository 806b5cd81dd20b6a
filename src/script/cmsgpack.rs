//! `cmsgpack`, which Redis bundles for scripts (BullMQ relies on it):
//! `cmsgpack.pack(v1, v2, ...)` concatenates the MessagePack encodings of
//! its arguments, `cmsgpack.unpack(data)` returns every value in it. Tables
//! with keys 1..n pack as arrays, others as maps; integral numbers pack as
//! integers, others as 32-bit floats when exact, else 64-bit; strings as str (bin when not UTF-8).

use mlua::{Lua, MultiValue, Table, Value};
use rmpv::Value as Mp;

fn to_mp(v: &Value, depth: usize) -> mlua::Result<Mp> {
    if depth > 16 {
        // lua-cmsgpack's nesting limit: deeper tables pack as nil
        return Ok(Mp::Nil);
    }
    Ok(match v {
        Value::Nil => Mp::Nil,
        Value::Boolean(b) => Mp::Boolean(*b),
        Value::Integer(i) => Mp::from(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Mp::from(*n as i64),
        // lua-cmsgpack uses a 32-bit float when it holds the value exactly
        Value::Number(n) if (*n as f32) as f64 == *n => Mp::F32(*n as f32),
        Value::Number(n) => Mp::F64(*n),
        Value::String(s) => {
            let bytes = s.as_bytes();
            match std::str::from_utf8(&bytes) {
                Ok(text) => Mp::from(text),
                Err(_) => Mp::Binary(bytes.to_vec()),
            }
        }
        Value::Table(t) => table_to_mp(t, depth)?,
        _ => Mp::Nil,
    })
}

fn table_to_mp(t: &Table, depth: usize) -> mlua::Result<Mp> {
    if let Some(len) = super::array_len(t)?.filter(|&n| n > 0) {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            items.push(to_mp(&t.raw_get::<Value>(i)?, depth + 1)?);
        }
        return Ok(Mp::Array(items));
    }
    let mut pairs = Vec::new();
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        pairs.push((to_mp(&k, depth + 1)?, to_mp(&v, depth + 1)?));
    }
    Ok(Mp::Map(pairs))
}

fn to_lua(lua: &Lua, v: Mp) -> mlua::Result<Value> {
    Ok(match v {
        Mp::Nil => Value::Nil,
        Mp::Boolean(b) => Value::Boolean(b),
        Mp::Integer(i) => match i.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(i.as_f64().unwrap_or(0.0)),
        },
        Mp::F32(f) => Value::Number(f as f64),
        Mp::F64(f) => Value::Number(f),
        Mp::String(s) => Value::String(lua.create_string(s.as_bytes())?),
        Mp::Binary(b) => Value::String(lua.create_string(&b)?),
        Mp::Array(items) => super::list_table(lua, items.into_iter().map(|v| to_lua(lua, v)).collect::<mlua::Result<_>>()?)?,
        Mp::Map(pairs) => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                let k = to_lua(lua, k)?;
                if !k.is_nil() {
                    t.raw_set(k, to_lua(lua, v)?)?;
                }
            }
            Value::Table(t)
        }
        Mp::Ext(_, data) => Value::String(lua.create_string(&data)?),
    })
}

pub fn install(lua: &Lua) -> mlua::Result<()> {
    let m = lua.create_table()?;
    m.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(mlua::Error::RuntimeError("MessagePack pack needs input.".into()));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                rmpv::encode::write_value(&mut out, &to_mp(v, 0)?).map_err(|e| mlua::Error::RuntimeError(e.to_string()))?;
            }
            lua.create_string(&out)
        })?,
    )?;
    m.set(
        "unpack",
        lua.create_function(|lua, data: mlua::LuaString| {
            let bytes = data.as_bytes();
            let mut cursor = &bytes[..];
            let mut values = Vec::new();
            while !cursor.is_empty() {
                let v = rmpv::decode::read_value(&mut cursor).map_err(|_| mlua::Error::RuntimeError("Missing bytes in input.".into()))?;
                values.push(to_lua(lua, v)?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    lua.globals().raw_set("cmsgpack", m)
}
