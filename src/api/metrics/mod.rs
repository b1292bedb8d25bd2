//! `GET /metrics`: the planned replicas and loads per target, forecasts, errors, models,
//! decisions, the engine's counters, ingest and alerts — every name documented in
//! `docs/metrics.md`.
//!
//! Each scrape builds one [`Exposition`] (a prometheus-client registry of typed families) from
//! the engine's stats and caches, the request counters, the ingest counters and the monitor's
//! snapshot; nothing is computed but the store's size. The answer's format is negotiated as
//! the Go client's `promhttp` does it: OpenMetrics 1.0 when the `Accept` header asks for
//! `application/openmetrics-text` (Prometheus does) at least as much as for the text format,
//! otherwise the Prometheus text format 0.0.4 (curl, `promtool check metrics`, older scrapers).
//! The two carry the same series.

pub mod alerts;
pub mod exposition;
pub mod ingest;
pub mod labels;
pub mod monitor;
pub mod service;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::state::AppState;
use crate::engine::runner::system_now;
use exposition::{Exposition, Format};
use service::StoreFacts;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let store = state.engine.store().clone();
    let facts = tokio::task::spawn_blocking(move || StoreFacts {
        series: store.list().map(|l| l.len()).unwrap_or(0),
        bytes: store.size_on_disk().unwrap_or(0),
        in_service: store.failure().is_none(),
        repairs: store.generation(),
    })
    .await
    .unwrap_or_default();
    let format = negotiate(&headers);
    let text = exposition(&state, facts).encode(format);
    ([(header::CONTENT_TYPE, format.content_type())], text)
}

/// The scrape's families, in the order they are served.
pub fn exposition(state: &AppState, store: StoreFacts) -> Exposition {
    let mut out = Exposition::default();
    let now = system_now();
    service::register(&mut out, &state.engine, &state.counters, store);
    monitor::register(&mut out, &state.monitor.snapshot(), &state.engine, now);
    ingest::register(&mut out, &state.ingest, now);
    alerts::register(&mut out, state.monitor.alerts());
    out
}

/// OpenMetrics when the `Accept` header's best `q` for it is positive and not below the best
/// for the text format (`text/plain`, `text/*`, `*/*`); the text format otherwise.
pub fn negotiate(headers: &HeaderMap) -> Format {
    let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','));
    for range in ranges {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(accept: Option<&str>) -> Format {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, accept.parse().unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        // Prometheus 2.x's scrape header.
        let prometheus = "application/openmetrics-text;version=1.0.0,\
                          application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(format(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(format(None), Format::Text);
        assert_eq!(format(Some("*/*")), Format::Text);
        assert_eq!(format(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(
            format(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(
            format(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
    }
}
