//! Blocking file work: replacing a small file so that a crash leaves either the old or the new
//! content (write a temporary file beside it, fsync it, rename it over the target, fsync the
//! directory), and running such work off the async threads.

use std::io::Write;
use std::path::Path;

use crate::error::{ConnectError, Result};

/// Runs blocking I/O `f` off the async threads; `what` names it if the thread dies.
pub(crate) async fn blocking<T: Send + 'static>(what: &str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ConnectError::Task(format!("{what} stopped: {e}")))?
}

/// Replaces `path` with `bytes`, durably and atomically.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| ConnectError::io(&tmp, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| ConnectError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ConnectError::io(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| ConnectError::io(dir, e))?;
    }
    Ok(())
}
