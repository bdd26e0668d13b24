//! The Kafka wire protocol: framing, request decoding, response encoding and the table of
//! API versions this broker speaks. Codecs come from the `kafka-protocol` crate; this module
//! owns only what sits around them — nothing here knows what a request means.
//!
//! ```text
//! socket ─► frame::read_frame ─► request::decode ─► (broker handlers) ─► response::encode ─► socket
//!           i32 size + bytes      header + body       ResponseKind         size + header + body
//! ```

pub mod extensions;
pub mod frame;
pub mod request;
pub mod response;
pub mod versions;

pub use frame::{read_frame, read_frame_body, read_frame_part, read_frame_size, FrameError};
pub use request::{decode, DecodeError, Request};
pub use response::{api_version_list, encode, encode_api_versions_fallback, EncodeError};
pub use versions::{supported, ServedApi, SERVED_APIS};
