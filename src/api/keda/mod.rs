//! A KEDA external scaler (gRPC, `externalscaler.ExternalScaler`), for clusters where KEDA
//! already owns `v1beta1.external.metrics.k8s.io` and prescale cannot register its own
//! APIService: KEDA calls prescale, then serves the numbers through its own metrics server.
//!
//! The ScaledObject's trigger names the target in its metadata:
//!
//! ```yaml
//! triggers:
//! - type: external            # or external-push, which uses StreamIsActive
//!   metadata:
//!     scalerAddress: prescale.prescale.svc:9090
//!     target: checkout
//! ```
//!
//! - `GetMetricSpec`: one metric named after the target, with a target size of `1` for
//!   `metric_value = "replicas"` (the HPA KEDA creates then asks for exactly the planned count)
//!   or `capacity_per_replica` for `"load"`;
//! - `GetMetrics`: the value the external metrics API would publish now — the plan's, or the
//!   safe fallback without one — from the same [`Provider`] (with the selector that matches
//!   everything: the trigger names the target, not a label set);
//! - `IsActive`: whether that value is above zero (KEDA scales an inactive workload to its
//!   `minReplicaCount`, which may be zero);
//! - `StreamIsActive`: the same answer at once, then again whenever it changes (checked every
//!   replanning interval), until KEDA hangs up or the target is deleted.
//!
//! Errors are gRPC statuses: `InvalidArgument` for a trigger without `target` (or an impossible
//! namespace) and for a request that is not a valid protobuf message ([`codec`]), `NotFound`
//! for an unknown target. The code under `externalscaler` is generated
//! from `proto/externalscaler.proto` and committed (see that file).

pub mod codec;
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod externalscaler;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::connections::{self, ConnectionSettings};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status};

use super::k8s::selector::Selector;
use super::provider::{Provider, Unserved};
use super::state::AppState;
use crate::plan::{MetricValue, Target, check_namespace};
use externalscaler::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue as KedaMetricValue, ScaledObjectRef,
};

/// The trigger metadata key naming the prescale target.
pub const TARGET_KEY: &str = "target";

/// The gRPC service over the external metrics provider.
#[derive(Clone)]
pub struct Scaler {
    provider: Provider,
    /// How often `StreamIsActive` asks again: the replanning interval, within 1 s to 1 min.
    period: Duration,
    /// Ends the `StreamIsActive` streams on shutdown.
    token: CancellationToken,
    /// Where the streams' tasks run, so that shutdown awaits them.
    tasks: TaskTracker,
}

impl Scaler {
    /// The scaler over `state`; its streams stop when `token` is cancelled, their tasks
    /// spawned on `tasks`.
    pub fn new(state: AppState, token: CancellationToken, tasks: TaskTracker) -> Scaler {
        let replan = state.engine.settings().replan_interval.seconds();
        Scaler {
            provider: Provider::new(&state),
            period: Duration::from_secs(replan.clamp(1, 60) as u64),
            token,
            tasks,
        }
    }

    /// The target a ScaledObject's trigger names.
    fn resolve(&self, object: &ScaledObjectRef) -> Result<(String, Arc<Target>), Status> {
        let Some(name) = object.scaler_metadata.get(TARGET_KEY) else {
            return Err(Status::invalid_argument(format!(
                "ScaledObject {}/{}: the trigger's metadata must name a prescale target \
                 (`{TARGET_KEY}: NAME`)",
                crate::series::clip(&object.namespace),
                crate::series::clip(&object.name)
            )));
        };
        if !object.namespace.is_empty() {
            check_namespace(&object.namespace).map_err(Status::invalid_argument)?;
        }
        let target = self
            .provider
            .target(name)
            .map_err(|unserved| not_served(object, name, unserved))?;
        Ok((name.clone(), target))
    }

    /// The value the external metrics API publishes now for the trigger's target.
    async fn value(&self, object: &ScaledObjectRef) -> Result<(String, f64), Status> {
        let (name, _) = self.resolve(object)?;
        let published = self
            .provider
            .value(&object.namespace, &name, &Selector::default())
            .await
            .map_err(|unserved| not_served(object, &name, unserved))?;
        Ok((name, published.value))
    }
}

/// The gRPC status for a target the provider does not serve.
fn not_served(object: &ScaledObjectRef, name: &str, unserved: Unserved) -> Status {
    match unserved {
        Unserved::UnknownMetric => Status::not_found(format!(
            "no prescale target {:?} (named by ScaledObject {}/{})",
            crate::series::clip(name),
            crate::series::clip(&object.namespace),
            crate::series::clip(&object.name)
        )),
        // The empty selector matches every label set.
        Unserved::NoMatch { .. } => Status::internal("the empty selector matched nothing"),
    }
}

/// The per-replica target KEDA's HPA divides the metric by.
fn target_size(target: &Target) -> f64 {
    match target.metric_value {
        MetricValue::Replicas => 1.0,
        MetricValue::Load => target.capacity_per_replica,
    }
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Scaler {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let (_, value) = self.value(request.get_ref()).await?;
        Ok(Response::new(IsActiveResponse {
            result: value > 0.0,
        }))
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<ActiveStream>, Status> {
        let object = request.into_inner();
        self.resolve(&object)?;
        let (send, receive) = mpsc::channel(4);
        let scaler = self.clone();
        let period = self.period;
        self.tasks.spawn(async move {
            let mut last = None;
            loop {
                let answer = scaler.value(&object).await.map(|(_, value)| value > 0.0);
                let failed = answer.is_err();
                if answer.as_ref().ok() != last.as_ref() {
                    last = answer.as_ref().ok().copied();
                    let message = answer.map(|result| IsActiveResponse { result });
                    if send.send(message).await.is_err() {
                        return; // KEDA hung up.
                    }
                }
                if failed {
                    return; // The target is gone: the status above ends the stream.
                }
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = send.closed() => return,
                    () = scaler.token.cancelled() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receive))))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let (name, target) = self.resolve(request.get_ref())?;
        let size = target_size(&target);
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: name,
                target_size: size.round().max(1.0) as i64,
                target_size_float: size,
            }],
        }))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let request = request.into_inner();
        let object = request.scaled_object_ref.unwrap_or_default();
        let (name, value) = self.value(&object).await?;
        let metric_name = if request.metric_name.is_empty() {
            name
        } else {
            request.metric_name
        };
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![KedaMetricValue {
                metric_name,
                metric_value: value.ceil() as i64,
                metric_value_float: value,
            }],
        }))
    }
}

/// How often the scaler pings a quiet HTTP/2 connection, and how long it waits for the answer.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The most calls (streams) one connection may have open at once.
const MAX_STREAMS: u32 = 128;

/// Serves the scaler on `tcp` within `settings` (the connection limit and idle timeout of
/// [`connections`]) until `token` is cancelled (then lets the calls in flight end), spawning
/// its streams' tasks on `tasks`.
pub async fn serve(
    tcp: TcpListener,
    state: AppState,
    settings: ConnectionSettings,
    token: CancellationToken,
    tasks: TaskTracker,
) {
    let incoming = connections::limited(tcp, settings, "keda", token.clone(), &tasks);
    let service = ExternalScalerServer::new(Scaler::new(state, token.clone(), tasks));
    let outcome = tonic::transport::Server::builder()
        // A live peer answers these pings; one that stopped is closed (and the idle timeout of
        // the connection closes one that never spoke).
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(Some(MAX_STREAMS))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
        .await;
    if let Err(error) = outcome {
        tracing::error!(%error, "the KEDA external scaler stopped");
    }
}

impl tonic::transport::server::Connected for connections::Limited {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(self.remote()),
        }
    }
}
