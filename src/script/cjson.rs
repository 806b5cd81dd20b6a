//! `cjson`, which Redis bundles for scripts: `cjson.encode(value)` and
//! `cjson.decode(text)`, with `cjson.null` for JSON null. Tables with keys
//! 1..n encode as arrays, others as objects; integral numbers print
//! without a fraction, as lua-cjson's `%.14g` does.

use mlua::{LightUserData, Lua, Table, Value};
use serde_json::{Map, Number, Value as Json};

/// The `cjson.null` sentinel.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn to_json(v: &Value, depth: usize) -> mlua::Result<Json> {
    if depth > 1000 {
        return Err(mlua::Error::RuntimeError("Cannot serialise, excessive nesting (1001)".into()));
    }
    Ok(match v {
        Value::Nil | Value::LightUserData(_) => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Json::Number((*n as i64).into()),
        Value::Number(n) => {
            Number::from_f64(*n).map(Json::Number).ok_or_else(|| mlua::Error::RuntimeError("Cannot serialise number: must not be NaN or Inf".into()))?
        }
        Value::String(s) => Json::String(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Table(t) => table_to_json(t, depth)?,
        other => return Err(mlua::Error::RuntimeError(format!("Cannot serialise {}: type not supported", other.type_name()))),
    })
}

fn table_to_json(t: &Table, depth: usize) -> mlua::Result<Json> {
    if let Some(len) = super::array_len(t)? {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            items.push(to_json(&t.raw_get::<Value>(i)?, depth + 1)?);
        }
        // an empty table encodes as {} in lua-cjson
        return Ok(if len == 0 { Json::Object(Map::new()) } else { Json::Array(items) });
    }
    let mut map = Map::new();
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match k {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(mlua::Error::RuntimeError("Cannot serialise table: table key must be a number or string".into())),
        };
        map.insert(key, to_json(&v, depth + 1)?);
    }
    Ok(Json::Object(map))
}

fn to_lua(lua: &Lua, j: Json) -> mlua::Result<Value> {
    Ok(match j {
        Json::Null => null(),
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(lua.create_string(&s)?),
        Json::Array(items) => super::list_table(lua, items.into_iter().map(|j| to_lua(lua, j)).collect::<mlua::Result<_>>()?)?,
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

pub fn install(lua: &Lua) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.set("null", null())?;
    cjson.set("encode", lua.create_function(|_, v: Value| serde_json::to_string(&to_json(&v, 0)?).map_err(|e| mlua::Error::RuntimeError(e.to_string())))?)?;
    cjson.set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| {
            let j: Json =
                serde_json::from_slice(&s.as_bytes()).map_err(|e| mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}")))?;
            to_lua(lua, j)
        })?,
    )?;
    lua.globals().raw_set("cjson", cjson)
}
