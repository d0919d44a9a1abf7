#!/usr/bin/env bash
# `azd provision` (or, with `up` first, `azd up`) that rides out Microsoft Entra ID's replication of a new
# identity and says what to do about the failures a rerun cannot fix (docs/deploy.md, "1. Provision the
# infrastructure" and "Role assignments take a few minutes"):
#
#   scripts/provision.sh [up] [azd arguments ...]      e.g. --no-prompt, -e NAME; passed to azd as they are
#
# azd's output goes to the terminal as it comes (and into a temporary file, read after azd exits). When
# azd fails:
#   - with "Not a valid reference update": the Microsoft Graph Bicep extension granted the app roles
#     before Entra ID had replicated the new identity's service principal
#     (https://github.com/microsoftgraph/msgraph-bicep-types/issues/193). The script says so, waits
#     PROVISION_RETRY_SECONDS (default 60) and runs the same command again, 3 attempts in all; after the
#     last it prints the command to run again. A rerun is safe: the Azure role assignments are named
#     guid(scope, principal, role), and the Graph extension keys app role assignments by principal and
#     role and leaves existing ones alone (infra/modules/graph-app-roles.bicep). Nothing in Bicep can
#     wait for the replication itself (the reasons are in that file).
#   - with "RoleAssignmentExists": a deployment made by an earlier version of the template, whose role
#     assignments had other names. A rerun fails the same way: not retried; the script prints the fix.
#   - with anything else: not retried.
# Exits with azd's exit status (0 on success), 2 on a usage error. Writes nothing itself but the
# temporary file, which it removes. Works with bash 3.2 (macOS).
#
# azd writes to a pipe here, not to the terminal, so it prints progress as plain lines, and should it
# prompt (a value not yet in the azd environment), it asks in plain text: type the value and Enter.
set -u

attempts=3
wait_seconds=${PROVISION_RETRY_SECONDS:-60}
case $wait_seconds in
  ''|*[!0-9]*) echo "provision: PROVISION_RETRY_SECONDS must be a whole number of seconds, not '$wait_seconds'" >&2; exit 2 ;;
esac

command=provision
case ${1:-} in
  up) command=up; shift ;;
  -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

# the azd environment named in the arguments (-e NAME, -eNAME, -e=NAME, --environment[=]NAME), if any
env_name=
prev=
for arg in "$@"; do
  case $prev in -e|--environment) env_name=$arg ;; esac
  case $arg in
    --environment=*) env_name=${arg#--environment=} ;;
    -e=*) env_name=${arg#-e=} ;;
    -e?*) env_name=${arg#-e} ;;
  esac
  prev=$arg
done

# this script's command line, quoted for the shell, to run again
rerun="bash $(printf '%q' "$0")"
if [ "$command" = up ]; then rerun="$rerun up"; fi
for arg in "$@"; do rerun="$rerun $(printf '%q' "$arg")"; done

log=$(mktemp "${TMPDIR:-/tmp}/provision.XXXXXX") || { echo "provision: cannot create a temporary file" >&2; exit 2; }
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

attempt=1
while :; do
  azd "$command" "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  [ "$status" = 0 ] && exit 0

  if grep -F 'RoleAssignmentExists' "$log" >/dev/null; then
    env_flag=
    if [ -n "$env_name" ]; then env_flag=" --environment $(printf '%q' "$env_name")"; fi
    echo "provision: azd $command failed with RoleAssignmentExists: role assignments made by an earlier version of the template, under other names; a rerun fails the same way, so it was not retried. Remove the app's old role assignments (they are recreated under the new names), then run again (docs/deploy.md, \"Role assignments take a few minutes\", \"Role assignment names\"):"
    echo "  PRINCIPAL_ID=\$(azd env get-value APP_IDENTITY_PRINCIPAL_ID$env_flag)"
    echo "  for ID in \$(az role assignment list --all --assignee \"\$PRINCIPAL_ID\" -o tsv \\"
    echo "      --query \"[?contains(description || '', 'Functions host') || contains(description || '', 'entra-databricks-sync')].id\"); do"
    echo "    az role assignment delete --ids \"\$ID\""
    echo "  done"
    echo "  $rerun"
    echo "provision: if the assignment that exists already is not one of the app's (for example a \"Key Vault Secrets Officer\" assignment on the vault that you made yourself), delete that one instead (az role assignment list --scope <the vault's id>), then run again"
    exit "$status"
  fi

  if ! grep -F 'Not a valid reference update' "$log" >/dev/null; then
    echo "provision: azd $command failed (exit status $status), not with Entra ID's replication error (\"Not a valid reference update\"): not retried; azd's error is above"
    exit "$status"
  fi

  if [ "$attempt" -ge "$attempts" ]; then
    echo "provision: still \"Not a valid reference update\" after $attempts attempts: Entra ID has not replicated the new identity yet; wait a few minutes, then run again: $rerun"
    exit "$status"
  fi

  echo "provision: attempt $attempt of $attempts failed with \"Not a valid reference update\": Entra ID has not replicated the new identity yet (msgraph-bicep-types#193); running azd $command again in $wait_seconds s"
  sleep "$wait_seconds"
  attempt=$((attempt + 1))
done
