"""Judges the output of ``scim2 ... test`` (scim2-cli / scim2-tester) against an allow-list.

Usage: python tester_verdict.py OUTPUT_FILE RESOURCE_TYPES < ALLOW_LIST

RESOURCE_TYPES names the resource types in the order of the resource-types file (e.g.
``User,Group,ServicePrincipal``): scim2-tester runs the discovery checks first (resource ``-``),
then each resource type's checks starting with ``object_creation``, and the CLI prints only the
titles, so the resource of a result is told by counting ``object_creation`` lines.

ALLOW_LIST lines (``#`` comments and blank lines ignored):
``RESOURCE | TITLE | REASON_REGEX | WHY`` (bars with blanks around them) where RESOURCE is ``-``, a resource type or ``*``, and
REASON_REGEX must match the start of the result's reason, in which UUIDs and long numeric ids read
``<id>``. A failed result (status DEVIATION, ERROR or CRITICAL) must match an entry; an entry must
match at least one failed result (so the list stays true when a check starts to pass). Exits 0 when
both hold, 1 otherwise, printing why.
"""

import re
import sys

PASSING = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}
STATUS = re.compile(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL) (\S+)$")
IDS = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b[0-9]{10,}\b"), "<id>"),
]


def normalise(text):
    for pattern, replacement in IDS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def results(lines, resource_types):
    found, resource, creations = [], "-", 0
    for line in lines:
        match = STATUS.match(line.rstrip("\n"))
        if match:
            status, title = match.groups()
            if title == "object_creation":
                creations += 1
                resource = (
                    resource_types[creations - 1]
                    if creations <= len(resource_types)
                    else f"resource#{creations}"
                )
            found.append({"status": status, "title": title, "resource": resource, "reason": ""})
        elif found:
            found[-1]["reason"] += " " + line.strip()
    for result in found:
        result["reason"] = normalise(result["reason"])
    return found


def allow_list(text):
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # Fields are separated by a bar with blanks around it; a regex alternation has none.
        parts = [p.strip() for p in re.split(r"\s+\|\s+", line, maxsplit=3)]
        if len(parts) != 4:
            sys.exit(f"allow-list line {number}: expected RESOURCE | TITLE | REASON_REGEX | WHY")
        resource, title, regex, why = parts
        entries.append({"resource": resource, "title": title, "regex": re.compile(regex), "why": why, "hits": 0})
    return entries


def main():
    output_file, resource_types = sys.argv[1], sys.argv[2].split(",")
    with open(output_file, encoding="utf-8") as f:
        found = results(f, resource_types)
    entries = allow_list(sys.stdin.read())
    if not found:
        print("FAIL scim2-tester: no check result in its output (discovery failed?)")
        return 1
    unexpected = []
    for result in found:
        if result["status"] in PASSING:
            continue
        matching = [
            e
            for e in entries
            if e["resource"] in ("*", result["resource"])
            and e["title"] == result["title"]
            and e["regex"].match(result["reason"])
        ]
        for entry in matching:
            entry["hits"] += 1
        if not matching:
            unexpected.append(result)
    stale = [e for e in entries if e["hits"] == 0]
    failed = [r for r in found if r["status"] not in PASSING]
    print(
        f"scim2-tester: {len(found)} checks, {len(found) - len(failed)} passed, "
        f"{len(failed)} failed ({len(failed) - len(unexpected)} allow-listed: Databricks differs from the RFC, or a reported emulator gap)"
    )
    for r in unexpected:
        print(f"FAIL scim2-tester: {r['status']} {r['resource']} {r['title']}: {r['reason']} (not in the allow-list)")
    for e in stale:
        print(
            f"FAIL scim2-tester: allow-listed {e['resource']} {e['title']} /{e['regex'].pattern}/ no longer fails: "
            "remove it from the list in scripts/conformance.sh"
        )
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
