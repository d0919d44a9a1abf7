//! The writes of each change: SCIM calls by kind of principal (create, adopt on 409, reactivate,
//! deactivate, delete) and by group change (create, entitlements, members added or removed).

use std::collections::HashMap;

use super::super::desired::Principal;
use super::super::plan::{Deprovisioning, GroupChange, Leave, PrincipalChange, Removal};
use super::marker::Additions;
use super::{Done, Writer};
use crate::databricks::{Created, MAX_MEMBERS_PER_PATCH, ScimError, ScimId};

/// How a failed principal change ends: a reactivation refused for a user deactivated in the Databricks
/// account is a failure of its own (an account admin must act), any other is failed.
fn failed(error: ScimError) -> Done {
    match error {
        ScimError::AccountDeactivated { .. } => Done::AccountDeactivated(error.to_string()),
        _ => Done::Failed(error.to_string()),
    }
}

fn group_failed(error: ScimError) -> Done {
    Done::Failed(error.to_string())
}

/// The `externalId` a principal is created with: its Entra object id, if known.
fn known(id: &uuid::Uuid) -> Option<&uuid::Uuid> {
    (!id.is_nil()).then_some(id)
}

/// The principal changes: SCIM calls by kind of principal.
impl Writer<'_> {
    pub(super) async fn principal_change(&self, change: &PrincipalChange) -> Done {
        match change {
            PrincipalChange::Create {
                principal,
                identity,
            } => match self
                .create(principal, identity.display_name(), known(&identity.id()))
                .await
            {
                Ok(Some(id)) => Done::Created(id),
                Ok(None) => self.adopt(principal).await,
                Err(e) => failed(e),
            },
            PrincipalChange::Activate { id, principal } => {
                let result = self.set_active(id, principal, true).await;
                result.map_or_else(failed, |()| Done::Reactivated)
            }
        }
    }

    pub(super) async fn leave(&self, leaving: &Deprovisioning) -> Done {
        let Deprovisioning {
            leave,
            id,
            principal,
        } = leaving;
        match leave {
            Leave::Deactivate => (self.set_active(id, principal, false).await)
                .map_or_else(failed, |()| Done::Deactivated),
            Leave::Remove => {
                (self.delete(id, principal).await).map_or_else(failed, |()| Done::Removed)
            }
        }
    }

    /// Creates the principal: its id, or `None` when the workspace says it exists already (409).
    async fn create(
        &self,
        principal: &Principal,
        display_name: &str,
        external_id: Option<&uuid::Uuid>,
    ) -> Result<Option<ScimId>, ScimError> {
        let principals = self.scim.principals(principal.kind());
        let created = principals.create(principal.key(), display_name, external_id, self.requests);
        Ok(match created.await? {
            Created::New(id) => Some(id),
            Created::AlreadyExists => None,
        })
    }

    async fn set_active(
        &self,
        id: &str,
        principal: &Principal,
        active: bool,
    ) -> Result<(), ScimError> {
        let principals = self.scim.principals(principal.kind());
        principals
            .set_active(id, principal.key(), active, self.requests)
            .await
    }

    async fn delete(&self, id: &str, principal: &Principal) -> Result<(), ScimError> {
        let principals = self.scim.principals(principal.kind());
        principals.delete(id, principal.key(), self.requests).await
    }

    /// The principal's id and whether it is active, looked up by key.
    async fn find(&self, principal: &Principal) -> Result<Option<(ScimId, bool)>, ScimError> {
        let principals = self.scim.principals(principal.kind());
        let found = principals.find(principal.key(), self.requests).await?;
        Ok(found.map(|found| (found.id, found.active)))
    }

    /// A 409 on create: the principal exists (a user often from a first sign-in, or not yet listed).
    /// Look it up and reactivate it if needed; it counts as existing, not as a failure.
    async fn adopt(&self, principal: &Principal) -> Done {
        match self.find(principal).await {
            Ok(Some((id, false))) => match self.set_active(&id, principal, true).await {
                Ok(()) => Done::Reactivated,
                Err(e) => {
                    let cause =
                        format!("already exists but inactive, and reactivating it failed: {e}");
                    match failed(e) {
                        Done::AccountDeactivated(_) => Done::AccountDeactivated(cause),
                        _ => Done::Failed(cause),
                    }
                }
            },
            Ok(Some((id, true))) => Done::AlreadyExisted {
                id: Some(id),
                detail: "already exists (created outside this sync, e.g. at first sign-in)".into(),
            },
            Ok(None) => Done::AlreadyExisted {
                id: None,
                detail: "already exists (the workspace said so; not yet visible to a lookup)"
                    .into(),
            },
            Err(e) => Done::AlreadyExisted {
                id: None,
                detail: format!("already exists (the workspace said so; the lookup failed: {e})"),
            },
        }
    }
}

/// The group changes; an `Err` is how a change ended early (its group not found, or a failure).
impl Writer<'_> {
    pub(super) async fn group_change(
        &self,
        change: &GroupChange,
        ids: &HashMap<Principal, ScimId>,
        group_ids: &mut HashMap<String, ScimId>,
    ) -> Done {
        let result = match change {
            GroupChange::Create { group } => {
                let mut id = None;
                let done = self.create_group(group, &mut id).await;
                group_ids.extend(id.map(|id| (group.clone(), id)));
                Ok(done)
            }
            GroupChange::AddEntitlements {
                group,
                entitlements,
            } => self.add_entitlements(group, entitlements, group_ids).await,
            GroupChange::Add { group, members } => {
                self.add_members(group, members, ids, group_ids).await
            }
            GroupChange::Remove(removal) => self.remove_member(removal, group_ids).await,
        };
        match result {
            Ok(done) | Err(done) => done,
        }
    }

    /// Creates a group; its id goes to `id`.
    pub(super) async fn create_group(&self, name: &str, id: &mut Option<ScimId>) -> Done {
        match self.scim.create_group(name, &[], self.requests).await {
            Ok(group) => {
                *id = Some(group.id);
                Done::Applied(None)
            }
            Err(e) => group_failed(e),
        }
    }

    async fn add_entitlements(
        &self,
        group: &str,
        entitlements: &[String],
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(group, group_ids).await?;
        let added = self
            .scim
            .add_entitlements(&group_id, entitlements, self.requests);
        added.await.map_err(group_failed)?;
        Ok(Done::Applied(Some(entitlements.join(", "))))
    }

    /// One PATCH per batch, the budget checked between them: a long first sync stops in time.
    async fn add_members(
        &self,
        group: &str,
        members: &[Principal],
        ids: &HashMap<Principal, ScimId>,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(group, group_ids).await?;
        // Principals whose creation failed have no id: they are reported already, and the next run
        // adds them.
        let members: Vec<ScimId> = members.iter().filter_map(|n| ids.get(n).cloned()).collect();
        let mut additions = Additions::new(group_id, members.len(), self);
        for (i, batch) in members.chunks(MAX_MEMBERS_PER_PATCH).enumerate() {
            additions.send(batch, i > 0).await?;
        }
        Ok(Done::Applied(Some(format!(
            "{} member(s)",
            additions.added
        ))))
    }

    async fn remove_member(
        &self,
        removal: &Removal,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(&removal.group, group_ids).await?;
        let removed = self
            .scim
            .remove_member(&group_id, &removal.id, self.requests);
        removed.await.map_err(group_failed)?;
        Ok(Done::Applied(None))
    }

    /// The id of a group created or read this run, else looked up by name.
    async fn group_id(
        &self,
        group: &str,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<ScimId, Done> {
        match group_ids.get(group) {
            Some(id) => Ok(id.clone()),
            None => self.group_id_by_name(group).await,
        }
    }

    /// The id of a group looked up by name.
    pub(super) async fn group_id_by_name(&self, group: &str) -> Result<ScimId, Done> {
        match self.scim.find_group(group, self.requests).await {
            Ok(Some(found)) => Ok(found.id),
            Ok(None) => Err(Done::Failed(format!("group {group} does not exist"))),
            Err(e) => Err(group_failed(e)),
        }
    }
}
