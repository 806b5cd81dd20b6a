//! Request framing: RESP multibulk and inline commands, parsed straight out of
//! the connection's read buffer.
//!
//! Why by hand and not through `redis-protocol`'s decoder: a server must
//! refuse a bulk header above `proto-max-bulk-len` *before* buffering it (a
//! client announcing 1 GB must not make us allocate 1 GB), must give the
//! exact `Protocol error: ...` texts Redis gives, and must parse inline
//! commands with `sdssplitargs` quoting rules. A general RESP decoder does
//! none of these. `redis-protocol` is used where a full reply decoder is what
//! is needed (the proxy's backend side).
//!
//! A parsed command is a `Vec<Bytes>` whose elements are slices of one frozen
//! frame: cheap to build, and the store copies what it keeps, so no stored
//! value ever pins a read buffer.

use bytes::{Bytes, BytesMut};

/// Largest inline request and largest multibulk header line, as in Redis
/// (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk element count Redis accepts.
const MULTIBULK_MAX: i64 = 1024 * 1024 * 1024;
/// Limits Redis applies to clients that have not authenticated yet.
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16384;

/// The message after `-ERR Protocol error: `; the connection is closed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

/// Limits that apply to one connection's requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk_len: i64,
    /// An unauthenticated client may only send small commands (as Redis).
    pub authenticated: bool,
}

/// Parses one request from the front of `buf`.
///
/// `Ok(None)` means more bytes are needed; `buf` is left untouched then. An
/// empty inline line or `*0` is consumed and yields an empty argument list,
/// which the caller skips, as Redis does.
pub fn parse_request(buf: &mut BytesMut, limits: Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let mut spans = Vec::new();
    Ok(parse_request_spans(buf, limits, &mut spans)?.map(|frame| spans.iter().map(|&(s, e)| frame.slice(s..e)).collect()))
}

/// [`parse_request`] without making a `Bytes` per argument: returns the
/// request as one frame in the multibulk form (as received, or encoded from
/// an inline request) and fills `spans` with each argument's range in it.
/// What a proxy forwards without re-encoding; `spans` is the caller's, to be
/// reused from request to request.
pub fn parse_request_spans(buf: &mut BytesMut, limits: Limits, spans: &mut Vec<(usize, usize)>) -> Result<Option<Bytes>, ProtocolError> {
    spans.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        return parse_multibulk(buf, limits, spans);
    }
    let Some(args) = parse_inline(buf)? else { return Ok(None) };
    let mut frame = BytesMut::new();
    super::reply::header(&mut frame, b'*', args.len());
    for a in &args {
        super::reply::header(&mut frame, b'$', a.len());
        spans.push((frame.len(), frame.len() + a.len()));
        frame.extend_from_slice(a);
        frame.extend_from_slice(b"\r\n");
    }
    Ok(Some(frame.freeze()))
}

/// Finds `\r\n` at or after `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = memchr_cr(&buf[i..]) {
        let pos = i + off;
        if pos + 1 >= buf.len() {
            return None;
        }
        if buf[pos + 1] == b'\n' {
            return Some(pos);
        }
        i = pos + 1;
    }
    None
}

fn memchr_cr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\r')
}

/// Redis's `string2ll` for protocol headers: optional '-', digits, no
/// leading '+', no spaces.
fn parse_header_int(bytes: &[u8]) -> Option<i64> {
    crate::util::parse_i64(bytes)
}

fn parse_multibulk(buf: &mut BytesMut, limits: Limits, spans: &mut Vec<(usize, usize)>) -> Result<Option<Bytes>, ProtocolError> {
    let Some(end) = find_crlf(buf, 1) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError("too big mbulk count string".into()));
        }
        return Ok(None);
    };
    let count = match parse_header_int(&buf[1..end]) {
        Some(n) if n <= MULTIBULK_MAX => n,
        _ => return Err(ProtocolError("invalid multibulk length".into())),
    };
    if !limits.authenticated && count > UNAUTH_MULTIBULK_MAX {
        return Err(ProtocolError("unauthenticated multibulk length".into()));
    }
    let mut pos = end + 2;
    if count <= 0 {
        return Ok(Some(buf.split_to(pos).freeze()));
    }
    // Validate headers and find where the frame ends, without copying
    // anything; argument positions are kept in `spans`.
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError(format!("expected '$', got '{}'", buf[pos] as char)));
        }
        let Some(hend) = find_crlf(buf, pos + 1) else {
            if buf.len() - pos > INLINE_MAX {
                return Err(ProtocolError("too big bulk count string".into()));
            }
            return Ok(None);
        };
        let len = match parse_header_int(&buf[pos + 1..hend]) {
            Some(n) if (0..=limits.max_bulk_len).contains(&n) => n,
            _ => return Err(ProtocolError("invalid bulk length".into())),
        };
        if !limits.authenticated && len > UNAUTH_BULK_MAX {
            return Err(ProtocolError("unauthenticated bulk length".into()));
        }
        let len = len as usize;
        let start = hend + 2;
        let need = start + len + 2;
        if buf.len() < need {
            // Make room for a large bulk once instead of growing step by step.
            if len >= 32 * 1024 {
                buf.reserve(need - buf.len());
            }
            return Ok(None);
        }
        if &buf[start + len..need] != b"\r\n" {
            return Err(ProtocolError("expected CRLF after bulk data".into()));
        }
        spans.push((start, start + len));
        pos = need;
    }
    Ok(Some(buf.split_to(pos).freeze()))
}

/// An inline request is a line up to `\n`. Redis finds that newline with
/// `strchr`, which stops at a NUL byte: a NUL before the newline means "no
/// line yet", so the bytes wait (bounded by [`INLINE_MAX`], then the
/// connection gets "too big inline request"). We do the same, byte for byte.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
    let end = buf.iter().position(|&b| b == b'\n' || b == 0);
    let Some(nl) = end.filter(|&i| buf[i] == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError("too big inline request".into()));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    match split_args(line) {
        Some(args) => Ok(Some(args)),
        None => Err(ProtocolError("unbalanced quotes in request".into())),
    }
}

/// Redis's `sdssplitargs`: whitespace-separated words, with "double quoted"
/// strings (backslash escapes, `\xHH`) and 'single quoted' strings. A closing
/// quote must be followed by a space or the end. `None` on unbalanced quotes.
///
/// `sdssplitargs` reads a C string, so a NUL byte ends the line there (inside
/// quotes that leaves them unbalanced); we cut the line at the first NUL.
/// Words are separated by C's `isspace` (which includes `\v` and `\f`), but
/// a word ends only at space, tab, CR or LF, as in Redis.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && c_isspace(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' && line[i + 2].is_ascii_hexdigit() && line[i + 3].is_ascii_hexdigit() {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// C's `isspace` in the "C" locale.
fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: true };

    fn parse(s: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        parse_request(&mut BytesMut::from(s), L)
    }

    #[test]
    fn multibulk_and_partial() {
        let mut b = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(parse_request(&mut b, L).unwrap().unwrap(), vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(parse_request(&mut b, L).unwrap(), None);
        b.extend_from_slice(b"NG\r\n");
        assert_eq!(parse_request(&mut b, L).unwrap().unwrap(), vec![Bytes::from("PING")]);
        assert!(b.is_empty());
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(parse(b"*abc\r\n").unwrap_err().0, "invalid multibulk length");
        assert_eq!(parse(b"*1\r\n$-1\r\n").unwrap_err().0, "invalid bulk length");
        assert_eq!(parse(b"*1\r\n$1073741824\r\n").unwrap_err().0, "invalid bulk length");
        assert_eq!(parse(b"*1\r\nfoo\r\n").unwrap_err().0, "expected '$', got 'f'");
        assert_eq!(parse(b"*1\r\n$3\r\nfooXX").unwrap_err().0, "expected CRLF after bulk data");
        assert_eq!(parse(b"set \"a b\n").unwrap_err().0, "unbalanced quotes in request");
        let unauth = Limits { authenticated: false, ..L };
        assert!(parse_request(&mut BytesMut::from(&b"*11\r\n"[..]), unauth).is_err());
    }

    #[test]
    fn inline() {
        assert_eq!(
            parse(b"set k \"a\\x41 b\" 'c d'\r\n").unwrap().unwrap(),
            vec![Bytes::from("set"), Bytes::from("k"), Bytes::from("aA b"), Bytes::from("c d")]
        );
        assert_eq!(parse(b"\r\n").unwrap().unwrap(), Vec::<Bytes>::new());
        assert_eq!(parse(b"PING").unwrap(), None);
    }

    /// `\0\n` once looped forever pushing empty arguments. A NUL before the
    /// newline hides the line, as Redis's `strchr` does, up to INLINE_MAX.
    #[test]
    fn nul_in_inline_request() {
        assert_eq!(parse(b"\0\n").unwrap(), None);
        assert_eq!(parse(b"PI\0NG\r\nPING\r\n").unwrap(), None);
        let mut big = BytesMut::from(&b"\0\n"[..]);
        big.extend_from_slice(&vec![b'x'; INLINE_MAX]);
        assert_eq!(parse_request(&mut big, L).unwrap_err().0, "too big inline request");
        assert_eq!(split_args(b"\0"), Some(vec![]));
        assert_eq!(split_args(b"set k\0v"), Some(vec![b"set".to_vec(), b"k".to_vec()]));
        assert_eq!(split_args(b"set \"k\0\""), None);
        assert_eq!(split_args(b"\x0becho a\x0bb"), Some(vec![b"echo".to_vec(), b"a\x0bb".to_vec()]));
        assert_eq!(split_args(b"echo \"a\"\x0b"), Some(vec![b"echo".to_vec(), b"a".to_vec()]));
    }
}
