#!/usr/bin/env bash
# Runs the named test suites, prints each one's output, then one line summing them all:
#   N passed, N failed
# Suites: c, lua, lua-full, c-san, lua-san (ASan + UBSan build), lua-base (baseline x86-64 build, conv and scan specs), emu, emu-self (the emulator's self-test), emu-conv (random CUDA conv cases vs the CPU reference), emu-scan (random CUDA selective scan cases vs the CPU reference), fuzz (the .npy libFuzzer target, then the safetensors Lua fuzzer), emu-asan, emu-self-asan, gpu, and the checking modes of the emulation (the instrumented build, CC_EMU_CHECK=all, once per order in $EMU_CHECK_ORDERS, default "forward reverse random"): emu-check-self, emu-check-conv ($EMU_CHECK_CONV_CASES, default 1000), emu-check-scan ($EMU_CHECK_SCAN_CASES, default 300), emu-check (the #cuda specs, or only those of the spec files in $EMU_CHECK_SPECS), emu-check-quick (make test's share of them), and emu-order (on the plain emulated build with CC_EMU_CHECK=sync: the conv and ops #cuda specs under CC_EMU_ORDER=reverse, the conv and scan cases under reverse and random; the cases' digests must equal emu-conv's and emu-scan's). Exit status 1 when anything failed.
set -u
cd "$(dirname "$0")/.."
# The suites run as from a user's shell: specs that call make (make_spec.lua) must not inherit the
# calling make's jobserver (they would print "jobserver unavailable" warnings).
unset MAKEFLAGS MFLAGS MAKELEVEL
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
    last_digest=$(grep -E '^digest [0-9a-f]+$' "$log" | tail -n 1)
    rm -f "$log"
}

# The conv and scan tests print a digest of every result: runs of one build with the same cases
# must agree bit for bit whatever CC_EMU_ORDER was (the kernels are deterministic).
declare -A first_digest
same_digest() {   # key, name of the run that just ended
    [ -n "$last_digest" ] || return 0
    if [ -z "${first_digest[$1]:-}" ]; then first_digest[$1]=$last_digest
    elif [ "$last_digest" = "${first_digest[$1]}" ]; then passed=$((passed + 1))
    else failed=$((failed + 1)); echo "FAIL $2: $last_digest, an earlier order gave ${first_digest[$1]}: results depend on the schedule"; fi
}
last_digest=

# Runs "$@" once per order of EMU_CHECK_ORDERS with every checker on; the suite's name gets the order.
for_orders() {   # runner (run_counted or run_busted), name, args...
    local runner=$1 name=$2 order; shift 2
    for order in ${EMU_CHECK_ORDERS:-forward reverse random}; do
        last_digest=""
        CC_EMU_CHECK=all CC_EMU_ORDER=$order "$runner" "$name [$order]" "$@"
        same_digest "$name" "$name [$order]"
    done
}

for suite in "$@"; do
    case $suite in
    c)        run_counted c $BUILD/test_c ;;
    emu-self) run_counted emu-self $BUILD/emu/selftest ;;
    emu-conv) run_counted emu-conv $BUILD/emu/conv_emu_test 1000; same_digest emu-conv emu-conv ;;
    emu-scan) run_counted emu-scan $BUILD/emu/scan_emu_test 300; same_digest emu-scan emu-scan ;;
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
    emu-check-self) CC_EMU_SELFTEST_QUICK=1 for_orders run_counted emu-check-self $BUILD/emu-check/selftest ;;
    emu-check-conv) for_orders run_counted emu-check-conv $BUILD/emu-check/conv_emu_test "${EMU_CHECK_CONV_CASES:-1000}" ;;
    emu-check-scan) for_orders run_counted emu-check-scan $BUILD/emu-check/scan_emu_test "${EMU_CHECK_SCAN_CASES:-300}" ;;
    emu-check)      for_orders run_busted emu-check $BUILD/emu-check/libcausalconv.so cuda --run=emu ${EMU_CHECK_SPECS:-} ;;
    emu-check-quick)   # make test's share: the self-test in every order, the rest under one random order
        CC_EMU_SELFTEST_QUICK=1 for_orders run_counted emu-check-self $BUILD/emu-check/selftest
        EMU_CHECK_ORDERS=random for_orders run_counted emu-check-conv $BUILD/emu-check/conv_emu_test 300
        EMU_CHECK_ORDERS=random for_orders run_counted emu-check-scan $BUILD/emu-check/scan_emu_test 24
        EMU_CHECK_ORDERS=random for_orders run_busted emu-check $BUILD/emu-check/libcausalconv.so cuda --run=emu \
            tests/lua/conv_oracle_spec.lua tests/lua/ops_more_spec.lua tests/lua/optim_spec.lua tests/lua/mamba_cuda_spec.lua ;;
    emu-order)
        for order in reverse random; do
            export CC_EMU_CHECK=sync CC_EMU_ORDER=$order
            [ "$order" = reverse ] &&   # random: emu-check-quick's specs
                run_busted "emu [$order]" $BUILD/emu/libcausalconv.so cuda --run=emu tests/lua/conv*_spec.lua tests/lua/ops*_spec.lua
            run_counted "emu-conv [$order]" $BUILD/emu/conv_emu_test 1000; same_digest emu-conv "emu-conv [$order]"
            run_counted "emu-scan [$order]" $BUILD/emu/scan_emu_test 300; same_digest emu-scan "emu-scan [$order]"
            unset CC_EMU_CHECK CC_EMU_ORDER
        done ;;
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
