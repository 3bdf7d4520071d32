/* The fused Adam / AdamW update on the CUDA device (the rule: kernels/optim.h): one thread per
   element, grid-stride. Shapes: param, grad (n) in storage type S; exp_avg, exp_avg_sq (n) in
   S's compute type A (float for f32/f16/bf16, double for f64); all contiguous. The variant flags
   are uniform across the grid. */
#include "optim.h"
#include "ops_common.cuh"

using namespace ccops;

namespace {

template <typename S> __global__ void adam_kernel(cc_adam_args a)
{
    typedef cc_acc_t<S> A;
    S *p = (S *)a.param;
    const S *g = (const S *)a.grad;
    A *m = (A *)a.exp_avg, *v = (A *)a.exp_avg_sq;
    const A wd = (A)a.weight_decay, decay = (A)a.decay, b1 = (A)a.beta1, omb1 = (A)a.one_minus_beta1;
    const A b2 = (A)a.beta2, omb2 = (A)a.one_minus_beta2, nss = (A)a.neg_step_size, bc2s = (A)a.bc2_sqrt;
    const A eps = (A)a.eps;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += step) {
        A pi = cc_load(p + i), gi = cc_load(g + i);
        if (a.l2) gi = gi + wd * pi;
        if (a.decoupled) pi = pi * decay;
        A mi = b1 * m[i] + omb1 * gi;
        A vi = b2 * v[i] + (omb2 * gi) * gi;
        A denom = m_sqrt(vi) / bc2s + eps;
        m[i] = mi;
        v[i] = vi;
        cc_store(p + i, pi + (nss * mi) / denom);
    }
}

}  /* namespace */

extern "C" int cc_cuda_adam(const cc_adam_args *a)
{
    if (a->n == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "adam_step", [&](auto t) {
        typedef decltype(t) S;
        CC_LAUNCH(adam_kernel<S>, (unsigned)blocks_for(a->n), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("adam_step");
    });
}
