#!/usr/bin/env bash
# Runs the named test suites, prints each one's output, then one line summing them all:
#   N passed, N failed
# Suites: c, lua, lua-full, c-san, lua-san (ASan + UBSan build), lua-base (baseline x86-64 build, conv and scan specs), emu, emu-self (the emulator's self-test), emu-conv (random CUDA conv cases vs the CPU reference), emu-scan (random CUDA selective scan cases vs the CPU reference), fuzz (the .npy libFuzzer target, then the safetensors Lua fuzzer), emu-asan, emu-self-asan, gpu. Exit status 1 when anything failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0
failed=0

# busted's plainTerminal footer: "12 successes / 0 failures / 0 errors / 0 pending : 0.1 seconds"
count_busted() {
    local log=$1 line s f e
    line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); echo "(no busted summary: counted as 1 failure)"; return; fi
    s=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $4}'); e=$(echo "$line" | awk '{print $7}')
    passed=$((passed + s)); failed=$((failed + f + e))
}

run_busted() {   # name, lib, device, busted args...
    local name=$1 lib=$2 device=$3; shift 3
    local log; log=$(mktemp)
    echo "== $name: busted $* (CAUSALCONV_LIB=$lib, device $device)"
    CAUSALCONV_LIB=$lib CC_TEST_DEVICE=$device busted "$@" 2>&1 | tee "$log"
    count_busted "$log"
    rm -f "$log"
}

run_counted() {   # name, program...: a program that ends with its own "N passed, N failed" line
    local name=$1 log; shift
    log=$(mktemp)
    echo "== $name: $*"
    "$@" 2>&1 | tee "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); echo "($name gave no summary: counted as 1 failure)"
    else passed=$((passed + $(echo "$line" | awk '{print $1}'))); failed=$((failed + $(echo "$line" | awk '{print $3}'))); fi
    rm -f "$log"
}

for suite in "$@"; do
    case $suite in
    c)        run_counted c $BUILD/test_c ;;
    emu-self) run_counted emu-self $BUILD/emu/selftest ;;
    emu-conv) run_counted emu-conv $BUILD/emu/conv_emu_test 1000 ;;
    emu-scan) run_counted emu-scan $BUILD/emu/scan_emu_test 300 ;;
    fuzz)     run_counted fuzz tests/fuzz/run_fuzz.sh   # FUZZ_SECONDS (default 20) of libFuzzer on the .npy loader
              # then SAFETENSORS_FUZZ_SECONDS (default FUZZ_SECONDS / 3) of the Lua fuzzer of load_safetensors (ASan build)
              run_counted fuzz-safetensors tests/fuzz/run_fuzz_safetensors.sh ;;
    emu-self-asan)
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 CC_EMU_SELFTEST_QUICK=1 run_counted emu-self-asan $BUILD/asan/selftest ;;
    lua)      run_busted lua $BUILD/libcausalconv.so cpu ;;
    c-san)    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 run_counted c-san $BUILD/san/test_c ;;
    lua-san)
        # luajit itself is not instrumented: the ASan runtime must come first. A small quarantine
        # keeps freed blocks from growing RSS (memory_spec checks RSS stays flat).
        export LD_PRELOAD
        LD_PRELOAD=$(gcc -print-file-name=libasan.so)
        ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=8 run_busted lua-san $BUILD/san/libcausalconv.so cpu
        unset LD_PRELOAD ;;
    lua-base) run_busted lua-base $BUILD/base/libcausalconv.so cpu tests/lua/conv*_spec.lua tests/lua/scan*_spec.lua ;;
    lua-full) run_busted lua-full $BUILD/libcausalconv.so cpu --run=full ;;
    emu)      run_busted emu $BUILD/emu/libcausalconv.so cuda --run=emu ;;
    emu-asan)
        export LD_PRELOAD
        LD_PRELOAD=$(gcc -print-file-name=libasan.so)
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 run_busted emu-asan $BUILD/asan/libcausalconv.so cuda --run=emu
        unset LD_PRELOAD ;;
    gpu)
        # the #cuda specs on a real GPU; without one they are skipped, not failed
        if CAUSALCONV_LIB=$BUILD/libcausalconv.so luajit -e 'package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
                local cc = require "causalconv"; os.exit(cc.cuda.is_available() and not cc.cuda.is_emulated() and 0 or 1)'; then
            run_busted gpu $BUILD/libcausalconv.so cuda --run=gpu
        else
            echo "== gpu: no CUDA device is available (or CUDA was not built): the #cuda specs are skipped"
        fi ;;
    *) echo "unknown suite $suite"; failed=$((failed + 1)) ;;
    esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
