//! Reading file bytes into fresh buffers without zero-filling them first: a fetch of 55 MiB
//! would otherwise write 55 MiB of zeros only to overwrite them with `pread`. The bytes land
//! in a `Vec`'s spare capacity (rustix's `pread` into uninitialised memory), so only what the
//! kernel wrote becomes part of the buffer.

use std::fs::File;
use std::io;

/// Reads exactly `len` bytes at `position` into a new buffer.
pub(crate) fn read_exact_at(file: &File, len: usize, position: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_exact_into(file, &mut buf, len, position)?;
    Ok(buf)
}

/// Replaces `buf`'s contents with exactly `len` bytes read at `position`, reusing its
/// allocation when it is large enough.
pub(crate) fn read_exact_into(file: &File, buf: &mut Vec<u8>, len: usize, position: u64) -> io::Result<()> {
    buf.clear();
    buf.reserve_exact(len);
    while buf.len() < len {
        // Reads into all of the spare capacity, which may be more than wanted when the buffer
        // is reused; the surplus is cut below.
        let at = position + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(buf), at) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("file ends {} bytes short of the read", len - buf.len())));
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_exactly_and_reports_a_short_file() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&(0..=255u8).collect::<Vec<_>>()).unwrap();
        assert_eq!(read_exact_at(&file, 4, 10).unwrap(), vec![10, 11, 12, 13]);
        let mut reused = vec![9u8; 1000];
        read_exact_into(&file, &mut reused, 3, 250).unwrap();
        assert_eq!(reused, vec![250, 251, 252]);
        assert_eq!(read_exact_at(&file, 10, 250).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(read_exact_at(&file, 0, 0).unwrap().is_empty());
    }
}
