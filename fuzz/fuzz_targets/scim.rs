//! Answers of a Databricks workspace's SCIM API (`databricks::parse_*`): any bytes as the body of
//! a user, service principal or group listing, a created user, service principal or group, a group
//! read by id with its members' kinds (admin protection), `/Me`, and (at the account) a workspace's
//! permission assignments.
//! The input's first line is the group display name asked for; the rest is the body.
//!
//! Properties: no parser panics; a group look-up only ever answers a group of the name asked
//! (compared case-insensitively, as the workspace compares names); every assignment read names its
//! principal.
#![no_main]

use entra_databricks_sync::databricks::{
    ScimServicePrincipal, ScimUser, parse_assignments, parse_classified_group, parse_group,
    parse_group_page, parse_list_page, parse_me,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (asked, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (
            String::from_utf8_lossy(&data[..at]).into_owned(),
            &data[at + 1..],
        ),
        None => (String::new(), data),
    };

    if let Ok(page) = parse_list_page::<ScimUser>(body) {
        let _ = format!("{page:?}");
    }
    if let Ok(page) = parse_list_page::<ScimServicePrincipal>(body) {
        let _ = format!("{page:?}");
    }
    // A created user or service principal is read as the resource itself.
    let _ = serde_json::from_slice::<ScimUser>(body);
    let _ = serde_json::from_slice::<ScimServicePrincipal>(body);
    if let Ok(Some(group)) = parse_group_page(body, &asked) {
        assert_eq!(
            group.display_name.to_lowercase(),
            asked.to_lowercase(),
            "a look-up of {asked:?} answered another group"
        );
    }
    if let Ok(group) = parse_group(body, &asked) {
        let _ = format!("{group:?}");
    }
    if let Ok(group) = parse_classified_group(body) {
        let _ = format!("{group:?}");
    }
    if let Ok(me) = parse_me(body) {
        let _ = format!("{me:?}");
    }
    if let Ok(assignments) = parse_assignments(body) {
        for assignment in assignments {
            assert!(!assignment.principal_id.is_empty(), "{assignment:?}");
        }
    }
});
