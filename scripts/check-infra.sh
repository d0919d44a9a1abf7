#!/usr/bin/env bash
# Infrastructure checks, run by .ci/run: every Bicep file under infra/ parses, and checkov reports no
# failed check on infra/. The Bicep CLI cannot be installed on our machines (it downloads a .NET binary
# at install time), so this is a syntax check (pycep-parser) and a security lint (checkov), not a
# compilation: type errors and wrong property names are only caught by `az deployment ... what-if`.
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

# Checks skipped on purpose, one per line: ID, then why. Every other failed check fails this script.
SKIPPED_CHECKS=(
  # Storage account (host storage and deployment container).
  "CKV_AZURE_35  storage: default network action Deny needs VNet integration + private endpoints; without them the Flex Consumption app reaches its host storage over the public endpoint. Shared-key access is off, so every request needs Microsoft Entra authentication."
  "CKV_AZURE_59  storage: public network access is needed for the same reason as CKV_AZURE_35 (no VNet in this deployment)."
  "CKV_AZURE_206 storage: locally redundant on purpose; it holds only re-creatable state (timer leases, function keys, the deployment package that the next deploy uploads again)."
  # Key Vault.
  "CKV_AZURE_109 key vault: a firewall with default Deny needs the app in a VNet (Flex VNet integration + private endpoint); access is by Azure RBAC with Entra tokens only, purge protection is on."
  "CKV_AZURE_189 key vault: public network access is needed for the same reason as CKV_AZURE_109."
  # Function app and its plan.
  "CKV_AZURE_78  function app: checks siteConfig.ftpsState, which Flex Consumption deprecates (no FTPS there); FTP and SCM basic-auth publishing are off through basicPublishingCredentialsPolicies instead."
  "CKV_AZURE_16  function app: App Service Authentication would force callers of SyncHttp to present Entra tokens; SyncHttp uses function keys (authLevel function), as docs/deploy.md documents."
  "CKV_AZURE_17  function app: incoming client certificates do not apply; SyncHttp is protected by function keys over HTTPS."
  "CKV_AZURE_222 function app: operators call SyncHttp over the public endpoint; a private endpoint needs a VNet this deployment does not create."
  "CKV_AZURE_212 function app: a minimum instance count means always-ready (billed) instances; a scheduled sync tolerates a cold start and a missed tick is caught up by the timer."
  "CKV_AZURE_213 function app: App Service health checks serve load-balanced web front ends; the Functions host itself pings and restarts the custom handler."
  "CKV_AZURE_225 plan: zone redundancy on Flex Consumption needs always-ready instances in every zone; not worth it for an hourly batch job."
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

step "lint: checkov $CHECKOV_VERSION on $INFRA/"
report=target/checkov-report.json
# checkov exits 1 on failed checks but 0 on files it cannot parse: judge by the JSON report instead.
# It runs without --skip-check; SKIPPED_CHECKS is applied below, so a skip that no longer matches any
# failure is noticed (and has to be removed from the list).
set +e
"$VENV/bin/checkov" -d "$INFRA" --framework bicep --skip-download --compact -o json \
  >"$report" 2>target/checkov-stderr.log
checkov_status=$?
set -e
if [[ ! -s "$report" ]]; then
  echo "checkov wrote no report (exit $checkov_status):" >&2
  cat target/checkov-stderr.log >&2
  exit 1
fi

"$VENV/bin/python" - "$report" "${SKIPPED_CHECKS[@]}" <<'PY'
import json
import sys

report_path, *skip_entries = sys.argv[1:]
skips = {}
for entry in skip_entries:
    check_id, _, reason = entry.partition(" ")
    skips[check_id] = reason.strip()

with open(report_path, encoding="utf-8") as handle:
    report = json.load(handle)
# One framework gives an object, several a list of them.
reports = report if isinstance(report, list) else [report]
reports = [r for r in reports if r.get("check_type") in (None, "bicep")]
if not reports:
    sys.exit("checkov reported nothing for the bicep framework")

problems, skipped, matched = [], [], set()
for r in reports:
    summary = r.get("summary", {})
    results = r.get("results", {})
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

print("\n".join(skipped))
print("reasons (SKIPPED_CHECKS in scripts/check-infra.sh):")
for check_id, reason in skips.items():
    print(f"  {check_id:<13} {reason}")
for check_id in skips.keys() - matched:
    problems.append(f"STALE SKIP {check_id}: no longer fails; remove it from SKIPPED_CHECKS")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY

step "infra checks passed"
