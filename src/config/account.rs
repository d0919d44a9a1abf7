//! The top-level `account` object: the Azure Databricks account whose identities the workspaces with
//! `identities: "account"` use (`accountId`, required; `host`, the accounts console's host, by default
//! Azure's public cloud; `requestsPerSecond`, optional: one ceiling for every kind of account call, or
//! one per kind (`get`, `list`, `patch`, `write`), instead of the documented limits). Its problems are
//! located `account`, `account.accountId`, `account.host`, `account.requestsPerSecond[.<kind>]`.

use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::Problem;
use super::keys::{kind, unknown_keys};
use super::options::scim_rate;
use super::types::{InvalidValue, trimmed};
use super::workspace_url::{https_origin, origin};

pub(super) const ACCOUNT: &str = "account";
const ACCOUNT_ID: &str = "accountId";
const HOST: &str = "host";
const REQUESTS_PER_SECOND: &str = "requestsPerSecond";
const ACCOUNT_KEYS: &[&str] = &[ACCOUNT_ID, HOST, REQUESTS_PER_SECOND];
/// The kinds of account call `requestsPerSecond` can set apart (the rows of Databricks' limits).
const RATE_KINDS: &[&str] = &["get", "list", "patch", "write"];

/// The accounts host of Azure's public cloud, `account.host`'s default. Other clouds have their own
/// (`https://accounts.azuredatabricks.us`, `https://accounts.databricks.azure.cn`).
pub const DEFAULT_ACCOUNT_HOST: &str = "https://accounts.azuredatabricks.net";

/// What `accountId` holds and where to find it, for messages.
const ACCOUNT_ID_HINT: &str = "the Azure Databricks account id, a GUID: in the account console, \
     open the user menu at the top right to see it";

/// The Databricks account of account mode (`"account": {"accountId", "host", "requestsPerSecond"}`).
///
/// Serializes back to the file format, the id lower-case hyphenated and the host as `https://host[:port]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// `accountId`: the Azure Databricks account id.
    pub account_id: uuid::Uuid,
    /// `host`: the accounts host, `https://host[:port]/` (path `/`); default [`DEFAULT_ACCOUNT_HOST`].
    #[serde(serialize_with = "as_origin")]
    pub host: Url,
    /// `requestsPerSecond`: client-side ceilings for an account whose limits Databricks raised; `None`:
    /// the documented limits per kind (`AccountPace::default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<AccountRates>,
}

/// `account.requestsPerSecond`: a number, one ceiling for every kind of account call; or an object
/// with any of `get`, `list`, `patch`, `write` (POST, PUT, DELETE), each kind left out at its
/// documented limit. Each rate is validated as `scimRequestsPerSecond` (above 0, at most 1000).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AccountRates {
    Every(f64),
    PerKind(KindRates),
}

/// The ceilings of `requestsPerSecond` given per kind of call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct KindRates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<f64>,
}

// The rate is a validated number (above 0, finite), never NaN.
impl Eq for Account {}

fn as_origin<S: serde::Serializer>(url: &Url, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&origin(url))
}

/// The top-level `account`, or every problem with it (located `account…`).
pub(super) fn account(value: &Value) -> Result<Account, Vec<Problem>> {
    let Value::Object(object) = value else {
        let message = format!(
            "must be an object with \"accountId\" (and optionally \"host\"), got {}",
            kind(value)
        );
        return Err(vec![Problem::new(ACCOUNT, message)]);
    };
    let (unknown, suggested) = unknown_keys(object, ACCOUNT_KEYS);
    let mut problems: Vec<Problem> = unknown
        .into_iter()
        .map(|message| Problem::new(ACCOUNT, message))
        .collect();
    let account_id = match object.get(ACCOUNT_ID) {
        Some(value) => field(value, ACCOUNT_ID, parse_account_id, &mut problems),
        None => {
            if !suggested.contains(&ACCOUNT_ID) {
                let message = format!("missing required key \"{ACCOUNT_ID}\" ({ACCOUNT_ID_HINT})");
                problems.push(Problem::new(ACCOUNT, message));
            }
            None
        }
    };
    let host = match object.get(HOST) {
        Some(value) => field(value, HOST, parse_host, &mut problems),
        None => parse_host(DEFAULT_ACCOUNT_HOST).ok(),
    };
    let requests_per_second = object
        .get(REQUESTS_PER_SECOND)
        .and_then(|value| rates(value, &mut problems));
    match (account_id, host) {
        (Some(account_id), Some(host)) if problems.is_empty() => Ok(Account {
            account_id,
            host,
            requests_per_second,
        }),
        _ => Err(problems),
    }
}

/// `account.requestsPerSecond`: a number or an object of rates per kind; problems go to `problems`.
fn rates(value: &Value, problems: &mut Vec<Problem>) -> Option<AccountRates> {
    let at = format!("{ACCOUNT}.{REQUESTS_PER_SECOND}");
    let Value::Object(object) = value else {
        return match value {
            Value::Number(_) => scim_rate(value)
                .map(AccountRates::Every)
                .map_err(|message| problems.push(Problem::new(at, message)))
                .ok(),
            other => {
                let message = format!(
                    "must be a number of requests per second, or an object with any of \
                     \"get\", \"list\", \"patch\", \"write\" (POST, PUT and DELETE), got {}",
                    kind(other)
                );
                problems.push(Problem::new(at, message));
                None
            }
        };
    };
    let before = problems.len();
    let (unknown, _) = unknown_keys(object, RATE_KINDS);
    problems.extend(unknown.into_iter().map(|m| Problem::new(at.clone(), m)));
    if object.is_empty() {
        let message = "an empty object sets no rate: give a number, or any of \"get\", \"list\", \
                       \"patch\", \"write\"";
        problems.push(Problem::new(at.clone(), message));
    }
    let mut rate = |key: &str| {
        let value = object.get(key)?;
        scim_rate(value)
            .map_err(|message| problems.push(Problem::new(format!("{at}.{key}"), message)))
            .ok()
    };
    let rates = KindRates {
        get: rate("get"),
        list: rate("list"),
        patch: rate("patch"),
        write: rate("write"),
    };
    (problems.len() == before).then_some(AccountRates::PerKind(rates))
}

/// The string at `account.<key>` read by `parse`; a problem goes to `problems`.
fn field<T>(
    value: &Value,
    key: &str,
    parse: fn(&str) -> Result<T, InvalidValue>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let at = format!("{ACCOUNT}.{key}");
    let message = match value.as_str() {
        Some(text) => match parse(text) {
            Ok(parsed) => return Some(parsed),
            Err(e) => e.to_string(),
        },
        None => format!("must be a string, got {}", kind(value)),
    };
    problems.push(Problem::new(at, message));
    None
}

/// A hyphenated GUID, any case (stored, and written back, in lower case).
fn parse_account_id(text: &str) -> Result<uuid::Uuid, InvalidValue> {
    let text = trimmed(text, ACCOUNT_ID_HINT)?;
    match uuid::Uuid::try_parse(text) {
        Ok(id) if text.len() == 36 => Ok(id),
        _ => Err(InvalidValue(format!(
            "{text:?} is not a GUID: give {ACCOUNT_ID_HINT}"
        ))),
    }
}

/// An https URL with a host and nothing else, like the workspace URL.
fn parse_host(text: &str) -> Result<Url, InvalidValue> {
    https_origin(
        text,
        &format!("the Databricks accounts host, like {DEFAULT_ACCOUNT_HOST}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The account of a JSON value, or its problem lines.
    fn read(json: &str) -> Result<Account, Vec<String>> {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        account(&value).map_err(|problems| problems.iter().map(Problem::to_string).collect())
    }

    const ID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

    #[test]
    fn an_account_needs_its_id_and_defaults_to_the_public_cloud_host() {
        let account =
            read(&format!(r#"{{"accountId": " {} "}}"#, ID.to_uppercase())).expect("valid");
        assert_eq!(
            account.account_id.to_string(),
            ID,
            "normalized to lower case"
        );
        assert_eq!(
            account.host.as_str(),
            "https://accounts.azuredatabricks.net/"
        );
        assert_eq!(
            serde_json::to_value(&account).expect("json"),
            serde_json::json!({"accountId": ID, "host": "https://accounts.azuredatabricks.net"})
        );
        let us = read(&format!(
            r#"{{"accountId": "{ID}", "host": "HTTPS://Accounts.AzureDatabricks.us/"}}"#
        ))
        .expect("valid");
        assert_eq!(us.host.as_str(), "https://accounts.azuredatabricks.us/");
        assert_eq!(us.host.path(), "/");
    }

    #[test]
    fn a_rate_for_the_account_is_kept_and_serialized_back_only_when_given() {
        let paced = read(&format!(
            r#"{{"accountId": "{ID}", "requestsPerSecond": 40}}"#
        ))
        .expect("valid");
        assert_eq!(paced.requests_per_second, Some(AccountRates::Every(40.0)));
        assert_eq!(
            serde_json::to_value(&paced).expect("json")["requestsPerSecond"],
            serde_json::json!(40.0)
        );
        let default = read(&format!(r#"{{"accountId": "{ID}"}}"#)).expect("valid");
        assert_eq!(default.requests_per_second, None);
        assert!(
            serde_json::to_value(&default).expect("json")["requestsPerSecond"].is_null(),
            "not written when not given"
        );
        for (value, message) in [
            ("0", "must be a number above 0 and at most 1000, got 0"),
            (
                "-2.5",
                "must be a number above 0 and at most 1000, got -2.5",
            ),
            (
                "1001",
                "must be a number above 0 and at most 1000, got 1001",
            ),
            (
                r#""fast""#,
                "must be a number of requests per second, or an object with any of \"get\", \
                 \"list\", \"patch\", \"write\" (POST, PUT and DELETE), got a string",
            ),
        ] {
            assert_eq!(
                read(&format!(
                    r#"{{"accountId": "{ID}", "requestsPerSecond": {value}}}"#
                )),
                Err(vec![format!("account.requestsPerSecond: {message}")]),
                "{value}"
            );
        }
        assert_eq!(
            read(&format!(
                r#"{{"accountId": "{ID}", "requestPerSecond": 5}}"#
            )),
            Err(vec![
                r#"account: unknown key "requestPerSecond" (did you mean "requestsPerSecond"?)"#
                    .to_owned()
            ])
        );
    }

    #[test]
    fn rates_per_kind_of_account_call_are_kept_and_each_problem_located() {
        let paced = read(&format!(
            r#"{{"accountId": "{ID}", "requestsPerSecond": {{"list": 50, "patch": 2.5}}}}"#
        ))
        .expect("valid");
        assert_eq!(
            paced.requests_per_second,
            Some(AccountRates::PerKind(KindRates {
                list: Some(50.0),
                patch: Some(2.5),
                ..KindRates::default()
            }))
        );
        assert_eq!(
            serde_json::to_value(&paced).expect("json")["requestsPerSecond"],
            serde_json::json!({"list": 50.0, "patch": 2.5}),
            "written back as given"
        );
        let rates = |json: &str| {
            read(&format!(
                r#"{{"accountId": "{ID}", "requestsPerSecond": {json}}}"#
            ))
        };
        assert_eq!(
            rates(r#"{"list": 0, "writes": 5, "get": "fast"}"#),
            Err(vec![
                r#"account.requestsPerSecond: unknown key "writes" (did you mean "write"?)"#
                    .to_owned(),
                "account.requestsPerSecond.get: must be a number of requests per second, got a string"
                    .to_owned(),
                "account.requestsPerSecond.list: must be a number above 0 and at most 1000, got 0"
                    .to_owned(),
            ])
        );
        assert_eq!(
            rates("{}"),
            Err(vec![
                r#"account.requestsPerSecond: an empty object sets no rate: give a number, or any of "get", "list", "patch", "write""#
                    .to_owned()
            ])
        );
    }

    #[test]
    fn each_problem_of_an_account_is_located() {
        let hint = ACCOUNT_ID_HINT;
        assert_eq!(
            read("[]"),
            Err(vec![
                r#"account: must be an object with "accountId" (and optionally "host"), got an array"#
                    .to_owned()
            ])
        );
        assert_eq!(
            read("{}"),
            Err(vec![format!(
                r#"account: missing required key "accountId" ({hint})"#
            )])
        );
        assert_eq!(
            read(&format!(r#"{{"accountID": "{ID}"}}"#)),
            Err(vec![
                r#"account: unknown key "accountID" (did you mean "accountId"?)"#.to_owned()
            ]),
            "a misspelt accountId is not also reported missing"
        );
        assert_eq!(
            read(r#"{"accountId": "not-a-guid", "host": "http://accounts.azuredatabricks.net", "region": 1}"#),
            Err(vec![
                r#"account: unknown key "region""#.to_owned(),
                format!(r#"account.accountId: "not-a-guid" is not a GUID: give {hint}"#),
                r#"account.host: must use https, got "http://accounts.azuredatabricks.net": use "https://accounts.azuredatabricks.net""#.to_owned(),
            ])
        );
        assert_eq!(
            read(&format!(
                r#"{{"accountId": "{}", "host": "https://accounts.azuredatabricks.net/login?x=1"}}"#,
                ID.replace('-', "")
            )),
            Err(vec![
                format!(
                    r#"account.accountId: "{}" is not a GUID: give {hint}"#,
                    ID.replace('-', "")
                ),
                r#"account.host: "https://accounts.azuredatabricks.net/login?x=1" must not have a query ("?x=1"): use "https://accounts.azuredatabricks.net""#.to_owned(),
            ])
        );
        assert_eq!(
            read(r#"{"accountId": 7, "host": "https://u:p@accounts.azuredatabricks.net"}"#),
            Err(vec![
                "account.accountId: must be a string, got a number".to_owned(),
                "account.host: must not contain a user name or password".to_owned(),
            ])
        );
        assert_eq!(
            read(r#"{"accountId": " ", "host": "https://accounts.azuredatabricks.net/#x"}"#),
            Err(vec![
                format!("account.accountId: must not be empty: give {hint}"),
                r##"account.host: "https://accounts.azuredatabricks.net/#x" must not have a fragment ("#x"): use "https://accounts.azuredatabricks.net""##.to_owned(),
            ])
        );
        assert_eq!(
            read(&format!(r#"{{"accountId": "{ID}", "host": "https://accounts.azuredatabricks.net/api"}}"#)),
            Err(vec![
                r#"account.host: "https://accounts.azuredatabricks.net/api" must not have a path ("/api"): use "https://accounts.azuredatabricks.net""#.to_owned(),
            ])
        );
    }
}
