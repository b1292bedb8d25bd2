//! DESIGN.md's invariants, checked on the sources: `forecast` and `plan` are pure — no async
//! runtime, no storage, no HTTP, no service modules, no clock — so the backtest and the service
//! run the very same code.

use std::path::Path;

const FORBIDDEN: [&str; 10] = [
    "tokio",
    "sled",
    "axum",
    "reqwest",
    "crate::store",
    "crate::engine",
    "crate::api",
    "crate::collect",
    "SystemTime",
    "Utc::now",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn forecast_and_plan_stay_pure() {
    let mut files = Vec::new();
    rust_files(Path::new("src/forecast"), &mut files);
    rust_files(Path::new("src/plan"), &mut files);
    assert!(
        files.len() >= 3,
        "expected the forecast and plan sources, found {files:?}"
    );
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) || code.contains("Instant::now") {
                    violations.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    violations.dedup();
    assert!(
        violations.is_empty(),
        "impure code in forecast/plan:\n{}",
        violations.join("\n")
    );
}

#[test]
fn lower_layers_do_not_reach_up() {
    // series knows nothing above it; store knows only series.
    let rules: [(&str, &[&str]); 2] = [
        (
            "src/series",
            &[
                "crate::store",
                "crate::forecast",
                "crate::plan",
                "crate::engine",
                "crate::api",
                "crate::collect",
            ],
        ),
        (
            "src/store",
            &[
                "crate::forecast",
                "crate::plan",
                "crate::engine",
                "crate::api",
                "crate::collect",
            ],
        ),
    ];
    for (dir, banned) in rules {
        let mut files = Vec::new();
        rust_files(Path::new(dir), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for word in banned {
                assert!(!text.contains(word), "{} uses {word}", file.display());
            }
        }
    }
}

#[test]
fn alert_rules_and_the_forecast_ledger_stay_pure() {
    // Alert evaluation and forecast-error bookkeeping are unit-tested as pure functions of
    // their inputs: no runtime, no network, no storage, no clock (`now` comes in).
    for file in ["src/alerts/rules.rs", "src/monitor/ledger.rs"] {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN.iter().chain(&["Instant::now", "crate::monitor"]) {
                assert!(
                    !code.contains(word),
                    "{file}:{}: {} uses {word}",
                    number + 1,
                    line.trim()
                );
            }
        }
    }
}

/// The modules a source file imports: every `crate::a::b` path it names, as the file's module
/// and the named module (`crate::a::b` when `src/a/b.rs` or `src/a/b/` exists, else `crate::a`).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix("src").unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".to_string()
    } else {
        format!("crate::{}", parts.join("::"))
    }
}

/// The deepest existing module named by a `crate::…` path.
fn resolve(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches("crate::").split("::").collect();
    let mut best = "crate".to_string();
    for n in 1..=segments.len() {
        let dir = Path::new("src").join(segments[..n].join("/"));
        if dir.is_dir() || dir.with_extension("rs").is_file() {
            best = format!("crate::{}", segments[..n].join("::"));
        } else {
            break;
        }
    }
    best
}

/// The modules `text` (the source of module `from`) names through `crate::…` and `super::…`.
fn imports(text: &str, from: &str) -> Vec<String> {
    let parent = from.rsplit_once("::").map_or("crate", |(p, _)| p);
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("super::") {
            let tail = &rest[at + "super::".len()..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let named = tail[..end].trim_end_matches(':');
            if !named.starts_with("super") && !named.is_empty() {
                let path = format!("{parent}::{named}").replacen("crate::", "", 1);
                found.push(resolve(&format!("crate::{path}")));
            }
            rest = &tail[end..];
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            found.push(resolve(tail[..end].trim_end_matches(':')));
            rest = &tail[end..];
        }
    }
    found
}

#[test]
fn no_two_modules_import_each_other() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let mut edges = std::collections::BTreeSet::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for to in imports(code, &from) {
            // A module using its own children or parents is one unit.
            if to == from
                || to.starts_with(&format!("{from}::"))
                || from.starts_with(&format!("{to}::"))
            {
                continue;
            }
            edges.insert((from.clone(), to));
        }
    }
    assert!(
        edges.len() > 20,
        "the import scan found too little: {edges:?}"
    );
    let mutual: Vec<_> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .collect();
    assert!(
        mutual.is_empty(),
        "modules importing each other: {mutual:?}"
    );
}

#[test]
fn the_live_cycle_is_pure() {
    // One refit/plan cycle shared by the engine and the backtest: no runtime, no storage, no
    // network, no clock (the clock is an argument, so the backtest can time fits).
    let text = std::fs::read_to_string("src/live.rs").unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    for (number, line) in code.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for word in FORBIDDEN.iter().chain(&["Instant::now"]) {
            assert!(
                !code.contains(word),
                "src/live.rs:{}: {} uses {word}",
                number + 1,
                line.trim()
            );
        }
    }
}

#[test]
fn the_kubernetes_kit_knows_nothing_of_the_app() {
    // api/k8s serves an aggregated API for any provider: it must not reach for the engine, the
    // app's state or its other routers.
    let mut files = Vec::new();
    rust_files(Path::new("src/api/k8s"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in [
            "crate::engine",
            "crate::store",
            "AppState",
            "crate::api::rest",
            "crate::api::state",
            "crate::api::metrics",
            "crate::api::keda",
        ] {
            assert!(!text.contains(word), "{} uses {word}", file.display());
        }
    }
}
