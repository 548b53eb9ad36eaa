#!/usr/bin/env bash
# `npm run test:cgroup2`: the cgroup, sandbox and judge tests on a real cgroup-v2 kernel. The
# build hosts are cgroup v1, so ../shared/tools/cgroup2-vm boots a throwaway v2-only guest
# (QEMU, software-emulated: 6-35x slower) with the repository shared at the same path.
# Expects `tsc` to have run on the host (npm run test:cgroup2 does that first).
#
# Two placements, because the v2 backend behaves differently in each:
#   root     the service in the root cgroup (a container with --cgroupns=private, a bare host)
#   service  the service in /system.slice/gavel.service with controllers delegated, as systemd
#            places it: the backend must first move itself into a leaf (no-internal-process rule)
#
# Environment:
#   GAVEL_CGROUP2_TESTS      space-separated test names (default: cgroup sandbox judge signals init-refusals)
#   GAVEL_CGROUP2_SERVICE_TESTS  the subset for the service placement (default: cgroup sandbox)
#   GAVEL_CGROUP2_TIMEOUT    guest timeout in seconds per placement (default 2400)
set -uo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
cd "$root"
vm="$root/../shared/tools/cgroup2-vm"
if [ ! -x "$vm" ]; then
  echo "test-cgroup2: $vm not found; it comes with the project's shared/ directory beside the repository (see ../shared/README.md)" >&2
  echo "cgroup2: 0 passed, 1 failed"
  exit 1
fi

timeout=${GAVEL_CGROUP2_TIMEOUT:-2400}
# Test files the guest runs; those not compiled yet are skipped with a note.
pick() {
  local out=() name
  for name in $1; do
    if [ -f "dist/test/$name.test.js" ]; then out+=("dist/test/$name.test.js")
    else echo "test-cgroup2: dist/test/$name.test.js not found (not written yet, or tsc not run): skipped" >&2; fi
  done
  echo "${out[@]}"
}
all=$(pick "${GAVEL_CGROUP2_TESTS:-cgroup sandbox judge signals init-refusals}")
service=$(pick "${GAVEL_CGROUP2_SERVICE_TESTS:-cgroup sandbox}")
if [ -z "$all" ]; then
  echo "test-cgroup2: no test files to run; run tsc first (npm run test:cgroup2 does)" >&2
  echo "cgroup2: 0 passed, 1 failed"
  exit 1
fi

log=$(mktemp -d /tmp/gavel-cgroup2.XXXXXX)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
status=0

# run NAME FILES [cgroup2-vm options...]: one guest boot; counts the node test runner's totals.
run() {
  local name=$1 files=$2; shift 2
  local start=$SECONDS rc
  echo "=== cgroup2 [$name] ===" >&2
  # Inside the guest the tests run one file at a time: they create cgroups under their own
  # names, but the emulated CPUs are few and slow, and timing margins are already stretched.
  # The guest sees only the share, not this /tmp: keep a copy of its output here and read the
  # spec reporter's closing totals from it.
  # shellcheck disable=SC2086  # $files is a word list on purpose
  "$vm" --mem 3072 --timeout "$timeout" -e GAVEL_CGROUP2_VM=1 "$@" -- \
    node --test --test-concurrency=1 --test-timeout=$((timeout * 1000)) --test-reporter=spec $files \
    | tee "$log/$name.out"
  rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -aE '^. pass [0-9]+$' "$log/$name.out" | awk '{s+=$3} END {print s+0}')
  f=$(grep -aE '^. fail [0-9]+$' "$log/$name.out" | awk '{s+=$3} END {print s+0}')
  case $rc in
    0) ;;
    124) echo "test-cgroup2 [$name]: the guest hit --timeout ${timeout}s (raise GAVEL_CGROUP2_TIMEOUT)" >&2 ;;
    125) echo "test-cgroup2 [$name]: the guest or cgroup2-vm failed (see the [guest console] lines above)" >&2 ;;
    *) echo "test-cgroup2 [$name]: tests failed (exit $rc)" >&2 ;;
  esac
  # A run that died before reporting still counts as a failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
  echo "=== cgroup2 [$name]: $p passed, $f failed, exit $rc, $((SECONDS - start)) s ===" >&2
}

run root "$all"
if [ -n "$service" ]; then run service "$service" --cgroup /system.slice/gavel.service; fi

echo "cgroup2: $passed passed, $failed failed"
exit $status
