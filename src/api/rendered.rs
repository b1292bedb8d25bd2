//! Answers rendered once and served as bytes while what they show is unchanged.
//!
//! A forecast answer depends only on the model it comes from and the step it starts at: every
//! request between two refits (or two grid steps) gets the same bytes. [`RenderCache`] keeps the
//! rendered body per key with the *version* it was rendered from (the model's `Arc` and the
//! first timestamp); a request whose version matches is answered from the bytes, without a
//! predict or a serialisation. Each body carries a strong `ETag` (a hash of its bytes), so a
//! client that sends it back in `If-None-Match` gets `304 Not Modified` with no body.
//!
//! Bounded: bodies larger than [`MAX_CACHED_BODY`] are not kept, and the oldest entries are
//! dropped while the kept bytes exceed the cache's budget.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Largest body kept (a 1-day forecast on a 1-minute step is ~220 kB).
pub const MAX_CACHED_BODY: usize = 1024 * 1024;

/// Bytes all kept bodies may take together, by default.
pub const DEFAULT_BUDGET: usize = 32 * 1024 * 1024;

/// A rendered JSON body and its `ETag`.
#[derive(Debug, Clone)]
pub struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

impl Rendered {
    /// `body` (JSON) with an `ETag` derived from its bytes.
    pub fn json(body: Vec<u8>) -> Rendered {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = format!("\"{:016x}-{:x}\"", hasher.finish(), body.len());
        Rendered {
            body: Bytes::from(body),
            etag: HeaderValue::from_str(&etag).expect("hex digits are a valid header value"),
        }
    }

    /// The answer to a request with `headers`: `304` when its `If-None-Match` names this body,
    /// the body otherwise. Both carry the `ETag` and `Cache-Control: no-cache` (a client may
    /// keep the body, and must ask again: a refit can change it at any time).
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let cached_by_client = headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag.as_bytes() == self.etag.as_bytes());
        let common = [
            (ETAG, self.etag.clone()),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if cached_by_client {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        (
            StatusCode::OK,
            common,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            Body::from(self.body.clone()),
        )
            .into_response()
    }

    fn len(&self) -> usize {
        self.body.len()
    }
}

struct Entry<V> {
    version: V,
    rendered: Rendered,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys in insertion order (oldest first); a key appears once.
    order: VecDeque<K>,
    bytes: usize,
}

/// Rendered bodies per key `K`, each valid for one version `V` (see the module doc).
pub struct RenderCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    budget: usize,
}

impl<K: Eq + Hash + Clone, V: PartialEq> RenderCache<K, V> {
    /// An empty cache keeping at most `budget` bytes of bodies.
    pub fn new(budget: usize) -> RenderCache<K, V> {
        RenderCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
            budget,
        }
    }

    /// The body kept for `key` (or a borrowed form of it, such as a `&str` for a `String`
    /// key) if it was rendered from `version`.
    pub fn get<Q>(&self, key: &Q, version: &V) -> Option<Rendered>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.lock().expect("render cache lock");
        inner
            .entries
            .get(key)
            .filter(|entry| entry.version == *version)
            .map(|entry| entry.rendered.clone())
    }

    /// Keeps `rendered` for `key` at `version` (replacing what was kept), unless it is larger
    /// than [`MAX_CACHED_BODY`] or the budget; drops the oldest entries beyond the budget.
    pub fn put(&self, key: K, version: V, rendered: Rendered) {
        if rendered.len() > MAX_CACHED_BODY.min(self.budget) {
            return;
        }
        let mut inner = self.inner.lock().expect("render cache lock");
        let size = rendered.len();
        match inner
            .entries
            .insert(key.clone(), Entry { version, rendered })
        {
            Some(old) => inner.bytes -= old.rendered.len(),
            None => inner.order.push_back(key),
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.bytes -= old.rendered.len();
            }
        }
    }

    /// Bodies kept, and their bytes.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().expect("render cache lock");
        (inner.entries.len(), inner.bytes)
    }
}

/// A version that is an `Arc` (the model a body came from) and a value: equal only for the same
/// allocation. The cache holds the `Arc`, so the allocation cannot be reused while compared.
#[derive(Debug, Clone)]
pub struct Versioned<T, U>(pub Arc<T>, pub U);

impl<T, U: PartialEq> PartialEq for Versioned<T, U> {
    fn eq(&self, other: &Versioned<T, U>) -> bool {
        Arc::ptr_eq(&self.0, &other.0) && self.1 == other.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Rendered {
        Rendered::json(vec![b'x'; n])
    }

    #[test]
    fn a_body_is_served_for_its_version_only() {
        let cache: RenderCache<&str, u32> = RenderCache::new(1000);
        cache.put("a", 1, body(10));
        assert!(cache.get(&"a", &1).is_some());
        assert!(cache.get(&"a", &2).is_none());
        assert!(cache.get(&"b", &1).is_none());
        // A newer version replaces the older one.
        cache.put("a", 2, body(20));
        assert!(cache.get(&"a", &1).is_none());
        assert_eq!(cache.get(&"a", &2).unwrap().len(), 20);
        assert_eq!(cache.usage(), (1, 20));
    }

    #[test]
    fn the_cache_keeps_within_its_budget() {
        let cache: RenderCache<u32, u32> = RenderCache::new(100);
        for key in 0..10 {
            cache.put(key, 0, body(30));
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= 100, "{bytes}");
        assert_eq!(entries, 3);
        // The newest are kept.
        assert!(cache.get(&9, &0).is_some());
        assert!(cache.get(&0, &0).is_none());
        // A body larger than the budget is not kept at all.
        cache.put(42, 0, body(101));
        assert!(cache.get(&42, &0).is_none());
    }

    #[test]
    fn versions_compare_the_allocation() {
        let a = Arc::new(5);
        let b = Arc::new(5);
        assert_eq!(Versioned(a.clone(), 1), Versioned(a.clone(), 1));
        assert_ne!(Versioned(a.clone(), 1), Versioned(b, 1));
        assert_ne!(Versioned(a.clone(), 1), Versioned(a, 2));
    }

    #[test]
    fn if_none_match_gets_a_304() {
        let rendered = body(10);
        let etag = rendered.etag.clone();
        let plain = rendered.respond(&HeaderMap::new());
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()[ETAG], etag);
        let mut headers = HeaderMap::new();
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", {}", etag.to_str().unwrap())).unwrap(),
        );
        assert_eq!(
            rendered.respond(&headers).status(),
            StatusCode::NOT_MODIFIED
        );
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(rendered.respond(&headers).status(), StatusCode::OK);
    }
}
