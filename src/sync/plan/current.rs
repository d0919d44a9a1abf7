//! The workspace as read before planning ([`Current`]), and how the plan finds a listed principal by
//! its key ([`Current::lookup`]: a sorted index of positions, not a map of copied names).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use super::super::admins::Admins;
use super::super::desired::{AppId, Principal, UserName};
use crate::databricks::{ExternalId, ScimId, ScimServicePrincipal, ScimUser};

/// Workspace ids as a sorted list (24 bytes each; a set would take about twice that, and a marker
/// group holds every principal the sync made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids(Vec<ScimId>);

impl Ids {
    pub fn contains(&self, id: &str) -> bool {
        self.position(id).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ScimId> {
        self.0.iter()
    }

    pub fn insert(&mut self, id: ScimId) {
        if let Err(at) = self.0.binary_search(&id) {
            self.0.insert(at, id);
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Ok(at) = self.position(id) {
            self.0.remove(at);
        }
    }

    fn position(&self, id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|i| i.as_str().cmp(id))
    }
}

impl FromIterator<ScimId> for Ids {
    fn from_iter<I: IntoIterator<Item = ScimId>>(iter: I) -> Self {
        let mut ids: Vec<ScimId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.shrink_to_fit();
        Ids(ids)
    }
}

/// The workspace as read before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub users: Vec<ScimUser>,
    /// Listed only when service principals are synced; empty otherwise, so none is ever touched.
    pub service_principals: Vec<ScimServicePrincipal>,
    /// Member ids of the marker group, or `None` when the group does not exist yet.
    pub marker_members: Option<Ids>,
    /// The marker group's id, when it exists.
    pub marker_id: Option<ScimId>,
    /// Ids never deprovisioned: admins (direct members of `admins`, and those of the groups nested in
    /// it once read) and the token's own identity.
    pub protected: HashSet<ScimId>,
    /// Whether `protected` holds every admin ([`Admins::Known`], the default), or what is missing.
    pub admins: Admins,
    /// The mirrored groups that exist, by name.
    pub groups: BTreeMap<String, GroupState>,
    /// Account mode: listed principals another provisioner manages (automatic identity management,
    /// the Entra provisioning connector): never reactivated nor marked, so never deprovisioned.
    pub hands_off: HashSet<ScimId>,
}

/// A workspace group as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    pub id: ScimId,
    /// Sorted (a set of 190,000 ids of the mirrored groups at 100,000 users took 7 MB, this 4.6).
    pub members: Ids,
    pub entitlements: Vec<String>,
}

/// A principal of the workspace as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Present<'a> {
    pub id: &'a ScimId,
    pub active: bool,
    pub external_id: ExternalId,
}

impl<'a> Present<'a> {
    fn new(id: &'a ScimId, active: bool, external_id: ExternalId) -> Self {
        Present {
            id,
            active,
            external_id,
        }
    }
}

/// A listed user or service principal: its key, when usable, and what the plan reads of it.
trait Listed {
    fn key(&self) -> Option<Principal>;
    fn present(&self) -> Present<'_>;
}

impl Listed for ScimUser {
    fn key(&self) -> Option<Principal> {
        UserName::parse_shared(&self.user_name).map(Principal::User)
    }

    fn present(&self) -> Present<'_> {
        Present::new(&self.id, self.active, self.external_id)
    }
}

impl Listed for ScimServicePrincipal {
    fn key(&self) -> Option<Principal> {
        AppId::parse(&self.application_id).map(Principal::ServicePrincipal)
    }

    fn present(&self) -> Present<'_> {
        Present::new(&self.id, self.active, self.external_id)
    }
}

fn keyed<T: Listed>(item: &T) -> Option<(Principal, Present<'_>)> {
    Some((item.key()?, item.present()))
}

impl Current {
    /// Every listed user and service principal with a usable key (user name, application id), with its
    /// id and whether it is active. The others are never touched.
    pub(super) fn listed(&self) -> impl Iterator<Item = (Principal, Present<'_>)> {
        let users = self.users.iter().filter_map(keyed);
        users.chain(self.service_principals.iter().filter_map(keyed))
    }

    /// The listed principals by key (of two listed with one key, an active one is found).
    pub fn lookup(&self) -> Lookup<'_> {
        // Each name normalised once (borrowed when it is a user name already, as listed names are).
        let users = index(&self.users, |u| UserName::normalize(&u.user_name));
        let service_principals = index(&self.service_principals, |sp| {
            AppId::parse(&sp.application_id)
        });
        Lookup {
            current: self,
            users,
            service_principals,
        }
    }
}

/// The positions of `items` sorted by key (those without one left out); of one key, active ones first,
/// then in listing order.
fn index<'a, T: Listed, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> Option<K>) -> Vec<(K, u32)> {
    let mut index: Vec<(K, u32)> = (items.iter().zip(0u32..))
        .filter_map(|(item, i)| Some((key(item)?, i)))
        .collect();
    let active = |i: &u32| items[*i as usize].present().active;
    // Unstable (no scratch buffer at 100,000 users), the position making it deterministic.
    index.sort_unstable_by(|(a, i), (b, j)| {
        (a.cmp(b)).then(active(j).cmp(&active(i))).then(i.cmp(j))
    });
    index
}

/// Finds listed principals by id: the positions of the users, then of the service principals (after
/// the users), sorted by id (4 bytes a principal), searched by halving. A mirrored group's members are
/// ids: each is looked up here, rather than every listed principal checked against every group.
pub struct ById<'a> {
    current: &'a Current,
    order: Vec<u32>,
}

impl Current {
    pub fn by_id(&self) -> ById<'_> {
        let listed = self.users.len() + self.service_principals.len();
        let mut order: Vec<u32> = (0..listed).filter_map(|i| u32::try_from(i).ok()).collect();
        order.sort_unstable_by(|&a, &b| id_at(self, a).cmp(id_at(self, b)));
        ById {
            current: self,
            order,
        }
    }
}

/// The id of the listed principal at `at`: the users, then the service principals.
fn id_at(current: &Current, at: u32) -> &str {
    let at = at as usize;
    match current.users.get(at) {
        Some(user) => &user.id,
        None => &current.service_principals[at - current.users.len()].id,
    }
}

impl<'a> ById<'a> {
    /// The listed principal with this id and a usable key.
    pub fn get(&self, id: &str) -> Option<(Principal, Present<'a>)> {
        let found = self
            .order
            .partition_point(|&at| id_at(self.current, at) < id);
        let at = *self.order.get(found)? as usize;
        let users = &self.current.users;
        match users.get(at) {
            Some(user) if user.id == id => keyed(user),
            Some(_) => None,
            None => {
                let sp = &self.current.service_principals[at - users.len()];
                if sp.id == id { keyed(sp) } else { None }
            }
        }
    }
}

/// The position of the first entry of a sorted index whose key `cmp` finds equal.
fn first<K>(index: &[(K, u32)], cmp: impl Fn(&K) -> Ordering) -> Option<usize> {
    let at = index.partition_point(|(k, _)| cmp(k).is_lt());
    let (k, i) = index.get(at)?;
    cmp(k).is_eq().then_some(*i as usize)
}

/// Finds listed principals by key: the listed users' names (borrowed, normalised) with their
/// positions, sorted, searched by halving; no name is copied unless it was not normalised.
pub struct Lookup<'a> {
    current: &'a Current,
    users: Vec<(Cow<'a, str>, u32)>,
    service_principals: Vec<(AppId, u32)>,
}

impl<'a> Lookup<'a> {
    /// The principal listed under `key`: an active one if any.
    pub fn get(&self, key: &Principal) -> Option<Present<'a>> {
        match key {
            Principal::User(name) => {
                let at = first(&self.users, |k| k.as_ref().cmp(name.as_str()))?;
                Some(self.current.users[at].present())
            }
            Principal::ServicePrincipal(app) => {
                let at = first(&self.service_principals, |k| k.cmp(app))?;
                Some(self.current.service_principals[at].present())
            }
        }
    }
}
