/* The checking modes of the CUDA emulation (internal to kernels/cuda/emu).
 *
 * CC_EMU_CHECK = a comma list of race, sync, init (or all) and CC_EMU_ORDER = forward, reverse or
 * random[:seed] are read once (check_config.cpp). sync needs nothing but the scheduler
 * (fiber.cpp); race and init need to see every memory access of kernel code, so they work only in
 * the instrumented build, whose kernel sources are compiled with -fsanitize=thread and whose
 * __tsan_* calls land in check_hooks.cpp instead of libtsan. Blocks run one at a time there.
 *
 * While a block runs, fiber.cpp keeps `view` up to date; the memory checkers (check_shared.cpp,
 * check_global.cpp) read it and report through check_report.cpp, which fails the block.
 */
#ifndef CC_EMU_CHECK_H
#define CC_EMU_CHECK_H

#include "cuda_emu.h"

#include <string>
#include <vector>

namespace cc_emu {
namespace check {

enum Order { ORDER_FORWARD, ORDER_REVERSE, ORDER_RANDOM };

struct Config {
    bool race = false, sync = false, init = false;
    Order order = ORDER_FORWARD;
    uint64_t seed = 0;
    std::string error;   /* non-empty: a variable had an unknown value; every launch fails with it */
};
const Config &config();
/* out = the order CC_EMU_ORDER runs n things in (threads of a block, blocks of a launch); key
   varies the random order between blocks and launches. */
void permutation(std::vector<uint32_t> &out, uint32_t n, uint64_t key);

/* True once an instrumented translation unit has started (its constructor calls __tsan_init). */
bool instrumented();
void set_instrumented();

const int kRing = 64;   /* warp releases remembered per warp */

/* What the memory checkers need to know about the running block. Filled by fiber.cpp. */
struct View {
    bool on = false;               /* a block runs and race or init checking is on */
    bool race = false, init = false;        /* config()'s, at hand */
    bool busy = false;             /* inside access(): the checkers' own copies are not kernel accesses */
    const void *kernel = nullptr;
    uint32_t launch = 0;           /* launch number, from 1 */
    uint32_t serial = 0;           /* block number over the process, from 1 */
    uint32_t block_linear = 0;
    dim3 block_dim, grid_dim;
    int cur = -1;                  /* the running thread (linear index in the block) */
    uintptr_t stack_lo = 0, stack_hi = 0;   /* the running fiber's stack: never checked */
    uintptr_t dyn_lo = 0, dyn_hi = 0;       /* dynamic shared memory of this block */
    uint32_t epoch = 0;            /* __syncthreads releases so far in this block */
    const uint32_t *warp_gen = nullptr;     /* per warp: warp releases so far */
    const uint32_t *ring = nullptr;         /* per warp, kRing masks: ring[w * kRing + g % kRing] = lanes of release g */
};
extern View view;

/* Memory accesses of instrumented kernel code (only called while view.on). */
void access(const void *addr, size_t bytes, bool write, bool atomic, uintptr_t pc);

/* Shared memory of the block: the range of static __shared__ data (the thread-local segment of
   the kernel's module, which holds them) is found at launch; cells are reset per block. */
void shared_launch(const void *kernel);
bool shared_access(uintptr_t a, size_t bytes, bool write, bool atomic, uintptr_t pc);   /* false: not shared memory */

/* Device memory: hazards between blocks of one launch, and unwritten bytes of fresh allocations. */
void global_access(uintptr_t a, size_t bytes, bool write, bool atomic, uintptr_t pc);
void device_alloc(void *p, size_t bytes);   /* cudaMalloc */
void device_free(void *p);                  /* cudaFree: drop its shadow */

/* Reports: a finding prints to stderr and fails the running block with a one-line summary. */
uint16_t site(uintptr_t pc);                  /* a small id for an access site (0: unknown) */
std::string where(uintptr_t pc);              /* "file:line" of a return address in kernel code */
std::string site_where(uint16_t id);
std::string kernel_name(const void *kernel);
std::string thread_str(int linear);           /* "(x, y, z)" of a thread of the running block */
std::string block_str(uint32_t linear);       /* "(x, y, z)" of a block of the running launch */
std::string tls_symbol(const std::string &module, uintptr_t offset);   /* the static __shared__ variable there */
void finding(const char *checker, const std::string &summary, const std::string &details);
void fail_block(const std::string &summary);  /* implemented by fiber.cpp */

}  /* namespace check */
}  /* namespace cc_emu */

#endif
