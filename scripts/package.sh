#!/usr/bin/env bash
# Builds the deployment zip of the Functions app: host.json, handler (a static x86_64 Linux binary),
# SyncTimer/, SyncHttp/, SyncQueue/, SyncNotify/, SyncSubscriptions/ and sync-config.json at the zip's root, execute bit kept.
#   scripts/package.sh [CONFIG]     CONFIG defaults to sync-config.json (validated before packaging)
# Prints the zip's path and size. Used by azure.yaml (azd) and checked by scripts/check-package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-sync-config.json}
if [ ! -f "$config" ]; then
  echo "package: configuration $config not found: copy sync-config.example.json to sync-config.json and edit it, or pass a path" >&2
  exit 2
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' || echo target)

# musl gives a static binary that runs on any Linux image. Where the musl standard library is not
# installed (it cannot be fetched on our build machines), fall back to glibc linked statically.
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  triple=x86_64-unknown-linux-musl
  rustflags=${RUSTFLAGS:-}
else
  triple=x86_64-unknown-linux-gnu
  rustflags="-C target-feature=+crt-static ${RUSTFLAGS:-}"
  echo "package: warning: target x86_64-unknown-linux-musl is not installed (rustup target add x86_64-unknown-linux-musl);" \
       "building a statically linked glibc binary instead" >&2
fi
RUSTFLAGS=$rustflags cargo build --release --locked --quiet --bin handler --target "$triple"
binary=$target_dir/$triple/release/handler

stage=$target_dir/package/stage
zip_path=$target_dir/package/entra-databricks-sync.zip
rm -rf "$stage" "$zip_path"
mkdir -p "$stage"
cp host.json "$stage/"
cp -r SyncTimer SyncHttp SyncQueue SyncNotify SyncSubscriptions "$stage/"
cp "$binary" "$stage/handler"
chmod 755 "$stage/handler"
cp "$config" "$stage/sync-config.json"

# The packaged binary validates the packaged configuration: a broken file never gets deployed.
"$stage/handler" check-config --config "$stage/sync-config.json" >/dev/null

(cd "$stage" && zip -q -X -r "$zip_path" host.json handler SyncTimer SyncHttp SyncQueue SyncNotify SyncSubscriptions sync-config.json)
size=$(stat -c %s "$zip_path")
echo "package: $zip_path ($((size / 1024)) KiB, handler for $triple)"
