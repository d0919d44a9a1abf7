//! Answers of Microsoft Graph (`entra::parse_*`): any bytes as the body of a group look-up (by id:
//! one group; by name: a page of groups) and of a page of user or service principal members.
//!
//! Properties: no parser panics; reading a page's `@odata.nextLink` never panics, and a link that
//! reads as a URL reads as the same URL again (the client detects a repeated link by comparing them).
#![no_main]

use entra_databricks_sync::entra::{
    Member, Page, ServicePrincipalMember, parse_group, parse_group_page, parse_page,
};
use libfuzzer_sys::fuzz_target;

fn next_link_is_kept<T>(page: &Page<T>) {
    if let (Some(link), Ok(Some(url))) = (&page.next_link, page.next_url()) {
        // `Url` normalizes (case of scheme and host, default port, percent-encoding), so compare
        // what normalization cannot change: a second parse gives the same URL.
        let again = url::Url::parse(url.as_str()).expect("a parsed URL parses again");
        assert_eq!(
            again, url,
            "the next link {link:?} does not survive a second parse"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_page::<Member>(data) {
        next_link_is_kept(&page);
    }
    if let Ok(page) = parse_page::<ServicePrincipalMember>(data) {
        next_link_is_kept(&page);
    }
    if let Ok(page) = parse_group_page(data) {
        next_link_is_kept(&page);
        let _ = format!("{:?}", page.value);
    }
    if let Ok(group) = parse_group(data) {
        let _ = format!("{group:?}");
    }
});
