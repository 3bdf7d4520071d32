/* The compute roof of the fast CPU causal conv1d (kernels/cpu/conv_roof.c): what its arithmetic
   alone sustains per element, the second limit (beside the copy bandwidth) that the conv
   benchmarks stand next to. */
#ifndef CC_KERNELS_CONV_ROOF_H
#define CC_KERNELS_CONV_ROOF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `elements` (B*D*L) elements of the conv's arithmetic at width W (1 .. CC_CONV_MAX_WIDTH),
   SiLU when silu is set: the forward's (backward 0) or the backward's (backward 1; W = 4 only)
   row loops over rows that stay in L1, spread over every OpenMP thread; *checksum gets a sum of
   the results so that nothing is optimised away. CC_OK, or CC_ERR_MEMORY. */
int cc_cpu_conv_roof(int64_t elements, int64_t W, int silu, int backward, double *checksum);

#ifdef __cplusplus
}
#endif

#endif
