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

/// How long a connection keeps its buffers without input: a busy
/// connection reuses them (allocating them per request cost 2PC latency
/// tails of milliseconds), an idle one holds none (as Redis frees an idle
/// client's query buffer).
pub const BUFFER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Bytes of connection buffers given back so far (the cron returns the
/// memory to the OS once enough has been: [`crate::alloc::release_free_memory`]).
pub static BUFFERS_RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Gives an empty connection buffer's memory back (a partial request is
/// kept).
pub fn release_if_empty(buf: &mut bytes::BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        BUFFERS_RELEASED.fetch_add(buf.capacity(), std::sync::atomic::Ordering::Relaxed);
        *buf = bytes::BytesMut::new();
    }
}

/// Between requests: a buffer grown past 64 kB by a large request or reply
/// is not kept even while the connection is busy.
pub fn trim_if_large(buf: &mut bytes::BytesMut) {
    if buf.is_empty() && buf.capacity() > 64 * 1024 {
        *buf = bytes::BytesMut::new();
    }
}

/// The read buffer before a read: 4 kB while it holds no partial request
/// (most requests are small; an empty buffer whose requests were split off
/// reclaims its own 4 kB once they are dropped), room for 16 kB more only
/// while a request is incomplete. A read often finds nothing (readiness is
/// cleared only by the read that would block), so growing an empty buffer
/// here would give every idle connection 16 kB.
pub fn reserve_for_read(buf: &mut bytes::BytesMut) {
    if buf.is_empty() {
        buf.reserve(4096);
    } else if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
}

/// When a connection's buffers have gone [`BUFFER_IDLE`] without input.
/// One timer per connection, armed once and re-armed only when it fires
/// early: resetting a timer on every request costs the timer wheel's lock
/// each time.
pub struct IdleTimer {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    last_input: tokio::time::Instant,
}

impl Default for IdleTimer {
    fn default() -> Self {
        IdleTimer { sleep: Box::pin(tokio::time::sleep(BUFFER_IDLE)), armed: false, last_input: tokio::time::Instant::now() }
    }
}

impl IdleTimer {
    /// Bytes arrived.
    pub fn input(&mut self) {
        self.last_input = tokio::time::Instant::now();
    }

    /// Completes once no input came for [`BUFFER_IDLE`].
    pub async fn idle(&mut self) {
        loop {
            if !self.armed {
                self.sleep.as_mut().reset(self.last_input + BUFFER_IDLE);
                self.armed = true;
            }
            self.sleep.as_mut().await;
            self.armed = false;
            if self.last_input.elapsed() >= BUFFER_IDLE {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_read_buffer_reuses_its_4k() {
        let mut buf = BytesMut::new();
        reserve_for_read(&mut buf);
        assert_eq!(buf.capacity(), 4096);
        buf.extend_from_slice(b"PING\r\n");
        drop(buf.split_to(6).freeze());
        reserve_for_read(&mut buf);
        assert_eq!(buf.capacity(), 4096, "an empty buffer must not grow");
        // a partial request still gets room to grow
        buf.extend_from_slice(&[b'x'; 1000]);
        reserve_for_read(&mut buf);
        assert!(buf.capacity() - buf.len() >= 16 * 1024);
    }
}
