//! The Databricks workspace URL (`databricksInstance`): an absolute https URL with a host and
//! nothing else, normalized to `https://host[:port]`. Any host name is accepted (private link and
//! national clouds do not use azuredatabricks.net); every rejection says what to write instead.
//! The same rules (`https_origin`) check the Databricks account's `host`. A workspace URL of the form
//! `https://adb-<workspace id>.<n>.<domain>` also gives the workspace id.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::types::{InvalidValue, parsed_from_text, trimmed};

const WORKSPACE_EXAMPLE: &str = "https://adb-1234567890123456.7.azuredatabricks.net";

/// `https://host[:port]` of a URL known to have a host (the default port is omitted).
pub(super) fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    }
}

/// A Databricks workspace URL, normalized to `https://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceUrl {
    /// `https://host[:port]/`.
    url: Url,
    /// `https://host[:port]`, what Display prints.
    normalized: String,
    host: String,
}

/// An absolute https URL with a host and nothing else (an empty path or `/`), normalized to
/// `https://host[:port]/`; `give` names the value in messages (`the workspace URL, like …`).
/// Shared by `databricksInstance` and the account's `host`.
///
/// # Errors
/// [`InvalidValue`] for an empty value, a value without scheme (suggesting the https form),
/// another scheme than https, credentials, a query, a fragment or a path.
pub(super) fn https_origin(text: &str, give: &str) -> Result<Url, InvalidValue> {
    let text = trimmed(text, give)?;
    if !text.contains("://") {
        return Err(InvalidValue(
            match https_origin(&format!("https://{text}"), give) {
                Ok(url) => format!("{text:?} has no scheme: did you mean \"{}\"?", origin(&url)),
                Err(_) => format!("{text:?} is not an absolute URL: give {give}"),
            },
        ));
    }
    let url =
        Url::parse(text).map_err(|e| InvalidValue(format!("{text:?} is not a valid URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidValue(
            "must not contain a user name or password".to_owned(),
        ));
    }
    if url.scheme() != "https" {
        let suggestion = text
            .split_once("://")
            .and_then(|(_, rest)| https_origin(&format!("https://{rest}"), give).ok());
        return Err(InvalidValue(match suggestion {
            Some(url) => format!("must use https, got {text:?}: use \"{}\"", origin(&url)),
            None => format!("must use https, got {text:?}"),
        }));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidValue(format!("{text:?} has no host")));
    }
    let normalized = origin(&url);
    let extra = if let Some(query) = url.query() {
        Some(format!("a query (\"?{query}\")"))
    } else if let Some(fragment) = url.fragment() {
        Some(format!("a fragment (\"#{fragment}\")"))
    } else if url.path() != "/" {
        Some(format!("a path (\"{}\")", url.path()))
    } else {
        None
    };
    if let Some(extra) = extra {
        return Err(InvalidValue(format!(
            "{text:?} must not have {extra}: use \"{normalized}\""
        )));
    }
    Url::parse(&normalized).map_err(|e| InvalidValue(format!("{text:?} is not a valid URL ({e})")))
}

/// The workspace id in a workspace host: the digits between `adb-` and the first dot
/// (`adb-5555555555555555.19.azuredatabricks.net` → 5555555555555555), if above 0 and within `u64`.
fn workspace_id_of(host: &str) -> Option<u64> {
    let (label, _) = host.strip_prefix("adb-")?.split_once('.')?;
    if label.is_empty() || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    label.parse().ok().filter(|id| *id > 0)
}

impl WorkspaceUrl {
    /// Accepts an absolute https URL with a host and nothing else (an empty path or `/`).
    ///
    /// # Errors
    /// [`InvalidValue`] for an empty value, a value without scheme (suggesting the https form),
    /// another scheme than https, credentials, a query, a fragment or a path.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let url = https_origin(
            text,
            &format!("the workspace URL, like {WORKSPACE_EXAMPLE}"),
        )?;
        let normalized = origin(&url);
        let host = url.host_str().unwrap_or_default().to_owned();
        Ok(Self {
            url,
            normalized,
            host,
        })
    }

    /// The Databricks workspace id the host carries: the digits after `adb-` and before the first dot,
    /// as in `https://adb-5555555555555555.19.azuredatabricks.net` (any cloud's domain). `None` for
    /// hosts without it (legacy regional URLs such as `https://westeurope.azuredatabricks.net`, other
    /// host names) and for an id of 0 or beyond `u64`.
    pub fn workspace_id(&self) -> Option<u64> {
        workspace_id_of(&self.host)
    }

    /// The URL, with path `/`.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// The host name (lower case), e.g. `adb-1234567890123456.7.azuredatabricks.net`.
    pub fn host(&self) -> &str {
        &self.host
    }
}

parsed_from_text!(WorkspaceUrl, shown as |url| &url.normalized);

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_err(text: &str) -> String {
        WorkspaceUrl::parse(text).expect_err(text).to_string()
    }

    #[test]
    fn workspace_urls_are_normalized_to_scheme_and_host() {
        for (text, expected) in [
            (
                "https://adb-1.2.azuredatabricks.net",
                "https://adb-1.2.azuredatabricks.net",
            ),
            (
                " HTTPS://ADB-1.2.AzureDatabricks.net/ ",
                "https://adb-1.2.azuredatabricks.net",
            ),
            (
                "https://dbx.example.com:8443/",
                "https://dbx.example.com:8443",
            ),
            ("https://dbx.example.com:443", "https://dbx.example.com"),
        ] {
            let url = WorkspaceUrl::parse(text).expect(text);
            assert_eq!(url.to_string(), expected);
            assert_eq!(url.as_url().as_str(), format!("{expected}/"));
        }
        let url = WorkspaceUrl::parse("https://adb-1.2.azuredatabricks.net").expect("valid");
        assert_eq!(url.host(), "adb-1.2.azuredatabricks.net");
        assert_eq!(
            serde_json::to_string(&url).expect("json"),
            "\"https://adb-1.2.azuredatabricks.net\""
        );
    }

    #[test]
    fn workspace_urls_explain_each_rejection() {
        assert_eq!(
            workspace_err("adb-123.4.azuredatabricks.net"),
            "\"adb-123.4.azuredatabricks.net\" has no scheme: did you mean \"https://adb-123.4.azuredatabricks.net\"?"
        );
        assert_eq!(
            workspace_err("http://adb-1.2.azuredatabricks.net/"),
            "must use https, got \"http://adb-1.2.azuredatabricks.net/\": use \"https://adb-1.2.azuredatabricks.net\""
        );
        assert_eq!(
            workspace_err("https://adb-1.2.azuredatabricks.net/?o=12"),
            "\"https://adb-1.2.azuredatabricks.net/?o=12\" must not have a query (\"?o=12\"): use \"https://adb-1.2.azuredatabricks.net\""
        );
        assert!(workspace_err("https://h/#x").contains("must not have a fragment (\"#x\")"));
        assert!(workspace_err("https://h/api/2.0").contains("must not have a path (\"/api/2.0\")"));
        assert_eq!(
            workspace_err("https://u:p@h"),
            "must not contain a user name or password"
        );
        assert!(workspace_err("ftp://h").starts_with("must use https"));
        assert!(workspace_err("").starts_with("must not be empty"));
        assert!(workspace_err("not a host").contains("is not an absolute URL"));
        assert!(workspace_err("https://").contains("is not a valid URL"));
    }

    #[test]
    fn the_workspace_id_is_the_number_after_adb() {
        let id = |text: &str| WorkspaceUrl::parse(text).expect(text).workspace_id();
        // The example of https://learn.microsoft.com/azure/databricks/workspace/workspace-details.
        assert_eq!(
            id("https://adb-5555555555555555.19.azuredatabricks.net/"),
            Some(5555555555555555)
        );
        assert_eq!(
            id("HTTPS://ADB-6234138917436195.15.AzureDatabricks.net"),
            Some(6234138917436195)
        );
        assert_eq!(id("https://adb-42.7.databricks.azure.cn"), Some(42));
        assert_eq!(id("https://adb-42.7.azuredatabricks.us:8443"), Some(42));
        assert_eq!(
            id("https://adb-18446744073709551615.1.azuredatabricks.net"),
            Some(u64::MAX)
        );
        for none in [
            "https://westeurope.azuredatabricks.net",
            "https://dbx.example.com",
            "https://adb-.1.azuredatabricks.net",
            "https://adb-0.1.azuredatabricks.net",
            "https://adb-12a.1.azuredatabricks.net",
            "https://adb-+12.1.azuredatabricks.net",
            "https://adb-18446744073709551616.1.azuredatabricks.net",
            "https://adb-123",
            "https://xadb-123.1.azuredatabricks.net",
            "https://127.0.0.1:8443",
        ] {
            assert_eq!(id(none), None, "{none}");
        }
    }

    #[test]
    fn https_origins_name_the_value_they_ask_for() {
        let give = "the account host, like https://accounts.azuredatabricks.net";
        let err = |text: &str| https_origin(text, give).expect_err(text).to_string();
        assert_eq!(err(" "), format!("must not be empty: give {give}"));
        assert_eq!(
            err("not a host"),
            format!("\"not a host\" is not an absolute URL: give {give}")
        );
        assert_eq!(
            https_origin("https://Accounts.AzureDatabricks.net", give)
                .expect("valid")
                .as_str(),
            "https://accounts.azuredatabricks.net/"
        );
    }
}
