#!/usr/bin/env bash
# Supply-chain check of the workspace with cargo-deny (policy and reasons in deny.toml):
#   licenses  every crate's licence is in the allow-list (or its exception),
#   bans      no `*` version requirement, no OpenSSL; duplicate versions are warnings only,
#   sources   crates.io only, no git dependency.
# Advisories are NOT checked: the RustSec database is fetched from GitHub, which CI cannot reach.
# Installs the pinned cargo-deny under target/tools on first use (3 to 6 min on 2 shared cores; it
# has no optional features to leave out, so --no-default-features would not make it shorter).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

DENY_VERSION=0.20.2
TOOLS=${CARGO_TARGET_DIR:-target}/tools
DENY=$TOOLS/bin/cargo-deny

if [[ ! -x $DENY ]] || [[ $("$DENY" --version) != "cargo-deny $DENY_VERSION" ]]; then
    echo "deny: installing cargo-deny $DENY_VERSION under $TOOLS"
    start=$SECONDS
    cargo install --locked --version "$DENY_VERSION" cargo-deny --root "$TOOLS"
    echo "deny: installed in $((SECONDS - start)) s"
fi

# --workspace: the handler and the sandbox are both roots; --locked: a stale Cargo.lock is an
# error, not silently updated.
"$DENY" deny --workspace --all-features --locked check --hide-inclusion-graph licenses bans sources
echo "deny: PASS (licenses, bans, sources; advisories not checked, see deny.toml)"
