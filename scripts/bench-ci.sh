#!/usr/bin/env bash
# CI check of what a sync costs, at small scale: the real handler (debug build, the one the tests
# already built) against the emulators, 2,000 people, 2 workspaces, 2 ms latency, in workspace mode and
# then in account mode (`--account-mode`: the same organisation, every workspace federated into one
# emulated Databricks account, `identities: "account"` with `mirrorGroups`). Fails when any phase of
# either mode sends more than 1.05 x the minimum requests to any API, or leaves writes undone. Counts
# only: times are printed but never judged here, CI machines are too noisy for that (see BENCHMARKS.md).
# Then the change-notification path (`sandbox latency --check`, below).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --locked --bin handler
cargo run --quiet --locked -p sandbox -- bench \
  --handler target/debug/handler \
  --users 2000 --groups 8 --workspaces 2 \
  --latency-ms 2 --scim-write-rate 1000 \
  --account-mode \
  --ready-starts 0 --no-markdown --check

# Change notifications, end to end (local host, Azurite, the Graph emulator's deliveries): a queued
# sync's requests against the minimum, and a burst of 50 notifications for one workspace making at most
# 2 syncs. Times are printed, not judged (BENCHMARKS.md, "Change notifications", has the measured ones).
cargo run --quiet --locked -p sandbox -- latency \
  --handler target/debug/handler \
  --workspaces 3 --changes 9 --users 50 --latency-ms 2 --check
