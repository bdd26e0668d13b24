//! Long polling: waiting until any of several partitions' `watch` channels (high watermark,
//! log end) changes, or a deadline. Consumer fetches and replica fetches both wait here; it
//! never reads a partition.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::watch;
use tokio::time::Instant;

/// Waits until any watched value changes (a receiver whose sender is gone counts as a
/// change), or the deadline. Returns whether something changed.
pub(crate) async fn wait_for_any(mut watchers: Vec<watch::Receiver<u64>>, deadline: Instant) -> bool {
    type Change<'a> = Pin<Box<dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>>;
    let mut changes: Vec<Change<'_>> = watchers.iter_mut().map(|w| Box::pin(w.changed()) as Change<'_>).collect();
    let any = std::future::poll_fn(|cx| {
        for change in changes.iter_mut() {
            if change.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    });
    tokio::time::timeout_at(deadline, any).await.is_ok()
}
