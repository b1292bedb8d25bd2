//! The Kubernetes TLS port as the aggregation layer meets it: HTTPS with certificates made in
//! the test, front-proxy client-certificate authentication, the full API surface (discovery,
//! OpenAPI, label selectors, content negotiation, `Status` errors), certificate rotation, and
//! the start-up errors for certificates that cannot be loaded.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::{Ca, https_client, start_aggregated};
use common::{BIN, Server};
use serde_json::Value;

const CONFIG: &str = r#"
replan_interval = "1s"

[targets.web]
series = "web_rps"
capacity_per_replica = 10
min_replicas = 3
max_replicas = 9
labels = { env = "prod", tier = "3" }
"#;

fn config(dir: &Path) -> String {
    let path = dir.join("prescale.toml");
    std::fs::write(&path, CONFIG).unwrap();
    path.display().to_string()
}

/// GET `path` on `base`, with extra headers; `(status, JSON or text)` or the client's error.
async fn get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, Value), reqwest::Error> {
    let mut request = client.get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn tls_base(server: &Server) -> String {
    let address = server
        .logged_field("tls_address")
        .expect("the server logs its TLS address");
    format!("https://{address}")
}

const METRIC: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/web";

#[tokio::test]
async fn front_proxy_certificates_are_required_and_the_api_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let serving_ca = Ca::new("serving-ca");
    let front_proxy_ca = Ca::new("front-proxy-ca");
    let stranger_ca = Ca::new("stranger-ca");
    let (cert, key) = serving_ca.server().write(dir.path(), "serving");
    let client_ca = front_proxy_ca.write(dir.path(), "front-proxy-ca");
    let config = config(dir.path());
    let server = start_aggregated(
        dir.path(),
        Path::new(&config),
        (&cert, &key),
        &client_ca,
        "front-proxy-client,aggregator",
    )
    .await;
    let base = tls_base(&server);
    server.wait_for_log(
        &["front-proxy client certificates (with X-Remote-User)"],
        Duration::ZERO,
    );
    assert!(
        !server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("UNAUTHENTICATED"))
    );

    // The aggregator: the front-proxy certificate, the user in X-Remote-User.
    let proxy = https_client(
        &serving_ca.pem,
        Some(&front_proxy_ca.client("front-proxy-client")),
    );
    let as_hpa = [
        (
            "X-Remote-User",
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        ),
        ("X-Remote-Group", "system:serviceaccounts"),
        ("X-Remote-Group", "system:authenticated"),
    ];
    let (status, groups) = get(&proxy, &base, "/apis", &as_hpa).await.unwrap();
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups["kind"], "APIGroupList");
    assert_eq!(groups["groups"][0]["name"], "external.metrics.k8s.io");
    let line = server.wait_for_log(
        &[
            "Kubernetes API request",
            "horizontal-pod-autoscaler",
            "front-proxy-client",
        ],
        Duration::from_secs(5),
    );
    assert!(line.contains("system:authenticated"), "{line}");

    let (status, group) = get(&proxy, &base, "/apis/external.metrics.k8s.io", &as_hpa)
        .await
        .unwrap();
    assert_eq!((status, group["kind"].as_str()), (200, Some("APIGroup")));
    let (status, resources) = get(
        &proxy,
        &base,
        "/apis/external.metrics.k8s.io/v1beta1",
        &as_hpa,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(resources["kind"], "APIResourceList");
    assert_eq!(resources["resources"][0]["name"], "web");
    assert_eq!(resources["resources"][0]["kind"], "ExternalMetricValueList");

    // The metric, with label selectors as the HPA sends them.
    for selector in [
        "",
        "target=web",
        "target%3Dweb%2Cenv%3Dprod",
        "env%20in%20(prod%2Cstaging)%2C!canary",
        "tier%3E2%2Cenv!%3Ddev",
    ] {
        let path = format!("{METRIC}?labelSelector={selector}");
        let (status, list) = get(&proxy, &base, &path, &as_hpa).await.unwrap();
        assert_eq!(status, 200, "{selector}: {list}");
        assert_eq!(list["kind"], "ExternalMetricValueList");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["metricName"], "web");
        assert_eq!(items[0]["value"], "3", "no data yet: min_replicas");
        assert_eq!(items[0]["metricLabels"]["env"], "prod");
        assert_eq!(items[0]["metricLabels"]["target"], "web");
    }
    // A selector that matches no label set of the target: NotFound, never an empty list.
    let (status, body) = get(
        &proxy,
        &base,
        &format!("{METRIC}?labelSelector=env%3Ddev"),
        &as_hpa,
    )
    .await
    .unwrap();
    assert_eq!(
        (status, body["reason"].as_str()),
        (404, Some("NotFound")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("env=prod"),
        "{body}"
    );
    // A selector that does not parse: BadRequest.
    for bad in ["env%20in%20prod", "env%3D%3D%3Dx", "-x%3D1", "tier%3Eten"] {
        let (status, body) = get(
            &proxy,
            &base,
            &format!("{METRIC}?labelSelector={bad}"),
            &as_hpa,
        )
        .await
        .unwrap();
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "BadRequest");
        assert_eq!(body["code"], 400);
    }
    // Unknown metric, impossible namespace, unknown path: NotFound `Status`es.
    for path in [
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/nope",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/Not_A_Namespace/web",
        "/apis/custom.metrics.k8s.io/v1beta2",
        "/openapi/v3/apis/nope",
        "/no/such/path",
    ] {
        let (status, body) = get(&proxy, &base, path, &as_hpa).await.unwrap();
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["kind"], "Status", "{path}");
    }

    // Aggregated discovery alone is not acceptable; with the legacy form as a fallback it is.
    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    let aggregated = format!("{v2},{v2beta1}");
    for path in ["/apis", "/apis/external.metrics.k8s.io/v1beta1"] {
        let (status, body) = get(&proxy, &base, path, &[("Accept", &aggregated), as_hpa[0]])
            .await
            .unwrap();
        assert_eq!(status, 406, "{path}: {body}");
        assert_eq!(body["kind"], "Status");
        let both = format!("{aggregated},application/json");
        let (status, body) = get(&proxy, &base, path, &[("Accept", &both), as_hpa[0]])
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }

    // OpenAPI documents, validated by a real OpenAPI validator when scripts/test.sh gives one.
    let mut documents = Vec::new();
    for path in ["/openapi/v2", "/openapi/v3"] {
        let (status, document) = get(&proxy, &base, path, &as_hpa).await.unwrap();
        assert_eq!(status, 200, "{path}: {document}");
        documents.push((path.to_string(), document));
    }
    assert_eq!(documents[0].1["swagger"], "2.0");
    let v3 = documents[1].1["paths"]["apis/external.metrics.k8s.io/v1beta1"]["serverRelativeURL"]
        .as_str()
        .expect("the v3 index names the group-version document")
        .to_string();
    let (status, document) = get(&proxy, &base, &v3, &as_hpa).await.unwrap();
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["openapi"], "3.0.0");
    documents.push((v3, document));
    validate_openapi(dir.path(), &documents[..1]);
    validate_openapi(dir.path(), &documents[2..]);

    // Refusals: no certificate, a name not allowed, a certificate from another CA.
    let anonymous = https_client(&serving_ca.pem, None);
    let (status, body) = get(&anonymous, &base, METRIC, &[]).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["reason"], "Unauthorized");
    let intruder = https_client(&serving_ca.pem, Some(&front_proxy_ca.client("intruder")));
    let (status, body) = get(&intruder, &base, METRIC, &as_hpa).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("intruder"),
        "{body}"
    );
    let stranger = https_client(
        &serving_ca.pem,
        Some(&stranger_ca.client("front-proxy-client")),
    );
    let refused = get(&stranger, &base, METRIC, &as_hpa).await;
    assert!(
        refused.is_err(),
        "a certificate from an unknown CA must be refused: {refused:?}"
    );
    // The front proxy's certificate without the user it vouches for authenticates nobody.
    let (status, body) = get(&proxy, &base, METRIC, &[]).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("X-Remote-User"),
        "{body}"
    );
    // Probes need no certificate, and name no target there.
    let (status, _) = get(&anonymous, &base, "/healthz", &[]).await.unwrap();
    assert_eq!(status, 200);
    let (_, ready) = get(&anonymous, &base, "/readyz", &[]).await.unwrap();
    assert!(ready["status"].is_string(), "{ready}");
    assert!(!ready.to_string().contains("web"), "{ready}");
    // The plain port still serves the Kubernetes paths.
    let plain = common::client();
    let (status, list) = get(&plain, &server.url, METRIC, &[]).await.unwrap();
    assert_eq!(
        (status, list["items"][0]["value"].as_str()),
        (200, Some("3"))
    );
}

/// Writes the documents to files and runs `$PRESCALE_OPENAPI_VALIDATOR` (openapi-spec-validator,
/// installed by scripts/test.sh) on them; without it, only the structural checks above ran.
fn validate_openapi(dir: &Path, documents: &[(String, Value)]) {
    let Some(validator) = std::env::var_os("PRESCALE_OPENAPI_VALIDATOR") else {
        eprintln!("PRESCALE_OPENAPI_VALIDATOR unset: OpenAPI documents checked structurally only");
        return;
    };
    for (index, (path, document)) in documents.iter().enumerate() {
        let file = dir.join(format!("openapi-{index}.json"));
        std::fs::write(&file, document.to_string()).unwrap();
        let out = Command::new(&validator).arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{path} is not a valid OpenAPI document:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The DER of the certificate the server presents to a new client (a new connection, so a
/// handshake now, not a pooled connection from before a rotation) trusting only `ca`.
async fn presented(ca: &str, base: &str) -> Result<Vec<u8>, reqwest::Error> {
    let response = https_client(ca, None)
        .get(format!("{base}/apis"))
        .send()
        .await?;
    read_presented(response)
}

fn read_presented(response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls_info is on");
    Ok(info
        .peer_certificate()
        .expect("a server certificate")
        .to_vec())
}

#[tokio::test]
async fn rotated_certificates_are_served_and_a_broken_rotation_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let first_ca = Ca::new("first-ca");
    let second_ca = Ca::new("second-ca");
    let (cert, key) = first_ca.server().write(dir.path(), "serving");
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-private-key-file",
            key.to_str().unwrap(),
            "--tls-reload-interval",
            "1s",
        ],
    );
    let base = tls_base(&server);
    // No client CA: said loudly.
    server.wait_for_log(&["UNAUTHENTICATED"], Duration::ZERO);
    let original = presented(&first_ca.pem, &base).await.unwrap();

    // A broken rotation (half-written certificate): logged, the old certificate stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    server.wait_for_log(
        &["still serving the previous certificate"],
        Duration::from_secs(10),
    );
    assert_eq!(presented(&first_ca.pem, &base).await.unwrap(), original);

    // A real rotation (as the kubelet swaps a Secret: both files at once).
    let next = second_ca.server();
    let staging = tempfile::tempdir_in(dir.path()).unwrap();
    let (new_cert, new_key) = next.write(staging.path(), "serving");
    std::fs::rename(&new_key, &key).unwrap();
    std::fs::rename(&new_cert, &cert).unwrap();
    server.wait_for_log(&["new certificate in service"], Duration::from_secs(10));
    let started = Instant::now();
    let rotated = loop {
        match presented(&second_ca.pem, &base).await {
            Ok(der) => break der,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the rotated certificate is not served: {e}"),
        }
    };
    assert_ne!(rotated, original);
    assert!(presented(&first_ca.pem, &base).await.is_err());

    // Files gone: logged, the rotated certificate stays in service.
    std::fs::remove_file(&cert).unwrap();
    server.wait_for_log(&["cannot be read", "serving.crt"], Duration::from_secs(10));
    assert_eq!(presented(&second_ca.pem, &base).await.unwrap(), rotated);
}

#[tokio::test]
async fn a_self_signed_certificate_is_generated_when_none_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--tls-listen", "127.0.0.1:0"]);
    let base = tls_base(&server);
    server.wait_for_log(&["self-signed"], Duration::ZERO);
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .unwrap();
    let der = read_presented(client.get(format!("{base}/apis")).send().await.unwrap()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(cert.subject().to_string().contains("self-signed"));
    let names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("localhost")), "{names:?}");
    // Without a CA the certificate is not trusted, as it should not be.
    assert!(
        https_client(&Ca::new("x").pem, None)
            .get(&base)
            .send()
            .await
            .is_err()
    );
}

#[test]
fn unloadable_certificates_stop_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let (cert, key) = ca.server().write(dir.path(), "serving");
    let (_, other_key) = ca.server().write(dir.path(), "other");
    let tls = ["--tls-listen", "127.0.0.1:0"];
    let with = |cert: &Path, key: &Path| {
        let mut args = tls.to_vec();
        args.extend([
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-private-key-file",
            key.to_str().unwrap(),
        ]);
        common::failed_start(dir.path(), &args)
    };
    let missing = dir.path().join("missing.crt");
    let err = with(&missing, &key);
    assert!(
        err.contains("missing.crt") && err.contains("cannot read"),
        "{err}"
    );
    let err = with(&cert, &other_key);
    assert!(err.contains("does not fit"), "{err}");
    let mut args = tls.to_vec();
    let absent_ca = dir.path().join("absent-ca.crt");
    args.extend([
        "--requestheader-client-ca-file",
        absent_ca.to_str().unwrap(),
    ]);
    let err = common::failed_start(dir.path(), &args);
    assert!(err.contains("absent-ca.crt"), "{err}");
    // A certificate without its key is a usage error.
    let err = common::failed_start(dir.path(), &["--tls-cert-file", cert.to_str().unwrap()]);
    assert!(err.contains("--tls-private-key-file"), "{err}");
}

/// A stand-in for the kube-apiserver's ConfigMap endpoint, over TLS (served with prescale's own
/// TLS listener), answering only the service account's token. Returns its port.
async fn fake_api_server(
    dir: &Path,
    cluster_ca: &Ca,
    config_map: Value,
    stop: tokio_util::sync::CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> u16 {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let app = axum::Router::new().route(
        "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication",
        axum::routing::get(move |headers: HeaderMap| async move {
            let authorized = headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer service-account-token");
            if authorized {
                axum::Json(config_map).into_response()
            } else {
                let status = serde_json::json!({
                    "kind": "Status", "status": "Failure", "code": 401,
                    "reason": "Unauthorized", "message": "Unauthorized",
                });
                (StatusCode::UNAUTHORIZED, axum::Json(status)).into_response()
            }
        }),
    );
    common::pki::serve_fake_api_server(dir, cluster_ca, app, stop, tasks).await
}

// Multi-threaded: the fake API server must answer while the test blocks waiting for prescale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_proxy_ca_and_names_are_read_from_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_ca = Ca::new("cluster-ca");
    let front_proxy_ca = Ca::new("front-proxy-ca");
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let config_map = serde_json::json!({
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": {
            "requestheader-client-ca-file": front_proxy_ca.pem,
            "requestheader-allowed-names": "[\"front-proxy-client\"]",
            "requestheader-username-headers": "[\"X-Remote-User\"]",
        },
    });
    let port = fake_api_server(dir.path(), &cluster_ca, config_map, stop, &tasks).await;
    let account = common::pki::service_account(dir.path(), "service-account-token", &cluster_ca);
    let ca_file = dir.path().join("front-proxy-ca.crt");
    let port = port.to_string();
    let env = [
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", port.as_str()),
        ("PRESCALE_SERVICE_ACCOUNT_DIR", account.to_str().unwrap()),
    ];
    let args = [
        "--tls-listen",
        "127.0.0.1:0",
        "--requestheader-from-cluster",
        "--requestheader-client-ca-file",
        ca_file.to_str().unwrap(),
    ];
    let server = Server::start_with_env(&dir.path().join("data"), &args, &env);
    server.wait_for_log(
        &["read from kube-system/extension-apiserver-authentication"],
        Duration::ZERO,
    );
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap(),
        front_proxy_ca.pem
    );
    let base = tls_base(&server);

    // Self-signed serving certificate: the client skips verification, as the APIService does.
    let client = |common_name: &str| {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .identity(front_proxy_ca.client(common_name).identity())
            .build()
            .unwrap()
    };
    let user = [("X-Remote-User", "system:kube-controller-manager")];
    let (status, body) = get(&client("front-proxy-client"), &base, "/apis", &user)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // The allowed names came from the ConfigMap too.
    let (status, body) = get(&client("someone-else"), &base, "/apis", &user)
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
    drop(server);

    // A token the API server refuses: the start fails and says why.
    std::fs::write(account.join("token"), "stale-token").unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data2"))
        .args(args)
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
                    .unwrap();
                return (status, stderr);
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("prescale did not stop");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(!status.0.success());
    assert!(
        status.1.contains("--requestheader-from-cluster") && status.1.contains("401"),
        "{}",
        status.1
    );
}
