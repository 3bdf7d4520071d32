/* Tile transposes of the CPU conv kernels' mixed layouts (channel-first x with a channel-last
   out, and the reverse): a kernel computes a tile in f32 scratch in its input's layout, and these
   write it out in the other one, so neither side is read or written with a large stride. */
#ifndef CC_CPU_CONV_TRANSPOSE_H
#define CC_CPU_CONV_TRANSPOSE_H

#include "conv_common.h"
#ifdef __AVX__
#include <immintrin.h>
#endif

/* Widest tile side cv_store_transposed takes (its scratch is 16 x CV_TR_MAX floats). */
#define CV_TR_MAX 128

/* dst[j * ds + i] = src[i * ss + j], i < r, j < k: the plain loop, also the fast one's edges. */
static inline void cv_transpose_plain(float *restrict dst, int64_t ds, const float *restrict src, int64_t ss,
                                      int64_t r, int64_t k)
{
    for (int64_t j = 0; j < k; j++)
        for (int64_t i = 0; i < r; i++) dst[j * ds + i] = src[i * ss + j];
}

#ifdef __AVX__
/* One 8 x 8 block in registers: col[j][i] = src[i * ss + j], i, j < 8. */
static inline void cv_transpose_8x8(__m256 col[8], const float *src, int64_t ss)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ss), r2 = _mm256_loadu_ps(src + 2 * ss),
           r3 = _mm256_loadu_ps(src + 3 * ss), r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss),
           r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    col[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    col[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    col[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    col[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    col[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    col[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    col[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    col[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

/* dst[j * ds + i] = src[i * ss + j], i < r, j < k, f32 (r <= CV_TR_MAX): where the target has AVX,
   8 destination rows at a time from 8 x 8 register blocks staged in L1, each row then stored
   front to back, so its cache lines are written whole one after another (rows 4 KiB apart share
   an L1 set: a half-written line evicted in between costs a second fill); the plain loop for the
   edges and without AVX. nt: those rows by streaming stores, where dst, ds and r keep them in
   whole 32-byte blocks (large outputs: no read of the lines first); callers fence (cv_stream_fence). */
static inline void cv_transpose_f32(float *restrict dst, int64_t ds, const float *restrict src, int64_t ss,
                                    int64_t r, int64_t k, int nt)
{
    int64_t j = 0;
#ifdef __AVX__
    __m256 blk[CV_TR_MAX / 8][8];
    int64_t nb = r / 8;
    nt = nt && ((uintptr_t)dst & 31) == 0 && ds % 8 == 0 && r % 8 == 0;
    for (; j + 8 <= k; j += 8) {
        for (int64_t b = 0; b < nb; b++) cv_transpose_8x8(blk[b], src + b * 8 * ss + j, ss);
        for (int64_t jj = 0; jj < 8; jj++) {
            float *d = dst + (j + jj) * ds;
            if (nt)
                for (int64_t b = 0; b < nb; b++) _mm256_stream_ps(d + 8 * b, blk[b][jj]);
            else
                for (int64_t b = 0; b < nb; b++) _mm256_storeu_ps(d + 8 * b, blk[b][jj]);
        }
        cv_transpose_plain(dst + j * ds + 8 * nb, ds, src + 8 * nb * ss + j, ss, r - 8 * nb, 8);
    }
#else
    (void)nt;
#endif
    cv_transpose_plain(dst + j * ds, ds, src + j, ss, r, k - j);
}

/* The f32 tile src (r rows of k, row stride ss; r <= CV_TR_MAX) written transposed into a tensor
   of any dtype: element (i, j) to dst element j * ds + i * es. f32 with es == 1 goes straight to
   dst (nt: as cv_transpose_f32); anything else through tmp (16 x CV_TR_MAX floats), 16
   destination rows at a time. */
static inline void cv_store_transposed(void *dst, int dtype, int64_t ds, int64_t es, const float *src, int64_t ss,
                                       int64_t r, int64_t k, float *tmp, int nt)
{
    if (dtype == CC_F32 && es == 1) {
        cv_transpose_f32(dst, ds, src, ss, r, k, nt);
        return;
    }
    for (int64_t j0 = 0; j0 < k; j0 += 16) {
        int64_t kk = k - j0 < 16 ? k - j0 : 16;
        cv_transpose_f32(tmp, CV_TR_MAX, src + j0, ss, r, kk, 0);
        for (int64_t j = 0; j < kk; j++)
            cv_store_row(cv_at_mut(dst, dtype, (j0 + j) * ds), dtype, es, tmp + j * CV_TR_MAX, r);
    }
}

#endif
