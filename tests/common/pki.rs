//! Certificates made in the test, as a cluster has them: a CA for the serving certificate, the
//! front-proxy CA for the aggregator's client certificate, and a stranger's CA.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A PEM certificate and its key.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, common_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A serving certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Leaf {
        self.leaf(
            "prescale",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with this common name.
    pub fn client(&self, common_name: &str) -> Leaf {
        self.leaf(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.crt"));
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

impl Leaf {
    /// Writes `NAME.crt` and `NAME.key`, returning their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    /// The certificate and key as a reqwest client identity.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes()).unwrap()
    }
}

/// An HTTPS client trusting only `ca`, presenting `identity` when given.
pub fn https_client(ca: &str, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .tls_info(true);
    if let Some(leaf) = identity {
        builder = builder.identity(leaf.identity());
    }
    builder.build().unwrap()
}

/// `prescale serve` as an aggregated API server (data in `dir/data`): `config`, the Kubernetes
/// port on TLS with `cert`/`key`, client certificates required from `client_ca` for
/// `allowed_names` (comma-separated); returns once `/readyz` answers 200.
pub async fn start_aggregated(
    dir: &Path,
    config: &Path,
    (cert, key): (&Path, &Path),
    client_ca: &Path,
    allowed_names: &str,
) -> super::Server {
    start_aggregated_with(dir, config, (cert, key), client_ca, allowed_names, &[]).await
}

/// [`start_aggregated`] with `extra` arguments.
pub async fn start_aggregated_with(
    dir: &Path,
    config: &Path,
    (cert, key): (&Path, &Path),
    client_ca: &Path,
    allowed_names: &str,
    extra: &[&str],
) -> super::Server {
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
    let args = [
        "--config".to_string(),
        path(config),
        "--tls-listen".to_string(),
        "127.0.0.1:0".to_string(),
        "--tls-cert-file".to_string(),
        path(cert),
        "--tls-private-key-file".to_string(),
        path(key),
        "--requestheader-client-ca-file".to_string(),
        path(client_ca),
        "--requestheader-allowed-names".to_string(),
        allowed_names.to_string(),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let server = super::Server::start(&dir.join("data"), &args);
    super::wait_for_200(&server.url("/readyz"), std::time::Duration::from_secs(30)).await;
    server
}

/// Serves `app` over TLS with a serving certificate from `cluster_ca` on 127.0.0.1 (prescale's
/// own TLS listener and connection loop), as a stand-in for the kube-apiserver, until `stop`;
/// returns its port.
pub async fn serve_fake_api_server(
    dir: &Path,
    cluster_ca: &Ca,
    app: axum::Router,
    stop: tokio_util::sync::CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> u16 {
    use prescale::api::k8s::secure::listener::TlsListener;
    use prescale::api::k8s::secure::tls::{CertSource, TlsSources};

    let (cert, key) = cluster_ca.server().write(dir, "apiserver");
    let sources = TlsSources {
        cert: CertSource::Files { cert, key },
        client_ca: None,
        user_ca: None,
    };
    let tls = prescale::api::k8s::secure::tls::load(
        sources,
        std::time::Duration::from_secs(60),
        stop.clone(),
        tasks,
    )
    .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener::new(tcp, tls, stop.clone(), tasks);
    tokio::spawn(prescale::api::connections::serve(
        listener,
        app,
        Default::default(),
        "fake API server",
        stop,
        tasks.clone(),
    ));
    port
}

/// A service account directory (`token`, `ca.crt`) as a pod has it, under `dir`.
pub fn service_account(dir: &Path, token: &str, cluster_ca: &Ca) -> PathBuf {
    let account = dir.join("serviceaccount");
    std::fs::create_dir_all(&account).unwrap();
    std::fs::write(account.join("token"), token).unwrap();
    cluster_ca.write(&account, "ca");
    account
}
