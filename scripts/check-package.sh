#!/usr/bin/env bash
# CI check of the deployment zip: layout at the root, execute bit, a static binary, a bounded size, and
# the binary taken out of the zip syncing the emulated world by host name without glibc's NSS
# (tests/it/package.rs, under strace; installed here with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
max_zip_kib=20480

out=$(bash scripts/package.sh sync-config.example.json)
echo "$out"
zip_path=$(echo "$out" | sed -n 's/^package: \(.*\.zip\) (.*/\1/p')
[ -f "$zip_path" ] || { echo "check-package: no zip at '$zip_path'" >&2; exit 1; }

listing=$(unzip -Z1 "$zip_path" | sort)
expected=$(printf '%s\n' SyncHttp/ SyncHttp/function.json SyncNotify/ SyncNotify/function.json SyncQueue/ SyncQueue/function.json SyncSubscriptions/ SyncSubscriptions/function.json SyncTimer/ SyncTimer/function.json handler host.json sync-config.json | sort)
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

if ! command -v strace >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "check-package: installing strace (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
  else
    echo "check-package: strace is needed to show that the packaged handler resolves names without NSS; install it" >&2
    exit 1
  fi
fi
PACKAGE_ZIP=$(realpath "$zip_path") cargo test --locked --quiet --test it -- --ignored --exact \
  package::the_handler_in_the_package_zip_syncs_by_host_name_without_glibc_nss
echo "check-package: the packaged handler synced the emulated world, names resolved without NSS"
