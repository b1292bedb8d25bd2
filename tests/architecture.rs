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
