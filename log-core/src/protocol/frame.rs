//! Length-prefixed framing: every Kafka request and response is an `i32` byte count followed
//! by that many bytes. A frame larger than the configured limit (`socket.request.max.bytes`)
//! is refused before any of it is read into memory.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Buffer reserved before a frame's bytes arrive.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Why a frame could not be read. Each variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative or larger than the limit.
    #[error("request of {size} bytes is outside 0..={max} (socket.request.max.bytes)")]
    BadSize {
        /// The size the peer announced.
        size: i64,
        /// The limit.
        max: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed {read} bytes into a {size}-byte request")]
    Truncated {
        /// Bytes received.
        read: usize,
        /// Bytes announced.
        size: usize,
    },
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame's payload. `Ok(None)` means the peer closed the connection cleanly between
/// frames.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max: usize) -> Result<Option<BytesMut>, FrameError> {
    match read_frame_size(reader, max).await? {
        Some(size) => read_frame_body(reader, size).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's size prefix and checks it against `max`. `Ok(None)` means the peer closed
/// the connection cleanly between frames. The server reads the prefix first so that it can
/// reserve memory for the body (and time its arrival) before reading it.
pub async fn read_frame_size<R: AsyncRead + Unpin>(reader: &mut R, max: usize) -> Result<Option<usize>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(FrameError::Truncated { read: got, size: 4 }) };
        }
        got += n;
    }
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > max {
        return Err(FrameError::BadSize { size: i64::from(size), max });
    }
    Ok(Some(size as usize))
}

/// Reads the `size` bytes of a frame's body (after its prefix).
pub async fn read_frame_body<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<BytesMut, FrameError> {
    // Memory grows with the bytes that arrive, not with what the prefix announces.
    let mut payload = BytesMut::with_capacity(size.min(INITIAL_CAPACITY));
    while payload.len() < size {
        if payload.capacity() == payload.len() {
            payload.reserve((size - payload.len()).min(payload.len().max(INITIAL_CAPACITY)));
        }
        read_frame_part(reader, &mut payload, size, size).await?;
    }
    Ok(payload)
}

/// Reads the body of a `size`-byte frame into `payload` until it holds `target` bytes (the
/// server reads a body a reserved chunk at a time this way).
pub async fn read_frame_part<R: AsyncRead + Unpin>(reader: &mut R, payload: &mut BytesMut, target: usize, size: usize) -> Result<(), FrameError> {
    while payload.len() < target {
        let want = target - payload.len();
        let n = (&mut *reader).take(want as u64).read_buf(payload).await?;
        if n == 0 {
            return Err(FrameError::Truncated { read: payload.len(), size });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_read_whole_and_bounded() {
        let mut input: &[u8] = &[0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 1, 9];
        assert_eq!(read_frame(&mut input, 10).await.unwrap().unwrap().as_ref(), &[1, 2, 3]);
        assert_eq!(read_frame(&mut input, 10).await.unwrap().unwrap().as_ref(), &[9]);
        assert!(read_frame(&mut input, 10).await.unwrap().is_none());

        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(read_frame(&mut big, 10).await, Err(FrameError::BadSize { .. })));
        let mut negative: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(read_frame(&mut negative, 10).await, Err(FrameError::BadSize { .. })));
        let mut cut: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(read_frame(&mut cut, 10).await, Err(FrameError::Truncated { read: 2, size: 5 })));
        let mut cut_prefix: &[u8] = &[0, 0];
        assert!(matches!(read_frame(&mut cut_prefix, 10).await, Err(FrameError::Truncated { .. })));
    }
}
