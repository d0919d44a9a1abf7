#!/usr/bin/env bash
# Checks, before the first `azd provision` (docs/deploy.md, "Before you start"), what a deployment needs
# from this machine and from the signed-in account, and prints one line per check:
#   ok: ...        fine
#   MISSING: ...   the deployment would fail; the line ends with the command that fixes it
#   warning: ...   could not be checked, or matters only in some cases
#   note: ...      what a setting means for the deployment
# Exits 1 if anything is MISSING, 0 otherwise (warnings too), 2 on a usage error. Changes nothing.
#
#   scripts/preflight.sh [--env NAME] [--without-azd]
#     --env NAME      the azd environment to read (default: azd's default environment)
#     --without-azd   for the Azure CLI path (docs/deploy.md, "With the Azure CLI"): skip the azd checks;
#                     read GRANT_GRAPH_APP_ROLES, AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP from
#                     the process environment only
#
# Run it by hand: azd refuses this project before any hook could run it. Sources of what it checks:
# - `language: custom` came with azd 1.20.0 (Azure/azure-dev PR 5771, commit 8507aac, CHANGELOG
#   "1.20.0 (2025-10-08)"). It is still an alpha feature in azd's source (cli/azd/resources/
#   alpha_features.yaml, id `language.custom`); the project loader (cli/azd/cmd/container.go) refuses it
#   with "sync service is using language 'custom' (alpha) but it is not enabled. Please enable it using
#   the command: "azd config set alpha.language.custom on"" when it is off. It is on when the environment
#   variable AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM (or AZD_ALPHA_ENABLE_LANGUAGE.CUSTOM) parses as true, or,
#   with neither set, when `alpha.all` or `alpha.language.custom` is `on` in azd's configuration; an
#   env var that parses as false wins over the configuration (cli/azd/pkg/alpha/alpha_feature_manager.go).
#   `azd config list-alpha` prints the resulting status ("Name: language.custom" ... "Status: On").
# - azd loads azure.yaml's hooks with the project, so no `preprovision` hook can run before that refusal
#   (cli/azd/cmd/middleware/hooks.go takes the loaded project config).
# - `azd version` prints "azd version 1.20.0 (commit ...)" (cli/azd/cmd/version.go);
#   `azd auth login --check-status --output json` prints {"status": "success"} or "unauthenticated".
# - The Microsoft Graph Bicep extension needs Bicep 0.36.1 or later (infra/bicepconfig.json). azd runs
#   its own Bicep (0.38.33 in azd 1.20.0, cli/azd/pkg/tools/bicep/bicep.go), so `az bicep` matters for
#   the Azure CLI path and `az deployment group what-if` only.
# - Microsoft.Graph/appRoleAssignedTo needs AppRoleAssignment.ReadWrite.All and Application.Read.All,
#   which a user holds through Privileged Role Administrator (template id
#   e8611ab8-c189-46e8-94e1-60213ab1f814) or Global Administrator (62e90394-69f5-4237-9190-012177145e10):
#   https://learn.microsoft.com/graph/templates/reference/approleassignedto,
#   https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference.
#   Active roles, also through role-assignable groups, are read with
#   GET https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole (User.Read
#   suffices: https://learn.microsoft.com/graph/api/user-list-transitivememberof); roles that are only
#   eligible in PIM are not listed until activated.
# - Azure rights on an existing resource group: the caller's effective actions, GET .../resourceGroups/
#   {rg}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01
#   (https://learn.microsoft.com/rest/api/authorization/permissions/list-for-resource-group); before the
#   group exists, the role assignments at the subscription and above (`az role assignment list`).
# Works with bash 3.2 (macOS).
set -u
cd "$(dirname "$0")/.." || exit 2

MIN_AZD=1.20.0
MIN_BICEP=0.36.1
PRA_ID=e8611ab8-c189-46e8-94e1-60213ab1f814
GA_ID=62e90394-69f5-4237-9190-012177145e10

env_name=
use_azd=1
while [ $# -gt 0 ]; do
  case $1 in
    --env)
      [ $# -ge 2 ] || { echo "preflight: --env needs a name" >&2; exit 2; }
      env_name=$2; shift 2 ;;
    --env=*) env_name=${1#--env=}; shift ;;
    --without-azd) use_azd=0; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "preflight: unknown argument $1 (usage: scripts/preflight.sh [--env NAME] [--without-azd])" >&2; exit 2 ;;
  esac
done

n_missing=0
n_warnings=0
tab=$(printf '\t')
ok()      { echo "ok: $*"; }
missing() { echo "MISSING: $*"; n_missing=$((n_missing + 1)); }
warn()    { echo "warning: $*"; n_warnings=$((n_warnings + 1)); }
note()    { echo "note: $*"; }
have()    { command -v "$1" >/dev/null 2>&1; }
lower()   { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

# version_ge A B: A >= B as semver orders them (1.20.0-beta.1 < 1.20.0 < 1.21.0-beta.1); B is x.y.z
version_ge() {
  local a b a1 a2 a3 b1 b2 b3
  a=${1%%[-+ ]*}; b=${2%%[-+ ]*}
  IFS=. read -r a1 a2 a3 <<EOF
$a
EOF
  IFS=. read -r b1 b2 b3 <<EOF
$b
EOF
  a1=${a1:-0}; a2=${a2:-0}; a3=${a3:-0}; b1=${b1:-0}; b2=${b2:-0}; b3=${b3:-0}
  [ "$a1" -ne "$b1" ] && { [ "$a1" -gt "$b1" ]; return; }
  [ "$a2" -ne "$b2" ] && { [ "$a2" -gt "$b2" ]; return; }
  [ "$a3" -ne "$b3" ] && { [ "$a3" -gt "$b3" ]; return; }
  case $1 in "$a"-*) return 1 ;; esac
}

# the first x.y.z (with a pre-release suffix, if any) in a text
semver_in() {
  printf '%s\n' "$1" | sed -n 's/[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\(-[0-9A-Za-z.-]*\)\{0,1\}\).*/\1/p' | head -n 1
}

# Go's strconv.ParseBool, which azd applies to AZD_ALPHA_ENABLE_*: prints true, false, or nothing
parse_bool() {
  case $1 in
    1|t|T|TRUE|true|True) echo true ;;
    0|f|F|FALSE|false|False) echo false ;;
  esac
}

# AZD_ALPHA_ENABLE_LANGUAGE.CUSTOM cannot be read as a shell variable; env can list it
alpha_env() {
  local line
  line=$(env | grep -E '^AZD_ALPHA_ENABLE_LANGUAGE[._]CUSTOM=' | head -n 1)
  [ -n "$line" ] || return 1
  echo "${line%%=*} $(parse_bool "${line#*=}")"
}

# azd's alpha.* configuration value: on, off, or nothing
azd_config_value() {
  local v
  v=$(azd config get "$1" 2>/dev/null) || return 0
  v=$(lower "$(printf '%s' "$v" | tr -d '" \r\n')")
  echo "$v"
}

# the language.custom decision as azd makes it, from its configuration: On or Off
alpha_from_config() {
  local e
  e=$(alpha_env) && case $e in
    *" true") echo On; return ;;
    *" false") echo Off; return ;;
  esac
  if [ "$(azd_config_value alpha.all)" = on ] || [ "$(azd_config_value alpha.language.custom)" = on ]; then
    echo On
  else
    echo Off
  fi
}

alpha_missing() {
  local e fix="azd config set alpha.language.custom on"
  if e=$(alpha_env) && [ "${e##* }" = false ]; then
    fix="unset ${e%% *} (it is false and overrides the setting), then $fix"
  fi
  missing "azd's alpha feature language.custom is off, and azure.yaml's 'language: custom' needs it: $fix"
}

azd_env_value() {
  [ "$use_azd" = 1 ] && have azd || return 0
  # read-only; the alpha variable only lets azd load azure.yaml for this one read
  if [ -n "$env_name" ]; then
    AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=true azd env get-value "$1" --environment "$env_name" 2>/dev/null
  else
    AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=true azd env get-value "$1" 2>/dev/null
  fi
  return 0
}

# setting NAME: the azd environment's value, else the process environment's
setting() {
  local v
  v=$(azd_env_value "$1" | tr -d '\r')
  if [ -z "$v" ]; then
    eval "v=\${$1:-}"
  fi
  printf '%s' "$v"
}

# allows ACTION: reads "actions<TAB>notActions" lines (comma-separated, as the permissions API's
# JMESPath projection prints them) and succeeds if one line grants ACTION and does not exclude it
allows() {
  local action line acts nots a n granted result=1
  action=$(lower "$1")
  set -f
  while IFS= read -r line; do
    line=$(lower "$line")
    acts=${line%%"$tab"*}
    case $line in *"$tab"*) nots=${line#*"$tab"} ;; *) nots= ;; esac
    granted=0
    IFS=,
    # shellcheck disable=SC2053 # the right-hand sides are the permissions' wildcards
    for a in $acts; do [[ $action == $a ]] && granted=1; done
    # shellcheck disable=SC2053
    for n in $nots; do [[ $action == $n ]] && granted=0; done
    unset IFS
    [ "$granted" = 1 ] && result=0
  done
  set +f
  return $result
}

# ---------------------------------------------------------------------------------------------------
# azd

if [ "$use_azd" = 1 ]; then
  if ! have azd; then
    missing "azd (the Azure Developer CLI) $MIN_AZD or later is not installed: curl -fsSL https://aka.ms/install-azd.sh | bash (macOS: brew tap azure/azd && brew install azd; or deploy with the Azure CLI: scripts/preflight.sh --without-azd)"
  else
    azd_out=$(azd version 2>/dev/null)
    azd_version=$(semver_in "$azd_out")
    if [ -z "$azd_version" ]; then
      warn "could not read azd's version from 'azd version' ($azd_out); this project needs $MIN_AZD or later"
      alpha=$(alpha_from_config)
    elif ! version_ge "$azd_version" "$MIN_AZD"; then
      missing "azd $MIN_AZD or later is needed for 'language: custom' services; this is azd $azd_version: curl -fsSL https://aka.ms/install-azd.sh | bash (macOS: brew upgrade azd)"
      alpha=$(alpha_from_config)
    else
      ok "azd $azd_version ($MIN_AZD or later)"
      # the status azd itself computes: environment variables, alpha.all, alpha.language.custom
      if list=$(azd config list-alpha 2>/dev/null); then
        alpha=$(printf '%s\n' "$list" | tr -d '\r' | sed -n '/^Name: language\.custom$/,/^Status:/s/^Status: *//p' | head -n 1)
        [ -n "$alpha" ] || alpha=graduated
      else
        alpha=$(alpha_from_config)
      fi
    fi
    case $alpha in
      On) ok "azd's alpha feature language.custom is on" ;;
      graduated) ok "azd $azd_version no longer lists language.custom as an alpha feature" ;;
      *) alpha_missing ;;
    esac

    auth=$(azd auth login --check-status --output json 2>/dev/null | tr -d ' \r\n')
    case $auth in
      *'"status":"success"'*) ok "azd is signed in" ;;
      *'"status":"unauthenticated"'*) missing "azd is not signed in: azd auth login" ;;
      *) warn "could not read azd's sign-in status (azd auth login --check-status); sign in with: azd auth login" ;;
    esac
  fi
fi

# ---------------------------------------------------------------------------------------------------
# az, Bicep

az_ok=0
if ! have az; then
  missing "the Azure CLI (az) is not installed, and the later steps use it: https://learn.microsoft.com/cli/azure/install-azure-cli (macOS: brew install azure-cli)"
elif ! account=$(az account show --query "[id, user.type, user.name]" -o tsv 2>/dev/null) || [ -z "$account" ]; then
  missing "the Azure CLI is not signed in: az login"
else
  az_ok=1
  account=$(printf '%s' "$account" | tr -d '\r' | tr '\n' '\t')
  current_sub=$(printf '%s' "$account" | cut -f1)
  user_type=$(printf '%s' "$account" | cut -f2)
  user_name=$(printf '%s' "$account" | cut -f3)
  ok "the Azure CLI is signed in as $user_name"
fi

if have az; then
  bicep_out=$(az bicep version 2>/dev/null)
  bicep_version=$(semver_in "$bicep_out")
  if [ "$use_azd" = 1 ]; then
    bicep_report=warn
    bicep_why="for the Azure CLI path and what-if (azd uses its own Bicep)"
  else
    bicep_report=missing
    bicep_why="for the Microsoft Graph extension"
  fi
  if [ -z "$bicep_version" ]; then
    warn "the Azure CLI has no Bicep yet; it installs the newest on first use, or now: az bicep install"
  elif ! version_ge "$bicep_version" "$MIN_BICEP"; then
    $bicep_report "the Azure CLI's Bicep is $bicep_version; $MIN_BICEP or later is needed $bicep_why: az bicep upgrade"
  else
    ok "Bicep $bicep_version ($MIN_BICEP or later)"
  fi
fi

# ---------------------------------------------------------------------------------------------------
# Microsoft Entra ID: the Graph app role grants

# shellcheck disable=SC2016 # $select is OData, not a shell variable
graph_roles_url='https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole?$select=roleTemplateId'
grant=$(lower "$(setting GRANT_GRAPH_APP_ROLES)")
if [ "$grant" = false ]; then
  note "GRANT_GRAPH_APP_ROLES=false: the deployment grants no Microsoft Graph roles; an administrator grants them afterwards (docs/deploy.md, \"Grant the Microsoft Graph roles without Bicep\"), and until then every sync fails"
elif [ "$az_ok" = 1 ]; then
  if [ "$user_type" != user ]; then
    warn "signed in as a service principal ($user_name): its Graph permissions were not checked; it needs the application permissions AppRoleAssignment.ReadWrite.All and Application.Read.All, or deploy with GRANT_GRAPH_APP_ROLES=false"
  elif ! roles=$(az rest --method get --url "$graph_roles_url" \
      --query 'value[].roleTemplateId' -o tsv 2>/dev/null); then
    warn "could not read your Microsoft Entra roles from Microsoft Graph; granting the Graph roles needs Privileged Role Administrator or Global Administrator (or deploy with GRANT_GRAPH_APP_ROLES=false)"
  else
    case $roles in
      *$PRA_ID*) ok "Microsoft Entra ID: Privileged Role Administrator (grants the Graph roles)" ;;
      *$GA_ID*) ok "Microsoft Entra ID: Global Administrator (grants the Graph roles)" ;;
      *) missing "Privileged Role Administrator (or Global Administrator) in Microsoft Entra ID, to grant the app its Microsoft Graph roles; you have neither active (activate it if it is eligible in PIM), or deploy without the grants and have an administrator grant them later: azd env set GRANT_GRAPH_APP_ROLES false (Azure CLI: -p grantGraphAppRoles=false)" ;;
    esac
  fi
fi

# ---------------------------------------------------------------------------------------------------
# Azure: creating role assignments (and deploying) in the resource group

if [ "$az_ok" = 1 ]; then
  sub=$(setting AZURE_SUBSCRIPTION_ID)
  rg=$(setting AZURE_RESOURCE_GROUP)
  if [ -z "$sub" ]; then
    sub=$current_sub
  elif [ "$sub" != "$current_sub" ]; then
    warn "the Azure CLI's current subscription is $current_sub, the deployment's is $sub; checked $sub, but later az commands use the current one: az account set --subscription $sub"
  fi
  rbac_roles="Owner, User Access Administrator, or Contributor plus Role Based Access Control Administrator"
  if [ -n "$rg" ] && [ "$(az group exists --name "$rg" --subscription "$sub" 2>/dev/null | tr -d '\r\n')" = true ]; then
    if perms=$(az rest --method get \
        --url "https://management.azure.com/subscriptions/$sub/resourceGroups/$rg/providers/Microsoft.Authorization/permissions?api-version=2022-04-01" \
        --query "value[].[join(',', actions), join(',', notActions)]" -o tsv 2>/dev/null); then
      deploy_right=1; assign_right=1
      printf '%s\n' "$perms" | allows Microsoft.Resources/deployments/write || deploy_right=0
      printf '%s\n' "$perms" | allows Microsoft.Authorization/roleAssignments/write || assign_right=0
      if [ "$deploy_right" = 1 ] && [ "$assign_right" = 1 ]; then
        ok "Azure: you can deploy and create role assignments in resource group $rg"
      fi
      if [ "$deploy_right" = 0 ]; then
        missing "the right to deploy to resource group $rg (Contributor or Owner); an Owner can grant it: az role assignment create --assignee $user_name --role Contributor --scope /subscriptions/$sub/resourceGroups/$rg"
      fi
      if [ "$assign_right" = 0 ]; then
        missing "the right to create role assignments in resource group $rg ($rbac_roles; activate it if it is eligible in PIM); an Owner can grant it: az role assignment create --assignee $user_name --role \"Role Based Access Control Administrator\" --scope /subscriptions/$sub/resourceGroups/$rg"
      fi
    else
      warn "could not read your rights on resource group $rg; the deployment needs $rbac_roles there"
    fi
  else
    where="resource group ${rg:-(not chosen yet)} does not exist yet"
    [ -n "$rg" ] || where="no resource group is chosen yet (AZURE_RESOURCE_GROUP)"
    assignee=
    if [ "$user_type" = user ]; then
      assignee=$(az ad signed-in-user show --query id -o tsv 2>/dev/null | tr -d '\r\n')
    fi
    sub_roles=
    if [ -n "$assignee" ]; then
      sub_roles=$(az role assignment list --assignee "$assignee" --scope "/subscriptions/$sub" \
        --include-inherited --include-groups --query "[].roleDefinitionName" -o tsv 2>/dev/null | tr -d '\r')
    fi
    case $sub_roles in
      *Owner*|*"User Access Administrator"*|*"Role Based Access Control Administrator"*)
        ok "Azure: you can create role assignments in subscription $sub ($where)" ;;
      *)
        warn "$where, and no role that creates role assignments was found for you on subscription $sub; the deployment needs $rbac_roles on the resource group (roles eligible in PIM or custom roles are not seen here)" ;;
    esac
  fi
fi

# ---------------------------------------------------------------------------------------------------
# Building the package (scripts/package.sh, run by azd's prepackage hook)

if have cargo; then
  ok "cargo $(semver_in "$(cargo --version 2>/dev/null)")"
else
  missing "cargo (the Rust toolchain) builds the handler in scripts/package.sh: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
fi
if have zip; then
  ok "zip"
else
  missing "zip writes the package in scripts/package.sh: sudo apt-get install zip (Fedora: sudo dnf install zip; macOS: brew install zip)"
fi
host="$(uname -s 2>/dev/null) $(uname -m 2>/dev/null)"
case $host in
  "Linux x86_64") ;;
  *) warn "scripts/package.sh builds an x86_64 Linux binary; on $host that needs the Rust target and a cross linker (rustup target add x86_64-unknown-linux-gnu), or run it on Linux x86_64" ;;
esac

# ---------------------------------------------------------------------------------------------------

if [ "$n_missing" -gt 0 ]; then
  echo "preflight: $n_missing missing, $n_warnings warning(s): fix the MISSING lines and run scripts/preflight.sh again"
  exit 1
fi
echo "preflight: ready ($n_warnings warning(s))"
