#!/usr/bin/env bash
# Fuzzes the parsers of outside input for a short time each (fuzz/, docs/reliability.md "Fuzzing"):
#   payload        the Functions host's invocation JSON (timer and HTTP trigger)
#   config         the configuration file, parsed, re-described and parsed again
#   config_secret  a scimToken that is not a clean https URL is never echoed
#   scim, graph    Databricks SCIM and Microsoft Graph answers
#   retry_after    the Retry-After header
#   notification   SyncNotify's body and a work-queue message
# 1. installs the pinned cargo-fuzz under target/tools (first time: about 1 min here);
# 2. builds every target once with the nightly toolchain (first time: about 4 min on 2 shared cores);
# 3. runs each target for FUZZ_SECONDS (default 10) from its seeds (fuzz/seeds/) and the corpus kept
#    in target/fuzz-corpus/ by earlier runs. Exits non-zero if any target crashes (a panic, a
#    failed property, a time-out or running out of memory); the input is saved in fuzz/artifacts/.
# FUZZ_TARGETS="config scim" runs only those; FUZZ_SECONDS=300 is a longer run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

FUZZ_VERSION=0.13.2
TARGET_DIR=${CARGO_TARGET_DIR:-target}
TOOLS=$TARGET_DIR/tools
BUILD_DIR=$TARGET_DIR/fuzz
CORPUS=$TARGET_DIR/fuzz-corpus
LOGS=$TARGET_DIR/fuzz-logs
SECONDS_EACH=${FUZZ_SECONDS:-10}
read -r -a TARGETS <<<"${FUZZ_TARGETS:-payload config config_secret scim graph retry_after notification}"
# Safe Rust parsers: AddressSanitizer would find little and costs build and run time; panics and
# failed assertions are what is looked for. Debug assertions and overflow checks stay on.
FLAGS=(--sanitizer none --target-dir "$BUILD_DIR")

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: a nightly toolchain is needed (rustup toolchain install nightly --profile minimal)" >&2
    exit 2
fi
export PATH="$PWD/$TOOLS/bin:$PATH"
if [[ $(cargo-fuzz --version 2>/dev/null) != "cargo-fuzz $FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $FUZZ_VERSION under $TOOLS"
    start=$SECONDS
    cargo install --locked --version "$FUZZ_VERSION" cargo-fuzz --root "$TOOLS"
    echo "fuzz: installed in $((SECONDS - start)) s"
fi

# fuzz/Cargo.lock is committed: it must be current, as the main Cargo.lock is with --locked.
cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

start=$SECONDS
cargo +nightly fuzz build "${FLAGS[@]}"
echo "fuzz: built in $((SECONDS - start)) s"

mkdir -p "$LOGS"
runs_start=$SECONDS
FAILURES=()
SUMMARY=()
for target in "${TARGETS[@]}"; do
    mkdir -p "$CORPUS/$target"
    dirs=("$CORPUS/$target")
    [[ -d fuzz/seeds/$target ]] && dirs+=("fuzz/seeds/$target")
    # The JSON targets get the dictionary; config_secret's input is structured by `arbitrary`.
    dict=()
    [[ $target != config_secret && $target != retry_after ]] && dict=(-dict=fuzz/json.dict)
    log=$LOGS/$target.log
    echo "fuzz: $target for ${SECONDS_EACH} s"
    if cargo +nightly fuzz run "${FLAGS[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" >"$log" 2>&1; then
        SUMMARY+=("$(printf '%-14s %s' "$target" "$(grep -m1 '^Done ' "$log" || echo '(no summary)')")")
    else
        echo "---- $target:"
        grep -v '^#[0-9]' "$log" | tail -40
        echo "----"
        FAILURES+=("$target (log: $log)")
        SUMMARY+=("$(printf '%-14s %s' "$target" CRASHED)")
    fi
done

printf '\n== fuzz results (%s s each)\n' "$SECONDS_EACH"
printf '%s\n' "${SUMMARY[@]}"
printf 'runs %s s, total %s s\n' "$((SECONDS - runs_start))" "$SECONDS"
if ((${#FAILURES[@]})); then
    printf 'fuzz: FAIL: %s\n' "${FAILURES[@]}"
    exit 1
fi
echo "fuzz: PASS"
