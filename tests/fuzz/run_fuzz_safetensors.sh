#!/usr/bin/env bash
# Runs tests/fuzz/fuzz_safetensors.lua (the in-process fuzzer of cc.load_safetensors) for
# SAFETENSORS_FUZZ_SECONDS seconds (default: a third of FUZZ_SECONDS, else 8) against the ASan +
# UBSan library $BUILD/san/libcausalconv.so, with libasan preloaded as the lua-san suite does
# (luajit itself is not instrumented), so an out-of-bounds copy into a tensor is caught; when
# that build is missing it runs against $BUILD/libcausalconv.so and says so. Inputs and failing
# inputs stay under $BUILD/fuzz/safetensors. Ends with the fuzzer's "N passed, N failed" line.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export FUZZ_OUTDIR=${FUZZ_OUTDIR:-$BUILD/fuzz/safetensors}
SAN_LIB=$BUILD/san/libcausalconv.so
if [ -f "$SAN_LIB" ]; then
    echo "fuzz-safetensors: against the ASan + UBSan build $SAN_LIB"
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=8} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    OMP_NUM_THREADS=1 CAUSALCONV_LIB=$SAN_LIB exec luajit tests/fuzz/fuzz_safetensors.lua
fi
if [ ! -f "$BUILD/libcausalconv.so" ]; then
    echo "fuzz-safetensors: neither $SAN_LIB nor $BUILD/libcausalconv.so is built (make BUILD=$BUILD san-build)"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "fuzz-safetensors: $SAN_LIB is not built (make BUILD=$BUILD san-build): against the plain $BUILD/libcausalconv.so, without ASan"
OMP_NUM_THREADS=1 CAUSALCONV_LIB=$BUILD/libcausalconv.so exec luajit tests/fuzz/fuzz_safetensors.lua
