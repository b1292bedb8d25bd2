//! Every input under `fuzz/regressions/` (a crash, out-of-memory or timeout that a fuzz target
//! or a probe found) replayed through the same library calls as its fuzz target, in a debug
//! build (so an arithmetic overflow panics): each must now be refused cleanly, fast.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prescale::collect::remote_write::{self, RemoteWriteConfig};
use prescale::plan::Target;
use prescale::series::csv::{dataset_from_samples, read_samples};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// Runs `check` on every input of `target`, each within a second.
fn replay(target: &str, check: impl Fn(&Path, &[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let started = Instant::now();
        check(&path, &data);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
}

#[test]
fn csv_inputs_are_refused_not_allocated() {
    replay("csv", |path, data| {
        let samples =
            read_samples(Cursor::new(data), "fuzz").expect("the rows themselves are valid");
        let refused = dataset_from_samples(samples, "fuzz").err();
        let message = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("more than the limit") || message.contains("too far apart"),
            "{}: {message:?}",
            path.display()
        );
    });
}

#[test]
fn target_inputs_are_refused_at_the_edge() {
    replay("target_json", |path, data| {
        let refused = serde_json::from_slice::<Target>(data)
            .map_err(|e| e.to_string())
            .and_then(|t| t.check().map_err(|e| e.to_string()));
        assert!(refused.is_err(), "{} was accepted", path.display());
    });
}

#[test]
fn remote_write_inputs_are_refused_before_decoding() {
    let allow = RemoteWriteConfig {
        allow: vec!["*".into()],
    };
    replay("remote_write", |path, data| {
        let refused = remote_write::decode(data, &allow, 1_767_607_200).err();
        assert!(
            refused.as_ref().is_some_and(remote_write::is_too_large),
            "{}: {refused:?}",
            path.display()
        );
    });
}
