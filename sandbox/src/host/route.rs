//! Route templates of HTTP functions (`function.json` `route`, default the function name), matched
//! case-insensitively like ASP.NET routing: literal segments, `{name}`, optional `{name?}`, and a
//! catch-all `{*rest}`. Constraints (`{id:int}`) and defaults (`{x=1}`) are accepted but not checked
//! or applied. The values become `Params`.

use serde_json::{Map, Value};

/// The route parameters when `path` (below the route prefix) matches `template`.
pub(crate) fn matches(template: &str, path: &str) -> Option<Map<String, Value>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = Map::new();
    let mut at = 0;
    for part in template.split('/').filter(|s| !s.is_empty()) {
        let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            if !segments.get(at)?.eq_ignore_ascii_case(part) {
                return None;
            }
            at += 1;
            continue;
        };
        let catch_all = inner.starts_with('*');
        let inner = inner.trim_start_matches('*');
        let optional = inner.ends_with('?');
        let name = inner
            .trim_end_matches('?')
            .split([':', '='])
            .next()
            .unwrap_or_default()
            .to_owned();
        if catch_all {
            let rest: Vec<String> = segments[at..].iter().map(|s| decode(s)).collect();
            params.insert(name, rest.join("/").into());
            at = segments.len();
        } else if let Some(segment) = segments.get(at) {
            params.insert(name, decode(segment).into());
            at += 1;
        } else if !optional {
            return None;
        }
    }
    (at == segments.len()).then_some(params)
}

/// Percent-decodes a path segment (invalid escapes are kept as written).
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_match_like_aspnet_routing() {
        assert_eq!(matches("SyncHttp", "/synchttp"), Some(Map::new()));
        assert_eq!(matches("SyncHttp", "/SyncHttp/extra"), None);
        assert_eq!(
            matches("items/{id:int}/{name?}", "/Items/42/a%20b"),
            Some(
                json!({"id": "42", "name": "a b"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            matches("items/{id}/{name?}", "/items/42"),
            Some(json!({"id": "42"}).as_object().unwrap().clone())
        );
        assert_eq!(matches("items/{id}", "/items"), None);
        assert_eq!(
            matches("files/{*path}", "/files/a/b"),
            Some(json!({"path": "a/b"}).as_object().unwrap().clone())
        );
    }
}
