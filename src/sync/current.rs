//! The workspace as it is, read over SCIM before planning: its users (and service principals, when
//! synced), its marker group's members, the mirrored groups that exist, and (when deprovisioning is on)
//! the principals never to deprovision: the token's own identity (`/Me`) and the members of `admins`,
//! with the groups nested in it read only when the plan would deprovision someone
//! ([`read_nested_admins`]). Every read runs at once (the SCIM client still paces them); the first that
//! fails fails the workspace ([`ReadError`]) before anything is written.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::admins::{self, Admins};
use super::desired::Names;
use super::errors::ReadError;
use super::plan::{Current, DesiredGroup, GroupState};
use crate::config::{Deprovision, SyncOptions};
use crate::databricks::{ClassifiedGroup, Scim, ScimGroup, ScimId, ScimServicePrincipal, ScimUser};
use crate::http::Requests;

/// Mirrored groups read at once. Each answer carries every member (a group of 85,000 members is a
/// 6 MB body, read ahead into its connection's buffer): at 100,000 users, 20 groups at once held
/// 9 MB more at the run's peak than this many, which still overlap the listing of the principals.
const GROUP_READS_AT_ONCE: usize = 6;

/// A workspace's (or the account's) users and service principals, as listed.
pub struct Listed {
    pub users: Vec<ScimUser>,
    pub service_principals: Vec<ScimServicePrincipal>,
}

/// Lists the users and, with `service_principals`, the service principals: the largest read of a sync.
///
/// # Errors
/// The first listing that failed.
pub async fn list_principals(
    scim: &Scim,
    service_principals: bool,
    requests: &Requests,
    names: &Names,
) -> Result<Listed, ReadError> {
    let users = async {
        let share = |name: &Arc<str>| names.share(name);
        let listed = scim.list_users(requests, &share);
        listed.await.map_err(ReadError::ListUsers)
    };
    let listed_service_principals = async {
        if !service_principals {
            return Ok(Vec::new());
        }
        let listed = scim.list_service_principals(requests);
        listed.await.map_err(ReadError::ListServicePrincipals)
    };
    let (users, service_principals) = futures::try_join!(users, listed_service_principals)?;
    Ok(Listed {
        users,
        service_principals,
    })
}

/// Reads the workspace: its users, service principals, marker group, protected principals and the
/// groups in `mirrored` that exist.
///
/// # Errors
/// The first read that failed, named after it.
pub async fn read_workspace(
    scim: &Scim,
    options: &SyncOptions,
    mirrored: &[DesiredGroup],
    requests: &Requests,
    names: &Names,
) -> Result<Current, ReadError> {
    let listed = list_principals(scim, options.include_service_principals, requests, names);
    read_listed(scim, options, mirrored, requests, listed).await
}

/// As [`read_workspace`], its users and service principals from `listed` (the account's part of a run
/// starts its listing while Graph is read).
///
/// # Errors
/// The first read that failed, named after it.
pub async fn read_listed(
    scim: &Scim,
    options: &SyncOptions,
    mirrored: &[DesiredGroup],
    requests: &Requests,
    listed: impl Future<Output = Result<Listed, ReadError>>,
) -> Result<Current, ReadError> {
    let names: Vec<String> = mirrored.iter().map(|g| g.name.clone()).collect();
    let found = futures::stream::iter(names)
        .map(|name| async move { read_group(scim, &name, requests).await })
        .buffered(GROUP_READS_AT_ONCE)
        .try_collect::<Vec<_>>();
    let (listed, marker, (protected, admins_group), found) = futures::try_join!(
        listed,
        read_group(scim, &options.managed_group, requests),
        read_protected(scim, options.deprovision, requests),
        found,
    )?;
    let Listed {
        users,
        service_principals,
    } = listed;
    let listed = |id: &str| is_listed(&users, &service_principals, id);
    let (protected, admins) = protect(protected, admins_group.as_ref(), &listed);
    Ok(Current {
        marker_id: marker.as_ref().map(|g| g.id.clone()),
        marker_members: marker.map(|g| g.members.into_iter().collect()),
        groups: existing(mirrored, found),
        hands_off: HashSet::new(),
        users,
        service_principals,
        protected,
        admins,
    })
}

async fn read_group(
    scim: &Scim,
    name: &str,
    requests: &Requests,
) -> Result<Option<ScimGroup>, ReadError> {
    let found = scim.find_group(name, requests).await;
    found.map_err(|source| ReadError::ReadGroup {
        name: name.to_owned(),
        source,
    })
}

/// The token's own identity and `admins` (when it exists), read only when deprovisioning is on.
async fn read_protected(
    scim: &Scim,
    deprovision: Deprovision,
    requests: &Requests,
) -> Result<(HashSet<ScimId>, Option<ClassifiedGroup>), ReadError> {
    if deprovision == Deprovision::None {
        return Ok((HashSet::new(), None));
    }
    let me = async { scim.me(requests).await.map_err(ReadError::ReadMe) };
    let admins = async {
        let found = scim.find_classified_group("admins", requests);
        found.await.map_err(ReadError::ReadAdmins)
    };
    let (me, admins) = futures::try_join!(me, admins)?;
    Ok((HashSet::from([me.id]), admins))
}

/// `protected` with the direct members of `admins`; the groups nested in it are read only if someone
/// would be deprovisioned (`Plan::awaits_admins`).
fn protect(
    mut protected: HashSet<ScimId>,
    admins_group: Option<&ClassifiedGroup>,
    listed: &dyn Fn(&str) -> bool,
) -> (HashSet<ScimId>, Admins) {
    let Some(group) = admins_group else {
        return (protected, Admins::Known);
    };
    let (direct, admins) = admins::direct(group, listed);
    protected.extend(direct);
    (protected, admins)
}

/// The mirrored groups that exist, by name.
fn existing(
    mirrored: &[DesiredGroup],
    found: Vec<Option<ScimGroup>>,
) -> BTreeMap<String, GroupState> {
    let pairs = mirrored.iter().zip(found);
    pairs
        .filter_map(|(wanted, found)| {
            let found = found?;
            let state = GroupState {
                id: found.id,
                members: found.members.into_iter().collect(),
                entitlements: found.entitlements,
            };
            Some((wanted.name.clone(), state))
        })
        .collect()
}

/// Whether `id` is a listed user or service principal of the workspace.
pub(super) fn is_listed(
    users: &[ScimUser],
    service_principals: &[ScimServicePrincipal],
    id: &str,
) -> bool {
    users.iter().any(|u| u.id == id) || service_principals.iter().any(|sp| sp.id == id)
}

/// Reads the groups nested in `admins` ([`admins::expand`]) into `current`: their members become
/// protected, and `current.admins` says whether every admin is known.
pub async fn read_nested_admins(scim: &Scim, current: &mut Current, requests: &Requests) {
    let Admins::Nested(nested) = std::mem::take(&mut current.admins) else {
        return;
    };
    let found = {
        let listed = |id: &str| is_listed(&current.users, &current.service_principals, id);
        let read = |id: ScimId| async move { scim.get_group(&id, requests).await };
        admins::expand(nested, &listed, read).await
    };
    current.protected.extend(found.protected);
    current.admins = found.admins;
}
