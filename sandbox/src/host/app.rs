//! An app folder as the host reads it: `host.json` (`customHandler.description`
//! `defaultExecutablePath` / `arguments` / `workingDirectory`, `enableForwardingHttpRequest` (payload
//! mode only), `functionTimeout`, `extensions.http.routePrefix`, `extensions.queues`; `extensionBundle`
//! ignored), the app
//! settings (`Values` of `local.settings.json`, else `local.settings.example.json`, then the caller's
//! overrides), and every `<Function>/function.json`. Every problem names its file.
//!
//! Like Core Tools, a local setting that the parent environment already defines is skipped (with a
//! note); the caller's overrides always win.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::HostError;
use super::clock::parse_timespan;
use super::function::{self, FunctionInfo, Parsed};

/// The host's default `functionTimeout` on plans where it is not capped (Flex, Premium, Dedicated).
pub(crate) const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Everything read from the app folder.
#[derive(Debug)]
pub(crate) struct App {
    pub root: PathBuf,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub working_dir: PathBuf,
    /// `None`: `functionTimeout` is `-1` (no limit).
    pub function_timeout: Option<Duration>,
    /// `api` unless `extensions.http.routePrefix` says otherwise.
    pub route_prefix: String,
    pub functions: Vec<Arc<FunctionInfo>>,
    /// The app settings given to the handler (on top of the parent environment).
    pub settings: Vec<(String, String)>,
    /// Things worth saying at start-up (skipped settings, functions not loaded).
    pub notes: Vec<String>,
    /// `extensions.queues`.
    pub queues: super::queue::QueueOptions,
}

fn config(path: &Path, message: impl std::fmt::Display) -> HostError {
    HostError::Config(format!("{}: {message}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, HostError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| config(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| config(path, format!("not valid JSON: {e}")))
}

/// Reads the app at `root`. `parent` looks up the parent environment (minus removed variables).
pub(crate) fn load(
    root: &Path,
    overrides: &[(String, String)],
    parent: &dyn Fn(&str) -> Option<String>,
) -> Result<App, HostError> {
    let host_json = root.join("host.json");
    if !host_json.is_file() {
        return Err(config(
            &host_json,
            "not found: is this a Functions app folder?",
        ));
    }
    let host = read_json(&host_json)?;
    let bad = |message: &str| config(&host_json, message);
    if host.get("version").and_then(Value::as_str) != Some("2.0") {
        return Err(bad("\"version\" must be \"2.0\""));
    }
    let handler = host
        .get("customHandler")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"customHandler\" section: this host runs custom handlers only"))?;
    if handler.get("enableForwardingHttpRequest") == Some(&Value::Bool(true)) {
        return Err(bad(
            "customHandler.enableForwardingHttpRequest is true: this local host supports payload mode only (false)",
        ));
    }
    let description = handler.get("description").and_then(Value::as_object);
    let text = |key: &str| description.and_then(|d| d.get(key)).and_then(Value::as_str);
    let executable = text("defaultExecutablePath")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("customHandler.description.defaultExecutablePath is missing"))?;
    let program = root.join(executable);
    if !program.is_file() {
        return Err(bad(&format!(
            "customHandler.description.defaultExecutablePath: {} does not exist",
            program.display()
        )));
    }
    let args = match description.and_then(|d| d.get("arguments")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad("customHandler.description.arguments must be an array of strings")
            })?,
        Some(_) => {
            return Err(bad(
                "customHandler.description.arguments must be an array of strings",
            ));
        }
    };
    let working_dir = text("workingDirectory").map_or_else(|| root.to_path_buf(), |w| root.join(w));
    let function_timeout = match host.get("functionTimeout") {
        None | Some(Value::Null) => Some(DEFAULT_FUNCTION_TIMEOUT),
        Some(Value::String(s)) if s.trim() == "-1" => None,
        Some(Value::String(s)) => {
            Some(parse_timespan(s).filter(|d| !d.is_zero()).ok_or_else(|| {
                bad(&format!(
                    "functionTimeout must be a TimeSpan like \"00:10:00\" or \"-1\", got \"{s}\""
                ))
            })?)
        }
        Some(_) => return Err(bad("functionTimeout must be a string like \"00:10:00\"")),
    };
    let route_prefix = host
        .pointer("/extensions/http/routePrefix")
        .and_then(Value::as_str)
        .unwrap_or("api")
        .trim_matches('/')
        .to_owned();

    let queues = super::queue::QueueOptions::from_host(&host).map_err(|e| bad(&e))?;
    let mut notes = Vec::new();
    let settings = settings(root, overrides, parent, &mut notes)?;
    let lookup: HashMap<&str, &str> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let setting = |key: &str| {
        lookup
            .get(key)
            .map(|v| (*v).to_owned())
            .or_else(|| parent(key))
    };
    let functions = functions(root, &setting, &mut notes)?;
    Ok(App {
        root: root.to_path_buf(),
        program,
        args,
        working_dir,
        function_timeout,
        route_prefix,
        functions,
        settings,
        notes,
        queues,
    })
}

fn settings(
    root: &Path,
    overrides: &[(String, String)],
    parent: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, String)>, HostError> {
    let mut settings = Vec::new();
    let file = ["local.settings.json", "local.settings.example.json"]
        .iter()
        .map(|name| root.join(name))
        .find(|p| p.is_file());
    if let Some(path) = file {
        let json = read_json(&path)?;
        if json.get("IsEncrypted") == Some(&Value::Bool(true)) {
            return Err(config(
                &path,
                "IsEncrypted is true: encrypted settings are not supported",
            ));
        }
        let values = match json.get("Values") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(values)) => values.clone(),
            Some(_) => return Err(config(&path, "\"Values\" must be an object")),
        };
        for (key, value) in values {
            let value = match value {
                Value::String(s) => s,
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return Err(config(&path, format!("Values.{key} must be a string"))),
            };
            if parent(&key).is_some() && !overrides.iter().any(|(k, _)| *k == key) {
                notes.push(format!(
                    "Skipping '{key}' from local settings as it's already defined in current environment variables."
                ));
                continue;
            }
            settings.push((key, value));
        }
    }
    for (key, value) in overrides {
        settings.retain(|(k, _)| k != key);
        settings.push((key.clone(), value.clone()));
    }
    Ok(settings)
}

fn functions(
    root: &Path,
    setting: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<String>,
) -> Result<Vec<Arc<FunctionInfo>>, HostError> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| HostError::Config(format!("{}: cannot list: {e}", root.display())))?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("function.json").is_file())
        .filter_map(|e| {
            Some((
                e.file_name().into_string().ok()?,
                e.path().join("function.json"),
            ))
        })
        .collect();
    folders.sort();
    let mut functions = Vec::new();
    for (name, path) in folders {
        match function::load(&name, &path, setting).map_err(HostError::Config)? {
            Parsed::Function(f) => functions.push(Arc::new(f)),
            Parsed::Skipped(why) => notes.push(why),
        }
    }
    if functions.is_empty() {
        return Err(HostError::Config(format!(
            "{}: no function to run (no <Function>/function.json with a timer or HTTP trigger)",
            root.display()
        )));
    }
    Ok(functions)
}
