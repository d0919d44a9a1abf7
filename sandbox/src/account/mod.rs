//! A stateful emulator of the Azure Databricks **account** (identity federation), served at
//! `accounts.azuredatabricks.net`: the account SCIM API, workspace permission assignments, and what
//! they federate into the account's workspaces (each a [`ScimWorkspace`]).
//!
//! # Account emulator: what it follows and the sources
//!
//! Written from the sources listed in docs/api-contract.md, "Databricks account" (the Go SDK
//! `databricks/databricks-sdk-go` @ 1ff3c785, the Terraform provider
//! `databricks/terraform-provider-databricks` @ 684f4424, the REST reference). Followed:
//! - Paths `/api/2.0/accounts/{account_id}/scim/v2/{Users,ServicePrincipals,Groups}[/{id}]`
//!   (https://docs.databricks.com/api/scim/v1/account.md; Go SDK `service/iam/impl.go`
//!   `accountUsersV2Impl` & co.). GET (list and one), POST (201), PATCH (200 with the resource; 204
//!   without a body after [`Account::set_patch_answers_204`]), DELETE (204). PUT is not emulated
//!   (405). An account id other than this account's: 404.
//! - LIST (list-account-users.md, list-account-groups.md): `filter` with the workspace emulator's
//!   grammar (clients send `userName eq`, `applicationId eq`, `displayName eq`: Terraform
//!   `scim/resource_user.go`, `resource_service_principal.go`, `scim/groups.go`), `startIndex`
//!   (1-based), `count` "<= 100": the page is capped at 100 silently, also when `count` is absent
//!   (the docs' "default 10000" cannot hold); whether the service caps or refuses a larger count is
//!   **unconfirmed**. `attributes`/`excludedAttributes`. `ListResponse` with capital-R `Resources`.
//! - A group LIST item never carries `members` ("Since 2025-08-22", list-account-groups.md; Go SDK
//!   comment on `accountGroupsV2Impl.List`); GET of one group does, as `$ref` (`Users/…`, `Groups/…`,
//!   `ServicePrincipals/…`; the last form is **unconfirmed**, ucx#3796 shows the first), `value`,
//!   `display`. Groups carry `meta.resourceType` `"Group"`.
//! - Users: `userName`, `displayName`, `emails` (the user name when not given), `name`, `externalId`
//!   (kept as sent, at most 64 characters: https://docs.databricks.com/api/scim/v1/user), `active`,
//!   `roles` (`[{"value":"account_admin"}]`, Terraform `aws/resource_user_role.go`); a PATCH of
//!   `userName` or `emails` is ignored, as documented. Service principals: `applicationId` (required:
//!   on Azure it is the Entra application id), `displayName`, `externalId`, `active`, `roles`.
//!   POST bodies need no `schemas` (the Go SDK's V2 requests carry none).
//! - Duplicates: 409, the SCIM error document with `scimType` `uniqueness` and the detail strings
//!   Terraform matches on (`User with email <x> already exists in this account`, `Service principal
//!   with application ID <x> already exists.`, `Group with name <x> already exists.`); the texts are
//!   confirmed, the status and `scimType` **unconfirmed**.
//! - PATCH (patch-account-group.md; Terraform `scim/resource_user_disable_test.go`,
//!   `resource_group_member.go`, `aws/resource_user_role.go`): the PatchOp schema and capital-O
//!   `Operations` required; `active` replaced with `[{"value":"false"}]` or `"false"` (a bare JSON
//!   boolean is refused, as in the workspace emulator: no Databricks client sends it, **unconfirmed**
//!   what the service does); members added with `{"op":"add","path":"members","value":[{"value":id}]}`
//!   or the knowledge base's path-less `{"op":"add","value":{"members":[…]}}`, removed with
//!   `members[value eq "<id>"]`; a bare id as value is `invalidSyntax` (databricks-sdk-java#279);
//!   roles added and removed (`roles[value eq "account_admin"]`). The workspace emulator's
//!   [`crate::scim::patch`], `filter`, `query` and `error` modules do the parsing.
//! - Permission assignments (workspace-permission-assignments.md, update-workspace-permission-
//!   assignment.md, https://docs.databricks.com/api/azure/account/workspaceassignment/list; Go SDK
//!   `workspaceAssignmentImpl`; Terraform `mws/resource_mws_permission_assignment.go`): see
//!   [`assignments`]. The 400 on a workspace without identity federation comes from third-party code
//!   (ConductorOne/baton-databricks `pkg/connector/workspaces.go`); its `error_code` is **unconfirmed**.
//! - Rate limits: off by default; [`Account::set_rate_limits`] switches on one token bucket per kind
//!   (GET, LIST, PATCH, POST/PUT/DELETE) answering 429 with `Retry-After` in integer seconds (the
//!   Python SDK reads it so). [`RateLimits::INDICATIVE`] holds secondary, **unconfirmed** numbers
//!   (GET 20/s, LIST 240/min, PATCH 2/s, writes 5/s; https://learn.microsoft.com/en-us/azure/databricks/resources/limits#api-rate-limits
//!   could not be read).
//! - Auth: an Entra token for Azure Databricks (`2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`) of an identity
//!   admitted as account admin ([`Account::admit_identity`]); no `X-Databricks-Azure-SP-Management-Token`
//!   is needed (partly unconfirmed: docs/api-contract.md, "the token").
//!
//! # Federation into workspaces
//!
//! Modelled (see [`crate::scim::federation`] for the workspace side): a principal assigned to a
//! registered workspace directly, or through an assigned account group (transitively through nested
//! account groups), is in that workspace's SCIM `Users`/`ServicePrincipals` listing with its account
//! id; an assigned account group is in its `Groups` listing with `meta.resourceType` `"Group"`
//! (workspace-local groups stay `"WorkspaceGroup"`: Go SDK `ResourceMeta`, ucx `groups.py`), yet PUT
//! and DELETE of it there answer 404, and so do GET and PATCH but for its entitlements (below;
//! "workspace-level SCIM API calls will fail if they involve account groups", archive/workspace-level-scim).
//! `ADMIN` makes the principal or group a member
//! of the workspace's `admins`. Removing the assignment (or the principal) removes them from the
//! workspace. Deactivating an account user makes it inactive, account-deactivated, in every workspace.
//! Whether workspace SCIM lists principals assigned only through a group is **unconfirmed**; no Databricks page says so.
//!
//! The workspace's own SCIM API on a registered workspace ([`link`]; the workspace side in
//! `scim/users.rs`, `scim/service_principals.rs`, `scim/account_groups.rs`):
//! - "Workspace admins can add users, groups, and service principals to the Databricks account using
//!   workspace-level SCIM APIs" (https://learn.microsoft.com/azure/databricks/archive/workspace-level-scim,
//!   https://docs.databricks.com/archive/workspace-level-scim/index.html), and "SCIM API for
//!   Identity-Federated Workspaces is similar to the regular workspace SCIM API"
//!   (https://api-docs.databricks.com/rest/latest/identity-federated-workspaces-scim-api.html; its list
//!   of "notable differences" could not be read here). So a workspace `POST Users` or `POST
//!   ServicePrincipals` creates the account principal from the body (`userName`/`applicationId`,
//!   `displayName`, `externalId` at most 64 characters as at the account, `active`; a user's `emails`
//!   and `name`), or, when the account has one with that user name or application id that the workspace
//!   does not hold, takes it as it is (its account fields unchanged, a deactivated one arriving
//!   inactive: **unconfirmed**); either way it is assigned to the workspace (`USER`; a permission it has
//!   is kept), which lists it with its account id, and the answer is 201 with it. One the workspace
//!   holds already (assigned, or reached through a group) is the workspace's 409, as before. The body's
//!   `entitlements` and `groups` are the workspace's own.
//! - Groups POSTed at the workspace stay workspace-local (`WorkspaceGroup`): "there is still an ability
//!   to create workspace-level groups via API, and `databricks_group` resource uses it and always
//!   creates workspace-level" (Terraform `docs/guides/experimental-exporter.md` @ 684f4424, PR #4650;
//!   terraform-provider-databricks#1458 reported in 2022 that identity federation refused them,
//!   #1709 the same year that they were made workspace-local). Their members may be account principals.
//! - A workspace `PATCH` (of `active` too), `PUT` or `DELETE` of a federated user or service principal:
//!   what it does at the account is not documented (Terraform's `docs/resources/user.md` says only that a
//!   workspace-level provider deletes the user "from the workspace"): **unconfirmed**, so they act on
//!   the workspace alone, as before (a deleted principal still assigned comes back at the next change the
//!   account federates).
//! - An account group assigned to the workspace is served by `GET`/`PATCH Groups/{id}` for its
//!   entitlements in this workspace only (Terraform `databricks_entitlements`,
//!   `scim/resource_entitlement.go` @ 684f4424, `docs/resources/group.md`: "Use databricks_entitlements
//!   resource to assign entitlements inside a workspace to account-level groups"); a read that would
//!   show its members and any other change answer 404 as before. The rule and what is unconfirmed:
//!   `scim/account_groups.rs`. The account group and other workspaces do not see these entitlements.
//!
//! Not modelled: PUT of SCIM resources; `sortBy`/`sortOrder`; the 200-node filter limit; the identity
//! limits (5000 groups, 10 levels of nesting, …); the `/api/2.0/preview/accounts/…` alias; the
//! `account users` group and the workspace `users` group (USER adds nothing visible but the principal);
//! entitlements at the account (they are a workspace's: a federated principal's are the workspace's own,
//! lost when it leaves the workspace, as are an assigned account group's); the
//! `urn:ietf:params:scim:schemas:extension:workspace:2.0:User:permissionLevel` schema that the
//! identity-federated workspace SCIM page's examples show in a user's `schemas`; workspace-level SCIM
//! writes of an account principal's fields (`PATCH displayName` changes the workspace's copy until the
//! account's next federation); the `error` field of assignments; automatic identity management; merging
//! a workspace-local principal with an account one of the same name (the account one is then not placed
//! in that workspace, and a workspace POST of that name is the workspace's 409); eventual consistency;
//! the iamv2 `workspace-assignments` API.

mod assignments;
mod federation;
mod groups;
mod guard;
mod link;
mod resources;
mod rest;
mod scim;
mod seed;
mod state;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};

use crate::faults::{self, Faults};
use crate::scim::ScimWorkspace;
use crate::scim::error::ScimError;
use rest::RestError;
use scim::{create, delete, list, patch};
use state::{AccountGroup, AccountServicePrincipal, AccountUser, State};

pub use guard::RateLimits;
pub use scim::MAX_PAGE_SIZE;
pub use seed::UserView;

/// The account console's API host on Azure.
pub const ACCOUNTS_HOST: &str = "accounts.azuredatabricks.net";

struct Shared {
    account_id: String,
    faults: Faults,
    state: Mutex<State>,
}

/// One emulated account. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Account {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("account_id", &self.shared.account_id)
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn new(account_id: &str) -> Account {
        Account {
            shared: Arc::new(Shared {
                account_id: account_id.to_owned(),
                faults: Faults::default(),
                state: Mutex::new(State::new()),
            }),
        }
    }

    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// Where the account SCIM API lives: `/api/2.0/accounts/<account id>/scim/v2`.
    pub fn scim_root(&self) -> String {
        format!("/api/2.0/accounts/{}/scim/v2", self.account_id())
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The API, behind the fault middleware (outermost, so it logs every request), then the guard.
    pub fn router(&self) -> Router {
        let root = "/api/2.0/accounts/{account_id}";
        let scim = format!("{root}/scim/v2");
        let assigned = format!("{root}/workspaces/{{workspace_id}}/permissionassignments");
        Router::new()
            .route(
                &format!("{scim}/Users"),
                get(list::<AccountUser>).post(create::<AccountUser>),
            )
            .route(&format!("{scim}/Users/{{id}}"), one::<AccountUser>())
            .route(
                &format!("{scim}/ServicePrincipals"),
                get(list::<AccountServicePrincipal>).post(create::<AccountServicePrincipal>),
            )
            .route(
                &format!("{scim}/ServicePrincipals/{{id}}"),
                one::<AccountServicePrincipal>(),
            )
            .route(
                &format!("{scim}/Groups"),
                get(list::<AccountGroup>).post(create::<AccountGroup>),
            )
            .route(&format!("{scim}/Groups/{{id}}"), one::<AccountGroup>())
            .route(&assigned, get(assignments::list))
            .route(
                &format!("{assigned}/permissions"),
                get(assignments::permissions),
            )
            .route(
                &format!("{assigned}/principals/{{principal_id}}"),
                put(assignments::put).delete(assignments::delete),
            )
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(no_such_path)
            .layer(from_fn_with_state(self.clone(), guard::guard))
            .layer(from_fn_with_state(self.faults().clone(), faults::layer))
            .with_state(self.clone())
    }

    /// Rate limits per request kind (`None`: unlimited, the default). Replaces the buckets and the count.
    pub fn set_rate_limits(&self, limits: Option<RateLimits>) {
        self.state().limits = limits.map(guard::Limits::new);
    }

    /// A successful PATCH answers 204 without a body instead of 200 with the resource (the Go SDK's
    /// account `Patch` calls return no value; the 200 form makes every PATCH of a large group echo all
    /// its members).
    pub fn set_patch_answers_204(&self, yes: bool) {
        self.state().patch_answers_204 = yes;
    }

    /// Requests answered 429 by the rate limits since they were set.
    pub fn throttled(&self) -> usize {
        self.state().limits.as_ref().map_or(0, |l| l.throttled)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Brings every identity-federated workspace in line with the account (called with the account's
    /// lock held: the account locks a workspace, never the other way round).
    pub(crate) fn federate(&self, state: &State) {
        for workspace in state.workspaces.values() {
            if let Some(scim) = &workspace.scim {
                scim.federate(&federation::view(state, workspace));
            }
        }
    }

    /// Brings these workspaces in line with the account: those a change can have changed
    /// ([`federation::reaching`], the workspace of an assignment). Same lock order as [`Self::federate`].
    pub(crate) fn federate_only(&self, state: &State, workspaces: &BTreeSet<u64>) {
        for id in workspaces {
            if let Some(workspace) = state.workspaces.get(id)
                && let Some(scim) = &workspace.scim
            {
                scim.federate(&federation::view(state, workspace));
            }
        }
    }
}

/// GET, PATCH and DELETE of one resource.
fn one<T: resources::Resource>() -> axum::routing::MethodRouter<Account> {
    get(scim::get::<T>).patch(patch::<T>).delete(delete::<T>)
}

async fn no_such_path(uri: Uri) -> Response {
    if uri.path().contains("/scim/v2/") {
        ScimError::no_such_path(uri.path()).into_response()
    } else {
        RestError::new(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            format!("No API found for '{}'.", uri.path()),
        )
        .into_response()
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    if uri.path().contains("/scim/v2/") {
        ScimError::method_not_allowed().into_response()
    } else {
        RestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "This method is not allowed on this endpoint.",
        )
        .into_response()
    }
}

impl Account {
    /// Registers an identity-federated workspace under `workspace_id` (the number in its
    /// `adb-<id>.<n>.azuredatabricks.net` host) and federates the account's assignments into it; the
    /// workspace's own `POST Users` and `POST ServicePrincipals` then add to the account (`link.rs`).
    pub fn add_workspace(&self, workspace_id: u64, workspace: &ScimWorkspace) {
        let mut state = self.state();
        workspace.link_account(link::WorkspaceLink::new(self, workspace_id));
        let entry = state::AccountWorkspace {
            scim: Some(workspace.clone()),
            assignments: Default::default(),
        };
        state.workspaces.insert(workspace_id, entry);
        self.federate(&state);
    }

    /// Registers a workspace that is not identity-federated: its permission assignment API answers 400.
    pub fn add_unfederated_workspace(&self, workspace_id: u64) {
        let entry = state::AccountWorkspace {
            scim: None,
            assignments: Default::default(),
        };
        self.state().workspaces.insert(workspace_id, entry);
    }
}
