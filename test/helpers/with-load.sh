#!/usr/bin/env bash
# Runs a command with the machine loaded: IRQLAB_TEST_LOAD=N starts N busy
# loops (one per CPU makes both CPUs of a 2-core machine busy) for as long as
# the command runs, so the suites are tried the way a shared CI machine runs
# them. Without IRQLAB_TEST_LOAD (or with 0) the command runs as it is.
#   IRQLAB_TEST_LOAD=2 make test
set -euo pipefail
n="${IRQLAB_TEST_LOAD:-0}"
[[ "$n" =~ ^[0-9]+$ ]] || { echo "IRQLAB_TEST_LOAD must be a number of busy loops, got '$n'" >&2; exit 2; }
pids=()
cleanup() { [[ ${#pids[@]} -eq 0 ]] || kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
if [[ "$n" -gt 0 ]]; then
    for ((i = 0; i < n; i++)); do
        # A plain shell loop: pure CPU, no I/O, the kind of neighbour a CI runner has.
        bash -c 'while :; do :; done' &
        pids+=($!)
    done
    echo "[test] with $n busy loop(s) (IRQLAB_TEST_LOAD=$n): pids ${pids[*]}" >&2
fi
"$@"
