//! Who may do what on the plain HTTP port: bearer tokens with roles, from a file.
//!
//! `--auth-tokens-file FILE` (or `[auth] tokens_file`) names a file of one `TOKEN ROLE` per line
//! (`#` starts a comment). A role allows its own requests and those of the roles before it:
//!
//! - `read`: every `GET` and `HEAD` (series, forecasts, targets, plans, `/metrics`, the
//!   external metrics paths) — open to anyone unless `[auth] protect_reads = true`;
//! - `write`: pushing samples (`POST /api/v1/series/{s}/samples`) and remote_write
//!   (`POST /api/v1/write`);
//! - `admin`: everything else that changes state (`PUT`/`DELETE` of targets, `DELETE` of series).
//!
//! The health probes (`/healthz`, `/readyz`) are always open, as Kubernetes API servers leave
//! them. A request that needs a role and carries no known token is `401` (with
//! `WWW-Authenticate: Bearer`), one whose token's role is too small is `403`; both answer JSON
//! naming the role needed. Tokens are compared in constant time (every known token is compared,
//! so the time says nothing of which, or how much of one, matched). The file is re-read when it
//! changes (a Kubernetes Secret's volume is updated in place); a change that does not parse is
//! logged and the tokens in force stay.
//!
//! In a cluster, `[auth] kubernetes = true` also accepts the bearer tokens the cluster issues
//! (ServiceAccount tokens): a token not in the file is checked with a `TokenReview`, and the
//! request authorized with a `SubjectAccessReview` on the virtual group `prescale.io`
//! ([`resource_request`]: resources `samples`, `targets` and `metrics`; verbs `get`, `create`,
//! `update`, `delete`), both cached 10 s ([`crate::api::k8s::delegated`]). So RBAC decides:
//! a Role granting `create` on `samples.prescale.io` lets a ServiceAccount push.
//!
//! Without either nothing is checked: [`crate::config`] allows that only on loopback (or with
//! `--allow-unauthenticated`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::api::error::ApiError;
use crate::api::k8s::delegated::{Decision, Delegated, DelegatedError, ResourceRequest};
use crate::api::k8s::incluster::{self, InClusterError};
use tokio_util::sync::CancellationToken;

/// The `[auth]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The `TOKEN ROLE` file; `--auth-tokens-file` wins over it.
    pub tokens_file: Option<PathBuf>,
    /// Reads (`GET`, `HEAD`) need a token too (any role).
    #[serde(default)]
    pub protect_reads: bool,
    /// Accept the cluster's bearer tokens (`TokenReview`), authorized by `SubjectAccessReview`.
    #[serde(default)]
    pub kubernetes: bool,
}

impl AuthConfig {
    /// Whether anything checks who calls.
    pub fn is_configured(&self) -> bool {
        self.tokens_file.is_some() || self.kubernetes
    }
}

/// The API group of the virtual resources requests are authorized on.
pub const API_GROUP: &str = "prescale.io";

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// The roles that allow what this one allows, for messages: `write or admin`.
    fn or_above(self) -> &'static str {
        match self {
            Role::Read => "read, write or admin",
            Role::Write => "write or admin",
            Role::Admin => "admin",
        }
    }
}

/// Shortest token accepted: 16 characters (a random 16-character token is beyond guessing).
pub const MIN_TOKEN_LENGTH: usize = 16;

/// Why the access rules could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the tokens file")]
    Tokens(#[from] TokensError),
    #[error("[auth] kubernetes needs the in-cluster API settings")]
    Kubernetes(#[from] InClusterError),
}

/// Why a tokens file was refused; the message names the file and the line.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// The tokens of one version of the file.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<(Vec<u8>, Role)>,
}

impl std::fmt::Debug for Tokens {
    // Never print a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} entries)", self.entries.len())
    }
}

impl Tokens {
    /// Parses a tokens file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Tokens, TokensError> {
        let mut entries: Vec<(Vec<u8>, Role)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let invalid = |message: String| TokensError::Invalid {
                path: path.to_string(),
                line,
                message,
            };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            let [token, role] = words[..] else {
                return Err(invalid(format!(
                    "expected `TOKEN ROLE` (two words), found {} words",
                    words.len()
                )));
            };
            let role = Role::parse(role).ok_or_else(|| {
                invalid(format!(
                    "unknown role {:?}: use read, write or admin",
                    crate::api::error::clip(role)
                ))
            })?;
            if token.len() < MIN_TOKEN_LENGTH {
                return Err(invalid(format!(
                    "the token is {} characters long; use at least {MIN_TOKEN_LENGTH} random \
                     ones (e.g. `openssl rand -hex 32`)",
                    token.len()
                )));
            }
            if entries.iter().any(|(known, _)| known == token.as_bytes()) {
                return Err(invalid("this token is listed twice".into()));
            }
            entries.push((token.as_bytes().to_vec(), role));
        }
        Ok(Tokens { entries })
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Tokens, TokensError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: name.clone(),
            source,
        })?;
        Tokens::parse(&text, &name)
    }

    /// The role of `presented`, comparing it with every known token in constant time.
    pub fn role_of(&self, presented: &[u8]) -> Option<Role> {
        let mut found = None;
        for (token, role) in &self.entries {
            // `ct_eq` on slices of different lengths is false without comparing the bytes:
            // only the length can leak, and every entry is visited whatever matched.
            if bool::from(token.as_slice().ct_eq(presented)) {
                found = Some(*role);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The access rules of the plain port, with the tokens in force (reloaded by [`watch`]).
#[derive(Debug)]
pub struct Auth {
    tokens: Option<(PathBuf, RwLock<Arc<Tokens>>)>,
    kubernetes: Option<Delegated>,
    protect_reads: bool,
}

impl Auth {
    /// No checks at all (no tokens file).
    pub fn open() -> Auth {
        Auth {
            tokens: None,
            kubernetes: None,
            protect_reads: false,
        }
    }

    /// The rules of `config`, reading its tokens file now, and making the in-cluster client
    /// when `kubernetes` is on.
    pub fn load(config: &AuthConfig) -> Result<Auth, AuthError> {
        let tokens = match &config.tokens_file {
            None => None,
            Some(path) => {
                let tokens = Tokens::read(path)?;
                if tokens.is_empty() {
                    tracing::warn!(file = %path.display(), "the tokens file lists no token: every write is refused");
                }
                Some((path.clone(), RwLock::new(Arc::new(tokens))))
            }
        };
        let kubernetes = match config.kubernetes {
            false => None,
            true => Some(Delegated::new(incluster::client()?)),
        };
        Ok(Auth {
            tokens,
            kubernetes,
            protect_reads: config.protect_reads,
        })
    }

    /// Whether requests are checked at all.
    pub fn is_enabled(&self) -> bool {
        self.tokens.is_some() || self.kubernetes.is_some()
    }

    /// The role a request needs, if any.
    fn needed(&self, method: &Method, path: &str) -> Option<Role> {
        if path == "/healthz" || path == "/readyz" {
            return None;
        }
        if method == Method::GET || method == Method::HEAD {
            return self.protect_reads.then_some(Role::Read);
        }
        let is_push = path == "/api/v1/write"
            || (path.starts_with("/api/v1/series/") && path.ends_with("/samples"));
        if method == Method::POST && is_push {
            Some(Role::Write)
        } else {
            Some(Role::Admin)
        }
    }

    /// Allows the request, or answers why not.
    async fn check(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&[u8]>,
    ) -> Result<(), ApiError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let Some(needed) = self.needed(method, path) else {
            return Ok(());
        };
        let presented = authorization.and_then(bearer);
        let role = match (&self.tokens, presented) {
            (Some((_, tokens)), Some(token)) => tokens
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .role_of(token),
            _ => None,
        };
        match role {
            Some(role) if role < needed => {
                return Err(ApiError::Forbidden(format!(
                    "{} needs a token with role {}; this token's role is {}",
                    request_text(method, path),
                    needed.or_above(),
                    role.name()
                )));
            }
            Some(_) => return Ok(()),
            None => {}
        }
        if let (Some(kubernetes), Some(token)) = (&self.kubernetes, presented) {
            return self.check_kubernetes(kubernetes, method, path, token).await;
        }
        let why = if presented.is_some() {
            "the bearer token is not known"
        } else {
            "no bearer token was given"
        };
        let how = match (&self.tokens, &self.kubernetes) {
            (Some(_), None) => format!("a token with role {}", needed.or_above()),
            (None, _) => "a Kubernetes token whose user RBAC allows it".to_string(),
            (Some(_), Some(_)) => format!(
                "a token with role {}, or a Kubernetes token whose user RBAC allows it",
                needed.or_above()
            ),
        };
        Err(ApiError::Unauthorized(format!(
            "{} needs {how} (`Authorization: Bearer TOKEN`); {why}",
            request_text(method, path)
        )))
    }

    /// A token not in the file, checked by the cluster: `TokenReview`, then
    /// `SubjectAccessReview` on the request's [`resource_request`].
    async fn check_kubernetes(
        &self,
        kubernetes: &Delegated,
        method: &Method,
        path: &str,
        token: &[u8],
    ) -> Result<(), ApiError> {
        let what = request_text(method, path);
        let unavailable = |error: DelegatedError| {
            ApiError::Unavailable(format!(
                "{what}: cannot check the token with the cluster: {error}"
            ))
        };
        let Ok(token) = std::str::from_utf8(token) else {
            return Err(ApiError::Unauthorized(format!(
                "{what}: the bearer token is not text"
            )));
        };
        let Some(user) = kubernetes.authenticate(token).await.map_err(unavailable)? else {
            return Err(ApiError::Unauthorized(format!(
                "{what}: the bearer token is not known here, and the cluster's TokenReview does \
                 not accept it"
            )));
        };
        let request = resource_request(method, path);
        match kubernetes
            .authorize(&user, &request)
            .await
            .map_err(unavailable)?
        {
            Decision::Allowed => {
                tracing::debug!(user = %user.name, verb = request.verb, resource = request.resource, "authorized by the cluster");
                Ok(())
            }
            Decision::Denied(reason) => Err(ApiError::Forbidden(format!(
                "{what}: user {:?} may not {} {}.{API_GROUP}{}{}",
                crate::api::error::clip(&user.name),
                request.verb,
                request.resource,
                request
                    .name
                    .as_deref()
                    .map(|name| format!(" {:?}", crate::api::error::clip(name)))
                    .unwrap_or_default(),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::api::error::clip(&reason))
                }
            ))),
        }
    }

    /// Re-reads the tokens file if it changed since `last` (its text); returns the text read.
    fn reload(&self, last: &mut Option<String>) {
        let Some((path, tokens)) = &self.tokens else {
            return;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                if last.is_some() {
                    tracing::error!(file = %path.display(), %error, "cannot re-read the tokens file: the tokens in force stay");
                    *last = None;
                }
                return;
            }
        };
        if last.as_deref() == Some(text.as_str()) {
            return;
        }
        match Tokens::parse(&text, &path.display().to_string()) {
            Ok(parsed) => {
                if last.is_some() {
                    tracing::info!(file = %path.display(), tokens = parsed.len(), "tokens file reloaded");
                }
                *tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(parsed);
            }
            Err(error) => {
                tracing::error!(%error, "the changed tokens file is refused: the tokens in force stay")
            }
        }
        *last = Some(text);
    }
}

/// How often the tokens file is checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Re-reads the tokens file whenever it changes, until `token` is cancelled.
pub async fn watch(auth: Arc<Auth>, token: CancellationToken) {
    if !auth.is_enabled() {
        return;
    }
    // The text read at start: `Auth::load` parsed it already.
    let mut last = auth
        .tokens
        .as_ref()
        .and_then(|(path, _)| std::fs::read_to_string(path).ok());
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(RELOAD_INTERVAL) => {}
        }
        let checking = auth.clone();
        let mut seen = last.take();
        last = tokio::task::spawn_blocking(move || {
            checking.reload(&mut seen);
            seen
        })
        .await
        .unwrap_or(None);
    }
}

/// What a request on the plain port does, as a verb on a resource of [`API_GROUP`]:
///
/// | request | resource | verb |
/// | --- | --- | --- |
/// | `POST /api/v1/series/{s}/samples`, `POST /api/v1/write` | `samples` | `create` |
/// | `GET /api/v1/series…` | `samples` | `get` |
/// | `DELETE /api/v1/series/{s}` | `samples` | `delete` |
/// | `GET /api/v1/targets…` | `targets` | `get` |
/// | `PUT /api/v1/targets/{t}` | `targets` (name `t`) | `update` |
/// | `DELETE /api/v1/targets/{t}` | `targets` (name `t`) | `delete` |
/// | any other `GET` (`/metrics`, `/apis/…`) | `metrics` | `get` |
/// | any other write | `targets` | by method |
pub fn resource_request(method: &Method, path: &str) -> ResourceRequest {
    let verb = match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT | Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "update",
    };
    let is_read = verb == "get";
    let resource = if path == "/api/v1/write" || path.starts_with("/api/v1/series") {
        "samples"
    } else if path.starts_with("/api/v1/targets") || !is_read {
        "targets"
    } else {
        "metrics"
    };
    // Decoded as the router decodes it, so that RBAC's resourceNames see the target's own name
    // (a name that does not decode stays as sent, which no rule names: denied).
    let name = path
        .strip_prefix("/api/v1/targets/")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|name| !name.is_empty())
        .map(|name| {
            percent_encoding::percent_decode_str(name)
                .decode_utf8()
                .map_or_else(|_| name.to_string(), |decoded| decoded.into_owned())
        });
    ResourceRequest {
        group: API_GROUP,
        resource,
        verb,
        name,
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// `METHOD path` for messages, the path cut to what an error may repeat.
fn request_text(method: &Method, path: &str) -> String {
    format!("{method} {}", crate::api::error::clip(path))
}

/// The middleware: answers `401`/`403` to a request its token does not allow.
pub async fn authorize(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let checked = auth
        .check(request.method(), request.uri().path(), authorization)
        .await;
    if let Err(refused) = checked {
        tracing::info!(
            method = %request.method(),
            path = %crate::api::error::clip(request.uri().path()),
            status = refused.status().as_u16(),
            "request refused by authentication"
        );
        return refused.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789";
    const WRITER: &str = "write-token-0123456789";
    const READER: &str = "read-token-01234567890";

    fn auth(protect_reads: bool) -> Auth {
        let text =
            format!("# tokens\n{ADMIN} admin\n\n{WRITER}   write  # prometheus\n{READER} read\n");
        Auth {
            tokens: Some((
                PathBuf::from("tokens"),
                RwLock::new(Arc::new(Tokens::parse(&text, "tokens").unwrap())),
            )),
            kubernetes: None,
            protect_reads,
        }
    }

    fn status(auth: &Auth, method: Method, path: &str, token: Option<&str>) -> u16 {
        let header = token.map(|t| format!("Bearer {t}"));
        let check = auth.check(&method, path, header.as_deref().map(str::as_bytes));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        match runtime.block_on(check) {
            Ok(()) => 200,
            Err(refusal) => refusal.status().as_u16(),
        }
    }

    #[test]
    fn roles_allow_their_requests_and_those_below() {
        let auth = auth(false);
        let push = "/api/v1/series/web/samples";
        let target = "/api/v1/targets/web";
        for (method, path, none, read, write, admin) in [
            (Method::GET, target, 200, 200, 200, 200),
            (Method::POST, push, 401, 403, 200, 200),
            (Method::POST, "/api/v1/write", 401, 403, 200, 200),
            (Method::PUT, target, 401, 403, 403, 200),
            (Method::DELETE, target, 401, 403, 403, 200),
            (Method::DELETE, "/api/v1/series/web", 401, 403, 403, 200),
            (Method::POST, "/api/v1/unknown", 401, 403, 403, 200),
        ] {
            let got = [None, Some(READER), Some(WRITER), Some(ADMIN)]
                .map(|token| status(&auth, method.clone(), path, token));
            assert_eq!(got, [none, read, write, admin], "{method} {path}");
        }
        assert_eq!(
            status(&auth, Method::POST, push, Some("wrong-token-0123456789")),
            401
        );
    }

    #[test]
    fn protected_reads_need_any_token_but_probes_stay_open() {
        let auth = auth(true);
        assert_eq!(status(&auth, Method::GET, "/metrics", None), 401);
        assert_eq!(status(&auth, Method::GET, "/metrics", Some(READER)), 200);
        assert_eq!(status(&auth, Method::GET, "/readyz", None), 200);
        assert_eq!(status(&auth, Method::GET, "/healthz", None), 200);
        assert_eq!(
            status(&Auth::open(), Method::DELETE, "/api/v1/targets/x", None),
            200
        );
    }

    #[test]
    fn requests_map_to_verbs_on_resources() {
        let cases = [
            (
                Method::POST,
                "/api/v1/series/web/samples",
                "samples",
                "create",
                None,
            ),
            (Method::POST, "/api/v1/write", "samples", "create", None),
            (
                Method::GET,
                "/api/v1/series/web/forecast",
                "samples",
                "get",
                None,
            ),
            (
                Method::DELETE,
                "/api/v1/series/web",
                "samples",
                "delete",
                None,
            ),
            (
                Method::PUT,
                "/api/v1/targets/web",
                "targets",
                "update",
                Some("web"),
            ),
            (
                Method::DELETE,
                "/api/v1/targets/web",
                "targets",
                "delete",
                Some("web"),
            ),
            (
                Method::GET,
                "/api/v1/targets/web/plan",
                "targets",
                "get",
                Some("web"),
            ),
            (Method::GET, "/api/v1/targets", "targets", "get", None),
            (
                Method::PUT,
                "/api/v1/targets/w%65b",
                "targets",
                "update",
                Some("web"),
            ),
            (Method::GET, "/metrics", "metrics", "get", None),
            (Method::POST, "/elsewhere", "targets", "create", None),
        ];
        for (method, path, resource, verb, name) in cases {
            let request = resource_request(&method, path);
            assert_eq!(
                (
                    request.group,
                    request.resource,
                    request.verb,
                    request.name.as_deref()
                ),
                (API_GROUP, resource, verb, name),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_others_are_not_tokens() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn bad_files_name_the_line() {
        for (text, line, needle) in [
            ("short admin\n", 1, "at least 16"),
            ("# c\nabcdefghijklmnopqrstuvwxyz root\n", 2, "unknown role"),
            ("abcdefghijklmnopqrstuvwxyz\n", 1, "TOKEN ROLE"),
            (
                "abcdefghijklmnopqrstuvwxyz read\nabcdefghijklmnopqrstuvwxyz admin\n",
                2,
                "twice",
            ),
        ] {
            let error = Tokens::parse(text, "tokens.txt").unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("tokens.txt:{line}: ")),
                "{error}"
            );
            assert!(error.contains(needle), "{error}");
        }
        let tokens = Tokens::parse("", "t").unwrap();
        assert!(tokens.is_empty());
        assert!(!format!("{:?}", auth(false).tokens).contains(ADMIN));
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("{ADMIN} admin\n")).unwrap();
        let auth = Auth::load(&AuthConfig {
            tokens_file: Some(path.clone()),
            ..AuthConfig::default()
        })
        .unwrap();
        let mut last = None;
        auth.reload(&mut last);
        let target = "/api/v1/targets/x";
        assert_eq!(status(&auth, Method::PUT, target, Some(ADMIN)), 200);
        std::fs::write(&path, format!("{WRITER} admin\n")).unwrap();
        auth.reload(&mut last);
        assert_eq!(status(&auth, Method::PUT, target, Some(ADMIN)), 401);
        assert_eq!(status(&auth, Method::PUT, target, Some(WRITER)), 200);
        std::fs::write(&path, "broken\n").unwrap();
        auth.reload(&mut last);
        assert_eq!(status(&auth, Method::PUT, target, Some(WRITER)), 200);
    }
}
