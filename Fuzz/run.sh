#!/usr/bin/env bash
# Fuzzes the line framer with libFuzzer for SECONDS (default 30), starting from the regression
# corpus in Fuzz/corpus/framer, to which anything new and interesting is added.
#
#   Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
out=.build-fuzz
mkdir -p "$out" Fuzz/corpus/framer
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FramerFuzz \
    Sources/Net/LineFramer.swift Fuzz/LineFramerFuzzer.swift -o "$out/framer-fuzzer"
# A crash writes its input to Fuzz/crash-*; add it to the corpus once fixed, so it is replayed.
"$out/framer-fuzzer" -max_total_time="$seconds" -max_len=16384 -artifact_prefix=Fuzz/ \
    -print_final_stats=1 Fuzz/corpus/framer
