//! The KEDA external scaler through its real interface: a tonic gRPC client (the code KEDA's
//! protocol generates) against `prescale serve --keda-listen`, and a check that the committed
//! generated code still matches `proto/externalscaler.proto`.

mod common;

use std::time::Duration;

use common::{Server, client, now};
use prescale::api::keda::externalscaler::external_scaler_client::ExternalScalerClient;
use prescale::api::keda::externalscaler::{GetMetricsRequest, ScaledObjectRef};
use tokio_stream::StreamExt;
use tonic::Code;

const GENERATED: &str = "src/api/keda/externalscaler.rs";
const HEADER: &str = "//! Generated from `proto/externalscaler.proto` by `tests/keda.rs` \
                      (`generated_code_is_current`): do not edit; run that test with\n\
                      //! `PRESCALE_REGENERATE=1` after changing the proto.\n\n";

/// Regenerates the gRPC code with tonic-prost-build and the pure-Rust protox compiler (no
/// protoc) and compares it with the committed file; `PRESCALE_REGENERATE=1` rewrites it.
#[test]
fn generated_code_is_current() {
    let out = tempfile::tempdir().unwrap();
    let descriptors = protox::compile(["externalscaler.proto"], ["proto"]).expect("proto compiles");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::api::keda::codec::ProtobufCodec")
        .emit_rerun_if_changed(false)
        .out_dir(out.path())
        .compile_fds(descriptors)
        .expect("code generation");
    let generated = std::fs::read_to_string(out.path().join("externalscaler.rs")).unwrap();
    let expected = format!("{HEADER}{generated}");
    if std::env::var_os("PRESCALE_REGENERATE").is_some() {
        std::fs::write(GENERATED, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(GENERATED).unwrap_or_default();
    assert!(
        committed == expected,
        "{GENERATED} is stale: run `PRESCALE_REGENERATE=1 cargo test --test keda \
         generated_code_is_current`"
    );
}

const CONFIG: &str = r#"
replan_interval = "1s"

[targets.web]
series = "web_rps"
capacity_per_replica = 20
min_replicas = 3
max_replicas = 30

[targets.web-load]
series = "web_rps"
capacity_per_replica = 20
min_replicas = 2
max_replicas = 30
metric_value = "load"

[targets.idle]
series = "idle_rps"
capacity_per_replica = 5
min_replicas = 0
max_replicas = 4
"#;

fn object(target: Option<&str>) -> ScaledObjectRef {
    ScaledObjectRef {
        name: "checkout".to_string(),
        namespace: "shop".to_string(),
        scaler_metadata: target
            .map(|t| [("target".to_string(), t.to_string())].into())
            .unwrap_or_default(),
    }
}

async fn metric(client: &mut ExternalScalerClient<tonic::transport::Channel>, target: &str) -> f64 {
    let reply = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(object(Some(target))),
            metric_name: format!("s0-{target}"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.metric_values.len(), 1);
    assert_eq!(reply.metric_values[0].metric_name, format!("s0-{target}"));
    reply.metric_values[0].metric_value_float
}

/// `serve` with CONFIG and the KEDA port (data under `dir`): the server and the port's address.
fn start_scaler(dir: &std::path::Path) -> (Server, String) {
    let config = dir.join("prescale.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(
        &dir.join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--keda-listen",
            "127.0.0.1:0",
            "--no-tls",
        ],
    );
    let address = server.logged_field("grpc_address").expect("gRPC address");
    (server, address)
}

#[tokio::test]
async fn keda_reads_specs_metrics_and_activity_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = start_scaler(dir.path());
    let mut scaler = ExternalScalerClient::connect(format!("http://{address}"))
        .await
        .unwrap();

    // The metric spec: a target of 1 per replica, or the capacity per replica for load.
    let spec = scaler
        .get_metric_spec(object(Some("web")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    assert_eq!(spec.metric_specs[0].metric_name, "web");
    assert_eq!(spec.metric_specs[0].target_size_float, 1.0);
    assert_eq!(spec.metric_specs[0].target_size, 1);
    let spec = scaler
        .get_metric_spec(object(Some("web-load")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs[0].target_size_float, 20.0);

    // No data yet: the safe fallback (min_replicas, or its load), never nothing.
    assert_eq!(metric(&mut scaler, "web").await, 3.0);
    assert_eq!(metric(&mut scaler, "web-load").await, 40.0);
    assert!(
        scaler
            .is_active(object(Some("web")))
            .await
            .unwrap()
            .into_inner()
            .result
    );
    assert!(
        !scaler
            .is_active(object(Some("idle")))
            .await
            .unwrap()
            .into_inner()
            .result
    );

    // The push stream answers at once.
    let mut stream = scaler
        .stream_is_active(object(Some("web")))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("StreamIsActive answers at once")
        .unwrap()
        .unwrap();
    assert!(first.result);
    drop(stream);

    // Bad references: gRPC status codes naming the problem.
    let status = scaler.is_active(object(None)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("target"), "{status:?}");
    let status = scaler
        .get_metric_spec(object(Some("nope")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = scaler
        .stream_is_active(object(Some("nope")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let mut bad_namespace = object(Some("web"));
    bad_namespace.namespace = "Not_A_Namespace".to_string();
    let status = scaler.is_active(bad_namespace).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // With history, the value is the plan's: what the external metrics API publishes.
    let samples = common::daily_samples(now(), 3 * 1440);
    for chunk in samples.chunks(1000) {
        common::push_samples(&server, "web_rps", chunk).await;
    }
    let plan = common::wait_for_200(
        &server.url("/api/v1/targets/web/plan"),
        Duration::from_secs(120),
    )
    .await;
    let planned = plan["current"]["replicas"].as_f64().unwrap();
    let value = metric(&mut scaler, "web").await;
    let after = client()
        .get(server.url("/api/v1/targets/web/plan"))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["current"]["replicas"]
        .as_f64()
        .unwrap();
    assert!(
        value == planned || value == after,
        "GetMetrics {value} is not the plan ({planned} / {after})"
    );
}

/// One gRPC call with a hand-made body over HTTP/2: the `grpc-status` and `grpc-message` of the
/// answer (a trailers-only answer carries them in its headers).
async fn raw_call(address: &str, method: &str, body: Vec<u8>) -> (String, String) {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(format!(
            "http://{address}/externalscaler.ExternalScaler/{method}"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (header("grpc-status"), header("grpc-message"))
}

#[tokio::test]
async fn a_request_that_is_not_protobuf_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = start_scaler(dir.path());
    // A whole, uncompressed gRPC frame whose 6 bytes are not a protobuf message (field 0 and a
    // truncated varint).
    let garbage = [0xff_u8, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(garbage.len() as u32).to_be_bytes());
    frame.extend_from_slice(&garbage);
    for method in ["IsActive", "GetMetricSpec", "GetMetrics", "StreamIsActive"] {
        let (status, message) = raw_call(&address, method, frame.clone()).await;
        // 3 is INVALID_ARGUMENT (13, INTERNAL, before).
        assert_eq!(status, "3", "{method}: {message}");
        // `grpc-message` is percent-encoded.
        let message = percent_encoding::percent_decode_str(&message).decode_utf8_lossy();
        assert!(
            message.contains("not a valid protobuf message of type externalscaler."),
            "{method}: {message}"
        );
    }
    // A well-formed request still works on the same server.
    let mut scaler = ExternalScalerClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    assert_eq!(metric(&mut scaler, "web").await, 3.0);
}
