//! The configuration file as users write it: a table of bad files with the exact problem lines
//! each must produce, a file with many problems reported at once, good files in every accepted
//! form, the shipped example, and loading from disk.

use std::path::Path;

use entra_databricks_sync::config::{
    Config, ConfigError, GroupRef, Identities, SecretUrl, UserNameSource, Workspace, WorkspaceAuth,
};

const INSTANCE: &str = "https://adb-6234138917436195.15.azuredatabricks.net";
const HOST: &str = "adb-6234138917436195.15.azuredatabricks.net";
const TOKEN: &str = "https://kv-dbx-sync.vault.azure.net/secrets/analytics-test-pat";
const PAT: &str = "dapi0123456789abcdef0123456789abcdef";
const ACCOUNT_ID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

fn path() -> &'static Path {
    Path::new("sync-config.json")
}

/// `{"workspaces": [<entries>]}`.
fn file(entries: &[&str]) -> String {
    format!("{{\"workspaces\": [{}]}}", entries.join(",\n"))
}

/// The problem lines for `text`, which must be invalid.
fn problems(text: &str) -> Vec<String> {
    match Config::parse(text, path()) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(err) => err.problems(),
    }
}

/// The PAT secret URL of a workspace that uses one.
fn pat(workspace: &Workspace) -> &SecretUrl {
    match &workspace.auth {
        WorkspaceAuth::Pat(url) => url,
        WorkspaceAuth::ManagedIdentity => panic!("{} uses its managed identity", workspace.name),
    }
}

fn valid(text: &str) -> Config {
    match Config::parse(text, path()) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn each_bad_file_is_reported_with_exact_messages() {
    let named = |fields: &str| format!(r#"{{"name": "analytics-test", {fields}}}"#);
    let seed = |instance: &str, groups: &str, token: &str| {
        named(&format!(
            r#""databricksInstance": {instance}, "accessGroups": {groups}, "scimToken": {token}"#
        ))
    };
    let (i, g, t) = (
        format!("{INSTANCE:?}"),
        r#""Databricks-Group-Test""#.to_owned(),
        format!("{TOKEN:?}"),
    );
    let unnamed =
        format!(r#"{{"databricksInstance": {i}, "accessGroups": {g}, "scimToken": {t}}}"#);
    // Account mode: an entry with `extra` keys, and a file with `top` keys beside `workspaces`.
    let with = |extra: &str| {
        named(&format!(
            r#""databricksInstance": {i}, "accessGroups": {g}, "scimToken": {t}, {extra}"#
        ))
    };
    let regional = |extra: &str| {
        named(&format!(
            r#""databricksInstance": "https://westeurope.azuredatabricks.net", "accessGroups": {g}, "scimToken": {t}, {extra}"#
        ))
    };
    let beside = |top: &str, entry: &str| format!(r#"{{{top}, "workspaces": [{entry}]}}"#);
    let account = format!(r#""account": {{"accountId": "{ACCOUNT_ID}"}}"#);
    let needs_account = r#"is "account", which needs the top-level "account" object with "accountId" (the Azure Databricks account id): add "account": {"accountId": "<GUID>"} next to "workspaces", or use "workspace""#;
    let account_id_hint = "the Azure Databricks account id, a GUID: in the account console, open the user menu at the top right to see it";
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "missing databricksInstance",
            file(&[&named(&format!(r#""accessGroups": {g}, "scimToken": {t}"#))]),
            vec![r#"workspaces[0] ("analytics-test"): missing required key "databricksInstance" (the workspace URL, like https://adb-1234567890123456.7.azuredatabricks.net)"#.into()],
        ),
        (
            "missing accessGroups",
            file(&[&format!(r#"{{"databricksInstance": {i}, "scimToken": {t}}}"#)]),
            vec![format!(r#"workspaces[0] ("{HOST}"): missing required key "accessGroups" (the Entra ID group, or array of groups, whose members get access)"#)],
        ),
        (
            "missing scimToken",
            file(&[&named(&format!(r#""databricksInstance": {i}, "accessGroups": {g}"#))]),
            vec![r#"workspaces[0] ("analytics-test"): missing required key "scimToken" (the Key Vault secret URL of the SCIM token, like https://<vault>.vault.azure.net/secrets/<name>; or set "auth": "managedIdentity" to call the workspace with the app's identity)"#.into()],
        ),
        (
            "http workspace URL",
            file(&[&seed(&format!("\"http://{HOST}\""), &g, &t)]),
            vec![format!(r#"workspaces[0] ("analytics-test").databricksInstance: must use https, got "http://{HOST}": use "https://{HOST}""#)],
        ),
        (
            "bare host without scheme",
            file(&[&format!(r#"{{"databricksInstance": "adb-123.4.azuredatabricks.net", "accessGroups": {g}, "scimToken": {t}}}"#)]),
            vec![r#"workspaces[0].databricksInstance: "adb-123.4.azuredatabricks.net" has no scheme: did you mean "https://adb-123.4.azuredatabricks.net"?"#.into()],
        ),
        (
            "workspace URL with the browser's query",
            file(&[&seed(&format!("\"{INSTANCE}/?o=6234138917436195\""), &g, &t)]),
            vec![format!(r#"workspaces[0] ("analytics-test").databricksInstance: "{INSTANCE}/?o=6234138917436195" must not have a query ("?o=6234138917436195"): use "{INSTANCE}""#)],
        ),
        (
            "Key Vault key instead of secret",
            file(&[&seed(&i, &g, r#""https://kv-dbx-sync.vault.azure.net/keys/x""#)]),
            vec![r#"workspaces[0] ("analytics-test").scimToken: "https://kv-dbx-sync.vault.azure.net/keys/x" is not a Key Vault secret URL: expected https://<vault>.vault.azure.net/secrets/<name> or https://<vault>.vault.azure.net/secrets/<name>/<version>"#.into()],
        ),
        (
            "raw token instead of its secret URL",
            file(&[&seed(&i, &g, &format!("{PAT:?}"))]),
            vec![r#"workspaces[0] ("analytics-test").scimToken: must be a Key Vault secret URL like https://<vault>.vault.azure.net/secrets/<name>, got a value that is not a URL (not shown: it may be a secret)"#.into()],
        ),
        (
            "legacy placeholder instead of a secret URL",
            file(&[&seed(&i, &g, r#""<Databricks SCIM token>""#)]),
            vec![r#"workspaces[0] ("analytics-test").scimToken: must be a Key Vault secret URL like https://<vault>.vault.azure.net/secrets/<name>, got a value that is not a URL (not shown: it may be a secret)"#.into()],
        ),
        (
            "duplicate explicit names differing in case",
            file(&[&seed(&i, &g, &t), &seed(&i, &g, &t).replace("analytics-test", "Analytics-Test")]),
            vec![r#"workspaces[1] ("Analytics-Test"): duplicate workspace name: workspaces[0] and workspaces[1] are both named "Analytics-Test" (names compare case-insensitively)"#.into()],
        ),
        (
            "duplicate names defaulted from the host",
            file(&[&unnamed, &unnamed]),
            vec![format!(r#"workspaces[1] ("{HOST}"): duplicate workspace name: workspaces[0] and workspaces[1] are both named "{HOST}" (names compare case-insensitively); a workspace without "name" is named after the host of its databricksInstance, so set "name" to tell them apart"#)],
        ),
        (
            "misspelt key",
            file(&[&named(&format!(r#""databricksInstance": {i}, "acessGroups": {g}, "scimToken": {t}"#))]),
            vec![r#"workspaces[0] ("analytics-test"): unknown key "acessGroups" (did you mean "accessGroups"?)"#.into()],
        ),
        (
            "unknown key without a near match",
            file(&[&seed(&i, &g, &t).replace("{", r#"{"comment": "x", "#)]),
            vec![r#"workspaces[0] ("analytics-test"): unknown key "comment""#.into()],
        ),
        (
            "empty group array",
            file(&[&seed(&i, "[]", &t)]),
            vec![r#"workspaces[0] ("analytics-test").accessGroups: must list at least one group, got an empty array"#.into()],
        ),
        (
            "blank group string",
            file(&[&seed(&i, r#""  ""#, &t)]),
            vec![r#"workspaces[0] ("analytics-test").accessGroups: must not be empty: give an Entra ID group display name or object id"#.into()],
        ),
        (
            "same group twice",
            file(&[&seed(&i, r#"["Readers", "Writers", "readers"]"#, &t)]),
            vec![r#"workspaces[0] ("analytics-test").accessGroups[2]: duplicate group "readers" (also at accessGroups[0]; group names compare case-insensitively)"#.into()],
        ),
        (
            "wrong types",
            file(&[&format!(r#"{{"name": 42, "databricksInstance": {i}, "accessGroups": ["G", 7, null], "scimToken": true}}"#),
                   &format!(r#"{{"databricksInstance": ["x"], "accessGroups": {{"a": 1}}, "scimToken": {t}}}"#),
                   r#""analytics-prod""#]),
            vec![
                format!(r#"workspaces[0] ("{HOST}").name: must be a string, got a number"#),
                format!(r#"workspaces[0] ("{HOST}").accessGroups[1]: must be a string, got a number"#),
                format!(r#"workspaces[0] ("{HOST}").accessGroups[2]: must be a string, got null"#),
                format!(r#"workspaces[0] ("{HOST}").scimToken: must be a string, got a boolean"#),
                "workspaces[1].databricksInstance: must be a string, got an array".into(),
                "workspaces[1].accessGroups: must be a string or an array of strings, got an object".into(),
                "workspaces[2]: must be an object, got a string".into(),
            ],
        ),
        (
            "name with a comma",
            file(&[&seed(&i, &g, &t).replacen("analytics-test", "analytics,test", 1)]),
            vec![format!(r#"workspaces[0] ("{HOST}").name: "analytics,test" is not a valid workspace name (',' is not allowed): use letters, digits, '.', '_' and '-', at most 64 characters, starting with a letter or digit (names are used in query strings, where several are joined with commas)"#)],
        ),
        (
            "invalid JSON syntax",
            "{\"workspaces\": [\n  {\"name\": \"a\"\n    \"scimToken\": \"x\"}\n]}".to_owned(),
            vec!["(file): not valid JSON: expected `,` or `}` at line 3 column 5".into()],
        ),
        (
            "empty workspaces array",
            file(&[]),
            vec!["workspaces: must list at least one workspace, got an empty array".into()],
        ),
        (
            "workspaces not an array",
            r#"{"workspaces": {}}"#.to_owned(),
            vec!["workspaces: must be an array of workspace objects, got an object".into()],
        ),
        (
            "unknown top-level key",
            format!(r#"{{"workspace": [{unnamed}]}}"#),
            vec![r#"(top level): unknown key "workspace" (did you mean "workspaces"?)"#.into()],
        ),
        (
            "extra top-level key",
            format!(r#"{{"workspaces": [{unnamed}], "dryRun": true}}"#),
            vec![r#"(top level): unknown key "dryRun""#.into()],
        ),
        (
            "missing workspaces",
            "{}".to_owned(),
            vec![r#"(top level): missing required key "workspaces" (the array of workspaces to sync)"#.into()],
        ),
        (
            "account mode without the account",
            file(&[&with(r#""identities": "account""#)]),
            vec![format!(r#"workspaces[0] ("analytics-test").identities: {needs_account}"#)],
        ),
        (
            "account mode from defaults without the account, reported once",
            beside(r#""defaults": {"identities": "account"}"#, &format!("{unnamed}, {}", with(r#""nested": true"#))),
            vec![format!("defaults.identities: {needs_account}")],
        ),
        (
            "account mode on a legacy regional URL without workspaceId",
            beside(&account, &regional(r#""identities": "account""#)),
            vec![r#"workspaces[0] ("analytics-test"): has "identities": "account", which needs the workspace id, and the host of databricksInstance ("westeurope.azuredatabricks.net") does not carry one: add "workspaceId", the number after "adb-" in the workspace URL (on a legacy regional URL, the number after "?o=" in the browser's address bar)"#.into()],
        ),
        (
            "workspaceId that disagrees with the workspace URL",
            file(&[&with(r#""workspaceId": 6234138917436196"#)]),
            vec![format!(r#"workspaces[0] ("analytics-test").workspaceId: is 6234138917436196 but databricksInstance "{INSTANCE}" is the workspace 6234138917436195 (the number after "adb-"): correct one of them, or remove "workspaceId""#)],
        ),
        (
            "workspaceId that is not a number",
            file(&[&with(r#""workspaceId": "adb-6234138917436195""#), &regional(r#""workspaceId": true"#).replace("analytics-test", "b")]),
            vec![
                r#"workspaces[0] ("analytics-test").workspaceId: must be the Databricks workspace id, a whole number from 1 to 18446744073709551615, got "adb-6234138917436195""#.into(),
                r#"workspaces[1] ("b").workspaceId: must be the Databricks workspace id, a number like 1234567890123456 (or a string of its digits), got a boolean"#.into(),
            ],
        ),
        (
            "workspaceId zero",
            file(&[&regional(r#""workspaceId": 0"#)]),
            vec![r#"workspaces[0] ("analytics-test").workspaceId: must be the Databricks workspace id, a whole number from 1 to 18446744073709551615, got 0"#.into()],
        ),
        (
            "identities neither workspace nor account",
            file(&[&with(r#""identities": "accounts""#)]),
            vec![r#"workspaces[0] ("analytics-test").identities: must be "workspace" (the default: identities are provisioned in the workspace) or "account" (at the Databricks account, then assigned to the workspace), got "accounts""#.into()],
        ),
        (
            "account not an object",
            beside(r#""account": "0a1b2c3d-4e5f-6789-abcd-ef0123456789""#, &unnamed),
            vec![r#"account: must be an object with "accountId" (and optionally "host"), got a string"#.into()],
        ),
        (
            "account without accountId",
            beside(r#""account": {"host": "https://accounts.azuredatabricks.net"}"#, &with(r#""identities": "account""#)),
            vec![format!(r#"account: missing required key "accountId" ({account_id_hint})"#)],
        ),
        (
            "account with a misspelt key, a bad id and a host with a path",
            beside(r#""account": {"accountID": "x", "accountId": "12345", "host": "https://accounts.azuredatabricks.net/login"}"#, &unnamed),
            vec![
                r#"account: unknown key "accountID" (did you mean "accountId"?)"#.into(),
                format!(r#"account.accountId: "12345" is not a GUID: give {account_id_hint}"#),
                r#"account.host: "https://accounts.azuredatabricks.net/login" must not have a path ("/login"): use "https://accounts.azuredatabricks.net""#.into(),
            ],
        ),
        (
            "account host without https",
            beside(&format!(r#""account": {{"accountId": "{ACCOUNT_ID}", "host": "accounts.azuredatabricks.us"}}"#), &unnamed),
            vec![r#"account.host: "accounts.azuredatabricks.us" has no scheme: did you mean "https://accounts.azuredatabricks.us"?"#.into()],
        ),
        (
            "account requestsPerSecond not above 0",
            beside(&format!(r#""account": {{"accountId": "{ACCOUNT_ID}", "requestsPerSecond": 0}}"#), &with(r#""identities": "account""#)),
            vec!["account.requestsPerSecond: must be a number above 0 and at most 1000, got 0".into()],
        ),
        (
            "account requestsPerSecond per kind, one misspelt and one too high",
            beside(&format!(r#""account": {{"accountId": "{ACCOUNT_ID}", "requestsPerSecond": {{"lists": 20, "patch": 2000}}}}"#), &with(r#""identities": "account""#)),
            vec![
                r#"account.requestsPerSecond: unknown key "lists" (did you mean "list"?)"#.into(),
                "account.requestsPerSecond.patch: must be a number above 0 and at most 1000, got 2000".into(),
            ],
        ),
        (
            "top level not an object",
            format!("[{unnamed}]"),
            vec![r#"(top level): must be a JSON object with the key "workspaces", got an array"#.into()],
        ),
    ];
    for (case, text, expected) in cases {
        assert_eq!(problems(&text), expected, "case: {case}\n{text}");
    }
}

#[test]
fn a_token_pasted_in_place_of_its_secret_url_is_never_echoed() {
    let seed = |token: &str| {
        file(&[&format!(
            r#"{{"databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{token}"}}"#
        )])
    };
    for token in [
        PAT,
        "http://vault/secrets/dapi-secret-1",
        "token:dapi-secret-2",
    ] {
        let err = Config::parse(&seed(token), path()).expect_err(token);
        assert!(!err.to_string().contains(token), "{err}");
        assert!(!err.to_string().contains("dapi"), "{err}");
        assert!(err.problems().iter().all(|p| !p.contains("dapi")));
    }
}

#[test]
fn a_file_with_several_problems_reports_all_of_them_in_document_order() {
    let text = r#"{
      "workspaces": [
        {"name": "a", "databricksInstance": "http://h1", "accessGroup": "G", "scimToken": "pat"},
        {"name": "A", "databricksInstance": "https://h2", "accessGroups": [], "scimToken": "https://kv/secrets/x"},
        {"name": "ok", "databricksInstance": "https://h3", "accessGroups": "G", "scimToken": "https://kv/secrets/y"}
      ],
      "workspacess": []
    }"#;
    let err = Config::parse(text, path()).expect_err("invalid");
    let expected = [
        r#"(top level): unknown key "workspacess" (did you mean "workspaces"?)"#,
        r#"workspaces[0] ("a"): unknown key "accessGroup" (did you mean "accessGroups"?)"#,
        r#"workspaces[0] ("a").databricksInstance: must use https, got "http://h1": use "https://h1""#,
        r#"workspaces[0] ("a").scimToken: must be a Key Vault secret URL like https://<vault>.vault.azure.net/secrets/<name>, got a value that is not a URL (not shown: it may be a secret)"#,
        r#"workspaces[1] ("A").accessGroups: must list at least one group, got an empty array"#,
        r#"workspaces[1] ("A"): duplicate workspace name: workspaces[0] and workspaces[1] are both named "A" (names compare case-insensitively)"#,
    ];
    assert_eq!(err.problems(), expected);
    let mut display = "invalid configuration sync-config.json: 6 problems".to_owned();
    for line in expected {
        display.push_str("\n  - ");
        display.push_str(line);
    }
    assert_eq!(err.to_string(), display);
    assert!(matches!(err, ConfigError::Invalid { ref problems, .. } if problems.len() == 6));
}

#[test]
fn a_single_problem_is_counted_in_the_singular() {
    let err = Config::parse("[]", path()).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid configuration sync-config.json: 1 problem\n  - (top level): must be a JSON object with the key \"workspaces\", got an array"
    );
}

#[test]
fn the_seed_form_with_a_single_group_string_is_accepted() {
    let config = valid(&file(&[&format!(
        r#"{{"name": "analytics-test", "databricksInstance": "{INSTANCE}", "accessGroups": "Data, Science Team", "scimToken": "{TOKEN}"}}"#
    )]));
    let workspace = config
        .workspace("ANALYTICS-TEST")
        .expect("found case-insensitively");
    assert_eq!(workspace.name.as_str(), "analytics-test");
    assert_eq!(workspace.instance.to_string(), INSTANCE);
    assert_eq!(
        workspace.access_groups,
        [GroupRef::DisplayName("Data, Science Team".into())]
    );
    assert_eq!(pat(workspace).to_string(), TOKEN);
    assert_eq!(pat(workspace).name(), "analytics-test-pat");
    assert_eq!(
        pat(workspace).vault_url().as_str(),
        "https://kv-dbx-sync.vault.azure.net/"
    );
}

#[test]
fn an_array_of_groups_mixes_names_and_object_ids() {
    let id = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    let config = valid(&file(&[&format!(
        r#"{{"name": "prod", "databricksInstance": "{INSTANCE}", "accessGroups": [" Readers ", "{id}"], "scimToken": "{TOKEN}"}}"#
    )]));
    let groups = &config.workspaces[0].access_groups;
    assert_eq!(groups[0], GroupRef::DisplayName("Readers".into()));
    assert_eq!(groups[1], GroupRef::ObjectId(id.parse().expect("uuid")));
    assert_eq!(groups[1].to_string(), id);
}

#[test]
fn the_name_defaults_to_the_host_of_the_workspace_url() {
    let config = valid(&file(&[&format!(
        r#"{{"databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}"}}"#
    )]));
    assert_eq!(config.workspaces[0].name.as_str(), HOST);
    assert!(config.workspace(HOST).is_some());
}

#[test]
fn trailing_slashes_and_case_are_normalized_and_secret_versions_kept() {
    let config = valid(&file(&[
        r#"{"databricksInstance": "HTTPS://ADB-6234138917436195.15.AzureDatabricks.net/", "accessGroups": "G",
            "scimToken": "https://kv-dbx-sync.vault.azure.net/secrets/pat/0123456789abcdef0123456789abcdef/"}"#,
    ]));
    let workspace = &config.workspaces[0];
    assert_eq!(workspace.instance.to_string(), INSTANCE);
    assert_eq!(workspace.instance.host(), HOST);
    assert_eq!(workspace.name.as_str(), HOST);
    assert_eq!(
        pat(workspace).version(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        pat(workspace).to_string(),
        "https://kv-dbx-sync.vault.azure.net/secrets/pat/0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn a_validated_configuration_serializes_back_to_the_file_format() {
    let config = valid(&file(&[&format!(
        r#"{{"name": "a", "databricksInstance": "{INSTANCE}/", "accessGroups": "G", "scimToken": "{TOKEN}"}}"#
    )]));
    let json = serde_json::to_value(&config).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"workspaces": [{
            "name": "a", "databricksInstance": INSTANCE, "workspaceId": 6234138917436195_u64,
            "accessGroups": ["G"], "scimToken": TOKEN, "identities": "workspace", "nested": true, "includeDisabled": false, "includeServicePrincipals": false, "userName": "auto",
            "scimRequestsPerSecond": 4.25,
            "managedGroup": "entra-sync-managed", "deprovision": "none", "mirrorGroups": false, "entitlements": []
        }]})
    );
    assert_eq!(valid(&json.to_string()), config);
}

#[test]
fn an_account_mode_file_is_accepted_and_serializes_back_with_its_account() {
    let text = format!(
        r#"{{"account": {{"accountId": "{}", "host": "https://accounts.azuredatabricks.net/"}},
            "defaults": {{"identities": "account"}}, "workspaces": [
            {{"name": "a", "databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}"}},
            {{"name": "b", "databricksInstance": "https://westeurope.azuredatabricks.net", "workspaceId": 1234567890123456,
              "accessGroups": "G", "auth": "managedIdentity"}},
            {{"name": "c", "databricksInstance": "https://dbx.example.com", "accessGroups": "G", "scimToken": "{TOKEN}",
              "identities": "workspace"}}
        ]}}"#,
        ACCOUNT_ID.to_uppercase()
    );
    let config = valid(&text);
    let account = config.account.as_ref().expect("account");
    assert_eq!(account.account_id.to_string(), ACCOUNT_ID);
    assert_eq!(
        account.host.as_str(),
        "https://accounts.azuredatabricks.net/"
    );
    let (a, b, c) = (
        &config.workspaces[0],
        &config.workspaces[1],
        &config.workspaces[2],
    );
    assert_eq!(
        (a.options.identities, a.workspace_id),
        (Identities::Account, Some(6234138917436195))
    );
    assert_eq!(
        (b.options.identities, b.workspace_id),
        (Identities::Account, Some(1234567890123456))
    );
    assert_eq!(
        (c.options.identities, c.workspace_id),
        (Identities::Workspace, None)
    );
    let json = serde_json::to_value(&config).expect("serializes");
    assert_eq!(
        json["account"],
        serde_json::json!({"accountId": ACCOUNT_ID, "host": "https://accounts.azuredatabricks.net"})
    );
    assert_eq!(json["workspaces"][1]["workspaceId"], 1234567890123456_u64);
    assert_eq!(json["workspaces"][1]["identities"], "account");
    assert_eq!(valid(&json.to_string()), config);
}

#[test]
fn options_come_from_the_entry_then_defaults_then_built_in_values() {
    let text = format!(
        r#"{{"defaults": {{"nested": false, "userName": "upn"}}, "workspaces": [
            {{"name": "a", "databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}", "nested": true}},
            {{"name": "b", "databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}", "scimRequestsPerSecond": 2}}
        ]}}"#
    );
    let config = valid(&text);
    let (a, b) = (&config.workspaces[0].options, &config.workspaces[1].options);
    assert!(a.nested && !b.nested);
    assert_eq!(
        (a.user_name, b.user_name),
        (UserNameSource::Upn, UserNameSource::Upn)
    );
    assert_eq!(
        (a.scim_requests_per_second, b.scim_requests_per_second),
        (255.0 / 60.0, 2.0),
        "the default is Databricks' documented 255 requests a minute"
    );
    assert!(!a.include_disabled);
}

#[test]
fn bad_options_and_defaults_are_reported_where_they_are() {
    let text = format!(
        r#"{{"defaults": {{"nestd": true, "includeDisabled": "yes"}}, "workspaces": [
            {{"name": "a", "databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}", "userName": "email"}}
        ]}}"#
    );
    assert_eq!(
        problems(&text),
        [
            r#"defaults: unknown key "nestd" (did you mean "nested"?)"#,
            "defaults.includeDisabled: must be true or false, got a string",
            r#"workspaces[0] ("a").userName: must be "auto", "upn" or "mail", got "email""#,
        ]
    );
}

#[test]
fn the_example_file_in_the_repository_is_valid() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sync-config.example.json"
    ));
    let config = Config::load(path).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(config.workspaces.len(), 2);
    assert!(matches!(
        config.workspaces[0].access_groups[..],
        [GroupRef::DisplayName(_)]
    ));
    assert!(
        config.workspaces[1]
            .access_groups
            .iter()
            .any(|g| matches!(g, GroupRef::ObjectId(_)))
    );
}

#[test]
fn a_file_on_disk_loads_and_a_missing_one_says_how_to_point_at_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sync-config.json");
    let text = file(&[&format!(
        r#"{{"databricksInstance": "{INSTANCE}", "accessGroups": "G", "scimToken": "{TOKEN}"}}"#
    )]);
    std::fs::write(&path, format!("\u{feff}{text}")).expect("write");
    assert_eq!(Config::load(&path).expect("loads").workspaces.len(), 1);

    let missing = dir.path().join("absent.json");
    let err = Config::load(&missing).expect_err("missing");
    let expected = format!(
        "configuration file {} not found (set SYNC_CONFIG_PATH or pass --config to use another file)",
        missing.display()
    );
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(err.to_string(), expected);
    assert_eq!(err.problems(), [expected]);
    assert_eq!(err.path(), missing);
}

#[test]
fn a_file_that_is_not_utf8_is_reported_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("utf16.json");
    std::fs::write(&path, [0xff, 0xfe, b'{', 0, b'}', 0]).expect("write");
    let err = Config::load(&path).expect_err("utf-16");
    assert_eq!(
        err.problems(),
        ["(file): is saved as UTF-16: save it as UTF-8"]
    );
}

#[test]
fn a_workspace_authenticates_with_a_pat_from_key_vault_or_the_managed_identity_never_both_nor_neither()
 {
    let entry = |extra: &str| {
        format!(
            r#"{{"workspaces": [{{"name": "a", "databricksInstance": "{INSTANCE}", "accessGroups": "G"{extra}}}]}}"#
        )
    };
    let config = valid(&entry(r#", "auth": "managedIdentity""#));
    assert_eq!(config.workspaces[0].auth, WorkspaceAuth::ManagedIdentity);
    let config = valid(&entry(&format!(
        r#", "auth": "pat", "scimToken": "{TOKEN}""#
    )));
    assert_eq!(pat(&config.workspaces[0]).to_string(), TOKEN);
    assert_eq!(
        problems(&entry(&format!(
            r#", "auth": "managedIdentity", "scimToken": "{TOKEN}""#
        ))),
        [
            r#"workspaces[0] ("a").scimToken: must not be given with "auth": "managedIdentity" (the workspace is called with the app's managed identity, not a PAT): remove one of them"#
        ]
    );
    assert_eq!(
        problems(&entry("")),
        [
            r#"workspaces[0] ("a"): missing required key "scimToken" (the Key Vault secret URL of the SCIM token, like https://<vault>.vault.azure.net/secrets/<name>; or set "auth": "managedIdentity" to call the workspace with the app's identity)"#
        ]
    );
    assert_eq!(
        problems(&entry(r#", "auth": "oauth""#)),
        [
            r#"workspaces[0] ("a").auth: must be "pat" (a PAT from Key Vault, the default) or "managedIdentity", got "oauth""#
        ]
    );
    let json = serde_json::to_value(valid(&entry(r#", "auth": "managedIdentity""#))).unwrap();
    assert_eq!(json["workspaces"][0]["auth"], "managedIdentity");
    assert!(json["workspaces"][0].get("scimToken").is_none());
}

#[test]
fn group_mirroring_options_are_checked_against_the_workspace_groups() {
    let entry = |extra: &str| {
        format!(
            r#"{{"workspaces": [{{"name": "a", "databricksInstance": "{INSTANCE}", "accessGroups": ["G", "H"], "scimToken": "{TOKEN}"{extra}}}]}}"#
        )
    };
    let config = valid(&entry(
        r#", "mirrorGroups": true, "entitlements": ["workspace-access"], "groupNames": {"g": "gee"}"#,
    ));
    let ws = &config.workspaces[0];
    assert!(ws.options.mirror_groups);
    assert_eq!(ws.options.entitlements, ["workspace-access"]);
    assert_eq!(
        ws.mirrored_group_name(&ws.access_groups[0], "G"),
        "gee",
        "keys match accessGroups ignoring case"
    );
    assert_eq!(ws.mirrored_group_name(&ws.access_groups[1], "H"), "H");
    assert_eq!(
        problems(&entry(
            r#", "entitlements": ["admin"], "groupNames": {"X": "x", "H": "admins"}"#
        )),
        [
            r#"workspaces[0] ("a").groupNames.H: must be the name of a workspace group (not "admins" or "users"), got "admins""#,
            r#"workspaces[0] ("a").groupNames.X: is not one of this workspace's accessGroups"#,
            r#"workspaces[0] ("a").entitlements: "admin" is not an entitlement; the known ones are "workspace-access", "databricks-sql-access", "allow-cluster-create", "allow-instance-pool-create", "workspace-consume""#,
        ]
    );
}
