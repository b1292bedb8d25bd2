//! The real `kubectl` against the external metrics API: `kubectl get --raw` for the discovery
//! documents and a target's metric, as an operator checks an adapter — over plain HTTP and over
//! the TLS port with a client certificate.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, wait_for_200};

fn kubectl(kubeconfig: &std::path::Path, home: &std::path::Path, path: &str) -> serde_json::Value {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", path])
        .env("HOME", home)
        .output()
        .expect("kubectl must be installed (it is on these machines; see scripts/test.sh)");
    assert!(
        out.status.success(),
        "kubectl get --raw {path} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl printed JSON")
}

#[tokio::test]
async fn kubectl_get_raw_reads_discovery_and_the_metric() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        "replan_interval = \"1s\"\n[targets.web]\nseries = \"web_rps\"\ncapacity_per_replica = 10\nmin_replicas = 3\nmax_replicas = 9\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    wait_for_200(&server.url("/readyz"), Duration::from_secs(30)).await;

    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prescale\n  cluster:\n    server: {}\ncontexts:\n- name: prescale\n  context:\n    cluster: prescale\n    user: anonymous\nusers:\n- name: anonymous\n  user: {{}}\ncurrent-context: prescale\n",
            server.url
        ),
    )
    .unwrap();
    let home = dir.path();

    let groups = kubectl(&kubeconfig, home, "/apis");
    assert_eq!(groups["groups"][0]["name"], "external.metrics.k8s.io");
    let resources = kubectl(&kubeconfig, home, "/apis/external.metrics.k8s.io/v1beta1");
    assert_eq!(resources["resources"][0]["name"], "web");
    let list = kubectl(
        &kubeconfig,
        home,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/web",
    );
    assert_eq!(list["kind"], "ExternalMetricValueList");
    assert_eq!(list["items"][0]["metricName"], "web");
    // No data yet: the fallback is min_replicas, never an empty list.
    assert_eq!(list["items"][0]["value"], "3");

    // An unknown metric is a NotFound error that kubectl reports.
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "--raw",
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/nope",
        ])
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

/// `kubectl get --raw` against the TLS port, as an operator checks an aggregated API server:
/// a kubeconfig with the serving CA and a client certificate from the users' CA
/// (`--client-ca-file`). The front proxy's own certificate, without the `X-Remote-User` the
/// aggregator adds, authenticates nobody.
#[tokio::test]
async fn kubectl_get_raw_over_https_with_a_client_certificate() {
    use common::pki::Ca;

    let dir = tempfile::tempdir().unwrap();
    let serving_ca = Ca::new("serving-ca");
    let front_proxy_ca = Ca::new("front-proxy-ca");
    let users_ca = Ca::new("users-ca");
    let (cert, key) = serving_ca.server().write(dir.path(), "serving");
    let client_ca = front_proxy_ca.write(dir.path(), "front-proxy-ca");
    let user_ca = users_ca.write(dir.path(), "users-ca");
    let server_ca = serving_ca.write(dir.path(), "serving-ca");
    let (client_cert, client_key) = users_ca.client("operator").write(dir.path(), "client");
    let (proxy_cert, proxy_key) = front_proxy_ca
        .client("front-proxy-client")
        .write(dir.path(), "proxy");
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        "replan_interval = \"1s\"\n[targets.web]\nseries = \"web_rps\"\ncapacity_per_replica = 10\nmin_replicas = 3\nmax_replicas = 9\nlabels = { env = \"prod\" }\n",
    )
    .unwrap();
    let server = common::pki::start_aggregated_with(
        dir.path(),
        &config,
        (&cert, &key),
        &client_ca,
        "front-proxy-client",
        &["--client-ca-file", user_ca.to_str().unwrap()],
    )
    .await;
    let address = server.logged_field("tls_address").expect("TLS address");

    let kubeconfig = |name: &str, user: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: prescale\n  cluster:\n    server: https://{address}\n    certificate-authority: {}\ncontexts:\n- name: prescale\n  context:\n    cluster: prescale\n    user: u\nusers:\n- name: u\n  user: {user}\ncurrent-context: prescale\n",
                server_ca.display()
            ),
        )
        .unwrap();
        path
    };
    let with_cert = kubeconfig(
        "kubeconfig",
        &format!(
            "\n    client-certificate: {}\n    client-key: {}",
            client_cert.display(),
            client_key.display()
        ),
    );
    let home = dir.path();

    let groups = kubectl(&with_cert, home, "/apis");
    assert_eq!(groups["kind"], "APIGroupList");
    let group = kubectl(&with_cert, home, "/apis/external.metrics.k8s.io");
    assert_eq!(group["kind"], "APIGroup");
    let resources = kubectl(&with_cert, home, "/apis/external.metrics.k8s.io/v1beta1");
    assert_eq!(resources["resources"][0]["name"], "web");
    let v2 = kubectl(&with_cert, home, "/openapi/v2");
    assert_eq!(v2["swagger"], "2.0");
    let v3 = kubectl(&with_cert, home, "/openapi/v3");
    let url = v3["paths"]["apis/external.metrics.k8s.io/v1beta1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let document = kubectl(&with_cert, home, &url);
    assert_eq!(document["openapi"], "3.0.0");
    let list = kubectl(
        &with_cert,
        home,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/web?labelSelector=target%3Dweb%2Cenv%20in%20(prod)",
    );
    assert_eq!(list["items"][0]["metricName"], "web");
    assert_eq!(list["items"][0]["value"], "3");
    assert_eq!(list["items"][0]["metricLabels"]["env"], "prod");
    server.wait_for_log(
        &[
            "Kubernetes API request (client certificate)",
            "operator",
            "openapi/v3",
        ],
        Duration::from_secs(5),
    );

    // A selector that does not parse, and no client certificate: kubectl reports the errors.
    let raw = |kubeconfig: &std::path::Path, path: &str| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["get", "--raw", path])
            .env("HOME", home)
            .output()
            .unwrap()
    };
    let out = raw(
        &with_cert,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/web?labelSelector=env%20in%20prod",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BadRequest") || err.contains("labelSelector"),
        "{err}"
    );
    // The front proxy's certificate alone: no X-Remote-User, no user.
    let proxy = kubeconfig(
        "proxy",
        &format!(
            "\n    client-certificate: {}\n    client-key: {}",
            proxy_cert.display(),
            proxy_key.display()
        ),
    );
    let out = raw(&proxy, "/apis/external.metrics.k8s.io/v1beta1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
    // (A token, not an empty user: kubectl would prompt for a password on stdin over HTTPS.)
    let anonymous = kubeconfig("anonymous", "{token: not-a-certificate}");
    let out = raw(&anonymous, "/apis/external.metrics.k8s.io/v1beta1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
}
