//! Delegated authentication and authorization, as every aggregated API server built on
//! `k8s.io/apiserver` does them: a bearer token is checked with a `TokenReview`, and what its
//! user may do with a `SubjectAccessReview` — so a cluster's RBAC decides who may call, and a
//! ServiceAccount token is the credential.
//!
//! The requests are described to the authorizer as verbs on resources of a virtual API group
//! (named by the caller, e.g. `prescale.io`): [`ResourceRequest`]. Answers are cached for
//! [`CACHE_TTL`] (10 s, the generic apiserver's default for both allowed and denied answers),
//! per token and per (user, groups, verb, resource, name); each cache holds at most
//! [`CACHE_ENTRIES`], so a flood of distinct tokens costs bounded memory. The cached token is
//! kept only in this process's memory.
//!
//! The calls need the `system:auth-delegator` ClusterRole (create `tokenreviews` and
//! `subjectaccessreviews`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;

use super::incluster;

/// How long an answer of the API server is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// The most answers each cache holds.
pub const CACHE_ENTRIES: usize = 4096;

/// The API server could not give an answer.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct DelegatedError {
    what: &'static str,
    message: String,
}

/// Who a token belongs to, as the `TokenReview` said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: Vec<(String, Vec<String>)>,
}

/// What a request does, in the authorizer's terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRequest {
    pub group: &'static str,
    pub resource: &'static str,
    /// `get`, `create`, `update`, `delete`.
    pub verb: &'static str,
    /// The object's name, when the request names one (a target).
    pub name: Option<String>,
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Denied, with the authorizer's reason (often empty: RBAC denies silently).
    Denied(String),
}

type AuthorizationKey = (String, Vec<String>, ResourceRequest);

/// TokenReview and SubjectAccessReview with caches.
pub struct Delegated {
    client: kube::Client,
    tokens: Mutex<HashMap<String, (Instant, Option<User>)>>,
    decisions: Mutex<HashMap<AuthorizationKey, (Instant, Decision)>>,
}

impl std::fmt::Debug for Delegated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delegated")
    }
}

impl Delegated {
    pub fn new(client: kube::Client) -> Delegated {
        Delegated {
            client,
            tokens: Mutex::default(),
            decisions: Mutex::default(),
        }
    }

    /// The user `token` belongs to, or `None` when the API server says it is not valid.
    pub async fn authenticate(&self, token: &str) -> Result<Option<User>, DelegatedError> {
        if let Some(answer) = cached(&self.tokens, token) {
            return Ok(answer);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let status = self
            .create("TokenReview", &review)
            .await?
            .status
            .unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(info)) => Some(User {
                name: info.username.unwrap_or_default(),
                uid: info.uid,
                groups: info.groups.unwrap_or_default(),
                extra: info.extra.unwrap_or_default().into_iter().collect(),
            }),
            _ => None,
        };
        remember(&self.tokens, token.to_string(), user.clone());
        Ok(user)
    }

    /// Whether `user` may do `request`.
    pub async fn authorize(
        &self,
        user: &User,
        request: &ResourceRequest,
    ) -> Result<Decision, DelegatedError> {
        let key = (user.name.clone(), user.groups.clone(), request.clone());
        if let Some(decision) = cached(&self.decisions, &key) {
            return Ok(decision);
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                uid: user.uid.clone(),
                groups: Some(user.groups.clone()),
                extra: Some(user.extra.iter().cloned().collect()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(request.group.to_string()),
                    resource: Some(request.resource.to_string()),
                    verb: Some(request.verb.to_string()),
                    name: request.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let status = self
            .create("SubjectAccessReview", &review)
            .await?
            .status
            .unwrap_or_default();
        let decision = if status.allowed && !status.denied.unwrap_or(false) {
            Decision::Allowed
        } else {
            Decision::Denied(status.reason.unwrap_or_default())
        };
        remember(&self.decisions, key, decision.clone());
        Ok(decision)
    }

    /// Creates `review` (a cluster-scoped review object) and answers the API server's copy,
    /// its status filled in.
    async fn create<K>(&self, what: &'static str, review: &K) -> Result<K, DelegatedError>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        kube::Api::<K>::all(self.client.clone())
            .create(&PostParams::default(), review)
            .await
            .map_err(|e| DelegatedError {
                what,
                message: incluster::describe(&e),
            })
    }
}

fn cached<K, Q, V>(cache: &Mutex<HashMap<K, (Instant, V)>>, key: &Q) -> Option<V>
where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
    V: Clone,
{
    let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .get(key)
        .filter(|(at, _)| at.elapsed() < CACHE_TTL)
        .map(|(_, value)| value.clone())
}

fn remember<K: Eq + std::hash::Hash, V>(cache: &Mutex<HashMap<K, (Instant, V)>>, key: K, value: V) {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= CACHE_ENTRIES {
        cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
    }
    cache.insert(key, (Instant::now(), value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_expire_and_stay_bounded() {
        let cache: Mutex<HashMap<String, (Instant, u32)>> = Mutex::default();
        remember(&cache, "a".to_string(), 1);
        assert_eq!(cached(&cache, "a"), Some(1));
        if let Some(old) = Instant::now().checked_sub(CACHE_TTL) {
            cache.lock().unwrap().get_mut("a").unwrap().0 = old;
            assert_eq!(cached(&cache, "a"), None);
        }
        for i in 0..(CACHE_ENTRIES * 2) {
            remember(&cache, i.to_string(), 0);
            assert!(cache.lock().unwrap().len() <= CACHE_ENTRIES);
        }
    }
}
