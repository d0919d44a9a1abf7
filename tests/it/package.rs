//! The handler as it ships: the binary taken out of the deployment zip (not the cargo build), run
//! through a sync against the emulated world with every address given by host name, under `strace`.
//! It shows that the packaged binary resolves names in Rust (hickory-dns, reading `/etc/resolv.conf`
//! and `/etc/hosts` itself) and never through glibc's NSS: a statically linked glibc binary would
//! `dlopen` the image's `libnss_*` for `getaddrinfo`, which may not match (issue 14).
//!
//! Run by `scripts/check-package.sh` after it builds the zip:
//! `PACKAGE_ZIP=target/package/entra-databricks-sync.zip cargo test --test it -- --ignored package::`

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::scenario::{Scenario, end_state, expected_users, scenario};
use crate::support::{Handler, sync_http};

/// Files glibc reads to resolve a name through NSS; none of them may be opened.
const NSS_FILES: &[&str] = &[
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "libnss_",
];

/// `handler_env` with the proxy and the identity endpoint named `localhost` instead of `127.0.0.1`,
/// so that reaching them needs a name lookup (the emulated services are already reached by name,
/// through the proxy).
fn by_name(env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.into_iter()
        .map(|(name, value)| match name.as_str() {
            "HTTPS_PROXY" | "IDENTITY_ENDPOINT" => {
                let named = value.replacen("://127.0.0.1:", "://localhost:", 1);
                assert_ne!(named, value, "{name} is not a 127.0.0.1 URL");
                (name, named)
            }
            "NO_PROXY" => (name, "localhost".to_owned()),
            _ => (name, value),
        })
        .collect()
}

fn unzip_handler(zip: &Path, into: &Path) -> std::path::PathBuf {
    let status = Command::new("unzip")
        .arg("-q")
        .arg(zip)
        .arg("handler")
        .arg("-d")
        .arg(into)
        .status()
        .expect("unzip runs");
    assert!(status.success(), "unzip {} failed", zip.display());
    into.join("handler")
}

#[tokio::test]
#[ignore = "needs the deployment zip and strace: scripts/check-package.sh runs it"]
async fn the_handler_in_the_package_zip_syncs_by_host_name_without_glibc_nss() {
    let zip = std::env::var_os("PACKAGE_ZIP")
        .expect("PACKAGE_ZIP must name the deployment zip (scripts/check-package.sh sets it)");
    let dir = tempfile::tempdir().unwrap();
    let handler = unzip_handler(Path::new(&zip), dir.path());
    let trace = dir.path().join("files-opened.txt");

    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-e", "trace=%file", "-o"])
        .arg(&trace)
        .arg(&handler);
    let mut running = Handler::start_command(strace, &config, &by_name(world.handler_env())).await;
    let (code, report) = sync_http(&running, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(end_state(&test), expected_users());
    assert_eq!(end_state(&prod), expected_users());
    let stderr = running.stderr();
    // strace blocks SIGTERM while it runs a program with -o; stop the handler itself, and strace ends
    // with it, its output written out.
    let tracer = running.pid();
    let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children"))
        .expect("the tracer's children are listed");
    let handler_pid = children
        .split_whitespace()
        .next()
        .expect("strace runs the handler");
    let sent = Command::new("kill")
        .args(["-TERM", handler_pid])
        .status()
        .unwrap();
    assert!(sent.success());
    running.wait();

    let opened = std::fs::read_to_string(&trace).expect("strace wrote its trace");
    assert!(
        opened.contains(handler.to_str().unwrap()),
        "the trace is of the packaged handler: {}",
        opened.lines().next().unwrap_or("")
    );
    assert!(
        opened.contains("/etc/resolv.conf"),
        "names were resolved by hickory-dns, which reads /etc/resolv.conf itself; stderr: {stderr:?}"
    );
    let nss: Vec<&str> = opened
        .lines()
        .filter(|line| NSS_FILES.iter().any(|file| line.contains(file)))
        .collect();
    assert!(
        nss.is_empty(),
        "the packaged handler used glibc's NSS: {nss:#?}"
    );
}
