//! TLS material for the Kubernetes port: the serving certificate and key (from PEM files, or a
//! self-signed pair generated at start, as the metrics adapters do when given none), the
//! front-proxy client CA, and the rustls [`ServerConfig`] built from them.
//!
//! Files are re-read when they change on disk, because cert-manager (or the kubelet updating a
//! mounted Secret) rotates them under a running server: a watcher polls them every
//! `--tls-reload-interval` and publishes a new [`ServerConfig`] that every later handshake uses.
//! Polling the contents rather than watching inodes works with the kubelet's atomic symlink
//! swap (`..data`) and with editors alike, at the cost of reading three small files every few
//! seconds. A change that does not load (a missing file, a key that does not match the
//! certificate, half-written PEM) is logged and the previous configuration stays in service; the
//! same broken contents are not retried (or logged again) until they change once more.
//!
//! At start, the same errors are fatal: a server that cannot load the certificate it was told to
//! serve should say so and exit rather than serve something else.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What can go wrong loading TLS material; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{} and {}: {message}", cert.display(), key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// PEM files: a certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1).
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate generated at start for `localhost`, the loopback addresses and
    /// the host name; clients must skip verification (the APIService's
    /// `insecureSkipTLSVerify: true`) or pin it.
    SelfSigned,
}

/// Everything the TLS configuration is built from.
#[derive(Debug, Clone)]
pub struct TlsSources {
    pub cert: CertSource,
    /// The CA that signs the front-proxy's client certificates
    /// (`--requestheader-client-ca-file`).
    pub client_ca: Option<PathBuf>,
    /// The CA that signs users' client certificates (`--client-ca-file`). Without either CA no
    /// client certificate is asked for.
    pub user_ca: Option<PathBuf>,
}

/// The bytes a configuration was built from, to tell when the files changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
    user_ca: Option<Vec<u8>>,
}

/// One loaded configuration: the rustls one, and the subjects of the two client CAs, by which a
/// verified client certificate's issuer tells who signed it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    pub issuers: Issuers,
}

/// The subject names of the client CAs' certificates.
#[derive(Debug, Clone, Default)]
pub struct Issuers {
    pub front_proxy: Vec<Name>,
    pub users: Vec<Name>,
}

/// A distinguished name, as encoded and as text: a certificate's issuer names its CA when either
/// is equal (encoders may pick different string types for the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub raw: Vec<u8>,
    pub text: String,
}

impl Name {
    pub fn of(name: &x509_parser::x509::X509Name<'_>) -> Name {
        Name {
            raw: name.as_raw().to_vec(),
            text: name.to_string(),
        }
    }

    pub fn matches(&self, other: &Name) -> bool {
        self.raw == other.raw || (!self.text.is_empty() && self.text == other.text)
    }
}

/// The TLS configuration in force, replaced when the files change.
pub struct TlsConfig {
    current: watch::Receiver<Arc<Loaded>>,
}

impl TlsConfig {
    /// The configuration for the next handshake, with its client CAs' subjects.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.borrow().clone()
    }
}

/// The subject names of `certificates`.
fn subjects(certificates: &[CertificateDer<'_>]) -> Vec<Name> {
    certificates
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| Name::of(cert.subject()))
        .collect()
}

fn provider() -> Arc<CryptoProvider> {
    // Explicit, because more than one rustls provider is compiled into this binary (reqwest's
    // and rcgen's choices differ), and rustls refuses to guess.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let invalid = |message: String| TlsError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no CERTIFICATE block in the file".to_string()));
    }
    Ok(certs)
}

/// A generated self-signed certificate and key, valid for a year from today.
fn self_signed() -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    use chrono::Datelike;
    let fail = |e: rcgen::Error| TlsError::SelfSigned(e.to_string());
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = host_name() {
        names.push(host);
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "prescale (self-signed)");
    let today = chrono::Utc::now().date_naive();
    let (month, day) = (today.month() as u8, today.day().min(28) as u8);
    params.not_before = rcgen::date_time_ymd(today.year(), month, day);
    params.not_after = rcgen::date_time_ymd(today.year() + 1, month, day);
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}

/// The host name (the pod name in Kubernetes), when it is a valid DNS name.
fn host_name() -> Option<String> {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())?;
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(name)
}

/// Reads the files named by `sources` (the generated pair stands in for a self-signed source).
fn read_material(
    sources: &TlsSources,
    generated: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<Material, TlsError> {
    let (cert, key) = match (&sources.cert, generated) {
        (CertSource::Files { cert, key }, _) => (read(cert)?, read(key)?),
        (CertSource::SelfSigned, Some((cert, key))) => (cert.clone(), key.clone()),
        (CertSource::SelfSigned, None) => self_signed()?,
    };
    let client_ca = sources.client_ca.as_deref().map(read).transpose()?;
    let user_ca = sources.user_ca.as_deref().map(read).transpose()?;
    Ok(Material {
        cert,
        key,
        client_ca,
        user_ca,
    })
}

/// Builds the server configuration: HTTP/1.1 over TLS 1.2 or 1.3, verifying client
/// certificates against the front-proxy CA and the users' CA when either is given.
fn build(sources: &TlsSources, material: &Material) -> Result<Loaded, TlsError> {
    let (cert_path, key_path) = match &sources.cert {
        CertSource::Files { cert, key } => (cert.clone(), key.clone()),
        CertSource::SelfSigned => (PathBuf::from("(generated)"), PathBuf::from("(generated)")),
    };
    let chain = certificates(&material.cert, &cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(&material.key).map_err(|e| TlsError::Invalid {
        path: key_path.clone(),
        message: format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let mut issuers = Issuers::default();
    for (path, pem, subjects_of) in [
        (
            &sources.client_ca,
            &material.client_ca,
            &mut issuers.front_proxy,
        ),
        (&sources.user_ca, &material.user_ca, &mut issuers.users),
    ] {
        let (Some(path), Some(pem)) = (path, pem) else {
            continue;
        };
        let cas = certificates(pem, path)?;
        for ca in &cas {
            roots.add(ca.clone()).map_err(|e| TlsError::Invalid {
                path: path.clone(),
                message: format!("not a usable CA certificate: {e}"),
            })?;
        }
        *subjects_of = subjects(&cas);
    }
    let builder = if roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        // Unauthenticated handshakes are allowed so that a client without a certificate gets a
        // readable `401 Status` (from `secure::frontproxy`) instead of a TLS alert; a
        // certificate that is presented must still chain to one of the CAs, or the handshake
        // fails.
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(format!("cannot verify client certificates: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Pair {
            cert: cert_path,
            key: key_path,
            message: format!("the private key does not fit the certificate: {e}"),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        issuers,
    })
}

/// Describes the leaf certificate for the logs: its subject and when it expires.
fn describe(cert_pem: &[u8]) -> String {
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(cert_pem).next() else {
        return "(unreadable)".to_string();
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => format!(
            "subject {:?}, expires {}",
            cert.subject().to_string(),
            cert.validity().not_after
        ),
        Err(_) => "(unparsable)".to_string(),
    }
}

/// Loads the TLS configuration once (errors are fatal here) and, when any of it comes from
/// files, spawns the watcher that reloads it every `interval` on `tasks`, until `token` is
/// cancelled.
pub fn load(
    sources: TlsSources,
    interval: Duration,
    token: CancellationToken,
    tasks: &TaskTracker,
) -> Result<TlsConfig, TlsError> {
    let generated = match sources.cert {
        CertSource::SelfSigned => Some(self_signed()?),
        CertSource::Files { .. } => None,
    };
    let material = read_material(&sources, generated.as_ref())?;
    let config = build(&sources, &material)?;
    match &sources.cert {
        CertSource::Files { cert, .. } => tracing::info!(
            file = %cert.display(),
            certificate = %describe(&material.cert),
            "TLS certificate loaded"
        ),
        CertSource::SelfSigned => tracing::warn!(
            certificate = %describe(&material.cert),
            "no --tls-cert-file: serving a self-signed certificate generated now; clients must \
             skip verification (APIService insecureSkipTLSVerify) or be given a real one"
        ),
    }
    let (publish, current) = watch::channel(Arc::new(config));
    let watched = matches!(sources.cert, CertSource::Files { .. })
        || sources.client_ca.is_some()
        || sources.user_ca.is_some();
    if watched {
        tasks.spawn(watch_files(
            sources, generated, material, interval, publish, token,
        ));
    }
    Ok(TlsConfig { current })
}

/// The reload loop: polls the files, and publishes a new configuration when their contents
/// change and load; otherwise logs once and keeps the one in force.
async fn watch_files(
    sources: TlsSources,
    generated: Option<(Vec<u8>, Vec<u8>)>,
    loaded: Material,
    interval: Duration,
    publish: watch::Sender<Arc<Loaded>>,
    token: CancellationToken,
) {
    // What was last seen on disk: the contents, or the error reading them.
    let mut seen: Result<Material, String> = Ok(loaded);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (sources_now, generated_now) = (sources.clone(), generated.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let material = read_material(&sources_now, generated_now.as_ref());
            let config = material
                .as_ref()
                .ok()
                .map(|material| build(&sources_now, material));
            (material, config)
        })
        .await;
        let Ok((material, config)) = outcome else {
            continue;
        };
        let now: Result<Material, String> = material.map_err(|e| e.to_string());
        if now == seen {
            continue;
        }
        match (&now, config) {
            (Ok(material), Some(Ok(config))) => {
                tracing::info!(
                    certificate = %describe(&material.cert),
                    client_ca = sources.client_ca.is_some(),
                    "TLS files changed: new certificate in service"
                );
                let _ = publish.send(Arc::new(config));
            }
            (Ok(_), Some(Err(error))) => tracing::error!(
                %error,
                "TLS files changed but do not load: still serving the previous certificate"
            ),
            (Err(error), _) => tracing::error!(
                %error,
                "TLS files cannot be read: still serving the previous certificate"
            ),
            (Ok(_), None) => {}
        }
        seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![format!("{name}.test")])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn files(cert: &Path, key: &Path) -> TlsSources {
        TlsSources {
            cert: CertSource::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
            client_ca: None,
            user_ca: None,
        }
    }

    fn load_once(sources: &TlsSources) -> Result<Loaded, TlsError> {
        let material = read_material(sources, None)?;
        build(sources, &material)
    }

    #[test]
    fn good_files_and_self_signed_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "a");
        load_once(&files(&cert, &key)).unwrap();
        let sources = TlsSources {
            cert: CertSource::SelfSigned,
            client_ca: Some(cert.clone()),
            user_ca: None,
        };
        load_once(&sources).unwrap();
        assert!(describe(&std::fs::read(&cert).unwrap()).contains("expires"));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "a");
        let (_, other_key) = pair(dir.path(), "b");
        let missing = dir.path().join("missing.crt");
        let err = load_once(&files(&missing, &key)).unwrap_err().to_string();
        assert!(
            err.contains("missing.crt") && err.contains("cannot read"),
            "{err}"
        );
        let err = load_once(&files(&cert, &other_key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
        let garbage = dir.path().join("garbage.crt");
        std::fs::write(&garbage, "hello").unwrap();
        let err = load_once(&files(&garbage, &key)).unwrap_err().to_string();
        assert!(
            err.contains("garbage.crt") && err.contains("no CERTIFICATE"),
            "{err}"
        );
        let err = load_once(&files(&cert, &cert)).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
        let sources = TlsSources {
            client_ca: Some(garbage.clone()),
            user_ca: None,
            ..files(&cert, &key)
        };
        let err = load_once(&sources).unwrap_err().to_string();
        assert!(err.contains("garbage.crt"), "{err}");
    }
}
