//! The stage the real `handler` plays on against a peer: a [`World`] (tenant, Key Vault, managed
//! identity and the handler's environment), the peer's [`Front`] at a fake workspace host, the
//! tenant's people, the configuration file, and [`Stage::sync`], which runs `handler sync` and reads
//! its JSON report.
//! The front is served at its host by the world itself ([`World::serve_host`]), so the handler runs
//! under the world's environment unchanged.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::front::Front;
use crate::graph::NewUser;
use crate::world::World;

/// The fake workspace host the front is served at.
pub const WORKSPACE_HOST: &str = "adb-1000000000000001.1.azuredatabricks.net";
/// The Entra group the workspace is configured with, and its nested group.
pub const GROUP: &str = "Databricks-Conformance";
pub const NESTED_GROUP: &str = "Data-Engineers";
/// How long one `handler sync` may take.
const HANDLER_TIMEOUT: Duration = Duration::from_secs(120);

/// What one `handler sync` came to.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The parsed JSON report (`Null` if stdout was not JSON).
    pub report: Value,
}

impl Outcome {
    /// The `users` counts of the only workspace.
    pub fn users(&self) -> Value {
        self.report["workspaces"][0]["users"].clone()
    }
}

pub struct Stage {
    pub world: World,
    pub front: Front,
    /// The id of the nested group in the tenant.
    nested: String,
    env: Vec<(String, String)>,
    handler: PathBuf,
    config: PathBuf,
    /// The workspace's configuration entry, as last written.
    entry: std::sync::Mutex<Value>,
    _dir: tempfile::TempDir,
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Stage {
    /// Starts the world, the front for `peer_token`'s peer, the TLS wiring, the tenant's people
    /// (see [`Stage::desired`]) and writes the configuration of one workspace called `name`.
    ///
    /// # Errors
    /// A listener or certificate could not be made, or a file written.
    pub async fn start(
        name: &str,
        front: Front,
        peer_token: &str,
        handler: PathBuf,
    ) -> std::io::Result<Stage> {
        let world = World::start().await?;
        let dir = tempfile::tempdir()?;
        world.serve_host(WORKSPACE_HOST, front.router()).await?;
        let env = world.handler_env();

        world.vault.set_secret("conformance-pat", peer_token);
        let config = dir.path().join("sync-config.json");
        let entry = json!({
            "name": name,
            "databricksInstance": format!("https://{WORKSPACE_HOST}"),
            "accessGroups": [GROUP],
            "scimToken": format!("{}/secrets/conformance-pat", world.vault.vault_url()),
            "scimRequestsPerSecond": 50,
        });
        std::fs::write(&config, json!({ "workspaces": [entry] }).to_string())?;
        let entry = std::sync::Mutex::new(entry);

        let t = &world.tenant;
        let group = t.add_group(GROUP);
        let nested = t.add_group(NESTED_GROUP);
        let member =
            |upn: &str| t.add_user(NewUser::member(upn, upn.split('@').next().unwrap_or(upn)));
        for upn in ["ana@contoso.com", "bo@contoso.com"] {
            t.add_member(&group, &member(upn));
        }
        t.add_member(
            &group,
            &t.add_user(NewUser::guest("gina@fabrikam.com", "Gina Guest")),
        );
        let mut disabled = NewUser::member("dis@contoso.com", "Disabled");
        disabled.account_enabled = false;
        t.add_member(&group, &t.add_user(disabled));
        t.add_member(&group, &nested);
        for upn in ["cy@contoso.com", "dee@contoso.com"] {
            t.add_member(&nested, &member(upn));
        }
        Ok(Stage {
            world,
            front,
            nested,
            env,
            handler,
            config,
            entry,
            _dir: dir,
        })
    }

    /// The Databricks user names the tenant's group comes to (the disabled user is skipped).
    pub fn desired() -> Vec<String> {
        [
            "ana@contoso.com",
            "bo@contoso.com",
            "cy@contoso.com",
            "dee@contoso.com",
            "gina@fabrikam.com",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Adds these options (e.g. `{"mirrorGroups": true}`) to the workspace's configuration entry.
    ///
    /// # Errors
    /// The configuration file could not be written.
    pub fn configure(&self, options: Value) -> std::io::Result<()> {
        let mut entry = self
            .entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, value) in options.as_object().into_iter().flatten() {
            entry[key] = value.clone();
        }
        std::fs::write(
            &self.config,
            json!({ "workspaces": [entry.clone()] }).to_string(),
        )
    }

    /// Removes a user from the nested group in Entra (it leaves the configured group).
    pub fn remove_nested_member(&self, upn: &str) {
        if let Some(user) = self.world.tenant.user_id(upn) {
            self.world.tenant.remove_member(&self.nested, &user);
        }
    }

    /// Adds an enabled member to the nested group.
    pub fn add_nested_member(&self, upn: &str) {
        let user = self.world.tenant.add_user(NewUser::member(upn, upn));
        self.world.tenant.add_member(&self.nested, &user);
    }

    /// Runs `handler sync --output json` with the world's environment (and nothing of ours that
    /// would change where it connects or whom it trusts).
    ///
    /// # Errors
    /// The handler could not be started or did not finish in time.
    pub async fn sync(&self) -> std::io::Result<Outcome> {
        let mut command = tokio::process::Command::new(&self.handler);
        command
            .args(["sync", "--output", "json", "--config"])
            .arg(&self.config)
            .kill_on_drop(true);
        for var in World::ENV_TO_CLEAR {
            command.env_remove(var);
        }
        command.env_remove("SYNC_CONFIG_PATH");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let output = tokio::time::timeout(HANDLER_TIMEOUT, command.output())
            .await
            .map_err(|_| io_error("handler sync did not finish in time"))??;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Ok(Outcome {
            code: output.status.code(),
            report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
