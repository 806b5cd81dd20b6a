//! The wire protocol: request framing and reply encoding.

pub mod parser;
pub mod reply;

pub use parser::{Limits, ProtocolError, parse_request, parse_request_spans};
pub use reply::Reply;
