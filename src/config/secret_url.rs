//! The Key Vault secret identifier that holds a workspace's SCIM token (`scimToken`):
//! `https://<vault-host>/secrets/<name>[/<version>]`. A rejected value is quoted in a message only
//! when it parsed as an https URL without credentials or query, because users sometimes paste the
//! token itself (or the legacy scripts' placeholder) where the URL belongs.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::types::{InvalidValue, parsed_from_text, trimmed};
use super::workspace_url::origin;

const SECRET_FORM: &str = "https://<vault>.vault.azure.net/secrets/<name>";

/// An Azure Key Vault secret identifier: `https://<vault-host>/secrets/<name>[/<version>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretUrl {
    /// The normalized identifier, without trailing slash.
    url: Url,
    vault: Url,
    name: String,
    version: Option<String>,
}

impl SecretUrl {
    /// Accepts a Key Vault secret identifier, with or without version and trailing slash.
    ///
    /// # Errors
    /// [`InvalidValue`] when the value is not an https URL of that form. The value is quoted only
    /// when it parsed as an https URL without credentials or query, never otherwise.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let text = trimmed(
            text,
            &format!("the Key Vault secret URL, like {SECRET_FORM}"),
        )?;
        let url = plain_https_url(text)?;
        let (name, version) = name_and_version(&url, text)?;
        let base = origin(&url);
        let full = match version {
            Some(version) => format!("{base}/secrets/{name}/{version}"),
            None => format!("{base}/secrets/{name}"),
        };
        let reparse = |s: &str| {
            Url::parse(s).map_err(|e| InvalidValue(format!("{text:?} is not a valid URL ({e})")))
        };
        Ok(Self {
            url: reparse(&full)?,
            vault: reparse(&format!("{base}/"))?,
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// The vault, `https://<vault-host>/`.
    pub fn vault_url(&self) -> Url {
        self.vault.clone()
    }

    /// The secret name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret version, when the identifier pins one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// `text` as an https URL without credentials, query or fragment. Until it is one, the messages
/// never quote it: it may be the token itself.
fn plain_https_url(text: &str) -> Result<Url, InvalidValue> {
    let not_a_url = |what: &str| {
        InvalidValue(format!(
            "must be a Key Vault secret URL like {SECRET_FORM}, got a value that is not {what} \
             (not shown: it may be a secret)"
        ))
    };
    let url = match Url::parse(text) {
        Ok(url) if url.scheme() == "https" => url,
        Ok(url) if url.scheme() == "http" => {
            return Err(InvalidValue(format!(
                "must use https: give the Key Vault secret URL, like {SECRET_FORM}"
            )));
        }
        Ok(_) if text.contains("://") => return Err(not_a_url("an https URL")),
        _ => return Err(not_a_url("a URL")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidValue(format!(
            "must not contain a user name or password (not shown): give the Key Vault \
             secret URL, like {SECRET_FORM}"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(InvalidValue(format!(
            "must not have a query or fragment (not shown: it may carry a secret): give the \
             Key Vault secret URL, like {SECRET_FORM}"
        )));
    }
    Ok(url)
}

/// The secret name and version of `url`'s path, `/secrets/<name>[/<version>]` (a trailing slash
/// allowed), each checked against what Key Vault accepts; `text` is the value as given.
fn name_and_version<'u>(
    url: &'u Url,
    text: &str,
) -> Result<(&'u str, Option<&'u str>), InvalidValue> {
    let path = url.path();
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let is_secrets = |kind: &str| kind.eq_ignore_ascii_case("secrets");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (name, version) = match segments.as_slice() {
        [kind, name] if is_secrets(kind) && !name.is_empty() => (*name, None),
        [kind, name, version] if is_secrets(kind) && !name.is_empty() && !version.is_empty() => {
            (*name, Some(*version))
        }
        _ => {
            return Err(InvalidValue(format!(
                "{text:?} is not a Key Vault secret URL: expected {SECRET_FORM} \
                 or {SECRET_FORM}/<version>"
            )));
        }
    };
    let name_ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !name_ok {
        return Err(InvalidValue(format!(
            "secret name {name:?} in {text:?} is not valid: use 1 to 127 letters, digits and '-'"
        )));
    }
    if let Some(version) = version
        && !version.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(InvalidValue(format!(
            "secret version {version:?} in {text:?} is not valid: use letters and digits \
             only (Key Vault versions are 32 hexadecimal characters)"
        )));
    }
    Ok((name, version))
}

parsed_from_text!(SecretUrl, shown as |secret| secret.url.as_str());

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_err(text: &str) -> String {
        SecretUrl::parse(text).expect_err(text).to_string()
    }

    #[test]
    fn secret_urls_accept_name_version_and_trailing_slash() {
        let id = "https://KV-Dbx.vault.azure.net/secrets/pat-1/0123456789abcdef0123456789ABCDEF/";
        let secret = SecretUrl::parse(id).expect("valid");
        assert_eq!(secret.name(), "pat-1");
        assert_eq!(secret.version(), Some("0123456789abcdef0123456789ABCDEF"));
        assert_eq!(
            secret.vault_url().as_str(),
            "https://kv-dbx.vault.azure.net/"
        );
        assert_eq!(
            secret.to_string(),
            "https://kv-dbx.vault.azure.net/secrets/pat-1/0123456789abcdef0123456789ABCDEF"
        );
        let secret = SecretUrl::parse("https://kv.vault.azure.net/secrets/pat/").expect("valid");
        assert_eq!((secret.name(), secret.version()), ("pat", None));
        assert_eq!(secret.to_string(), "https://kv.vault.azure.net/secrets/pat");
        assert_eq!(
            serde_json::to_string(&secret).expect("json"),
            "\"https://kv.vault.azure.net/secrets/pat\""
        );
    }

    #[test]
    fn secret_urls_explain_each_rejection_without_echoing_possible_secrets() {
        let form = "expected https://<vault>.vault.azure.net/secrets/<name> or https://<vault>.vault.azure.net/secrets/<name>/<version>";
        for shape in [
            "/keys/x",
            "/secrets",
            "/secrets/",
            "/secrets/a/b/c",
            "/",
            "/secrets//v",
        ] {
            let text = format!("https://kv.vault.azure.net{shape}");
            assert!(
                secret_err(&text).ends_with(form),
                "{text}: {}",
                secret_err(&text)
            );
        }
        assert!(secret_err("https://kv/secrets/a_b").starts_with("secret name \"a_b\""));
        assert!(
            secret_err(&format!("https://kv/secrets/{}", "a".repeat(128))).contains("1 to 127")
        );
        assert!(secret_err("https://kv/secrets/a/v-1").starts_with("secret version \"v-1\""));
        for secret in [
            "dapi0123456789abcdef",
            "<Key Vault secret URL>",
            "dapi:abc",
            "s3cr3t://x",
        ] {
            let message = secret_err(secret);
            assert!(
                message.contains("(not shown: it may be a secret)"),
                "{message}"
            );
            assert!(!message.contains(secret), "{message}");
        }
        for secret in [
            "https://u:dapi99@kv/secrets/a",
            "https://kv/secrets/a?sig=dapi99",
        ] {
            assert!(!secret_err(secret).contains("dapi99"));
        }
        assert!(!secret_err("http://kv/secrets/dapi99").contains("dapi99"));
        assert!(secret_err(" ").starts_with("must not be empty"));
    }
}
