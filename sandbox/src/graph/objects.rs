//! How directory objects look on the wire: their properties, the default property set Graph returns
//! without `$select` (for users it lacks `accountEnabled` and `userType`, as in real Graph), `$select`
//! validation and projection, `@odata.type`, and members shown "with limited information" to a caller
//! that may not read their kind.

use serde_json::{Map, Value, json};

use super::Object;

/// The OData types the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    User,
    Group,
    ServicePrincipal,
}

const USER_PROPERTIES: &[&str] = &[
    "id",
    "accountEnabled",
    "businessPhones",
    "createdDateTime",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "otherMails",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "userType",
];
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];
const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
];
const SERVICE_PRINCIPAL_PROPERTIES: &[&str] = &[
    "id",
    "accountEnabled",
    "appDisplayName",
    "appId",
    "createdDateTime",
    "displayName",
    "servicePrincipalType",
];

impl Kind {
    pub(super) fn of(object: &Object) -> Kind {
        match object {
            Object::User { .. } => Kind::User,
            Object::Group { .. } => Kind::Group,
            Object::ServicePrincipal { .. } => Kind::ServicePrincipal,
        }
    }

    /// The cast segment (`microsoft.graph.user`), case-insensitively.
    pub(super) fn from_cast(segment: &str) -> Option<Kind> {
        [Kind::User, Kind::Group, Kind::ServicePrincipal]
            .into_iter()
            .find(|kind| kind.type_name().eq_ignore_ascii_case(segment))
    }

    pub(super) fn type_name(self) -> &'static str {
        match self {
            Kind::User => "microsoft.graph.user",
            Kind::Group => "microsoft.graph.group",
            Kind::ServicePrincipal => "microsoft.graph.servicePrincipal",
        }
    }

    /// The entity set named in `@odata.context`.
    pub(super) fn entity_set(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Group => "groups",
            Kind::ServicePrincipal => "servicePrincipals",
        }
    }

    pub(super) fn properties(self) -> &'static [&'static str] {
        match self {
            Kind::User => USER_PROPERTIES,
            Kind::Group => GROUP_PROPERTIES,
            Kind::ServicePrincipal => SERVICE_PRINCIPAL_PROPERTIES,
        }
    }

    fn default_properties(self) -> &'static [&'static str] {
        match self {
            Kind::User => USER_DEFAULT,
            Kind::Group | Kind::ServicePrincipal => self.properties(),
        }
    }
}

/// The canonical spelling of `name` among the properties of `kinds` (names are case-insensitive).
pub(super) fn canonical_property(kinds: &[Kind], name: &str) -> Option<&'static str> {
    kinds
        .iter()
        .flat_map(|kind| kind.properties())
        .copied()
        .find(|p| p.eq_ignore_ascii_case(name))
}

/// Every property of `object`, with `id`.
pub(super) fn full(id: &str, object: &Object) -> Map<String, Value> {
    let value = match object {
        Object::User { user, created } => json!({
            "id": id,
            "accountEnabled": user.account_enabled,
            "businessPhones": [],
            "createdDateTime": created,
            "displayName": user.display_name,
            "givenName": null,
            "jobTitle": null,
            "mail": user.mail,
            "mobilePhone": null,
            "officeLocation": null,
            "otherMails": user.mail.iter().filter(|_| user.user_type == "Guest").collect::<Vec<_>>(),
            "preferredLanguage": null,
            "surname": null,
            "userPrincipalName": user.user_principal_name,
            "userType": user.user_type,
        }),
        Object::Group {
            display_name,
            created,
            ..
        } => json!({
            "id": id,
            "createdDateTime": created,
            "description": null,
            "displayName": display_name,
            "groupTypes": [],
            "mail": null,
            "mailEnabled": false,
            "mailNickname": mail_nickname(display_name),
            "securityEnabled": true,
            "visibility": null,
        }),
        Object::ServicePrincipal {
            app_id,
            display_name,
            account_enabled,
            created,
        } => json!({
            "id": id,
            "accountEnabled": account_enabled,
            "appDisplayName": display_name,
            "appId": app_id,
            "createdDateTime": created,
            "displayName": display_name,
            "servicePrincipalType": "Application",
        }),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn mail_nickname(display_name: &str) -> String {
    let nickname: String = display_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if nickname.is_empty() {
        "group".to_owned()
    } else {
        nickname
    }
}

/// `object` as a listing shows it: only the `select`ed properties it has (canonical names), or its default
/// set; `@odata.type` first when `with_type` (listings of mixed kinds).
pub(super) fn render(
    id: &str,
    object: &Object,
    select: Option<&[&'static str]>,
    with_type: bool,
) -> Value {
    let kind = Kind::of(object);
    let mut all = full(id, object);
    let mut out = Map::new();
    if with_type {
        out.insert(
            "@odata.type".to_owned(),
            Value::String(format!("#{}", kind.type_name())),
        );
    }
    let wanted = select.unwrap_or(kind.default_properties());
    for name in wanted {
        if let Some(value) = all.remove(*name) {
            out.insert((*name).to_owned(), value);
        }
    }
    Value::Object(out)
}

/// `object` as Graph lists a member the caller may not read ("limited information", Learn: group
/// `members` and `transitiveMembers`): only `@odata.type` and `id`, every other `select`ed (or default)
/// property present and null.
pub(super) fn render_limited(id: &str, object: &Object, select: Option<&[&'static str]>) -> Value {
    let kind = Kind::of(object);
    let mut out = Map::new();
    out.insert(
        "@odata.type".to_owned(),
        Value::String(format!("#{}", kind.type_name())),
    );
    out.insert("id".to_owned(), Value::String(id.to_owned()));
    for name in select.unwrap_or(kind.default_properties()) {
        if *name != "id" {
            out.insert((*name).to_owned(), Value::Null);
        }
    }
    Value::Object(out)
}
