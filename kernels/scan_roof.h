/* The compute roof of the fast CPU selective scan (kernels/cpu/scan_roof.c): what the forward's
   arithmetic alone sustains, the limit its benchmark figures stand next to. */
#ifndef CC_KERNELS_SCAN_ROOF_H
#define CC_KERNELS_SCAN_ROOF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `elements` element-states (rounded down to whole vector steps) of the forward's work per
   element-state, on registers only, spread over every OpenMP thread; *checksum gets a sum of the
   results so that nothing is optimised away. CC_OK, or CC_ERR_MEMORY. */
int cc_cpu_scan_roof(int64_t elements, double *checksum);

#ifdef __cplusplus
}
#endif

#endif
