/* The AVX-512 register tiles of the CPU conv kernels, in kernels/cpu/causal_conv1d_avx512.c, built
   where the target has AVX-512F (the bf16 tiles also need BW and VL: CV_AVX512_BF16). Each does the
   operations of the plain loops of causal_conv1d_{fwd,bwd}.c in the same order on 16 lanes, so its
   results are bitwise theirs. Shapes as in those files: rows of cb channels (channel stride 1),
   row strides in elements. */
#ifndef CC_CPU_CONV_AVX512_H
#define CC_CPU_CONV_AVX512_H

#include "conv_common.h"

#define CV_TP 8   /* positions per register tile */

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define CV_AVX512_BF16 1
#else
#define CV_AVX512_BF16 0
#endif

#ifdef __AVX512F__
/* y[i] = silu(bias + sum_k w[k] x[i + k]), i < n rounded down to 16, by streaming stores (y 64-byte
   aligned, x holds n + 3 values); returns the count done. */
int64_t cv512_conv_w4_silu_stream(float *y, const float *x, const float *w, float bias, int64_t n);

/* Forward, channel-last W = 4 SiLU: np <= CV_TP output rows y0 + i * ys from x rows x0 + i * xs
   (x0: tap 0 of the first output), weights wt (4, D) and bias b at channel 0 of the tile. f32
   rows, or bf16 rows (bf, CV_AVX512_BF16 only); nt: f32 whole groups by streaming stores. */
void cv512_fwd_cl_tile_w4(void *y0, int64_t ys, const void *x0, int64_t xs, const float *wt, const float *b,
                          int64_t D, int64_t cb, int64_t np, int bf, int nt);

/* Backward, channel-last W = 4 SiLU: CV_TP positions q .. q + CV_TP - 1 (x0: x row q - 3, dout0:
   dout row q, d0: dx row q - 3), gz rows in ring[8] (position p at ring[(p + 8) & 7]), partial sums
   acc (5 rows of stride as: dweight taps, then dbias). bf and nt as for the forward. */
void cv512_bwd_cl_tile_w4(float *const *ring, void *d0, int64_t ds, const void *x0, int64_t xs, const void *dout0,
                          int64_t gs, const float *wt, const float *b, float *acc, int64_t as, int64_t D, int64_t cb,
                          int64_t q, int bf, int nt);
#endif

#endif
