//! `--requestheader-from-cluster`: the front-proxy CA and allowed names read from the cluster,
//! as every aggregated API server built on `k8s.io/apiserver` reads them.
//!
//! The kube-apiserver publishes them in the ConfigMap `kube-system/extension-apiserver-authentication`
//! (keys `requestheader-client-ca-file` and `requestheader-allowed-names`, a JSON list). A pod
//! cannot mount a ConfigMap of another namespace, so prescale fetches it with its service account
//! (the `extension-apiserver-authentication-reader` RoleBinding in `deploy/`) and writes the CA
//! to `--requestheader-client-ca-file`, where the TLS reloader (`secure::tls`) picks it up. It is
//! fetched once at start (failure is fatal: a server asked to authenticate must not start
//! unauthenticated) and again every [`REFRESH`], so a rotated front-proxy CA reaches prescale
//! without a restart; a failed refresh is logged and the file kept.
//!
//! The in-cluster connection is the standard one: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
//! the service account's `token` (re-read at every fetch, as bound tokens rotate) and `ca.crt`
//! from `/var/run/secrets/kubernetes.io/serviceaccount`, or from the directory in
//! `PRESCALE_SERVICE_ACCOUNT_DIR` (tests, unusual mounts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the ConfigMap is fetched again.
pub const REFRESH: Duration = Duration::from_secs(600);

const NAMESPACE: &str = "kube-system";
const CONFIG_MAP: &str = "extension-apiserver-authentication";
const DEFAULT_SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Why the cluster's authentication settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    #[error("not running in a cluster: {0} is not set")]
    NotInCluster(&'static str),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("GET {url}: {message}")]
    Request { url: String, message: String },
    #[error("{NAMESPACE}/{CONFIG_MAP}: {0}")]
    Content(String),
}

/// What the ConfigMap says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontProxySettings {
    pub client_ca_pem: String,
    pub allowed_names: Vec<String>,
}

fn service_account_dir() -> PathBuf {
    std::env::var_os("PRESCALE_SERVICE_ACCOUNT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVICE_ACCOUNT_DIR))
}

fn read(path: PathBuf) -> Result<Vec<u8>, InClusterError> {
    std::fs::read(&path).map_err(|source| InClusterError::Read { path, source })
}

/// Fetches the ConfigMap with the pod's service account.
pub async fn fetch() -> Result<FrontProxySettings, InClusterError> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| InClusterError::NotInCluster("KUBERNETES_SERVICE_HOST"))?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT")
        .map_err(|_| InClusterError::NotInCluster("KUBERNETES_SERVICE_PORT"))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let dir = service_account_dir();
    let token = read(dir.join("token"))?;
    let token = String::from_utf8_lossy(&token).trim().to_string();
    let ca_path = dir.join("ca.crt");
    let ca = read(ca_path.clone())?;
    let url =
        format!("https://{host}:{port}/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIG_MAP}");
    let failed = |message: String| InClusterError::Request {
        url: url.clone(),
        message,
    };
    let roots = reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| InClusterError::Read {
        path: ca_path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let client = reqwest::Client::builder()
        .tls_certs_only(roots)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| failed(format!("{status}: not JSON: {e}")))?;
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("").to_string();
        return Err(failed(format!("{status}: {message}")));
    }
    parse(&body)
}

/// Reads the two keys out of the ConfigMap object.
fn parse(config_map: &serde_json::Value) -> Result<FrontProxySettings, InClusterError> {
    let data = &config_map["data"];
    let client_ca_pem = data["requestheader-client-ca-file"]
        .as_str()
        .filter(|pem| pem.contains("BEGIN CERTIFICATE"))
        .ok_or_else(|| {
            InClusterError::Content(
                "no requestheader-client-ca-file: is the kube-apiserver started with \
                 --requestheader-client-ca-file?"
                    .to_string(),
            )
        })?
        .to_string();
    let allowed_names = match data["requestheader-allowed-names"].as_str() {
        None | Some("") => Vec::new(),
        Some(list) => serde_json::from_str::<Vec<String>>(list).map_err(|e| {
            InClusterError::Content(format!(
                "requestheader-allowed-names is not a JSON list: {e}"
            ))
        })?,
    };
    Ok(FrontProxySettings {
        client_ca_pem,
        allowed_names,
    })
}

/// Writes `pem` to `path` atomically (a temporary file beside it, then a rename), so the TLS
/// reloader never reads half a file; does nothing when the content is already there.
pub fn write_ca(path: &Path, pem: &str) -> Result<(), InClusterError> {
    if std::fs::read(path).is_ok_and(|old| old == pem.as_bytes()) {
        return Ok(());
    }
    let temporary = path.with_extension("tmp");
    let write_failed = |source| InClusterError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temporary, pem).map_err(write_failed)?;
    std::fs::rename(&temporary, path).map_err(write_failed)
}

/// Refreshes the CA file every [`REFRESH`] until `token` is cancelled; failures are logged.
pub async fn refresh(path: PathBuf, token: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
        let outcome = match fetch().await {
            Ok(settings) => write_ca(&path, &settings.client_ca_pem),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "cannot refresh the front-proxy CA from the cluster; keeping the current one");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_map_is_read_as_kubernetes_writes_it() {
        let config_map = serde_json::json!({
            "data": {
                "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
            }
        });
        let settings = parse(&config_map).unwrap();
        assert_eq!(settings.allowed_names, ["front-proxy-client"]);
        assert!(settings.client_ca_pem.starts_with("-----BEGIN"));
        let err = parse(&serde_json::json!({"data": {}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("requestheader-client-ca-file"), "{err}");
        let bad = serde_json::json!({"data": {
            "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----",
            "requestheader-allowed-names": "front-proxy-client",
        }});
        assert!(parse(&bad).unwrap_err().to_string().contains("JSON list"));
    }

    #[test]
    fn the_ca_is_written_atomically_and_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        write_ca(&path, "one").unwrap();
        let first = std::fs::metadata(&path).unwrap().modified().unwrap();
        write_ca(&path, "one").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), first);
        write_ca(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert!(!path.with_extension("tmp").exists());
    }
}
