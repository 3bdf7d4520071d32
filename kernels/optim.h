/* Argument block of the fused optimizer update (core/optim.c fills it after validating every
   tensor and hyper-parameter; kernels/cpu/adam.c and kernels/cuda/adam.cu trust it).

   The rule, per element, PyTorch's torch.optim.Adam / AdamW (single-tensor path, amsgrad off),
   with g = grad, p = param, m = exp_avg, v = exp_avg_sq, t = step (this update's count, >= 1):

       Adam  (decoupled = 0):  g = g + weight_decay * p             (only when weight_decay != 0)
       AdamW (decoupled = 1):  p = p * (1 - lr * weight_decay)      (always, as AdamW does)
       m = beta1 * m + (1 - beta1) * g
       v = beta2 * v + ((1 - beta2) * g) * g
       denom = sqrt(v) / sqrt(1 - beta2^t) + eps
       p = p + (-(lr / (1 - beta1^t)) * m) / denom

   The scalars (1 - beta1, lr / (1 - beta1^t), sqrt(1 - beta2^t), 1 - lr * wd, ...) are computed
   once in double by core, as PyTorch computes them in Python floats, and rounded to the compute
   type: f32 for f32/f16/bf16 params, f64 for f64 ones. The moments are stored in the compute type
   (f32, or f64 for f64 params); f16/bf16 params are loaded to f32 and rounded back once (PyTorch
   would keep half-precision moments: ours are more precise). m = beta1 m + (1 - beta1) g is
   torch 1.13's form; torch >= 2.0 writes m.lerp_(g, 1 - beta1), equal up to rounding.

   Every element is updated on its own, so results do not depend on the thread count or the
   launch shape. All four buffers are contiguous and of n elements. */
#ifndef CC_KERNELS_OPTIM_H
#define CC_KERNELS_OPTIM_H

#include <stdint.h>
#include "dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_adam_args {
    int dtype;                    /* of param and grad (any float dtype) */
    int64_t n;                    /* elements of each buffer */
    void *param;                  /* n x dtype, updated */
    const void *grad;             /* n x dtype */
    void *exp_avg, *exp_avg_sq;   /* n x f32 (f64 when dtype is f64), updated */
    int l2;                       /* Adam with weight_decay != 0: g += weight_decay * p */
    int decoupled;                /* AdamW: p *= decay */
    double weight_decay;
    double decay;                 /* 1 - lr * weight_decay */
    double beta1, one_minus_beta1;
    double beta2, one_minus_beta2;
    double neg_step_size;         /* -lr / (1 - beta1^step) */
    double bc2_sqrt;              /* sqrt(1 - beta2^step) */
    double eps;
} cc_adam_args;

int cc_cpu_adam(const cc_adam_args *a);
int cc_cuda_adam(const cc_adam_args *a);

#ifdef __cplusplus
}
#endif

#endif
