//! The Databricks workspace URL (`databricksInstance`): an absolute https URL with a host and
//! nothing else, normalized to `https://host[:port]`. Any host name is accepted (private link and
//! national clouds do not use azuredatabricks.net); every rejection says what to write instead.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::types::{InvalidValue, parsed_from_text, trimmed};

const WORKSPACE_EXAMPLE: &str = "https://adb-1234567890123456.7.azuredatabricks.net";

/// `https://host[:port]` of a URL known to have a host (the default port is omitted).
/// `https://host[:port]` plus the port suffix, from a URL known to have a host.
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

impl WorkspaceUrl {
    /// Accepts an absolute https URL with a host and nothing else (an empty path or `/`).
    ///
    /// # Errors
    /// [`InvalidValue`] for an empty value, a value without scheme (suggesting the https form),
    /// another scheme than https, credentials, a query, a fragment or a path.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let text = trimmed(
            text,
            &format!("the workspace URL, like {WORKSPACE_EXAMPLE}"),
        )?;
        if !text.contains("://") {
            return Err(InvalidValue(
                match Self::parse(&format!("https://{text}")) {
                    Ok(url) => format!("{text:?} has no scheme: did you mean \"{url}\"?"),
                    Err(_) => format!(
                        "{text:?} is not an absolute URL: give the workspace URL, like {WORKSPACE_EXAMPLE}"
                    ),
                },
            ));
        }
        let url = Url::parse(text)
            .map_err(|e| InvalidValue(format!("{text:?} is not a valid URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidValue(
                "must not contain a user name or password".to_owned(),
            ));
        }
        if url.scheme() != "https" {
            let suggestion = text
                .split_once("://")
                .and_then(|(_, rest)| Self::parse(&format!("https://{rest}")).ok());
            return Err(InvalidValue(match suggestion {
                Some(url) => format!("must use https, got {text:?}: use \"{url}\""),
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
        let host = url.host_str().unwrap_or_default().to_owned();
        let url = Url::parse(&normalized)
            .map_err(|e| InvalidValue(format!("{text:?} is not a valid URL ({e})")))?;
        Ok(Self {
            url,
            normalized,
            host,
        })
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
}
