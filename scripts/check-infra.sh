#!/usr/bin/env bash
# Infrastructure checks, run by .ci/run: every Bicep file under infra/ parses, and checkov reports no
# failed check on infra/, for both parameter sets of main.bicep: networkIsolation=false (the default) and
# networkIsolation=true (private networking). The Bicep CLI cannot be installed on our machines (it
# downloads a .NET binary at install time), so this is a syntax check (pycep-parser) and a security lint
# (checkov), not a compilation: type errors and wrong property names are only caught by
# `az deployment ... what-if`.
#
# Why checkov runs on generated copies: checkov's Bicep runner takes a parameter's default value, but it
# evaluates neither conditions (`if (...)`) nor ternaries. `publicNetworkAccess: networkIsolation ?
# 'Disabled' : 'Enabled'` reaches a check as an unevaluated expression: CKV_AZURE_109 then fails whatever
# the parameter, and CKV_AZURE_189 errors out inside checkov (logged, then left out of the report: neither
# passed nor failed). So for each parameter set the script copies infra/ to target/infra-checkov/<set>/,
# sets every `param networkIsolation bool` default to the set's value and replaces each ternary on
# networkIsolation whose two branches are literals by the branch the set takes, then runs checkov on that
# copy. infra/ itself is never changed. Conditions (`if (networkIsolation)`) stay as they are: checkov
# checks the network resources in both sets.
#
# Tools live in a virtual environment under target/ (git-ignored), created on the first run and reused
# while the pins below are unchanged.
#
#   scripts/check-infra.sh            install if needed, parse, lint
#   PYTHON=python3.12 scripts/...     choose the interpreter that creates the venv
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
# checkov 3.3.30 pins pycep-parser 0.5.1, whose grammar predates the `extension` statement that
# infra/modules/graph-app-roles.bicep needs (checkov then counts the file as a parsing error). 0.7.1
# parses it and works with checkov 3.3.30 (same output shape); it is installed over checkov's pin,
# without dependencies (lark, regex and typing-extensions come with checkov). Both the parse check
# and checkov use it.
PYCEP_VERSION=0.7.1
VENV=target/infra-venv
PYTHON=${PYTHON:-python3}
INFRA=infra

# Checks skipped on purpose, one per line: ID, then why. Every other failed check fails this script, and
# so does a skip that no longer matches a failure of its parameter set (a stale skip). Each reason says
# what fixes it: "networkIsolation=true fixes this", or "nothing fixes this" and why not.
# Skipped in both parameter sets:
SKIPPED_ALWAYS=(
  # Storage account (host storage and deployment container).
  "CKV_AZURE_206 storage: nothing fixes this (by choice): locally redundant on purpose; it holds only re-creatable state (timer leases, function keys, the deployment package that the next deploy uploads again, the handler's workspace leases and last reports, and the work queue, whose work the next timer run redoes)."
  # Function app and its plan.
  "CKV_AZURE_78  function app: nothing fixes this (no such setting): checks siteConfig.ftpsState, which Flex Consumption deprecates (no FTPS there); FTP and SCM basic-auth publishing are off through basicPublishingCredentialsPolicies instead."
  "CKV_AZURE_16  function app: nothing fixes this (by design): App Service Authentication would force callers of SyncHttp to present Entra tokens; SyncHttp uses function keys (authLevel function), as docs/deploy.md documents."
  "CKV_AZURE_17  function app: nothing fixes this (does not apply): incoming client certificates; SyncHttp is protected by function keys over HTTPS."
  "CKV_AZURE_222 function app: nothing fixes this (by design), networkIsolation=true included: operators call SyncHttp with a function key over the public endpoint, and azd / az deploy through the app's public SCM endpoint; networkIsolation makes the app's outbound traffic and its storage and vault private, not its inbound."
  "CKV_AZURE_212 function app: nothing fixes this (by choice): a minimum instance count means always-ready (billed) instances; a scheduled sync tolerates a cold start and a missed tick is caught up by the timer."
  "CKV_AZURE_213 function app: nothing fixes this (does not apply): App Service health checks serve load-balanced web front ends; the Functions host itself pings and restarts the custom handler."
  "CKV_AZURE_225 plan: nothing fixes this (by choice): zone redundancy on Flex Consumption needs always-ready instances in every zone; not worth it for an hourly batch job."
)
# Skipped only with networkIsolation=false (the default): storage and Key Vault are reachable over their
# public endpoints, with Microsoft Entra authentication (shared keys off, vault in RBAC mode).
SKIPPED_ISOLATION_OFF=(
  "CKV_AZURE_35  storage: networkIsolation=true fixes this (default action Deny, private endpoints for blob, queue and table). Without it the Flex Consumption app reaches its host storage over the public endpoint; shared-key access is off, so every request needs Microsoft Entra authentication."
  "CKV_AZURE_59  storage: networkIsolation=true fixes this (public network access Disabled), for the reason given under CKV_AZURE_35."
  "CKV_AZURE_109 key vault: networkIsolation=true fixes this (firewall default action Deny, private endpoint). Without it access is by Azure RBAC with Entra tokens only, purge protection is on."
  "CKV_AZURE_189 key vault: networkIsolation=true fixes this (public network access Disabled), for the reason given under CKV_AZURE_109."
)
SKIPPED_ISOLATION_ON=()
# With networkIsolation=true these network checks must be in checkov's passed list (a check that errors
# inside checkov is neither passed nor failed, so "not failed" would not be enough): ID, then the
# resource type it must pass on.
REQUIRED_ISOLATION_ON=(
  "CKV_AZURE_35  Microsoft.Storage/storageAccounts"
  "CKV_AZURE_36  Microsoft.Storage/storageAccounts"
  "CKV_AZURE_59  Microsoft.Storage/storageAccounts"
  "CKV_AZURE_109 Microsoft.KeyVault/vaults"
  "CKV_AZURE_189 Microsoft.KeyVault/vaults"
)

step() { printf '\n-- %s\n' "$1"; }

want="checkov==$CHECKOV_VERSION pycep-parser==$PYCEP_VERSION"
stamp="$VENV/.pins"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  step "tools: reusing $VENV ($want)"
else
  step "tools: installing $want into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "pycep-parser==$PYCEP_VERSION"
  printf '%s\n' "$want" >"$stamp"
fi

mapfile -t bicep_files < <(find "$INFRA" -name '*.bicep' -type f | sort)
if ((${#bicep_files[@]} == 0)); then
  echo "no Bicep file under $INFRA/" >&2
  exit 1
fi

step "parse: ${#bicep_files[@]} Bicep files (pycep-parser $PYCEP_VERSION)"
"$VENV/bin/python" - "${bicep_files[@]}" <<'PY'
import signal
import sys
from pathlib import Path

from pycep import BicepParser

# The parser is an Earley parser: a pathological file could take very long. Fail instead of hanging.
PER_FILE_SECONDS = 60


def too_slow(signum, frame):
    raise TimeoutError(f"parsing took longer than {PER_FILE_SECONDS} s")


signal.signal(signal.SIGALRM, too_slow)
failed = 0
for name in sys.argv[1:]:
    signal.alarm(PER_FILE_SECONDS)
    try:
        tree = BicepParser().parse(file_path=Path(name))
    except Exception as error:  # noqa: BLE001 - every parse failure is reported the same way
        failed += 1
        lines = str(error).strip().splitlines() or [type(error).__name__]
        print(f"FAIL {name}: " + "\n       ".join(lines[:6]))
        continue
    finally:
        signal.alarm(0)
    counts = {key: len(tree.get(key) or {}) for key in ("parameters", "resources", "modules", "outputs")}
    print(f"ok   {name}: " + ", ".join(f"{n} {key}" for key, n in counts.items()))
if failed:
    print(f"{failed} Bicep file(s) do not parse", file=sys.stderr)
    sys.exit(1)
PY

# render SET_NAME VALUE: target/infra-checkov/SET_NAME/ = infra/ with networkIsolation fixed to VALUE.
render() {
  local out=target/infra-checkov/$1
  rm -rf "$out"
  mkdir -p "$out"
  cp -R "$INFRA"/. "$out"/
  "$VENV/bin/python" - "$out" "$2" <<'PY'
import re
import sys
from pathlib import Path

root, value = Path(sys.argv[1]), sys.argv[2] == "true"
literal = r"(?:'(?:[^'\\]|\\.)*'|true|false|null|-?\d+)"
ternary = re.compile(rf"(!?)\bnetworkIsolation\s*\?\s*({literal})\s*:\s*({literal})")
default = re.compile(r"^(param networkIsolation bool)(\s*=\s*(?:true|false))?[ \t]*$", re.MULTILINE)
ternaries = params = 0
for path in sorted(root.rglob("*.bicep")):
    text = path.read_text(encoding="utf-8")
    # `!networkIsolation ? a : b` takes a when the value is false.
    text, n = ternary.subn(lambda m: m.group(2) if value != bool(m.group(1)) else m.group(3), text)
    ternaries += n
    text, n = default.subn(rf"\1 = {'true' if value else 'false'}", text)
    params += n
    path.write_text(text, encoding="utf-8")
print(f"rendered networkIsolation={'true' if value else 'false'}: {params} parameter defaults, {ternaries} ternaries")
if not params or not ternaries:
    sys.exit("nothing to render: is networkIsolation still a parameter of infra/?")
PY
}

# lint SET_NAME VALUE SKIPS... -- REQUIRED...
lint() {
  local set=$1 value=$2
  shift 2
  step "lint: checkov $CHECKOV_VERSION, networkIsolation=$value (target/infra-checkov/$set)"
  render "$set" "$value"
  local report=target/checkov-report-$set.json log=target/checkov-stderr-$set.log status
  # checkov exits 1 on failed checks but 0 on files it cannot parse: judge by the JSON report instead.
  # It runs without --skip-check; the skips are applied below, so a skip that no longer matches any
  # failure is noticed (and has to be removed from the list).
  set +e
  "$VENV/bin/checkov" -d "target/infra-checkov/$set" --framework bicep --skip-download --compact -o json \
    >"$report" 2>"$log"
  status=$?
  set -e
  if [[ ! -s "$report" ]]; then
    echo "checkov wrote no report (exit $status):" >&2
    cat "$log" >&2
    return 1
  fi
  "$VENV/bin/python" - "$report" "$log" "$@" <<'PY'
import json
import re
import sys

report_path, log_path, *entries = sys.argv[1:]
split = entries.index("--")
skips, required = {}, []
for entry in entries[:split]:
    check_id, _, reason = entry.partition(" ")
    skips[check_id] = reason.strip()
for entry in entries[split + 1 :]:
    check_id, resource_type = entry.split()
    required.append((check_id, resource_type))

with open(report_path, encoding="utf-8") as handle:
    report = json.load(handle)
# One framework gives an object, several a list of them.
reports = report if isinstance(report, list) else [report]
reports = [r for r in reports if r.get("check_type") in (None, "bicep")]
if not reports:
    sys.exit("checkov reported nothing for the bicep framework")

problems, skipped, matched, passed = [], [], set(), set()
for check_id, reason in skips.items():
    if "networkIsolation=" not in reason and "nothing fixes this" not in reason:
        problems.append(f"SKIP WITHOUT A FIX {check_id}: its reason must name the parameter that fixes it or say 'nothing fixes this'")
for r in reports:
    summary = r.get("summary", {})
    results = r.get("results", {})
    for check in results.get("passed_checks", []):
        passed.add((check["check_id"], check["resource"].rsplit(".", 1)[0]))
    for check in results.get("failed_checks", []):
        where = f"{check['check_id']} {check['resource']} ({check['file_path'].lstrip('/')})"
        if check["check_id"] in skips:
            matched.add(check["check_id"])
            skipped.append(f"  skipped {where}")
        else:
            guideline = f"\n         {check['guideline']}" if check.get("guideline") else ""
            problems.append(f"FAILED  {where}: {check['check_name']}{guideline}")
    for path in results.get("parsing_errors", []):
        problems.append(f"PARSING ERROR {path}")
    if summary.get("parsing_errors", 0) and not results.get("parsing_errors"):
        problems.append(f"{summary['parsing_errors']} file(s) could not be parsed by checkov")
    if not summary.get("resource_count"):
        problems.append("checkov found no resource: the Bicep files were not read")
    print(
        f"checkov: {summary.get('passed', '?')} passed, {summary.get('failed', '?')} failed"
        f" ({len(skipped)} of them skipped on purpose), {summary.get('parsing_errors', '?')} parsing errors,"
        f" {summary.get('resource_count', '?')} resources"
    )

for check_id, resource_type in required:
    if (check_id, resource_type) in passed:
        print(f"  passed  {check_id} on {resource_type} (required)")
    else:
        problems.append(f"NOT PASSED {check_id} on {resource_type}: required to pass in this parameter set")
# Checks that raised inside checkov are left out of the report; they are only in its log.
with open(log_path, encoding="utf-8", errors="replace") as handle:
    for line in handle:
        found = re.search(r"Failed to run check (CKV2?_\w+) on (\S+)", line)
        if found:
            problems.append(f"CHECK ERROR {found.group(1)} on {found.group(2)}: checkov could not evaluate it (an expression it does not render?)")

print("\n".join(skipped))
if skips:
    print("reasons (scripts/check-infra.sh):")
for check_id, reason in skips.items():
    print(f"  {check_id:<13} {reason}")
for check_id in sorted(skips.keys() - matched):
    problems.append(f"STALE SKIP {check_id}: no longer fails in this parameter set; remove it from its list")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
}

lint isolation-off false "${SKIPPED_ALWAYS[@]}" "${SKIPPED_ISOLATION_OFF[@]}" --
lint isolation-on true "${SKIPPED_ALWAYS[@]}" "${SKIPPED_ISOLATION_ON[@]}" -- "${REQUIRED_ISOLATION_ON[@]}"

step "infra checks passed"
