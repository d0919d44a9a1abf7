"""Writes what a Databricks workspace's SCIM API supports, as SCIM discovery documents, for
``scim2 -s/-r/-c`` (scim2-cli): Databricks workspace SCIM serves no /Schemas, /ResourceTypes or
/ServiceProviderConfig (see shared/reference/databricks-scim.md: only Users, Groups,
ServicePrincipals, Me), so without these files scim2-tester stops at discovery and checks nothing.

The attribute definitions are RFC 7643's (taken from scim2-server's copy of the RFC schemas), cut
down to the attributes the reference lists for Databricks, with the reference's rules applied:
``userName`` and ``emails`` cannot be changed after creation (immutable), and entitlements take one
of five values (canonicalValues, which scim2-tester draws its values from). The service provider
configuration says what the reference says Databricks does: PATCH and filters, no bulk, no sort,
no ETags, no password change, bearer tokens.

Usage: python databricks_discovery.py OUT_DIR
"""

import json
import sys
from importlib.resources import files
from pathlib import Path

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
# attribute -> kept sub-attributes (None: a simple attribute)
KEEP = {
    USER: {
        "userName": None,
        "name": ["givenName", "familyName"],
        "displayName": None,
        "active": None,
        "emails": ["value", "type", "primary"],
        "groups": ["value", "$ref", "display", "type"],
        "entitlements": ["value"],
    },
    GROUP: {"displayName": None, "members": ["value", "$ref", "type", "display"]},
}
IMMUTABLE = {USER: {"userName", "emails"}}
# The only entitlement values Databricks accepts.
ENTITLEMENTS = [
    "workspace-access",
    "databricks-sql-access",
    "allow-cluster-create",
    "allow-instance-pool-create",
    "workspace-consume",
]


def schemas():
    rfc = json.loads(files("scim2_server").joinpath("resources/default-schemas.json").read_text())
    kept = []
    for schema in rfc:
        keep = KEEP.get(schema["id"])
        if keep is None:
            continue
        attributes = []
        for attribute in schema["attributes"]:
            if attribute["name"] not in keep:
                continue
            attribute = dict(attribute)
            subs = keep[attribute["name"]]
            if subs is not None:
                attribute["subAttributes"] = [
                    s for s in attribute.get("subAttributes", []) if s["name"] in subs
                ]
            if attribute["name"] in IMMUTABLE.get(schema["id"], set()):
                attribute["mutability"] = "immutable"
                for sub in attribute.get("subAttributes", []):
                    sub["mutability"] = "immutable"
            if attribute["name"] == "entitlements":
                for sub in attribute["subAttributes"]:
                    sub["canonicalValues"] = ENTITLEMENTS
            attributes.append(attribute)
        kept.append({**schema, "attributes": attributes})
    user = next(schema for schema in kept if schema["id"] == USER)
    return [*kept, service_principal_schema(user)]


SERVICE_PRINCIPAL = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"


def service_principal_schema(user):
    """Databricks' own resource: an Entra application by its applicationId, with the User's
    displayName, active, entitlements and groups definitions."""
    borrowed = [a for a in user["attributes"] if a["name"] in ("displayName", "active", "entitlements", "groups")]
    application_id = {
        "name": "applicationId",
        "type": "string",
        "multiValued": False,
        "description": "The Entra application (client) id.",
        "required": True,
        "caseExact": False,
        "mutability": "immutable",
        "returned": "default",
        "uniqueness": "server",
    }
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": SERVICE_PRINCIPAL,
        "name": "ServicePrincipal",
        "description": "Databricks service principal",
        "attributes": [application_id, *borrowed],
    }


RESOURCE_TYPES = [
    {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": endpoint,
        "description": name,
        "schema": schema,
    }
    for name, endpoint, schema in [
        ("User", "/Users", USER),
        ("Group", "/Groups", GROUP),
        ("ServicePrincipal", "/ServicePrincipals", SERVICE_PRINCIPAL),
    ]
]

SERVICE_PROVIDER_CONFIG = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    "filter": {"supported": True, "maxResults": 10000},
    "changePassword": {"supported": False},
    "sort": {"supported": False},
    "etag": {"supported": False},
    "authenticationSchemes": [
        {
            "type": "oauthbearertoken",
            "name": "Databricks token",
            "description": "A personal access token or an Entra ID token of a workspace admin",
        }
    ],
}


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, document in [
        ("schemas.json", schemas()),
        ("resource-types.json", RESOURCE_TYPES),
        ("service-provider-config.json", SERVICE_PROVIDER_CONFIG),
    ]:
        (out / name).write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
