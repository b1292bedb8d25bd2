//! deploy/ and the Dockerfile agree with the binary: the example configuration loads, and
//! every flag the manifests and the image pass to `prescale serve` exists. (Schema validation
//! of the manifests is scripts/validate-deploy.py, run by scripts/test.sh.)

mod common;

use std::path::Path;
use std::process::Command;

use prescale::config::{Config, Overrides};

#[test]
fn the_example_configuration_loads() {
    let config = Config::load(
        Some(Path::new("deploy/base/prescale.toml")),
        Overrides::default(),
    )
    .expect("deploy/base/prescale.toml is a valid configuration");
    let target = &config.targets["checkout"];
    assert_eq!(target.labels["env"], "prod");
}

/// deploy/replicated/'s configuration loads, and every target's series comes from a pull
/// source: the replicas plan from the store's data, not from pushes only one of them receives.
#[test]
fn the_replicated_configuration_pulls_every_targets_history() {
    let config = Config::load(
        Some(Path::new("deploy/replicated/prescale.toml")),
        Overrides::default(),
    )
    .expect("deploy/replicated/prescale.toml is a valid configuration");
    assert!(config.cluster.shared_store);
    assert!(!config.targets.is_empty());
    for (name, target) in &config.targets {
        assert!(
            config.sources.iter().any(|s| s.series == target.series),
            "target {name}: its series {:?} is not pulled",
            target.series.as_str()
        );
    }
}

/// `--flag` words in `text`.
fn flags(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | '[' | ']' | '='))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_flag_the_manifests_pass_exists() {
    let help = Command::new(common::BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // The container's arguments: the Deployment's `args` items and the image's CMD.
    for (file, prefix) in [
        ("deploy/base/deployment.yaml", "- --"),
        ("Dockerfile", "CMD "),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let used: Vec<String> = text
            .lines()
            .filter(|line| line.trim_start().starts_with(prefix))
            .flat_map(flags)
            .collect();
        assert!(used.len() >= 3, "{file}: found {used:?}");
        for flag in used {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{file} passes {flag}, which `prescale serve` does not have"
            );
        }
    }
}
