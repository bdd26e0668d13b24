//! Ctrl-C for the synchronous client commands: SIGINT or SIGTERM set a flag that the
//! command's loop checks, so it can flush, commit and leave its group before exiting
//! instead of dying mid-write. A second signal while it finishes is ignored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// Installs the handlers; the flag turns true on the first SIGINT or SIGTERM.
pub fn on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("could not start the signal-handling runtime")?;
    // Registered here, before returning, so that no signal is missed.
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
    })
    .context("could not install the SIGINT and SIGTERM handlers")?;
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            set.store(true, Ordering::Relaxed);
        })
        .context("could not start the signal thread")?;
    Ok(flag)
}
