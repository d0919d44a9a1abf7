//! Direct access to a peer SCIM server (plain HTTP, its own token), for what the conformance steps
//! do behind the product's back and for checking the peer's real state: list every user, create a
//! user the way a just-in-time login would, and set `active` the way an admin would.

use serde_json::{Value, json};
use url::Url;

use super::loopback::{self, Answer};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Users asked for per page when listing directly (small, so paging is exercised on every peer).
const PAGE: usize = 50;

/// A user as the peer stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUser {
    pub id: String,
    pub user_name: String,
    /// Absent means active.
    pub active: bool,
}

/// The peer, reached at its SCIM root with its bearer token.
pub struct Peer {
    authority: String,
    root: String,
    token: String,
}

impl Peer {
    /// `root` is the peer's SCIM root URL (`http://127.0.0.1:port/api/2.0/preview/scim/v2`).
    ///
    /// # Errors
    /// `root` is not an http URL with a host.
    pub fn new(root: &str, token: &str) -> Result<Peer, String> {
        let url = Url::parse(root).map_err(|e| format!("{root}: {e}"))?;
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(format!("{root}: needs a host"));
        };
        Ok(Peer {
            authority: format!("{host}:{port}"),
            root: url.path().trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        let mut headers = vec![
            ("authorization".to_owned(), format!("Bearer {}", self.token)),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let body = match body {
            Some(value) => {
                headers.push((
                    "content-type".to_owned(),
                    "application/scim+json".to_owned(),
                ));
                value.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let target = format!("{}{path}", self.root);
        loopback::send(&self.authority, method, &target, &headers, &body)
            .await
            .map_err(|e| format!("{method} {target}: {e}"))
    }

    /// Every user, paged with `startIndex`/`count` until an empty page or `totalResults`.
    ///
    /// # Errors
    /// A page was refused or is not a SCIM list.
    pub async fn users(&self) -> Result<Vec<PeerUser>, String> {
        let mut users = Vec::new();
        let mut start = 1usize;
        for _ in 0..1000 {
            let path = format!("/Users?startIndex={start}&count={PAGE}");
            let answer = self.call("GET", &path, None).await?;
            if answer.status != 200 {
                return Err(format!("GET {path}: {} {}", answer.status, text(&answer)));
            }
            let page = answer.json();
            let resources = page
                .get("Resources")
                .or_else(|| page.get("resources"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            users.extend(resources.iter().filter_map(user));
            start += resources.len();
            let total = page.get("totalResults").and_then(Value::as_u64);
            if resources.is_empty() || total.is_some_and(|t| start as u64 > t) {
                return Ok(users);
            }
        }
        Err("listing users did not end after 1000 pages".to_owned())
    }

    /// The user names of the members of the group with this display name, sorted; `None` when there
    /// is no such group.
    ///
    /// # Errors
    /// The peer refused or answered something else than a SCIM list.
    pub async fn group_members(&self, display_name: &str) -> Result<Option<Vec<String>>, String> {
        let filter = format!("displayName eq \"{display_name}\"");
        let path = format!(
            "/Groups?filter={}",
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        );
        let answer = self.call("GET", &path, None).await?;
        if answer.status != 200 {
            return Err(format!("GET {path}: {} {}", answer.status, text(&answer)));
        }
        let page = answer.json();
        let resources = page
            .get("Resources")
            .or_else(|| page.get("resources"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(group) = resources
            .iter()
            .find(|g| g.get("displayName").and_then(Value::as_str) == Some(display_name))
        else {
            return Ok(None);
        };
        let ids: Vec<&str> = group
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("value").and_then(Value::as_str))
            .collect();
        let users = self.users().await?;
        let mut names: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                users
                    .iter()
                    .find(|u| u.id == *id)
                    .map(|u| u.user_name.to_lowercase())
            })
            .collect();
        names.sort();
        Ok(Some(names))
    }

    /// Creates a user as a first sign-in would (userName, displayName, active); returns the status.
    ///
    /// # Errors
    /// The peer could not be reached.
    pub async fn create_user(&self, user_name: &str, display_name: &str) -> Result<Answer, String> {
        let body = json!({"schemas": [USER_SCHEMA], "userName": user_name, "displayName": display_name, "active": true});
        self.call("POST", "/Users", Some(&body)).await
    }

    /// `PATCH active` on a user; returns the peer's answer (200 with the resource or 204).
    ///
    /// # Errors
    /// The peer could not be reached.
    pub async fn set_active(&self, id: &str, active: bool) -> Result<Answer, String> {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": active}]});
        self.call("PATCH", &format!("/Users/{id}"), Some(&body))
            .await
    }
}

fn user(resource: &Value) -> Option<PeerUser> {
    Some(PeerUser {
        id: resource.get("id")?.as_str()?.to_owned(),
        user_name: resource.get("userName")?.as_str()?.to_owned(),
        active: resource
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

/// The first 300 characters of an answer's body, for messages.
pub fn text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body)
        .chars()
        .take(300)
        .collect()
}
