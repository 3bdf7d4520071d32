#!/usr/bin/env bash
# Runs the .npy loader's libFuzzer target for FUZZ_SECONDS seconds (default 20) and ends with
#   1 passed, 0 failed     when libFuzzer found nothing
#   0 passed, 1 failed     otherwise (the crash input's path is printed above)
# The corpus it grows and any crash artifacts stay under $BUILD/fuzz (never committed); the seeds
# in tests/fuzz/seeds are read, not written.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECONDS_TO_RUN=${FUZZ_SECONDS:-20}
FUZZER=$BUILD/fuzz/fuzz_npy
OUTDIR=$BUILD/fuzz
if [ ! -x "$FUZZER" ]; then
    echo "fuzz: $FUZZER is not built (make BUILD=$BUILD fuzz-quick builds it; needs clang with libFuzzer)"
    echo "0 passed, 1 failed"
    exit 1
fi
mkdir -p "$OUTDIR/corpus" "$OUTDIR/artifacts" "$OUTDIR/tmp"
log=$OUTDIR/fuzz_npy.log
echo "fuzz: $FUZZER for ${SECONDS_TO_RUN}s (corpus $OUTDIR/corpus, artifacts $OUTDIR/artifacts/, log $log)"
# TMPDIR: where fuzz_npy saves its round-trip files (left there if it crashes)
TMPDIR=$OUTDIR/tmp OMP_NUM_THREADS=1 ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$FUZZER" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -dict=tests/fuzz/npy.dict -artifact_prefix="$OUTDIR/artifacts/" "$OUTDIR/corpus" tests/fuzz/seeds >"$log" 2>&1
rc=$?
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' "$log"
if [ "$rc" -eq 0 ]; then
    echo "fuzz: libFuzzer found nothing in ${SECONDS_TO_RUN}s ($(ls "$OUTDIR/corpus" | wc -l) inputs in the corpus)"
    echo "1 passed, 0 failed"
    exit 0
fi
tail -n 60 "$log"
crash=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/^Test unit written to //')
echo "fuzz: libFuzzer exited with status $rc; crash input: ${crash:-(none written; see $log)}"
echo "0 passed, 1 failed"
exit 1
