//! The configuration file (`config::Config::parse`): any UTF-8 text as `sync-config.json`.
//!
//! Properties: parsing never panics; a refusal names at least one problem, all in its message;
//! an accepted configuration keeps every `groupNames` entry written, finds each workspace by its
//! name, has an `account` and a workspace id wherever `identities` is `account`, never a workspace id
//! other than its URL's, re-describes itself (serializes back to the file format, the way `check-config` and the
//! report show it) and that description parses back to an equal configuration.
#![no_main]

use std::path::Path;

use entra_databricks_sync::config::{Config, ConfigError, Identities, WorkspaceAuth};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `Config::load` refuses what is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("sync-config.json");
    let config = match Config::parse(text, path) {
        Ok(config) => config,
        Err(error) => {
            refusal_is_described(&error);
            return;
        }
    };
    assert!(
        !config.workspaces.is_empty(),
        "a valid configuration has a workspace"
    );
    for workspace in &config.workspaces {
        let found = config.workspace(workspace.name.as_str());
        assert!(
            found.is_some_and(|w| std::ptr::eq(w, workspace)),
            "{} is not found by its own name (names must be unique)",
            workspace.name
        );
        let mut description = format!(
            "{} {} {} {:?}",
            workspace.name,
            workspace.instance,
            workspace.instance.host(),
            workspace.options
        );
        for group in &workspace.access_groups {
            description.push_str(&group.to_string());
            let _ = workspace.mirrored_group_name(group, "display name");
        }
        if let Some(in_url) = workspace.instance.workspace_id() {
            assert_eq!(
                workspace.workspace_id,
                Some(in_url),
                "{}: the workspace id differs from its URL's",
                workspace.name
            );
        }
        if workspace.options.identities == Identities::Account {
            assert!(
                config.account.is_some() && workspace.workspace_id.is_some(),
                "{} is in account mode without an account or a workspace id",
                workspace.name
            );
        }
        if let WorkspaceAuth::Pat(secret) = &workspace.auth {
            description.push_str(&format!(
                "{secret} {} {:?}",
                secret.vault_url(),
                secret.version()
            ));
        }
        assert!(!description.is_empty());
    }
    every_group_name_is_kept(text, &config);
    let written = serde_json::to_string_pretty(&config).expect("a configuration serializes");
    match Config::parse(&written, path) {
        Ok(again) => assert_eq!(
            again, config,
            "the re-described configuration differs:\n{written}"
        ),
        Err(e) => panic!("the re-described configuration is refused: {e}\n{written}"),
    }
});

fn refusal_is_described(error: &ConfigError) {
    let problems = error.problems();
    assert!(!problems.is_empty(), "a refusal without a problem");
    let message = error.to_string();
    for problem in &problems {
        assert!(
            message.contains(problem.as_str()),
            "{problem:?} is not in the message"
        );
    }
}

/// Every `groupNames` entry of an accepted file is kept: one that is silently dropped would leave
/// a group mirrored under another name than the one written.
fn every_group_name_is_kept(text: &str, config: &Config) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file: serde_json::Value = serde_json::from_str(text).expect("an accepted file is JSON");
    let entries = file["workspaces"]
        .as_array()
        .expect("an accepted file lists workspaces");
    assert_eq!(entries.len(), config.workspaces.len());
    for (entry, workspace) in entries.iter().zip(&config.workspaces) {
        let written = entry
            .get("groupNames")
            .and_then(|g| g.as_object())
            .map_or(0, |g| g.len());
        assert_eq!(
            written,
            workspace.group_names.len(),
            "groupNames of {} lost entries: {:?}",
            workspace.name,
            workspace.group_names
        );
    }
}
