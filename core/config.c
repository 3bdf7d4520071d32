/* Global settings: OpenMP thread count and the switch to the CPU reference kernels. */
#include <omp.h>
#include "internal.h"

static int reference_kernels;   /* read with atomics: kernels may check it from any thread */

void cc_set_num_threads(int n)
{
    if (n > 0) omp_set_num_threads(n);
}

int cc_get_num_threads(void) { return omp_get_max_threads(); }

void cc_set_reference_kernels(int on) { __atomic_store_n(&reference_kernels, on ? 1 : 0, __ATOMIC_RELAXED); }

int cc_get_reference_kernels(void) { return __atomic_load_n(&reference_kernels, __ATOMIC_RELAXED); }
