#!/usr/bin/env bash
# Fuzzes every target in turn for MINUTES each (default 10), then merges
# what each run found into fuzz/corpus/<target> keeping only inputs that add
# coverage (libFuzzer's -merge=1 over the old corpus and the new finds), so
# the corpus stays minimal (named seeds and regressions are always kept) and `cargo test` (tests/tests/fuzz_corpus_replay.rs)
# keeps replaying it on stable. A crash stops the script with libFuzzer's
# report and the input in fuzz/artifacts/<target>/: give it a regression
# test. Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: scripts/fuzz.sh [MINUTES] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
minutes="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode_frame deframe mesh)
fi
jobs="$(nproc)"
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    found="$(mktemp -d)"
    before="$(ls "$corpus" | wc -l)"
    echo "== $t: $minutes min on $jobs jobs, corpus $before" >&2
    # New finds go to $found; the committed corpus is read, not written.
    cargo +nightly fuzz run "$t" "$found" "$corpus" -- \
        -max_total_time=$((minutes * 60)) -jobs="$jobs" -workers="$jobs" \
        -print_final_stats=1 >&2
    merged="$(mktemp -d)"
    cargo +nightly fuzz run "$t" "$merged" "$corpus" "$found" -- -merge=1 >&2
    # Named inputs (seeds from py2p's vectors, regressions of past finds)
    # stay whatever the merge thinks of their coverage; the merge keeps the
    # rest under content hashes.
    find "$corpus" -type f ! -regex '.*/[0-9a-f]\{40\}' -exec cp {} "$merged"/ \;
    rm -rf "$corpus" && mv "$merged" "$corpus"
    rm -rf "$found" fuzz-*.log
    echo "== $t: corpus $before -> $(ls "$corpus" | wc -l)" >&2
done
