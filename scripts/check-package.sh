#!/usr/bin/env bash
# CI check of the deployment zip: layout at the root, execute bit, a static binary, a bounded size.
set -euo pipefail
cd "$(dirname "$0")/.."
max_zip_kib=20480

out=$(bash scripts/package.sh sync-config.example.json)
echo "$out"
zip_path=$(echo "$out" | sed -n 's/^package: \(.*\.zip\) (.*/\1/p')
[ -f "$zip_path" ] || { echo "check-package: no zip at '$zip_path'" >&2; exit 1; }

listing=$(unzip -Z1 "$zip_path" | sort)
expected=$(printf '%s\n' SyncHttp/ SyncHttp/function.json SyncTimer/ SyncTimer/function.json handler host.json sync-config.json | sort)
if [ "$listing" != "$expected" ]; then
  echo "check-package: unexpected zip layout:" >&2
  diff <(echo "$expected") <(echo "$listing") >&2 || true
  exit 1
fi

mode=$(unzip -Z "$zip_path" handler | awk '{print $1}')
case "$mode" in
  -rwx*) ;;
  *) echo "check-package: handler is not executable in the zip ($mode)" >&2; exit 1 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -q "$zip_path" handler -d "$tmp"
if readelf -l "$tmp/handler" | grep -q 'Requesting program interpreter'; then
  echo "check-package: handler is dynamically linked:" >&2
  readelf -d "$tmp/handler" | grep NEEDED >&2 || true
  exit 1
fi
file "$tmp/handler"

size_kib=$(( $(stat -c %s "$zip_path") / 1024 ))
if [ "$size_kib" -gt "$max_zip_kib" ]; then
  echo "check-package: zip is ${size_kib} KiB, over the ${max_zip_kib} KiB budget" >&2
  exit 1
fi
echo "check-package: layout, execute bit, static binary and size (${size_kib} KiB) are right"
