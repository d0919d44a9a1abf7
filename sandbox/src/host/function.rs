//! `<app_root>/<Function>/function.json`: the trigger (`timerTrigger` with `schedule`, `useMonitor`,
//! `runOnStartup`; `httpTrigger` with `methods`, `authLevel`, `route` and the `http` output binding;
//! `queueTrigger` with `queueName` and `connection`, an identity-based storage connection only)
//! and the function-level `retry` policy (`fixedDelay` / `exponentialBackoff`). `%AppSetting%` in a
//! schedule is replaced from the app settings. A disabled function, or one with a trigger this host
//! does not run, is skipped with a note rather than refused.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::clock::parse_timespan;
use super::schedule::Schedule;

/// One function of the app.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    /// The folder name, case kept (`SyncTimer`).
    pub name: String,
    pub trigger: Trigger,
    pub retry: Option<RetryPolicy>,
}

#[derive(Debug, Clone)]
pub enum Trigger {
    Timer(TimerTrigger),
    Http(HttpTrigger),
    Queue(QueueTrigger),
}

#[derive(Debug, Clone)]
pub struct QueueTrigger {
    /// The binding name (`message`): the key under `Data`.
    pub binding: String,
    /// The queue, after `%AppSetting%` substitution.
    pub queue_name: String,
    /// The connection's name (`AzureWebJobsStorage` unless given).
    pub connection: String,
    /// The queue service, from `<connection>__queueServiceUri` or `<connection>__accountName`.
    pub service: url::Url,
}

#[derive(Debug, Clone)]
pub struct TimerTrigger {
    /// The binding name (`timer`): the key under `Data`.
    pub binding: String,
    /// The schedule after `%AppSetting%` substitution.
    pub schedule: String,
    pub use_monitor: bool,
    pub run_on_startup: bool,
    pub(crate) parsed: Schedule,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The binding name (`req`): the key under `Data`.
    pub binding: String,
    /// Allowed methods, upper case; `None` allows every method.
    pub methods: Option<Vec<String>>,
    /// `function` unless given; not enforced locally (like Core Tools).
    pub auth_level: String,
    /// The route template under the route prefix; the function name unless given.
    pub route: String,
    /// The `http` output binding's name (`res`, or `$return`), if there is one.
    pub output: Option<String>,
}

/// A function-level retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub strategy: RetryStrategy,
    /// `-1` retries without end.
    pub max_retry_count: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryStrategy {
    FixedDelay(Duration),
    ExponentialBackoff {
        minimum: Duration,
        maximum: Duration,
    },
}

impl RetryPolicy {
    /// Whether retry number `retry` (1 for the first retry) may run.
    pub fn allows(&self, retry: u32) -> bool {
        self.max_retry_count < 0 || i64::from(retry) <= i64::from(self.max_retry_count)
    }

    /// The wait before retry number `retry`: the fixed delay, or the minimum doubled per earlier
    /// retry, capped at the maximum (deterministic: the host adds jitter).
    pub fn delay(&self, retry: u32) -> Duration {
        match &self.strategy {
            RetryStrategy::FixedDelay(d) => *d,
            RetryStrategy::ExponentialBackoff { minimum, maximum } => {
                let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
                minimum.saturating_mul(factor).min(*maximum)
            }
        }
    }
}

/// What a `function.json` gave.
pub(crate) enum Parsed {
    Function(FunctionInfo),
    /// Not loaded, and why.
    Skipped(String),
}

/// Parses the `function.json` of function `name` (errors name no file: the caller adds it).
pub(crate) fn parse(
    name: &str,
    text: &str,
    setting: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let root = root.as_object().ok_or("must be a JSON object")?;
    let disabled = match root.get("disabled") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    if disabled
        || setting(&format!("AzureWebJobs.{name}.Disabled"))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Ok(Parsed::Skipped(format!("Function '{name}' is disabled")));
    }
    let bindings = root
        .get("bindings")
        .and_then(Value::as_array)
        .ok_or("has no \"bindings\" array")?;
    let mut triggers = bindings.iter().filter_map(Value::as_object).filter(|b| {
        text_of(b, "type").is_some_and(|t| t.to_ascii_lowercase().ends_with("trigger"))
    });
    let (Some(trigger), None) = (triggers.next(), triggers.next()) else {
        return Err(
            "must have exactly one trigger binding (a \"type\" ending in \"Trigger\")".into(),
        );
    };
    let binding = text_of(trigger, "name")
        .filter(|n| !n.is_empty())
        .ok_or("the trigger binding has no \"name\"")?
        .to_owned();
    let kind = text_of(trigger, "type").unwrap_or_default();
    let trigger = if kind.eq_ignore_ascii_case("timerTrigger") {
        Trigger::Timer(timer(trigger, binding, setting)?)
    } else if kind.eq_ignore_ascii_case("httpTrigger") {
        Trigger::Http(http(name, trigger, bindings, binding)?)
    } else if kind.eq_ignore_ascii_case("queueTrigger") {
        match queue(trigger, binding, setting)? {
            Ok(queue) => Trigger::Queue(queue),
            Err(why) => {
                return Ok(Parsed::Skipped(format!(
                    "Function '{name}' is not loaded: {why}"
                )));
            }
        }
    } else {
        return Ok(Parsed::Skipped(format!(
            "Function '{name}' is not loaded: this local host runs timerTrigger, httpTrigger and queueTrigger functions, not '{kind}'"
        )));
    };
    let retry = match root.get("retry") {
        None | Some(Value::Null) => None,
        Some(Value::Object(retry)) => Some(retry_policy(retry).map_err(|e| format!("retry: {e}"))?),
        Some(_) => return Err("\"retry\" must be an object".into()),
    };
    Ok(Parsed::Function(FunctionInfo {
        name: name.to_owned(),
        trigger,
        retry,
    }))
}

fn text_of<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn flag(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("\"{key}\" must be true or false, got {other}")),
    }
}

fn timer(
    binding: &Map<String, Value>,
    name: String,
    setting: &dyn Fn(&str) -> Option<String>,
) -> Result<TimerTrigger, String> {
    let raw = text_of(binding, "schedule").ok_or("the timerTrigger has no \"schedule\"")?;
    let schedule = substitute(raw, setting).map_err(|e| format!("schedule {e}"))?;
    let parsed = Schedule::parse(&schedule).map_err(|e| format!("schedule {e}"))?;
    let use_monitor = flag(binding, "useMonitor")?
        .unwrap_or_else(|| parsed.default_use_monitor(super::clock::now()));
    Ok(TimerTrigger {
        binding: name,
        schedule,
        use_monitor,
        run_on_startup: flag(binding, "runOnStartup")?.unwrap_or(false),
        parsed,
    })
}

/// A queue trigger, or (inner `Err`) why this host cannot listen to it: its connection is not an
/// identity-based one (the only kind the app's storage allows, and the only kind read here).
fn queue(
    binding: &Map<String, Value>,
    name: String,
    setting: &dyn Fn(&str) -> Option<String>,
) -> Result<Result<QueueTrigger, String>, String> {
    let raw = text_of(binding, "queueName").ok_or("the queueTrigger has no \"queueName\"")?;
    let queue_name = substitute(raw, setting).map_err(|e| format!("queueName {e}"))?;
    let valid = (3..=63).contains(&queue_name.len())
        && queue_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !queue_name.starts_with('-')
        && !queue_name.ends_with('-')
        && !queue_name.contains("--");
    if !valid {
        return Err(format!(
            "queueName '{queue_name}' is not a valid queue name (3 to 63 lower-case letters, digits and single hyphens)"
        ));
    }
    let connection = text_of(binding, "connection")
        .filter(|c| !c.is_empty())
        .unwrap_or("AzureWebJobsStorage")
        .to_owned();
    let value =
        |suffix: &str| setting(&format!("{connection}__{suffix}")).filter(|v| !v.trim().is_empty());
    let service = match (value("queueServiceUri"), value("accountName")) {
        (Some(uri), _) => url::Url::parse(uri.trim())
            .map_err(|e| format!("{connection}__queueServiceUri is not a URL: {e}"))?,
        (None, Some(account)) => url::Url::parse(&format!(
            "https://{}.queue.core.windows.net/",
            account.trim()
        ))
        .map_err(|e| format!("{connection}__accountName gives no URL: {e}"))?,
        (None, None) => {
            return Ok(Err(format!(
                "its connection '{connection}' has no identity-based queue settings \
                 ({connection}__queueServiceUri or {connection}__accountName)"
            )));
        }
    };
    Ok(Ok(QueueTrigger {
        binding: name,
        queue_name,
        connection,
        service,
    }))
}

/// Replaces each `%Name%` with the app setting's value.
fn substitute(raw: &str, setting: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let key = &rest[start + 1..start + 1 + len];
        let value = setting(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("'{raw}': app setting '{key}' is not set"))?;
        out.push_str(&rest[..start]);
        out.push_str(&value);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn http(
    function: &str,
    trigger: &Map<String, Value>,
    bindings: &[Value],
    binding: String,
) -> Result<HttpTrigger, String> {
    let methods = match trigger.get("methods") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|m| m.as_str().map(str::to_ascii_uppercase))
                .collect::<Option<Vec<_>>>()
                .ok_or("\"methods\" must be an array of strings")?,
        ),
        Some(_) => return Err("\"methods\" must be an array of strings".into()),
    };
    let output = bindings
        .iter()
        .filter_map(Value::as_object)
        .find(|b| {
            text_of(b, "type").is_some_and(|t| t.eq_ignore_ascii_case("http"))
                && text_of(b, "direction").is_some_and(|d| d.eq_ignore_ascii_case("out"))
        })
        .and_then(|b| text_of(b, "name"))
        .map(str::to_owned);
    Ok(HttpTrigger {
        binding,
        methods,
        auth_level: text_of(trigger, "authLevel")
            .unwrap_or("function")
            .to_owned(),
        route: text_of(trigger, "route")
            .map(|r| r.trim_matches('/').to_owned())
            .unwrap_or_else(|| function.to_owned()),
        output,
    })
}

fn retry_policy(retry: &Map<String, Value>) -> Result<RetryPolicy, String> {
    let max_retry_count = retry
        .get("maxRetryCount")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= -1)
        .ok_or("\"maxRetryCount\" must be a whole number (-1 for no limit)")?;
    let interval = |key: &str| {
        let text = text_of(retry, key).ok_or(format!("\"{key}\" is required"))?;
        parse_timespan(text).ok_or(format!(
            "\"{key}\" must be a TimeSpan like \"00:00:10\", got \"{text}\""
        ))
    };
    let strategy = match text_of(retry, "strategy").unwrap_or_default() {
        s if s.eq_ignore_ascii_case("fixedDelay") => {
            RetryStrategy::FixedDelay(interval("delayInterval")?)
        }
        s if s.eq_ignore_ascii_case("exponentialBackoff") => {
            let (minimum, maximum) = (interval("minimumInterval")?, interval("maximumInterval")?);
            if minimum > maximum {
                return Err("\"minimumInterval\" is longer than \"maximumInterval\"".into());
            }
            RetryStrategy::ExponentialBackoff { minimum, maximum }
        }
        other => {
            return Err(format!(
                "\"strategy\" must be \"fixedDelay\" or \"exponentialBackoff\", got \"{other}\""
            ));
        }
    };
    Ok(RetryPolicy {
        strategy,
        max_retry_count,
    })
}

/// Reads and parses `<dir>/function.json`; errors name the file.
pub(crate) fn load(
    name: &str,
    path: &Path,
    setting: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(name, &text, setting).map_err(|e| format!("{}: {e}", path.display()))
}
