#!/usr/bin/env bash
# Tests scripts/preflight.sh without Azure: fake `azd`, `az`, `cargo`, `zip` and `rustup` (small shell
# scripts that answer as the real tools do, steered by FAKE_* variables) come first on a PATH that holds
# nothing else but basic utilities. Each case asserts the exit status and exact output lines; every call
# to the fakes is logged, and no case may call anything that changes state. Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- basic utilities only (no real az, azd, cargo, zip, rustup on this PATH) --------------------------
sys=$tmp/sys
mkdir -p "$sys" "$tmp/home"
for tool in bash sh env sed grep tr head cut uname dirname cat printf; do
  real=$(command -v "$tool" 2>/dev/null) || continue
  case $real in /*) ln -s "$real" "$sys/$tool" ;; esac
done

# --- the fakes ------------------------------------------------------------------------------------------
fake=$tmp/fake
mkdir -p "$fake"
calls=$tmp/calls.log

cat >"$fake/azd" <<'EOF'
#!/bin/sh
echo "azd $*" >>"$FAKE_CALLS"
case "$*" in
  version)
    echo "azd version ${FAKE_AZD_VERSION:-1.31.2} (commit 0123456789abcdef) (stable)" ;;
  "config list-alpha")
    [ "${FAKE_AZD_LIST_ALPHA:-}" = fail ] && { echo "ERROR: boom" >&2; exit 1; }
    printf 'Name: aks.helm\nDescription: Enable Helm support for AKS deployments.\nStatus: Off\n\n'
    if [ "${FAKE_AZD_LIST_ALPHA:-}" != graduated ]; then
      printf 'Name: language.custom\nDescription: Enables support for services to use custom language.\nStatus: %s\n\n' "${FAKE_AZD_ALPHA:-On}"
    fi
    printf 'Name: llm\nDescription: Enables the use of LLMs in the CLI.\nStatus: On\n' ;;
  "config get alpha.language.custom"|"config get alpha.all")
    if [ "$3" = alpha.all ]; then v=${FAKE_AZD_CFG_ALL:-}; else v=${FAKE_AZD_CFG_CUSTOM:-}; fi
    [ -n "$v" ] || { echo "ERROR: no value at path '$3': config key not found" >&2; exit 1; }
    echo "\"$v\"" ;;
  "auth login --check-status --output json")
    printf '{\n  "status": "%s"\n}\n' "${FAKE_AZD_AUTH:-success}" ;;
  "env get-value "*)
    key=$3
    eval "v=\${FAKE_AZD_ENV_$key:-}"
    [ -n "$v" ] || { echo "ERROR: key '$key' not found in the environment values" >&2; exit 1; }
    echo "$v" ;;
  *) echo "fake azd: unexpected call: $*" >&2; exit 97 ;;
esac
EOF

cat >"$fake/az" <<'EOF'
#!/bin/sh
echo "az $*" >>"$FAKE_CALLS"
case "$*" in
  "account show"*)
    [ "${FAKE_AZ_LOGIN:-yes}" = yes ] || { echo "ERROR: Please run 'az login' to setup account." >&2; exit 1; }
    printf '%s\n%s\n%s\n' "${FAKE_AZ_SUB:-00000000-0000-0000-0000-00000000aaaa}" "${FAKE_AZ_USER_TYPE:-user}" "${FAKE_AZ_USER:-ana@contoso.com}" ;;
  "bicep version")
    [ "${FAKE_BICEP:-0.39.26}" = none ] && { echo "Bicep CLI not found. Install it now by running \"az bicep install\"." >&2; exit 1; }
    echo "Bicep CLI version ${FAKE_BICEP:-0.39.26} (1e90b06e40)" ;;
  "rest --method get --url https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole"*)
    [ "${FAKE_ENTRA_ROLES:-}" = fail ] && { echo "ERROR: Forbidden" >&2; exit 1; }
    printf '%b' "${FAKE_ENTRA_ROLES-e8611ab8-c189-46e8-94e1-60213ab1f814\n}" ;;
  "group exists --name "*)
    echo "${FAKE_RG_EXISTS:-true}" ;;
  "rest --method get --url https://management.azure.com/subscriptions/"*"/providers/Microsoft.Authorization/permissions?api-version=2022-04-01 "*)
    [ "${FAKE_RG_PERMS:-}" = fail ] && { echo "ERROR: Forbidden" >&2; exit 1; }
    printf '%b' "${FAKE_RG_PERMS-*\t\n}" ;;
  "ad signed-in-user show --query id -o tsv")
    echo 11111111-2222-3333-4444-555555555555 ;;
  "role assignment list "*)
    printf '%b' "${FAKE_SUB_ROLES:-}" ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 97 ;;
esac
EOF

cat >"$fake/cargo" <<'EOF'
#!/bin/sh
echo "cargo $*" >>"$FAKE_CALLS"
echo "cargo 1.91.0 (ea2d97820 2025-10-10)"
EOF
cat >"$fake/zip" <<'EOF'
#!/bin/sh
echo "zip $*" >>"$FAKE_CALLS"
EOF
cat >"$fake/rustup" <<'EOF'
#!/bin/sh
echo "rustup $*" >>"$FAKE_CALLS"
EOF
mkdir -p "$tmp/darwin"
cat >"$tmp/darwin/uname" <<'EOF'
#!/bin/sh
case $1 in -s) echo Darwin ;; -m) echo arm64 ;; *) echo Darwin ;; esac
EOF
chmod +x "$fake"/* "$tmp/darwin/uname"

# a fake directory without some of the tools
without() {
  local dir t
  dir=$tmp/without-$(printf '%s-' "$@")
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    cp "$fake"/* "$dir"/
    for t in "$@"; do rm -f "$dir/$t"; done
  fi
  echo "$dir"
}

# --- running and asserting -------------------------------------------------------------------------------
# shellcheck source=scripts/lib/expect.sh
. scripts/lib/expect.sh   # the working directory is the repository root (above)

# run [--path DIRS] [VAR=value ...] [-- preflight arguments]: runs the preflight in an empty environment
run() {
  local path=$fake vars=() args=()
  if [ "${1:-}" = --path ]; then path=$2; shift 2; fi
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  args=("$@")
  : >"$calls"
  out=$(env -i HOME="$tmp/home" FAKE_CALLS="$calls" PATH="$path:$sys" ${vars[@]+"${vars[@]}"} \
    "$BASH" "$root/scripts/preflight.sh" ${args[@]+"${args[@]}"} 2>"$tmp/stderr")
  status=$?
  # read-only: nothing that writes config, environments, role assignments or tools
  if grep -E '( set | create| delete| new | upgrade| install|^azd auth login$|^az login)' "$calls" >/dev/null; then
    fail "a state-changing call: $(grep -E '( set | create| delete| new | upgrade| install|^azd auth login$|^az login)' "$calls" | head -n 1)"
  fi
  if grep 'fake .*unexpected call' "$tmp/stderr" >/dev/null; then
    fail "$(grep 'unexpected call' "$tmp/stderr" | head -n 1)"
  fi
}


SUB=00000000-0000-0000-0000-00000000aaaa
RG_ENV=("FAKE_AZD_ENV_AZURE_SUBSCRIPTION_ID=$SUB" FAKE_AZD_ENV_AZURE_RESOURCE_GROUP=rg-dbx)
PRA_MISSING="MISSING: Privileged Role Administrator (or Global Administrator) in Microsoft Entra ID, to grant the app its Microsoft Graph roles; you have neither active (activate it if it is eligible in PIM), or deploy without the grants and have an administrator grant them later: azd env set GRANT_GRAPH_APP_ROLES false (Azure CLI: -p grantGraphAppRoles=false)"
GRANT_NOTE='note: GRANT_GRAPH_APP_ROLES=false: the deployment grants no Microsoft Graph roles; an administrator grants them afterwards (docs/deploy.md, "Grant the Microsoft Graph roles without Bicep"), and until then every sync fails'
ALPHA_MISSING="MISSING: azd's alpha feature language.custom is off, and azure.yaml's 'language: custom' needs it: azd config set alpha.language.custom on"
OLD_AZD="MISSING: azd 1.20.0 or later is needed for 'language: custom' services; this is azd 1.19.0: curl -fsSL https://aka.ms/install-azd.sh | bash (macOS: brew upgrade azd)"
RG_ASSIGN_MISSING="MISSING: the right to create role assignments in resource group rg-dbx (Owner, User Access Administrator, or Contributor plus Role Based Access Control Administrator; activate it if it is eligible in PIM); an Owner can grant it: az role assignment create --assignee ana@contoso.com --role \"Role Based Access Control Administrator\" --scope /subscriptions/$SUB/resourceGroups/rg-dbx"
RG_DEPLOY_MISSING="MISSING: the right to deploy to resource group rg-dbx (Contributor or Owner); an Owner can grant it: az role assignment create --assignee ana@contoso.com --role Contributor --scope /subscriptions/$SUB/resourceGroups/rg-dbx"
CONTRIBUTOR='*\tMicrosoft.Authorization/*/Delete,Microsoft.Authorization/*/Write,Microsoft.Authorization/elevateAccess/Action,Microsoft.Blueprint/blueprintAssignments/write,Microsoft.Blueprint/blueprintAssignments/delete,Microsoft.Compute/galleries/share/action\n'
RBAC_ADMIN='Microsoft.Authorization/roleAssignments/write,Microsoft.Authorization/roleAssignments/delete,*/read,Microsoft.Support/*\t\n'
UAA='*/read,Microsoft.Authorization/*,Microsoft.Support/*\t\n'

# --- cases ----------------------------------------------------------------------------------------------
begin "all good (azd, alpha on, az signed in, Privileged Role Administrator, Owner on the resource group)"
run "${RG_ENV[@]}"
expect_status 0
expect_line "ok: azd 1.31.2 (1.20.0 or later)"
expect_line "ok: azd's alpha feature language.custom is on"
expect_line "ok: azd is signed in"
expect_line "ok: the Azure CLI is signed in as ana@contoso.com"
expect_line "ok: Bicep 0.39.26 (0.36.1 or later)"
expect_line "ok: Microsoft Entra ID: Privileged Role Administrator (grants the Graph roles)"
expect_line "ok: Azure: you can deploy and create role assignments in resource group rg-dbx"
expect_line "ok: cargo 1.91.0"
expect_line "ok: zip"
expect_line "preflight: ready (0 warning(s))"
expect_no_line '^(MISSING|warning):'
end

begin "azd not installed"
run --path "$(without azd)" "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: azd (the Azure Developer CLI) 1.20.0 or later is not installed: curl -fsSL https://aka.ms/install-azd.sh | bash (macOS: brew tap azure/azd && brew install azd; or deploy with the Azure CLI: scripts/preflight.sh --without-azd)"
expect_line "preflight: 1 missing, 1 warning(s): fix the MISSING lines and run scripts/preflight.sh again"
end

begin "azd too old, alpha setting never made"
run FAKE_AZD_VERSION=1.19.0 "${RG_ENV[@]}"
expect_status 1
expect_line "$OLD_AZD"
expect_line "$ALPHA_MISSING"
expect_count '^MISSING:' 2
end

begin "azd too old, alpha setting already on"
run FAKE_AZD_VERSION=1.19.0 FAKE_AZD_CFG_CUSTOM=on "${RG_ENV[@]}"
expect_status 1
expect_line "$OLD_AZD"
expect_line "ok: azd's alpha feature language.custom is on"
expect_count '^MISSING:' 1
end

begin "azd too old, alpha on through alpha.all"
run FAKE_AZD_VERSION=1.19.0 FAKE_AZD_CFG_ALL=on "${RG_ENV[@]}"
expect_line "ok: azd's alpha feature language.custom is on"
end

begin "azd too old, AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=false overrides the configuration"
run FAKE_AZD_VERSION=1.19.0 FAKE_AZD_CFG_CUSTOM=on AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=false "${RG_ENV[@]}"
expect_line "MISSING: azd's alpha feature language.custom is off, and azure.yaml's 'language: custom' needs it: unset AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM (it is false and overrides the setting), then azd config set alpha.language.custom on"
end

begin "azd 1.20.0 exactly"
run FAKE_AZD_VERSION=1.20.0 "${RG_ENV[@]}"
expect_status 0
expect_line "ok: azd 1.20.0 (1.20.0 or later)"
end

begin "azd versions ordered as semver: 1.21.0-beta.1 is enough, 1.20.0-beta.1 is not"
run FAKE_AZD_VERSION=1.21.0-beta.1 "${RG_ENV[@]}"
expect_status 0
expect_line "ok: azd 1.21.0-beta.1 (1.20.0 or later)"
run FAKE_AZD_VERSION=1.20.0-beta.1 FAKE_AZD_CFG_CUSTOM=on "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: azd 1.20.0 or later is needed for 'language: custom' services; this is azd 1.20.0-beta.1: curl -fsSL https://aka.ms/install-azd.sh | bash (macOS: brew upgrade azd)"
run FAKE_AZD_VERSION=2.0.0 "${RG_ENV[@]}"
expect_line "ok: azd 2.0.0 (1.20.0 or later)"
run FAKE_AZD_VERSION=1.9.9 FAKE_AZD_CFG_CUSTOM=on "${RG_ENV[@]}"
expect_status 1
end

begin "alpha feature off"
run FAKE_AZD_ALPHA=Off "${RG_ENV[@]}"
expect_status 1
expect_line "$ALPHA_MISSING"
expect_count '^MISSING:' 1
expect_line "preflight: 1 missing, 0 warning(s): fix the MISSING lines and run scripts/preflight.sh again"
end

begin "alpha feature off because AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=0"
run FAKE_AZD_ALPHA=Off AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=0 "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: azd's alpha feature language.custom is off, and azure.yaml's 'language: custom' needs it: unset AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM (it is false and overrides the setting), then azd config set alpha.language.custom on"
end

begin "alpha status unreadable from list-alpha: the env var form AZD_ALPHA_ENABLE_LANGUAGE.CUSTOM=1 is accepted"
run FAKE_AZD_LIST_ALPHA=fail AZD_ALPHA_ENABLE_LANGUAGE.CUSTOM=1 "${RG_ENV[@]}"
expect_status 0
expect_line "ok: azd's alpha feature language.custom is on"
end

begin "alpha status unreadable from list-alpha, nothing set"
run FAKE_AZD_LIST_ALPHA=fail "${RG_ENV[@]}"
expect_status 1
expect_line "$ALPHA_MISSING"
end

begin "language.custom no longer an alpha feature"
run FAKE_AZD_LIST_ALPHA=graduated FAKE_AZD_VERSION=1.40.0 "${RG_ENV[@]}"
expect_status 0
expect_line "ok: azd 1.40.0 no longer lists language.custom as an alpha feature"
end

begin "azd not signed in"
run FAKE_AZD_AUTH=unauthenticated "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: azd is not signed in: azd auth login"
end

begin "az not installed"
run --path "$(without az)" "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: the Azure CLI (az) is not installed, and the later steps use it: https://learn.microsoft.com/cli/azure/install-azure-cli (macOS: brew install azure-cli)"
expect_count '^MISSING:' 1
end

begin "az not signed in"
run FAKE_AZ_LOGIN=no "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: the Azure CLI is not signed in: az login"
expect_count '^MISSING:' 1
end

begin "no Privileged Role Administrator"
run FAKE_ENTRA_ROLES='88d8e3e3-8f55-4a1e-953a-9b9898b8876b\n' "${RG_ENV[@]}"
expect_status 1
expect_line "$PRA_MISSING"
expect_count '^MISSING:' 1
end

begin "no directory role at all"
run FAKE_ENTRA_ROLES= "${RG_ENV[@]}"
expect_status 1
expect_line "$PRA_MISSING"
end

begin "no Privileged Role Administrator, GRANT_GRAPH_APP_ROLES=false in the azd environment"
run FAKE_ENTRA_ROLES= FAKE_AZD_ENV_GRANT_GRAPH_APP_ROLES=false "${RG_ENV[@]}"
expect_status 0
expect_line "$GRANT_NOTE"
expect_no_line '^MISSING:'
end

begin "no Privileged Role Administrator, GRANT_GRAPH_APP_ROLES=False in the process environment"
run FAKE_ENTRA_ROLES= GRANT_GRAPH_APP_ROLES=False "${RG_ENV[@]}"
expect_status 0
expect_line "$GRANT_NOTE"
end

begin "the azd environment's GRANT_GRAPH_APP_ROLES=true wins over the process environment"
run FAKE_ENTRA_ROLES= GRANT_GRAPH_APP_ROLES=false FAKE_AZD_ENV_GRANT_GRAPH_APP_ROLES=true "${RG_ENV[@]}"
expect_status 1
expect_line "$PRA_MISSING"
end

begin "Global Administrator"
run FAKE_ENTRA_ROLES='f2ef992c-3afb-46b9-b7cf-a126ee74c451\n62e90394-69f5-4237-9190-012177145e10\n' "${RG_ENV[@]}"
expect_status 0
expect_line "ok: Microsoft Entra ID: Global Administrator (grants the Graph roles)"
end

begin "Entra roles unreadable"
run FAKE_ENTRA_ROLES=fail "${RG_ENV[@]}"
expect_status 0
expect_line "warning: could not read your Microsoft Entra roles from Microsoft Graph; granting the Graph roles needs Privileged Role Administrator or Global Administrator (or deploy with GRANT_GRAPH_APP_ROLES=false)"
end

begin "service principal deployer"
run FAKE_AZ_USER_TYPE=servicePrincipal FAKE_AZ_USER=0f0f0f0f-1111-2222-3333-444444444444 "${RG_ENV[@]}"
expect_status 0
expect_line "warning: signed in as a service principal (0f0f0f0f-1111-2222-3333-444444444444): its Graph permissions were not checked; it needs the application permissions AppRoleAssignment.ReadWrite.All and Application.Read.All, or deploy with GRANT_GRAPH_APP_ROLES=false"
expect_line "ok: Azure: you can deploy and create role assignments in resource group rg-dbx"
end

begin "old Bicep in az, azd path: a warning"
run FAKE_BICEP=0.30.23 "${RG_ENV[@]}"
expect_status 0
expect_line "warning: the Azure CLI's Bicep is 0.30.23; 0.36.1 or later is needed for the Azure CLI path and what-if (azd uses its own Bicep): az bicep upgrade"
end

begin "old Bicep in az, Azure CLI path: missing"
run FAKE_BICEP=0.36.0 AZURE_RESOURCE_GROUP=rg-dbx -- --without-azd
expect_status 1
expect_line "MISSING: the Azure CLI's Bicep is 0.36.0; 0.36.1 or later is needed for the Microsoft Graph extension: az bicep upgrade"
expect_count '^MISSING:' 1
end

begin "no Bicep in az yet"
run FAKE_BICEP=none "${RG_ENV[@]}"
expect_status 0
expect_line "warning: the Azure CLI has no Bicep yet; it installs the newest on first use, or now: az bicep install"
end

begin "Azure CLI path: azd is neither needed nor called"
run --path "$(without azd)" AZURE_RESOURCE_GROUP=rg-dbx GRANT_GRAPH_APP_ROLES=false FAKE_ENTRA_ROLES= -- --without-azd
expect_status 0
expect_line "$GRANT_NOTE"
expect_no_line 'azd'
grep '^azd' "$calls" >/dev/null && fail "azd was called"
end

begin "missing zip"
run --path "$(without zip)" "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: zip writes the package in scripts/package.sh: sudo apt-get install zip (Fedora: sudo dnf install zip; macOS: brew install zip)"
expect_count '^MISSING:' 1
end

begin "missing cargo"
run --path "$(without cargo rustup)" "${RG_ENV[@]}"
expect_status 1
expect_line "MISSING: cargo (the Rust toolchain) builds the handler in scripts/package.sh: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
end

begin "Contributor only: cannot create role assignments"
run FAKE_RG_PERMS="$CONTRIBUTOR" "${RG_ENV[@]}"
expect_status 1
expect_line "$RG_ASSIGN_MISSING"
expect_count '^MISSING:' 1
end

begin "Contributor plus Role Based Access Control Administrator"
run FAKE_RG_PERMS="$CONTRIBUTOR$RBAC_ADMIN" "${RG_ENV[@]}"
expect_status 0
expect_line "ok: Azure: you can deploy and create role assignments in resource group rg-dbx"
end

begin "User Access Administrator only: cannot deploy"
run FAKE_RG_PERMS="$UAA" "${RG_ENV[@]}"
expect_status 1
expect_line "$RG_DEPLOY_MISSING"
expect_count '^MISSING:' 1
end

begin "Reader only"
run FAKE_RG_PERMS='*/read\t\n' "${RG_ENV[@]}"
expect_status 1
expect_line "$RG_DEPLOY_MISSING"
expect_line "$RG_ASSIGN_MISSING"
end

begin "rights on the resource group unreadable"
run FAKE_RG_PERMS=fail "${RG_ENV[@]}"
expect_status 0
expect_line "warning: could not read your rights on resource group rg-dbx; the deployment needs Owner, User Access Administrator, or Contributor plus Role Based Access Control Administrator there"
end

begin "resource group not created yet, Owner on the subscription"
run FAKE_RG_EXISTS=false FAKE_SUB_ROLES='Reader\nOwner\n' "${RG_ENV[@]}"
expect_status 0
expect_line "ok: Azure: you can create role assignments in subscription $SUB (resource group rg-dbx does not exist yet)"
end

begin "resource group not created yet, no such role on the subscription"
run FAKE_RG_EXISTS=false FAKE_SUB_ROLES='Contributor\n' "${RG_ENV[@]}"
expect_status 0
expect_line "warning: resource group rg-dbx does not exist yet, and no role that creates role assignments was found for you on subscription $SUB; the deployment needs Owner, User Access Administrator, or Contributor plus Role Based Access Control Administrator on the resource group (roles eligible in PIM or custom roles are not seen here)"
end

begin "no resource group chosen"
run FAKE_SUB_ROLES='User Access Administrator\n'
expect_status 0
expect_line "ok: Azure: you can create role assignments in subscription $SUB (no resource group is chosen yet (AZURE_RESOURCE_GROUP))"
end

begin "az's current subscription is not the deployment's"
run FAKE_AZD_ENV_AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-00000000bbbb FAKE_AZD_ENV_AZURE_RESOURCE_GROUP=rg-dbx
expect_status 0
expect_line "warning: the Azure CLI's current subscription is $SUB, the deployment's is 00000000-0000-0000-0000-00000000bbbb; checked 00000000-0000-0000-0000-00000000bbbb, but later az commands use the current one: az account set --subscription 00000000-0000-0000-0000-00000000bbbb"
grep -F 'subscriptions/00000000-0000-0000-0000-00000000bbbb/resourceGroups/rg-dbx/providers/Microsoft.Authorization/permissions' "$calls" >/dev/null \
  || fail "the rights were not read on the deployment's subscription"
end

begin "--env NAME reads that azd environment"
run "${RG_ENV[@]}" -- --env dbx-sync-prod
expect_status 0
grep -Fx 'azd env get-value GRANT_GRAPH_APP_ROLES --environment dbx-sync-prod' "$calls" >/dev/null || fail "azd env get-value was not given --environment"
end

begin "macOS arm64: a warning on building the x86_64 Linux binary"
run --path "$tmp/darwin:$fake" "${RG_ENV[@]}"
expect_status 0
expect_line "warning: scripts/package.sh builds an x86_64 Linux binary; on Darwin arm64 that needs the Rust target and a cross linker (rustup target add x86_64-unknown-linux-gnu), or run it on Linux x86_64"
end

begin "several things missing at once: one line each"
run --path "$(without zip)" FAKE_AZD_ALPHA=Off FAKE_ENTRA_ROLES= FAKE_RG_PERMS="$CONTRIBUTOR" "${RG_ENV[@]}"
expect_status 1
expect_line "$ALPHA_MISSING"
expect_line "$PRA_MISSING"
expect_line "$RG_ASSIGN_MISSING"
expect_count '^MISSING:' 4
expect_line "preflight: 4 missing, 0 warning(s): fix the MISSING lines and run scripts/preflight.sh again"
end

begin "an unknown argument is a usage error"
run -- --frobnicate
expect_status 2
end

summary
