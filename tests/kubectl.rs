//! The real `kubectl` against the external metrics API: `kubectl get --raw` for the discovery
//! documents and a target's metric, as an operator checks an adapter.

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
