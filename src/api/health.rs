//! Probes: `/healthz` (the process serves HTTP) and `/readyz` (the store is open, the first fit
//! and planning pass is done, and every target has a plan or a stated reason why not).
//!
//! On the plain port `/readyz` says why: the targets waiting for a plan or planned on nothing
//! (at most [`MAX_NAMED`] named, then a count), and the Prometheus pull sources that are failing.
//! A failing source does not make the service unready — its targets keep their plans from the
//! data already stored and fall back as the plan says, while an unready pod would lose the HPA
//! its metric altogether — but it is named. A source whose history is not in yet does
//! ([`PullStatus::backfilling`](crate::collect::prometheus_pull::PullStatus::backfilling)): a
//! replica started on an empty or lost volume is not ready until its first poll brought the
//! history in from the store, nor while the first poll refreshes a stale cache, so that the
//! other replicas serve meanwhile. On the Kubernetes port ([`anonymous_routes`]) the
//! probes answer only the status and counts: whoever reaches that port unauthenticated learns no
//! target or series name.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::state::AppState;
use crate::collect::prometheus_pull::PullStatus;
use crate::engine::{PlanState, runner};

/// The most targets or sources `/readyz` names; past that it counts the rest.
pub const MAX_NAMED: usize = 50;

/// The plain port's probes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(|state| readyz(state, true)))
}

/// The probes as the Kubernetes port serves them: no names.
pub fn anonymous_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(|state| readyz(state, false)))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// At most [`MAX_NAMED`] of `items`, with a count of the rest under `"(more)"`.
fn bounded(items: Vec<(String, Value)>) -> serde_json::Map<String, Value> {
    let total = items.len();
    let mut named: serde_json::Map<String, Value> = items.into_iter().take(MAX_NAMED).collect();
    if total > MAX_NAMED {
        named.insert("(more)".into(), json!(total - MAX_NAMED));
    }
    named
}

async fn readyz(State(state): State<AppState>, named: bool) -> (StatusCode, Json<Value>) {
    let now = runner::system_now();
    // `(series, why)` of every pull source `why` says something of.
    let sources = |why: fn(&PullStatus, i64) -> Option<String>| -> Vec<(String, Value)> {
        let pulls = state.ingest.pulls.iter();
        pulls
            .filter_map(|pull| {
                why(pull, now).map(|why| (pull.series.as_str().to_string(), json!(why)))
            })
            .collect()
    };
    let sources_down = sources(PullStatus::down);
    let backfilling = sources(PullStatus::backfilling);
    if !backfilling.is_empty() {
        let body = if named {
            json!({
                "status": "not ready",
                "backfilling": bounded(backfilling),
                "pull_sources_down": bounded(sources_down),
            })
        } else {
            json!({ "status": "not ready", "backfilling": backfilling.len() })
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    match state.engine.readiness() {
        Ok(()) => {
            // Ready, and honest about targets that are planned on nothing yet.
            let unplanned: Vec<(String, Value)> = state
                .engine
                .targets()
                .into_iter()
                .filter_map(
                    |(name, _)| match state.engine.plan_state(&name).as_deref() {
                        Some(PlanState::Unplanned { reason, .. }) => Some((name, json!(reason))),
                        _ => None,
                    },
                )
                .collect();
            let body = if named {
                json!({
                    "status": "ready",
                    "unplanned_targets": bounded(unplanned),
                    "pull_sources_down": bounded(sources_down),
                })
            } else {
                json!({
                    "status": "ready",
                    "unplanned_targets": unplanned.len(),
                    "pull_sources_down": sources_down.len(),
                })
            };
            (StatusCode::OK, Json(body))
        }
        Err(waiting) => {
            let total = waiting.len();
            let body = if named {
                let mut listed: Vec<Value> = waiting
                    .into_iter()
                    .take(MAX_NAMED)
                    .map(Value::from)
                    .collect();
                if total > MAX_NAMED {
                    listed.push(json!(format!("… and {} more", total - MAX_NAMED)));
                }
                json!({
                    "status": "not ready",
                    "waiting_for": listed,
                    "pull_sources_down": bounded(sources_down),
                })
            } else {
                json!({ "status": "not ready", "waiting_for": total })
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}
