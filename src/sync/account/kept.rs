//! Who is never deprovisioned at the account, and what deprovisioning means there this run; the
//! principals another provisioner manages, for the report.

use super::AccountScope;
use crate::config::Deprovision;
use crate::databricks::{Assignee, Assignment, Permission, Scim, ScimId};
use crate::http::Requests;
use crate::sync::Workspace;
use crate::sync::admins::{self, Admins, GroupsAt, Route};
use crate::sync::current::is_listed;
use crate::sync::desired::Principals;
use crate::sync::engine::AzureRun;
use crate::sync::errors::SyncError;
use crate::sync::plan::Current;
use crate::sync::report::{MAX_NAMED, ManagedElsewhere};

/// The desired principals another provisioner manages ([`Current::hands_off`]), for the report.
pub(super) fn managed_elsewhere(
    principals: &Principals,
    current: &Current,
) -> Option<ManagedElsewhere> {
    if current.hands_off.is_empty() {
        return None;
    }
    let lookup = current.lookup();
    let mut found = ManagedElsewhere::default();
    for key in principals.keys() {
        if (lookup.get(key)).is_some_and(|p| current.hands_off.contains(p.id)) {
            found.count += 1;
            if found.first.len() < MAX_NAMED {
                found.first.push(key.to_string());
            }
        }
    }
    (found.count > 0).then_some(found)
}

/// What deprovisioning means at the account this run: nothing unless the run has every account-mode
/// workspace of the configuration (a principal may be wanted by one it does not sync) and all of them
/// deprovision; then `remove` when all remove, else `deactivate` (the gentler of what they ask).
pub(super) fn account_deprovision(scope: &AccountScope) -> Deprovision {
    let mut modes = scope.workspaces.iter().map(|(w, _)| w.options.deprovision);
    if !scope.complete || modes.clone().any(|m| m == Deprovision::None) {
        Deprovision::None
    } else if modes.all(|m| m == Deprovision::Remove) {
        Deprovision::Remove
    } else {
        Deprovision::Deactivate
    }
}

/// Who must never be deprovisioned at the account beyond the admins listed with their role, or why
/// that cannot be known.
pub(super) struct Kept {
    pub(super) protected: Vec<ScimId>,
    pub(super) admins: Admins,
}

impl Kept {
    fn unknown(why: String) -> Kept {
        Kept {
            protected: Vec::new(),
            admins: Admins::Unknown(why),
        }
    }
}

impl AzureRun {
    /// Read when someone would be deprovisioned at the account: the members (nested groups read at the
    /// account, to 10 levels) of the groups holding `account_admin`, the principals and groups assigned
    /// `ADMIN` to an account-mode workspace, the admins of each account-mode workspace by its own
    /// `admins` group ([`workspace_admins`]), and every principal a workspace-mode workspace of the
    /// configuration wants. The first read that fails makes them unknown: nobody is deprovisioned.
    pub(super) async fn kept_at_account(
        &self,
        scim: &Scim,
        scope: &AccountScope,
        workspaces: &[Result<(&[Assignment], &Scim), String>],
        current: &Current,
        requests: &Requests,
    ) -> Kept {
        let mut protected = Vec::new();
        let mut routes = Vec::new();
        match scim.list_account_admin_groups(requests).await {
            Ok(groups) => routes.extend((groups.into_iter()).map(|(id, name)| Route {
                id,
                path: vec!["account admins".to_owned(), name],
            })),
            Err(e) => {
                return Kept::unknown(format!(
                    "the account's groups could not be listed with their roles, so the account admins \
                     are not known: {e}"
                ));
            }
        }
        let listed = |id: &str| is_listed(&current.users, &current.service_principals, id);
        for ((workspace, _), read) in scope.workspaces.iter().zip(workspaces) {
            let (assigned, workspace_scim) = match read {
                Ok(read) => *read,
                Err(e) => {
                    return Kept::unknown(format!(
                        "the assignments of {} could not be read, so its admins are not known: {e}",
                        workspace.name
                    ));
                }
            };
            let admins = (assigned.iter()).filter(|a| a.permission == Some(Permission::Admin));
            for admin in admins {
                match &admin.assignee {
                    Assignee::Group(name) => routes.push(Route {
                        id: admin.principal_id.clone(),
                        path: vec![format!("ADMIN of {}", workspace.name), name.clone()],
                    }),
                    Assignee::User(_) | Assignee::ServicePrincipal(_) => {
                        protected.push(admin.principal_id.clone());
                    }
                    Assignee::Unnamed => {
                        return Kept::unknown(format!(
                            "{} has an ADMIN assignment of {} that names no user, group or service \
                             principal, so its admins are not known",
                            workspace.name, admin.principal_id
                        ));
                    }
                }
            }
            // An admin by the workspace's own `admins` group, however they got there.
            match workspace_admins(scim, workspace_scim, workspace, &listed, requests).await {
                Ok(admins) => protected.extend(admins),
                Err(why) => return Kept::unknown(why),
            }
        }
        let read = |id: ScimId| async move { scim.get_group(&id, requests).await };
        let found = admins::expand_at(GroupsAt::Account, routes, &listed, read).await;
        protected.extend(found.protected);
        if let Admins::Unknown(why) = found.admins {
            return Kept::unknown(why);
        }
        // A principal a workspace-mode workspace wants stays: that workspace may be identity-federated,
        // and then its users are the account's.
        let lookup = current.lookup();
        for workspace in &scope.others {
            let mut memory = self.memory.extra_reader();
            let wanted = async {
                let entra = self.read_groups(workspace, requests).await?;
                let desired = self
                    .desire(workspace, entra.members, entra.mirrored, &mut memory)
                    .await?;
                Ok::<_, SyncError>(desired.principals)
            };
            match wanted.await {
                Ok(principals) => protected.extend(
                    (principals.keys()).filter_map(|key| lookup.get(key).map(|p| p.id.clone())),
                ),
                Err(e) => {
                    return Kept::unknown(format!(
                        "the groups of the workspace-mode workspace {} could not be read, and a \
                         principal it wants is never deprovisioned at the account: {e}",
                        workspace.name
                    ));
                }
            }
        }
        Kept {
            protected,
            admins: Admins::Known,
        }
    }
}

/// The admins of an account-mode workspace by its own `admins` group, whatever route put them there
/// (an `ADMIN` assignment, or a workspace admin adding them in the workspace, which no Databricks page
/// says becomes an assignment): its direct members, and the members of the groups nested in it, to 10
/// levels, each group read at the account (an account group, whose members only the account shows) or,
/// when the account does not have it (404), in the workspace, where it must say it is a
/// workspace-local group. `Err` says why they cannot be known (the workspace named): nothing that
/// could remove an admin's access goes ahead then.
pub(super) async fn workspace_admins(
    account: &Scim,
    workspace_scim: &Scim,
    workspace: &Workspace,
    listed: &(dyn Fn(&str) -> bool + Sync),
    requests: &Requests,
) -> Result<Vec<ScimId>, String> {
    let name = &workspace.name;
    let admins = match workspace_scim
        .find_classified_group("admins", requests)
        .await
    {
        Ok(Some(admins)) => admins,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "the admins group of {name} could not be read, so its admins are not known: {e}"
            ));
        }
    };
    let (mut protected, nested) = admins::direct(&admins, listed);
    let routes = match nested {
        Admins::Known => return Ok(protected),
        Admins::Unknown(why) => return Err(format!("{name}: {why}")),
        Admins::Nested(routes) => routes,
    };
    let read = |id: ScimId| async move {
        match account.get_group(&id, requests).await {
            Ok(group) => Ok(group),
            Err(e) if e.is_not_found() => {
                let group = (workspace_scim.get_group(&id, requests).await).map_err(|e| {
                    format!("the account has no such group, and the workspace's answer: {e}")
                })?;
                if admins::is_workspace_group(&group) {
                    Ok(group)
                } else {
                    Err(format!(
                        "the account has no group {id}, and the workspace does not say it is a \
                         workspace-local group (meta.resourceType {:?})",
                        group.resource_type
                    ))
                }
            }
            Err(e) => Err(format!("at the account: {e}")),
        }
    };
    let found = admins::expand_at(GroupsAt::Account, routes, listed, read).await;
    if let Admins::Unknown(why) = found.admins {
        return Err(format!("{name}: {why}"));
    }
    protected.extend(found.protected);
    Ok(protected)
}
