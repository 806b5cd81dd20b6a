//! Reply values and their RESP2 / RESP3 encoding.
//!
//! Commands return a [`Reply`] value and never touch a socket: MULTI/EXEC
//! collects them, and the connection encodes them into one output buffer per
//! batch in the protocol version the client chose with `HELLO`.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A simple string such as `+PONG` or `+string`.
    Status(Cow<'static, str>),
    /// An error line without the leading `-`, e.g. `ERR syntax error`.
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// Null bulk string (`$-1`; RESP3 `_`).
    Nil,
    /// Null array (`*-1`; RESP3 `_`).
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3, a flat array of key/value pairs in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3, a bulk string in RESP2.
    Double(f64),
    /// Verbatim text (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    Verbatim(Bytes),
    /// An array of bulk strings already written out (the same bytes in
    /// RESP2 and RESP3), for replies of many elements (LRANGE): one buffer
    /// instead of a reply and an allocation per element. Built by
    /// [`BulkArray`].
    Encoded(Bytes),
    /// Nothing at all is written (CLIENT REPLY OFF, SHUTDOWN).
    NoReply,
}

/// Writes an array of bulk strings straight into its encoding.
pub struct BulkArray(BytesMut);

impl BulkArray {
    pub fn new(len: usize) -> BulkArray {
        let mut out = BytesMut::new();
        header(&mut out, b'*', len);
        BulkArray(out)
    }

    pub fn push(&mut self, item: &[u8]) {
        bulk(&mut self.0, b'$', item);
    }

    pub fn finish(self) -> Reply {
        Reply::Encoded(self.0.freeze())
    }
}

/// The elements of an array of bulk strings in RESP (what [`BulkArray`]
/// and the effect log write), as slices of it.
pub fn bulk_array_items(resp: &Bytes) -> Vec<Bytes> {
    fn number(resp: &[u8], at: &mut usize) -> usize {
        let start = *at + 1; // past '*' or '$'
        let end = start + resp[start..].iter().position(|&b| b == b'\r').expect("our own encoding");
        *at = end + 2;
        std::str::from_utf8(&resp[start..end]).expect("digits").parse().expect("a length")
    }
    let mut at = 0;
    let n = number(resp, &mut at);
    (0..n)
        .map(|_| {
            let len = number(resp, &mut at);
            let arg = resp.slice(at..at + len);
            at += len + 2;
            arg
        })
        .collect()
}

impl Reply {
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(msg.into())
    }

    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(s))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    pub fn bulk_or_nil(v: Option<impl AsRef<[u8]>>) -> Reply {
        match v {
            Some(v) => Reply::bulk(v),
            None => Reply::Nil,
        }
    }

    /// Appends the encoding of `self` to `out`. `resp3` selects the protocol.
    pub fn encode(&self, out: &mut BytesMut, resp3: bool) {
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', e.as_bytes()),
            Reply::Int(i) => {
                out.put_u8(b':');
                put_int(out, *i);
                out.put_slice(b"\r\n");
            }
            Reply::Bulk(b) => bulk(out, b'$', b),
            Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Double(d) => write_double(out, *d, resp3),
            Reply::Verbatim(text) => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, b'$', text);
                }
            }
            Reply::Encoded(bytes) => out.put_slice(bytes),
            Reply::NoReply => {}
        }
    }
}

/// Doubles as Redis 7.0 prints them in replies (`%.17g`, with
/// `inf`/`-inf`).
pub fn format_double(d: f64) -> String {
    crate::util::format_g17(d)
}

/// A push frame (`>` in RESP3, an array in RESP2) of bulk strings and one
/// optional trailing integer.
pub fn push_frame(resp3: bool, parts: &[Option<&[u8]>], count: Option<i64>) -> Bytes {
    use crate::util::Decimal;
    let mut out = BytesMut::with_capacity(16 + parts.iter().map(|p| p.map_or(5, |b| b.len() + 16)).sum::<usize>());
    let n = parts.len() + usize::from(count.is_some());
    out.put_u8(if resp3 { b'>' } else { b'*' });
    out.put_slice(&Decimal::new(n as i64));
    out.put_slice(b"\r\n");
    for p in parts {
        match p {
            Some(b) => {
                out.put_u8(b'$');
                out.put_slice(&Decimal::new(b.len() as i64));
                out.put_slice(b"\r\n");
                out.put_slice(b);
                out.put_slice(b"\r\n");
            }
            None if resp3 => out.put_slice(b"_\r\n"),
            None => out.put_slice(b"$-1\r\n"),
        }
    }
    if let Some(c) = count {
        out.put_u8(b':');
        out.put_slice(&Decimal::new(c));
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

/// A double reply (`,d` in RESP3, a bulk string in RESP2); an integral
/// value below 1e17 is its integer digits, written without formatting.
pub fn write_double(out: &mut BytesMut, d: f64, resp3: bool) {
    match crate::util::g17_integer(d) {
        Some(i) => {
            let text = crate::util::Decimal::new(i);
            if resp3 { line(out, b',', &text) } else { bulk(out, b'$', &text) }
        }
        None => {
            let text = format_double(d);
            if resp3 { line(out, b',', text.as_bytes()) } else { bulk(out, b'$', text.as_bytes()) }
        }
    }
}

/// Members with optional scores written straight into their encoding for
/// the client's protocol: members alone, member and score flat, or
/// `[member, score]` pairs (WITHSCORES in RESP3, ZMPOP always); ZRANGE and
/// friends build no reply per element. Pairs in RESP2 are built as replies
/// (an encoding is only ever a flat array of bulk strings in RESP2, which
/// is what scripts read).
pub struct ScoredArray {
    body: BytesMut,
    items: Vec<Reply>,
    n: usize,
    scores: bool,
    pairs: bool,
    resp3: bool,
}

impl ScoredArray {
    pub fn new(scores: bool, pairs: bool, resp3: bool) -> ScoredArray {
        ScoredArray { body: BytesMut::new(), items: Vec::new(), n: 0, scores, pairs, resp3 }
    }

    pub fn push(&mut self, member: &[u8], score: f64) {
        if !self.scores {
            bulk(&mut self.body, b'$', member);
            self.n += 1;
        } else if !self.pairs {
            bulk(&mut self.body, b'$', member);
            write_double(&mut self.body, score, self.resp3);
            self.n += 2;
        } else if self.resp3 {
            self.body.put_slice(b"*2\r\n");
            bulk(&mut self.body, b'$', member);
            write_double(&mut self.body, score, true);
            self.n += 1;
        } else {
            self.items.push(Reply::Array(vec![Reply::Bulk(Bytes::copy_from_slice(member)), Reply::Double(score)]));
        }
    }

    pub fn finish(self) -> Reply {
        if self.scores && self.pairs && !self.resp3 {
            return Reply::Array(self.items);
        }
        let mut out = BytesMut::with_capacity(self.body.len() + 16);
        header(&mut out, b'*', self.n);
        out.extend_from_slice(&self.body);
        Reply::Encoded(out.freeze())
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// `<prefix><len>\r\n`.
pub(crate) fn header(out: &mut BytesMut, prefix: u8, len: usize) {
    out.put_u8(prefix);
    put_int(out, len as i64);
    out.put_slice(b"\r\n");
}

/// `<prefix><len>\r\n<data>\r\n`.
pub(crate) fn bulk(out: &mut BytesMut, prefix: u8, data: &[u8]) {
    header(out, prefix, data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn put_int(out: &mut BytesMut, i: i64) {
    out.put_slice(&crate::util::Decimal::new(i));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, resp3: bool) -> String {
        let mut b = BytesMut::new();
        r.encode(&mut b, resp3);
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn encodings() {
        assert_eq!(enc(Reply::Int(i64::MIN), false), ":-9223372036854775808\r\n");
        assert_eq!(enc(Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(Reply::Nil, true), "_\r\n");
        assert_eq!(enc(Reply::NilArray, false), "*-1\r\n");
        let m = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(m.clone(), false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(m, true), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Double(1.5), true), ",1.5\r\n");
        assert_eq!(enc(Reply::Double(1.5), false), "$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::Verbatim(Bytes::from("x")), true), "=5\r\ntxt:x\r\n");
    }
}
