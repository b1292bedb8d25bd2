//! The REST API under `/api/v1`: push samples, list series, read forecasts, manage targets and
//! read their plans. Timestamps in answers are RFC 3339 UTC.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, blocking, check_content_encoding, clip, decode, read_body};
use super::rendered::{Rendered, Versioned};
use super::state::AppState;
use crate::collect::CollectError;
use crate::collect::push::{describe_json_error, parse_push};
use crate::engine::{EngineError, PlanState, runner::system_now};
use crate::live::first_step;
use crate::plan::{Clamp, MetricValue, Target};
use crate::series::{SeriesKey, Span, format_timestamp, parse_timestamp};

/// Largest push body: room for 100,000 samples even pretty-printed. A larger body is refused
/// with `413` before it is read whole.
pub const MAX_PUSH_BODY: usize = 16 * 1024 * 1024;

/// Longest forecast one request may ask for.
const MAX_HORIZON_SECONDS: i64 = 14 * 86_400;

/// Most points one forecast answer may hold: 14 days at 1 minute. A series on a finer step
/// gets a shorter longest horizon, so one request never costs more than this to predict and
/// serialise (about 3 MB of JSON).
pub const MAX_FORECAST_POINTS: i64 = 20_160;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/series/{series}/samples",
            post(push_samples).get(read_samples),
        )
        .route("/api/v1/series", get(list_series))
        .route(
            "/api/v1/series/{series}",
            axum::routing::delete(delete_series),
        )
        .route("/api/v1/series/{series}/forecast", get(forecast))
        .route("/api/v1/targets", get(list_targets))
        .route(
            "/api/v1/targets/{target}",
            get(get_target).put(put_target).delete(delete_target),
        )
        .route("/api/v1/targets/{target}/plan", get(get_plan))
}

fn series_key(name: String) -> Result<SeriesKey, ApiError> {
    SeriesKey::new(name).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `POST /api/v1/series/{series}/samples`: validates the whole batch, appends it, and answers
/// `204` only once it is durable (group commit).
async fn push_samples(
    State(state): State<AppState>,
    Path(series): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let outcome = accept_push(&state, series, &headers, body).await;
    let counter = match outcome {
        Ok(_) => &state.counters.batches_accepted,
        Err(_) => &state.counters.batches_rejected,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let accepted = outcome?;
    state
        .counters
        .samples_ingested
        .fetch_add(accepted as u64, Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_push(
    state: &AppState,
    series: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<usize, ApiError> {
    let key = series_key(series)?;
    check_content_encoding(
        headers,
        &[],
        "send the JSON body uncompressed (no Content-Encoding, or identity)",
    )?;
    let advice = "send at most 100000 samples per batch";
    let body = read_body(headers, body, MAX_PUSH_BODY, advice).await?;
    let samples = decode(
        move || parse_push(&body, system_now()),
        |e| matches!(e, CollectError::TooLarge { .. }),
    )
    .await?;
    if samples.is_empty() {
        return Ok(0);
    }
    state
        .append_durably(move |store| store.append(&key, &samples))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    /// The most samples in this answer (1 to [`MAX_READ_SAMPLES`]); a longer range says where
    /// the next page starts (`next`).
    limit: Option<usize>,
}

/// The most samples one read returns; a longer range is cut and says so.
const MAX_READ_SAMPLES: usize = 1_000_000;

/// `GET /api/v1/series/{series}/samples?from=…&to=…&limit=…`: stored samples with
/// `from <= t < to` (RFC 3339 or unix seconds; default: everything), in the push format, at
/// most `limit` (default and most: 1,000,000) of them; when more remain, `truncated` is true and
/// `next` is the `from` of the next page.
async fn read_samples(
    State(state): State<AppState>,
    Path(series): Path<String>,
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = series_key(series)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(clip(&e.body_text())))?;
    let bound = |text: Option<&str>, name: &str, default: i64| match text {
        None => Ok(default),
        Some(text) => {
            parse_timestamp(text).map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
        }
    };
    let from = bound(query.from.as_deref(), "from", i64::MIN)?;
    let to = bound(query.to.as_deref(), "to", i64::MAX)?;
    let store = state.engine.store().clone();
    let lookup = key.clone();
    let (info, mut samples) = blocking(move || {
        let info = store.info(&lookup)?;
        store.read(&lookup, from, to).map(|samples| (info, samples))
    })
    .await?;
    if info.is_none() {
        return Err(ApiError::NotFound(format!(
            "unknown series {:?}",
            clip(key.as_str())
        )));
    }
    let limit = query.limit.unwrap_or(MAX_READ_SAMPLES);
    if !(1..=MAX_READ_SAMPLES).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_READ_SAMPLES}, got {limit}"
        )));
    }
    let truncated = samples.len() > limit;
    // The next page starts at the first sample left out: ask again with `from` = `next`.
    let next = samples
        .get(limit)
        .map(|sample| format_timestamp(sample.timestamp));
    samples.truncate(limit);
    let samples: Vec<serde_json::Value> = samples
        .iter()
        .map(
            |s| serde_json::json!({ "timestamp": format_timestamp(s.timestamp), "value": s.value }),
        )
        .collect();
    Ok(Json(serde_json::json!({
        "series": key.as_str(),
        "truncated": truncated,
        "next": next,
        "samples": samples,
    })))
}

#[derive(Serialize)]
struct SeriesView {
    series: String,
    first: String,
    last: String,
    samples: u64,
    model: Option<String>,
}

/// `GET /api/v1/series`
async fn list_series(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.engine.store().clone();
    let infos = blocking(move || store.list()).await?;
    let views: Vec<SeriesView> = infos
        .into_iter()
        .map(|info| SeriesView {
            model: state.engine.model(&info.key).map(|m| m.name.clone()),
            series: info.key.to_string(),
            first: format_timestamp(info.first),
            last: format_timestamp(info.last),
            samples: info.samples,
        })
        .collect();
    Ok(Json(serde_json::json!({ "series": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastQuery {
    horizon: Option<String>,
}

#[derive(Serialize)]
struct ForecastPointView {
    timestamp: String,
    yhat: f64,
    lo80: f64,
    hi80: f64,
    lo95: f64,
    hi95: f64,
}

/// `GET /api/v1/series/{series}/forecast?horizon=1h` (default horizon 1h, at most 14d and at
/// most [`MAX_FORECAST_POINTS`] steps).
async fn forecast(
    State(state): State<AppState>,
    Path(series): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let key = series_key(series)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(clip(&e.body_text())))?;
    let horizon: Span = query
        .horizon
        .as_deref()
        .unwrap_or("1h")
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("horizon: {e}")))?;
    if horizon.seconds() > MAX_HORIZON_SECONDS {
        return Err(ApiError::BadRequest(format!(
            "horizon: {horizon} is longer than the maximum of 14d"
        )));
    }
    let now = system_now();
    let cache_key = (key.clone(), horizon.seconds());
    if let Some(entry) = state.engine.model(&key) {
        let step = entry.model.step().max(1);
        let points = (horizon.seconds() + step - 1) / step;
        if points > MAX_FORECAST_POINTS {
            return Err(ApiError::BadRequest(format!(
                "horizon: {horizon} is {points} points at this series' step of {step}s, more \
                 than the {MAX_FORECAST_POINTS} one answer may hold: ask for at most {}",
                crate::series::span_text(MAX_FORECAST_POINTS * step)
            )));
        }
        let version = Versioned(entry.clone(), first_step(&entry.model, now));
        if let Some(rendered) = state.forecasts.get(&cache_key, &version) {
            return Ok(rendered.respond(&headers));
        }
    }
    let store = state.engine.store().clone();
    let lookup = key.clone();
    // A series started from a model file forecasts before its first sample arrives.
    if state.engine.model(&key).is_none() && blocking(move || store.info(&lookup)).await?.is_none()
    {
        return Err(ApiError::NotFound(format!(
            "unknown series {:?}",
            clip(key.as_str())
        )));
    }
    let (entry, forecast) = state
        .engine
        .forecast(&key, now, horizon)
        .map_err(|e| match e {
            EngineError::NoModel { .. } => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
    let band = |level: f64| forecast.quantile(level).unwrap_or(&forecast.yhat);
    let (lo95, lo80, hi80, hi95) = (band(0.025), band(0.1), band(0.9), band(0.975));
    let points: Vec<ForecastPointView> = (0..forecast.len())
        .map(|i| ForecastPointView {
            timestamp: format_timestamp(forecast.timestamp(i)),
            yhat: forecast.yhat[i],
            lo80: lo80[i],
            hi80: hi80[i],
            lo95: lo95[i],
            hi95: hi95[i],
        })
        .collect();
    let body = serde_json::to_vec(&ForecastView {
        series: key.as_str(),
        model: &entry.name,
        fitted_at: format_timestamp(entry.fitted_at),
        fit_seconds: entry.fit_seconds,
        training_points: entry.training_points,
        origin: format_timestamp(entry.model.origin()),
        step_seconds: forecast.step,
        horizon: horizon.to_string(),
        points,
    })
    .map_err(|e| ApiError::Internal(format!("rendering the forecast: {e}")))?;
    let rendered = Rendered::json(body);
    let version = Versioned(entry.clone(), first_step(&entry.model, now));
    state.forecasts.put(cache_key, version, rendered.clone());
    Ok(rendered.respond(&headers))
}

/// The forecast answer.
#[derive(Serialize)]
struct ForecastView<'a> {
    series: &'a str,
    model: &'a str,
    fitted_at: String,
    fit_seconds: f64,
    training_points: usize,
    origin: String,
    step_seconds: i64,
    horizon: String,
    points: Vec<ForecastPointView>,
}

/// `GET /api/v1/targets`
async fn list_targets(State(state): State<AppState>) -> Json<serde_json::Value> {
    let targets: serde_json::Map<String, serde_json::Value> = state
        .engine
        .targets()
        .into_iter()
        .map(|(name, target)| (name, serde_json::to_value(&*target).unwrap_or_default()))
        .collect();
    Json(serde_json::json!({ "targets": targets }))
}

fn unknown_target(name: &str) -> ApiError {
    ApiError::NotFound(format!("unknown target {:?}", clip(name)))
}

/// `GET /api/v1/targets/{target}`
async fn get_target(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Target>, ApiError> {
    let target = state
        .engine
        .target(&name)
        .ok_or_else(|| unknown_target(&name))?;
    Ok(Json((*target).clone()))
}

/// `PUT /api/v1/targets/{target}`: the body is a target (same shape as a `[targets.NAME]`
/// table of the config file); answers with the stored target, defaults filled in.
async fn put_target(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Target>), ApiError> {
    let mut json = serde_json::Deserializer::from_slice(&body);
    let target: Target = serde_path_to_error::deserialize(&mut json)
        .map_err(|e| ApiError::BadRequest(format!("invalid target: {}", describe_json_error(e))))?;
    json.end()
        .map_err(|e| ApiError::BadRequest(format!("invalid target: {e}")))?;
    let existed = state.engine.target(&name).is_some();
    let engine = state.engine.clone();
    let stored = target.clone();
    tokio::task::spawn_blocking(move || engine.put_target(&name, stored))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            EngineError::Plan(plan) => ApiError::BadRequest(plan.to_string()),
            limit @ EngineError::TooManyTargets { .. } => ApiError::LimitReached(limit.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(target)))
}

/// `DELETE /api/v1/series/{series}`: the series' history and model are removed (`204`);
/// `409` while a target uses it, `404` when there is no such series.
async fn delete_series(
    State(state): State<AppState>,
    Path(series): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = series_key(series)?;
    let engine = state.engine.clone();
    let lookup = key.clone();
    let existed = tokio::task::spawn_blocking(move || engine.delete_series(&lookup))
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
        .map_err(|e| match e {
            EngineError::InUse { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no series {:?}",
            clip(key.as_str())
        )))
    }
}

/// `DELETE /api/v1/targets/{target}`
async fn delete_target(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine.clone();
    let lookup = name.clone();
    if blocking(move || engine.delete_target(&lookup)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown_target(&name))
    }
}

#[derive(Serialize)]
struct DecisionView {
    replicas: u32,
    load: f64,
    quantile: f64,
    window: WindowView,
    forecast_load: f64,
    observed_load: Option<f64>,
    /// The newest observation's time, and until when the safety net trusts it.
    observed_at: Option<String>,
    observed_trusted_until: Option<String>,
    safety_net: bool,
    reactive_load: Option<f64>,
    reactive_floor: bool,
    stabilized: bool,
    headroom: f64,
    slo: Option<f64>,
    service_level: crate::plan::ServiceLevelReport,
    capacity_per_replica: f64,
    unclamped_replicas: u64,
    clamp: Clamp,
    reason: String,
}

#[derive(Serialize)]
struct WindowView {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct PlanPointView {
    timestamp: String,
    load: f64,
    replicas: u32,
}

/// `GET /api/v1/targets/{target}/plan`: the cached plan and why its current decision is what
/// it is; `503` with the reason when the target has no plan yet.
async fn get_plan(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let target = state
        .engine
        .target(&name)
        .ok_or_else(|| unknown_target(&name))?;
    let Some(plan_state) = state.engine.plan_state(&name) else {
        return Err(ApiError::Unavailable(format!(
            "target {:?} has not been planned yet",
            clip(&name)
        )));
    };
    let (plan, model, fitted_at) = match &*plan_state {
        PlanState::Planned {
            plan,
            model,
            model_fitted_at,
        } => (plan, model, *model_fitted_at),
        PlanState::Unplanned { reason, since } => {
            let down = source_down(&state, &target)
                .map(|down| format!("; {down}"))
                .unwrap_or_default();
            return Err(ApiError::Unavailable(format!(
                "target {:?} has no plan since {}: {reason}{down}",
                clip(&name),
                format_timestamp(*since)
            )));
        }
    };
    let d = &plan.current;
    let current = DecisionView {
        replicas: d.replicas,
        load: d.load,
        quantile: d.quantile,
        window: WindowView {
            start: format_timestamp(d.window_start),
            end: format_timestamp(d.window_end),
        },
        forecast_load: d.forecast_load,
        observed_load: d.observed_load,
        observed_at: d.observed_at.map(format_timestamp),
        observed_trusted_until: d.observed_trusted_until.map(format_timestamp),
        safety_net: d.safety_net,
        reactive_load: d.reactive_load,
        reactive_floor: d.reactive_floor,
        stabilized: d.stabilized,
        headroom: d.service_level.headroom,
        slo: target.slo,
        service_level: d.service_level,
        capacity_per_replica: d.capacity_per_replica,
        unclamped_replicas: d.unclamped_replicas,
        clamp: d.clamp,
        reason: explain(d, &target, source_down(&state, &target)),
    };
    let points: Vec<PlanPointView> = plan
        .points
        .iter()
        .map(|p| PlanPointView {
            timestamp: format_timestamp(p.timestamp),
            load: p.load,
            replicas: p.replicas,
        })
        .collect();
    Ok(Json(serde_json::json!({
        "target": name,
        "series": target.series.as_str(),
        "computed_at": format_timestamp(plan.computed_at),
        "model": model,
        "model_fitted_at": format_timestamp(fitted_at),
        "metric_value": target.metric_value,
        "value": d.metric_value(target.metric_value),
        "current": current,
        "points": points,
        "history": history(&state, &target),
    })))
}

/// Where the target's series comes from: a Prometheus-compatible store it is pulled from (its
/// URL, tenant and whether its last poll succeeded), or prescale's own store (pushed, written by
/// remote_write or imported).
fn history(state: &AppState, target: &Target) -> serde_json::Value {
    match state
        .ingest
        .pulls
        .iter()
        .find(|pull| pull.series == target.series)
    {
        Some(pull) => serde_json::json!({
            "source": "pull",
            "url": pull.url,
            "tenant": pull.tenant,
            "up": pull.down(system_now()).is_none(),
        }),
        None => serde_json::json!({ "source": "local" }),
    }
}

/// Why the pull source feeding `target`'s series is down, if it is.
fn source_down(state: &AppState, target: &Target) -> Option<String> {
    state
        .ingest
        .pulls
        .iter()
        .find(|pull| pull.series == target.series)
        .and_then(|pull| pull.down(system_now()))
}

/// One sentence on why the current decision is what it is.
fn explain(d: &crate::plan::Decision, target: &Target, source_down: Option<String>) -> String {
    let mut why = format!(
        "the q{:.0} forecast peaks at {:.2} between {} and {} (lead time {}), ",
        d.quantile * 100.0,
        d.forecast_load,
        format_timestamp(d.window_start),
        format_timestamp(d.window_end),
        target.lead_time,
    );
    if let Some(slo) = target.slo {
        why.push_str(&format!(
            "including a headroom of {:.3}x adapted to an SLO of {slo} (served so far: {:.4} of \
             {} steps), ",
            d.service_level.headroom, d.service_level.realized, d.service_level.scored_steps
        ));
    }
    if d.safety_net {
        let observed = d.observed_load.unwrap_or_default();
        why.push_str(&format!(
            "but the observed load {observed:.2} is higher and is used instead (safety net), "
        ));
    }
    if d.reactive_floor {
        let floor = d.reactive_load.unwrap_or_default();
        why.push_str(&format!(
            "the reactive floor at utilization {} asks for more ({floor:.2} of capacity), ",
            target.reactive_utilization.unwrap_or(1.0)
        ));
    }
    if d.stabilized {
        why.push_str(&format!(
            "a higher recommendation in the last {} holds the scale-down, ",
            target.scale_down_stabilization
        ));
    }
    why.push_str(&format!(
        "at {} per replica that is {} replica(s)",
        d.capacity_per_replica, d.unclamped_replicas
    ));
    match d.clamp {
        Clamp::None => {}
        Clamp::Min => why.push_str(&format!(", raised to min_replicas {}", target.min_replicas)),
        Clamp::Max => why.push_str(&format!(", capped at max_replicas {}", target.max_replicas)),
    }
    if target.metric_value == MetricValue::Load {
        why.push_str(&format!("; the published load is {:.3}", d.load));
    }
    match (d.observed_at, d.observed_trusted_until) {
        (Some(at), Some(until)) if d.observed_load.is_none() => why.push_str(&format!(
            "; the newest observation ({}) was trusted until {}, so the safety net{} is off",
            format_timestamp(at),
            format_timestamp(until),
            if target.reactive_utilization.is_some() {
                " and the reactive floor"
            } else {
                ""
            }
        )),
        (None, _) => why.push_str("; no observation yet, so the safety net is off"),
        _ => {}
    }
    if let Some(down) = source_down {
        why.push_str(&format!("; {down}"));
    }
    why
}
