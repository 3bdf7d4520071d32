/* The CUDA thread-block emulation: fibers, the block scheduler, barriers, warp exchange, launch.
 *
 * A block runs on one OS thread. A "runner" fiber starts the block's threads in order and runs
 * each straight through. When a thread waits at a barrier, its fiber stays with it and the
 * scheduler starts a new runner for the threads not yet started. Once every thread has started,
 * all live threads are waiting: the scheduler releases the barrier whose members have all
 * arrived (the block's, or one warp's) and resumes the released threads in thread order.
 *
 * CC_EMU_ORDER changes the order threads start and resume in (and blocks run in), CC_EMU_CHECK=sync
 * checks every barrier release, and race / init keep `check::view` current for the memory
 * checkers (check.h).
 *
 * Fibers switch with a 20-instruction routine on x86-64, because glibc's swapcontext makes a
 * sigprocmask system call per switch (about 300 ns a round trip here); elsewhere, or with
 * -DCC_EMU_UCONTEXT, makecontext/swapcontext. Stacks are mmap'd with a guard page, pooled per OS
 * thread and reused across blocks and launches.
 */
#include "cuda_emu.h"
#include "check.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CC_EMU_ASAN 1
#else
#define CC_EMU_ASAN 0
#endif

#if defined(__x86_64__) && !defined(CC_EMU_UCONTEXT)
#define CC_EMU_FAST_SWITCH 1
#else
#define CC_EMU_FAST_SWITCH 0
#include <ucontext.h>
#endif

__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread dim3 blockDim;
__thread dim3 gridDim;

#if CC_EMU_FAST_SWITCH
/* cc_emu_switch(&save_sp, load_sp): saves the callee-saved registers and the FP control words
   on the current stack, stores the stack pointer in *save_sp, and resumes the context whose stack
   pointer is load_sp. A new fiber's stack is prepared to look like one that called this. */
extern "C" void cc_emu_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl cc_emu_switch
    .hidden cc_emu_switch
    .type cc_emu_switch, @function
cc_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr 8(%rsp)
    fldcw (%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cc_emu_switch, .-cc_emu_switch
)");
#endif

namespace cc_emu {
namespace {

const size_t kStackBytes = CC_EMU_ASAN ? (1u << 20) : (256u << 10);

struct Context {
#if CC_EMU_FAST_SWITCH
    void *sp;
#else
    ucontext_t uc;
#endif
};

struct Fiber {
    Context ctx;
    char *base;     /* usable stack [base, base + size), a guard page below */
    size_t size;
    size_t skew;    /* the stack starts this far below base + size */
};

enum : uint8_t { T_UNSTARTED, T_RUNNING, T_BLOCK_WAIT, T_WARP_WAIT, T_DONE };
enum : uint8_t { W_SYNCWARP, W_SHFL, W_VOTE };
const char *const kWaitName[] = {"__syncwarp", "a shuffle", "a vote"};

struct Block {
    body_fn body;
    void *ctx;
    int nthreads, nwarps;
    int next_start;     /* the next thread a runner starts */
    int live;           /* threads not done (started or not) */
    int at_block;       /* threads waiting at __syncthreads */
    int cur;            /* the thread running now */
    uint3 *thread_idx;  /* &threadIdx of this OS thread */
    unsigned dim_x, dim_y;
    bool flat;          /* blockDim.y == blockDim.z == 1 */
    bool track;                       /* blocks run one at a time: keep check::view current */
    std::vector<uint32_t> order;      /* threads in the order they start and resume (CC_EMU_ORDER) */
    std::vector<uint8_t> state;
    std::vector<Fiber *> fiber;       /* the fiber a waiting thread sleeps on */
    std::vector<uint32_t> wait_mask;  /* a warp waiter's mask */
    std::vector<uint8_t> wait_kind;   /* a warp waiter's barrier: W_SYNCWARP, W_SHFL, W_VOTE */
    std::vector<uintptr_t> wait_pc;   /* where each waiter waits (a return address in the kernel) */
    std::vector<uint32_t> ring;       /* per warp, the lanes of its last check::kRing releases */
    std::vector<uint8_t> warp_ready;
    /* warp exchange: per warp two buffers of 32 slots, used alternately by generation */
    std::vector<uint32_t> warp_gen;
    std::vector<uint64_t> slot;
    std::vector<uint32_t> slot_gen;
    /* __syncthreads_count/and/or: two accumulators used alternately */
    uint32_t block_gen;
    int reduce_count[2], reduce_members[2];
    std::vector<int> released;
    char error[1024];
};

struct Worker {
    Context sched;
    Fiber *current = nullptr;
    std::vector<Fiber *> pool;
    std::vector<Fiber *> all;
    Block block;
    bool in_block = false;
    std::vector<char> smem;
    char *smem_ptr = nullptr;
    const void *os_stack_bottom = nullptr;
    size_t os_stack_size = 0;
    ~Worker()
    {
        for (Fiber *f : all) {
            munmap(f->base - getpagesize(), f->size + getpagesize());
            delete f;
        }
    }
};

thread_local Worker tls_worker;

std::mutex attr_mutex;
std::mutex checked_launch_mutex;   /* serial launches: one at a time (check::view is process-wide) */
std::unordered_map<const void *, int> max_dynamic_smem;   /* set by cudaFuncSetAttribute */

void fiber_main();

/* threadIdx of thread t of block b (its address cached: TLS lookups cost more than the kernel). */
inline void set_thread_index(Block &b, int t)
{
    uint3 *idx = b.thread_idx;
    if (b.flat) {
        idx->x = (unsigned)t;
        return;
    }
    idx->x = (unsigned)t % b.dim_x;
    idx->y = ((unsigned)t / b.dim_x) % b.dim_y;
    idx->z = (unsigned)t / (b.dim_x * b.dim_y);
}

/* Switches from `from` to `to`; to_base/to_size describe the stack `to` runs on (for ASan). */
void switch_context(Context *from, Context *to, const void *to_base, size_t to_size)
{
#if CC_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, to_base, to_size);
#else
    (void)to_base;
    (void)to_size;
#endif
#if CC_EMU_FAST_SWITCH
    cc_emu_switch(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
#if CC_EMU_ASAN
    Worker &w = tls_worker;
    const void *old_base;
    size_t old_size;
    __sanitizer_finish_switch_fiber(fake, &old_base, &old_size);
    if (from != &w.sched) {   /* a fiber resumed by the scheduler: remember the OS thread's stack */
        w.os_stack_bottom = old_base;
        w.os_stack_size = old_size;
    }
#endif
}

/* Prepares f to start fiber_main at its next switch. */
void fiber_reset(Fiber *f)
{
#if CC_EMU_ASAN
    __asan_unpoison_memory_region(f->base, f->size);   /* frames abandoned after an error */
#endif
#if CC_EMU_FAST_SWITCH
    uintptr_t top = ((uintptr_t)(f->base + f->size - f->skew)) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 80);
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    memset(sp, 0, 80);
    memcpy((char *)sp, &fpcw, 2);
    memcpy((char *)sp + 8, &mxcsr, 4);
    sp[8] = (uint64_t)(uintptr_t)&fiber_main;   /* `ret` of cc_emu_switch lands here */
    f->ctx.sp = sp;
#else
    getcontext(&f->ctx.uc);
    f->ctx.uc.uc_stack.ss_sp = f->base;
    f->ctx.uc.uc_stack.ss_size = f->size - f->skew;
    f->ctx.uc.uc_link = nullptr;
    makecontext(&f->ctx.uc, fiber_main, 0);
#endif
}

Fiber *fiber_get(Worker &w)
{
    if (!w.pool.empty()) {
        Fiber *f = w.pool.back();
        w.pool.pop_back();
        return f;
    }
    size_t page = (size_t)getpagesize();
    char *m = (char *)mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(m, page, PROT_NONE);   /* a stack overflow faults instead of corrupting a neighbour */
    Fiber *f = new Fiber();
    f->base = m + page;
    f->size = kStackBytes;
    /* Stack tops at equal offsets in same-sized mappings fall into the same cache sets, and a
       barrier touches every fiber's top in turn: spread them over 64 KiB in 1088-byte steps. */
    f->skew = (w.all.size() * 1088) % 65536;
    fiber_reset(f);
    w.all.push_back(f);
    return f;
}

void fail(Block &b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fail(Block &b, const char *fmt, ...)
{
    if (b.error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b.error, sizeof b.error, fmt, ap);
    va_end(ap);
}

/* From a fiber back to the scheduler. */
void to_scheduler(Worker &w)
{
    switch_context(&w.current->ctx, &w.sched, w.os_stack_bottom, w.os_stack_size);
}

/* From the scheduler into fiber f, which runs as thread t (for a resumed thread). */
void to_fiber(Worker &w, Fiber *f)
{
    w.current = f;
    if (w.block.track) {
        check::view.stack_lo = (uintptr_t)f->base;
        check::view.stack_hi = (uintptr_t)(f->base + f->size);
    }
    switch_context(&w.sched, &f->ctx, f->base, f->size);
}

void fiber_main()
{
#if CC_EMU_ASAN
    {
        Worker &w0 = tls_worker;
        __sanitizer_finish_switch_fiber(nullptr, &w0.os_stack_bottom, &w0.os_stack_size);
    }
#endif
    for (;;) {
        Worker &w = tls_worker;
        Block &b = w.block;
        while (b.next_start < b.nthreads && !b.error[0]) {
            int t = (int)b.order[b.next_start++];
            b.state[t] = T_RUNNING;
            b.cur = t;
            if (b.track) check::view.cur = t;
            set_thread_index(b, t);
            b.body(b.ctx);
            b.state[t] = T_DONE;
            b.live--;
        }
        w.pool.push_back(w.current);
        to_scheduler(w);
    }
}

/* Parks the running thread (its state already set) until the scheduler releases it. */
void wait_here(Worker &w, Block &b)
{
    b.fiber[b.cur] = w.current;
    to_scheduler(w);
}

std::string at(uintptr_t pc) { return check::where(pc); }

/* Whether two barrier calls are different source lines: the compiler copies code, so different
   addresses can be one barrier; without debug information that cannot be told, and is not held against the kernel. */
bool different_lines(uintptr_t a, uintptr_t b)
{
    std::string la = at(a), lb = at(b);
    return la != lb && la.compare(0, 3, "pc ") != 0 && lb.compare(0, 3, "pc ") != 0;
}

/* CC_EMU_CHECK=sync, at a __syncthreads release: every thread of the block must be there, at the
   same __syncthreads. False (and the block failed) otherwise. */
bool check_block_release(Block &b)
{
    int first = -1, exited = -1;
    for (uint32_t k = 0; k < (uint32_t)b.nthreads; k++) {
        int t = (int)b.order[k];
        if (b.state[t] == T_DONE && exited < 0) exited = t;
        if (b.state[t] != T_BLOCK_WAIT) continue;
        if (first < 0) first = t;
        else if (b.wait_pc[t] != b.wait_pc[first] && different_lines(b.wait_pc[t], b.wait_pc[first])) {
            check::finding("synccheck", "divergent __syncthreads: thread " + check::thread_str(first) + " waits at " +
                                            at(b.wait_pc[first]) + ", thread " + check::thread_str(t) + " at " + at(b.wait_pc[t]),
                           "    the threads of a block must all reach the same __syncthreads()\n");
            return false;
        }
    }
    if (exited >= 0) {
        check::finding("synccheck", "__syncthreads at " + at(b.wait_pc[first]) + " reached by " + std::to_string(b.at_block) + " of " +
                                        std::to_string(b.nthreads) + " threads: thread " + check::thread_str(exited) +
                                        " exited without reaching it",
                       "    a __syncthreads() must be reached by every thread of the block (none may have returned)\n");
        return false;
    }
    return true;
}

/* CC_EMU_CHECK=sync, at a warp release: every waiter names itself, all name the same lanes, all
   wait at the same kind of barrier, and every lane named waits (none exited or absent). */
bool check_warp_release(Block &b, int first, int end, uint32_t mask)
{
    int lead = -1;
    for (int t = first; t < end; t++) {
        if (b.state[t] != T_WARP_WAIT) continue;
        int lane = t - first;
        const char *what = kWaitName[b.wait_kind[t]];
        std::string me = "thread " + check::thread_str(t) + " (lane " + std::to_string(lane) + ")";
        char hex[2][16];
        snprintf(hex[0], sizeof hex[0], "0x%08x", b.wait_mask[t]);
        if (!((b.wait_mask[t] >> lane) & 1u)) {
            check::finding("synccheck", me + " waits at " + what + " with mask " + hex[0] + " at " + at(b.wait_pc[t]) + ", which does not name its own lane",
                           "    the calling thread must be in the mask of __syncwarp() and of the *_sync intrinsics\n");
            return false;
        }
        if (lead < 0) { lead = t; continue; }
        snprintf(hex[1], sizeof hex[1], "0x%08x", b.wait_mask[lead]);
        if (b.wait_mask[t] != b.wait_mask[lead] || b.wait_kind[t] != b.wait_kind[lead]) {
            check::finding("synccheck", me + " waits at " + what + " with mask " + hex[0] + " at " + at(b.wait_pc[t]) + ", thread " +
                                            check::thread_str(lead) + " at " + kWaitName[b.wait_kind[lead]] + " with mask " + hex[1] +
                                            " at " + at(b.wait_pc[lead]),
                           "    the lanes of a warp barrier must all call the same one with the same mask\n");
            return false;
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        if (!((mask >> lane) & 1u) || (first + lane < end && b.state[first + lane] == T_WARP_WAIT)) continue;
        char hex[16];
        snprintf(hex, sizeof hex, "0x%08x", mask);
        check::finding("synccheck", std::string(kWaitName[b.wait_kind[lead]]) + " with mask " + hex + " at " + at(b.wait_pc[lead]) +
                                        ": lane " + std::to_string(lane) + (first + lane < end ? " exited before it" : " does not exist in this block"),
                       "    every lane a warp barrier's mask names must reach it\n");
        return false;
    }
    return true;
}

/* Every live thread waits. Releases the block barrier when all live threads are at it, else each
   warp whose waiters' masks name only waiting (or finished, or absent) lanes. Threads resume in
   b.order. False: deadlock (or, with the sync check, a finding). */
bool release(Block &b)
{
    b.released.clear();
    bool sync = check::config().sync;
    if (b.at_block == b.live) {
        if (sync && !check_block_release(b)) return false;
        for (uint32_t k = 0; k < (uint32_t)b.nthreads; k++) {
            int t = (int)b.order[k];
            if (b.state[t] == T_BLOCK_WAIT) {
                b.state[t] = T_RUNNING;
                b.released.push_back(t);
            }
        }
        b.at_block = 0;
        uint32_t next = (b.block_gen + 1) & 1;
        b.reduce_count[next] = b.reduce_members[next] = 0;
        b.block_gen++;
        if (b.track) check::view.epoch = b.block_gen;
        return true;
    }
    for (int wp = 0; wp < b.nwarps; wp++) {
        int first = wp * 32, end = first + 32 < b.nthreads ? first + 32 : b.nthreads;
        uint32_t mask = 0;
        for (int t = first; t < end; t++)
            if (b.state[t] == T_WARP_WAIT) mask |= b.wait_mask[t];
        bool ready = mask != 0;
        for (int t = first; t < end && ready; t++)
            if (((mask >> (t - first)) & 1u) && b.state[t] != T_WARP_WAIT && b.state[t] != T_DONE) ready = false;
        if (ready && sync && !check_warp_release(b, first, end, mask)) return false;
        b.warp_ready[wp] = ready;
        if (!ready) continue;
        uint32_t lanes = 0;
        for (int t = first; t < end; t++)
            if (b.state[t] == T_WARP_WAIT) lanes |= 1u << (t - first);
        b.warp_gen[wp]++;
        b.ring[(size_t)wp * check::kRing + b.warp_gen[wp] % check::kRing] = lanes;
    }
    for (uint32_t k = 0; k < (uint32_t)b.nthreads; k++) {
        int t = (int)b.order[k];
        if (b.state[t] == T_WARP_WAIT && b.warp_ready[t >> 5]) {
            b.state[t] = T_RUNNING;
            b.released.push_back(t);
        }
    }
    return !b.released.empty();
}

void describe_deadlock(Block &b)
{
    int at_warp = 0, first_block = -1, first_warp = -1;
    for (int t = 0; t < b.nthreads; t++) {
        if (b.state[t] == T_WARP_WAIT) { at_warp++; if (first_warp < 0) first_warp = t; }
        if (b.state[t] == T_BLOCK_WAIT && first_block < 0) first_block = t;
    }
    std::string lines;
    if (first_block >= 0) lines += "; __syncthreads at " + at(b.wait_pc[first_block]);
    if (first_warp >= 0) lines += std::string("; ") + kWaitName[b.wait_kind[first_warp]] + " at " + at(b.wait_pc[first_warp]);
    fail(b, "deadlock: %d threads wait at __syncthreads (first: thread %d), %d at a warp barrier (first: thread %d, mask 0x%08x); "
            "threads of a block must reach the same barriers%s",
         b.at_block, first_block, at_warp, first_warp, first_warp >= 0 ? b.wait_mask[first_warp] : 0u, lines.c_str());
}

void run_block(Worker &w)
{
    Block &b = w.block;
    for (;;) {
        if (b.error[0]) break;
        if (b.next_start < b.nthreads) {
            Fiber *f = fiber_get(w);
            if (!f) { fail(b, "out of memory for a fiber stack"); break; }
            to_fiber(w, f);
            continue;
        }
        if (b.live == 0) break;
        check::view.busy = b.track;   /* the scheduler's own copies are no kernel accesses */
        bool released = release(b);
        if (!released) describe_deadlock(b);
        if (b.track) check::view.busy = false;
        if (!released) break;
        for (size_t i = 0; i < b.released.size() && !b.error[0]; i++) {
            int t = b.released[i];
            b.cur = t;
            if (b.track) check::view.cur = t;
            set_thread_index(b, t);
            to_fiber(w, b.fiber[t]);
        }
    }
    if (b.error[0]) {
        /* abandon the threads still parked: their fibers start afresh next time */
        for (int t = 0; t < b.nthreads; t++)
            if (b.state[t] == T_BLOCK_WAIT || b.state[t] == T_WARP_WAIT || (b.state[t] == T_RUNNING && b.fiber[t])) {
                fiber_reset(b.fiber[t]);
                w.pool.push_back(b.fiber[t]);
                b.fiber[t] = nullptr;
                b.state[t] = T_DONE;
            }
    }
}

void block_setup(Worker &w, int nthreads, bool track, uint64_t order_key, body_fn body, void *ctx)
{
    Block &b = w.block;
    b.track = track;
    check::permutation(b.order, (uint32_t)nthreads, order_key);
    b.body = body;
    b.ctx = ctx;
    b.nthreads = nthreads;
    b.nwarps = (nthreads + 31) / 32;
    b.next_start = 0;
    b.live = nthreads;
    b.at_block = 0;
    b.cur = -1;
    b.thread_idx = &threadIdx;
    b.dim_x = blockDim.x;
    b.dim_y = blockDim.y;
    b.flat = blockDim.y == 1 && blockDim.z == 1;
    threadIdx = uint3{0, 0, 0};
    b.state.assign(nthreads, T_UNSTARTED);
    b.fiber.assign(nthreads, nullptr);
    b.wait_mask.assign(nthreads, 0);
    b.wait_kind.assign(nthreads, W_SYNCWARP);
    b.wait_pc.assign(nthreads, 0);
    b.ring.assign((size_t)b.nwarps * check::kRing, 0);
    b.warp_ready.assign(b.nwarps, 0);
    b.warp_gen.assign(b.nwarps, 0);
    b.slot.assign((size_t)b.nwarps * 64, 0);
    b.slot_gen.assign((size_t)b.nwarps * 64, 0xffffffffu);
    b.block_gen = 0;
    b.reduce_count[0] = b.reduce_count[1] = b.reduce_members[0] = b.reduce_members[1] = 0;
    b.error[0] = 0;
}

Block *running_block()
{
    Worker &w = tls_worker;
    return w.in_block ? &w.block : nullptr;
}

/* Dynamic shared memory, filled with 0xff (NaN, -1) so reads before writes show. Under ASan an
   exact-size allocation per block, so overruns are caught. */
void smem_setup(Worker &w, size_t bytes)
{
#if CC_EMU_ASAN
    w.smem_ptr = (char *)malloc(bytes ? bytes : 1);
#else
    if (w.smem.size() < bytes) w.smem.resize(bytes);
    w.smem_ptr = w.smem.data();
#endif
    if (bytes) memset(w.smem_ptr, 0xff, bytes);
}

void smem_release(Worker &w)
{
#if CC_EMU_ASAN
    free(w.smem_ptr);
#endif
    w.smem_ptr = nullptr;
}

void warp_wait(Worker &w, Block &b, unsigned mask, uint8_t kind, uintptr_t pc)
{
    b.state[b.cur] = T_WARP_WAIT;
    b.wait_mask[b.cur] = mask;
    b.wait_kind[b.cur] = kind;
    b.wait_pc[b.cur] = pc;
    wait_here(w, b);
}

void block_wait(Worker &w, Block &b, uintptr_t pc)
{
    b.state[b.cur] = T_BLOCK_WAIT;
    b.wait_pc[b.cur] = pc;
    b.at_block++;
    wait_here(w, b);
}

}  /* namespace */

long long clock_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void set_func_max_dynamic_smem(const void *kernel, int bytes)
{
    std::lock_guard<std::mutex> lock(attr_mutex);
    max_dynamic_smem[kernel] = bytes;
}

void *dynamic_smem() { return tls_worker.smem_ptr; }

unsigned lane_id()
{
    Block *b = running_block();
    return b ? (unsigned)(b->cur & 31) : 0u;
}

#define CC_PC ((uintptr_t)__builtin_return_address(0))   /* the barrier's call in the kernel */

void syncthreads()
{
    Worker &w = tls_worker;
    if (!w.in_block || w.block.nthreads == 1) return;
    block_wait(w, w.block, CC_PC);
}

int syncthreads_reduce(int predicate, int op)
{
    Worker &w = tls_worker;
    if (!w.in_block) return predicate != 0;
    Block &b = w.block;
    uint32_t g = b.block_gen & 1;
    b.reduce_count[g] += predicate != 0;
    b.reduce_members[g]++;
    if (b.nthreads > 1) block_wait(w, b, CC_PC);
    int count = b.reduce_count[g], members = b.reduce_members[g];
    return op == 0 ? count : op == 1 ? count == members : count > 0;
}

void syncwarp(unsigned mask)
{
    Worker &w = tls_worker;
    if (!w.in_block || w.block.nthreads == 1) return;
    warp_wait(w, w.block, mask, W_SYNCWARP, CC_PC);
}

uint64_t shfl(unsigned mask, uint64_t bits, int src_lane)
{
    Worker &w = tls_worker;
    if (!w.in_block) return bits;
    Block &b = w.block;
    int t = b.cur, wp = t >> 5, lane = t & 31;
    if (b.nthreads == 1) {
        if (src_lane != lane) fail(b, "warp shuffle at %s: thread %d reads lane %d, which does not exist", at(CC_PC).c_str(), t, src_lane);
        return bits;
    }
    uint32_t g = b.warp_gen[wp];
    size_t base = ((size_t)wp * 2 + (g & 1)) * 32;
    b.slot[base + lane] = bits;
    b.slot_gen[base + lane] = g;
    warp_wait(w, b, mask, W_SHFL, CC_PC);
    if (src_lane < 0 || src_lane > 31 || b.slot_gen[base + src_lane] != g) {
        fail(b, "warp shuffle (mask 0x%08x) at %s: thread %d reads lane %d, which did not take part (exited, absent or not in the mask)",
             mask, at(CC_PC).c_str(), t, src_lane);
        return bits;
    }
    return b.slot[base + src_lane];
}

unsigned ballot(unsigned mask, int predicate)
{
    Worker &w = tls_worker;
    if (!w.in_block) return predicate ? 1u : 0u;
    Block &b = w.block;
    int t = b.cur, wp = t >> 5, lane = t & 31;
    if (b.nthreads == 1) return predicate ? 1u & mask : 0u;
    uint32_t g = b.warp_gen[wp];
    size_t base = ((size_t)wp * 2 + (g & 1)) * 32;
    b.slot[base + lane] = predicate != 0;
    b.slot_gen[base + lane] = g;
    warp_wait(w, b, mask, W_VOTE, CC_PC);
    unsigned r = 0;
    for (int l = 0; l < 32; l++)
        if (((mask >> l) & 1u) && b.slot_gen[base + l] == g && b.slot[base + l]) r |= 1u << l;
    return r;
}

unsigned active_mask()
{
    Block *b = running_block();
    if (!b) return 1u;
    int first = b->cur & ~31;
    unsigned r = 0;
    for (int l = 0; l < 32 && first + l < b->nthreads; l++)
        if (b->state[first + l] != T_DONE) r |= 1u << l;
    return r;
}

void launch(const void *kernel, dim3 grid, dim3 block, size_t smem_bytes, body_fn body, void *ctx)
{
    uint64_t nthreads = (uint64_t)block.x * block.y * block.z;
    if (nthreads == 0 || nthreads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u) {
        record_error(cudaErrorInvalidConfiguration,
                     "invalid launch configuration: grid (%u, %u, %u), block (%u, %u, %u); a block holds 1..1024 threads "
                     "(z <= 64), grid.x <= 2^31-1, grid.y and grid.z <= 65535",
                     grid.x, grid.y, grid.z, block.x, block.y, block.z);
        return;
    }
    int smem_limit = 48 << 10;
    {
        std::lock_guard<std::mutex> lock(attr_mutex);
        auto it = max_dynamic_smem.find(kernel);
        if (it != max_dynamic_smem.end()) smem_limit = it->second;
    }
    if (smem_bytes > (size_t)smem_limit) {
        record_error(cudaErrorInvalidValue,
                     "dynamic shared memory of %zu bytes exceeds the kernel's limit of %d bytes "
                     "(raise it with cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))",
                     smem_bytes, smem_limit);
        return;
    }
    if (tls_worker.in_block) {
        record_error(cudaErrorNotSupported, "a kernel launched from inside a kernel (dynamic parallelism is not emulated)");
        return;
    }
    const check::Config &cfg = check::config();
    if (!cfg.error.empty()) {
        record_error(cudaErrorInvalidValue, "%s", cfg.error.c_str());
        return;
    }
    bool memcheck = cfg.race || cfg.init;
    if (memcheck && !check::instrumented()) {
        record_error(cudaErrorNotSupported,
                     "CC_EMU_CHECK=%s%s%s needs the instrumented emulated build (emu-check/libcausalconv.so of "
                     "`make emu-check`): this one cannot see kernels' memory accesses",
                     cfg.race ? "race" : "", cfg.race && cfg.init ? "," : "", cfg.init ? "init" : "");
        return;
    }
    static std::atomic<uint32_t> launches(0);
    uint32_t launch_no = ++launches;
    int64_t nblocks = (int64_t)grid.x * grid.y * grid.z;
    /* The instrumented build, the sync check and any order but forward run the blocks one at a
       time, in the order asked for, on this thread (check::view and the checkers' shadow state
       are process-wide). */
    bool serial = check::instrumented() || cfg.order != check::ORDER_FORWARD || cfg.sync;
    std::unique_lock<std::mutex> one_launch(checked_launch_mutex, std::defer_lock);
    std::vector<uint32_t> block_order;
    check::View &v = check::view;
    if (serial) {
        one_launch.lock();
        if (nblocks <= (1 << 24)) check::permutation(block_order, (uint32_t)nblocks, launch_no);   /* larger grids: forward */
        (void)&threadIdx;   /* this thread's thread-local segment exists before its range is looked up */
        if (memcheck) check::shared_launch(kernel);
        v.kernel = kernel;
        v.race = cfg.race;
        v.init = cfg.init;
        v.launch = launch_no;
        v.block_dim = block;
        v.grid_dim = grid;
    }
    std::atomic<bool> failed(false);
    /* Blocks in parallel only when there is enough work to pay for waking the OpenMP team (test
       launches mostly are not); never under ASan, where __shared__ arrays are process-wide. */
    bool parallel = !serial && !CC_EMU_ASAN && nblocks > 1 && (uint64_t)nblocks * nthreads >= (1u << 17);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t k = 0; k < nblocks; k++) {
        if (failed.load(std::memory_order_relaxed)) continue;
        int64_t i = block_order.empty() ? k : (int64_t)block_order[k];
        Worker &w = tls_worker;
        blockIdx.x = (unsigned)(i % grid.x);
        blockIdx.y = (unsigned)((i / grid.x) % grid.y);
        blockIdx.z = (unsigned)(i / ((int64_t)grid.x * grid.y));
        blockDim = block;
        gridDim = grid;
        smem_setup(w, smem_bytes);
        block_setup(w, (int)nthreads, serial, (uint64_t)launch_no << 32 ^ (uint64_t)i, body, ctx);
        if (serial) {
            v.serial++;
            v.block_linear = (uint32_t)i;
            v.dyn_lo = (uintptr_t)w.smem_ptr;
            v.dyn_hi = v.dyn_lo + smem_bytes;
            v.epoch = 0;
            v.warp_gen = w.block.warp_gen.data();
            v.ring = w.block.ring.data();
            v.on = memcheck;
        }
        w.in_block = true;
        run_block(w);
        w.in_block = false;
        v.on = false;
        smem_release(w);
        if (w.block.error[0]) {
            failed.store(true);
            record_error(cudaErrorLaunchFailure, "kernel %s failed in block (%u, %u, %u): %s", check::kernel_name(kernel).c_str(),
                         blockIdx.x, blockIdx.y, blockIdx.z, w.block.error);
        }
    }
}

namespace check {
View view;
void fail_block(const std::string &summary) { fail(tls_worker.block, "%s", summary.c_str()); }
}  /* namespace check */

}  /* namespace cc_emu */
