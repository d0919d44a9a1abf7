//! The `Retry-After` header of a Graph or SCIM answer (`http::parse_retry_after`): any text, in
//! seconds or as an HTTP date.
//!
//! Properties: reading it never panics, and a delay read is at most the 60 s cap.
#![no_main]

use std::time::Duration;

use entra_databricks_sync::http::parse_retry_after;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let now = time::macros::datetime!(2026-11-28 11:00:00 UTC);
    if let Some(delay) = parse_retry_after(value, now) {
        assert!(
            delay <= Duration::from_secs(60),
            "{value:?} gives {delay:?}"
        );
    }
});
