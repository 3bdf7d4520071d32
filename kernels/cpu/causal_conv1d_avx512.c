/* The AVX-512 register tiles of the CPU conv kernels (conv_avx512.h says what each computes). */
#include "conv_avx512.h"

#ifdef __AVX512F__
#include <immintrin.h>

/* cv_exp, cv_silu and cv_dsilu on 16 lanes: the same operations in the same order (max / min keep
   a NaN x as the comparisons above do), so every lane is bitwise the scalar result. For the
   register-tiled channel-last kernels, which keep a 16-channel column in registers along L. */
static inline __m512 cv_exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);   /* NaN in the second operand is returned */
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), _mm512_set1_ps(12582912.0f));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(12582912.0f));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    __m512i sb = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32((int)(127u - 0x4b400000u))), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(sb));
}

static inline __m512 cv_neg16(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)));
}

static inline __m512 cv_silu16(__m512 v)
{
    __m512 e = cv_exp16(cv_neg16(v));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 cv_dsilu16(__m512 pre)
{
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, cv_exp16(cv_neg16(pre))));
    return _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(pre, _mm512_sub_ps(one, s))));
}

#if CV_AVX512_BF16
/* 16 bf16 values <-> f32 lanes (mk: the lanes to touch unless full): widening is exact (the bits
   shifted up), narrowing is cv_bf16_from_bits on every lane. */
static inline __m512 cv_bf16_load16(const uint16_t *p, __mmask16 mk, int full)
{
    __m256i h = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(mk, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline void cv_bf16_store16(uint16_t *p, __m512 v, __mmask16 mk, int full)
{
    __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
    __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), _mm512_and_si512(hi, _mm512_set1_epi32(1))), 16);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    __m256i h = _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, _mm512_set1_epi32(0x40))));
    if (full) _mm256_storeu_si256((__m256i *)p, h);
    else _mm256_mask_storeu_epi16(p, mk, h);
}
#endif

int64_t cv512_conv_w4_silu_stream(float *y, const float *x, const float *w, float bias, int64_t n)
{
    __m512 w0 = _mm512_set1_ps(w[0]), w1 = _mm512_set1_ps(w[1]), w2 = _mm512_set1_ps(w[2]), w3 = _mm512_set1_ps(w[3]);
    __m512 bb = _mm512_set1_ps(bias);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_fmadd_ps(w3, _mm512_loadu_ps(x + i + 3), _mm512_fmadd_ps(w2, _mm512_loadu_ps(x + i + 2),
                   _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 1), _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), bb))));
        _mm512_stream_ps(y + i, cv_silu16(v));
    }
    return i;
}

/* np <= CV_TP outputs, rows y0 + i * ys (i < np), of f32 rows in place, 16 channels at a time: the
   weights, the bias and the x rows stay in registers along the positions, so an output costs one
   x load and one store. All x rows of a group are loaded before its first store: out rows lie a
   multiple of 4 KiB from x rows, and a load issued after a store with the same low address bits
   stalls (with interleaved loads and stores this pass was slower than the row-by-row one). Same
   operations in the same order as conv_row_cl, so bitwise its result. x0 is the x row of the
   first output's tap 0. Whole groups of a full tile use plain loads and stores, the rest masked. */
#define LD(p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mk, p))
#define ST(p, v) (full ? (nt ? _mm512_stream_ps(p, v) : _mm512_storeu_ps(p, v)) : _mm512_mask_storeu_ps(p, mk, v))
#if CV_AVX512_BF16
#define LDX(i) (bf ? cv_bf16_load16((const uint16_t *)x0 + (i), mk, full) : LD((const float *)x0 + (i)))
#define STY(i, v) do { if (bf) cv_bf16_store16((uint16_t *)y0 + (i), v, mk, full); else ST((float *)y0 + (i), v); } while (0)

#else
#define LDX(i) LD((const float *)x0 + (i))
#define STY(i, v) ST((float *)y0 + (i), v)
#endif

static inline __attribute__((always_inline)) void fwd_tile_part(void *y0, int64_t ys, const void *x0, int64_t xs,
                                                                  const float *wt, const float *b, int64_t D,
                                                                  int64_t cb, int64_t np, int64_t c_lo, int full, int bf,
                                                                  int nt)
{
    (void)bf;
    for (int64_t c = c_lo; c < (full ? (cb & ~(int64_t)15) : cb); c += 16) {
        __mmask16 mk = cb - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cb - c)) - 1u);
        __m512 w0 = LD(wt + c), w1 = LD(wt + D + c), w2 = LD(wt + 2 * D + c), w3 = LD(wt + 3 * D + c);
        __m512 bb = LD(b + c);
        __m512 xv[CV_TP + 3];
        #pragma GCC unroll 16
        for (int64_t i = 0; i < CV_TP + 3; i++) xv[i] = i < np + 3 ? LDX(i * xs + c) : _mm512_setzero_ps();
        #pragma GCC unroll 16
        for (int64_t i = 0; i < CV_TP; i++) {
            if (i >= np) break;
            __m512 v = _mm512_fmadd_ps(w3, xv[i + 3], _mm512_fmadd_ps(w2, xv[i + 2], _mm512_fmadd_ps(w1, xv[i + 1], _mm512_fmadd_ps(w0, xv[i], bb))));
            STY(i * ys + c, cv_silu16(v));
        }
    }
}
#undef LD
#undef ST
#undef LDX
#undef STY

/* f32 rows, or bf16 rows (bf) where the target has AVX-512 BW and VL. nt: f32 whole groups by
   streaming stores (y0 and the row stride ys 64-byte aligned). */
void cv512_fwd_cl_tile_w4(void *y0, int64_t ys, const void *x0, int64_t xs, const float *wt, const float *b,
                       int64_t D, int64_t cb, int64_t np, int bf, int nt)
{
    if (bf) {
        if (np == CV_TP) {
            fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, CV_TP, 0, 1, 1, 0);
            fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, CV_TP, cb & ~(int64_t)15, 0, 1, 0);
        } else {
            fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, np, 0, 0, 1, 0);
        }
    } else if (np == CV_TP) {
        if (nt)
            fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, CV_TP, 0, 1, 0, 1);
        else
            fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, CV_TP, 0, 1, 0, 0);
        fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, CV_TP, cb & ~(int64_t)15, 0, 0, 0);
    } else {
        fwd_tile_part(y0, ys, x0, xs, wt, b, D, cb, np, 0, 0, 0, 0);
    }
}

/* CV_TP main steps at once (positions q .. q + CV_TP - 1, f32 rows in place, SiLU), 16 channels
   at a time: the weights, the partial sums and the last three x and gz rows stay in registers
   along the tile, so a position costs its x and dout loads and its dx store. Every value takes
   the operations of cl_step_w4 in the same order, so results are bitwise those of single steps.
   x0 is x row q - 3; gz rows q - 3 .. q - 1 are read from the ring, q + CV_TP - 3 .. q + CV_TP - 1
   written to it. Groups of 16 whole channels (full) use plain loads and stores, the tail of cb
   masked ones: masked stores on every group made this pass slower than plain single steps. */
#define LD(p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mk, p))
#define ST(p, v) (full ? _mm512_storeu_ps(p, v) : _mm512_mask_storeu_ps(p, mk, v))

#if CV_AVX512_BF16
#define LDX(p, i) (bf ? cv_bf16_load16((const uint16_t *)(p) + (i), mk, full) : LD((const float *)(p) + (i)))
#define STX(p, i, v) do { if (bf) cv_bf16_store16((uint16_t *)(p) + (i), v, mk, full); else ST((float *)(p) + (i), v); } while (0)
#define STD(p, i, v) do { if (bf) cv_bf16_store16((uint16_t *)(p) + (i), v, mk, full); else STN((float *)(p) + (i), v); } while (0)
#else
#define LDX(p, i) LD((const float *)(p) + (i))
#define STX(p, i, v) ST((float *)(p) + (i), v)
#define STD(p, i, v) STN((float *)(p) + (i), v)
#endif
/* dx rows: streaming stores for whole groups when nt (the caller checked their alignment) */
#define STN(p, v) (full && nt ? _mm512_stream_ps(p, v) : ST(p, v))

static inline __attribute__((always_inline)) void bwd_tile_part(float *const *ring, void *d0, int64_t ds,
                                                                  const void *x0, int64_t xs, const void *dout0,
                                                                  int64_t gs, const float *wt, const float *b,
                                                                  float *acc, int64_t as, int64_t D, int64_t cb, int64_t q,
                                                                  int64_t c_lo, int full, int bf, int nt)
{
    (void)bf;
    for (int64_t c = c_lo; c < (full ? (cb & ~(int64_t)15) : cb); c += 16) {
        __mmask16 mk = cb - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cb - c)) - 1u);
        __m512 w0 = LD(wt + c), w1 = LD(wt + D + c);
        __m512 w2 = LD(wt + 2 * D + c), w3 = LD(wt + 3 * D + c);
        __m512 bb = LD(b + c);
        __m512 xa = LDX(x0, c), xb = LDX(x0, xs + c);
        __m512 xc = LDX(x0, 2 * xs + c);
        __m512 ga = LD(ring[(q + 5) & 7] + c), gb = LD(ring[(q + 6) & 7] + c);
        __m512 gc = LD(ring[(q + 7) & 7] + c);
        __m512 a0 = LD(acc + c), a1 = LD(acc + as + c);
        __m512 a2 = LD(acc + 2 * as + c), a3 = LD(acc + 3 * as + c);
        __m512 ab = LD(acc + 4 * as + c);
        #pragma GCC unroll 16
        for (int64_t i = 0; i < CV_TP; i++) {
            __m512 xd = LDX(x0, (3 + i) * xs + c);
            __m512 pre = _mm512_fmadd_ps(w3, xd, _mm512_fmadd_ps(w2, xc, _mm512_fmadd_ps(w1, xb, _mm512_fmadd_ps(w0, xa, bb))));
            __m512 g = _mm512_mul_ps(LDX(dout0, i * gs + c), cv_dsilu16(pre));
            STD(d0, i * ds + c, _mm512_fmadd_ps(w0, g, _mm512_fmadd_ps(w1, gc, _mm512_fmadd_ps(w2, gb, _mm512_mul_ps(w3, ga)))));
            a0 = _mm512_fmadd_ps(g, xa, a0);
            a1 = _mm512_fmadd_ps(g, xb, a1);
            a2 = _mm512_fmadd_ps(g, xc, a2);
            a3 = _mm512_fmadd_ps(g, xd, a3);
            ab = _mm512_add_ps(ab, g);
            xa = xb;
            xb = xc;
            xc = xd;
            ga = gb;
            gb = gc;
            gc = g;
        }
        ST(ring[(q + CV_TP + 5) & 7] + c, ga);
        ST(ring[(q + CV_TP + 6) & 7] + c, gb);
        ST(ring[(q + CV_TP + 7) & 7] + c, gc);
        ST(acc + c, a0);
        ST(acc + as + c, a1);
        ST(acc + 2 * as + c, a2);
        ST(acc + 3 * as + c, a3);
        ST(acc + 4 * as + c, ab);
    }
}
#undef LD
#undef ST
#undef LDX
#undef STX
#undef STD
#undef STN

/* f32 rows, or bf16 rows (bf) where the target has AVX-512 BW and VL. nt: f32 dx rows by streaming
   stores (d0 and the row stride ds 64-byte aligned). */
void cv512_bwd_cl_tile_w4(float *const *ring, void *d0, int64_t ds, const void *x0, int64_t xs, const void *dout0,
                       int64_t gs, const float *wt, const float *b, float *acc, int64_t as, int64_t D, int64_t cb, int64_t q, int bf,
                       int nt)
{
    if (bf) {
        bwd_tile_part(ring, d0, ds, x0, xs, dout0, gs, wt, b, acc, as, D, cb, q, 0, 1, 1, 0);
        bwd_tile_part(ring, d0, ds, x0, xs, dout0, gs, wt, b, acc, as, D, cb, q, cb & ~(int64_t)15, 0, 1, 0);
    } else {
        if (nt)
            bwd_tile_part(ring, d0, ds, x0, xs, dout0, gs, wt, b, acc, as, D, cb, q, 0, 1, 0, 1);
        else
            bwd_tile_part(ring, d0, ds, x0, xs, dout0, gs, wt, b, acc, as, D, cb, q, 0, 1, 0, 0);
        bwd_tile_part(ring, d0, ds, x0, xs, dout0, gs, wt, b, acc, as, D, cb, q, cb & ~(int64_t)15, 0, 0, 0);
    }
}
#else
typedef int cv_no_avx512;   /* ISO C forbids an empty translation unit */
#endif
