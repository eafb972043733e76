#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 10) while a second copy of the suite runs
# alongside, over and over, as contention: the load that exposes tests which pass only when the
# machine is quiet. Prints one line per run (number, pass or fail, failing tests, seconds) and a
# total; exits 1 if any run failed.
#
#   scripts/contention-test.sh [N] [--scratch-path DIR]
#
# The measured runs use DIR (default .build); the contending copy uses DIR-contention, so the
# two never share build products.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N] [--scratch-path DIR]" >&2; exit 64; }
shift || true
scratch=.build
if [[ "${1:-}" == --scratch-path && -n "${2:-}" ]]; then
    scratch=$2
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [N] [--scratch-path DIR]" >&2
    exit 64
fi
contention=$scratch-contention
work=$(mktemp -d)

echo "building the suite twice ($scratch, $contention)"
for dir in "$scratch" "$contention"; do
    swift build --build-tests --scratch-path "$dir" >"$work/build.log" 2>&1 ||
        { cat "$work/build.log"; exit 1; }
done

contention_dir=$(cd "$contention" && pwd)

# The contending copy: the same suite, again and again, until the measured runs are done. It runs
# in a session of its own, so that it ends with every process it started.
setsid bash -c "while true; do swift test --skip-build --scratch-path '$contention'; done" \
    >/dev/null 2>&1 &
contender=$!
stop_contender() {
    kill -TERM -- "-$contender" 2>/dev/null || true
    wait "$contender" 2>/dev/null || true
    # A server that the stopped run had started lives in a process group of its own (Foundation's
    # Process gives it one): end each one still running from the contending build.
    local process
    for process in /proc/[0-9]*; do
        if [[ "$(readlink "$process/exe" 2>/dev/null)" == "$contention_dir/"* ]]; then
            kill "${process#/proc/}" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap stop_contender EXIT
logs=$scratch/contention-logs
mkdir -p "$logs"

failed=0
total_start=$SECONDS
for run in $(seq 1 "$runs"); do
    start=$SECONDS
    if swift test --skip-build --scratch-path "$scratch" >"$work/run.log" 2>&1; then
        result=pass
        names=
    else
        result=FAIL
        failed=$((failed + 1))
        # Swift Testing marks a failed test `✘ Test NAME(...) failed`; XCTest, `error: ...`.
        names=$(awk '/✘ Test / { sub(/.*✘ Test /, ""); sub(/[^A-Za-z0-9_].*/, "")
            if ($0 != "run") print }' "$work/run.log" | sort -u | paste -sd ' ' -)
        [[ -n "$names" ]] || names=$(grep -m3 'error' "$work/run.log" | paste -sd ' ' -)
        cp "$work/run.log" "$logs/run-$run.log"
    fi
    printf 'run %2d  %s  %4ds  %s\n' "$run" "$result" $((SECONDS - start)) "$names"
done
echo "total: $((runs - failed)) of $runs passed, $failed failed, $((SECONDS - total_start))s" \
    "(the log of a failed run: $logs/run-N.log)"
[[ $failed -eq 0 ]]
