//! A workspace's configured groups as read from Graph: each group resolved and its members listed
//! once per run (the run's memos; the members live in [`super::lifecycle::RunMemory`]), and what the
//! reads say beyond the members: the groups to mirror, members listed with limited information
//! ([`Incomplete`]), listings shorter than Graph's count ([`Unsettled`]), and the groups' report lines.

use std::sync::Arc;

use super::desired::Incomplete;
use super::engine::AzureRun;
use super::errors::EntraError;
use super::report::GroupReport;
use crate::config::{GroupRef, SyncOptions, Workspace};
use crate::entra::{Group, Listed, Person, ServicePrincipalMember, Shortfall};
use crate::http::Requests;

/// The members of one configured group: its users and (when synced) its service principals.
#[derive(Clone)]
pub struct GroupMembers {
    pub users: Arc<Listed<Person>>,
    pub service_principals: Arc<Listed<ServicePrincipalMember>>,
}

/// The workspace's configured groups as read from Graph.
#[derive(Default)]
pub struct EntraRead {
    pub members: Vec<GroupMembers>,
    /// The groups to mirror, under their workspace names.
    pub mirrored: Vec<(String, GroupMembers)>,
    pub incomplete: Incomplete,
    pub unsettled: Unsettled,
    pub reports: Vec<GroupReport>,
}

impl EntraRead {
    fn add(
        &mut self,
        workspace: &Workspace,
        reference: &GroupRef,
        group: Group,
        members: GroupMembers,
    ) {
        self.unsettled.add(&group.display_name, &members);
        // Members Graph listed with limited information (only their id): the read is incomplete.
        let users = members.users.items.iter().filter(|m| m.is_limited());
        let sps = members.service_principals.items.iter();
        let sps = sps.filter(|m| m.is_limited()).count();
        self.incomplete.add(&group.display_name, users.count(), sps);
        if workspace.options.mirror_groups {
            let name = workspace.mirrored_group_name(reference, &group.display_name);
            self.mirrored.push((name, members.clone()));
        }
        let listed = members.users.items.len() + members.service_principals.items.len();
        self.reports.push(GroupReport {
            reference: reference.to_string(),
            id: Some(group.id),
            display_name: Some(group.display_name),
            member_count: Some(listed as u64),
            counted: counted(&members),
        });
        self.members.push(members);
    }
}

impl AzureRun {
    /// The workspace's configured groups, read at once (a group shared with another workspace is read
    /// once per run).
    pub(super) async fn read_groups(
        &self,
        workspace: &Workspace,
        requests: &Requests,
    ) -> Result<EntraRead, EntraError> {
        let groups = &workspace.access_groups;
        let read = groups
            .iter()
            .map(|reference| self.group(reference, &workspace.options, requests));
        let read = futures::future::try_join_all(read).await?;
        let mut entra = EntraRead::default();
        for (reference, (group, members)) in groups.iter().zip(read) {
            entra.add(workspace, reference, group, members);
        }
        Ok(entra)
    }

    async fn group(
        &self,
        reference: &GroupRef,
        options: &SyncOptions,
        requests: &Requests,
    ) -> Result<(Group, GroupMembers), EntraError> {
        let key = reference.to_string().to_lowercase();
        let resolve = || async { self.graph.resolve(reference, requests).await };
        let group = (self.groups.get_or(key, resolve).await).map_err(EntraError::ResolveGroup)?;
        let (memory, nested) = (&self.memory, options.nested);
        let listing = (group.id.clone(), nested);
        let users = || async {
            let listed = self
                .graph
                .user_members(&group, nested, requests, &memory.people);
            listed.await.map(Arc::new)
        };
        let users = (memory.members.get_or(listing.clone(), users).await)
            .map_err(EntraError::ListUserMembers)?;
        let service_principals = if options.include_service_principals {
            let read = || async {
                let listed = self
                    .graph
                    .service_principal_members(&group, nested, requests);
                listed.await.map(Arc::new)
            };
            (memory.service_principals.get_or(listing, read).await)
                .map_err(EntraError::ListServicePrincipalMembers)?
        } else {
            Arc::default()
        };
        let members = GroupMembers {
            users,
            service_principals,
        };
        Ok((group, members))
    }
}

/// The member count Graph gave for a group, when a listing held fewer (read twice): the users' and
/// service principals' counts added up.
fn counted(members: &GroupMembers) -> Option<u64> {
    let (users, sps) = (members.users.short, members.service_principals.short);
    (users.is_some() || sps.is_some()).then(|| {
        let count =
            |listed: &Option<Shortfall>, len: usize| listed.map_or(len as u64, |s| s.counted);
        count(&users, members.users.items.len())
            + count(&sps, members.service_principals.items.len())
    })
}

/// Configured groups whose listing held fewer members than Graph's `@odata.count`, on two reads in a
/// row. Graph serves the count from an eventually consistent index, so the two can disagree for a
/// while after a change; the listing may then lack members, so nothing is removed on it, but nothing
/// is wrong either: the workspace is `partial`, not failed, and additions go ahead.
#[derive(Debug, Default)]
pub struct Unsettled(Vec<String>);

impl Unsettled {
    fn add(&mut self, group: &str, members: &GroupMembers) {
        let kinds = [
            ("user", members.users.short),
            ("service principal", members.service_principals.short),
        ];
        for (kind, short) in kinds {
            if let Some(Shortfall { counted, listed }) = short {
                self.0.push(format!(
                    "group {group:?}: Graph counted {counted} {kind} member(s) (@odata.count) but listed {listed}"
                ));
            }
        }
    }

    pub fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            format!(
                "removals wait: {}, on two reads in a row (Graph serves counts from an eventually consistent \
                 index); until a read agrees, nobody is deprovisioned, removed from a group or changed in \
                 entitlements in this workspace (the changes are reported skipped); additions go ahead",
                self.0.join("; ")
            )
        })
    }
}
