//! A key as the commands that rebuild it: the base of an AOF written with
//! `aof-use-rdb-preamble no`, as Redis 7.0's `rewriteAppendOnlyFile`
//! writes it. Collections go in commands of at most 64 items
//! (`AOF_REWRITE_ITEMS_PER_CMD`): RPUSH, HMSET, SADD, ZADD (scores as
//! `%.17g`); a stream as its XADDs (or an `XADD MAXLEN 0` when it is
//! empty), XSETID with ENTRIESADDED and MAXDELETEDID, each group's XGROUP
//! CREATE with ENTRIESREAD, consumers with nothing pending as XGROUP
//! CREATECONSUMER and pending entries as XCLAIM ... TIME RETRYCOUNT JUSTID
//! FORCE; an expiry as PEXPIREAT.

use crate::store::Entry;
use crate::store::listpack::Elem;
use crate::store::stream::{Stream, StreamId};
use crate::util::Decimal;

/// Items per command, as Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
const ITEMS_PER_COMMAND: usize = 64;

/// One command in RESP.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(&Decimal::new(args.len() as i64));
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(&Decimal::new(a.len() as i64));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `name key item...` in commands of at most [`ITEMS_PER_COMMAND`] items
/// (an item being one or more arguments).
struct Batched<'o> {
    out: &'o mut Vec<u8>,
    name: &'static [u8],
    key: &'o [u8],
    args: Vec<Vec<u8>>,
    items: usize,
}

impl<'o> Batched<'o> {
    fn new(out: &'o mut Vec<u8>, name: &'static [u8], key: &'o [u8]) -> Batched<'o> {
        Batched { out, name, key, args: Vec::new(), items: 0 }
    }

    fn item(&mut self, parts: &[&[u8]]) {
        self.args.extend(parts.iter().map(|p| p.to_vec()));
        self.items += 1;
        if self.items == ITEMS_PER_COMMAND {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.items == 0 {
            return;
        }
        let mut all: Vec<&[u8]> = vec![self.name, self.key];
        all.extend(self.args.iter().map(|a| a.as_slice()));
        command(self.out, &all);
        self.args.clear();
        self.items = 0;
    }
}

impl Drop for Batched<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

fn elem_bytes(e: &Elem<'_>) -> Vec<u8> {
    match e {
        Elem::Bytes(b) => b.to_vec(),
        Elem::Int(d) => d.to_vec(),
    }
}

/// The commands that rebuild `e` (the snapshot's encoder for a base in
/// command form).
pub fn encode_entry(out: &mut Vec<u8>, e: Entry<'_>) {
    let key = e.entry.key();
    if let Ok(s) = e.stream() {
        stream_commands(out, key, s);
    } else if let Ok(l) = e.list() {
        let mut b = Batched::new(out, b"RPUSH", key);
        l.iter().for_each(|i| b.item(&[&i]));
    } else if let Ok(z) = e.zset() {
        let mut b = Batched::new(out, b"ZADD", key);
        z.range(0, usize::MAX, false, |m, s| b.item(&[crate::util::format_g17(s).as_bytes(), m]));
    } else if let Ok(s) = e.set() {
        let mut b = Batched::new(out, b"SADD", key);
        s.for_each(|m| b.item(&[&m]));
    } else if let Ok(h) = e.hash() {
        let mut b = Batched::new(out, b"HMSET", key);
        h.for_each(|f, v| b.item(&[&f, &v]));
    } else {
        command(out, &[b"SET", key, e.value]);
    }
    if e.expire_at != 0 {
        command(out, &[b"PEXPIREAT", key, &Decimal::new(e.expire_at as i64)]);
    }
}

fn stream_commands(out: &mut Vec<u8>, key: &[u8], s: &Stream) {
    let id = |i: StreamId| i.text().into_bytes();
    if s.length > 0 {
        s.scan(StreamId::MIN, StreamId::MAX, false, |item| {
            let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), key.to_vec(), id(item.id)];
            for (f, v) in item.pairs() {
                args.push(elem_bytes(&f));
                args.push(elem_bytes(&v));
            }
            command(out, &args.iter().map(|a| a.as_slice()).collect::<Vec<_>>());
            true
        });
    } else {
        // an empty stream: an entry 0-1 trimmed away at once (XSETID then
        // sets the real last ID), as Redis writes it
        command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    }
    command(out, &[b"XSETID", key, &id(s.last_id), b"ENTRIESADDED", &Decimal::new(s.entries_added as i64), b"MAXDELETEDID", &id(s.max_deleted_id)]);
    for (name, g) in &s.groups {
        command(out, &[b"XGROUP", b"CREATE", key, name, &id(g.last_id), b"ENTRIESREAD", &Decimal::new(g.entries_read)]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
            }
            for pending in &c.pel {
                let Some(n) = g.pel.get(pending) else { continue };
                command(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        &id(*pending),
                        b"TIME",
                        &Decimal::new(n.delivery_time as i64),
                        b"RETRYCOUNT",
                        &Decimal::new(n.delivery_count as i64),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}
