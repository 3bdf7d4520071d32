/* The codes core/, kernels/ and the Lua binding share: statuses, dtypes, devices, activations and
   tensor-op codes. Included by core/causalconv.h (the public header) and by the kernels, which see
   nothing from core/. The block between CC_API_BEGIN and CC_API_END is plain C with no macros: the
   Lua binding hands it to ffi.cdef before the API block of core/causalconv.h. */
#ifndef CC_KERNELS_ENUMS_H
#define CC_KERNELS_ENUMS_H

/* CC_API_BEGIN */
typedef enum cc_status {
    CC_OK = 0,
    CC_ERR_ARGUMENT = 1,    /* a bad value: dim out of range, width out of range, ... */
    CC_ERR_SHAPE = 2,       /* shapes that do not fit together */
    CC_ERR_DTYPE = 3,       /* a dtype the op does not take */
    CC_ERR_DEVICE = 4,      /* mixed devices, or a device that is not there */
    CC_ERR_MEMORY = 5,      /* allocation failed */
    CC_ERR_IO = 6,          /* file errors, bad .npy files */
    CC_ERR_CUDA = 7,        /* an error reported by the CUDA runtime or a kernel launch */
    CC_ERR_UNSUPPORTED = 8  /* valid request the build cannot serve (e.g. CUDA not built) */
} cc_status;

typedef enum cc_dtype {
    CC_F32 = 0,
    CC_F64 = 1,
    CC_F16 = 2,
    CC_BF16 = 3,
    CC_I32 = 4,
    CC_I64 = 5
} cc_dtype;

typedef enum cc_device {
    CC_CPU = 0,
    CC_CUDA = 1
} cc_device;

typedef enum cc_activation {
    CC_ACT_NONE = 0,
    CC_ACT_SILU = 1
} cc_activation;

/* tensor ops for autograd (core/ops_*.c, kernels/ops.h); GELU is PyTorch's exact erf form; the
   comparisons write 1 where true and 0 where false, in the operands' float dtype */
typedef enum cc_unary_op {
    CC_UNARY_NEG = 0, CC_UNARY_EXP, CC_UNARY_LOG, CC_UNARY_SQRT, CC_UNARY_RSQRT, CC_UNARY_ABS,
    CC_UNARY_SIGMOID, CC_UNARY_SILU, CC_UNARY_SOFTPLUS, CC_UNARY_TANH, CC_UNARY_RELU,
    CC_UNARY_POW_SCALAR, CC_UNARY_ADD_SCALAR, CC_UNARY_MUL_SCALAR, CC_UNARY_RPOW_SCALAR,
    CC_UNARY_RDIV_SCALAR, CC_UNARY_GELU
} cc_unary_op;
typedef enum cc_binary_op {
    CC_BINARY_ADD = 0, CC_BINARY_SUB, CC_BINARY_MUL, CC_BINARY_DIV,
    CC_BINARY_GT, CC_BINARY_LT, CC_BINARY_GE, CC_BINARY_LE, CC_BINARY_EQ, CC_BINARY_NE
} cc_binary_op;
/* CC_API_END */

#endif
