//! Kubernetes label syntax, as `k8s.io/apimachinery/pkg/util/validation` checks it: label keys
//! are qualified names (`name` or `prefix/name`), label values are at most 63 characters, and
//! namespaces are DNS-1123 labels.
//!
//! A target's extra `labels` are published with its external metric and matched by an HPA's
//! `metric.selector`; they are checked here once, when the target is validated, so that every
//! label set prescale publishes is one a Kubernetes client could have written. The label-selector
//! parser (`api::selector`) uses the same rules for the keys and values it reads.

use crate::series::clip;

/// Longest name part of a key, and longest value.
const MAX_NAME_LEN: usize = 63;
/// Longest key prefix (a DNS-1123 subdomain).
const MAX_PREFIX_LEN: usize = 253;

/// The `name` part of a qualified name, and a non-empty label value: alphanumerics, `-`, `_` and
/// `.`, starting and ending with an alphanumeric, at most 63 characters.
fn check_name_part(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} must be non-empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("{what} must be no more than 63 characters"));
    }
    let bytes = name.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let edges_ok =
        bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if !(inner_ok && edges_ok) {
        return Err(format!(
            "{what} must consist of alphanumeric characters, '-', '_' or '.', and must start and \
             end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A DNS-1123 label: lower-case alphanumerics and `-`, starting and ending with an alphanumeric.
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Checks a label key: `name` or `prefix/name`, where the prefix is a DNS-1123 subdomain.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("invalid label key {:?}: {why}", clip(key)));
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => {
            return fail(
                "a qualified name must be a name, optionally prefixed by a DNS subdomain and '/'"
                    .to_string(),
            );
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return fail("the prefix part must be non-empty".to_string());
        }
        if prefix.len() > MAX_PREFIX_LEN || !prefix.split('.').all(is_dns_label) {
            return fail(
                "the prefix part must be a lower-case DNS subdomain (e.g. 'example.com')"
                    .to_string(),
            );
        }
    }
    check_name_part(name, "the name part").or_else(fail)
}

/// Checks a label value: empty, or a name part of at most 63 characters.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name_part(value, "a label value")
        .map_err(|why| format!("invalid label value {:?}: {why}", clip(value)))
}

/// Checks a namespace name: a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63).
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if is_dns_label(namespace) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a valid namespace name (a DNS-1123 label: lower-case \
             alphanumerics and '-', at most 63 characters)",
            clip(namespace)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_qualified_names() {
        for good in [
            "env",
            "app.kubernetes.io/name",
            "a",
            "A-b_c.d",
            "example.com/x",
        ] {
            assert!(check_label_key(good).is_ok(), "{good}");
        }
        let long = "x".repeat(64);
        let long_prefix = format!("{}/x", "a".repeat(254));
        for bad in [
            "",
            "/x",
            "a/b/c",
            "-x",
            "x-",
            "Example.com/x",
            "ex_ample.com/x",
            "a b",
            "é",
            long.as_str(),
            long_prefix.as_str(),
            "example.com/",
        ] {
            assert!(check_label_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_may_be_empty_but_not_malformed() {
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("prod").is_ok());
        assert!(check_label_value("1.2_3-x").is_ok());
        assert!(check_label_value("-1").is_err());
        assert!(check_label_value("a/b").is_err());
        assert!(check_label_value(&"v".repeat(64)).is_err());
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert!(check_namespace("default").is_ok());
        assert!(check_namespace("kube-system").is_ok());
        for bad in ["", "Default", "a_b", "-a", "a.b", &"n".repeat(64)] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }
}
