# causalconv build. `make` builds $(BUILD)/libcausalconv.so (CUDA too when nvcc is found);
# `make test` runs every suite and ends with one "N passed, N failed" line. The run targets
# (gradcheck, repl, sweep, bench, bench-cuda, run SCRIPT=..., env) take CAUSALCONV_LIB=... (below).

BUILD   ?= build
# Builds run in parallel, one job per CPU, unless -j is given (CI runs plain `make test` on 2 cores,
# where a serial build was half of its 15 minutes).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
CC      ?= gcc
CXX     ?= g++
OPT     ?= -O3 -march=native
CFLAGS  := $(OPT) -MMD -MP -std=c11 -fPIC -fopenmp -Wall -Wextra -D_GNU_SOURCE $(EXTRA_CFLAGS)
CXXFLAGS:= $(OPT) -MMD -MP -std=c++17 -fPIC -fopenmp -Wall -Wextra $(EXTRA_CFLAGS)
# core/ sees core/ and kernels/; kernels/ sees only kernels/ (argument blocks, dtypes, codes), so a
# kernel that includes a core header does not compile. $(call INC,path) picks the set for a source.
INC = $(if $(filter kernels/%,$(1)),-Ikernels,-Icore -Ikernels)
LDLIBS  := -fopenmp -lopenblas -lm
# never unloaded: LuaJIT dlcloses it at exit while libgomp's idle workers still spin in its code
SOFLAGS := -shared -Wl,-z,nodelete

CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(shell command -v nvcc 2>/dev/null || (test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc))
NVCCFLAGS := -O3 -MMD -MP -std=c++17 -Xcompiler -fPIC -Xcompiler -Wall \
             -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90

C_SRCS   := $(wildcard core/*.c) $(wildcard kernels/cpu/*.c)
CU_SRCS  := $(wildcard kernels/cuda/*.cu)
EMU_SRCS := $(wildcard kernels/cuda/emu/*.cpp)

LIB      := $(BUILD)/libcausalconv.so
EMU_LIB  := $(BUILD)/emu/libcausalconv.so
ASAN_LIB := $(BUILD)/asan/libcausalconv.so

ifneq ($(NVCC),)
  CUDA_FLAGS := -DCC_WITH_CUDA
  CUDA_OBJS  := $(CU_SRCS:%.cu=$(BUILD)/obj/%.o)
  CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcurand -lcublas -lstdc++
  NVCC_NOTE  := [causalconv] nvcc found at $(NVCC): $(LIB) has the CUDA kernels
else
  NVCC_NOTE  := [causalconv] nvcc not found (or NVCC= given): $(LIB) is CPU-only (cuda tensors raise an error)
endif

# The library that gradcheck, repl, sweep, bench, bench-cuda, run and env use: the user's
# CAUSALCONV_LIB (environment or command line) when given, else this build's $(LIB). Only when it
# is this build's $(LIB) (or $(EMU_LIB)) do those targets build it first.
CAUSALCONV_LIB ?= $(BUILD)/libcausalconv.so
ifeq ($(strip $(CAUSALCONV_LIB)),)
  override CAUSALCONV_LIB := $(BUILD)/libcausalconv.so
endif
RUN_LIB  := $(abspath $(CAUSALCONV_LIB))
RUN_DEPS := $(if $(filter $(RUN_LIB),$(abspath $(BUILD)/libcausalconv.so)),$(BUILD)/libcausalconv.so,$(if \
              $(filter $(RUN_LIB),$(abspath $(BUILD)/emu/libcausalconv.so)),$(BUILD)/emu/libcausalconv.so))

.PHONY: all deps test test-c test-lua test-emu test-emu-asan test-emu-check emu-check emu-selftest test-full test-cuda bench bench-cuda \
        gradcheck repl sweep run env clean emu asan
all: $(LIB)

# ---- the library -------------------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call INC,$<) $(CUDA_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(call INC,$<) -c $< -o $@

$(LIB): $(C_SRCS:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJS)
	$(CC) $(SOFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)
	@echo "$(NVCC_NOTE)"

# ---- the emulated CUDA build: the same .cu sources compiled for the CPU ------------------------
EMU_FLAGS := -DCC_WITH_CUDA -DCC_CUDA_EMU -Wno-unknown-pragmas
$(BUILD)/emu/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call INC,$<) $(EMU_FLAGS) -c $< -o $@

$(BUILD)/emu/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(call INC,$<) $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h -c $< -o $@

$(BUILD)/emu/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(call INC,$<) $(EMU_FLAGS) -Ikernels/cuda/emu -c $< -o $@

EMU_OBJS := $(C_SRCS:%.c=$(BUILD)/emu/obj/%.o) $(CU_SRCS:%.cu=$(BUILD)/emu/obj/%.o) $(EMU_SRCS:%.cpp=$(BUILD)/emu/obj/%.o)
$(EMU_LIB): $(EMU_OBJS)
	$(CXX) $(SOFLAGS) -o $@ $^ $(LDLIBS)
emu: $(EMU_LIB)

# ---- the checking build of the emulation (CC_EMU_CHECK=race,init need it; kernels/cuda/emu/check.h)
# The .cu sources are compiled with -fsanitize=thread, which only inserts a call before every
# load and store: libtsan is never linked, the emulation defines those calls (check_hooks.cpp)
# and checks them. -g gives the reports their source lines. Everything else is the emu build's.
EMU_CHECK_LIB      := $(BUILD)/emu-check/libcausalconv.so
EMU_CHECK_SELFTEST := $(BUILD)/emu-check/selftest
# g++ expands memcpy/memset/memmove inline after instrumenting (moves or `rep movs` nobody sees):
# as real calls they reach the checked wrappers (EMU_CHECK_WRAP).
EMU_CHECK_CU       := -fsanitize=thread -O2 -g -fno-builtin-memcpy -fno-builtin-memset -fno-builtin-memmove
$(BUILD)/emu-check/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(call INC,$<) $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h $(EMU_CHECK_CU) -c $< -o $@

EMU_CHECK_OBJS := $(C_SRCS:%.c=$(BUILD)/emu/obj/%.o) $(CU_SRCS:%.cu=$(BUILD)/emu-check/obj/%.o) $(EMU_SRCS:%.cpp=$(BUILD)/emu/obj/%.o)
EMU_CHECK_WRAP := -Wl,--wrap=memcpy,--wrap=memmove,--wrap=memset   # calls the instrumentation cannot see
$(EMU_CHECK_LIB): $(EMU_CHECK_OBJS)
	$(CXX) $(SOFLAGS) $(EMU_CHECK_WRAP) -o $@ $^ $(LDLIBS)
$(BUILD)/emu-check/obj/selftest.o: tests/emu/selftest.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Icore -Ikernels $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h $(EMU_CHECK_CU) -c $< -o $@
$(EMU_CHECK_SELFTEST): $(BUILD)/emu-check/obj/selftest.o $(EMU_CHECK_LIB)
	$(CXX) $(EMU_CHECK_WRAP) -o $@ $< -L$(BUILD)/emu-check -Wl,-rpath,'$$ORIGIN' -lcausalconv $(LDLIBS)
$(BUILD)/emu-check/%_emu_test: tests/emu/%_emu_test.cpp $(EMU_CHECK_LIB)
	$(CXX) -std=c++17 -O1 -Icore -Ikernels $< -o $@ -L$(BUILD)/emu-check -Wl,-rpath,'$$ORIGIN' -lcausalconv
EMU_CHECK_ALL := $(EMU_CHECK_LIB) $(EMU_CHECK_SELFTEST) $(BUILD)/emu-check/conv_emu_test $(BUILD)/emu-check/scan_emu_test
emu-check: $(EMU_CHECK_ALL)

# ---- AddressSanitizer variant of the emulated build --------------------------------------------
ASAN := -fsanitize=address -fno-omit-frame-pointer -O1 -g
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call INC,$<) $(ASAN) $(EMU_FLAGS) -c $< -o $@

$(BUILD)/asan/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(call INC,$<) $(ASAN) $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h -c $< -o $@

$(BUILD)/asan/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(call INC,$<) $(ASAN) $(EMU_FLAGS) -Ikernels/cuda/emu -c $< -o $@

ASAN_OBJS := $(EMU_OBJS:$(BUILD)/emu/obj/%=$(BUILD)/asan/obj/%)
$(ASAN_LIB): $(ASAN_OBJS)
	$(CXX) $(SOFLAGS) -fsanitize=address -o $@ $^ $(LDLIBS)
asan: $(ASAN_LIB)

# ---- emulator self-test: kernels exercising the emulation, checked against plain loops ----------
EMU_SELFTEST  := $(BUILD)/emu/selftest
ASAN_SELFTEST := $(BUILD)/asan/selftest
$(EMU_SELFTEST): tests/emu/selftest.cu $(EMU_LIB)
	$(CXX) $(CXXFLAGS) -Icore -Ikernels $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h $< -x none -o $@ \
	    -L$(BUILD)/emu -Wl,-rpath,'$$ORIGIN' -lcausalconv $(LDLIBS)
$(ASAN_SELFTEST): tests/emu/selftest.cu $(ASAN_LIB)
	$(CXX) $(CXXFLAGS) -Icore -Ikernels $(ASAN) $(EMU_FLAGS) -Ikernels/cuda/emu -x c++ -include cuda_emu.h $< -x none -o $@ \
	    -L$(BUILD)/asan -Wl,-rpath,'$$ORIGIN' -lcausalconv $(LDLIBS)
# the CUDA conv kernels on the emulation against the CPU reference kernels, random cases
EMU_CONVTEST := $(BUILD)/emu/conv_emu_test
$(EMU_CONVTEST): tests/emu/conv_emu_test.cpp $(EMU_LIB)
	$(CXX) -std=c++17 -O1 -Icore -Ikernels $< -o $@ -L$(BUILD)/emu -Wl,-rpath,'$$ORIGIN' -lcausalconv
# the CUDA selective scan kernels on the emulation against the CPU reference kernels, random cases
EMU_SCANTEST := $(BUILD)/emu/scan_emu_test
$(EMU_SCANTEST): tests/emu/scan_emu_test.cpp $(EMU_LIB)
	$(CXX) -std=c++17 -O1 -Icore -Ikernels $< -o $@ -L$(BUILD)/emu -Wl,-rpath,'$$ORIGIN' -lcausalconv

emu-selftest: $(EMU_SELFTEST)
	@BUILD=$(BUILD) tests/run.sh emu-self

# ---- C tests -----------------------------------------------------------------------------------
C_TESTS := $(wildcard tests/c/*.c)
$(BUILD)/test_c: $(C_TESTS) $(LIB) $(wildcard tests/c/*.h)
	$(CC) $(CFLAGS) -Icore -Ikernels $(LDFLAGS) -o $@ $(C_TESTS) -L$(BUILD) -Wl,-rpath,'$$ORIGIN' -lcausalconv $(LDLIBS)

# ---- the CPU library under ASan + UBSan, and built for the baseline x86-64 ISA -------------------
# Both are CPU-only builds of the same sources in their own build dirs (make calls itself): the
# sanitizer build runs the C tests and the CPU specs, the baseline build (no AVX2, FMA, F16C or
# AVX-512: the portable fallbacks) runs the conv and scan specs.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_DIR   := $(BUILD)/san
BASE_DIR  := $(BUILD)/base
.PHONY: san-build base-build test-asan test-base-isa
san-build:
	@$(MAKE) --no-print-directory BUILD=$(SAN_DIR) NVCC= OPT="-O1 -g" EXTRA_CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" \
	    $(SAN_DIR)/libcausalconv.so $(SAN_DIR)/test_c
base-build:
	@$(MAKE) --no-print-directory BUILD=$(BASE_DIR) NVCC= OPT="-O3 -march=x86-64" $(BASE_DIR)/libcausalconv.so
# The CPU library for AVX-512 machines (x86-64-v4: the register tiles of causal_conv1d_avx512.c),
# compiled on any machine; run its specs where the CPU has AVX-512:
# CAUSALCONV_LIB=$(AVX512_DIR)/libcausalconv.so busted tests/lua/conv*_spec.lua
AVX512_DIR := $(BUILD)/avx512
.PHONY: avx512-build
avx512-build:
	@$(MAKE) --no-print-directory BUILD=$(AVX512_DIR) NVCC= OPT="-O3 -march=x86-64-v4" $(AVX512_DIR)/libcausalconv.so
test-asan: san-build
	@BUILD=$(BUILD) tests/run.sh c-san lua-san
test-base-isa: base-build
	@BUILD=$(BUILD) tests/run.sh lua-base

# ---- test targets ------------------------------------------------------------------------------
# tests/run.sh runs the suites it is given and prints the one summary line.
test: $(LIB) $(BUILD)/test_c $(EMU_LIB) $(EMU_SELFTEST) $(EMU_CONVTEST) $(EMU_SCANTEST) san-build base-build $(BUILD)/fuzz/fuzz_npy \
      $(EMU_CHECK_ALL)
	@BUILD=$(BUILD) FUZZ_SECONDS=20 tests/run.sh c lua c-san lua-san lua-base fuzz emu-self emu-conv emu-scan emu emu-order emu-check-quick

test-c: $(BUILD)/test_c
	@BUILD=$(BUILD) tests/run.sh c
test-lua: $(LIB)
	@BUILD=$(BUILD) tests/run.sh lua
test-emu: $(EMU_LIB) $(EMU_SELFTEST) $(EMU_CONVTEST) $(EMU_SCANTEST)
	@BUILD=$(BUILD) tests/run.sh emu-self emu-conv emu-scan emu
# every checker on (CC_EMU_CHECK=all), once per order (forward, reverse, random): the emulator's
# self-test, 1000 random conv cases, 300 scan cases, every #cuda spec (about 15 minutes on 2 cores)
test-emu-check: $(EMU_CHECK_ALL)
	@BUILD=$(BUILD) tests/run.sh emu-check-self emu-check-conv emu-check-scan emu-check
test-emu-asan: $(ASAN_LIB) $(ASAN_SELFTEST)
	@BUILD=$(BUILD) tests/run.sh emu-self-asan emu-asan
test-full: $(LIB) $(BUILD)/test_c $(EMU_LIB) $(EMU_SELFTEST) $(EMU_CONVTEST) $(EMU_SCANTEST)
	@BUILD=$(BUILD) tests/run.sh c lua-full emu-self emu-conv emu-scan emu
test-cuda: $(LIB)
	@BUILD=$(BUILD) tests/run.sh gpu

# ---- experiments -------------------------------------------------------------------------------
gradcheck: $(RUN_DEPS)
	CAUSALCONV_LIB=$(RUN_LIB) luajit experiments/gradcheck.lua $(ARGS)
sweep: $(RUN_DEPS)
	CAUSALCONV_LIB=$(RUN_LIB) luajit experiments/sweep.lua $(ARGS)
bench: $(RUN_DEPS)
	CAUSALCONV_LIB=$(RUN_LIB) luajit experiments/bench_torch.lua $(ARGS)
bench-cuda: $(RUN_DEPS)
	CAUSALCONV_LIB=$(RUN_LIB) luajit experiments/sweep.lua --device cuda $(ARGS)
repl: $(RUN_DEPS)
	@CAUSALCONV_LIB=$(RUN_LIB) luajit lua/causalconv/repl.lua

# ggml's CPU ggml_ssm_conv next to our forward in ggml's layout and a copy (experiments/ggml_ssm_conv_bench.c):
# `make bench-ggml GGML_DIR=/path/to/ggml` (or a llama.cpp checkout: its ggml/ is used). The first run
# builds ggml's CPU backend with cmake into GGML_BUILD; nothing of ggml enters this repository.
GGML_SRC    = $(if $(wildcard $(GGML_DIR)/ggml/include/ggml.h),$(GGML_DIR)/ggml,$(GGML_DIR))
GGML_BUILD ?= $(BUILD)/ggml
.PHONY: bench-ggml
bench-ggml: $(LIB)
	@test -n "$(GGML_DIR)" && test -f "$(GGML_SRC)/include/ggml.h" || { echo 'usage: make bench-ggml GGML_DIR=/path/to/ggml-or-llama.cpp [ARGS="--threads N --shape B,D,L,W"]' >&2; exit 2; }
	@test -f $(GGML_BUILD)/src/libggml-cpu.so || { cmake -S $(GGML_SRC) -B $(GGML_BUILD) -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
	    -DBUILD_SHARED_LIBS=ON -DGGML_OPENMP=ON -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF >/dev/null && \
	    cmake --build $(GGML_BUILD) -j$$(nproc) --target ggml-cpu; }
	$(CC) $(OPT) -std=c11 -fopenmp -Wall -Wextra -Icore -Ikernels -I$(GGML_SRC)/include experiments/ggml_ssm_conv_bench.c \
	    -o $(BUILD)/ggml_ssm_conv_bench -L$(BUILD) -L$(GGML_BUILD)/src -Wl,-rpath,$(abspath $(BUILD)):$(abspath $(GGML_BUILD)/src) \
	    -lcausalconv -lggml-base -lggml-cpu -lm
	OMP_PROC_BIND=$${OMP_PROC_BIND:-close} OMP_PLACES=$${OMP_PLACES:-cores} $(BUILD)/ggml_ssm_conv_bench $(ARGS)

# Your own script, from anywhere: `make -C /path/to/repo run SCRIPT=my.lua ARGS="..."` runs it in
# the directory make was started from, with `require "causalconv"` (lua/) and the experiments'
# helpers (experiments/: bench_util, tasks, ...) on LUA_PATH. `eval "$$(make -s -C /path/to/repo env)"`
# sets the same two variables in your shell, so that `luajit my.lua` works anywhere.
RUN_DIR  := $(or $(PWD),$(CURDIR))
RUN_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/experiments/?.lua;;
run: $(RUN_DEPS)
	@test -n "$(SCRIPT)" || { echo 'usage: make run SCRIPT=path/to/script.lua [ARGS="..."]' >&2; exit 2; }
	@cd '$(RUN_DIR)' && test -f '$(SCRIPT)' || { echo "make run: no such file: $(SCRIPT) (relative to $(RUN_DIR))" >&2; exit 2; }
	@cd '$(RUN_DIR)' && LUA_PATH='$(RUN_PATH)' CAUSALCONV_LIB='$(RUN_LIB)' luajit '$(SCRIPT)' $(ARGS)
env:
	@echo "export LUA_PATH='$(RUN_PATH)'; export CAUSALCONV_LIB='$(RUN_LIB)'"

# ---- fuzzing: libFuzzer target for the .npy loader (clang: Debian clang-14, libclang-rt-14-dev, libomp-14-dev)
# The CPU sources are compiled into the fuzzer with ASan + UBSan; the corpus it grows and crash
# artifacts stay under $(BUILD)/fuzz. `make fuzz` runs FUZZ_SECONDS (60), `make fuzz-quick` 20 s;
# both end with the "N passed, N failed" line (tests/fuzz/run_fuzz.sh). After it the in-process
# Lua fuzzer of cc.load_safetensors runs SAFETENSORS_FUZZ_SECONDS (default a third of
# FUZZ_SECONDS) against the ASan + UBSan library of san-build (tests/fuzz/run_fuzz_safetensors.sh).
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_NPY     := $(BUILD)/fuzz/fuzz_npy
FUZZ_CFLAGS  := -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer -fopenmp -D_GNU_SOURCE -Icore -Ikernels \
                -Wno-unknown-attributes -Wno-pass-failed   # gcc-only attributes and simd hints in the kernels
CPU_C_SRCS   := $(wildcard core/*.c) $(wildcard kernels/cpu/*.c)
.PHONY: fuzz fuzz-quick
$(FUZZ_NPY): tests/fuzz/fuzz_npy.c $(CPU_C_SRCS) $(wildcard core/*.h kernels/*.h kernels/cpu/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_npy.c $(CPU_C_SRCS) -lopenblas -lm
fuzz: $(FUZZ_NPY) san-build
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz
fuzz-quick: $(FUZZ_NPY) san-build
	@BUILD=$(BUILD) FUZZ_SECONDS=20 tests/run.sh fuzz

# ---- dependencies ------------------------------------------------------------------------------
DEB_DEPS := luajit libreadline8 tmux lua-busted lua-cjson libopenblas-dev gnuplot-nox python3-numpy clang-14 libclang-rt-14-dev libomp-14-dev
deps:
	@missing=""; for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all present ($(DEB_DEPS))"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "deps: missing:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi

clean:
	rm -rf build

# header dependencies written by the compilers (-MMD)
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
