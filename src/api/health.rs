//! Probes: `/healthz` (the process serves HTTP) and `/readyz` (the store is open, the first fit
//! and planning pass is done, and every target has a plan or a stated reason why not).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::state::AppState;
use crate::engine::PlanState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.engine.readiness() {
        Ok(()) => {
            // Ready, and honest about targets that are planned on nothing yet.
            let unplanned: serde_json::Map<String, Value> = state
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
            (
                StatusCode::OK,
                Json(json!({ "status": "ready", "unplanned_targets": unplanned })),
            )
        }
        Err(waiting) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "waiting_for": waiting })),
        ),
    }
}
