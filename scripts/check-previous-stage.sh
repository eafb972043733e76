#!/usr/bin/env bash
# Runs each stage's tests against the stage before it (Stage 2's against Stage1SingleThread, and
# so on), the way a learner's unfinished server is judged, and checks that exactly the tests
# listed in docs/workshop.md's table fail: a stage's lesson must be caught, and the table must
# stay true.
#
#   scripts/check-previous-stage.sh [--print] [SWIFT OPTIONS...]
#
# --print shows the failing tests of each stage without comparing. SWIFT OPTIONS (such as
# --scratch-path DIR) go to `swift build` and `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

print=false
if [[ "${1:-}" == --print ]]; then
    print=true
    shift
fi

table=docs/workshop.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

swift build --build-tests "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

# The failing tests of one run, as `Suite.test`, one per line, sorted.
failing() {
    awk '
        /<testcase / {
            match($0, /classname="[^"]*"/); suite = substr($0, RSTART + 11, RLENGTH - 12)
            sub(/.*\./, "", suite)
            match($0, / name="[^"]*"/); name = substr($0, RSTART + 7, RLENGTH - 8)
            sub(/\(.*/, "", name)
        }
        /<failure/ { print suite "." name }
    ' "$1" | sort -u
}

# The tests the table lists for stage $1: the `Suite.test` names in backticks on its row.
listed() {
    grep -E "^\| $1 \|" "$table" | cut -d'|' -f3 | grep -oE '`[A-Za-z0-9]+\.[A-Za-z0-9]+`' |
        tr -d '`' | sort -u
}

status=0
for number in 2 3 4 5 6; do
    previous=$(ls -d Sources/Stage$((number - 1))*/ 2>/dev/null | xargs -r basename)
    [[ -n "$previous" ]] && ls -d Sources/Stage${number}*/ >/dev/null 2>&1 || continue
    WORKBOOK_STAGE=$number WORKBOOK_SERVER=$previous swift test --skip-build "$@" \
        --filter "Stage[1-$number]Tests|ContractTests" --xunit-output "$work/$number.xml" \
        >"$work/$number.log" 2>&1 || true
    # Newer toolchains name the Swift Testing report after the path given; older ones use it.
    report=$work/$number-swift-testing.xml
    [[ -f "$report" ]] || report=$work/$number.xml
    if [[ ! -f "$report" ]]; then
        echo "Stage $number against $previous: no test report; the run said:"
        tail -20 "$work/$number.log"
        status=1
        continue
    fi
    failing "$report" >"$work/$number.failing"
    if $print; then
        echo "Stage $number against $previous: $(wc -l <"$work/$number.failing") failing"
        sed 's/^/  /' "$work/$number.failing"
        continue
    fi
    listed "$number" >"$work/$number.listed"
    if diff -u "$work/$number.listed" "$work/$number.failing" >"$work/$number.diff"; then
        echo "Stage $number against $previous: fails exactly as the table says ($(wc -l <"$work/$number.failing") tests)"
    else
        echo "Stage $number against $previous: the table in $table is out of date" \
            "(- listed but passing, + failing but not listed):"
        tail -n +3 "$work/$number.diff" | grep -E '^[-+]' | sed 's/^/  /'
        status=1
    fi
    if [[ ! -s "$work/$number.failing" ]]; then
        echo "Stage $number against $previous: no test fails, so none catches the lesson"
        status=1
    fi
done
exit $status
