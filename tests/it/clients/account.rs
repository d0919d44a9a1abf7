//! The SCIM client at the Databricks account's level (`Scim::account`) against the account emulator,
//! through the world's proxy at `accounts.azuredatabricks.net`: the path, pages of at most 100, a
//! principal created once with its `externalId` (409 adopts), `active` set, and a refusal in the
//! account's words.

use axum::http::Method;
use entra_databricks_sync::databricks::{
    AccountPace, Bearer, Created, Level, PrincipalKind, Scim, ScimId, ScimServicePrincipal,
    ScimUser,
};
use entra_databricks_sync::http::Requests;
use sandbox::account::Account;
use sandbox::identity::{DATABRICKS_RESOURCE, mint_token};
use sandbox::world::World;
use secrecy::SecretString;
use std::time::Duration;

use super::client;

pub(super) const ACCOUNT_ID: &str = "0d5c2a8e-6f1b-4c3d-9e7a-1b2c3d4e5f60";

pub(super) struct AccountSetup {
    /// Kept alive: dropping the world stops its servers.
    pub world: World,
    pub account: Account,
    pub scim: Scim,
    pub requests: Requests,
}

/// A world with the account, and an account-level client holding a token of `identity`.
pub(super) async fn setup(identity: &str) -> AccountSetup {
    setup_paced(identity, AccountPace::uniform(1000.0)).await
}

/// As [`setup`], the client at `pace`.
async fn setup_paced(identity: &str, pace: AccountPace) -> AccountSetup {
    let world = World::start().await.unwrap();
    let account = world.add_account(ACCOUNT_ID).await.unwrap();
    account.admit_identity("sync-app");
    let token = mint_token(DATABRICKS_RESOURCE, identity, Duration::from_secs(3600));
    let host = url::Url::parse("https://accounts.azuredatabricks.net").unwrap();
    let scim = Scim::account(
        client(&world),
        &host,
        ACCOUNT_ID,
        Bearer::Pat(SecretString::from(token)),
        pace,
    );
    AccountSetup {
        world,
        account,
        scim,
        requests: Requests::default(),
    }
}

#[tokio::test]
async fn account_users_are_listed_to_the_end_in_pages_of_100_under_the_account_path() {
    let s = with_users(250).await;
    assert_eq!(s.scim.level(), Level::Account);
    let users: Vec<ScimUser> = s
        .scim
        .principals(PrincipalKind::User)
        .list(&s.requests, |u| u)
        .await
        .unwrap();
    assert_eq!(users.len(), 250);
    let lists: Vec<_> = (s.account.faults().log().into_iter())
        .filter(|r| r.method == Method::GET)
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    for request in &lists {
        assert_eq!(
            request.path,
            format!("/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Users")
        );
        let query = request.query.as_deref().unwrap_or_default();
        assert!(query.contains("count=100"), "{query}");
    }
}

/// A world whose account has `n` users.
async fn with_users(n: usize) -> AccountSetup {
    let s = setup("sync-app").await;
    for i in 0..n {
        s.account
            .add_user(&format!("user{i:04}@contoso.com"), &format!("User {i}"));
    }
    s
}

/// The `startIndex` of each user LIST the account saw, in order.
fn user_list_starts(account: &Account) -> Vec<usize> {
    (account.faults().log().into_iter())
        .filter(|r| r.method == Method::GET && r.path.ends_with("/scim/v2/Users"))
        .filter_map(|r| {
            let query = r.query.unwrap_or_default();
            let (_, start) = query.split_once("startIndex=")?;
            start.split('&').next()?.parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn account_pages_after_the_first_are_asked_for_a_few_at_once_each_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let s = with_users(2_000).await;
    s.account.faults().set_latency(Duration::from_millis(30));
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (flying, peak) = (Arc::clone(&in_flight), Arc::clone(&most));
    s.account.faults().set_hook(move |stage, _| match stage {
        sandbox::faults::Stage::Received => {
            let now = flying.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
        }
        sandbox::faults::Stage::Answered => {
            flying.fetch_sub(1, Ordering::SeqCst);
        }
    });
    let users: Vec<ScimUser> = s
        .scim
        .principals(PrincipalKind::User)
        .list(&s.requests, |u| u)
        .await
        .unwrap();
    let mut names: Vec<String> = users.iter().map(|u| u.user_name.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2_000, "every user once");
    let mut starts = user_list_starts(&s.account);
    starts.sort_unstable();
    let expected: Vec<usize> = (0..20).map(|page| 1 + page * 100).collect();
    assert_eq!(starts, expected, "each page once, none past the total");
    let most = most.load(Ordering::SeqCst);
    assert!(
        most > 1 && most <= 12,
        "the pages after the first go a few at once: {most} at most"
    );
}

#[tokio::test]
async fn a_short_account_page_makes_the_rest_of_the_listing_go_one_page_at_a_time() {
    let s = with_users(1_000).await;
    // The page at 201 comes back with half its users, as if the list had shifted under it.
    let fault = sandbox::faults::Fault::truncated_page().on_query("startIndex=201&");
    s.account.faults().inject(fault, 1);
    let users: Vec<ScimUser> = s
        .scim
        .principals(PrincipalKind::User)
        .list(&s.requests, |u| u)
        .await
        .unwrap();
    assert_eq!(users.len(), 1_000, "nothing lost, nothing twice");
    let starts = user_list_starts(&s.account);
    let after = starts.iter().position(|&start| start == 251);
    let after = after.expect("the listing goes on from where the short page ended");
    assert_eq!(
        &starts[after..],
        [251, 351, 451, 551, 651, 751, 851, 951],
        "then one page at a time, in order: {starts:?}"
    );
}

#[tokio::test]
async fn a_principal_is_created_once_in_the_account_with_its_entra_object_id() {
    let s = setup("sync-app").await;
    let users = s.scim.principals(PrincipalKind::User);
    let object_id = uuid::Uuid::from_u128(0x5a1e_0000_0000_4000_8000_0000_0000_0001);
    let created = users
        .create("ana@contoso.com", "Ana", Some(&object_id), &s.requests)
        .await
        .unwrap();
    let Created::New(id) = created else {
        panic!("expected a new user, got {created:?}");
    };
    // A second creation is the account's 409: the user exists, and is found by its name.
    let again = users
        .create("Ana@Contoso.com", "Ana", Some(&object_id), &s.requests)
        .await
        .unwrap();
    assert_eq!(again, Created::AlreadyExists);
    let found = users
        .find_as::<ScimUser>("ana@contoso.com", &s.requests)
        .await
        .unwrap()
        .expect("found by its user name");
    assert_eq!(found.id, id);
    assert_eq!(
        found.external_id,
        entra_databricks_sync::databricks::ExternalId::of(&object_id)
    );

    let app = "9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11";
    let service_principals = s.scim.principals(PrincipalKind::ServicePrincipal);
    let made = service_principals
        .create(app, "etl-runner", None, &s.requests)
        .await
        .unwrap();
    assert!(matches!(made, Created::New(_)), "{made:?}");
    let sp = service_principals
        .find_as::<ScimServicePrincipal>(app, &s.requests)
        .await
        .unwrap()
        .expect("found by its application id");
    assert_eq!(sp.application_id, app);
}

/// Whether the account lists the user `id` as active.
async fn active(s: &AccountSetup, id: &str) -> Option<bool> {
    let users: Vec<ScimUser> = (s.scim.principals(PrincipalKind::User))
        .list(&s.requests, |u| u)
        .await
        .unwrap();
    users.iter().find(|u| u.id.as_str() == id).map(|u| u.active)
}

#[tokio::test]
async fn an_account_user_is_deactivated_and_reactivated_in_the_documented_form() {
    let s = setup("sync-app").await;
    let id = s.account.add_user("bo@contoso.com", "Bo");
    let users = s.scim.principals(PrincipalKind::User);
    users
        .set_active(&id, "bo@contoso.com", false, &s.requests)
        .await
        .unwrap();
    assert_eq!(active(&s, &id).await, Some(false), "deactivated");
    users
        .set_active(&id, "bo@contoso.com", true, &s.requests)
        .await
        .unwrap();
    assert_eq!(active(&s, &id).await, Some(true), "reactivated");
    // One PATCH each: the emulator takes only the form Databricks' clients send.
    let patches = (s.account.faults().log().into_iter())
        .filter(|r| r.method == Method::PATCH)
        .count();
    assert_eq!(patches, 2);
}

#[tokio::test]
async fn an_identity_that_is_not_an_account_admin_is_told_what_to_grant_and_where() {
    let s = setup("someone-else").await;
    let error = s
        .scim
        .principals(PrincipalKind::User)
        .list::<ScimUser>(&s.requests, |u| u)
        .await
        .unwrap_err()
        .to_string();
    for needle in [
        "in this Databricks account",
        "HTTP 403",
        "account admin role",
        "listing account users",
    ] {
        assert!(error.contains(needle), "{needle:?} not in {error}");
    }
}

#[tokio::test]
async fn an_account_group_is_found_with_its_members_though_the_list_leaves_them_out() {
    let s = setup("sync-app").await;
    let ana = s.account.add_user("ana@contoso.com", "Ana");
    let bo = s.account.add_user("bo@contoso.com", "Bo");
    s.account.add_group("Eng", &[&ana]);
    let group = s
        .scim
        .find_group("eng", &s.requests)
        .await
        .unwrap()
        .expect("found by its name, in any case");
    assert_eq!(group.display_name, "Eng");
    let members: Vec<&str> = group.members.iter().map(|m| m.as_str()).collect();
    assert_eq!(members, [ana.as_str()]);
    // The LIST, then the group itself for its members.
    let reads: Vec<String> = (s.account.faults().log().into_iter())
        .filter(|r| r.method == Method::GET)
        .map(|r| r.path)
        .collect();
    let groups = format!("/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Groups");
    assert_eq!(reads, [groups.clone(), format!("{groups}/{}", group.id)]);

    // Members are added and removed as at a workspace.
    s.scim
        .add_members(&group.id, &[ScimId::from(bo.as_str())], &s.requests)
        .await
        .unwrap();
    s.scim
        .remove_member(&group.id, &ScimId::from(ana.as_str()), &s.requests)
        .await
        .unwrap();
    assert_eq!(s.account.members(&group.id), [bo]);
    assert_eq!(
        s.scim.find_group("nobody", &s.requests).await.unwrap(),
        None
    );
}

/// Creations, deactivations and reactivations, and listings: the calls of a sync, in a burst.
async fn burst(s: &AccountSetup) {
    let users = s.scim.principals(PrincipalKind::User);
    for i in 0..6 {
        let name = format!("burst{i}@contoso.com");
        let made = users.create(&name, "B", None, &s.requests).await.unwrap();
        let Created::New(id) = made else {
            panic!("{made:?}");
        };
        users
            .set_active(&id, &name, false, &s.requests)
            .await
            .unwrap();
        users
            .set_active(&id, &name, true, &s.requests)
            .await
            .unwrap();
        let listed: Vec<ScimUser> = users.list(&s.requests, |u| u).await.unwrap();
        assert_eq!(listed.len(), i + 1);
    }
}

#[tokio::test]
async fn the_default_account_pace_stays_under_the_limits_per_kind_of_call() {
    let s = setup_paced("sync-app", AccountPace::default()).await;
    s.account
        .set_rate_limits(Some(sandbox::account::RateLimits::INDICATIVE));
    burst(&s).await;
    assert_eq!(s.account.throttled(), 0, "no 429 at the default pace");

    // The same calls without the pace per kind meet the PATCH limit: the limits bite.
    let fast = setup_paced("sync-app", AccountPace::uniform(1000.0)).await;
    fast.account
        .set_rate_limits(Some(sandbox::account::RateLimits::INDICATIVE));
    burst(&fast).await;
    assert!(
        fast.account.throttled() > 0,
        "the burst was never throttled"
    );
}
