//! `[auth] kubernetes = true` through the real binary, against a fake Kubernetes API server
//! (TLS, the pod's service account token required) that answers `TokenReview` and
//! `SubjectAccessReview` as a cluster with RBAC would: a ServiceAccount token may push, an
//! operator may change one target only, unknown tokens are refused, answers are cached, tokens
//! from the file need no review, and a cluster that cannot answer is a `503`.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::pki::Ca;
use common::{Server, now, push_body};
use serde_json::{Value, json};

const SERVICE_ACCOUNT_TOKEN: &str = "prescale-own-service-account-token";
const PROMETHEUS: &str = "prometheus-service-account-token";
const OPERATOR: &str = "operator-service-account-token";
const FILE_ADMIN: &str = "file-admin-0123456789abcdef";

#[derive(Default)]
struct Cluster {
    token_reviews: AtomicUsize,
    access_reviews: AtomicUsize,
    /// The attributes of every SubjectAccessReview: (user, verb, resource, name).
    asked: Mutex<Vec<(String, String, String, String)>>,
    failing: AtomicBool,
}

fn refused(status: StatusCode, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": status.as_u16(), "reason": reason, "message": reason});
    (status, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .is_some_and(|v| v.to_str().unwrap() == format!("Bearer {SERVICE_ACCOUNT_TOKEN}"))
}

async fn token_review(
    State(cluster): State<Arc<Cluster>>,
    headers: HeaderMap,
    Json(review): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if cluster.failing.load(Ordering::SeqCst) {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    }
    cluster.token_reviews.fetch_add(1, Ordering::SeqCst);
    let user = match review["spec"]["token"].as_str() {
        Some(PROMETHEUS) => Some((
            "system:serviceaccount:monitoring:prometheus",
            "system:serviceaccounts",
        )),
        Some(OPERATOR) => Some((
            "system:serviceaccount:ops:deployer",
            "system:serviceaccounts",
        )),
        _ => None,
    };
    let status = match user {
        Some((name, group)) => json!({"authenticated": true,
            "user": {"username": name, "uid": "1234", "groups": [group, "system:authenticated"]}}),
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    Json(
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": review["spec"], "status": status}),
    )
    .into_response()
}

async fn access_review(
    State(cluster): State<Arc<Cluster>>,
    headers: HeaderMap,
    Json(review): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    cluster.access_reviews.fetch_add(1, Ordering::SeqCst);
    let spec = &review["spec"];
    let attributes = &spec["resourceAttributes"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let (user, verb, resource, name) = (
        text(&spec["user"]),
        text(&attributes["verb"]),
        text(&attributes["resource"]),
        text(&attributes["name"]),
    );
    assert_eq!(attributes["group"], "prescale.io", "{review}");
    cluster.asked.lock().unwrap().push((
        user.clone(),
        verb.clone(),
        resource.clone(),
        name.clone(),
    ));
    // RBAC: Prometheus may create samples; the deployer may do anything to target "web".
    let allowed = match user.as_str() {
        "system:serviceaccount:monitoring:prometheus" => resource == "samples" && verb == "create",
        "system:serviceaccount:ops:deployer" => resource == "targets" && name == "web",
        _ => false,
    };
    let status = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding"})
    } else {
        json!({"allowed": false, "reason": "no RBAC policy matched"})
    };
    Json(
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": spec, "status": status}),
    )
    .into_response()
}

/// The fake API server on TLS signed by `cluster_ca`; its port.
async fn fake_cluster(
    dir: &Path,
    cluster_ca: &Ca,
    cluster: Arc<Cluster>,
    stop: tokio_util::sync::CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> u16 {
    let app = axum::Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            axum::routing::post(token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            axum::routing::post(access_review),
        )
        .with_state(cluster);
    common::pki::serve_fake_api_server(dir, cluster_ca, app, stop, tasks).await
}

/// `method path` with `token`: a push for `POST`, the target `web` for `PUT`.
async fn call(server: &Server, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
    let body = match method {
        reqwest::Method::POST => Some(push_body(&[(now() - 60, 3.0)])),
        reqwest::Method::PUT => Some(
            r#"{"series":"web","capacity_per_replica":10,"max_replicas":5,"lead_time":"1m"}"#
                .to_string(),
        ),
        _ => None,
    };
    let (status, answer, _) = common::call(server, method, path, Some(token), body).await;
    (status, answer)
}

// Multi-threaded: the fake API server must answer while the test waits for prescale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tokens_are_reviewed_authorized_by_rbac_and_cached() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let cluster_ca = Ca::new("cluster-ca");
    let cluster = Arc::new(Cluster::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let port = fake_cluster(
        dir.path(),
        &cluster_ca,
        cluster.clone(),
        stop.clone(),
        &tasks,
    )
    .await;
    let account = common::pki::service_account(dir.path(), SERVICE_ACCOUNT_TOKEN, &cluster_ca);
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{FILE_ADMIN} admin\n")).unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nkubernetes = true\ntokens_file = {:?}\n",
            tokens.display().to_string()
        ),
    )
    .unwrap();
    let port = port.to_string();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap(), "--no-tls"],
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", port.as_str()),
            ("PRESCALE_SERVICE_ACCOUNT_DIR", account.to_str().unwrap()),
        ],
    );
    let samples = "/api/v1/series/web/samples";

    // Prometheus' ServiceAccount may push; twice within 10 s costs one review of each kind.
    assert_eq!(
        call(&server, Method::POST, samples, PROMETHEUS).await.0,
        204
    );
    assert_eq!(
        call(&server, Method::POST, samples, PROMETHEUS).await.0,
        204
    );
    assert_eq!(cluster.token_reviews.load(Ordering::SeqCst), 1);
    assert_eq!(cluster.access_reviews.load(Ordering::SeqCst), 1);
    // ... but not change targets: 403 naming the user, the verb, the resource and the reason.
    let (status, body) = call(&server, Method::PUT, "/api/v1/targets/web", PROMETHEUS).await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("system:serviceaccount:monitoring:prometheus")
            && message.contains("may not update targets.prescale.io \"web\"")
            && message.contains("no RBAC policy matched"),
        "{message}"
    );
    // The deployer may change the target "web" (RBAC resourceNames), not another.
    assert_eq!(
        call(&server, Method::PUT, "/api/v1/targets/web", OPERATOR)
            .await
            .0,
        201
    );
    assert_eq!(
        call(&server, Method::PUT, "/api/v1/targets/api", OPERATOR)
            .await
            .0,
        403
    );
    assert_eq!(call(&server, Method::POST, samples, OPERATOR).await.0, 403);
    let asked = cluster.asked.lock().unwrap().clone();
    assert!(
        asked.contains(&(
            "system:serviceaccount:ops:deployer".into(),
            "update".into(),
            "targets".into(),
            "web".into()
        )),
        "{asked:?}"
    );

    // A token the cluster does not know: 401, and the refusal is cached too.
    let reviews = cluster.token_reviews.load(Ordering::SeqCst);
    let (status, body) = call(&server, Method::POST, samples, "forged-token").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("TokenReview"),
        "{body}"
    );
    assert_eq!(
        call(&server, Method::POST, samples, "forged-token").await.0,
        401
    );
    assert_eq!(cluster.token_reviews.load(Ordering::SeqCst), reviews + 1);

    // A token from the file needs no review at all.
    let (reviews, access) = (
        cluster.token_reviews.load(Ordering::SeqCst),
        cluster.access_reviews.load(Ordering::SeqCst),
    );
    assert_eq!(
        call(&server, Method::DELETE, "/api/v1/targets/web", FILE_ADMIN)
            .await
            .0,
        204
    );
    assert_eq!(cluster.token_reviews.load(Ordering::SeqCst), reviews);
    assert_eq!(cluster.access_reviews.load(Ordering::SeqCst), access);

    // The cluster cannot answer: a token not cached is 503, saying why.
    cluster.failing.store(true, Ordering::SeqCst);
    let (status, body) = call(&server, Method::POST, samples, "another-token").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot check the token with the cluster"),
        "{body}"
    );
    stop.cancel();
}

#[test]
fn kubernetes_auth_outside_a_cluster_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(&config, "[auth]\nkubernetes = true\n").unwrap();
    let error = common::failed_start(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--no-tls"],
    );
    assert!(
        error.contains("[auth] kubernetes needs the in-cluster API settings")
            && error.contains("KUBERNETES_SERVICE_HOST"),
        "{error}"
    );
}
