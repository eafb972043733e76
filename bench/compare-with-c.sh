#!/usr/bin/env bash
# Measures a stage against limit_echo, the C epoll echo server in bench/limit_echo.c, both driven
# by `Client load` in the same run, and prints messages/s and the ratio. Figures on a shared
# machine drift from run to run; the ratio within one round is what to compare.
#
#   bench/compare-with-c.sh [STAGE] [MESSAGES_PER_RUN] [ROUNDS]
#   bench/compare-with-c.sh Stage3PriorityQueue 200000 3
#
# Each run sends MESSAGES_PER_RUN messages in all (20,000 per client with 10 clients, 2,000 with
# 100). limit_echo is built with the system's C compiler into bench/build/, which git ignores:
# it is a measuring tool, not part of the Swift package. SCRATCH names another build folder than
# .build (`swift build --scratch-path`).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-Stage3PriorityQueue}
messages=${2:-200000}
rounds=${3:-3}
scratch=${SCRATCH:-.build}
mkdir -p bench/build
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -o bench/build/limit_echo bench/limit_echo.c
swift build -c release --scratch-path "$scratch" --product "$stage" >/dev/null
swift build -c release --scratch-path "$scratch" --product Client >/dev/null

# Starts a server on port 0 (its pid goes into `pids`, for the clean-up) and sets `port` from its
# first line, `listening on HOST:PORT`.
start() {
    local log
    log=$work/$(basename "$1").out
    "$@" >"$log" 2>/dev/null &
    pids+=($!)
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
        [ -n "$port" ] && return
        sleep 0.05
    done
    echo "$1 did not start" >&2
    exit 1
}
start bench/build/limit_echo 0
c_port=$port
start "$scratch/release/$stage" --port 0
stage_port=$port

# messages/s from the summary of one `Client load` run.
rate() {
    "$scratch/release/Client" load --port "$1" --clients "$2" --messages $((messages / $2)) 2>/dev/null |
        sed -n 's/^messages\/s *//p'
}
echo "| round | clients | C limit_echo msg/s | $stage msg/s | ratio |"
echo "| --- | ---: | ---: | ---: | ---: |"
for round in $(seq "$rounds"); do
    for clients in 10 100; do
        c=$(rate "$c_port" "$clients")
        s=$(rate "$stage_port" "$clients")
        ratio=$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2f", s / c }')
        echo "| $round | $clients | $c | $s | $ratio |"
    done
done
echo
echo "$(nproc) cores, $(date -u +%Y-%m-%d), $(swift --version 2>&1 | head -1)"
