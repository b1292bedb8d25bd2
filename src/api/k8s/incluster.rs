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
//! The in-cluster connection is the standard one, made by the `kube` client ([`client`]):
//! `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, the service account's `token`
//! and `ca.crt` (both re-read by the client as they rotate) from
//! `/var/run/secrets/kubernetes.io/serviceaccount`, or from the directory in
//! `PRESCALE_SERVICE_ACCOUNT_DIR` (tests, unusual mounts). The same client serves the delegated
//! authentication of the plain port ([`super::delegated`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_util::sync::CancellationToken;

/// How often the ConfigMap is fetched again.
pub const REFRESH: Duration = Duration::from_secs(600);

/// The longest a call to the API server may take (connecting, sending, answering).
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("cannot make a Kubernetes client: {0}")]
    Client(String),
    #[error("GET {NAMESPACE}/{CONFIG_MAP}: {0}")]
    Request(String),
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

/// A client of the cluster's API server with the pod's service account; every call times out
/// after [`API_TIMEOUT`].
pub fn client() -> Result<kube::Client, InClusterError> {
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
    let token = dir.join("token");
    // Read now, so that a missing file is named at start rather than at the first call.
    std::fs::metadata(&token).map_err(|source| InClusterError::Read {
        path: token.clone(),
        source,
    })?;
    let ca_path = dir.join("ca.crt");
    let ca = std::fs::read(&ca_path).map_err(|source| InClusterError::Read {
        path: ca_path.clone(),
        source,
    })?;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&ca)
        .map(|cert| cert.map(|der| der.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| InClusterError::Read {
            path: ca_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })?;
    if roots.is_empty() {
        return Err(InClusterError::Read {
            path: ca_path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no certificate"),
        });
    }
    let url = format!("https://{host}:{port}")
        .parse()
        .map_err(|e| InClusterError::Client(format!("https://{host}:{port}: {e}")))?;
    let mut config = kube::Config::new(url);
    config.root_cert = Some(roots);
    config.root_cert_file = Some(ca_path);
    config.auth_info.token_file = Some(token.display().to_string());
    config.connect_timeout = Some(API_TIMEOUT);
    config.read_timeout = Some(API_TIMEOUT);
    config.write_timeout = Some(API_TIMEOUT);
    kube::Client::try_from(config).map_err(|e| InClusterError::Client(e.to_string()))
}

/// Fetches the ConfigMap with `client`.
pub async fn fetch(client: &kube::Client) -> Result<FrontProxySettings, InClusterError> {
    let config_maps: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), NAMESPACE);
    let config_map = config_maps
        .get(CONFIG_MAP)
        .await
        .map_err(|e| InClusterError::Request(describe(&e)))?;
    parse(&config_map.data.unwrap_or_default())
}

/// A client error in words: the API server's own `Status` (code, reason and message) when it
/// answered one.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let mut text = format!("the API server answered {}", status.code);
            for part in [&status.reason, &status.message] {
                if !part.is_empty() {
                    text.push_str(&format!(" {part}"));
                }
            }
            text
        }
        other => other.to_string(),
    }
}

/// Reads the two keys out of the ConfigMap's data.
fn parse(data: &BTreeMap<String, String>) -> Result<FrontProxySettings, InClusterError> {
    let client_ca_pem = data
        .get("requestheader-client-ca-file")
        .filter(|pem| pem.contains("BEGIN CERTIFICATE"))
        .ok_or_else(|| {
            InClusterError::Content(
                "no requestheader-client-ca-file: is the kube-apiserver started with \
                 --requestheader-client-ca-file?"
                    .to_string(),
            )
        })?
        .clone();
    let allowed_names = match data.get("requestheader-allowed-names").map(String::as_str) {
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
pub async fn refresh(client: kube::Client, path: PathBuf, token: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
        let outcome = match fetch(&client).await {
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
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let config_map = data(&[
            (
                "requestheader-client-ca-file",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ),
            ("requestheader-allowed-names", "[\"front-proxy-client\"]"),
            ("requestheader-username-headers", "[\"X-Remote-User\"]"),
        ]);
        let settings = parse(&config_map).unwrap();
        assert_eq!(settings.allowed_names, ["front-proxy-client"]);
        assert!(settings.client_ca_pem.starts_with("-----BEGIN"));
        let err = parse(&data(&[])).unwrap_err().to_string();
        assert!(err.contains("requestheader-client-ca-file"), "{err}");
        let bad = data(&[
            (
                "requestheader-client-ca-file",
                "-----BEGIN CERTIFICATE-----",
            ),
            ("requestheader-allowed-names", "front-proxy-client"),
        ]);
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
