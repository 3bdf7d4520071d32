#!/usr/bin/env bash
# The GPU check: one command on a fresh GPU machine (CUDA toolkit, no package registry) that
# builds the library with nvcc, runs the #cuda specs on the GPU (make test-cuda), the CUDA sweep
# next to the device-to-device copy, PyTorch's cuDNN depthwise conv1d on the same shapes, and the
# Mamba benchmark, and writes it all, named by GPU and date, under experiments/results/.
#
#   experiments/gpu_check.sh --fetch-debs    here, on the Debian build machine: apt-get download
#                                           LuaJIT, busted, OpenBLAS and what they need into .debs/
#                                           (list .debs/ in .git/info/exclude; it never gets committed)
#   experiments/gpu_check.sh [--emu] [--unpack] [--out DIR]
#                                           there: unpacks .debs/ with dpkg -x when luajit or busted
#                                           is missing, then runs every step. --emu runs the same
#                                           steps on the CPU emulation (small shapes, a few specs):
#                                           a dry run of this script on a machine without a GPU.
#                                           --unpack uses the tools from .debs/ even when installed
#                                           (to try the carried ones here).
#                                           --out DIR (default $OUT when set): also put the log and
#                                           a .tar.gz of the results there.
#
# Steps run in order under time limits that add up to under 10 minutes, the build first so a
# broken build shows at once; a failing step is reported and the next one still runs. The exit
# status is the number of failed steps (0: all ran and passed).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEBS=$ROOT/.debs
PACKAGES="luajit libluajit-5.1-2 libluajit-5.1-common lua-busted lua-cliargs lua-dkjson lua-filesystem lua-luassert
          lua-mediator lua-penlight lua-say lua-system lua-term lua-inifile lua-yaml lua-cjson
          libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0"

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
EMU=0
UNPACK=0
OUTDIR=${OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
    --fetch-debs)
        mkdir -p "$DEBS" && cd "$DEBS" && apt-get download $PACKAGES || { echo "gpu_check: apt-get download failed" >&2; exit 1; }
        grep -qx '/.debs/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.debs/' >> "$ROOT/.git/info/exclude"
        ls "$DEBS"
        exit 0 ;;
    --emu) EMU=1 ;;
    --unpack) UNPACK=1 ;;
    --out) shift; OUTDIR=${1:?--out needs a folder} ;;
    --help|-h) usage; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

# ---- tools: LuaJIT, busted and OpenBLAS from the carried .deb files when the machine lacks them --
TOOLS=/tmp/causalconv-tools
have_tools() {
    command -v luajit >/dev/null && command -v busted >/dev/null &&
        { [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ]; }
}
if [ $UNPACK = 1 ] || ! have_tools; then
    ls "$DEBS"/*.deb >/dev/null 2>&1 || { echo "gpu_check: luajit, busted or OpenBLAS missing and no .debs/ to unpack (run --fetch-debs on the build machine)" >&2; exit 1; }
    mkdir -p "$TOOLS"
    for f in "$DEBS"/*.deb; do dpkg -x "$f" "$TOOLS"; done
    ln -sf luajit "$TOOLS/usr/bin/lua"      # busted's #!/usr/bin/env lua; .busted then runs the specs under luajit
    MA=x86_64-linux-gnu
    export PATH=$TOOLS/usr/bin:$PATH
    export LD_LIBRARY_PATH=$TOOLS/usr/lib/$MA:$TOOLS/usr/lib/$MA/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LUA_PATH="$TOOLS/usr/share/lua/5.1/?.lua;$TOOLS/usr/share/lua/5.1/?/init.lua;;"
    export LUA_CPATH="$TOOLS/usr/lib/$MA/lua/5.1/?.so;;"
    BLAS_FLAGS="EXTRA_CFLAGS=-I$TOOLS/usr/include/$MA/openblas-pthread LDFLAGS=-L$TOOLS/usr/lib/$MA/openblas-pthread"
else
    BLAS_FLAGS=""
fi

# ---- names -----------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%d-%H%M)
if [ $EMU = 1 ]; then
    GPU=emu
    GPU_NAME="the CPU emulation"
else
    GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
    GPU=$(echo "${GPU_NAME:-gpu}" | tr 'A-Z' 'a-z' | sed 's/nvidia //; s/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
fi
RESULTS=$ROOT/experiments/results
PREFIX=$RESULTS/gpu-$STAMP-$GPU
mkdir -p "$RESULTS"
LOG=$PREFIX-check.txt
BUILD=build-gpu
LIB=$BUILD/libcausalconv.so
[ $EMU = 1 ] && LIB=$BUILD/emu/libcausalconv.so
export CAUSALCONV_LIB=$ROOT/$LIB
failed=0
made=("$LOG")

say() { echo "$@" | tee -a "$LOG"; }
# step NAME SECONDS FILE COMMAND...: runs COMMAND under a time limit, output to FILE and the log
step() {
    local name=$1 limit=$2 file=$3; shift 3
    local t0=$SECONDS rc
    say "== $name (limit ${limit}s): $*"
    if [ "$file" = "$LOG" ]; then
        timeout "$limit" "$@" >> "$LOG" 2>&1
        rc=$?
    else
        timeout "$limit" "$@" > >(tee -a "$file" >> "$LOG") 2>&1
        rc=$?
        sleep 0.2   # let tee finish
    fi
    if [ $rc -eq 0 ]; then say "== $name: ok ($((SECONDS - t0)) s)"
    else say "== $name: FAILED (exit $rc$([ $rc -eq 124 ] && echo ', time limit'); $((SECONDS - t0)) s)"; failed=$((failed + 1)); fi
    [ "$file" != "$LOG" ] && case " ${made[*]} " in *" $file "*) ;; *) made+=("$file") ;; esac
    return 0
}

{
    echo "# causalconv GPU check: $GPU_NAME"
    echo "# date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "# host:    $(uname -srm), $(nproc) CPUs"
    echo "# nvcc:    $( (command -v nvcc >/dev/null && nvcc --version | tail -n 1) || echo 'not on PATH')"
    [ $EMU = 0 ] && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1 | sed 's/^/# /'
    echo "# luajit:  $(luajit -v 2>&1)"
} > "$LOG"
cat "$LOG"

# ---- 1. build --------------------------------------------------------------------------------
if [ $EMU = 1 ]; then
    step build 600 "$LOG" make -j"$(nproc)" BUILD=$BUILD $BLAS_FLAGS $LIB
else
    step build 300 "$LOG" make -j"$(nproc)" BUILD=$BUILD $BLAS_FLAGS $LIB
fi
if [ ! -f "$LIB" ]; then say "gpu_check: no library was built; the other steps need it"; exit $((failed + 1)); fi

# ---- 2. the #cuda specs on the device --------------------------------------------------------
if [ $EMU = 1 ]; then
    step "specs (emulated, a sample)" 300 "$PREFIX-specs.txt" env CC_TEST_DEVICE=cuda busted --run=emu \
        tests/lua/cuda_spec.lua tests/lua/conv_update_spec.lua
else
    step "make test-cuda" 240 "$PREFIX-specs.txt" make --no-print-directory BUILD=$BUILD $BLAS_FLAGS test-cuda
fi

# ---- 3. the launch floor and the CUDA sweep next to the device copy ---------------------------
step "launch floor" 60 "$PREFIX-sweep.txt" luajit -e '
    package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
    local cc = require "causalconv"
    local t = cc.zeros(1, { device = "cuda" })
    local st = cc.bench.time(function() t:fill_(0) end, { device = "cuda", ["repeat"] = 21 })
    print(string.format("launch floor: x:fill_(0) of one element on cuda, median %.4f ms (p25 %.4f, p75 %.4f)", st.median, st.p25, st.p75))'
SWEEP="luajit experiments/sweep.lua --device cuda"
if [ $EMU = 1 ]; then
    step "sweep: conv" 300 "$PREFIX-sweep.txt" $SWEEP --quick --op fwd,bwd --dtype f32,bf16 --layout cf,cl --B 1 --D 64 --L 256 --W 4 --csv "$PREFIX-sweep-conv.csv"
    step "sweep: update" 120 "$PREFIX-sweep.txt" $SWEEP --quick --op update --B 4 --D 64 --L 1 --W 4 --csv "$PREFIX-sweep-update.csv"
    step "sweep: scan" 300 "$PREFIX-sweep.txt" $SWEEP --quick --op scan,state_update --B 1 --D 32 --N 4 --L 64 --csv "$PREFIX-sweep-scan.csv"
else
    step "sweep: conv" 150 "$PREFIX-sweep.txt" $SWEEP --op fwd,bwd --dtype f32,bf16 --layout cf,cl --B 8 --D 4096 --L 4096 --W 4 --csv "$PREFIX-sweep-conv.csv"
    step "sweep: update" 60 "$PREFIX-sweep.txt" $SWEEP --op update --B 16,256 --D 4096 --L 1,4 --W 4 --csv "$PREFIX-sweep-update.csv"
    step "sweep: scan" 90 "$PREFIX-sweep.txt" $SWEEP --op scan,scan_bwd,state_update --csv "$PREFIX-sweep-scan.csv"
fi

# ---- 4. PyTorch's cuDNN depthwise conv1d on the same shapes -----------------------------------
if [ $EMU = 1 ]; then
    say "== torch cuDNN: skipped on the emulation (PyTorch here has no GPU)"
else
    step "torch cuDNN" 150 "$PREFIX-torch.txt" luajit experiments/bench_torch.lua --device cuda --op conv \
        --python "$(command -v python3)" --csv "$PREFIX-torch.csv"
fi

# ---- 5. the Mamba LM: training step and decode -------------------------------------------------
if [ $EMU = 1 ]; then
    step "mamba" 300 "$PREFIX-mamba.txt" luajit experiments/bench_mamba.lua --device cuda --steps 1 --decode_tokens 2 --batch 2 --seq_len 8
else
    step "mamba" 120 "$PREFIX-mamba.txt" luajit experiments/bench_mamba.lua --device cuda
fi

say "== gpu_check: $failed step(s) failed; results: ${made[*]#$ROOT/}"
if [ -n "$OUTDIR" ]; then
    mkdir -p "$OUTDIR"
    cp "$LOG" "$OUTDIR/"
    tar -czf "$OUTDIR/gpu-$STAMP-$GPU.tar.gz" -C "$ROOT" $(ls "$PREFIX"* | sed "s|^$ROOT/||")
fi
exit $failed
