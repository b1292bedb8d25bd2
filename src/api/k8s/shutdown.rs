//! The stop signal the serving tasks share: a `watch` channel that turns `true` on shutdown.

use tokio::sync::watch;

/// Resolves once `shutdown` holds `true` (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
