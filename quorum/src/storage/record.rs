//! The record framing of every file in the Raft directory: `[length u32][crc u32][payload]`,
//! little-endian, where `crc` is the CRC-32C of the length bytes followed by the payload.
//!
//! [`Records`] reads records until the first one that is incomplete or fails its CRC and
//! reports where valid data ends: in an append-only file, what follows is a torn write. It
//! never allocates on a length read from the file (payloads are slices of the input).

use crate::error::QuorumError;

/// Bytes before each payload.
pub(crate) const HEADER_LEN: usize = 8;

/// Appends `payload` framed as one record to `out`; a payload of 4 GiB or more cannot be.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) -> Result<(), QuorumError> {
    let len = u32::try_from(payload.len())
        .map_err(|_| QuorumError::TooLarge {
            bytes: payload.len(),
            limit: u32::MAX as usize,
        })?
        .to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc(&len, payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

fn crc(len: &[u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len), payload)
}

/// The valid records at the start of a buffer, each as `(offset of its header, payload)`.
#[derive(Debug)]
pub(crate) struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Records<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Where the valid records read so far end: after the iterator is exhausted, the length of
    /// the valid prefix of the buffer.
    pub(crate) fn valid_len(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        let len: [u8; 4] = rest.get(0..4)?.try_into().ok()?;
        let stored_crc = u32::from_le_bytes(rest.get(4..HEADER_LEN)?.try_into().ok()?);
        let payload_len = usize::try_from(u32::from_le_bytes(len)).ok()?;
        let payload = rest.get(HEADER_LEN..HEADER_LEN.checked_add(payload_len)?)?;
        if crc(&len, payload) != stored_crc {
            return None;
        }
        let start = self.pos;
        self.pos += HEADER_LEN + payload_len;
        Some((start, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stop_at_a_torn_or_damaged_record() {
        let mut buf = Vec::new();
        for payload in [&b"one"[..], b"", b"three"] {
            encode(payload, &mut buf).unwrap();
        }
        let whole = buf.len();
        let mut records = Records::new(&buf);
        let read: Vec<_> = records.by_ref().map(|(_, p)| p.to_vec()).collect();
        assert_eq!(read, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        assert_eq!(records.valid_len(), whole);

        let two = HEADER_LEN * 2 + 3;
        for cut in two..whole {
            let mut records = Records::new(&buf[..cut]);
            assert_eq!(records.by_ref().count(), 2, "cut at {cut}");
            assert_eq!(records.valid_len(), two);
        }
        buf[whole - 1] ^= 1;
        let mut records = Records::new(&buf);
        assert_eq!(records.by_ref().count(), 2);
        assert_eq!(records.valid_len(), two);
    }

    #[test]
    fn a_huge_length_is_a_torn_record_not_an_allocation() {
        let mut buf = u32::MAX.to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 12]);
        assert_eq!(Records::new(&buf).count(), 0);
    }
}
