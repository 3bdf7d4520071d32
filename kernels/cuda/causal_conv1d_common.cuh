/* Device helpers shared by the causal conv1d CUDA kernels (causal_conv1d_{fwd,bwd,update,varlen}.cu).

   Semantics follow kernels/cpu/causal_conv1d_ref.c (the oracle) rule for rule:
   - a "row" is a batch row b (positions 0..L-1, states indexed by b) or, in varlen mode, a packed
     sequence n (positions cu[n]..cu[n+1]-1 of batch row 0, states indexed by n);
   - the segment of position p (row-relative) is seq_idx[b, max(p, 0)], or 0 without seq_idx; a tap
     contributes only inside the output's segment; segment < 0 is padding (output 0, gradient 0);
   - values copied rather than computed (states) are bitwise when dtypes match, else go through f64.
   x / out / dout / dx have the kernel's template dtype DT; weight, bias and state tensors are read
   and written through run-time dtype switches (uniform branches, off the hot loop). Compute type is
   f32, f64 when x is f64. Every offset is int64. */
#ifndef CC_CAUSAL_CONV1D_COMMON_CUH
#define CC_CAUSAL_CONV1D_COMMON_CUH

#include <stdint.h>
#include "cuda_common.cuh"
#include "causalconv.h"
#include "half.h"
#include "causal_conv1d.h"

#define CV_DEV __device__ __forceinline__
/* Rarely taken helpers (state reads at line and sequence edges) stay out of line, which keeps the
   unrolled fast loops, their registers and the compile time small. */
#ifdef CC_CUDA_EMU
#define CV_COLD static __attribute__((noinline, unused))   /* not every .cu uses every helper */
#else
#define CV_COLD static __device__ __noinline__
#endif
#define CV_MAX_W 16

/* ---- dtype traits of the template dtype (x, out, dout, dx) ---- */
template <int DT> struct cv_t;
template <> struct cv_t<CC_F32>  { typedef float    S; typedef float  A; };
template <> struct cv_t<CC_F64>  { typedef double   S; typedef double A; };
template <> struct cv_t<CC_F16>  { typedef uint16_t S; typedef float  A; };
template <> struct cv_t<CC_BF16> { typedef uint16_t S; typedef float  A; };

template <int DT> CV_DEV typename cv_t<DT>::A cv_cvt(typename cv_t<DT>::S v);
template <> CV_DEV float  cv_cvt<CC_F32>(float v)     { return v; }
template <> CV_DEV double cv_cvt<CC_F64>(double v)    { return v; }
template <> CV_DEV float  cv_cvt<CC_F16>(uint16_t v)  { return cc_f16_to_f32_inline(v); }
template <> CV_DEV float  cv_cvt<CC_BF16>(uint16_t v) { return cc_bf16_to_f32_inline(v); }

template <int DT> CV_DEV typename cv_t<DT>::S cv_pack(typename cv_t<DT>::A v);
template <> CV_DEV float    cv_pack<CC_F32>(float v)   { return v; }
template <> CV_DEV double   cv_pack<CC_F64>(double v)  { return v; }
template <> CV_DEV uint16_t cv_pack<CC_F16>(float v)   { return cc_f32_to_f16_inline(v); }
template <> CV_DEV uint16_t cv_pack<CC_BF16>(float v)  { return cc_f32_to_bf16_inline(v); }

/* ---- run-time dtype element access (weights, bias, states; i may be any int64 offset) ---- */
template <class A> CV_DEV A cv_ld(const void *p, int dt, int64_t i)
{
    switch (dt) {
    case CC_F32: return (A)((const float *)p)[i];
    case CC_F64: return (A)((const double *)p)[i];
    case CC_F16: return (A)cc_f16_to_f32_inline(((const uint16_t *)p)[i]);
    default:     return (A)cc_bf16_to_f32_inline(((const uint16_t *)p)[i]);
    }
}

/* 16-bit targets round through f32, as the CPU kernels do. */
template <class A> CV_DEV void cv_st(void *p, int dt, int64_t i, A v)
{
    switch (dt) {
    case CC_F32: ((float *)p)[i] = (float)v; break;
    case CC_F64: ((double *)p)[i] = (double)v; break;
    case CC_F16: ((uint16_t *)p)[i] = cc_f32_to_f16_inline((float)v); break;
    default:     ((uint16_t *)p)[i] = cc_f32_to_bf16_inline((float)v); break;
    }
}

CV_DEV int cv_dsize(int dt) { return dt == CC_F64 ? 8 : dt == CC_F32 ? 4 : 2; }

/* The copy rule for states: bitwise when dtypes match, otherwise through f64. */
CV_DEV void cv_copy(void *dst, int ddt, int64_t di, const void *src, int sdt, int64_t si)
{
    if (ddt == sdt) {
        switch (cv_dsize(ddt)) {
        case 8: ((uint64_t *)dst)[di] = ((const uint64_t *)src)[si]; break;
        case 4: ((uint32_t *)dst)[di] = ((const uint32_t *)src)[si]; break;
        default: ((uint16_t *)dst)[di] = ((const uint16_t *)src)[si]; break;
        }
    } else {
        cv_st<double>(dst, ddt, di, cv_ld<double>(src, sdt, si));
    }
}

CV_DEV void cv_zero(void *dst, int dt, int64_t i) { cv_st<double>(dst, dt, i, 0.0); }

template <class A> CV_DEV A cv_silu(A v) { return v / ((A)1 + exp(-v)); }
template <> CV_DEV float cv_silu<float>(float v) { return v / (1.0f + expf(-v)); }

/* d silu(pre) / d pre */
template <class A> CV_DEV A cv_dsilu(A pre)
{
    A s = (A)1 / ((A)1 + exp(-pre));
    return s * ((A)1 + pre * ((A)1 - s));
}
template <> CV_DEV float cv_dsilu<float>(float pre)
{
    float s = 1.0f / (1.0f + expf(-pre));
    return s * (1.0f + pre * (1.0f - s));
}

/* ---- rows (dense batch row or packed sequence) ---- */
struct cv_row {
    int64_t b;       /* batch index into x / out / dout / dx / seq_idx */
    int64_t start;   /* first position on the L axis */
    int64_t len;
    int64_t s;       /* index into the state tensors */
};

CV_DEV int64_t cv_cu(const void *cu, int dt, int64_t n)
{
    return dt == CC_I64 ? ((const int64_t *)cu)[n] : (int64_t)((const int32_t *)cu)[n];
}

CV_DEV cv_row cv_get_row(const cc_conv1d_args &a, int64_t r)
{
    cv_row row;
    if (a.cu_seqlens) {
        row.b = 0;
        row.start = cv_cu(a.cu_seqlens, a.cu_seqlens_dtype, r);
        row.len = cv_cu(a.cu_seqlens, a.cu_seqlens_dtype, r + 1) - row.start;
    } else {
        row.b = r;
        row.start = 0;
        row.len = a.L;
    }
    row.s = r;
    return row;
}

/* The packed sequence holding position t: the last n with cu[n] <= t (so empty sequences are
   skipped), or -1 when t lies outside cu[0]..cu[N]-1. */
CV_DEV int64_t cv_find_seq(const void *cu, int dt, int64_t N, int64_t t)
{
    int64_t lo = 0, hi = N + 1;   /* first index with cu[i] > t lies in [lo, hi] */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cv_cu(cu, dt, mid) > t) hi = mid; else lo = mid + 1;
    }
    return (lo >= 1 && lo <= N) ? lo - 1 : -1;
}

/* Row of absolute position t of batch row b; false when t belongs to no row (varlen tail). */
CV_DEV bool cv_row_of(const cc_conv1d_args &a, int64_t b, int64_t t, cv_row &row)
{
    if (!a.cu_seqlens) { row = cv_get_row(a, b); return true; }
    int64_t n = cv_find_seq(a.cu_seqlens, a.cu_seqlens_dtype, a.N, t);
    if (n < 0) return false;
    row = cv_get_row(a, n);
    return true;
}

/* Segment of row-relative position p (p < 0 belongs to position 0's segment). */
CV_DEV int32_t cv_seg(const cc_conv1d_args &a, const cv_row &row, int64_t p)
{
    if (!a.seq_idx || row.len == 0) return 0;
    if (p < 0) p = 0;
    return a.seq_idx[row.b * a.seq_idx_stride[0] + p * a.seq_idx_stride[1]];
}

/* Whether final_states takes xe[p]: p in the last token's segment and that segment not padding. */
CV_DEV bool cv_final_keeps(const cc_conv1d_args &a, const cv_row &row, int64_t p)
{
    if (!a.seq_idx || row.len == 0) return true;
    int32_t last = cv_seg(a, row, row.len - 1);
    return last >= 0 && cv_seg(a, row, p) == last;
}

/* xe[p] of (row, c) for -(W-1) <= p < len: x, or the initial state (0 without one). */
template <int DT> CV_DEV typename cv_t<DT>::A cv_xe(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t p)
{
    typedef typename cv_t<DT>::A A;
    if (p >= 0)
        return cv_cvt<DT>(((const typename cv_t<DT>::S *)a.x)[row.b * a.x_stride[0] + c * a.x_stride[1] +
                                                               (row.start + p) * a.x_stride[2]]);
    if (!a.initial_states) return (A)0;
    const int64_t *is = a.initial_states_stride;
    return cv_ld<A>(a.initial_states, a.state_dtype, row.s * is[0] + c * is[1] + (a.W - 1 + p) * is[2]);
}

/* Pre-activation at row position t of a non-padding token, taps masked to t's segment. */
template <int DT> CV_DEV typename cv_t<DT>::A cv_pre(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t t)
{
    typedef typename cv_t<DT>::A A;
    int32_t st = cv_seg(a, row, t);
    A pre = a.bias ? cv_ld<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
    for (int64_t k = 0; k < a.W; k++) {
        int64_t p = t - (a.W - 1) + k;
        if (cv_seg(a, row, p) == st)
            pre += cv_ld<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + k * a.weight_stride[1]) *
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
CV_DEV void cv_load_run(typename cv_t<DT>::A (&v)[NE], const typename cv_t<DT>::S *p, int64_t n, bool vec)
{
    typedef typename cv_t<DT>::S S;
    constexpr int RB = NE * (int)sizeof(S), VB = RB >= 16 ? 16 : RB >= 8 ? 8 : 4, VEC = VB / (int)sizeof(S);
    if (RB % VB == 0 && VEC >= 1 && vec && n >= NE) {
        #pragma unroll
        for (int j = 0; j < NE / VEC; j++) {
            cv_vec<VB> q = *(const cv_vec<VB> *)(p + j * VEC);
            S e[VEC];
            memcpy(e, &q, VB);
            #pragma unroll
            for (int i = 0; i < VEC; i++) v[j * VEC + i] = cv_cvt<DT>(e[i]);
        }
    } else {
        #pragma unroll
        for (int i = 0; i < NE; i++) v[i] = i < n ? cv_cvt<DT>(p[i]) : (typename cv_t<DT>::A)0;
    }
}

template <int DT, int NE>
CV_DEV void cv_store_run(typename cv_t<DT>::S *p, const typename cv_t<DT>::A (&v)[NE], int64_t n, bool vec)
{
    typedef typename cv_t<DT>::S S;
    constexpr int RB = NE * (int)sizeof(S), VB = RB >= 16 ? 16 : RB >= 8 ? 8 : 4, VEC = VB / (int)sizeof(S);
    if (RB % VB == 0 && VEC >= 1 && vec && n >= NE) {
        #pragma unroll
        for (int j = 0; j < NE / VEC; j++) {
            S e[VEC];
            #pragma unroll
            for (int i = 0; i < VEC; i++) e[i] = cv_pack<DT>(v[j * VEC + i]);
            cv_vec<VB> q;
            memcpy(&q, e, VB);
            *(cv_vec<VB> *)(p + j * VEC) = q;
        }
    } else {
        #pragma unroll
        for (int i = 0; i < NE; i++)
            if (i < n) p[i] = cv_pack<DT>(v[i]);
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
        w[k] = kk >= 0 ? cv_ld<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + kk * a.weight_stride[1]) : (A)0;
    }
}

/* Initial-state value xe[p] for p < start of the row (state index s), 0 outside the state. */
template <class A>
CV_COLD A cv_init_at(const cc_conv1d_args &a, int64_t s, int64_t c, int64_t i /* 0..W-2, else 0 */)
{
    if (!a.initial_states || i < 0 || i >= a.W - 1) return (A)0;
    const int64_t *is = a.initial_states_stride;
    return cv_ld<A>(a.initial_states, a.state_dtype, s * is[0] + c * is[1] + i * is[2]);
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
    w.start = cv_cu(a.cu_seqlens, a.cu_seqlens_dtype, w.n);
    w.next = cv_cu(a.cu_seqlens, a.cu_seqlens_dtype, w.n + 1);
    return w;
}

/* Advances to the sequence holding p (p >= w.start); true when it moved. */
CV_COLD bool cv_walk_to(const cc_conv1d_args &a, cv_seq_walk &w, int64_t p)
{
    bool moved = false;
    while (p >= w.next && w.n + 1 < a.N) {
        w.n++;
        w.start = w.next;
        w.next = cv_cu(a.cu_seqlens, a.cu_seqlens_dtype, w.n + 1);
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
