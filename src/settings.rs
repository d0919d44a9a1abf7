//! App settings: the environment variables the app reads (README.md lists them), parsed once into
//! validated values. Reading goes through a lookup function so tests need not touch the process environment.

use std::path::{Path, PathBuf};

use url::Url;

/// Default Microsoft Graph endpoint (public cloud); `GRAPH_ENDPOINT` overrides it for national clouds.
pub const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";
/// Default run time budget: 5 minutes under host.json's `functionTimeout` of 30 minutes, time enough for
/// the writes in flight to finish (retries included) before the host would kill the process.
pub const DEFAULT_MAX_RUN_SECONDS: u64 = 25 * 60;
/// Highest accepted `SYNC_MAX_RUN_SECONDS`: a day.
const MAX_RUN_SECONDS_LIMIT: u64 = 24 * 60 * 60;
/// Default configuration file name, relative to the app root.
pub const DEFAULT_CONFIG_FILE: &str = "sync-config.json";

/// A setting with a value the app cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("app setting {name}: {message}")]
pub struct SettingError {
    pub name: &'static str,
    pub message: String,
}

/// The validated app settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `FUNCTIONS_APP_ROOT_PATH` (set by the Functions host), else the working directory.
    pub app_root: PathBuf,
    /// `SYNC_CONFIG_PATH`, relative paths resolved against the app root; default `sync-config.json`.
    pub config_path: PathBuf,
    /// `GRAPH_ENDPOINT`, default `https://graph.microsoft.com`.
    pub graph_endpoint: Url,
    /// `AZURE_CLIENT_ID`: the client id of a user-assigned managed identity, if one is used.
    pub azure_client_id: Option<uuid::Uuid>,
    /// `IDENTITY_ENDPOINT`: set by App Service / Azure Functions where a managed identity is available.
    pub identity_endpoint: Option<String>,
    /// `SYNC_MAX_RUN_SECONDS`: after this long a run starts no new write and reports `partial`.
    pub max_run_seconds: u64,
    /// Where the state shared by every instance lives (`AzureWebJobsStorage`, identity-based).
    pub storage: SharedStorage,
    /// Microsoft Graph change notifications (`NOTIFICATION_URL` and the rest); `None`: off.
    pub notifications: Option<Notifications>,
    /// `SYNC_TIMER_FANOUT`: the timer queues one message per workspace instead of syncing them itself.
    pub timer_fanout: bool,
}

/// Default lifetime of a Graph subscription: 3 days, renewed when half of it is left (Graph allows at
/// most 41,760 minutes for groups).
pub const DEFAULT_NOTIFICATION_LIFETIME_MINUTES: u64 = 3 * 24 * 60;
/// Graph's maximum subscription lifetime for groups, in minutes.
pub const MAX_NOTIFICATION_LIFETIME_MINUTES: u64 = 41_760;

/// Change notifications from Microsoft Graph for the configured groups.
#[derive(Clone, PartialEq, Eq)]
pub struct Notifications {
    /// `NOTIFICATION_URL`: where Graph posts (`SyncNotify`), with the function key as `?code=`. A
    /// secret: shown only without its query ([`Notifications::shown_url`]).
    pub url: Url,
    /// `NOTIFICATION_CLIENT_STATE`: the Key Vault secret holding the subscriptions' `clientState`.
    pub client_state: crate::config::SecretUrl,
    /// `NOTIFICATION_LIFETIME_MINUTES`.
    pub lifetime_minutes: u64,
}

impl Notifications {
    /// The notification URL without its query (which carries the function key).
    pub fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        let hidden = url.query().is_some();
        url.set_query(None);
        if hidden {
            format!("{url}?…")
        } else {
            url.to_string()
        }
    }
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("url", &self.shown_url())
            .field("client_state", &self.client_state)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .finish()
    }
}

fn notifications(
    get: impl Fn(&str) -> Option<String>,
    errors: &mut Vec<SettingError>,
) -> Option<Notifications> {
    let url = get("NOTIFICATION_URL");
    let secret = get("NOTIFICATION_CLIENT_STATE");
    let lifetime = get("NOTIFICATION_LIFETIME_MINUTES");
    if url.is_none() {
        for (name, value) in [
            ("NOTIFICATION_CLIENT_STATE", &secret),
            ("NOTIFICATION_LIFETIME_MINUTES", &lifetime),
        ] {
            if value.is_some() {
                errors.push(SettingError {
                    name,
                    message: "is set but NOTIFICATION_URL is not: set both, or neither for no change notifications".into(),
                });
            }
        }
        return None;
    }
    let url = url.and_then(|raw| {
        let parsed = Url::parse(&raw)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some() && u.username().is_empty());
        // Never echoed: the query carries the function key.
        noted(
            errors,
            "NOTIFICATION_URL",
            parsed.ok_or_else(|| {
                "must be the https URL of SyncNotify as Graph calls it, e.g. \
                 https://<app>.azurewebsites.net/api/SyncNotify?code=<function key> (the value is not shown)"
                    .to_owned()
            }),
        )
    });
    let client_state = match secret {
        None => {
            errors.push(SettingError {
                name: "NOTIFICATION_CLIENT_STATE",
                message: "must be set with NOTIFICATION_URL: the Key Vault secret URL of the subscriptions' clientState, https://<vault>.vault.azure.net/secrets/<name>".into(),
            });
            None
        }
        Some(raw) => noted(
            errors,
            "NOTIFICATION_CLIENT_STATE",
            crate::config::SecretUrl::parse(&raw).map_err(|e| e.to_string()),
        ),
    };
    let lifetime_minutes = match lifetime {
        None => Some(DEFAULT_NOTIFICATION_LIFETIME_MINUTES),
        Some(raw) => noted(
            errors,
            "NOTIFICATION_LIFETIME_MINUTES",
            raw.parse::<u64>()
                .ok()
                .filter(|m| (1..=MAX_NOTIFICATION_LIFETIME_MINUTES).contains(m))
                .ok_or_else(|| {
                    format!(
                        "must be a whole number of minutes from 1 to {MAX_NOTIFICATION_LIFETIME_MINUTES} \
                         (Graph's maximum for groups; default {DEFAULT_NOTIFICATION_LIFETIME_MINUTES}), got \"{raw}\""
                    )
                }),
        ),
    };
    Some(Notifications {
        url: url?,
        client_state: client_state?,
        lifetime_minutes: lifetime_minutes?,
    })
}

/// The storage account of the state every instance shares (leases, last reports), from the host's own
/// identity-based `AzureWebJobsStorage` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedStorage {
    /// Blobs at `blob_endpoint` and queues at `queue_endpoint`, reached with the app's identity;
    /// `setting` names where they came from.
    Account {
        blob_endpoint: Url,
        queue_endpoint: Url,
        setting: &'static str,
    },
    /// No usable identity-based setting: runs coordinate within this process only; why, in words.
    Off(String),
}

/// The queue service next to a blob service: `<account>.blob.<suffix>` → `<account>.queue.<suffix>`.
fn queue_of(blob: &Url) -> Option<Url> {
    let host = blob.host_str()?;
    let (account, suffix) = host.split_once(".blob.")?;
    let mut queue = blob.clone();
    queue
        .set_host(Some(&format!("{account}.queue.{suffix}")))
        .ok()?;
    Some(queue)
}

impl SharedStorage {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SharedStorage, String> {
        const URI: &str = "AzureWebJobsStorage__blobServiceUri";
        const NAME: &str = "AzureWebJobsStorage__accountName";
        if let Some(raw) = get(URI) {
            let url = Url::parse(&raw).ok();
            if url
                .as_ref()
                .is_some_and(|u| u.query().is_some() || !u.username().is_empty())
            {
                // A query may be a SAS: never echoed.
                return Err(format!(
                    "{URI} must be the blob service's URL without a query or credentials (the app \
                     uses its identity, not a SAS); the value is not shown"
                ));
            }
            let blob_endpoint = url
                .filter(|u| u.scheme() == "https" && u.host_str().is_some())
                .ok_or_else(|| {
                    format!(
                        "{URI} must be the https URL of the blob service, such as \
                         https://<account>.blob.core.windows.net, got \"{raw}\""
                    )
                })?;
            let queue_endpoint = match get("AzureWebJobsStorage__queueServiceUri") {
                Some(raw) => Url::parse(&raw)
                    .ok()
                    .filter(|u| u.scheme() == "https" && u.query().is_none() && u.username().is_empty())
                    .ok_or_else(|| {
                        "AzureWebJobsStorage__queueServiceUri must be the https URL of the queue service, \
                         without a query or credentials (the value is not shown)"
                            .to_owned()
                    })?,
                None => queue_of(&blob_endpoint).ok_or_else(|| {
                    format!(
                        "{URI} has no \".blob.\" in its host to find the queue service by: set \
                         AzureWebJobsStorage__queueServiceUri too"
                    )
                })?,
            };
            return Ok(SharedStorage::Account {
                blob_endpoint,
                queue_endpoint,
                setting: URI,
            });
        }
        if let Some(name) = get(NAME) {
            let valid = (3..=24).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !valid {
                return Err(format!(
                    "must be a storage account name (3 to 24 lower-case letters and digits), got \"{name}\""
                ));
            }
            let blob_endpoint = Url::parse(&format!("https://{name}.blob.core.windows.net/"))
                .map_err(|e| format!("\"{name}\" gives no blob URL: {e}"))?;
            let queue_endpoint = Url::parse(&format!("https://{name}.queue.core.windows.net/"))
                .map_err(|e| format!("\"{name}\" gives no queue URL: {e}"))?;
            return Ok(SharedStorage::Account {
                blob_endpoint,
                queue_endpoint,
                setting: NAME,
            });
        }
        // Never echo the value: a connection string carries the account key.
        Ok(SharedStorage::Off(
            if get("AzureWebJobsStorage").is_some() {
                "AzureWebJobsStorage is a connection string; shared state needs the identity-based \
             AzureWebJobsStorage__accountName (or __blobServiceUri), as infra/ sets it"
                    .to_owned()
            } else {
                "neither AzureWebJobsStorage__accountName nor AzureWebJobsStorage__blobServiceUri is set"
                .to_owned()
            },
        ))
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// Every setting that is present but unusable, at once.
    pub fn from_env() -> Result<Settings, Vec<SettingError>> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (empty values count as unset, as in the portal).
    ///
    /// # Errors
    /// Every setting that is present but unusable, at once.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, Vec<SettingError>> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut errors = Vec::new();
        let app_root = get("FUNCTIONS_APP_ROOT_PATH")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let config_path = resolve(
            &app_root,
            get("SYNC_CONFIG_PATH")
                .as_deref()
                .unwrap_or(DEFAULT_CONFIG_FILE),
        );
        let graph_endpoint = match get("GRAPH_ENDPOINT") {
            None => Url::parse(DEFAULT_GRAPH_ENDPOINT).ok(),
            Some(raw) => noted(&mut errors, "GRAPH_ENDPOINT", parse_endpoint(&raw)),
        };
        let azure_client_id = get("AZURE_CLIENT_ID")
            .and_then(|raw| noted(&mut errors, "AZURE_CLIENT_ID", parse_client_id(&raw)));
        let max_run_seconds = match get("SYNC_MAX_RUN_SECONDS") {
            None => Some(DEFAULT_MAX_RUN_SECONDS),
            Some(raw) => noted(
                &mut errors,
                "SYNC_MAX_RUN_SECONDS",
                parse_max_run_seconds(&raw),
            ),
        };
        let storage = noted(
            &mut errors,
            "AzureWebJobsStorage",
            SharedStorage::from_lookup(get),
        );
        let notifications = notifications(get, &mut errors);
        let timer_fanout = match get("SYNC_TIMER_FANOUT") {
            None => Some(false),
            Some(raw) => noted(
                &mut errors,
                "SYNC_TIMER_FANOUT",
                match raw.to_ascii_lowercase().as_str() {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    _ => Err(format!("must be true or false, got \"{raw}\"")),
                },
            ),
        };
        match (graph_endpoint, max_run_seconds, storage) {
            (Some(graph_endpoint), Some(max_run_seconds), Some(storage)) if errors.is_empty() => {
                Ok(Settings {
                    app_root,
                    config_path,
                    graph_endpoint,
                    azure_client_id,
                    identity_endpoint: get("IDENTITY_ENDPOINT"),
                    max_run_seconds,
                    storage,
                    notifications,
                    timer_fanout: timer_fanout.unwrap_or(false),
                })
            }
            _ => Err(errors),
        }
    }

    /// The configuration path: `--config` when given (relative to the working directory, as a shell
    /// user expects), else the `SYNC_CONFIG_PATH` setting.
    pub fn config_path_or(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf)
            .unwrap_or_else(|| self.config_path.clone())
    }
}

fn resolve(root: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

/// The value, or `None` with the message kept in `errors` under the setting's `name`.
fn noted<T>(
    errors: &mut Vec<SettingError>,
    name: &'static str,
    parsed: Result<T, String>,
) -> Option<T> {
    parsed
        .map_err(|message| errors.push(SettingError { name, message }))
        .ok()
}

fn parse_client_id(raw: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(raw).map_err(|_| {
        format!(
            "must be the client id (a GUID) of the user-assigned managed identity, got \"{raw}\""
        )
    })
}

fn parse_max_run_seconds(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(seconds) if (1..=MAX_RUN_SECONDS_LIMIT).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "must be a whole number of seconds from 1 to {MAX_RUN_SECONDS_LIMIT}, a few minutes \
             under host.json's functionTimeout (default {DEFAULT_MAX_RUN_SECONDS}), got \"{raw}\""
        )),
    }
}

fn parse_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| {
        format!("must be an https URL such as {DEFAULT_GRAPH_ENDPOINT}, got \"{raw}\" ({e})")
    })?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(format!(
            "must be an https URL such as {DEFAULT_GRAPH_ENDPOINT}, got \"{raw}\""
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "must be a plain endpoint URL without user, query or fragment, got \"{raw}\""
        ));
    }
    Ok(url)
}

/// The port the Functions host told the handler to listen on.
///
/// # Errors
/// A message for stderr when `FUNCTIONS_CUSTOMHANDLER_PORT` is missing or not a port number.
pub fn handler_port(lookup: impl Fn(&str) -> Option<String>) -> Result<u16, SettingError> {
    const NAME: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
    let hint = "the Azure Functions host sets it; to run the handler by hand, set it yourself, \
                e.g. FUNCTIONS_CUSTOMHANDLER_PORT=3000 handler serve";
    match lookup(NAME).map(|v| v.trim().to_owned()) {
        None => Err(SettingError {
            name: NAME,
            message: format!("is not set ({hint})"),
        }),
        Some(raw) if raw.is_empty() => Err(SettingError {
            name: NAME,
            message: format!("is empty ({hint})"),
        }),
        Some(raw) => match raw.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(SettingError {
                name: NAME,
                message: format!("must be a TCP port number between 1 and 65535, got \"{raw}\""),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = Settings::from_lookup(lookup(&[("FUNCTIONS_APP_ROOT_PATH", "/home/site/wwwroot")]))
            .unwrap();
        assert_eq!(
            s.config_path,
            PathBuf::from("/home/site/wwwroot/sync-config.json")
        );
        assert_eq!(s.graph_endpoint.as_str(), "https://graph.microsoft.com/");
        assert_eq!(s.azure_client_id, None);
    }

    #[test]
    fn shared_state_comes_from_the_hosts_identity_based_storage_settings() {
        let storage =
            |vars: &[(&str, &str)]| Settings::from_lookup(lookup(vars)).map(|s| s.storage);
        assert_eq!(
            storage(&[("AzureWebJobsStorage__accountName", "stdbxsync01")]),
            Ok(SharedStorage::Account {
                blob_endpoint: Url::parse("https://stdbxsync01.blob.core.windows.net/").unwrap(),
                queue_endpoint: Url::parse("https://stdbxsync01.queue.core.windows.net/").unwrap(),
                setting: "AzureWebJobsStorage__accountName",
            })
        );
        // A national cloud's URI wins over the account name.
        assert_eq!(
            storage(&[
                ("AzureWebJobsStorage__accountName", "stdbxsync01"),
                (
                    "AzureWebJobsStorage__blobServiceUri",
                    "https://stdbxsync01.blob.core.usgovcloudapi.net"
                ),
            ]),
            Ok(SharedStorage::Account {
                blob_endpoint: Url::parse("https://stdbxsync01.blob.core.usgovcloudapi.net/")
                    .unwrap(),
                queue_endpoint: Url::parse("https://stdbxsync01.queue.core.usgovcloudapi.net/")
                    .unwrap(),
                setting: "AzureWebJobsStorage__blobServiceUri",
            })
        );
        let off = storage(&[(
            "AzureWebJobsStorage",
            "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0",
        )]);
        let Ok(SharedStorage::Off(why)) = off else {
            panic!("{off:?}")
        };
        assert!(
            why.contains("connection string") && !why.contains("c2VjcmV0"),
            "{why}"
        );
        assert!(matches!(storage(&[]), Ok(SharedStorage::Off(_))));

        let errors = storage(&[("AzureWebJobsStorage__accountName", "St-Dbx")]).unwrap_err();
        assert_eq!(errors[0].name, "AzureWebJobsStorage");
        assert!(errors[0].message.contains("\"St-Dbx\""), "{}", errors[0]);
        let errors = storage(&[(
            "AzureWebJobsStorage__blobServiceUri",
            "https://st.blob.core.windows.net/?sv=2024&sig=c2VjcmV0",
        )])
        .unwrap_err();
        assert!(!errors[0].message.contains("c2VjcmV0"), "{}", errors[0]);
        let errors = storage(&[(
            "AzureWebJobsStorage__blobServiceUri",
            "http://127.0.0.1:10000",
        )])
        .unwrap_err();
        assert!(errors[0].message.contains("https URL"), "{}", errors[0]);
    }

    #[test]
    fn change_notifications_need_their_url_and_secret_together_and_never_show_the_key() {
        let secret = "https://kv-a.vault.azure.net/secrets/notify-client-state";
        let on = Settings::from_lookup(lookup(&[
            (
                "NOTIFICATION_URL",
                "https://app.azurewebsites.net/api/SyncNotify?code=k3y-s3cret",
            ),
            ("NOTIFICATION_CLIENT_STATE", secret),
        ]))
        .unwrap()
        .notifications
        .unwrap();
        assert_eq!(on.lifetime_minutes, DEFAULT_NOTIFICATION_LIFETIME_MINUTES);
        assert_eq!(
            on.shown_url(),
            "https://app.azurewebsites.net/api/SyncNotify?…"
        );
        assert!(!format!("{on:?}").contains("k3y-s3cret"));
        assert_eq!(
            Settings::from_lookup(lookup(&[])).unwrap().notifications,
            None
        );

        let errors = |vars: &[(&str, &str)]| Settings::from_lookup(lookup(vars)).unwrap_err();
        let e = errors(&[(
            "NOTIFICATION_URL",
            "http://app/api/SyncNotify?code=k3y-s3cret",
        )]);
        assert!(e.iter().any(|e| e.name == "NOTIFICATION_URL"), "{e:?}");
        assert!(
            e.iter().any(|e| e.name == "NOTIFICATION_CLIENT_STATE"),
            "{e:?}"
        );
        assert!(!format!("{e:?}").contains("k3y-s3cret"), "{e:?}");
        let e = errors(&[("NOTIFICATION_CLIENT_STATE", secret)]);
        assert!(e[0].message.contains("NOTIFICATION_URL is not"), "{e:?}");
        let e = errors(&[
            (
                "NOTIFICATION_URL",
                "https://app.azurewebsites.net/api/SyncNotify",
            ),
            ("NOTIFICATION_CLIENT_STATE", secret),
            ("NOTIFICATION_LIFETIME_MINUTES", "41761"),
        ]);
        assert!(e[0].message.contains("1 to 41760"), "{e:?}");
        let e = errors(&[("SYNC_TIMER_FANOUT", "yes")]);
        assert_eq!(e[0].name, "SYNC_TIMER_FANOUT");
        assert!(
            Settings::from_lookup(lookup(&[("SYNC_TIMER_FANOUT", "true")]))
                .unwrap()
                .timer_fanout
        );
    }

    #[test]
    fn relative_config_path_is_resolved_against_the_app_root_and_absolute_is_kept() {
        let s = Settings::from_lookup(lookup(&[
            ("FUNCTIONS_APP_ROOT_PATH", "/app"),
            ("SYNC_CONFIG_PATH", "conf/x.json"),
        ]));
        assert_eq!(s.unwrap().config_path, PathBuf::from("/app/conf/x.json"));
        let s = Settings::from_lookup(lookup(&[
            ("FUNCTIONS_APP_ROOT_PATH", "/app"),
            ("SYNC_CONFIG_PATH", "/etc/x.json"),
        ]));
        assert_eq!(s.unwrap().config_path, PathBuf::from("/etc/x.json"));
    }

    #[test]
    fn bad_settings_are_all_reported_by_name() {
        let errors = Settings::from_lookup(lookup(&[
            ("GRAPH_ENDPOINT", "http://graph.microsoft.us"),
            ("AZURE_CLIENT_ID", "my-identity"),
        ]))
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "app setting GRAPH_ENDPOINT: must be an https URL such as https://graph.microsoft.com, got \"http://graph.microsoft.us\"",
                "app setting AZURE_CLIENT_ID: must be the client id (a GUID) of the user-assigned managed identity, got \"my-identity\"",
            ]
        );
    }

    #[test]
    fn national_cloud_graph_endpoint_and_client_id_are_accepted() {
        let s = Settings::from_lookup(lookup(&[
            ("GRAPH_ENDPOINT", "https://graph.microsoft.us"),
            ("AZURE_CLIENT_ID", "6f1c1b6e-2a52-4bb4-9a4e-0f2f6bb9d4a1"),
        ]))
        .unwrap();
        assert_eq!(s.graph_endpoint.host_str(), Some("graph.microsoft.us"));
        assert!(s.azure_client_id.is_some());
    }

    #[test]
    fn handler_port_must_be_set_and_valid() {
        assert_eq!(
            handler_port(lookup(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "40123")])),
            Ok(40123)
        );
        let missing = handler_port(lookup(&[])).unwrap_err().to_string();
        assert!(
            missing.starts_with("app setting FUNCTIONS_CUSTOMHANDLER_PORT: is not set"),
            "{missing}"
        );
        for bad in ["0", "70000", "abc", "-1"] {
            let err = handler_port(lookup(&[("FUNCTIONS_CUSTOMHANDLER_PORT", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "app setting FUNCTIONS_CUSTOMHANDLER_PORT: must be a TCP port number between 1 and 65535, got \"{bad}\""
                )
            );
        }
    }

    #[test]
    fn the_run_budget_defaults_under_the_function_timeout_and_refuses_nonsense() {
        let s = Settings::from_lookup(lookup(&[])).unwrap();
        assert_eq!(s.max_run_seconds, 1500);
        let s = Settings::from_lookup(lookup(&[("SYNC_MAX_RUN_SECONDS", " 600 ")])).unwrap();
        assert_eq!(s.max_run_seconds, 600);
        for bad in ["0", "-5", "10m", "1.5", "86401"] {
            let errors =
                Settings::from_lookup(lookup(&[("SYNC_MAX_RUN_SECONDS", bad)])).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(
                errors[0].to_string(),
                format!(
                    "app setting SYNC_MAX_RUN_SECONDS: must be a whole number of seconds from 1 to 86400, a few \
                     minutes under host.json's functionTimeout (default 1500), got \"{bad}\""
                )
            );
        }
    }
}
