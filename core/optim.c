/* Optimizer updates: the fused Adam / AdamW step, one kernel call per parameter (the rule:
   kernels/optim.h; the Lua optimizers: lua/causalconv/optim.lua).

   cc_adam_step(param, exp_avg, exp_avg_sq, grad, lr, beta1, beta2, eps, weight_decay, step, decoupled)
     param, grad     one shape, one float dtype (f32, f64, f16, bf16)
     exp_avg,        param's shape, f32 (f64 for an f64 param)
     exp_avg_sq
     all four contiguous, on one device, no two sharing memory; param and the moments are updated
     in place (their versions bumped), grad is only read.
     lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0, all finite; step >= 1 counts
     this update (the bias corrections are 1 - beta^step); decoupled 0 = Adam (L2 decay added to
     the gradient), 1 = AdamW (decoupled decay of the parameter).
   Nothing is written unless every argument passes. */
#include <math.h>
#include "checks.h"
#include "optim.h"

#define OP "adam_step"

static int run(const cc_adam_args *a, int device)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return cc_cuda_adam(a);
#endif
    (void)device;
    return cc_cpu_adam(a);
}

/* v finite and in [lo, hi) or [lo, hi] ("want" says which, for the message) */
static cc_status check_number(const char *arg, double v, int ok, const char *want)
{
    if (isfinite(v) && ok) return CC_OK;
    return cc_error(CC_ERR_ARGUMENT, OP ": %s: expected a finite number %s, got %.17g", arg, want, v);
}

static cc_status check_contiguous(const char *arg, const cc_tensor *t)
{
    if (cc_tensor_is_contiguous(t)) return CC_OK;
    char d[160], s[160];
    return cc_error(CC_ERR_ARGUMENT, OP ": %s: expected a contiguous tensor, got %s with strides %s (pass "
                    "x:contiguous())", arg, cc_describe(d, sizeof d, t), cc_shape_str(s, sizeof s, t->ndim, t->stride));
}

static cc_status check_moment(const char *arg, const cc_tensor *t, const cc_tensor *param)
{
    int want = param->dtype == CC_F64 ? CC_F64 : CC_F32;
    if (t->dtype == want) return CC_OK;
    char d[160];
    return cc_error(CC_ERR_DTYPE, OP ": %s: expected dtype %s (the moments are f32 for f32, f16 and bf16 params, f64 for "
                    "f64 ones; param is %s), got %s", arg, cc_dtype_name(want), cc_dtype_name(param->dtype),
                    cc_describe(d, sizeof d, t));
}

cc_status cc_adam_step(cc_tensor *param, cc_tensor *exp_avg, cc_tensor *exp_avg_sq, const cc_tensor *grad,
                       double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step,
                       int decoupled)
{
    TRY(cc_check_present(OP, "param", param));
    TRY(cc_check_present(OP, "exp_avg", exp_avg));
    TRY(cc_check_present(OP, "exp_avg_sq", exp_avg_sq));
    TRY(cc_check_present(OP, "grad", grad));
    const cc_tensor *ts[4] = { param, grad, exp_avg, exp_avg_sq };
    const char *names[4] = { "param", "grad", "exp_avg", "exp_avg_sq" };
    TRY(cc_check_devices(OP, 4, ts, names));
    TRY(cc_check_dtype(OP, "param", param, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(OP, "grad", grad, param->dtype, "param"));
    TRY(check_moment("exp_avg", exp_avg, param));
    TRY(check_moment("exp_avg_sq", exp_avg_sq, param));
    TRY(cc_check_shape_as(OP, "grad", grad, "param", param));
    TRY(cc_check_shape_as(OP, "exp_avg", exp_avg, "param", param));
    TRY(cc_check_shape_as(OP, "exp_avg_sq", exp_avg_sq, "param", param));
    for (int i = 0; i < 4; i++) TRY(check_contiguous(names[i], ts[i]));
    const cc_tensor *ins[1] = { grad };
    const char *in_names[1] = { "grad" };
    const cc_tensor *outs[3] = { param, exp_avg, exp_avg_sq };
    const char *out_names[3] = { "param", "exp_avg", "exp_avg_sq" };
    TRY(cc_check_io(OP, 1, ins, in_names, 3, outs, out_names));

    TRY(check_number("lr", lr, lr >= 0, ">= 0"));
    TRY(check_number("beta1", beta1, beta1 >= 0 && beta1 < 1, "in [0, 1)"));
    TRY(check_number("beta2", beta2, beta2 >= 0 && beta2 < 1, "in [0, 1)"));
    TRY(check_number("eps", eps, eps > 0, "> 0"));
    TRY(check_number("weight_decay", weight_decay, weight_decay >= 0, ">= 0"));
    if (step < 1) return cc_error(CC_ERR_ARGUMENT, OP ": step: expected step >= 1 (the count of this update), got %lld",
                                  (long long)step);
    if (decoupled != 0 && decoupled != 1)
        return cc_error(CC_ERR_ARGUMENT, OP ": decoupled: expected 0 (Adam) or 1 (AdamW), got %d", decoupled);

    /* the scalars as PyTorch computes them (Python floats = double) */
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    cc_adam_args a = {
        .dtype = param->dtype, .n = cc_tensor_numel(param),
        .param = cc_tensor_data(param), .grad = cc_tensor_data(grad),
        .exp_avg = cc_tensor_data(exp_avg), .exp_avg_sq = cc_tensor_data(exp_avg_sq),
        .l2 = !decoupled && weight_decay != 0, .decoupled = decoupled,
        .weight_decay = weight_decay, .decay = 1.0 - lr * weight_decay,
        .beta1 = beta1, .one_minus_beta1 = 1.0 - beta1, .beta2 = beta2, .one_minus_beta2 = 1.0 - beta2,
        .neg_step_size = -(lr / bc1), .bc2_sqrt = sqrt(bc2), .eps = eps,
    };
    if (a.n == 0) return CC_OK;
    TRY(cc_kernel_status(OP, param->device, run(&a, param->device)));
    cc_tensor_bump_version(param);
    cc_tensor_bump_version(exp_avg);
    cc_tensor_bump_version(exp_avg_sq);
    return CC_OK;
}
