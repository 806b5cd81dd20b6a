//! Collections in their large encodings, which live in their own
//! allocation behind the keyspace entry (the small ones are listpacks in
//! the entry itself: [`super::listpack`]).
//!
//! - a hash past `hash-max-listpack-entries` / `-value` is a table of
//!   field entries: the keyspace's own chained table ([`super::table`]),
//!   so HSCAN has SCAN's cursor guarantees and HRANDFIELD its fair random
//!   pick;
//! - a set past its compact encodings is a table of member entries with
//!   empty values ([`super::set`]);
//! - a list past one node is a quicklist of listpack nodes
//!   ([`super::list`]);
//! - a sorted set past `zset-max-listpack-*` is a member table beside an
//!   order-statistics tree ([`super::zset`]).

use super::list::Quicklist;
use super::table::Table;

pub enum Boxed {
    Hash(Table),
    List(Quicklist),
    /// Members as entries with empty values ([`super::set`]).
    Set(Table),
    ZSet(super::zset::Big),
    /// Always boxed: Redis has no small encoding for streams.
    Stream(Box<super::stream::Stream>),
}

impl Boxed {
    pub fn is_empty(&self) -> bool {
        match self {
            Boxed::Hash(t) | Boxed::Set(t) => t.is_empty(),
            Boxed::List(q) => q.is_empty(),
            Boxed::ZSet(z) => z.is_empty(),
            // an empty stream is still a stream (XDEL and XTRIM keep it)
            Boxed::Stream(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Boxed::Hash(t) | Boxed::Set(t) => t.len(),
            Boxed::List(q) => q.len(),
            Boxed::ZSet(z) => z.len(),
            Boxed::Stream(st) => st.length as usize,
        }
    }
}

impl Clone for Boxed {
    fn clone(&self) -> Boxed {
        match self {
            Boxed::Hash(t) => Boxed::Hash(t.deep_clone()),
            Boxed::Set(t) => Boxed::Set(t.deep_clone()),
            Boxed::List(q) => Boxed::List(q.clone()),
            Boxed::ZSet(z) => Boxed::ZSet(z.clone()),
            Boxed::Stream(st) => Boxed::Stream(st.clone()),
        }
    }
}
