//! README.md's "Try it (curl)" commands, executed as written (with `bash`, `curl` and `awk`)
//! against `serve --demo` on a fresh data directory, so the README cannot drift from what
//! works: every command succeeds, and every target they define gets a plan.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, wait_for_200};

/// The first ```sh block after the "Try it (curl)" heading.
fn try_it_commands() -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = &readme[readme.find("## Try it (curl)").expect("the Try it section")..];
    let block = &section[section.find("```sh").expect("a sh block") + 5..];
    block[..block.find("```").expect("the block's end")].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_try_it_commands_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--demo"]);
    wait_for_200(&server.url("/readyz"), Duration::from_secs(60)).await;
    let address = server.url.trim_start_matches("http://").to_string();
    let commands = try_it_commands();
    assert!(commands.contains("localhost:8080"), "{commands}");
    // Every target the commands define, before the commands delete any.
    let defined: Vec<String> = commands
        .lines()
        .filter(|line| line.contains("-X PUT") && line.contains("/api/v1/targets/"))
        .map(|line| {
            let at = line.find("/api/v1/targets/").unwrap() + "/api/v1/targets/".len();
            line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect()
        })
        .collect();
    assert!(!defined.is_empty(), "{commands}");
    // Run them up to the first delete of a target, then check the plans, then the rest.
    let cut = commands
        .find("curl -si -X DELETE localhost:8080/api/v1/targets/")
        .expect("the commands delete a target");
    let (before, after) = commands.split_at(cut);
    let run = |script: &str| {
        let script = format!(
            "set -euo pipefail\n{}",
            script.replace("localhost:8080", &address)
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{script}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let output = run(before);
    for status in ["HTTP/1.1 4", "HTTP/1.1 5"] {
        assert!(!output.contains(status), "a command failed:\n{output}");
    }
    for target in defined.iter().chain(["demo".to_string()].iter()) {
        let plan = wait_for_200(
            &server.url(&format!("/api/v1/targets/{target}/plan")),
            Duration::from_secs(60),
        )
        .await;
        assert!(plan["current"]["replicas"].as_u64().unwrap() >= 1, "{plan}");
    }
    let output = run(after);
    assert!(!output.contains("HTTP/1.1 5"), "{output}");
}
