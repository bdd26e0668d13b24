//! The live progress line a benchmark shows on stderr while it runs (hidden when stderr is not
//! a terminal): a spinner whose message a closure refreshes twice a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Refreshes the line until dropped.
#[derive(Debug)]
pub struct LiveLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    bar: ProgressBar,
}

impl LiveLine {
    /// Starts refreshing the line with `message()`.
    pub fn start(message: impl Fn() -> String + Send + 'static) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (bar, stop) = (bar.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_message(message());
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        };
        LiveLine { stop, thread: Some(thread), bar }
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Shared counters the workers bump and the live line reads.
#[derive(Debug, Default)]
pub struct Counters {
    pub messages: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// `123456 msgs, 120.3 MB` for the live line.
    pub fn describe(&self, started: std::time::Instant) -> String {
        let messages = self.messages.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "{messages} msgs, {:.1} MB ({:.0} msgs/s, {:.1} MB/s){}",
            bytes as f64 / 1e6,
            messages as f64 / secs,
            bytes as f64 / 1e6 / secs,
            match self.errors.load(Ordering::Relaxed) {
                0 => String::new(),
                n => format!(", {n} errors"),
            }
        )
    }
}
