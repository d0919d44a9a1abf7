//! Change notifications and the work queue: any bytes as the body Graph (or anyone with the function
//! key) posts to `SyncNotify` (`notify::parse_batch`), and as a work-queue message's JSON
//! (`state::work::WorkMessage::from_json`).
//!
//! Properties: neither parser panics; a message that reads is written back (`encoded`: base64 of its
//! JSON, as the queue carries it) and that reads back to an equal message.
#![no_main]

use entra_databricks_sync::notify::parse_batch;
use entra_databricks_sync::state::work::WorkMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_batch(data);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(message) = WorkMessage::from_json(value) {
        let text = azure_core::base64::decode(message.encoded()).expect("its own base64");
        let again: serde_json::Value = serde_json::from_slice(&text).expect("its own JSON");
        assert_eq!(
            WorkMessage::from_json(again).expect("reads back"),
            message,
            "a work message changed through the queue's encoding"
        );
    }
});
