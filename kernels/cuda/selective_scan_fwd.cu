/* Selective scan forward on CUDA, and the backward's checkpoint pass.

   Grid: 1-D, blocks of SS_FWD_THREADS = R rows (b, c) of S lanes each (selective_scan_common.cuh),
   grid-stride over the Bt * Di rows. A group walks its row's tokens in order, in runs of RUN steps
   (up to 32, fewer where R * RUN steps would not fit the shared-memory budget):
   1. stage: lane j computes dt and reads u for steps j, j + S, ... of the run into shared memory
      (coalesced along L when u and delta are L-contiguous);
   2. scan: every lane advances its states through the run and writes its C.h partial sum of each
      step to shared memory: one warp barrier per run instead of log2(S) shuffles per step;
   3. out: lane j sums the S partials of its steps in lane order (deterministic) and writes
      (y + D u) silu(z), 0 for padding tokens.
   last_state is written at the end. Shared memory per row: RUN * (S + 3) values of A and RUN ints.
   With more than 8 states per lane (N > 256) the states and A live in a global scratch of
   (2, grid rows, ss_state_pitch(N)) values. */
#include "selective_scan_common.cuh"
#include "cuda_backend.h"

#define SS_FWD_THREADS 128
#define SS_RUN_MAX 32

/* out (Bt, Di, L), last_state (Bt, Di, N) from u, delta (Bt, Di, L), B, C (views), A (Di, N);
   hs (2, gridDim.x * R, N) when K == 0; ckpt (Bt * Di, nch, N), ckseg (Bt * Di, nch) when given. */
template <class A, int K>
__global__ void __launch_bounds__(SS_FWD_THREADS)
ss_fwd_kernel(const cc_scan_args a, int S, int RUN, A *hs, A *ckpt, int32_t *ckseg, int64_t T)
{
    CC_DYNAMIC_SMEM(A, sm);
    const int R = blockDim.x / S, gr = threadIdx.x / S, lane = threadIdx.x % S;
    A *sdt = sm + (int64_t)gr * RUN * (S + 3), *su = sdt + RUN, *yp = su + RUN;
    int *skind = (int *)(sm + (int64_t)R * RUN * (S + 3)) + gr * RUN;
    const int64_t rows = a.Bt * a.Di, N = a.N, L = a.L, nch = ckpt ? (L + T - 1) / T : 0;
    const int nk = K ? K : (int)((N + S - 1) / S);
    const bool want_y = a.out != NULL;
    const int64_t slot = (int64_t)blockIdx.x * R + gr, slots = (int64_t)gridDim.x * R;
    for (int64_t rb = (int64_t)blockIdx.x * R; rb < rows; rb += (int64_t)gridDim.x * R) {
        const bool valid = rb + gr < rows;
        const int64_t row = valid ? rb + gr : rows - 1;
        const ss_row r = ss_row_of(a, row / a.Di, row % a.Di);
        ss_states<A, K> h, Ac;
        if constexpr (K == 0) {
            const int64_t NP = (int64_t)nk * S;   /* row pitch: every lane's every slot, n >= N included */
            h.bind(hs + slot * NP, lane);
            Ac.bind(hs + (slots + slot) * NP, lane);
        }
        #pragma unroll
        for (int k = 0; k < nk; k++) {
            const int64_t n = lane + (int64_t)S * k;
            Ac[k] = n < N ? cc_load_as<A>(a.A, a.A_dtype, r.c * a.A_stride[0] + n * a.A_stride[1]) : (A)0;
            h[k] = n < N ? ss_h0<A>(a, r, n) : (A)0;
        }
        const A Dc = a.D ? cc_load_as<A>(a.D, a.D_dtype, r.c * a.D_stride) : (A)0;
        int32_t seg = 0;
        for (int64_t t0 = 0; t0 < L; t0 += RUN) {
            const int nt = (int)(L - t0 < RUN ? L - t0 : RUN);
            for (int i = lane; i < nt; i += S) {
                A v;
                sdt[i] = ss_dt<A>(a, r, t0 + i, v);
                su[i] = ss_load3<A>(a.u, a.u_dtype, a.u_stride, r, t0 + i);
            }
            __syncwarp();
            for (int i = 0; i < nt; i++) {
                const int64_t t = t0 + i;
                if (ckpt && valid && t % T == 0) {
                    const int64_t ck = row * nch + t / T;
                    #pragma unroll
                    for (int k = 0; k < nk; k++)
                        if (lane + (int64_t)S * k < N) ckpt[ck * N + lane + (int64_t)S * k] = h[k];
                    if (lane == 0) ckseg[ck] = seg;
                }
                const int kind = ss_token_kind(&a, r.b, t, &seg);
                const A dt = sdt[i], du = dt * su[i];
                A y = (A)0;
                if (kind != SS_PAD) {
                    #pragma unroll
                    for (int k = 0; k < nk; k++) {
                        const int64_t n = lane + (int64_t)S * k;
                        if (n >= N) continue;
                        const A Bv = cc_load_as<A>(a.B.data, a.B.dtype, r.boff + n * a.B.stride[2] + t * a.B.stride[3]);
                        h[k] = (kind == SS_RESET ? (A)0 : ccops::m_exp(dt * Ac[k]) * h[k]) + du * Bv;
                        if (want_y) y += cc_load_as<A>(a.C.data, a.C.dtype, r.coff + n * a.C.stride[2] + t * a.C.stride[3]) * h[k];
                    }
                }
                yp[i * (S + 1) + lane] = y;
                if (lane == 0) skind[i] = kind;
            }
            __syncwarp();
            if (want_y && valid) {
                for (int i = lane; i < nt; i += S) {
                    const int64_t t = t0 + i;
                    A o = (A)0;
                    if (skind[i] != SS_PAD) {
                        o = ss_lane_sum(yp + i * (S + 1), S) + Dc * su[i];
                        if (a.z) o *= cc_silu(ss_load3<A>(a.z, a.z_dtype, a.z_stride, r, t));
                    }
                    cc_store_as(a.out, a.out_dtype, ss_at3(a.out_stride, r.b, r.c, t), o);
                }
            }
            __syncwarp();   /* the next run's staging overwrites what this one read */
        }
        if (a.last_state && valid) {
            #pragma unroll
            for (int k = 0; k < nk; k++) {
                const int64_t n = lane + (int64_t)S * k;
                if (n < N) cc_store_as(a.last_state, a.last_state_dtype, ss_at3(a.last_state_stride, r.b, r.c, n), h[k]);
            }
        }
    }
}

template <class A, int K>
static void ss_fwd_launch(const cc_scan_args *a, int S, unsigned blocks, A *hs, A *ckpt, int32_t *ckseg, int64_t T)
{
    const int R = SS_FWD_THREADS / S;
    const int64_t per_step = R * ((S + 3) * (int64_t)sizeof(A) + (int64_t)sizeof(int));
    const int RUN = (int)(SS_SMEM_BUDGET / per_step < SS_RUN_MAX ? SS_SMEM_BUDGET / per_step : SS_RUN_MAX);
    CC_LAUNCH((ss_fwd_kernel<A, K>), blocks, SS_FWD_THREADS, (size_t)(RUN * per_step), *a, S, RUN, hs, ckpt, ckseg, T);
}

template <class A> int ss_forward_pass(const cc_scan_args *a, A *ckpt, int32_t *ckseg, int64_t T, const char *op)
{
    const int64_t rows = a->Bt * a->Di;
    if (rows == 0) return cc_cuda_launch_status(op);
    const int S = ss_lanes(a->N), K = ss_states_per_lane(a->N, S), R = SS_FWD_THREADS / S;
    unsigned blocks = ss_blocks(cc_ceil_div(rows, R));
    A *hs = NULL;
    if (K == 0) {
        /* states in global memory: enough blocks to fill a device, each slot reused by its block */
        if (blocks > 4096) blocks = 4096;
        int st = cc_cuda_alloc((void **)&hs, 2 * (int64_t)blocks * R * ss_state_pitch(a->N) * (int64_t)sizeof(A), 0);
        if (st != CC_OK) return st;
    }
    switch (K) {
    case 1:  ss_fwd_launch<A, 1>(a, S, blocks, hs, ckpt, ckseg, T); break;
    case 2:  ss_fwd_launch<A, 2>(a, S, blocks, hs, ckpt, ckseg, T); break;
    case 4:  ss_fwd_launch<A, 4>(a, S, blocks, hs, ckpt, ckseg, T); break;
    case 8:  ss_fwd_launch<A, 8>(a, S, blocks, hs, ckpt, ckseg, T); break;
    default: ss_fwd_launch<A, 0>(a, S, blocks, hs, ckpt, ckseg, T); break;
    }
    int st = cc_cuda_launch_status(op);
    if (hs) cc_cuda_free(hs, 0);
    return st;
}

template int ss_forward_pass<float>(const cc_scan_args *, float *, int32_t *, int64_t, const char *);
template int ss_forward_pass<double>(const cc_scan_args *, double *, int32_t *, int64_t, const char *);

extern "C" int cc_cuda_selective_scan_forward(const cc_scan_args *a)
{
    if (a->u_dtype == CC_F64) return ss_forward_pass<double>(a, NULL, NULL, 0, "selective_scan_forward");
    return ss_forward_pass<float>(a, NULL, NULL, 0, "selective_scan_forward");
}
