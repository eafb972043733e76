#!/usr/bin/env bash
# Measures a stage against limit_echo, the C epoll echo server in bench/limit_echo.c, both driven
# by `Client load` in the same run, and prints messages/s and the ratio. Figures on a shared
# machine drift from run to run; the ratio within one round is what to compare.
#
#   bench/compare-with-c.sh [STAGE] [MESSAGES_PER_RUN] [ROUNDS]
#   bench/compare-with-c.sh Stage3PriorityQueue 200000 3
#
# Each run sends MESSAGES_PER_RUN messages in all (20,000 per client with 10 clients, 2,000 with
# 100). SCRATCH names another build folder than .build (`swift build --scratch-path`). Stages 4
# to 6 admit 3 clients at once unless told otherwise, so they are started with --max-clients
# 200; Stages 1 to 3 have no such limit, and no such option. Stage 1 serves one client at a
# time: its other clients wait their turn, so its figures are for one client after another,
# whatever the clients column says.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-Stage3PriorityQueue}
messages=${2:-200000}
rounds=${3:-3}
scratch=${SCRATCH:-.build}

# bench/lib.sh builds bench/build/limit_echo, makes `work` (a temporary folder) with a clean-up
# on exit that ends every server started, and defines start(), which launches a server on port 0
# and sets `port`.
# shellcheck source=bench/lib.sh
. bench/lib.sh
swift build -c release --scratch-path "$scratch" --product "$stage" >/dev/null
swift build -c release --scratch-path "$scratch" --product Client >/dev/null

# The stages that have a client limit say so in their --help. 200, not 100: the last run's
# clients may still hold their places for a moment when the next run's clients connect.
limit=()
if grep -q -- '--max-clients' <<<"$("$scratch/release/$stage" --help 2>&1)"; then
    limit=(--max-clients 200)
fi
start bench/build/limit_echo 0
c_port=$port
start "$scratch/release/$stage" --port 0 "${limit[@]}"
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
