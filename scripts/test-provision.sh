#!/usr/bin/env bash
# Tests scripts/provision.sh without Azure: a fake `azd` (and a fake `sleep`, so no case waits) come
# first on a PATH that holds nothing else but basic utilities. What the fake azd does on each call is
# scripted, one line per attempt, in FAKE_AZD_PLAN (space-separated):
#   ok            prints azd's success line, exits 0
#   replication   prints the Graph extension's "Not a valid reference update" deployment error (on
#                 stderr, as azd does), exits 1
#   exists        prints an ARM RoleAssignmentExists deployment error, exits 1
#   other:N       prints another deployment error, exits N
# Every call to azd and sleep is logged with its arguments. Each case asserts the exit status, exact
# output lines and the calls. Prints "N passed, M failed".
# shellcheck disable=SC2016,SC1003 # the expected lines are shell text, $ and \ included
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- basic utilities only (no real azd on this PATH) ---------------------------------------------------
sys=$tmp/sys
mkdir -p "$sys" "$tmp/home" "$tmp/tmpdir"
for tool in bash sh env sed grep tr head cat printf mktemp rm tee wc; do
  real=$(command -v "$tool" 2>/dev/null) || continue
  case $real in /*) ln -s "$real" "$sys/$tool" ;; esac
done

# --- the fakes -------------------------------------------------------------------------------------------
fake=$tmp/fake
mkdir -p "$fake"
calls=$tmp/calls.log
count=$tmp/count

cat >"$fake/azd" <<'EOF'
#!/bin/sh
echo "azd $*" >>"$FAKE_CALLS"
n=$(($(cat "$FAKE_COUNT" 2>/dev/null || echo 0) + 1))
echo "$n" >"$FAKE_COUNT"
# this call's step of the plan; the last step repeats
set -- $FAKE_AZD_PLAN
step=
i=0
for s in "$@"; do i=$((i + 1)); step=$s; [ "$i" = "$n" ] && break; done
echo ""
echo "Provisioning Azure resources (azd provision)"
echo "Provisioning Azure resources can take some time."
case $step in
  ok)
    echo "  (✓) Done: Function App: func-dbxsync-abc123"
    echo ""
    echo "SUCCESS: Your application was provisioned in Azure in 2 minutes 5 seconds."
    exit 0 ;;
  replication)
    cat >&2 <<'ERR'

ERROR: error executing step command 'provision': deployment failed: error deploying infrastructure: deploying to resource group:

Deployment Error Details:
BadRequest: Not a valid reference update. Graph client request id: 6f8a2c1e-0b7d-4c43-9a51-1d2e3f4a5b6c. Graph request timestamp: 2025-11-03T09:14:27Z.

TraceID: 3b0e9a5c7d1f2e4a6b8c0d2e4f6a8b0c
ERR
    exit 1 ;;
  exists)
    cat >&2 <<'ERR'

ERROR: error executing step command 'provision': deployment failed: error deploying infrastructure: deploying to resource group:

Deployment Error Details:
RoleAssignmentExists: The role assignment already exists.

TraceID: 3b0e9a5c7d1f2e4a6b8c0d2e4f6a8b0c
ERR
    exit 1 ;;
  other:*)
    cat >&2 <<'ERR'

ERROR: error executing step command 'provision': deployment failed: error deploying infrastructure: deploying to resource group:

Deployment Error Details:
InvalidTemplateDeployment: The template deployment 'dbx-sync-prod-1762161267' is not valid according to the validation procedure.
ERR
    exit "${step#other:}" ;;
  *) echo "fake azd: no plan for call $n: '$FAKE_AZD_PLAN'" >&2; exit 97 ;;
esac
EOF

cat >"$fake/sleep" <<'EOF'
#!/bin/sh
echo "sleep $*" >>"$FAKE_CALLS"
EOF
chmod +x "$fake"/*

# --- running and asserting -------------------------------------------------------------------------------
# shellcheck source=scripts/lib/expect.sh
. scripts/lib/expect.sh   # the working directory is the repository root (above)

# run PLAN [VAR=value ...] [-- provision arguments]: runs the script in an empty environment
run() {
  local plan=$1 vars=() args=() left
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  args=("$@")
  : >"$calls"
  rm -f "$count"
  out=$(cd "$root" && env -i HOME="$tmp/home" TMPDIR="$tmp/tmpdir" FAKE_CALLS="$calls" FAKE_COUNT="$count" \
    FAKE_AZD_PLAN="$plan" PATH="$fake:$sys" ${vars[@]+"${vars[@]}"} \
    "$BASH" scripts/provision.sh ${args[@]+"${args[@]}"} 2>&1)
  status=$?
  if printf '%s\n' "$out" | grep 'fake azd: no plan' >/dev/null; then
    fail "$(printf '%s\n' "$out" | grep 'fake azd: no plan' | head -n 1)"
  fi
  # the temporary file is removed
  left=$(find "$tmp/tmpdir" -mindepth 1 | head -n 1)
  if [ -n "$left" ]; then
    fail "left behind in TMPDIR: $left"
    rm -rf "$tmp/tmpdir"/*
  fi
}

# expect_calls LINE ...: the calls to azd and sleep, exactly these, in this order
expect_calls() {
  local want got
  want=$(printf '%s\n' "$@")
  got=$(cat "$calls")
  [ "$got" = "$want" ] || fail "calls were:
$(printf '%s\n' "$got" | sed 's/^/      /')
    expected:
$(printf '%s\n' "$want" | sed 's/^/      /')"
}

REPLICATION_LINE='BadRequest: Not a valid reference update. Graph client request id: 6f8a2c1e-0b7d-4c43-9a51-1d2e3f4a5b6c. Graph request timestamp: 2025-11-03T09:14:27Z.'
waiting() { echo "provision: attempt $1 of 3 failed with \"Not a valid reference update\": Entra ID has not replicated the new identity yet (msgraph-bicep-types#193); running azd $2 again in $3 s"; }
gave_up() { echo "provision: still \"Not a valid reference update\" after 3 attempts: Entra ID has not replicated the new identity yet; wait a few minutes, then run again: $1"; }
not_replication() { echo "provision: azd $1 failed (exit status $2), not with Entra ID's replication error (\"Not a valid reference update\"): not retried; azd's error is above"; }
EXISTS_LINE="provision: azd provision failed with RoleAssignmentExists: role assignments made by an earlier version of the template, under other names; a rerun fails the same way, so it was not retried. Remove the app's old role assignments (they are recreated under the new names), then run again (docs/deploy.md, \"Role assignments take a few minutes\", \"Role assignment names\"):"

# --- cases ----------------------------------------------------------------------------------------------
begin "success the first time: one call, exit 0, azd's output shown, nothing else said"
run "ok"
expect_status 0
expect_calls "azd provision"
expect_line "SUCCESS: Your application was provisioned in Azure in 2 minutes 5 seconds."
expect_no_line '^provision:'
end

begin "replication error, then success: waits the default 60 s, runs again, exit 0"
run "replication ok"
expect_status 0
expect_calls "azd provision" "sleep 60" "azd provision"
expect_line "$REPLICATION_LINE"
expect_line "$(waiting 1 provision 60)"
expect_count '^provision:' 1
expect_line "SUCCESS: Your application was provisioned in Azure in 2 minutes 5 seconds."
end

begin "replication error twice, then success: three calls, exit 0"
run "replication replication ok" PROVISION_RETRY_SECONDS=0
expect_status 0
expect_calls "azd provision" "sleep 0" "azd provision" "sleep 0" "azd provision"
expect_line "$(waiting 1 provision 0)"
expect_line "$(waiting 2 provision 0)"
expect_count '^provision:' 2
end

begin "replication error three times: three calls, non-zero, the rerun command printed"
run "replication" PROVISION_RETRY_SECONDS=0
expect_status 1
expect_calls "azd provision" "sleep 0" "azd provision" "sleep 0" "azd provision"
expect_line "$(waiting 1 provision 0)"
expect_line "$(waiting 2 provision 0)"
expect_line "$(gave_up "bash scripts/provision.sh")"
expect_count '^provision:' 3
expect_count '^BadRequest: Not a valid reference update' 3
end

begin "PROVISION_RETRY_SECONDS sets the wait"
run "replication ok" PROVISION_RETRY_SECONDS=7
expect_status 0
expect_calls "azd provision" "sleep 7" "azd provision"
expect_line "$(waiting 1 provision 7)"
end

begin "RoleAssignmentExists: one call, non-zero, the fix printed"
run "exists ok" PROVISION_RETRY_SECONDS=0
expect_status 1
expect_calls "azd provision"
expect_line "RoleAssignmentExists: The role assignment already exists."
expect_line "$EXISTS_LINE"
expect_line '  PRINCIPAL_ID=$(azd env get-value APP_IDENTITY_PRINCIPAL_ID)'
expect_line '  for ID in $(az role assignment list --all --assignee "$PRINCIPAL_ID" -o tsv \'
expect_line "      --query \"[?contains(description || '', 'Functions host') || contains(description || '', 'entra-databricks-sync')].id\"); do"
expect_line '    az role assignment delete --ids "$ID"'
expect_line '  done'
expect_line '  bash scripts/provision.sh'
expect_no_line 'attempt 1 of 3'
end

begin "RoleAssignmentExists with -e NAME: the fix reads that environment and reruns with it"
run "exists" -- --no-prompt -e dbx-sync-prod
expect_status 1
expect_calls "azd provision --no-prompt -e dbx-sync-prod"
expect_line '  PRINCIPAL_ID=$(azd env get-value APP_IDENTITY_PRINCIPAL_ID --environment dbx-sync-prod)'
expect_line '  bash scripts/provision.sh --no-prompt -e dbx-sync-prod'
run "exists" -- --environment=dbx-sync-test
expect_line '  PRINCIPAL_ID=$(azd env get-value APP_IDENTITY_PRINCIPAL_ID --environment dbx-sync-test)'
expect_line '  bash scripts/provision.sh --environment=dbx-sync-test'
end

begin "the fix in the docs is the one printed"
run "exists"
for line in '  for ID in $(az role assignment list --all --assignee "$PRINCIPAL_ID" -o tsv \' \
    "      --query \"[?contains(description || '', 'Functions host') || contains(description || '', 'entra-databricks-sync')].id\"); do" \
    '    az role assignment delete --ids "$ID"'; do
  # the docs indent the loop by two spaces less
  grep -Fx -- "${line#  }" "$root/docs/deploy.md" >/dev/null || fail "docs/deploy.md has no line: ${line#  }"
done
grep -Fx -- '### Role assignments take a few minutes' "$root/docs/deploy.md" >/dev/null || fail "docs/deploy.md has no section \"Role assignments take a few minutes\""
grep -F -- '**Role assignment names.**' "$root/docs/deploy.md" >/dev/null || fail "docs/deploy.md has no paragraph \"Role assignment names\""
end

begin "replication error, then RoleAssignmentExists: two calls, the fix printed, no more retries"
run "replication exists ok" PROVISION_RETRY_SECONDS=0
expect_status 1
expect_calls "azd provision" "sleep 0" "azd provision"
expect_line "$EXISTS_LINE"
end

begin "another error: one call, azd's exit status kept, not a replication error"
run "other:5 ok" PROVISION_RETRY_SECONDS=0
expect_status 5
expect_calls "azd provision"
expect_line "InvalidTemplateDeployment: The template deployment 'dbx-sync-prod-1762161267' is not valid according to the validation procedure."
expect_line "$(not_replication provision 5)"
expect_count '^provision:' 1
end

begin "replication error, then another error: two calls, that error's exit status"
run "replication other:3 ok" PROVISION_RETRY_SECONDS=0
expect_status 3
expect_calls "azd provision" "sleep 0" "azd provision"
expect_line "$(not_replication provision 3)"
end

begin "arguments passed through to every attempt, and into the rerun command"
run "replication" PROVISION_RETRY_SECONDS=0 -- --no-prompt -e "dbx sync" --debug
expect_status 1
expect_calls "azd provision --no-prompt -e dbx sync --debug" "sleep 0" \
  "azd provision --no-prompt -e dbx sync --debug" "sleep 0" "azd provision --no-prompt -e dbx sync --debug"
expect_line "$(gave_up 'bash scripts/provision.sh --no-prompt -e dbx\ sync --debug')"
end

begin "up runs azd up, with the same handling"
run "replication ok" PROVISION_RETRY_SECONDS=0 -- up --no-prompt
expect_status 0
expect_calls "azd up --no-prompt" "sleep 0" "azd up --no-prompt"
expect_line "$(waiting 1 up 0)"
run "replication" PROVISION_RETRY_SECONDS=0 -- up -e dbx-sync-prod
expect_status 1
expect_calls "azd up -e dbx-sync-prod" "sleep 0" "azd up -e dbx-sync-prod" "sleep 0" "azd up -e dbx-sync-prod"
expect_line "$(gave_up "bash scripts/provision.sh up -e dbx-sync-prod")"
run "other:2" -- up
expect_status 2
expect_calls "azd up"
expect_line "$(not_replication up 2)"
run "ok" -- up
expect_status 0
expect_calls "azd up"
end

begin "up is only a command as the first argument"
run "ok" -- --no-prompt up
expect_status 0
expect_calls "azd provision --no-prompt up"
end

begin "PROVISION_RETRY_SECONDS not a number: a usage error, azd not called"
run "ok" PROVISION_RETRY_SECONDS=1m
expect_status 2
expect_calls
expect_line "provision: PROVISION_RETRY_SECONDS must be a whole number of seconds, not '1m'"
end

summary
