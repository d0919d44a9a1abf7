#!/usr/bin/env bash
# Conformance against independent SCIM servers (peers written by others), on one machine, no Azure:
#   1. installs the peers, pinned, under target/conformance/ (PyPI: scim2-server, scim2-tester,
#      scim2-cli into a venv; npm: scimmy, scimmy-routers, express 5 with `npm ci`), reused by later
#      runs while the pinned files are unchanged;
#   2. serves each peer on 127.0.0.1 at the Databricks path /api/2.0/preview/scim/v2 with a bearer
#      token (scripts/conformance/scim2_server_peer.py, scripts/conformance/scimmy_peer.cjs);
#   3. runs the REAL `handler sync` against each peer as the Databricks workspace, with Graph and Key
#      Vault from the sandbox (`sandbox conformance run`: steps a-d, one PASS/FAIL line each);
#   4. runs scim2-tester (`scim2 ... test`) against the sandbox's own Databricks SCIM emulator
#      (`sandbox conformance serve-emulator`) and judges its results against ALLOW_LIST below.
# Exits non-zero if any step or any check outside the allow-list fails, or if a listed check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never PYTHONDONTWRITEBYTECODE=1
# The peers and the checker talk to 127.0.0.1 only: no proxy of the caller may get in the way.
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

WORK=target/conformance
LOGS=$WORK/logs
TARGET_DIR=${CARGO_TARGET_DIR:-target}
PY=${PYTHON:-python3}
mkdir -p "$LOGS"

# ---------------------------------------------------------------------------------------------
# scim2-tester allow-list: checks that fail against our Databricks emulator for a known reason.
# RESOURCE | TITLE | REASON (regex on the start of the reason, ids shown as <id>) | WHY
# RESOURCE: "-" for the discovery checks, User / Group / ServicePrincipal, or "*".
# The script fails on a failed check that no line matches AND on a line that matches no failure.
read -r -d '' ALLOW_LIST <<'EOF' || true
# Databricks workspace SCIM serves Users, Groups, ServicePrincipals and Me only (databricks-scim.md):
# no discovery endpoints, so they are 404 whatever the method (the RFC wants them, and 405 for writes).
- | service_provider_config_endpoint | No API found for '.*/ServiceProviderConfig' | Databricks serves no /ServiceProviderConfig
- | service_provider_config_endpoint_methods | (POST|PUT|PATCH|DELETE) /ServiceProviderConfig returned 404 instead of 405 | no such endpoint: 404, not 405
- | query_all_resource_types | No API found for '.*/ResourceTypes' | Databricks serves no /ResourceTypes
- | resource_types_endpoint_methods | (POST|PUT|PATCH|DELETE) /ResourceTypes returned 404 instead of 405 | no such endpoint: 404, not 405
- | query_all_schemas | No API found for '.*/Schemas' | Databricks serves no /Schemas
- | schemas_endpoint_methods | (POST|PUT|PATCH|DELETE) /Schemas returned 404 instead of 405 | no such endpoint: 404, not 405
User | search_with_attributes | No API found for '.*/\.search' | no POST .search in Databricks SCIM (queries are GET with filter)
ServicePrincipal | search_with_attributes | No API found for '.*/\.search' | no POST .search in Databricks SCIM
# userName and emails cannot be changed by PATCH/PUT (databricks-scim.md); scim2-tester's PUT and PATCH send new emails.
User | object_replacement | Emails cannot be changed | Databricks refuses a PUT that changes emails
User | check_add_attribute | Failed to add attribute 'emails': emails cannot be changed | Databricks refuses a PATCH of emails
# `active` is set by PATCH replace (databricks-scim.md documents nothing else); the emulator refuses remove.
# Unverified against a live workspace: if Databricks accepts "remove active", this is an emulator gap.
User | check_remove_attribute | Failed to remove attribute 'active': Unsupported path: active | Databricks sets active by replace only
ServicePrincipal | check_remove_attribute | Failed to remove attribute 'active': Unsupported path: active | Databricks sets active by replace only
# Databricks resources carry no meta.location, so scim2-tester cannot point a member at the user it
# created and sends a random member id, which Databricks refuses: members must exist.
Group | object_query_with_attributes | Principal <id> not found | no meta.location: random member id refused
Group | object_list_with_attributes | Principal <id> not found | no meta.location: random member id refused
Group | search_with_attributes | Principal <id> not found | no meta.location: random member id refused
Group | check_add_attribute | Failed to add attribute 'members': Principal <id> not found | no meta.location: random member id refused
Group | check_remove_attribute | Principal <id> not found | no meta.location: random member id refused
Group | check_replace_attribute | Failed to replace attribute 'members': Principal <id> not found | no meta.location: random member id refused
# Workspace-local groups say meta.resourceType "WorkspaceGroup" (databricks-scim.md), which scim2-client cannot map.
Group | object_replacement | Unknown resource type: 'WorkspaceGroup' | Databricks' own resourceType for workspace groups
# EMULATOR GAP (reported, remove these lines when fixed): Databricks' Group has externalId (Go SDK
# iam.Group); the emulator keeps it for users and service principals only.
Group | check_add_attribute | Failed to add attribute 'externalId': Unsupported path: externalId | emulator gap: no externalId on groups
Group | check_replace_attribute | Failed to replace attribute 'externalId': Unsupported path: externalId | emulator gap: no externalId on groups
# `active` as RFC 7644's bare boolean: no Databricks source sends it (the Terraform provider and the knowledge
# base send [{"value": "false"}], the Python SDK "false"; docs/api-contract.md), so the emulator refuses it
# rather than prove a form real workspaces may not take. The handler falls back to it only after a 400.
User | check_add_attribute | Failed to add attribute 'active': active must be given as | RFC boolean for active: not a form Databricks documents
User | check_replace_attribute | Failed to replace attribute 'active': active must be given as | RFC boolean for active: not a form Databricks documents
ServicePrincipal | check_add_attribute | Failed to add attribute 'active': active must be given as | RFC boolean for active: not a form Databricks documents
ServicePrincipal | check_replace_attribute | Failed to replace attribute 'active': active must be given as | RFC boolean for active: not a form Databricks documents
EOF
# ---------------------------------------------------------------------------------------------

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TIMINGS=()
PHASE=""
PHASE_START=$SECONDS
phase() {
    if [[ -n $PHASE ]]; then
        TIMINGS+=("$(printf '%4ss  %s' $((SECONDS - PHASE_START)) "$PHASE")")
    fi
    PHASE=$1
    PHASE_START=$SECONDS
    [[ -n $PHASE ]] && printf '\n== %s (%ss)\n' "$PHASE" "$SECONDS"
    return 0
}

FAILURES=()
fail() { FAILURES+=("$1"); }

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

# start_server VAR NAME COMMAND...: starts a server in the background (stdout/stderr to
# $LOGS/NAME.{out,err}), waits for its first line `listening URL` and sets VAR to the URL.
start_server() {
    local var=$1 name=$2
    shift 2
    "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local _
    for _ in $(seq 1 200); do
        # A whole line only: the server may write the line in more than one piece.
        if grep -q '^listening http[^ ]*/scim/v2$' "$LOGS/$name.out" 2>/dev/null; then
            printf -v "$var" '%s' "$(awk '/^listening http/{print $2; exit}' "$LOGS/$name.out")"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "conformance: $name exited before listening:" >&2
            cat "$LOGS/$name.err" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "conformance: $name did not listen within 20 s" >&2
    cat "$LOGS/$name.err" >&2
    return 1
}

token() { echo "tok-$1-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"; }

phase "install the peers (pinned, under $WORK)"
VENV=$WORK/venv
want=$(fingerprint scripts/conformance/requirements.txt <("$PY" --version 2>&1))
if [[ ! -x $VENV/bin/scim2 || $(cat "$VENV/.installed" 2>/dev/null) != "$want" ]]; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/conformance/requirements.txt
    echo "$want" >"$VENV/.installed"
    echo "PyPI: installed $(grep -cv '^#' scripts/conformance/requirements.txt) pinned packages"
else
    echo "PyPI: reusing $VENV"
fi
NODE_DIR=$WORK/scimmy
want=$(fingerprint scripts/conformance/scimmy/package.json scripts/conformance/scimmy/package-lock.json <(node --version))
if [[ ! -d $NODE_DIR/node_modules || $(cat "$NODE_DIR/.installed" 2>/dev/null) != "$want" ]]; then
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp scripts/conformance/scimmy/package.json scripts/conformance/scimmy/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" >"$NODE_DIR/.installed"
    echo "npm: installed the pinned lock file into $NODE_DIR"
else
    echo "npm: reusing $NODE_DIR"
fi

phase "build handler and sandbox"
cargo build --locked --workspace --bins
HANDLER=$TARGET_DIR/debug/handler
SANDBOX=$TARGET_DIR/debug/sandbox

phase "serve the peers at /api/2.0/preview/scim/v2"
SCIM2_TOKEN=$(token scim2)
SCIMMY_TOKEN=$(token scimmy)
start_server SCIM2_URL scim2-server "$VENV/bin/python" scripts/conformance/scim2_server_peer.py --token "$SCIM2_TOKEN"
start_server SCIMMY_URL scimmy env NODE_PATH="$NODE_DIR/node_modules" node scripts/conformance/scimmy_peer.cjs --token "$SCIMMY_TOKEN"
echo "scim2-server: $SCIM2_URL"
echo "scimmy:       $SCIMMY_URL"

# Steps a-d today; e (group mirroring) and f (deprovisioning) print SKIP until the product has them,
# then they are added in sandbox/src/conformance/steps.rs and run here with no change to this loop.
for peer in scim2-server scimmy; do
    phase "the real handler against $peer"
    if [[ $peer == scim2-server ]]; then url=$SCIM2_URL tok=$SCIM2_TOKEN; else url=$SCIMMY_URL tok=$SCIMMY_TOKEN; fi
    if ! "$SANDBOX" conformance run --peer "$url" --token "$tok" --handler "$HANDLER" --name "$peer"; then
        fail "handler against $peer (peer log: $LOGS/$peer.err)"
    fi
done

phase "scim2-tester against the sandbox's Databricks emulator"
EMULATOR_TOKEN=$(token emulator)
start_server EMULATOR_URL emulator "$SANDBOX" conformance serve-emulator --token "$EMULATOR_TOKEN"
echo "emulator: $EMULATOR_URL"
DISCOVERY=$WORK/discovery
"$VENV/bin/python" scripts/conformance/databricks_discovery.py "$DISCOVERY"
# The token goes through the environment, not the command line (scim2-cli's own advice).
SCIM_CLI_HEADERS="Authorization: Bearer $EMULATOR_TOKEN" "$VENV/bin/scim2" --url "$EMULATOR_URL" \
    --schemas "$DISCOVERY/schemas.json" --resource-types "$DISCOVERY/resource-types.json" \
    --service-provider-config "$DISCOVERY/service-provider-config.json" \
    test >"$LOGS/scim2-test.out" 2>&1 || true # exits 1 on any failed check: judged below
if "$VENV/bin/python" scripts/conformance/tester_verdict.py "$LOGS/scim2-test.out" User,Group,ServicePrincipal <<<"$ALLOW_LIST"; then
    echo "PASS scim2-tester: every failed check is allow-listed, every listed check still fails (output: $LOGS/scim2-test.out)"
else
    echo "---- scim2 test output:"
    cat "$LOGS/scim2-test.out"
    echo "----"
    fail "scim2-tester against the emulator"
fi

phase ""
printf '\n== timings\n'
printf '%s\n' "${TIMINGS[@]}"
printf '%4ss  total\n' "$SECONDS"
if ((${#FAILURES[@]})); then
    printf 'conformance: FAIL: %s\n' "${FAILURES[@]}"
    exit 1
fi
echo "conformance: PASS"
