/* Device helpers shared by the causal conv1d CUDA kernels (causal_conv1d_{fwd,bwd,update,varlen}.cu).

   Semantics: the rule block of core/causal_conv1d.c; rows, segments, final-state slots and the
   decode modulo are the host/device functions of kernels/causal_conv1d.h, shared with the CPU
   kernels; dtypes are kernels/dtype.h, SiLU kernels/activation.h.
   x / out / dout / dx have the kernel's template dtype DT; weight, bias and state tensors are read
   and written through run-time dtype switches (uniform branches, off the hot loop). Compute type is
   f32, f64 when x is f64. Every offset is int64. */
#ifndef CC_CAUSAL_CONV1D_COMMON_CUH
#define CC_CAUSAL_CONV1D_COMMON_CUH

#include <stdint.h>
#include "cuda_common.cuh"
#include "activation.h"
#include "causal_conv1d.h"

#define CV_DEV __device__ __forceinline__
/* Rarely taken helpers (state reads at line and sequence edges) stay out of line, which keeps the
   unrolled fast loops, their registers and the compile time small. */
#ifdef CC_CUDA_EMU
#define CV_COLD static __attribute__((noinline, unused))   /* not every .cu uses every helper */
#else
#define CV_COLD static __device__ __noinline__
#endif

/* ---- rows (dense batch row or packed sequence; kernels/causal_conv1d.h has the shared rules) ---- */

/* The packed sequence holding position t: the last n with cu[n] <= t (so empty sequences are
   skipped), or -1 when t lies outside cu[0]..cu[N]-1. */
CV_DEV int64_t cv_find_seq(const void *cu, int dt, int64_t N, int64_t t)
{
    int64_t lo = 0, hi = N + 1;   /* first index with cu[i] > t lies in [lo, hi] */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cc_load_index(cu, dt, mid) > t) hi = mid; else lo = mid + 1;
    }
    return (lo >= 1 && lo <= N) ? lo - 1 : -1;
}

/* Row of absolute position t of batch row b; false when t belongs to no row (varlen tail). */
CV_DEV bool cv_row_of(const cc_conv1d_args &a, int64_t b, int64_t t, cv_row &row)
{
    if (!a.cu_seqlens) { row = cv_get_row(&a, b); return true; }
    int64_t n = cv_find_seq(a.cu_seqlens, a.cu_seqlens_dtype, a.N, t);
    if (n < 0) return false;
    row = cv_get_row(&a, n);
    return true;
}

/* xe[p] of (row, c) for -(W-1) <= p < len: x, or the initial state (0 without one). */
template <int DT> CV_DEV typename cc_dt<DT>::A cv_xe(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t p)
{
    typedef typename cc_dt<DT>::A A;
    if (p >= 0)
        return cc_widen(((const typename cc_dt<DT>::S *)a.x)[row.b * a.x_stride[0] + c * a.x_stride[1] +
                                                               (row.start + p) * a.x_stride[2]]);
    if (!a.initial_states) return (A)0;
    const int64_t *is = a.initial_states_stride;
    return cc_load_as<A>(a.initial_states, a.state_dtype, row.s * is[0] + c * is[1] + (a.W - 1 + p) * is[2]);
}

/* Pre-activation at row position t of a non-padding token, taps masked to t's segment. */
template <int DT> CV_DEV typename cc_dt<DT>::A cv_pre(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t t)
{
    typedef typename cc_dt<DT>::A A;
    int32_t st = cv_seg(&a, &row, t);
    A pre = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
    for (int64_t k = 0; k < a.W; k++) {
        int64_t p = t - (a.W - 1) + k;
        if (cv_seg(&a, &row, p) == st)
            pre += cc_load_as<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + k * a.weight_stride[1]) *
                   cv_xe<DT>(a, row, c, p);
    }
    return pre;
}


/* ---- fast-path helpers ---- */

/* 4, 8 or 16 bytes moved as one vector access */
template <int BYTES> struct alignas(BYTES) cv_vec { uint32_t w[BYTES / 4]; };

#define CV_FULL 0xffffffffu

/* Whether every (b, c) line base of a pointer with these element strides is 16-byte aligned,
   so that positions (or channels) starting at multiples of the vector width can be vector-accessed. */
static inline bool cv_aligned(const void *p, int esize, int64_t n0, int64_t s0, int64_t n1, int64_t s1)
{
    int64_t vec = 16 / esize;
    if (((uintptr_t)p) % 16 != 0) return false;
    if (n0 > 1 && s0 % vec != 0) return false;
    if (n1 > 1 && s1 % vec != 0) return false;
    return true;
}

/* n values of dtype DT from p[0..n-1] (contiguous) into v, converted; zeros past n.
   A full run of NE values moves as vectors of up to 16 bytes when vec (the caller guarantees the
   alignment); anything else goes element by element. */
template <int DT, int NE>
CV_DEV void cv_load_run(typename cc_dt<DT>::A (&v)[NE], const typename cc_dt<DT>::S *p, int64_t n, bool vec)
{
    typedef typename cc_dt<DT>::S S;
    constexpr int RB = NE * (int)sizeof(S), VB = RB >= 16 ? 16 : RB >= 8 ? 8 : 4, VEC = VB / (int)sizeof(S);
    if (RB % VB == 0 && VEC >= 1 && vec && n >= NE) {
        #pragma unroll
        for (int j = 0; j < NE / VEC; j++) {
            cv_vec<VB> q = *(const cv_vec<VB> *)(p + j * VEC);
            S e[VEC];
            memcpy(e, &q, VB);
            #pragma unroll
            for (int i = 0; i < VEC; i++) v[j * VEC + i] = cc_widen(e[i]);
        }
    } else {
        #pragma unroll
        for (int i = 0; i < NE; i++) v[i] = i < n ? cc_widen(p[i]) : (typename cc_dt<DT>::A)0;
    }
}

template <int DT, int NE>
CV_DEV void cv_store_run(typename cc_dt<DT>::S *p, const typename cc_dt<DT>::A (&v)[NE], int64_t n, bool vec)
{
    typedef typename cc_dt<DT>::S S;
    constexpr int RB = NE * (int)sizeof(S), VB = RB >= 16 ? 16 : RB >= 8 ? 8 : 4, VEC = VB / (int)sizeof(S);
    if (RB % VB == 0 && VEC >= 1 && vec && n >= NE) {
        #pragma unroll
        for (int j = 0; j < NE / VEC; j++) {
            S e[VEC];
            #pragma unroll
            for (int i = 0; i < VEC; i++) e[i] = cc_narrow<typename cc_dt<DT>::S>(v[j * VEC + i]);
            cv_vec<VB> q;
            memcpy(&q, e, VB);
            *(cv_vec<VB> *)(p + j * VEC) = q;
        }
    } else {
        #pragma unroll
        for (int i = 0; i < NE; i++)
            if (i < n) p[i] = cc_narrow<typename cc_dt<DT>::S>(v[i]);
    }
}

/* Weights of channel c right-aligned in a KW-tap window: w[KW-W+k] = weight[c, k], leading taps 0,
   so widths below KW run through the same compile-time window. */
template <class A, int KW>
CV_DEV void cv_load_weights(A (&w)[KW], const cc_conv1d_args &a, int64_t c)
{
    #pragma unroll
    for (int k = 0; k < KW; k++) {
        int64_t kk = k - (KW - a.W);
        w[k] = kk >= 0 ? cc_load_as<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + kk * a.weight_stride[1]) : (A)0;
    }
}

/* Initial-state value xe[p] for p < start of the row (state index s), 0 outside the state. */
template <class A>
CV_COLD A cv_init_at(const cc_conv1d_args &a, int64_t s, int64_t c, int64_t i /* 0..W-2, else 0 */)
{
    if (!a.initial_states || i < 0 || i >= a.W - 1) return (A)0;
    const int64_t *is = a.initial_states_stride;
    return cc_load_as<A>(a.initial_states, a.state_dtype, s * is[0] + c * is[1] + i * is[2]);
}

/* Channel-first window of a lane owning positions t0 .. t0+NE-1 of line (b, c): xw[H + i] = cur[i]
   (its own x values), xw[h] for h < H the H before them: the previous lane's last ones by shuffle
   (every lane of the warp takes part), read from xl at a warp or split edge (edge), the initial
   state at the line's start (0 in varlen, whose states the masked paths apply). */
template <int DT, int NE, int H>
CV_DEV void cv_cf_window(typename cc_dt<DT>::A (&xw)[H + NE], const typename cc_dt<DT>::A (&cur)[NE],
                         const cc_conv1d_args &a, const typename cc_dt<DT>::S *xl, int64_t b, int64_t c, int64_t t0,
                         bool active, bool edge)
{
    typedef typename cc_dt<DT>::A A;
    #pragma unroll
    for (int i = 0; i < NE; i++) xw[H + i] = cur[i];
    #pragma unroll
    for (int h = 0; h < H; h++) xw[h] = __shfl_up_sync(CV_FULL, xw[NE + h], 1);
    if (active && t0 == 0) {
        #pragma unroll
        for (int h = 0; h < H; h++) xw[h] = a.cu_seqlens ? (A)0 : cv_init_at<A>(a, b, c, a.W - 1 + h - H);
    } else if (active && edge) {
        #pragma unroll
        for (int h = 0; h < H; h++) xw[h] = h >= H - (a.W - 1) ? cc_widen(xl[t0 - H + h]) : (A)0;
    }
}

/* Channel-first masked paths: the value tap k of own position i takes from the window xw (keys kw
   of positions t0 - H ..., kt the output's key): its x when it is in the output's segment or
   sequence, else 0, or in varlen the initial state of the output's sequence where the tap reaches
   before that sequence's start. */
template <class A, int KW, class K>
CV_DEV A cv_cf_tap(const cc_conv1d_args &a, const A *xw, const K *kw, int i, int k, K kt, int64_t c, int64_t t0)
{
    if (kw[i + k] == kt) return xw[i + k];
    if (a.cu_seqlens && a.initial_states && k >= KW - a.W && kt >= 0) {
        int64_t start = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, kt);
        return cv_init_at<A>(a, kt, c, a.W - 1 + (t0 + i - (KW - 1) + k) - start);
    }
    return (A)0;
}

/* Channel-last: v[j] = xe[p] of channel c0 + j (j < nc, else 0) for a run whose sequence starts at
   start with state row rs: x (line base xb, position stride xs2) from start on, the initial state
   before it. */
template <int DT, int CV>
CV_DEV void cv_cl_xe_row(typename cc_dt<DT>::A (&v)[CV], const cc_conv1d_args &a, const typename cc_dt<DT>::S *xb,
                         int64_t xs2, int64_t p, int64_t start, int64_t rs, int64_t c0, int64_t nc, bool vec)
{
    typedef typename cc_dt<DT>::A A;
    if (p >= start) {
        cv_load_run<DT, CV>(v, xb + p * xs2, nc, vec);
    } else {
        #pragma unroll
        for (int j = 0; j < CV; j++) v[j] = j < nc ? cv_init_at<A>(a, rs, c0 + j, a.W - 1 + p - start) : (A)0;
    }
}

/* Tiling of channel-first lines (b, c): chunks of NE positions, a unit = one split of a line
   worked by tpr threads (a power of two; several units share a block when lines are short). */
struct cv_tiles {
    int64_t nchunk;   /* chunks per line */
    int64_t P;        /* splits per line */
    int64_t cps;      /* chunks per split, a multiple of tpr */
    int64_t units;    /* lines * P */
    int tpr;          /* threads per unit */
    int vec;          /* x/out (and dout/dx) lines allow 16-byte vectors */
};

#define CV_CF_THREADS 128

static inline cv_tiles cv_make_tiles(int64_t lines, int64_t L, int NE, int64_t iters)
{
    cv_tiles t;
    t.nchunk = (L + NE - 1) / NE;
    int tpr = 1;
    while (tpr < CV_CF_THREADS && tpr < t.nchunk) tpr *= 2;
    t.tpr = tpr;
    t.cps = tpr < CV_CF_THREADS ? tpr : tpr * iters;
    t.P = (t.nchunk + t.cps - 1) / t.cps;
    if (t.P < 1) t.P = 1;
    t.units = lines * t.P;
    t.vec = 0;
    return t;
}


/* Tiling of channel-last lines: a unit = CV consecutive channels x LC consecutive positions of
   one batch row, walked with a register window along L. */
struct cv_cl_tiles {
    int64_t G;        /* channel groups of CV */
    int64_t LC;       /* positions per unit */
    int64_t NLC;      /* units along L */
    int64_t units;    /* B * NLC * G */
    int vec;
};

static inline cv_cl_tiles cv_make_cl_tiles(int64_t B, int64_t D, int64_t L, int CV)
{
    cv_cl_tiles t;
    t.G = (D + CV - 1) / CV;
    /* long runs amortise the halo; shorter ones when that is needed to fill the device */
    t.LC = 256;
    while (t.LC > 16 && B * t.G * ((L + t.LC - 1) / t.LC) < 131072) t.LC /= 2;
    t.NLC = (L + t.LC - 1) / t.LC;
    t.units = B * t.NLC * t.G;
    t.vec = 0;
    return t;
}

/* Sequence bookkeeping while walking a varlen line left to right. */
struct cv_seq_walk {
    int64_t n, start, next;   /* current sequence, its first position, the next one's first */
};

CV_COLD cv_seq_walk cv_walk_begin(const cc_conv1d_args &a, int64_t p)
{
    cv_seq_walk w;
    w.n = cv_find_seq(a.cu_seqlens, a.cu_seqlens_dtype, a.N, p);
    if (w.n < 0) w.n = 0;
    w.start = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, w.n);
    w.next = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, w.n + 1);
    return w;
}

/* Advances to the sequence holding p (p >= w.start); true when it moved. */
CV_COLD bool cv_walk_to(const cc_conv1d_args &a, cv_seq_walk &w, int64_t p)
{
    bool moved = false;
    while (p >= w.next && w.n + 1 < a.N) {
        w.n++;
        w.start = w.next;
        w.next = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, w.n + 1);
        moved = true;
    }
    return moved;
}

/* ---- launch geometry: 1-D grids with grid-stride loops, never a channel count on grid.y/z ---- */
static inline unsigned cv_blocks(int64_t items, int threads)
{
    int64_t b = (items + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b > (1 << 30) ? (1 << 30) : b);
}

#define CV_GRID_STRIDE(i, total) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (total); i += (int64_t)gridDim.x * blockDim.x)

/* Calls body with DT bound to x's dtype as a compile-time constant. */
#define CV_DISPATCH_DTYPE(dt, ...)                                            \
    switch (dt) {                                                             \
    case CC_F32:  { constexpr int DT = CC_F32;  __VA_ARGS__; } break;         \
    case CC_F64:  { constexpr int DT = CC_F64;  __VA_ARGS__; } break;         \
    case CC_F16:  { constexpr int DT = CC_F16;  __VA_ARGS__; } break;         \
    default:      { constexpr int DT = CC_BF16; __VA_ARGS__; } break;         \
    }

#endif
