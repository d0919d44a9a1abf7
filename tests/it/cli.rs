//! The command line as a user runs it: exit codes, where output goes, what it says.

use std::process::{Command, Output};

use crate::support::{config_json, handler_exe};

fn handler(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(handler_exe())
        .args(args)
        .current_dir(dir)
        .env_remove("SYNC_CONFIG_PATH")
        .env_remove("FUNCTIONS_APP_ROOT_PATH")
        .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
        .env_remove("GRAPH_ENDPOINT")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("RUST_LOG")
        .env_remove("AzureWebJobsStorage")
        .env_remove("AzureWebJobsStorage__blobServiceUri")
        .env("AzureWebJobsStorage__accountName", "stdbxsync01")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_accepts_the_example_and_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/sync-config.example.json");
    let out = handler(&["check-config", "--config", example], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("sync-config.example.json: valid, 2 workspace(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PAT from Key Vault secret: https://"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  shared state: https://stdbxsync01.blob.core.windows.net (AzureWebJobsStorage__accountName): a lease per workspace, the last reports\n"
        ),
        "{stdout}"
    );
}

#[test]
fn check_config_shows_the_account_and_which_workspaces_use_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sync-config.json"),
        r#"{"account": {"accountId": "0A1B2C3D-4E5F-6789-ABCD-EF0123456789"}, "workspaces": [
            {"name": "a", "databricksInstance": "https://adb-5555555555555555.19.azuredatabricks.net",
             "accessGroups": "G", "auth": "managedIdentity", "identities": "account"},
            {"name": "b", "databricksInstance": "https://adb-1.2.azuredatabricks.net",
             "accessGroups": "G", "auth": "managedIdentity"}]}"#,
    )
    .unwrap();
    let out = handler(&["check-config"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "  account: 0a1b2c3d-4e5f-6789-abcd-ef0123456789 at https://accounts.azuredatabricks.net\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    pace at most: GET 18/s, LIST 3.6/s, PATCH 1.8/s, POST/PUT/DELETE 4.5/s (90 % of \
             Databricks' documented account limits)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    identities: at the account, assigned to workspace id 5555555555555555\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    pace at most: 4.25/s over the workspace's SCIM API\n"),
        "b provisions in the workspace at the documented 255 a minute: {stdout}"
    );
    assert_eq!(
        stdout.matches("identities:").count(),
        1,
        "b provisions in the workspace: {stdout}"
    );
}

#[test]
fn check_config_reads_sync_config_json_from_the_working_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = handler(&["check-config"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("sync-config.json"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("sync-config.json"), config_json(&["a"])).unwrap();
    assert_eq!(
        handler(&["check-config"], dir.path()).status.code(),
        Some(0)
    );
}

#[test]
fn check_config_reports_every_problem_on_stderr_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"workspaces":[{"databricksInstance":"http://adb-1.1.azuredatabricks.net","accessGroups":[],"scimToken":"dapi0123456789abcdef"}]}"#,
    )
    .unwrap();
    let out = handler(&["check-config", "--config", "bad.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("3 problem"), "{stderr}");
    for field in ["databricksInstance", "accessGroups", "scimToken"] {
        assert!(stderr.contains(field), "{field} missing from: {stderr}");
    }
    assert!(
        !stderr.contains("dapi0123456789abcdef"),
        "a PAT pasted into scimToken is never echoed"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn sync_usage_and_configuration_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sync-config.json"), config_json(&["a"])).unwrap();
    let out = handler(&["sync", "--workspace", "zzz"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.trim().lines().last(),
        Some("handler: unknown workspace \"zzz\"; configured: \"a\""),
        "{stderr}"
    );
    assert_eq!(
        handler(&["sync", "--output", "yaml"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        handler(&["sync", "--config", "missing.json"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(handler(&["frobnicate"], dir.path()).status.code(), Some(2));
    assert_eq!(handler(&["--help"], dir.path()).status.code(), Some(0));
}

#[test]
fn serve_without_a_port_or_with_a_bad_one_says_so_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = handler(&["serve"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("FUNCTIONS_CUSTOMHANDLER_PORT: is not set"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(handler_exe())
        .current_dir(dir.path())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "http")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no argument means serve");
    assert!(
        text(&out.stderr).contains("must be a TCP port number between 1 and 65535, got \"http\"")
    );
}
