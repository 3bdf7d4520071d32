/* Device helpers shared by the selective scan CUDA kernels (selective_scan_{fwd,bwd}.cu and
   selective_state_update.cu).

   Semantics: the rule block of core/selective_scan.c; token kinds (seq_idx), softplus and the B / C
   views are the host/device functions of kernels/selective_scan.h, shared with the CPU kernels.
   Every tensor is read and written through its run-time dtype (cc_load_as / cc_store_as): the
   switches are uniform and one instantiation per compute type A (float, or double for f64 u)
   serves every dtype mix.

   Work layout of the scan kernels: one row (b, c) is worked by a group of S lanes (S a power of two,
   the smallest >= N up to 32); lane l owns states n = l, l + S, l + 2S, ... Several groups share a
   warp when N < 32. Every group of a block walks the same L, so barriers are reached uniformly;
   a group past the last row works a copy of a valid row and writes nothing. */
#ifndef CC_SELECTIVE_SCAN_COMMON_CUH
#define CC_SELECTIVE_SCAN_COMMON_CUH

#include <stdint.h>
#include "cuda_common.cuh"
#include "ops_common.cuh"   /* ccops::m_exp */
#include "activation.h"
#include "selective_scan.h"

#define SS_DEV __device__ __forceinline__
#define SS_FULL 0xffffffffu
/* Dynamic shared memory a scan block may use: under the 48 KiB every device grants without an
   opt-in, with room for the kernels' few static bytes. */
#define SS_SMEM_BUDGET (44 * 1024)


/* Lanes per row for N states. */
static inline int ss_lanes(int64_t N)
{
    int S = 1;
    while (S < N && S < 32) S *= 2;
    return S;
}

/* States per lane as the kernels' template K: 1, 2, 4, 8 live in registers; 0 (more than 8) in a
   global scratch row (ss_state_pitch(N) values), see ss_states. */
static inline int ss_states_per_lane(int64_t N, int S)
{
    int64_t nk = (N + S - 1) / S;
    return nk <= 1 ? 1 : nk <= 2 ? 2 : nk <= 4 ? 4 : nk <= 8 ? 8 : 0;
}

static inline unsigned ss_blocks(int64_t n)
{
    if (n < 1) n = 1;
    return (unsigned)(n > (1 << 30) ? (1 << 30) : n);
}

/* Values per row of a K = 0 state array: N rounded up to whole warps, so that every lane owns
   ceil(N / 32) slots. */
static inline int64_t ss_state_pitch(int64_t N) { return (N + 31) / 32 * 32; }

/* One value per owned state of a lane: K registers, or for K = 0 a lane-strided run of a
   (slots, ss_state_pitch(N)) scratch array in global memory (the lane's states n = lane + 32 k
   are adjacent across lanes, so accesses coalesce). */
template <class A, int K> struct ss_states {
    A v[K];
    SS_DEV A &operator[](int k) { return v[k]; }
};
template <class A> struct ss_states<A, 0> {
    A *p;
    /* row: the lane group's scratch row (ss_state_pitch(N) values); lane: this lane */
    SS_DEV void bind(A *row, int lane) { p = row + lane; }
    SS_DEV A &operator[](int k) { return p[k * 32]; }
};

/* The row (b, c) as the kernels read it: its offsets into every per-row tensor. */
struct ss_row {
    int64_t b, c;
    int64_t boff, coff;   /* B and C at (b, group of c, n = 0, t = 0) */
};

SS_DEV ss_row ss_row_of(const cc_scan_args &a, int64_t b, int64_t c)
{
    ss_row r;
    r.b = b;
    r.c = c;
    r.boff = ss_bc_at(&a.B, a.Di, b, c, 0, 0);
    r.coff = ss_bc_at(&a.C, a.Di, b, c, 0, 0);
    return r;
}

/* v = delta + delta_bias and dt = softplus(v) (or v) of row r at t. */
template <class A> SS_DEV A ss_dt(const cc_scan_args &a, const ss_row &r, int64_t t, A &v)
{
    v = cc_load_as<A>(a.delta, a.delta_dtype, r.b * a.delta_stride[0] + r.c * a.delta_stride[1] + t * a.delta_stride[2]);
    if (a.delta_bias) v += cc_load_as<A>(a.delta_bias, a.delta_bias_dtype, r.c * a.delta_bias_stride);
    return a.delta_softplus ? ss_softplus(v) : v;
}

/* A (b, c, t) tensor of the args (u, z, dout, ...) at row r, position t. */
template <class A> SS_DEV A ss_load3(const void *p, int dtype, const int64_t *s, const ss_row &r, int64_t t)
{
    return cc_load_as<A>(p, dtype, r.b * s[0] + r.c * s[1] + t * s[2]);
}

SS_DEV int64_t ss_at3(const int64_t *s, int64_t i, int64_t j, int64_t k) { return i * s[0] + j * s[1] + k * s[2]; }

/* h entering the scan: initial_state[b, c, n], 0 without one. */
template <class A> SS_DEV A ss_h0(const cc_scan_args &a, const ss_row &r, int64_t n)
{
    return a.initial_state ? cc_load_as<A>(a.initial_state, a.initial_state_dtype, ss_at3(a.initial_state_stride, r.b, r.c, n))
                           : (A)0;
}

/* Sum of a group's S lane partials p[0..S-1], in lane order (a fixed order: deterministic). */
template <class A> SS_DEV A ss_lane_sum(const A *p, int S)
{
    A s = p[0];
    for (int l = 1; l < S; l++) s += p[l];
    return s;
}

/* The forward over every row (selective_scan_fwd.cu), instantiated for float and double. With
   ckpt (Bt * Di, ceil(L / T), N) and ckseg (Bt * Di, ceil(L / T)) it also stores the state and the
   running segment id entering every T-step chunk (the backward's checkpoints); a->out may then be
   NULL. Returns CC_OK, a scratch allocation error or the launch status under op's name. */
template <class A> int ss_forward_pass(const cc_scan_args *a, A *ckpt, int32_t *ckseg, int64_t T, const char *op);

#endif
