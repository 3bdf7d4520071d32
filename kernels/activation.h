/* sigmoid, SiLU and SiLU' in f32 and f64: the one scalar definition, shared by the CPU reference
   kernels, the tensor ops and the CUDA kernels (host and device). The fast CPU conv kernels use
   the same formulas with an inlined vector exp (kernels/cpu/conv_common.h), since libm's exp keeps
   their row loops from vectorising.
   sigmoid(x) = 1 / (1 + exp(-x)), from exp(-|x|) so that it never overflows;
   silu(x) = x * sigmoid(x); silu'(x) = s * (1 + x * (1 - s)) with s = sigmoid(x). */
#ifndef CC_KERNELS_ACTIVATION_H
#define CC_KERNELS_ACTIVATION_H

#include <math.h>
#include "dtype.h"

CC_HD float cc_sigmoid_f32(float x)
{
    float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}

CC_HD double cc_sigmoid_f64(double x)
{
    double e = exp(-fabs(x)), r = 1.0 / (1.0 + e);
    return x >= 0 ? r : e * r;
}

CC_HD float cc_silu_f32(float x) { return x * cc_sigmoid_f32(x); }
CC_HD double cc_silu_f64(double x) { return x * cc_sigmoid_f64(x); }

CC_HD float cc_dsilu_f32(float x)
{
    float s = cc_sigmoid_f32(x);
    return s * (1.0f + x * (1.0f - s));
}

CC_HD double cc_dsilu_f64(double x)
{
    double s = cc_sigmoid_f64(x);
    return s * (1.0 + x * (1.0 - s));
}

#ifdef __cplusplus
/* the same, overloaded on the compute type, for templated kernels */
CC_HDT float cc_sigmoid(float x) { return cc_sigmoid_f32(x); }
CC_HDT double cc_sigmoid(double x) { return cc_sigmoid_f64(x); }
CC_HDT float cc_silu(float x) { return cc_silu_f32(x); }
CC_HDT double cc_silu(double x) { return cc_silu_f64(x); }
CC_HDT float cc_dsilu(float x) { return cc_dsilu_f32(x); }
CC_HDT double cc_dsilu(double x) { return cc_dsilu_f64(x); }
#endif

#endif
