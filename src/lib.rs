//! prescale — predictive autoscaling: learn each service's traffic from its own history and
//! publish the replica count it will need once a new pod has had time to start.
//!
//! # Layout
//!
//! The flow of one datum, left to right; arrows point one way (`app → api → engine → live →
//! {forecast, plan} → series`, `engine → store → series`). See `ARCHITECTURE.md` for the
//! invariants and where to start reading, `DESIGN.md` for the contracts.
//!
//! - [`app`]: the running service as one value — `Service::start` opens the store, builds the
//!   engine, binds the ports and spawns every task; `Running::shutdown` stops and awaits them.
//!   (The binary's `cli` modules, one per command, parse flags and call into the library.)
//! - [`series`]: core types — series keys, samples, regular grids with gaps, durations, the
//!   dataset CSV reader.
//! - [`collect`]: outside input (JSON push, CSV import) turned into validated samples.
//! - [`store`]: durable history in sled, as compressed blocks per series; targets; a check of
//!   every stored block (`prescale check`).
//! - [`forecast`]: models behind one fit/predict split, with prediction intervals (pure).
//! - [`plan`]: forecast + target → replica targets ahead of time: lead time, headroom (fixed, or
//!   adapted to an SLO), safety net and reactive floor, stabilization, clamp (pure).
//! - [`live`]: one refit/plan cycle — when to refit, what a fit sees, what a failed fit keeps,
//!   the forecast a plan reads — run by the engine and replayed by the backtest (pure).
//! - [`engine`]: the running service's loops — periodic refit and re-plan — and the cache of the
//!   latest forecasts and plans (one writer, many readers).
//! - [`api`]: the axum routers — REST, remote_write, `/metrics`, health — and the external
//!   metrics provider the HPA (through `api::k8s`, a kit for serving a Kubernetes aggregated
//!   API server) and the KEDA scaler read; who may call (`api::auth`) and the bounds of every
//!   connection (`api::connections`).
//! - [`backtest`]: replay a recorded trace offline — rolling-origin accuracy and a scaling
//!   simulation of prescale against a reactive HPA and a perfect-foresight oracle (pure).
//! - [`config`]: one validated `Config` from defaults, a TOML file and flags.
//! - [`demo`]: `serve --demo` — a bundled real trace as history ending now, replayed live.
//! - [`monitor`]: forecasts at `now + lead_time`, forecast errors and decision reasons, as
//!   one snapshot per re-plan for `/metrics`, and the facts the alerts evaluate.
//! - [`alerts`]: forecast-miss, capacity and model alerts, once per incident, to webhooks.
//! - [`train`]: `prescale train` — fit a model on a dataset and save it as a model file under
//!   `models/`; read model files back for `serve`.
//! - [`replay`]: `prescale replay` — a bundled trace served as a live Prometheus metric at an
//!   accelerated clock (the docker-compose demo's workload).

pub mod alerts;
pub mod api;
pub mod app;
pub mod backtest;
pub mod collect;
pub mod config;
pub mod demo;
pub mod engine;
pub mod forecast;
pub mod live;
pub mod monitor;
pub mod plan;
pub mod replay;
pub mod series;
pub mod store;
pub mod train;
