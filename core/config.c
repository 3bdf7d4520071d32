/* Global settings: OpenMP thread count and the switch to the CPU reference kernels. */
#include <omp.h>
#include "internal.h"

static int reference_kernels;   /* read with atomics: kernels may check it from any thread */

/* libgomp exits the process when it cannot create the threads asked for, so the count is bounded
   well below that: no machine this library runs on has more hardware threads. */
#define MAX_THREADS 1024

cc_status cc_set_num_threads(int n)
{
    if (n < 1 || n > MAX_THREADS)
        return cc_error(CC_ERR_ARGUMENT, "set_num_threads: n: expected 1 <= n <= %d, got %d", MAX_THREADS, n);
    omp_set_num_threads(n);
    return CC_OK;
}

int cc_get_num_threads(void) { return omp_get_max_threads(); }

void cc_set_reference_kernels(int on) { __atomic_store_n(&reference_kernels, on ? 1 : 0, __ATOMIC_RELAXED); }

int cc_get_reference_kernels(void) { return __atomic_load_n(&reference_kernels, __ATOMIC_RELAXED); }
