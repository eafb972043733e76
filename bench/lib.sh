# shellcheck shell=bash
# What compare-with-c.sh and stage6.sh share, sourced by both from the repository's root once
# they have parsed their arguments: one copy, so a fix to it reaches both.
#
#   1. Builds limit_echo with the system's C compiler into bench/build/, which git ignores: it is
#      a measuring tool, not part of the Swift package.
#   2. Makes `work`, a temporary folder for the servers' logs, and a clean-up on exit that ends
#      every server start() launched, waits for it, and removes `work`.
#   3. Defines start().

mkdir -p bench/build
cc -O2 -o bench/build/limit_echo bench/limit_echo.c

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # The stages end on SIGTERM after a graceful shutdown; waiting means none outlives the script.
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# start COMMAND [ARGUMENTS...] launches a server that listens on port 0, adds its pid to `pids`,
# and sets `port` from its first line, `listening on HOST:PORT`. Its standard output goes to
# $work/NAME.out (NAME is the command's last path component), as a service's log would: the
# stages log every message. Its standard error goes to $work/NAME.err, shown if it never listens.
start() {
    local name log pid status
    name=$(basename "$1")
    log=$work/$name.out
    : >"$log"  # Before the server starts: `sed` below may run before the child opens it.
    "$@" >"$log" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
        [ -n "$port" ] && return
        # A server that has exited will never listen: say so now, not after the five seconds.
        if ! kill -0 "$pid" 2>/dev/null; then
            status=0
            wait "$pid" || status=$?
            echo "$name exited (status $status) before it printed its listening line:" >&2
            cat "$work/$name.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "$name did not print its listening line within 5 seconds" >&2
    exit 1
}
