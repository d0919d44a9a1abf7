// scimmy + scimmy-routers (npm) served as a Databricks workspace would serve SCIM: Express 5, the
// routers mounted at /api/2.0/preview/scim/v2, a static bearer token, in-memory Users and Groups.
// userName is unique case-insensitively (409 "uniqueness", as RFC 7643 marks it caseExact=false).
//
// Usage: node scimmy_peer.cjs --token TOKEN [--port 0]   (NODE_PATH: the installed node_modules)
// Listens on 127.0.0.1 (port 0: a free port) and prints `listening http://127.0.0.1:PORT/api/...`.
"use strict";

const crypto = require("node:crypto");
const express = require("express");
const SCIMMY = require("scimmy").default;
const { SCIMMYRouters } = require("scimmy-routers");

const ROOT = "/api/2.0/preview/scim/v2";
const arg = (name, fallback) => {
    const at = process.argv.indexOf(`--${name}`);
    return at > 0 ? process.argv[at + 1] : fallback;
};
const token = arg("token");
if (!token) throw new Error("--token is required");

// One in-memory store per resource type: id -> stored JSON.
function declare(Resource, unique) {
    const store = new Map();
    SCIMMY.Resources.declare(Resource, {
        egress: async (resource) => {
            if (resource.id) {
                if (!store.has(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                return store.get(resource.id);
            }
            const all = [...store.values()];
            return resource.filter ? resource.filter.match(all) : all;
        },
        ingress: async (resource, instance) => {
            const value = JSON.parse(JSON.stringify(instance));
            const key = String(value[unique] ?? "").toLowerCase();
            const clash = [...store.values()].find((r) => String(r[unique]).toLowerCase() === key);
            if (clash && clash.id !== resource.id)
                throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} ${value[unique]} already exists`);
            if (resource.id && !store.has(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            const now = new Date().toISOString();
            const id = resource.id ?? crypto.randomUUID();
            const created = store.get(id)?.meta?.created ?? now;
            const stored = { ...value, id, meta: { ...value.meta, created, lastModified: now } };
            store.set(id, stored);
            return stored;
        },
        degress: async (resource) => {
            if (!store.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        },
    });
}
declare(SCIMMY.Resources.User, "userName");
declare(SCIMMY.Resources.Group, "displayName");

const app = express();
// Express 5 made req.query a getter that parses the query string anew on every read, so the routers'
// cast of startIndex/count to numbers is lost and scimmy ignores both (always page 1, 20 items).
// Pin the parsed query as a plain property first.
app.use(ROOT, (request, response, next) => {
    Object.defineProperty(request, "query", { value: request.query, writable: true, enumerable: true });
    next();
});
app.use(ROOT, new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failure");
        return "admin";
    },
    context: () => undefined,
}));
app.use((request, response) => response.status(404).type("text/plain").send(`not under ${ROOT}\n`));

const server = app.listen(Number(arg("port", "0")), "127.0.0.1", () => {
    console.log(`listening http://127.0.0.1:${server.address().port}${ROOT}`);
});
