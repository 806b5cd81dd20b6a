//! The wire protocol: request framing and reply encoding, and the encoding
//! of commands this process sends (proxy to node, MIGRATE, recovery).

pub mod parser;
pub mod reply;

pub use parser::{Limits, ProtocolError, parse_request, parse_request_spans};
pub use reply::Reply;

use bytes::{Bytes, BytesMut};

/// RESP-encodes a command.
pub fn encode_command(args: &[impl AsRef<[u8]>]) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    encode_command_into(&mut out, args);
    out.freeze()
}

/// Appends the RESP encoding of a command to `out`.
pub fn encode_command_into(out: &mut BytesMut, args: &[impl AsRef<[u8]>]) {
    reply::header(out, b'*', args.len());
    for a in args {
        reply::bulk(out, b'$', a.as_ref());
    }
}

/// Gives an empty connection buffer's memory back before a wait for input
/// (a partial request is kept): idle connections then hold no buffers.
pub fn release_if_empty(buf: &mut bytes::BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = bytes::BytesMut::new();
    }
}
