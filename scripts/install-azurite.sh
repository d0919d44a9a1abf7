#!/usr/bin/env bash
# Installs Azurite (the Azure Storage emulator), pinned by tools/azurite/package-lock.json, under
# ${CARGO_TARGET_DIR:-target}/azurite, and prints the path of its `azurite` command. Reused while the
# pinned files and the Node version are unchanged. The sandbox (sandbox/src/azurite.rs) runs this
# script itself when it needs Azurite and finds none, so `cargo test` works on a fresh clone; CI runs
# it first so that the install is one step of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
DIR=$TARGET_DIR/azurite
fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }
want=$(fingerprint tools/azurite/package.json tools/azurite/package-lock.json <(node --version))
if [[ ! -x $DIR/node_modules/.bin/azurite || $(cat "$DIR/.installed" 2>/dev/null) != "$want" ]]; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cp tools/azurite/package.json tools/azurite/package-lock.json "$DIR/"
    # No install scripts: Azurite needs none (its one dependency with a script only prints a notice).
    (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$DIR/.installed"
    echo "npm: installed azurite $(node -p "require('./$DIR/node_modules/azurite/package.json').version") into $DIR" >&2
fi
echo "$(cd "$DIR" && pwd)/node_modules/.bin/azurite"
