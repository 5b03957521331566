#!/usr/bin/env bash
# The tests whose subject is timing (worker processes killed with SIGKILL,
# leases and heartbeats, the coordinator's lock, a PostgreSQL server
# restarted, SIGINT and SIGTERM, process limits), run again and again with
# busy loops beside them, as on a loaded CI machine. Every run must pass:
# a test that fails one run in N blocks every submission that meets it.
#
#   Tests/Benchmarks/stress.sh [RUNS] [HOGS]     (make stress RUNS=20 HOGS=2)
#
# RUNS: runs of the tests (default 20); HOGS: busy loops beside them
# (default 2, one per core here). STRESS_FILTER overrides the tests run.
# Prints one line per run, then "N passed, M failed". Logs of failed runs
# stay in .build/stress/.
set -uo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
HOGS=${2:-2}
FILTER=${STRESS_FILTER:-"WorkerTests|StoreTests|ProcessLimitTests|HostileInputTests/testTheRunFolderLockDiesWithItsSearch|SearchLoopTests/testASecondSearchOnARunningFolderIsRefused|SearchLoopTests/testAStoppedSearchContinuesAsIfUninterrupted"}
VENV_PYTHON=${NASC_VENV:-$HOME/.cache/nasc/venv}/bin/python

swift build --build-tests >/dev/null || { echo "stress: the build failed"; exit 1; }
mkdir -p .build/stress

hogs=()
for _ in $(seq "$HOGS"); do
  ( while :; do :; done ) &
  hogs+=($!)
done
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; }
trap stop_hogs EXIT

echo "stress: $RUNS run(s) of the tests matching '$FILTER', $HOGS busy loop(s) beside them, on $(nproc) core(s)"
passed=0 failed=0
for run in $(seq "$RUNS"); do
  log=.build/stress/run-$run.log
  start=$(date +%s)
  NASC_KERNEL_CACHE=$PWD/.build/test-kernel-cache NASC_TEST_PYTHON=$VENV_PYTHON \
    Tests/with-postgres.sh swift test --skip-build --disable-swift-testing --filter "$FILTER" >"$log" 2>&1
  status=$?
  tests=$(grep -Eo 'Executed [0-9]+ tests, with [0-9]+ failures' "$log" | tail -1)
  if [ $status -eq 0 ]; then
    passed=$((passed + 1)); rm -f "$log"
    echo "run $run: passed ($tests) in $(( $(date +%s) - start )) s"
  else
    failed=$((failed + 1))
    echo "run $run: FAILED ($tests) in $(( $(date +%s) - start )) s; log: $log"
    grep -E 'error: .*(XCT|failed)' "$log" | head -5 | sed 's/^/    /'
  fi
done
echo "stress: $RUNS runs beside $HOGS busy loop(s):"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
