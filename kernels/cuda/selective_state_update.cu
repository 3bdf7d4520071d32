/* Selective state update (decode: one token per row) on CUDA.

   A row (b, c) is worked by a group of S lanes (S the smallest power of two >= N, at most 32),
   lanes looping over the states n = lane, lane + S, ...: each lane updates its states in place
   (each state is read and written by one lane only) and sums its share of C.state; the shares meet
   by xor shuffles (a fixed order: deterministic) and lane 0 writes out. Blocks of 128 threads,
   grid-stride over the Bt * Di rows; a padding row (state_batch_indices < 0) writes out = 0 and
   touches no state. */
#include "selective_scan_common.cuh"

#define SS_UPD_THREADS 128

/* out (Bt, Di) and state (pool, Di, N) in place, from x, dt, z (Bt, Di), B, C (Bt, G, N),
   A (Di, N), D, dt_bias (Di) */
template <class A>
__global__ void __launch_bounds__(SS_UPD_THREADS) ss_update_kernel(const cc_scan_update_args a, int S)
{
    const int R = blockDim.x / S, gr = threadIdx.x / S, lane = threadIdx.x % S;
    const int64_t rows = a.Bt * a.Di, N = a.N, Di = a.Di;
    for (int64_t rb = (int64_t)blockIdx.x * R; rb < rows; rb += (int64_t)gridDim.x * R) {
        const bool valid = rb + gr < rows;
        const int64_t row = valid ? rb + gr : rows - 1, b = row / Di, c = row % Di;
        const int64_t i = a.state_batch_indices ? (int64_t)a.state_batch_indices[b * a.state_batch_indices_stride] : b;
        const bool live = valid && i >= 0;
        A y = (A)0, x = (A)0;
        if (live) {
            x = cc_load_as<A>(a.x, a.x_dtype, b * a.x_stride[0] + c * a.x_stride[1]);
            A dt = cc_load_as<A>(a.dt, a.dt_dtype, b * a.dt_stride[0] + c * a.dt_stride[1]);
            if (a.dt_bias) dt += cc_load_as<A>(a.dt_bias, a.dt_bias_dtype, c * a.dt_bias_stride);
            if (a.dt_softplus) dt = ss_softplus(dt);
            const int64_t bo = b * a.B_stride[0] + (c / (Di / a.B_G)) * a.B_stride[1];
            const int64_t co = b * a.C_stride[0] + (c / (Di / a.C_G)) * a.C_stride[1];
            const int64_t so = i * a.state_stride[0] + c * a.state_stride[1];
            for (int64_t n = lane; n < N; n += S) {
                const A An = cc_load_as<A>(a.A, a.A_dtype, c * a.A_stride[0] + n * a.A_stride[1]);
                const A Bn = cc_load_as<A>(a.B, a.B_dtype, bo + n * a.B_stride[2]);
                const A Cn = cc_load_as<A>(a.C, a.C_dtype, co + n * a.C_stride[2]);
                const int64_t si = so + n * a.state_stride[2];
                const A h = cc_load_as<A>(a.state, a.state_dtype, si) * ccops::m_exp(dt * An) + dt * Bn * x;
                cc_store_as(a.state, a.state_dtype, si, h);
                y += h * Cn;
            }
        }
        for (int o = S / 2; o > 0; o >>= 1) y += __shfl_xor_sync(SS_FULL, y, o, S);
        if (valid && lane == 0) {
            A out = (A)0;
            if (live) {
                if (a.D) y += cc_load_as<A>(a.D, a.D_dtype, c * a.D_stride) * x;
                if (a.z) y *= cc_silu(cc_load_as<A>(a.z, a.z_dtype, b * a.z_stride[0] + c * a.z_stride[1]));
                out = y;
            }
            cc_store_as(a.out, a.out_dtype, b * a.out_stride[0] + c * a.out_stride[1], out);
        }
    }
}

extern "C" int cc_cuda_selective_state_update(const cc_scan_update_args *a)
{
    const int64_t rows = a->Bt * a->Di;
    if (rows > 0) {
        const int S = ss_lanes(a->N);
        const unsigned blocks = ss_blocks(cc_ceil_div(rows, SS_UPD_THREADS / S));
        if (a->x_dtype == CC_F64) CC_LAUNCH(ss_update_kernel<double>, blocks, SS_UPD_THREADS, 0, *a, S);
        else                      CC_LAUNCH(ss_update_kernel<float>, blocks, SS_UPD_THREADS, 0, *a, S);
    }
    return cc_cuda_launch_status("selective_state_update");
}
