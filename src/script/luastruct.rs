//! `struct` (Roberto Ierusalimschy's lua-struct), which Redis bundles for
//! scripts: `struct.pack(fmt, ...)`, `struct.unpack(fmt, data [, pos])`
//! (values, then the position after them) and `struct.size(fmt)`.
//!
//! Formats: `<` little and `>` big endian (`=` native, little here), `b B`
//! 1-byte, `h H` 2-byte, `i I` with an optional byte count (default 4),
//! `l L` 8-byte integers, `f d` floats, `s` zero-terminated string, `cN`
//! N bytes (`c0` in unpack: the length is the previous value), `x` a
//! padding byte, spaces ignored. Alignment (`!`) is accepted and ignored.

use mlua::{Lua, MultiValue, Value};

enum Item {
    Int { size: usize, signed: bool },
    Float,
    Double,
    ZString,
    Chars(usize),
    Pad,
}

fn parse(fmt: &str) -> mlua::Result<Vec<(bool, Item)>> {
    let bytes = fmt.as_bytes();
    let mut big = false;
    let mut out = Vec::new();
    let mut i = 0;
    let number = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        (start < *i).then(|| fmt[start..*i].parse().unwrap_or(0))
    };
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        let item = match c {
            b'<' | b'=' => {
                big = false;
                continue;
            }
            b'>' => {
                big = true;
                continue;
            }
            b'!' => {
                number(&mut i);
                continue;
            }
            b' ' => continue,
            b'b' | b'B' => Item::Int { size: 1, signed: c == b'b' },
            b'h' | b'H' => Item::Int { size: 2, signed: c == b'h' },
            b'l' | b'L' | b'T' => Item::Int { size: 8, signed: c == b'l' },
            b'i' | b'I' => {
                let size = number(&mut i).unwrap_or(4);
                if !(1..=8).contains(&size) {
                    return Err(mlua::Error::RuntimeError(format!("integral size {size} is larger than limit of 8")));
                }
                Item::Int { size, signed: c == b'i' }
            }
            b'f' => Item::Float,
            b'd' => Item::Double,
            b's' => Item::ZString,
            b'c' => Item::Chars(number(&mut i).unwrap_or(1)),
            b'x' => Item::Pad,
            other => return Err(mlua::Error::RuntimeError(format!("invalid format option '{}'", other as char))),
        };
        out.push((big, item));
    }
    Ok(out)
}

fn put_int(out: &mut Vec<u8>, v: i64, size: usize, big: bool) {
    let le = v.to_le_bytes();
    if big {
        out.extend(le[..size].iter().rev());
    } else {
        out.extend_from_slice(&le[..size]);
    }
}

fn get_int(data: &[u8], size: usize, big: bool, signed: bool) -> i64 {
    let mut v: u64 = 0;
    for k in 0..size {
        let b = if big { data[k] } else { data[size - 1 - k] };
        v = (v << 8) | b as u64;
    }
    if signed && size < 8 && v & (1 << (8 * size - 1)) != 0 {
        v |= !0u64 << (8 * size);
    }
    v as i64
}

fn number_arg(v: Option<&Value>) -> mlua::Result<f64> {
    match v {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s.to_str()?.trim().parse().map_err(|_| mlua::Error::RuntimeError("bad argument to 'pack' (number expected)".into())),
        _ => Err(mlua::Error::RuntimeError("bad argument to 'pack' (number expected)".into())),
    }
}

fn bytes_arg(v: Option<&Value>) -> mlua::Result<Vec<u8>> {
    match v {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(i.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(n.to_string().into_bytes()),
        _ => Err(mlua::Error::RuntimeError("bad argument to 'pack' (string expected)".into())),
    }
}

pub fn install(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let mut args = args.into_iter();
            let fmt = match args.next() {
                Some(Value::String(s)) => s.to_str()?.to_string(),
                _ => return Err(mlua::Error::RuntimeError("bad argument #1 to 'pack' (string expected)".into())),
            };
            let values: Vec<Value> = args.collect();
            let mut next = values.iter();
            let mut out = Vec::new();
            for (big, item) in parse(&fmt)? {
                match item {
                    Item::Int { size, .. } => put_int(&mut out, number_arg(next.next())? as i64, size, big),
                    Item::Float => {
                        let b = (number_arg(next.next())? as f32).to_bits().to_le_bytes();
                        if big { out.extend(b.iter().rev()) } else { out.extend_from_slice(&b) }
                    }
                    Item::Double => {
                        let b = number_arg(next.next())?.to_bits().to_le_bytes();
                        if big { out.extend(b.iter().rev()) } else { out.extend_from_slice(&b) }
                    }
                    Item::ZString => {
                        out.extend(bytes_arg(next.next())?);
                        out.push(0);
                    }
                    Item::Chars(n) => {
                        let s = bytes_arg(next.next())?;
                        let n = if n == 0 { s.len() } else { n };
                        if s.len() < n {
                            return Err(mlua::Error::RuntimeError("bad argument to 'pack' (string too short)".into()));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    Item::Pad => out.push(0),
                }
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, (fmt, data, pos): (String, mlua::LuaString, Option<i64>)| {
            let data = data.as_bytes();
            let mut i = pos.unwrap_or(1).max(1) as usize - 1;
            let short = || mlua::Error::RuntimeError("bad argument #2 to 'unpack' (data string too short)".into());
            let mut values: Vec<Value> = Vec::new();
            for (big, item) in parse(&fmt)? {
                match item {
                    Item::Int { size, signed } => {
                        let d = data.get(i..i + size).ok_or_else(short)?;
                        let v = get_int(d, size, big, signed);
                        values.push(if !signed && size == 8 && v < 0 { Value::Number(v as u64 as f64) } else { Value::Integer(v) });
                        i += size;
                    }
                    Item::Float => {
                        let d = data.get(i..i + 4).ok_or_else(short)?;
                        let mut b = [d[0], d[1], d[2], d[3]];
                        if big {
                            b.reverse();
                        }
                        values.push(Value::Number(f32::from_le_bytes(b) as f64));
                        i += 4;
                    }
                    Item::Double => {
                        let d = data.get(i..i + 8).ok_or_else(short)?;
                        let mut b = [0u8; 8];
                        b.copy_from_slice(d);
                        if big {
                            b.reverse();
                        }
                        values.push(Value::Number(f64::from_le_bytes(b)));
                        i += 8;
                    }
                    Item::ZString => {
                        let end = data[i..].iter().position(|&b| b == 0).ok_or_else(|| mlua::Error::RuntimeError("unfinished string in data".into()))?;
                        values.push(Value::String(lua.create_string(&data[i..i + end])?));
                        i += end + 1;
                    }
                    Item::Chars(n) => {
                        let n = if n == 0 {
                            match values.pop() {
                                Some(Value::Integer(len)) => len.max(0) as usize,
                                _ => return Err(mlua::Error::RuntimeError("format 'c0' needs a previous size".into())),
                            }
                        } else {
                            n
                        };
                        let d = data.get(i..i + n).ok_or_else(short)?;
                        values.push(Value::String(lua.create_string(d)?));
                        i += n;
                    }
                    Item::Pad => i += 1,
                }
            }
            values.push(Value::Integer(i as i64 + 1));
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    t.set(
        "size",
        lua.create_function(|_, fmt: String| {
            let mut size = 0usize;
            for (_, item) in parse(&fmt)? {
                size += match item {
                    Item::Int { size, .. } => size,
                    Item::Float => 4,
                    Item::Double => 8,
                    Item::Chars(n) => n,
                    Item::Pad => 1,
                    Item::ZString => return Err(mlua::Error::RuntimeError("options 's' and 'c0' have variable size".into())),
                };
            }
            Ok(size as i64)
        })?,
    )?;
    lua.globals().raw_set("struct", t)
}
