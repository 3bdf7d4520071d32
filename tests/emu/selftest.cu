/* Self-test of the CPU emulation of CUDA (kernels/cuda/emu), built like the emulated library's
 * .cu files and linked against it: `make emu-selftest`. Every kernel result is checked against a
 * plain loop; the emulator's error checks are checked to fire; the library's CUDA bookkeeping
 * (allocator, copy, fill, arange, rand, cuBLAS) is checked at the C level. Ends with the line
 * "N passed, N failed" that tests/run.sh counts.
 */
#include "causalconv.h"
#include "cuda/cuda_common.cuh"
#include "copy.h"

#include <stdio.h>
#include <stdlib.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <initializer_list>
#include <vector>

#include "check.h"   /* the emulation's checking modes (kernels/cuda/emu) */

static long passed, failed;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) passed++;                                \
        else {                                             \
            failed++;                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
        }                                                  \
    } while (0)

static double now_ms()
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/* ---- kernels ------------------------------------------------------------------------------------ */

/* x (n) -> out (gridDim.x): per-block sums through a shared-memory tree (block size a power of 2). */
__global__ void block_sum(int64_t *out, const int *x, int n)
{
    __shared__ int64_t s[1024];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? x[i] : 0;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

/* x (n) -> out (gridDim.x): warp sums with xor shuffles, then warp 0 sums the warp partials. */
__global__ void warp_sum(float *out, const float *x, int n)
{
    __shared__ float partial[32];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = i < n ? x[i] : 0.0f;
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x / 32) ? partial[lane] : 0.0f;
        for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) out[blockIdx.x] = v;
    }
}

/* x (n) -> out (n): inclusive scan within segments of `width` lanes with __shfl_up_sync, and
   bcast (n): every lane gets lane 3's value of its segment. */
__global__ void warp_scan(int *out, int *bcast, const int *x, int width)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = x[i];
    for (int o = 1; o < width; o *= 2) {
        int u = __shfl_up_sync(0xffffffffu, v, o, width);
        if ((int)(threadIdx.x % width) >= o) v += u;
    }
    out[i] = v;
    bcast[i] = __shfl_sync(0xffffffffu, x[i], 3, width);
}

/* x (gridDim.x * blockDim.x) -> out: each block reversed through dynamic shared memory. */
__global__ void block_reverse(double *out, const double *x)
{
    CC_DYNAMIC_SMEM(double, s);
    int base = blockIdx.x * blockDim.x;
    s[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    out[base + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

/* counters: [0] += 1 per thread, [1] = max of x, [2] counts CAS wins; fsum += x as float. */
__global__ void atomics(int *counters, float *fsum, unsigned long long *usum, const int *x, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicAdd(&counters[0], 1);
    atomicMax(&counters[1], x[i]);
    if (atomicCAS(&counters[3], 0, i + 1) == 0) atomicAdd(&counters[2], 1);
    atomicAdd(fsum, (float)x[i]);
    atomicAdd(usum, (unsigned long long)x[i]);
}

/* votes (gridDim.x, 5): __syncthreads_count/and/or of (x > 0), and per warp 0 the ballot and __all_sync. */
__global__ void votes(unsigned *out, const int *x)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int p = x[i] > 0;
    int c = __syncthreads_count(p), a = __syncthreads_and(p), o = __syncthreads_or(p);
    unsigned b = __ballot_sync(0xffffffffu, p);
    int all = __all_sync(0xffffffffu, p), any = __any_sync(0xffffffffu, p);
    if (threadIdx.x == 0) {
        out[blockIdx.x * 6 + 0] = c;
        out[blockIdx.x * 6 + 1] = a;
        out[blockIdx.x * 6 + 2] = o;
        out[blockIdx.x * 6 + 3] = b;
        out[blockIdx.x * 6 + 4] = all;
        out[blockIdx.x * 6 + 5] = any;
    }
}

/* ids (grid threads, 6): every thread writes its threadIdx and blockIdx. */
__global__ void indices(int *ids)
{
    int tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int bid = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    int g = bid * blockDim.x * blockDim.y * blockDim.z + tid;
    int *r = ids + 6 * g;
    r[0] = threadIdx.x; r[1] = threadIdx.y; r[2] = threadIdx.z;
    r[3] = blockIdx.x; r[4] = blockIdx.y; r[5] = blockIdx.z;
}

/* Half of warp 0 waits at __syncthreads, the other half at __syncwarp for the whole warp: a
   deadlock on a GPU. (Threads that exit do not hold up a __syncthreads, as on a GPU.) */
__global__ void split_barrier(int *x)
{
    if (threadIdx.x < 16) __syncthreads();
    else __syncwarp();
    x[threadIdx.x] = 1;
}

/* Lanes past n exit before the warp reduction: a read from an exited lane. */
__global__ void early_exit_shuffle(float *out, int n)
{
    if ((int)threadIdx.x >= n) return;
    float v = 1.0f;
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v;
}

template <typename T, int K> __global__ void scale_k(T *x, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) cc_store(x + i, cc_load(x + i) * (cc_acc_t<T>)K);
}

/* Nothing but arithmetic: measures the per-thread cost of barrier-free kernels. */
__global__ void axpy(float *y, const float *x, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}

/* ---- seeded bugs for the checkers (CC_EMU_CHECK), each with its fixed twin (FIXED = true) ----- */

/* out[t] = x[(t + 1) % blockDim.x] through shared memory: the read needs a __syncthreads. (s is
   zeroed first, so that what is caught is the race, not an uninitialised read.) */
template <bool FIXED> __global__ void rotate_block(int *out, const int *x)
{
    __shared__ int s[64];
    int t = threadIdx.x;
    s[t] = 0;
    __syncthreads();
    s[t] = x[t];
    if (FIXED) __syncthreads();
    out[t] = s[(t + 1) % blockDim.x];
}

/* The same within one warp, through dynamic shared memory: the read needs a __syncwarp. */
template <bool FIXED> __global__ void swap_lanes(int *out, const int *x)
{
    CC_DYNAMIC_SMEM(int, s);
    int t = threadIdx.x;
    s[t] = 0;
    __syncwarp();
    s[t] = x[t];
    if (FIXED) __syncwarp();
    out[t] = s[t ^ 1];
}

/* Threads from 16 on skip the barrier and exit. */
template <bool FIXED> __global__ void divergent_barrier(int *out)
{
    if (FIXED || threadIdx.x < 16) __syncthreads();
    out[threadIdx.x] = 1;
}

/* Thread 5 leaves its slot of s unwritten; the dynamic twin leaves the last float. */
template <bool FIXED> __global__ void uninit_static(int *out)
{
    __shared__ int s[64];
    if (FIXED || threadIdx.x != 5) s[threadIdx.x] = (int)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}

template <bool FIXED> __global__ void uninit_dynamic(float *out)
{
    CC_DYNAMIC_SMEM(float, s);
    if (FIXED || threadIdx.x + 1 < blockDim.x) s[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

/* Reads x (n), which the caller may never have written. */
__global__ void read_all(float *out, const float *x, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = x[i] * 2.0f;
}

/* Every block's thread 0 increments *count: a plain read-modify-write from several blocks. */
template <bool FIXED> __global__ void count_blocks(int *count)
{
    if (threadIdx.x != 0) return;
    if (FIXED) atomicAdd(count, 1);
    else *count += 1;
}

/* Block b writes buf[b] from buf[b - 1], which block b - 1 writes in the same launch; the twin
   reads another buffer. */
template <bool FIXED> __global__ void chain_blocks(int *buf, const int *prev)
{
    int b = blockIdx.x;
    if (threadIdx.x == 0) buf[b] = (b > 0 ? (FIXED ? prev : buf)[b - 1] : 0) + 1;
}

/* Lanes 0..15 meet at a __syncwarp whose mask names all 32 lanes, but lanes 16..31 have exited. */
template <bool FIXED> __global__ void half_warp_sync(int *out)
{
    __shared__ int s[32];
    int t = threadIdx.x;
    if (t >= 16) return;
    s[t] = t;
    __syncwarp(FIXED ? 0x0000ffffu : 0xffffffffu);
    out[t] = s[t ^ 1];
}

/* All 32 lanes call __syncwarp with a mask that names only lanes 0..15. */
__global__ void mask_without_self(int *out)
{
    __syncwarp(0x0000ffffu);
    out[threadIdx.x] = 1;
}

#if defined(__SANITIZE_ADDRESS__)
/* Bugs AddressSanitizer must catch in the emulation (each runs in a child process that it kills). */
__global__ void smem_overrun(float *out)
{
    __shared__ float s[32];
    s[threadIdx.x] = 1.0f;   /* launched with 33 threads */
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}

__global__ void dyn_smem_overrun(float *out)
{
    CC_DYNAMIC_SMEM(float, s);
    s[threadIdx.x] = 2.0f;   /* one thread more than the floats given */
    out[0] = s[0];
}

__global__ void write_n(float *out, int n)
{
    if ((int)threadIdx.x < n) out[threadIdx.x] = 1.0f;
}
#endif

/* ---- tests --------------------------------------------------------------------------------------- */

template <typename T> static T *dev_copy(const std::vector<T> &h)
{
    void *p = nullptr;
    cudaMalloc(&p, h.size() * sizeof(T) + 1);
    cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
    return (T *)p;
}

template <typename T> static std::vector<T> host_copy(const T *d, size_t n)
{
    std::vector<T> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
}

static void test_block_sum()
{
    const int sizes[] = {1, 2, 32, 64, 256, 1024};
    for (int bs : sizes) {
        int n = bs * 7 - 3 > 0 ? bs * 7 - 3 : 1, blocks = (int)cc_ceil_div(n, bs);
        std::vector<int> x(n);
        for (int i = 0; i < n; i++) x[i] = (i * 37) % 101 - 50;
        int *dx = dev_copy(x);
        int64_t *dout = nullptr;
        cudaMalloc(&dout, blocks * sizeof(int64_t));
        CC_LAUNCH(block_sum, blocks, bs, 0, dout, dx, n);
        CHECK(cc_cuda_launch_status("block_sum") == CC_OK, "%s", cc_last_error());
        std::vector<int64_t> got = host_copy(dout, blocks);
        for (int b = 0; b < blocks; b++) {
            int64_t want = 0;
            for (int i = b * bs; i < n && i < (b + 1) * bs; i++) want += x[i];
            CHECK(got[b] == want, "block size %d, block %d: %lld != %lld", bs, b, (long long)got[b], (long long)want);
        }
        cudaFree(dx);
        cudaFree(dout);
    }
}

static void test_warp_sum()
{
    const int sizes[] = {32, 96, 1024};
    for (int bs : sizes) {
        int n = bs * 5, blocks = 5;
        std::vector<float> x(n);
        for (int i = 0; i < n; i++) x[i] = (float)((i * 13) % 17);   /* small integers: sums are exact */
        float *dx = dev_copy(x), *dout = nullptr;
        cudaMalloc(&dout, blocks * sizeof(float));
        CC_LAUNCH(warp_sum, blocks, bs, 0, dout, dx, n);
        CHECK(cc_cuda_launch_status("warp_sum") == CC_OK, "%s", cc_last_error());
        std::vector<float> got = host_copy(dout, blocks);
        for (int b = 0; b < blocks; b++) {
            float want = 0;
            for (int i = b * bs; i < (b + 1) * bs; i++) want += x[i];
            CHECK(got[b] == want, "block size %d, block %d: %g != %g", bs, b, got[b], want);
        }
        cudaFree(dx);
        cudaFree(dout);
    }
}

static void test_warp_scan()
{
    const int widths[] = {4, 8, 32};
    int n = 128;
    std::vector<int> x(n);
    for (int i = 0; i < n; i++) x[i] = i % 7 + 1;
    for (int width : widths) {
        int *dx = dev_copy(x), *dout = nullptr, *dbc = nullptr;
        cudaMalloc(&dout, n * sizeof(int));
        cudaMalloc(&dbc, n * sizeof(int));
        CC_LAUNCH(warp_scan, 2, 64, 0, dout, dbc, dx, width);
        CHECK(cc_cuda_launch_status("warp_scan") == CC_OK, "%s", cc_last_error());
        std::vector<int> got = host_copy(dout, n), bc = host_copy(dbc, n);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            int seg = i / width * width, want = 0;
            for (int j = seg; j <= i; j++) want += x[j];
            bad += got[i] != want;
            bad += bc[i] != x[seg + 3];
        }
        CHECK(bad == 0, "width %d: %d wrong values", width, bad);
        cudaFree(dx);
        cudaFree(dout);
        cudaFree(dbc);
    }
}

static void test_dynamic_smem()
{
    int bs = 200, blocks = 3, n = bs * blocks;
    std::vector<double> x(n);
    for (int i = 0; i < n; i++) x[i] = i * 0.5;
    double *dx = dev_copy(x), *dout = nullptr;
    cudaMalloc(&dout, n * sizeof(double));
    CC_LAUNCH(block_reverse, blocks, bs, bs * sizeof(double), dout, dx);
    CHECK(cc_cuda_launch_status("block_reverse") == CC_OK, "%s", cc_last_error());
    std::vector<double> got = host_copy(dout, n);
    int bad = 0;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < bs; t++) bad += got[b * bs + t] != x[b * bs + bs - 1 - t];
    CHECK(bad == 0, "%d wrong values", bad);

    /* above 48 KiB only after raising the kernel's limit, as on a GPU */
    size_t big = 64 << 10;
    CC_LAUNCH(block_reverse, 1, 32, big, dout, dx);
    CHECK(cc_cuda_launch_status("block_reverse") == CC_ERR_CUDA && strstr(cc_last_error(), "cudaFuncSetAttribute"), "%s",
          cc_last_error());
    cudaFuncSetAttribute(block_reverse, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big);
    CC_LAUNCH(block_reverse, 1, 32, big, dout, dx);
    CHECK(cc_cuda_launch_status("block_reverse") == CC_OK, "%s", cc_last_error());
    cudaFree(dx);
    cudaFree(dout);
}

static void test_atomics()
{
    int n = 5000;
    std::vector<int> x(n);
    long long want = 0;
    int mx = -1000;
    for (int i = 0; i < n; i++) {
        x[i] = (i * 7919) % 1000;
        want += x[i];
        mx = x[i] > mx ? x[i] : mx;
    }
    int *dx = dev_copy(x);
    std::vector<int> c0(4, 0);
    c0[1] = -1000;
    int *dc = dev_copy(c0);
    float *df = nullptr;
    unsigned long long *du = nullptr;
    cudaMalloc(&df, sizeof(float));
    cudaMalloc(&du, sizeof(unsigned long long));
    cudaMemset(df, 0, sizeof(float));
    cudaMemset(du, 0, sizeof(unsigned long long));
    CC_LAUNCH(atomics, (unsigned)cc_ceil_div(n, 128), 128, 0, dc, df, du, dx, n);
    CHECK(cc_cuda_launch_status("atomics") == CC_OK, "%s", cc_last_error());
    std::vector<int> c = host_copy(dc, 4);
    float f = host_copy(df, 1)[0];
    unsigned long long u = host_copy(du, 1)[0];
    CHECK(c[0] == n, "count %d", c[0]);
    CHECK(c[1] == mx, "max %d != %d", c[1], mx);
    CHECK(c[2] == 1, "CAS winners %d", c[2]);
    CHECK((long long)u == want, "u64 sum %llu != %lld", u, want);
    CHECK(fabs(f - (double)want) <= 1e-6 * want + 64, "float sum %g != %lld", f, want);
    cudaFree(dx);
    cudaFree(dc);
    cudaFree(df);
    cudaFree(du);
}

static void test_votes()
{
    int bs = 64, blocks = 3, n = bs * blocks;
    std::vector<int> x(n);
    for (int i = 0; i < n; i++) x[i] = i < 64 ? 1 : (i < 128 ? (i % 3 == 0) : 0);
    int *dx = dev_copy(x);
    unsigned *dout = nullptr;
    cudaMalloc(&dout, blocks * 6 * sizeof(unsigned));
    CC_LAUNCH(votes, blocks, bs, 0, dout, dx);
    CHECK(cc_cuda_launch_status("votes") == CC_OK, "%s", cc_last_error());
    std::vector<unsigned> got = host_copy(dout, blocks * 6);
    for (int b = 0; b < blocks; b++) {
        unsigned count = 0, ballot = 0;
        for (int t = 0; t < bs; t++) count += x[b * bs + t] > 0;
        for (int t = 0; t < 32; t++) ballot |= (unsigned)(x[b * bs + t] > 0) << t;
        const unsigned *g = &got[b * 6];
        CHECK(g[0] == count && g[1] == (count == (unsigned)bs) && g[2] == (count > 0), "block %d: count/and/or %u %u %u", b, g[0], g[1], g[2]);
        CHECK(g[3] == ballot && g[4] == (ballot == 0xffffffffu) && g[5] == (ballot != 0), "block %d: ballot %08x all %u any %u", b, g[3], g[4], g[5]);
    }
    cudaFree(dx);
    cudaFree(dout);
}

static void test_indices()
{
    dim3 grid(3, 2, 2), block(5, 3, 2);
    int threads = 3 * 2 * 2 * 5 * 3 * 2;
    int *d = nullptr;
    cudaMalloc(&d, threads * 6 * sizeof(int));
    CC_LAUNCH(indices, grid, block, 0, d);
    CHECK(cc_cuda_launch_status("indices") == CC_OK, "%s", cc_last_error());
    std::vector<int> got = host_copy(d, threads * 6);
    int bad = 0, g = 0;
    for (unsigned bz = 0; bz < 2; bz++)
        for (unsigned by = 0; by < 2; by++)
            for (unsigned bx = 0; bx < 3; bx++)
                for (unsigned tz = 0; tz < 2; tz++)
                    for (unsigned ty = 0; ty < 3; ty++)
                        for (unsigned tx = 0; tx < 5; tx++, g++) {
                            const int *r = &got[6 * g];
                            bad += r[0] != (int)tx || r[1] != (int)ty || r[2] != (int)tz || r[3] != (int)bx || r[4] != (int)by ||
                                   r[5] != (int)bz;
                        }
    CHECK(bad == 0, "%d threads saw the wrong indices", bad);
    cudaFree(d);
}

static void test_errors()
{
    int *d = nullptr;
    cudaMalloc(&d, 2048 * sizeof(int));
    CC_LAUNCH(indices, 1, 1025, 0, d);
    CHECK(cc_cuda_launch_status("too_big") == CC_ERR_CUDA && strstr(cc_last_error(), "too_big: CUDA error: cudaErrorInvalidConfiguration"),
          "%s", cc_last_error());
    CC_LAUNCH(indices, dim3(1, 70000), 32, 0, d);
    CHECK(cc_cuda_launch_status("grid") == CC_ERR_CUDA, "%s", cc_last_error());
    CC_LAUNCH(split_barrier, 2, 64, 0, d);
    CHECK(cc_cuda_launch_status("split_barrier") == CC_ERR_CUDA && strstr(cc_last_error(), "deadlock"), "%s", cc_last_error());
    float *f = nullptr;
    cudaMalloc(&f, 64 * sizeof(float));
    CC_LAUNCH(early_exit_shuffle, 1, 32, 0, f, 20);
    CHECK(cc_cuda_launch_status("early_exit") == CC_ERR_CUDA &&
              (strstr(cc_last_error(), "did not take part") || strstr(cc_last_error(), "exited before it")),   /* sync check: at the shuffle */
          "%s", cc_last_error());
    CC_LAUNCH(early_exit_shuffle, 1, 32, 0, f, 32);   /* all lanes present: fine, and the fibers recovered */
    CHECK(cc_cuda_launch_status("early_exit") == CC_OK, "%s", cc_last_error());
    std::vector<float> got = host_copy(f, 32);
    CHECK(got[0] == 32.0f && got[31] == 32.0f, "%g %g", got[0], got[31]);
    /* copies must stay inside device allocations */
    std::vector<int> h(4096);
    CHECK(cudaMemcpy(d, h.data(), 4096 * sizeof(int), cudaMemcpyHostToDevice) == cudaErrorInvalidValue, "overrun accepted");
    CHECK(cudaMemcpy(h.data(), h.data() + 1, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue, "host pointer taken as device");
    cudaGetLastError();
    cudaFree(d);
    cudaFree(f);
}

static void test_templates()
{
    int n = 300;
    std::vector<uint16_t> h(n), hb(n);
    std::vector<double> hd(n);
    for (int i = 0; i < n; i++) {
        h[i] = cc_f32_to_f16_inline(i * 0.25f);
        hb[i] = cc_f32_to_bf16_inline(i * 0.25f);
        hd[i] = i * 0.25;
    }
    uint16_t *d16 = dev_copy(h), *db16 = dev_copy(hb);
    double *dd = dev_copy(hd);
    int rc = cc_dispatch_float(CC_F16, "scale", [&](auto tag) {
        typedef decltype(tag) T;
        CC_LAUNCH((scale_k<T, 3>), (unsigned)cc_ceil_div(n, 128), 128, 0, (T *)d16, n);
        return cc_cuda_launch_status("scale");
    });
    CHECK(rc == CC_OK, "%s", cc_last_error());
    CC_LAUNCH((scale_k<cc_bf16, 2>), (unsigned)cc_ceil_div(n, 128), 128, 0, (cc_bf16 *)db16, n);
    CC_LAUNCH((scale_k<double, 5>), (unsigned)cc_ceil_div(n, 128), 128, 0, dd, n);
    CHECK(cc_cuda_launch_status("scale") == CC_OK, "%s", cc_last_error());
    std::vector<uint16_t> g = host_copy(d16, n), gb = host_copy(db16, n);
    std::vector<double> gd = host_copy(dd, n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bad += g[i] != cc_f32_to_f16_inline(cc_f16_to_f32_inline(h[i]) * 3.0f);
        bad += gb[i] != cc_f32_to_bf16_inline(cc_bf16_to_f32_inline(hb[i]) * 2.0f);
        bad += gd[i] != hd[i] * 5.0;
    }
    CHECK(bad == 0, "%d wrong values", bad);
    CHECK(cc_dispatch_float(CC_I32, "scale", [](auto) { return CC_OK; }) == CC_ERR_DTYPE, "i32 dispatched as float");
    CHECK(cc_narrow<int32_t>(cc_widen(cc_narrow<cc_bf16>(3.0))) == 3 && cc_widen(cc_f16{0x3c00}) == 1.0f &&
          cc_narrow<int32_t>(cc_widen(cc_f16{0x7c00})) == INT32_MAX, "cc_narrow / cc_widen");
    cudaFree(d16);
    cudaFree(db16);
    cudaFree(dd);
}

/* ---- the library's CUDA bookkeeping --------------------------------------------------------------- */

static void test_allocator()
{
    int64_t a0, r0, p0, n0, a1, r1, p1, n1;
    cc_cuda_empty_cache();
    cc_cuda_memory_stats(&a0, &r0, &p0, &n0);
    void *x = nullptr, *y = nullptr;
    CHECK(cc_cuda_alloc(&x, 1000, 0) == CC_OK, "%s", cc_last_error());
    cc_cuda_memory_stats(&a1, &r1, &p1, &n1);
    CHECK(a1 - a0 == 1024 && r1 - r0 == 1024 && n1 == n0 + 1, "allocated %+lld reserved %+lld allocs %+lld", (long long)(a1 - a0),
          (long long)(r1 - r0), (long long)(n1 - n0));
    cc_cuda_free(x, 0);
    CHECK(cc_cuda_alloc(&y, 1020, 0) == CC_OK && y == x, "the cached block was not reused");
    cc_cuda_memory_stats(&a1, &r1, &p1, &n1);
    CHECK(n1 == n0 + 1, "cudaMalloc called again on a cache hit");
    cc_cuda_free(y, 0);
    cc_cuda_memory_stats(&a1, &r1, &p1, &n1);
    CHECK(a1 == a0 && r1 == r0 + 1024, "after free: allocated %lld reserved %lld", (long long)a1, (long long)r1);
    void *big = nullptr;
    CHECK(cc_cuda_alloc(&big, (3 << 20) + 1, 0) == CC_OK, "%s", cc_last_error());
    cc_cuda_memory_stats(&a1, &r1, &p1, &n1);
    CHECK(a1 - a0 == (int64_t)(3.5 * (1 << 20)), "3 MiB + 1 rounds to 3.5 MiB, got %lld", (long long)(a1 - a0));
    cc_cuda_free(big, 0);
    cc_cuda_empty_cache();
    cc_cuda_memory_stats(&a1, &r1, &p1, &n1);
    CHECK(a1 == a0 && r1 == a0, "empty_cache: allocated %lld reserved %lld", (long long)a1, (long long)r1);
    CHECK(p1 >= a0 + (int64_t)(3.5 * (1 << 20)), "peak %lld", (long long)p1);
}

/* strided copy between all dtype pairs, against a host loop over the same views */
static double host_get(const void *base, int dtype, int64_t i)
{
    switch (dtype) {
    case CC_F32: return ((const float *)base)[i];
    case CC_F64: return ((const double *)base)[i];
    case CC_F16: return cc_f16_to_f32_inline(((const uint16_t *)base)[i]);
    case CC_BF16: return cc_bf16_to_f32_inline(((const uint16_t *)base)[i]);
    case CC_I32: return ((const int32_t *)base)[i];
    default: return (double)((const int64_t *)base)[i];
    }
}

static void test_copy()
{
    /* a (4, 3, 5) view: dst contiguous or transposed, src permuted or narrowed */
    const int64_t shape[3] = {4, 3, 5};
    const int64_t layouts[3][3] = {{15, 5, 1}, {1, 4, 12}, {40, 10, 2}};   /* contiguous, transposed, every 2nd */
    int bad = 0, cases = 0;
    for (int sd = 0; sd < 6; sd++)
        for (int dd = 0; dd < 6; dd++)
            for (int sl = 0; sl < 3; sl++)
                for (int dl = 0; dl < 3; dl++) {
                    int64_t ss = cc_dtype_size(sd), ds = cc_dtype_size(dd), cap = 160;
                    std::vector<char> hs(cap * ss);
                    for (int64_t i = 0; i < cap; i++) {
                        double v = (double)((i * 7) % 23) - 11.0;
                        switch (sd) {
                        case CC_F32: ((float *)hs.data())[i] = (float)v; break;
                        case CC_F64: ((double *)hs.data())[i] = v; break;
                        case CC_F16: ((uint16_t *)hs.data())[i] = cc_f32_to_f16_inline((float)v); break;
                        case CC_BF16: ((uint16_t *)hs.data())[i] = cc_f32_to_bf16_inline((float)v); break;
                        case CC_I32: ((int32_t *)hs.data())[i] = (int32_t)v; break;
                        default: ((int64_t *)hs.data())[i] = (int64_t)v; break;
                        }
                    }
                    void *src = nullptr, *dst = nullptr;
                    cc_cuda_alloc(&src, cap * ss, 0);
                    cc_cuda_alloc(&dst, cap * ds, 0);
                    cc_cuda_memcpy(src, hs.data(), cap * ss, 0);
                    cc_fill_args z;
                    memset(&z, 0, sizeof z);
                    z.ndim = 1;
                    z.shape[0] = cap;
                    z.stride[0] = 1;
                    z.dst = dst;
                    z.dtype = dd;
                    z.value = 99;
                    cc_cuda_fill(&z);
                    cc_copy_args a;
                    memset(&a, 0, sizeof a);
                    a.ndim = 3;
                    memcpy(a.shape, shape, sizeof shape);
                    a.dst = dst;
                    a.dst_dtype = dd;
                    memcpy(a.dst_stride, layouts[dl], sizeof layouts[dl]);
                    a.src = src;
                    a.src_dtype = sd;
                    memcpy(a.src_stride, layouts[sl], sizeof layouts[sl]);
                    if (cc_cuda_copy(&a) != CC_OK) { bad++; printf("  copy: %s\n", cc_last_error()); }
                    std::vector<char> hd(cap * ds);
                    cc_cuda_memcpy(hd.data(), dst, cap * ds, 1);
                    std::vector<int> written(cap, 0);
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 3; j++)
                            for (int k = 0; k < 5; k++) {
                                int64_t so = i * layouts[sl][0] + j * layouts[sl][1] + k * layouts[sl][2];
                                int64_t doff = i * layouts[dl][0] + j * layouts[dl][1] + k * layouts[dl][2];
                                written[doff] = 1;
                                bad += host_get(hd.data(), dd, doff) != host_get(hs.data(), sd, so);
                            }
                    for (int64_t i = 0; i < cap; i++) bad += !written[i] && host_get(hd.data(), dd, i) != 99.0;
                    cases++;
                    cc_cuda_free(src, 0);
                    cc_cuda_free(dst, 0);
                }
    CHECK(bad == 0, "%d wrong elements over %d dtype/layout cases", bad, cases);
}

static void test_fill_arange()
{
    int bad = 0;
    for (int dt = 0; dt < 6; dt++)
        for (int64_t off = 0; off < 9; off += 3) {
            int64_t n = 1000, es = cc_dtype_size(dt);
            void *d = nullptr;
            cc_cuda_alloc(&d, (n + off) * es, 0);
            cc_fill_args f;
            memset(&f, 0, sizeof f);
            f.ndim = 1;
            f.shape[0] = n;
            f.stride[0] = 1;
            f.dst = (char *)d + off * es;   /* misaligned starts exercise the head and tail stores */
            f.dtype = dt;
            f.value = -2.5;
            if (cc_cuda_fill(&f) != CC_OK) bad++;
            std::vector<char> h(n * es);
            cc_cuda_memcpy(h.data(), f.dst, n * es, 1);
            double want = dt >= CC_I32 ? -2.0 : -2.5;
            for (int64_t i = 0; i < n; i++) bad += host_get(h.data(), dt, i) != want;
            /* strided: every 3rd element of (n/3), then arange on the same view */
            f.shape[0] = n / 3;
            f.stride[0] = 3;
            f.value = 0;
            if (cc_cuda_fill(&f) != CC_OK) bad++;
            f.value = 1.0;
            f.step = 2.0;
            if (cc_cuda_arange(&f) != CC_OK) bad++;
            cc_cuda_memcpy(h.data(), f.dst, n * es, 1);
            for (int64_t i = 0; i < n; i++) {
                double w = i % 3 == 0 && i / 3 < n / 3 ? 1.0 + 2.0 * (double)(i / 3) : want;
                if (dt == CC_F16 || dt == CC_BF16) w = dt == CC_F16 ? cc_f16_to_f32_inline(cc_f32_to_f16_inline((float)w))
                                                                    : cc_bf16_to_f32_inline(cc_f32_to_bf16_inline((float)w));
                bad += host_get(h.data(), dt, i) != w;
            }
            cc_cuda_free(d, 0);
        }
    CHECK(bad == 0, "%d wrong elements", bad);
}

static void test_random()
{
    const int64_t n = 200001;   /* odd: randn takes the scratch path */
    for (int dt = CC_F32; dt <= CC_F64; dt++) {
        int64_t es = cc_dtype_size(dt);
        void *a = nullptr, *b = nullptr;
        cc_cuda_alloc(&a, n * es, 0);
        cc_cuda_alloc(&b, n * es, 0);
        std::vector<char> ha(n * es), hb(n * es);
        CHECK(cc_cuda_rand(a, dt, n, -1.0, 3.0, 42, 0) == CC_OK, "%s", cc_last_error());
        cc_cuda_memcpy(ha.data(), a, n * es, 1);
        double sum = 0, sq = 0, lo = 1e9, hi = -1e9;
        for (int64_t i = 0; i < n; i++) {
            double v = host_get(ha.data(), dt, i);
            sum += v;
            sq += v * v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        double mean = sum / n, var = sq / n - mean * mean;
        CHECK(fabs(mean - 1.0) < 0.02 && fabs(var - 16.0 / 12.0) < 0.02 && lo >= -1.0 && hi < 3.0,
              "rand %s: mean %g var %g range [%g, %g]", cc_dtype_name(dt), mean, var, lo, hi);
        CHECK(cc_cuda_randn(b, dt, n, 2.0, 0.5, 42, 0) == CC_OK, "%s", cc_last_error());
        cc_cuda_memcpy(hb.data(), b, n * es, 1);
        sum = sq = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = host_get(hb.data(), dt, i);
            sum += v;
            sq += v * v;
        }
        mean = sum / n;
        var = sq / n - mean * mean;
        CHECK(fabs(mean - 2.0) < 0.01 && fabs(var - 0.25) < 0.01, "randn %s: mean %g var %g", cc_dtype_name(dt), mean, var);
        /* same seed and offset: same values; another offset: others */
        cc_cuda_rand(b, dt, n, -1.0, 3.0, 42, 0);
        cc_cuda_memcpy(hb.data(), b, n * es, 1);
        CHECK(memcmp(ha.data(), hb.data(), n * es) == 0, "rand %s not reproducible", cc_dtype_name(dt));
        cc_cuda_rand(b, dt, n, -1.0, 3.0, 42, 7);
        cc_cuda_memcpy(hb.data(), b, n * es, 1);
        CHECK(memcmp(ha.data(), hb.data(), n * es) != 0, "rand %s ignores the offset", cc_dtype_name(dt));
        cc_cuda_free(a, 0);
        cc_cuda_free(b, 0);
    }
}

/* C (m, n) = op(A) op(B), column-major, against a triple loop */
static void test_cublas()
{
    int m = 7, n = 5, k = 9, batch = 3;
    int bad = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? k + 1 : m + 2, ldb = tb ? n + 3 : k, ldc = m + 1;
            int64_t sa = (int64_t)lda * (ta ? m : k), sb = (int64_t)ldb * (tb ? k : n), sc = (int64_t)ldc * n;
            std::vector<double> A(sa * batch), B(sb * batch), C(sc * batch, 1.0);
            for (size_t i = 0; i < A.size(); i++) A[i] = (double)((i * 5) % 11) - 5;
            for (size_t i = 0; i < B.size(); i++) B[i] = (double)((i * 3) % 7) - 3;
            double *dA = dev_copy(A), *dB = dev_copy(B), *dC = dev_copy(C);
            double alpha = 2.0, beta = 0.5;
            cublasStatus_t s = cublasDgemmStridedBatched(cc_cuda_cublas(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                         m, n, k, &alpha, dA, lda, sa, dB, ldb, sb, &beta, dC, ldc, sc, batch);
            CHECK(cc_cublas_check(s, "gemm", "cublasDgemmStridedBatched") == CC_OK, "%s", cc_last_error());
            std::vector<double> G = host_copy(dC, sc * batch);
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double acc = 0;
                        for (int p = 0; p < k; p++) {
                            double av = ta ? A[b * sa + i * lda + p] : A[b * sa + p * lda + i];
                            double bv = tb ? B[b * sb + p * ldb + j] : B[b * sb + j * ldb + p];
                            acc += av * bv;
                        }
                        bad += G[b * sc + j * ldc + i] != alpha * acc + beta * 1.0;
                    }
            cudaFree(dA);
            cudaFree(dB);
            cudaFree(dC);
        }
    CHECK(bad == 0, "%d wrong elements", bad);
    float one = 1.0f;
    CHECK(cublasSgemm(cc_cuda_cublas(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, nullptr, 3, nullptr, 4, &one, nullptr, 4) ==
              CUBLAS_STATUS_INVALID_VALUE, "lda < m accepted");
}

static void test_device()
{
    char name[64];
    CHECK(cc_cuda_is_built() && cc_cuda_is_emulated() && cc_cuda_is_available() && cc_cuda_device_count() == 1, "device flags");
    CHECK(cc_cuda_device_name(name, sizeof name) == CC_OK && strcmp(name, "causalconv CPU emulation") == 0, "name %s", name);
    void *t = nullptr;
    double ms = -1;
    CHECK(cc_cuda_timer_start(&t) == CC_OK, "%s", cc_last_error());
    CHECK(cc_cuda_synchronize() == CC_OK, "%s", cc_last_error());
    CHECK(cc_cuda_timer_stop(t, &ms) == CC_OK && ms > 0, "elapsed %g ms", ms);
}

/* ---- the checking modes -------------------------------------------------------------------------- */

/* The launch just made failed with a report containing every one of the words. */
static bool reported(const char *name, std::initializer_list<const char *> words)
{
    int st = cc_cuda_launch_status(name);
    if (st != CC_ERR_CUDA) return false;
    for (const char *w : words)
        if (!strstr(cc_last_error(), w)) {
            printf("  %s: report without '%s': %s\n", name, w, cc_last_error());
            return false;
        }
    return true;
}

static bool clean(const char *name)
{
    int st = cc_cuda_launch_status(name);
    if (st != CC_OK) printf("  %s: %s\n", name, cc_last_error());
    return st == CC_OK;
}

/* Each seeded bug is caught by its checker (when CC_EMU_CHECK turns it on); each fixed twin runs
   clean and computes the right thing. */
static void test_checkers()
{
    const cc_emu::check::Config &cfg = cc_emu::check::config();
    std::vector<int> x(64);
    for (int i = 0; i < 64; i++) x[i] = i * 3;
    int *dx = dev_copy(x), *d = nullptr;
    cudaMalloc(&d, 64 * sizeof(int));
    if (cfg.race) {
        CC_LAUNCH(rotate_block<false>, 1, 64, 0, d, dx);
        CHECK(reported("rotate_block", {"racecheck", "hazard on shared memory", "rotate_block", "selftest.cu:"}), "missing __syncthreads");
        CC_LAUNCH(swap_lanes<false>, 1, 32, 32 * sizeof(int), d, dx);
        CHECK(reported("swap_lanes", {"racecheck", "shared memory (dynamic) + "}), "missing __syncwarp");
        cudaMemset(d, 0, sizeof(int));
        CC_LAUNCH(count_blocks<false>, 4, 32, 0, d);
        CHECK(reported("count_blocks", {"racecheck", "between blocks", "count_blocks"}), "two blocks writing one element");
        cudaMemset(d, 0, 64 * sizeof(int));   /* written: what is caught is the race */
        CC_LAUNCH(chain_blocks<false>, 8, 32, 0, d, (const int *)dx);
        CHECK(reported("chain_blocks", {"racecheck", "between blocks"}), "a block reading what another writes");
    }
    CC_LAUNCH(rotate_block<true>, 1, 64, 0, d, dx);
    std::vector<int> got;
    CHECK(clean("rotate_block") && (got = host_copy(d, 64))[0] == x[1] && got[63] == x[0], "fixed rotate_block");
    CC_LAUNCH(swap_lanes<true>, 1, 32, 32 * sizeof(int), d, dx);
    CHECK(clean("swap_lanes") && (got = host_copy(d, 32))[0] == x[1] && got[1] == x[0], "fixed swap_lanes");
    cudaMemset(d, 0, sizeof(int));
    CC_LAUNCH(count_blocks<true>, 4, 32, 0, d);
    CHECK(clean("count_blocks") && host_copy(d, 1)[0] == 4, "fixed count_blocks");
    int *chain = nullptr;
    cudaMalloc(&chain, 8 * sizeof(int));
    CC_LAUNCH(chain_blocks<true>, 8, 32, 0, chain, (const int *)dx);
    CHECK(clean("chain_blocks") && host_copy(chain, 8)[3] == x[2] + 1, "fixed chain_blocks");
    cudaFree(chain);

    if (cfg.sync) {
        CC_LAUNCH(divergent_barrier<false>, 1, 64, 0, d);
        CHECK(reported("divergent_barrier", {"synccheck", "reached by 16 of 64 threads"}), "divergent __syncthreads");
        CC_LAUNCH(divergent_barrier<false>, 1, 64, 0, d);   /* a synchronize reports (and clears) the failure too */
        CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure && cudaGetLastError() == cudaSuccess, "cudaDeviceSynchronize after a finding");
        CC_LAUNCH(half_warp_sync<false>, 1, 32, 0, d);
        CHECK(reported("half_warp_sync", {"synccheck", "mask 0xffffffff", "lane 16 exited"}), "__syncwarp mask naming exited lanes");
        CC_LAUNCH(mask_without_self, 1, 32, 0, d);
        CHECK(reported("mask_without_self", {"synccheck", "does not name its own lane"}), "__syncwarp mask without the caller");
    }
    CC_LAUNCH(divergent_barrier<true>, 1, 64, 0, d);
    CHECK(clean("divergent_barrier"), "fixed divergent_barrier");
    CC_LAUNCH(half_warp_sync<true>, 1, 32, 0, d);
    CHECK(clean("half_warp_sync") && host_copy(d, 2)[0] == 1, "fixed half_warp_sync");

    float *f = nullptr, *fresh = nullptr;
    cudaMalloc(&f, 64 * sizeof(float));
    if (cfg.init) {
        CC_LAUNCH(uninit_static<false>, 1, 64, 0, d);
        CHECK(reported("uninit_static", {"initcheck", "reads shared memory", "uninit_static", "thread (5, 0, 0)"}), "uninitialised __shared__");
        CC_LAUNCH(uninit_dynamic<false>, 1, 64, 64 * sizeof(float), f);
        CHECK(reported("uninit_dynamic", {"initcheck", "shared memory (dynamic) + 252"}), "uninitialised dynamic shared memory");
        CHECK(cc_cuda_alloc((void **)&fresh, 64 * sizeof(float), 0) == CC_OK, "%s", cc_last_error());
        CC_LAUNCH(read_all, 1, 64, 0, f, fresh, 64);
        CHECK(reported("read_all", {"initcheck", "device memory", "since it was allocated"}), "fresh allocator block read");
        cc_cuda_free(fresh, 0);
    }
    CC_LAUNCH(uninit_static<true>, 1, 64, 0, d);
    CHECK(clean("uninit_static") && host_copy(d, 64)[5] == 5, "fixed uninit_static");
    CC_LAUNCH(uninit_dynamic<true>, 1, 64, 64 * sizeof(float), f);
    CHECK(clean("uninit_dynamic"), "fixed uninit_dynamic");
    CHECK(cc_cuda_alloc((void **)&fresh, 64 * sizeof(float), 0) == CC_OK, "%s", cc_last_error());
    cudaMemset(fresh, 0, 64 * sizeof(float));
    CC_LAUNCH(read_all, 1, 64, 0, f, fresh, 64);
    CHECK(clean("read_all"), "fixed read_all");
    cc_cuda_free(fresh, 0);
    cudaFree(f);
    cudaFree(dx);
    cudaFree(d);
}

/* The variables are read once per process: each case runs this program again with them set. */
static int rerun(const char *env, const char *mode)
{
    char self[4096] = {0}, cmd[4700];
    if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 255;
    snprintf(cmd, sizeof cmd, "%s '%s' %s >/dev/null 2>&1", env, self, mode);
    fflush(stdout);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void test_check_variables()
{
    CHECK(rerun("CC_EMU_CHECK=race,synk", "--launch-once") == 3, "an unknown CC_EMU_CHECK mode was not an error");
    CHECK(rerun("CC_EMU_ORDER=sideways", "--launch-once") == 3, "an unknown CC_EMU_ORDER was not an error");
    CHECK(rerun("CC_EMU_ORDER=random:12x", "--launch-once") == 3, "a bad random seed was not an error");
    CHECK(rerun("CC_EMU_CHECK=sync,init CC_EMU_ORDER=random:7", "--launch-once") == (cc_emu::check::instrumented() ? 0 : 3),
          "valid settings refused (or init accepted without the instrumented build)");
    CHECK(rerun("CC_EMU_CHECK=sync CC_EMU_ORDER=reverse", "--launch-once") == 0, "valid settings refused");
    CHECK(rerun("CC_EMU_CHECK=sync", "--unread-finding") != 0, "a finding nobody read left the exit status 0");
}

/* Child modes of test_check_variables: 0 when a launch works, 3 when it fails; or a finding that is never read. */
static int child(const char *mode)
{
    int *d = nullptr;
    cudaMalloc(&d, 64 * sizeof(int));
    if (!strcmp(mode, "--unread-finding")) {
        CC_LAUNCH(divergent_barrier<false>, 1, 64, 0, d);
        return 0;
    }
    CC_LAUNCH(divergent_barrier<true>, 1, 64, 0, d);
    return cc_cuda_launch_status("once") == CC_OK ? 0 : 3;
}

#if defined(__SANITIZE_ADDRESS__)

/* Runs bug(buf) in a child process; true when the child died (ASan reported and stopped it). */
static bool dies(void (*bug)(float *))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        void *p = nullptr;
        cc_cuda_alloc(&p, 1000 * sizeof(float), 0);
        bug((float *)p);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_asan()
{
    CHECK(dies([](float *p) { CC_LAUNCH(smem_overrun, 1, 33, 0, p); }), "__shared__ overrun not caught");
    CHECK(dies([](float *p) { CC_LAUNCH(dyn_smem_overrun, 1, 65, 64 * sizeof(float), p); }), "dynamic smem overrun not caught");
    CHECK(dies([](float *p) { CC_LAUNCH(write_n, 1, 1001, 0, p, 1001); }), "write past a 1000-float tensor not caught");
    CHECK(dies([](float *p) { cc_cuda_free(p, 0); CC_LAUNCH(write_n, 1, 32, 0, p, 32); }), "use after free not caught");
    CHECK(!dies([](float *p) { CC_LAUNCH(write_n, 1, 1000, 0, p, 1000); }), "a correct kernel died");
}
#endif

/* Prints what a barrier-free launch and barrier-heavy ones cost per thread. */
static void measure()
{
    int n = 1 << 22, nb = 1 << 18;
    float *x = nullptr, *y = nullptr;
    cudaMalloc(&x, n * sizeof(float));
    cudaMalloc(&y, n * sizeof(float));
    cudaMemset(x, 0, n * sizeof(float));
    cudaMemset(y, 0, n * sizeof(float));
    double t0 = now_ms();
    CC_LAUNCH(axpy, n / 256, 256, 0, y, x, 2.0f, n);
    double t1 = now_ms();
    CC_LAUNCH(block_sum, nb / 256, 256, 0, (int64_t *)y, (const int *)x, nb);
    double t2 = now_ms();
    CC_LAUNCH(warp_sum, nb / 256, 256, 0, y, x, nb);
    double t3 = now_ms();
    cudaGetLastError();
    printf("emulator, ns per thread: barrier-free kernel %.1f; block tree sum (9 __syncthreads) %.0f; "
           "warp shuffle sum (10 shuffles, 1 __syncthreads) %.0f\n",
           (t1 - t0) * 1e6 / n, (t2 - t1) * 1e6 / nb, (t3 - t2) * 1e6 / nb);
    cudaFree(x);
    cudaFree(y);
}

int main(int argc, char **argv)
{
    if (argc > 1) return child(argv[1]);
    struct { const char *name; void (*fn)(); } tests[] = {
        {"block_sum", test_block_sum}, {"warp_sum", test_warp_sum}, {"warp_scan", test_warp_scan},
        {"dynamic_smem", test_dynamic_smem}, {"atomics", test_atomics}, {"votes", test_votes},
        {"indices", test_indices}, {"errors", test_errors}, {"templates", test_templates},
        {"allocator", test_allocator}, {"copy", test_copy}, {"fill_arange", test_fill_arange},
        {"random", test_random}, {"cublas", test_cublas}, {"device", test_device},
        {"checkers", test_checkers}, {"check_vars", test_check_variables},
#if defined(__SANITIZE_ADDRESS__)
        {"asan", test_asan},
#endif
    };
    for (auto &t : tests) {
        long f0 = failed;
        t.fn();
        printf("%-14s %s\n", t.name, failed == f0 ? "ok" : "FAILED");
    }
    if (!getenv("CC_EMU_SELFTEST_QUICK")) measure();
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
