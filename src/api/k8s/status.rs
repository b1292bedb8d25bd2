//! [`Status`]: the error object of every Kubernetes API (`kind: Status`, `status: Failure`),
//! which clients such as `kubectl` and the HPA controller read for the reason and message.
//!
//! A handler returns it (`Result<_, Status>`) and it renders itself with its HTTP code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Kubernetes `Status` failure, optionally about one object (`details`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    /// The `StatusReason`, a CamelCase word (`NotFound`, `BadRequest`, …).
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Details>,
}

/// The object a [`Status`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub name: String,
    pub group: &'static str,
    pub kind: String,
}

impl Status {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Status {
        Status {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Status {
        Status::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Status {
        Status::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> Status {
        Status::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }

    /// The same failure about the object `name` of `kind` in API group `group`.
    pub fn about(mut self, group: &'static str, kind: &str, name: &str) -> Status {
        // Both come from the request path: repeated at most 200 bytes each.
        self.details = Some(Details {
            name: crate::series::clip(name),
            group,
            kind: crate::series::clip(kind),
        });
        self
    }

    /// The JSON body, as the Kubernetes API server writes it (fields in its order).
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("kind".into(), json!("Status"));
        body.insert("apiVersion".into(), json!("v1"));
        body.insert("metadata".into(), json!({}));
        body.insert("status".into(), json!("Failure"));
        body.insert("message".into(), json!(self.message));
        body.insert("reason".into(), json!(self.reason));
        if let Some(details) = &self.details {
            let Details { name, group, kind } = details;
            let details = json!({ "name": name, "group": group, "kind": kind });
            body.insert("details".into(), details);
        }
        body.insert("code".into(), json!(self.code.as_u16()));
        serde_json::Value::Object(body)
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        (self.code, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_kubernetes_status() {
        let status = Status::not_found("no such thing").about("g.io", "web", "web");
        assert_eq!(
            status.body(),
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "no such thing", "reason": "NotFound", "code": 404,
                "details": { "name": "web", "group": "g.io", "kind": "web" },
            })
        );
        let plain = Status::unauthorized("who?").body();
        assert_eq!(plain["code"], 401);
        assert!(plain.get("details").is_none());
    }
}
