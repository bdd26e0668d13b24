//! The WASI a plugin sees. Every `wasi:cli/imports` interface is linked, so components built
//! for WASI (`wasm32-wasip2`, componentize-*, wasi-libc) load; each instance's context then
//! reaches nothing beyond the plugin's own memory unless its [`Grants`] say so: no
//! preopened directories, every socket address refused and no name lookups, no environment
//! or arguments, an empty stdin, stdout discarded; stderr kept only with `stderr`, real clocks
//! only with `clock` (otherwise both read zero). Waiting on time is refused outright: a call
//! must return on its own, and a host thread blocked in a guest's sleep is out of reach of
//! the CPU budget (which interrupts only running guest code).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiView};

use crate::Grants;

/// The version of `wasi:clocks` the linked WASI implements (components importing any
/// earlier 0.2 version link against it too).
const CLOCKS_VERSION: &str = "0.2.12";

/// Most bytes of stderr kept between two reads; what comes after is counted, not kept.
pub const STDERR_BYTES: usize = 64 << 10;

/// Links WASI into `linker`, with sleeping and waiting on the monotonic clock made a trap.
pub(crate) fn link<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(&format!("wasi:clocks/monotonic-clock@{CLOCKS_VERSION}"))?;
    clock.func_wrap("subscribe-duration", |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> { Err(no_waiting()) })?;
    clock.func_wrap("subscribe-instant", |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> { Err(no_waiting()) })?;
    linker.allow_shadowing(false);
    Ok(())
}

fn no_waiting() -> wasmtime::Error {
    wasmtime::Error::msg("the plugin tried to sleep or wait on a clock, which plugins may not do: a call must return on its own")
}

/// The WASI context of one instance, as `grants` allow; stderr goes to `stderr`, which the
/// instance holds only when `stderr` is granted.
pub(crate) fn context(grants: Grants, stderr: Option<&StderrCapture>) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    if let Some(capture) = stderr {
        builder.stderr(capture.clone());
    }
    if !grants.clock {
        builder.wall_clock(Epoch).monotonic_clock(Epoch);
    }
    builder.build()
}

/// A clock stopped at zero: what a plugin without the `clock` grant reads.
struct Epoch;

impl HostWallClock for Epoch {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Epoch {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// What a plugin wrote to stderr since it was last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedStderr {
    /// The bytes, at most [`STDERR_BYTES`].
    pub bytes: Vec<u8>,
    /// Bytes written past that bound, and dropped.
    pub dropped_bytes: u64,
}

impl CapturedStderr {
    /// Its lines (without their line ends; invalid UTF-8 replaced), blank ones left out.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.bytes.split(|b| *b == b'\n').map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned()).filter(|l| !l.trim().is_empty())
    }
}

/// A plugin's stderr, kept for its log. Writes never fail (a guest's `eprintln!` panics on a
/// failed write): past [`STDERR_BYTES`] unread bytes they are counted and dropped. Clones
/// share the buffer, so it outlives the instances that write to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct StderrCapture(Arc<Mutex<CapturedStderr>>);

impl StderrCapture {
    fn append(&self, bytes: &[u8]) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = STDERR_BYTES.saturating_sub(captured.bytes.len()).min(bytes.len());
        captured.bytes.extend_from_slice(&bytes[..kept]);
        captured.dropped_bytes += (bytes.len() - kept) as u64;
    }

    /// What was written since the last call.
    pub(crate) fn take(&self) -> CapturedStderr {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl IsTerminal for StderrCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for StderrCapture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(STDERR_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrCapture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{StderrCapture, STDERR_BYTES};

    #[test]
    fn stderr_keeps_a_bounded_amount_and_counts_the_rest() {
        let capture = StderrCapture::default();
        capture.append(b"first line\n\nsecond\r\n");
        let taken = capture.take();
        assert_eq!(taken.lines().collect::<Vec<_>>(), ["first line", "second"]);
        assert_eq!(taken.dropped_bytes, 0);
        capture.append(&vec![b'x'; STDERR_BYTES + 10]);
        let taken = capture.take();
        assert_eq!((taken.bytes.len(), taken.dropped_bytes), (STDERR_BYTES, 10));
        assert_eq!(capture.take(), super::CapturedStderr::default());
    }
}
