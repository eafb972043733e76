#!/usr/bin/env bash
# The workshop: build a stage yourself in Sources/Workshop, and let that stage's tests judge it.
#
#   scripts/workshop.sh start N [--force]     put the starting point for Stage N in Sources/Workshop:
#                                             the finished Stage N-1, or for Stage 1 a skeleton
#   scripts/workshop.sh test N [OPTIONS...]   run Stage N's tests and the contract tests against
#                                             Workshop; OPTIONS go to `swift test`
#
# `start` refuses to replace work of yours: it overwrites Sources/Workshop only when it holds
# exactly what some `start` put there (or nothing), unless --force is given.
# docs/workshop.md explains it all.
set -euo pipefail
cd "$(dirname "$0")/.."

workshop=Sources/Workshop

usage() {
    sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

stage_number() {
    [[ "${1:-}" =~ ^[1-6]$ ]] || { echo "error: the stage must be a number from 1 to 6" >&2; usage; }
}

# The Stage 1 skeleton: options, the listening socket and the `listening on` line the tests
# read the port from; serving clients is the learner's part.
write_skeleton() {
    cat >"$1/main.swift" <<'EOF'
// Workshop: your own server, judged by the same tests as the finished stages.
//
// This is the starting point for Stage 1 (docs/workshop.md says how to start any other stage,
// docs/01-single-thread.md what Stage 1 must do). It parses the options, listens, and says where
// it listens; serving clients is yours to write. Then run its tests:
//
//     scripts/workshop.sh test 1
import Glibc
import Net

let options = ServerOptions.parseOrExit(program: "Workshop")

let listener = Listener.openOrExit(host: options.host, port: options.port)
// The tests wait for this line to learn the port: it must come first.
log("listening on \(listener.address)")

// Your Stage 1, one step at a time:
// 1. Accept a client (`listener.accept()`) and log `[client-0] connected from ADDRESS`.
// 2. Read its lines (`LineReader`), log each one, and send it back (`sendAll`).
// 3. When it leaves, log `[client-0] disconnected` and accept the next client.
while true {
    // Until then, the server only waits; clients queue up in the backlog and hear nothing.
    pause()
}
EOF
}

# Writes into directory $2 what `start $1` puts in Sources/Workshop.
write_start() {
    local number=$1 into=$2
    if [[ $number == 1 ]]; then
        write_skeleton "$into"
        return
    fi
    local previous
    previous=$(ls -d Sources/Stage$((number - 1))*/)
    cp "$previous"*.swift "$into"/
    # The finished stage's own name becomes Workshop's, in its usage and error messages, which
    # the option tests check.
    local name
    name=$(basename "$previous")
    sed -i "s/program: \"$name\"/program: \"Workshop\"/" "$into"/*.swift
}

# True when Sources/Workshop holds nothing, or exactly what one of the `start` commands writes.
untouched() {
    [[ -z "$(ls -A "$workshop" 2>/dev/null)" ]] && return 0
    local number scratch
    for number in 1 2 3 4 5 6; do
        [[ $number == 1 ]] || ls -d Sources/Stage$((number - 1))*/ >/dev/null 2>&1 || continue
        scratch=$(mktemp -d)
        write_start "$number" "$scratch"
        if diff -r "$scratch" "$workshop" >/dev/null; then
            rm -rf "$scratch"
            return 0
        fi
        rm -rf "$scratch"
    done
    return 1
}

command=${1:-}
shift || true
case "$command" in
start)
    stage_number "${1:-}"
    number=$1
    force=${2:-}
    [[ -z "$force" || "$force" == --force ]] || usage
    if [[ "$force" != --force ]] && ! untouched; then
        echo "error: $workshop holds work of yours; keep it (commit it, or copy it elsewhere)," >&2
        echo "then run again with --force to replace it." >&2
        exit 1
    fi
    rm -rf "$workshop"
    mkdir -p "$workshop"
    write_start "$number" "$workshop"
    if [[ $number == 1 ]]; then
        echo "$workshop: the Stage 1 skeleton. Next: scripts/workshop.sh test 1"
    else
        echo "$workshop: a copy of Stage $((number - 1)). Next: scripts/workshop.sh test $number"
    fi
    ;;
test)
    stage_number "${1:-}"
    number=$1
    shift
    # Every suite up to Stage N: those for other stages than N skip themselves, and the suites
    # of earlier stages that also judge later ones (Stage 3's, Stage 4's) run once, against
    # Workshop.
    echo "WORKBOOK_STAGE=$number swift test --filter 'Stage[1-$number]Tests|ContractTests' $*"
    WORKBOOK_STAGE=$number exec swift test --filter "Stage[1-$number]Tests|ContractTests" "$@"
    ;;
*)
    usage
    ;;
esac
