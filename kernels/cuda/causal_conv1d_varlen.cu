/* varlen_states on CUDA: states[n, :, SL-k+j] = x[end_n - k + j] for j < k = min(len_n, SL),
   zeros in the first SL-k slots (never taken from the previous sequence). Varlen forward and
   backward themselves are the dense kernels with rows = sequences (causal_conv1d_common.cuh).

   One thread per state element, channels fastest: x (T, D) rows and states stored (N, SL, D)
   coalesce. Values are copied bitwise when dtypes match. */
#include "causal_conv1d_common.cuh"

/* states (N, D, SL) from x (T, D) */
__global__ void cv_varlen_states_kernel(const cc_conv1d_states_args a)
{
    const int64_t D = a.D, SL = a.state_len;
    CV_GRID_STRIDE(i, a.N * SL * D) {
        int64_t c = i % D, q = i / D, j = q % SL, n = q / SL;
        int64_t end = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, n + 1);
        int64_t len = end - cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, n);
        int64_t k = len < SL ? len : SL;
        int64_t di = n * a.states_stride[0] + c * a.states_stride[1] + j * a.states_stride[2];
        if (j < SL - k) cc_zero_element(a.states, a.state_dtype, di);
        else cc_copy_element(a.states, a.state_dtype, di, a.x, a.x_dtype, (end - SL + j) * a.x_stride[0] + c * a.x_stride[1]);
    }
}

extern "C" int cc_cuda_causal_conv1d_varlen_states(const cc_conv1d_states_args *a)
{
    int64_t total = a->N * a->state_len * a->D;
    if (total > 0) CC_LAUNCH(cv_varlen_states_kernel, cv_blocks(total, 256), 256, 0, *a);
    return cc_cuda_launch_status("causal_conv1d_varlen_states");
}
