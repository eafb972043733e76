#!/usr/bin/env bash
# Measures a stage against the C epoll echo server, both driven by the C load generator, in the
# same run, and prints the ratio. The two C programs are measuring tools kept outside the package;
# pass the folder that holds loadgen.c and limit_echo.c (by default ../shared/tools).
#
#   bench/compare-with-c.sh [STAGE] [MESSAGES_PER_CLIENT] [TOOLS_DIR]
#   bench/compare-with-c.sh Stage3PriorityQueue 20000 ../shared/tools
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-Stage3PriorityQueue}
messages=${2:-20000}
tools=${3:-../shared/tools}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -o "$work/loadgen" "$tools/loadgen.c"
gcc -O2 -o "$work/limit_echo" "$tools/limit_echo.c"
swift build -c release --product "$stage" >/dev/null

# The stage prints `listening on HOST:PORT` first; wait for that line and read the port.
".build/release/$stage" --port 0 >"$work/out" 2>/dev/null &
pids+=($!)
stage_port=
for _ in $(seq 100); do
    stage_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/out" | head -1)
    [ -n "$stage_port" ] && break
    sleep 0.05
done
[ -n "$stage_port" ] || { echo "$stage did not start" >&2; exit 1; }
c_port=$((20000 + RANDOM % 20000))
"$work/limit_echo" "$c_port" >/dev/null 2>&1 &
pids+=($!)
sleep 0.2

rate() { sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p'; }
echo "| clients | C limit_echo msg/s | $stage msg/s | ratio |"
echo "|---|---|---|---|"
for clients in 10 100; do
    c=$("$work/loadgen" 127.0.0.1 "$c_port" "$clients" "$messages" | rate)
    s=$("$work/loadgen" 127.0.0.1 "$stage_port" "$clients" "$messages" | rate)
    ratio=$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2f", s / c }')
    echo "| $clients | $c | $s | $ratio |"
done
echo
echo "$(nproc) cores, $(date -u +%Y-%m-%d), $(swift --version 2>&1 | head -1)"
