//! The engine's loops on tokio: a refit loop and a re-plan loop, each doing its CPU work on the
//! blocking pool (never on the async threads), both stopping when the service's cancellation
//! token is cancelled.
//!
//! They are separate so that a long refit pass over many series never delays the 15-second
//! re-plan of targets, which only needs the models already cached.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::series::Timestamp;

/// The system clock as unix seconds: the one place the service reads the time for the engine.
pub fn system_now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

/// How often the refit loop looks for series that are due (new series, stale models).
const REFIT_CHECK: Duration = Duration::from_secs(5);

/// Runs both loops until `token` is cancelled; a pass under way is finished first.
pub async fn run(engine: Arc<Engine>, token: CancellationToken) {
    // One task, two futures: each does its work on the blocking pool, so neither waits for
    // the other, and whoever awaits this awaits both.
    tokio::join!(
        refit_loop(engine.clone(), &token),
        replan_loop(engine, &token)
    );
}

async fn refit_loop(engine: Arc<Engine>, token: &CancellationToken) {
    loop {
        let pass = engine.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            match pass.expire_series(system_now()) {
                Ok(0) => {}
                Ok(expired) => tracing::info!(
                    expired,
                    "deleted series past series_retention that no target uses"
                ),
                Err(error) => tracing::error!(%error, "series retention pass failed"),
            }
            let fitted = pass.refit_due(system_now());
            if !pass.first_pass_done() {
                pass.replan(system_now());
                pass.mark_first_pass_done();
            }
            fitted
        })
        .await;
        match outcome {
            Ok(Ok(fitted)) if fitted > 0 => {
                tracing::debug!(fitted, "refit pass done");
                // New models: plan with them now rather than at the next tick.
                engine.wake.notify_waiters();
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "refit pass failed"),
            Err(error) => tracing::error!(%error, "refit task panicked"),
        }
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(REFIT_CHECK) => {}
            () = engine.wake.notified() => {}
        }
    }
}

async fn replan_loop(engine: Arc<Engine>, token: &CancellationToken) {
    let every = Duration::from_secs(engine.settings().replan_interval.seconds() as u64);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            _ = ticker.tick() => {}
            () = engine.wake.notified() => {}
        }
        let pass = engine.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || pass.replan(system_now())).await {
            tracing::error!(%error, "replan task panicked");
        }
    }
}
