# The assertions of the scripts' own tests (test-preflight.sh, test-provision.sh), sourced by them. A test
# sets `out` and `status` (its `run`), between `begin NAME` and `end`; `summary` prints the closing line
# "N passed, N failed" and fails if any case did. Works with bash 3.2.
passed=0
failed=0
case_name=
case_ok=1
out=
status=

begin() { case_name=$1; case_ok=1; }
fail() { case_ok=0; echo "  $case_name: $*"; }
expect_status() { [ "$status" = "$1" ] || fail "exit status $status, expected $1"; }
expect_line() { printf '%s\n' "$out" | grep -Fx -- "$1" >/dev/null || fail "no line: $1"; }
expect_no_line() { ! printf '%s\n' "$out" | grep -E -- "$1" >/dev/null || fail "unexpected line matching $1: $(printf '%s\n' "$out" | grep -E -- "$1" | head -n 1)"; }
expect_count() { local n; n=$(printf '%s\n' "$out" | grep -c -E -- "$1"); [ "$n" = "$2" ] || fail "$n lines match $1, expected $2"; }
end() {
  if [ "$case_ok" = 1 ]; then
    passed=$((passed + 1)); echo "ok   $case_name"
  else
    failed=$((failed + 1)); echo "FAIL $case_name"; printf '%s\n' "$out" | sed 's/^/    | /'
  fi
}
summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
