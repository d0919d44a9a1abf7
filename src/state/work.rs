//! A message of the work queue (`SYNC_QUEUE`, default `entra-sync-work`): one workspace to sync, and
//! why. Written by this app (notifications, the timer's fan-out), read by `SyncQueue`; JSON, base64
//! encoded on the queue as the Functions queue trigger expects by default.
//!
//! `{"workspace": "analytics", "reason": "notification", "groups": ["<Entra group id>"],
//!   "requestedAt": "2026-12-06T14:00:00Z"}`: `workspace` is required; `reason` is one of
//! `notification`, `timer`, `manual` (default `manual`); `groups` (the Entra groups whose change led
//! here) and `requestedAt` are for the report and the log. Unknown fields are refused: the messages
//! come from this app, so an unknown field is a version mismatch or a hand-written mistake.

use serde::{Deserialize, Serialize};

/// The default work queue; its poison queue is `entra-sync-work-poison`.
pub const DEFAULT_QUEUE: &str = "entra-sync-work";

/// Why a workspace was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// A Microsoft Graph change notification for one of its groups.
    Notification,
    /// `SyncTimer` fanning out one message per workspace.
    Timer,
    /// Someone put it there.
    #[default]
    Manual,
}

/// One workspace to sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkMessage {
    pub workspace: String,
    #[serde(default)]
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
}

impl WorkMessage {
    /// Reads a message's JSON.
    ///
    /// # Errors
    /// What is wrong with it, in words.
    pub fn from_json(value: serde_json::Value) -> Result<WorkMessage, String> {
        let message: WorkMessage = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if message.workspace.trim().is_empty() {
            return Err("\"workspace\" is empty".to_owned());
        }
        Ok(message)
    }

    /// The message's text on the queue: its JSON, base64-encoded.
    pub fn encoded(&self) -> String {
        azure_core::base64::encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_is_read_strictly_and_written_base64() {
        let message = WorkMessage::from_json(json!({
            "workspace": "analytics", "reason": "notification", "groups": ["g1"]
        }))
        .unwrap();
        assert_eq!(message.reason, Reason::Notification);
        assert_eq!(
            WorkMessage::from_json(json!({"workspace": "analytics"}))
                .unwrap()
                .reason,
            Reason::Manual
        );
        let error =
            WorkMessage::from_json(json!({"workspace": "a", "workspaces": ["b"]})).unwrap_err();
        assert!(error.contains("unknown field `workspaces`"), "{error}");
        assert!(WorkMessage::from_json(json!({"workspace": " "})).is_err());
        assert!(WorkMessage::from_json(json!({"reason": "timer"})).is_err());
        let decoded = azure_core::base64::decode(message.encoded()).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(
            back,
            json!({"workspace": "analytics", "reason": "notification", "groups": ["g1"]})
        );
    }
}
