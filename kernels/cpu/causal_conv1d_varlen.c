/* Fast CPU varlen_states: x (T, D) packed, cu_seqlens (N+1), states (N, D, state_len):
   the last state_len tokens of each sequence, zeros before its start, copied bit for bit when
   the dtypes match (the varlen forward and backward are the dense kernels with rows = sequences,
   see conv_common.h). OpenMP over (sequence, slot); each slot copies one row of D channels. */
#include "conv_common.h"

int cc_cpu_causal_conv1d_varlen_states(const cc_conv1d_states_args *a)
{
    int64_t N = a->N, D = a->D, SL = a->state_len;
    int64_t es = cc_dtype_bytes(a->state_dtype);
    int same = a->x_dtype == a->state_dtype && a->x_stride[1] == 1 && a->states_stride[1] == 1;
    #pragma omp parallel for schedule(static) if (N * SL * D > CC_OMP_MIN_WORK)
    for (int64_t nj = 0; nj < N * SL; nj++) {
        int64_t n = nj / SL, j = nj % SL;
        int64_t end = cc_load_index(a->cu_seqlens, a->cu_seqlens_dtype, n + 1);
        int64_t len = end - cc_load_index(a->cu_seqlens, a->cu_seqlens_dtype, n);
        int64_t p = end - SL + j;   /* token of slot j; before the sequence when j < SL - len */
        int64_t di = n * a->states_stride[0] + j * a->states_stride[2];
        if (j < SL - len) {
            for (int64_t c = 0; c < D; c++) cc_zero_element(a->states, a->state_dtype, di + c * a->states_stride[1]);
        } else if (same) {
            memcpy(cv_at_mut(a->states, a->state_dtype, di), cv_at(a->x, a->x_dtype, p * a->x_stride[0]), (size_t)(D * es));
        } else {
            for (int64_t c = 0; c < D; c++)
                cc_copy_element(a->states, a->state_dtype, di + c * a->states_stride[1],
                             a->x, a->x_dtype, p * a->x_stride[0] + c * a->x_stride[1]);
        }
    }
    return CC_OK;
}
