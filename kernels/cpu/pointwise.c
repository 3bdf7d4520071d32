/* Elementwise ops (unary forward/backward, binary) on any strides, plus the block load/store
   helpers of ops_common.h. The fast kernel walks the (collapsed) shape in fixed chunks of the flat
   index, loads each run along the last dim into a contiguous buffer, computes there and stores;
   every element is computed independently, so results do not depend on the thread count. */
#include "activation.h"
#include "ops_common.h"

void cc_ld_block(double *dst, const void *p, int dtype, int64_t s, int64_t n)
{
    switch (dtype) {
    case CC_F32: { const float *x = p; for (int64_t i = 0; i < n; i++) dst[i] = x[i * s]; break; }
    case CC_F64: { const double *x = p; for (int64_t i = 0; i < n; i++) dst[i] = x[i * s]; break; }
    case CC_F16: { const uint16_t *x = p; for (int64_t i = 0; i < n; i++) dst[i] = cc_f16_to_f32_inline(x[i * s]); break; }
    default:     { const uint16_t *x = p; for (int64_t i = 0; i < n; i++) dst[i] = cc_bf16_to_f32_inline(x[i * s]); break; }
    }
}

void cc_st_block(void *p, int dtype, int64_t s, const double *src, int64_t n)
{
    switch (dtype) {
    case CC_F32: { float *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = (float)src[i]; break; }
    case CC_F64: { double *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = src[i]; break; }
    case CC_F16: { uint16_t *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = cc_f32_to_f16_inline((float)src[i]); break; }
    default:     { uint16_t *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = cc_f32_to_bf16_inline((float)src[i]); break; }
    }
}

void cc_ld_block_f(float *dst, const void *p, int dtype, int64_t s, int64_t n)
{
    switch (dtype) {
    case CC_F32: { const float *x = p; for (int64_t i = 0; i < n; i++) dst[i] = x[i * s]; break; }
    case CC_F16: { const uint16_t *x = p; for (int64_t i = 0; i < n; i++) dst[i] = cc_f16_to_f32_inline(x[i * s]); break; }
    default:     { const uint16_t *x = p; for (int64_t i = 0; i < n; i++) dst[i] = cc_bf16_to_f32_inline(x[i * s]); break; }
    }
}

void cc_st_block_f(void *p, int dtype, int64_t s, const float *src, int64_t n)
{
    switch (dtype) {
    case CC_F32: { float *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = src[i]; break; }
    case CC_F16: { uint16_t *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = cc_f32_to_f16_inline(src[i]); break; }
    default:     { uint16_t *y = p; for (int64_t i = 0; i < n; i++) y[i * s] = cc_f32_to_bf16_inline(src[i]); break; }
    }
}

/* ---- scalar math, once in f32 and once in f64 ---- */


static inline float unary_f(int op, float x, float s)
{
    switch (op) {
    case CC_UNARY_NEG:         return -x;
    case CC_UNARY_EXP:         return expf(x);
    case CC_UNARY_LOG:         return logf(x);
    case CC_UNARY_SQRT:        return sqrtf(x);
    case CC_UNARY_RSQRT:       return 1.0f / sqrtf(x);
    case CC_UNARY_ABS:         return fabsf(x);
    case CC_UNARY_SIGMOID:     return cc_sigmoid_f32(x);
    case CC_UNARY_SILU:        return cc_silu_f32(x);
    case CC_UNARY_SOFTPLUS:    return x > 20.0f ? x : log1pf(expf(x));
    case CC_UNARY_TANH:        return tanhf(x);
    case CC_UNARY_RELU:        return x > 0.0f || isnan(x) ? x : 0.0f;
    case CC_UNARY_POW_SCALAR:  return powf(x, s);
    case CC_UNARY_ADD_SCALAR:  return x + s;
    case CC_UNARY_MUL_SCALAR:  return x * s;
    case CC_UNARY_RPOW_SCALAR: return powf(s, x);
    case CC_UNARY_GELU:        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    default:                   return s / x;   /* RDIV_SCALAR */
    }
}

static inline double unary_d(int op, double x, double s)
{
    switch (op) {
    case CC_UNARY_NEG:         return -x;
    case CC_UNARY_EXP:         return exp(x);
    case CC_UNARY_LOG:         return log(x);
    case CC_UNARY_SQRT:        return sqrt(x);
    case CC_UNARY_RSQRT:       return 1.0 / sqrt(x);
    case CC_UNARY_ABS:         return fabs(x);
    case CC_UNARY_SIGMOID:     return cc_sigmoid_f64(x);
    case CC_UNARY_SILU:        return cc_silu_f64(x);
    case CC_UNARY_SOFTPLUS:    return x > 20.0 ? x : log1p(exp(x));
    case CC_UNARY_TANH:        return tanh(x);
    case CC_UNARY_RELU:        return x > 0.0 || isnan(x) ? x : 0.0;
    case CC_UNARY_POW_SCALAR:  return pow(x, s);
    case CC_UNARY_ADD_SCALAR:  return x + s;
    case CC_UNARY_MUL_SCALAR:  return x * s;
    case CC_UNARY_RPOW_SCALAR: return pow(s, x);
    case CC_UNARY_GELU:        return 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
    default:                   return s / x;
    }
}

/* d op(x) / dx; the masked cases (pow with exponent 0, base 0) give 0 as PyTorch does */
static inline float unary_grad_f(int op, float x, float s)
{
    switch (op) {
    case CC_UNARY_NEG:         return -1.0f;
    case CC_UNARY_EXP:         return expf(x);
    case CC_UNARY_LOG:         return 1.0f / x;
    case CC_UNARY_SQRT:        return 0.5f / sqrtf(x);
    case CC_UNARY_RSQRT:       return -0.5f / (x * sqrtf(x));
    case CC_UNARY_ABS:         return (float)((x > 0.0f) - (x < 0.0f));
    case CC_UNARY_SIGMOID:     { float g = cc_sigmoid_f32(x); return g * (1.0f - g); }
    case CC_UNARY_SILU:        return cc_dsilu_f32(x);
    case CC_UNARY_SOFTPLUS:    return x > 20.0f ? 1.0f : cc_sigmoid_f32(x);
    case CC_UNARY_TANH:        { float t = tanhf(x); return 1.0f - t * t; }
    case CC_UNARY_RELU:        return x > 0.0f ? 1.0f : 0.0f;
    case CC_UNARY_POW_SCALAR:  return s == 0.0f ? 0.0f : s * powf(x, s - 1.0f);
    case CC_UNARY_ADD_SCALAR:  return 1.0f;
    case CC_UNARY_MUL_SCALAR:  return s;
    case CC_UNARY_RPOW_SCALAR: return s == 0.0f ? 0.0f : powf(s, x) * logf(s);
    case CC_UNARY_GELU:        return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
    default:                   return -s / (x * x);
    }
}

static inline double unary_grad_d(int op, double x, double s)
{
    switch (op) {
    case CC_UNARY_NEG:         return -1.0;
    case CC_UNARY_EXP:         return exp(x);
    case CC_UNARY_LOG:         return 1.0 / x;
    case CC_UNARY_SQRT:        return 0.5 / sqrt(x);
    case CC_UNARY_RSQRT:       return -0.5 / (x * sqrt(x));
    case CC_UNARY_ABS:         return (double)((x > 0.0) - (x < 0.0));
    case CC_UNARY_SIGMOID:     { double g = cc_sigmoid_f64(x); return g * (1.0 - g); }
    case CC_UNARY_SILU:        return cc_dsilu_f64(x);
    case CC_UNARY_SOFTPLUS:    return x > 20.0 ? 1.0 : cc_sigmoid_f64(x);
    case CC_UNARY_TANH:        { double t = tanh(x); return 1.0 - t * t; }
    case CC_UNARY_RELU:        return x > 0.0 ? 1.0 : 0.0;
    case CC_UNARY_POW_SCALAR:  return s == 0.0 ? 0.0 : s * pow(x, s - 1.0);
    case CC_UNARY_ADD_SCALAR:  return 1.0;
    case CC_UNARY_MUL_SCALAR:  return s;
    case CC_UNARY_RPOW_SCALAR: return s == 0.0 ? 0.0 : pow(s, x) * log(s);
    case CC_UNARY_GELU:        return 0.5 * (1.0 + erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x);
    default:                   return -s / (x * x);
    }
}

/* binary ops round once from f64: for + - * / that equals computing in the operands' own precision;
   the comparisons give 1 or 0 (exact in every float dtype) */
static inline double binary_d(int op, double a, double b)
{
    switch (op) {
    case CC_BINARY_ADD: return a + b;
    case CC_BINARY_SUB: return a - b;
    case CC_BINARY_MUL: return a * b;
    case CC_BINARY_GT:  return a > b;
    case CC_BINARY_LT:  return a < b;
    case CC_BINARY_GE:  return a >= b;
    case CC_BINARY_LE:  return a <= b;
    case CC_BINARY_EQ:  return a == b;
    case CC_BINARY_NE:  return a != b;
    default:            return a / b;
    }
}

/* ---- compute on contiguous buffers: y = f(u[, v]) ----
   The loops are instantiated per op (op is a constant after inlining), so each one is a plain
   loop without a switch inside; "switch (op)" below only picks the loop. */

static inline __attribute__((always_inline)) void loop_f(int kind, int op, float *y, const float *u, const float *v,
                                                         float s, int64_t n)
{
    if (kind == CC_PW_UNARY)
        for (int64_t i = 0; i < n; i++) y[i] = unary_f(op, u[i], s);
    else
        for (int64_t i = 0; i < n; i++) y[i] = v[i] * unary_grad_f(op, u[i], s);
}

static inline __attribute__((always_inline)) void loop_d(int kind, int op, double *y, const double *u, const double *v,
                                                         double s, int64_t n)
{
    if (kind == CC_PW_UNARY)
        for (int64_t i = 0; i < n; i++) y[i] = unary_d(op, u[i], s);
    else if (kind == CC_PW_UNARY_BACKWARD)
        for (int64_t i = 0; i < n; i++) y[i] = v[i] * unary_grad_d(op, u[i], s);
    else
        for (int64_t i = 0; i < n; i++) y[i] = binary_d(op, u[i], v[i]);
}

#define UNARY_OPS(X) X(CC_UNARY_NEG) X(CC_UNARY_EXP) X(CC_UNARY_LOG) X(CC_UNARY_SQRT) X(CC_UNARY_RSQRT) \
    X(CC_UNARY_ABS) X(CC_UNARY_SIGMOID) X(CC_UNARY_SILU) X(CC_UNARY_SOFTPLUS) X(CC_UNARY_TANH) X(CC_UNARY_RELU) \
    X(CC_UNARY_POW_SCALAR) X(CC_UNARY_ADD_SCALAR) X(CC_UNARY_MUL_SCALAR) X(CC_UNARY_RPOW_SCALAR) X(CC_UNARY_RDIV_SCALAR) \
    X(CC_UNARY_GELU)

static void compute_f(const cc_pointwise_args *a, float *y, const float *u, const float *v, int64_t n)
{
    float s = (float)a->scalar;
    int bwd = a->kind == CC_PW_UNARY_BACKWARD;
#define CASE_F(OP) case OP: bwd ? loop_f(CC_PW_UNARY_BACKWARD, OP, y, u, v, s, n) : loop_f(CC_PW_UNARY, OP, y, u, v, s, n); break;
    switch (a->op) { UNARY_OPS(CASE_F) }
#undef CASE_F
}

static void compute_d(const cc_pointwise_args *a, double *y, const double *u, const double *v, int64_t n)
{
    double s = a->scalar;
    if (a->kind == CC_PW_BINARY) {
        switch (a->op) {
        case CC_BINARY_ADD: loop_d(CC_PW_BINARY, CC_BINARY_ADD, y, u, v, s, n); break;
        case CC_BINARY_SUB: loop_d(CC_PW_BINARY, CC_BINARY_SUB, y, u, v, s, n); break;
        case CC_BINARY_MUL: loop_d(CC_PW_BINARY, CC_BINARY_MUL, y, u, v, s, n); break;
        case CC_BINARY_GT:  loop_d(CC_PW_BINARY, CC_BINARY_GT, y, u, v, s, n); break;
        case CC_BINARY_LT:  loop_d(CC_PW_BINARY, CC_BINARY_LT, y, u, v, s, n); break;
        case CC_BINARY_GE:  loop_d(CC_PW_BINARY, CC_BINARY_GE, y, u, v, s, n); break;
        case CC_BINARY_LE:  loop_d(CC_PW_BINARY, CC_BINARY_LE, y, u, v, s, n); break;
        case CC_BINARY_EQ:  loop_d(CC_PW_BINARY, CC_BINARY_EQ, y, u, v, s, n); break;
        case CC_BINARY_NE:  loop_d(CC_PW_BINARY, CC_BINARY_NE, y, u, v, s, n); break;
        default:            loop_d(CC_PW_BINARY, CC_BINARY_DIV, y, u, v, s, n); break;
        }
        return;
    }
    int bwd = a->kind == CC_PW_UNARY_BACKWARD;
#define CASE_D(OP) case OP: bwd ? loop_d(CC_PW_UNARY_BACKWARD, OP, y, u, v, s, n) : loop_d(CC_PW_UNARY, OP, y, u, v, s, n); break;
    switch (a->op) { UNARY_OPS(CASE_D) }
#undef CASE_D
}

#define PW_CHUNK 8192   /* elements per parallel work item */
#define PW_RUN 512      /* elements per buffered run */

/* one run of n elements starting at element offsets oo (out), o0 (in0), o1 (in1), along the last dim */
static void pointwise_run(const cc_pointwise_args *a, int64_t oo, int64_t o0, int64_t o1, int64_t n)
{
    int last = a->ndim - 1;
    int64_t so = last >= 0 ? a->out_stride[last] : 1, s0 = last >= 0 ? a->in0_stride[last] : 1;
    int64_t s1 = last >= 0 ? a->in1_stride[last] : 1, es = cc_dtype_bytes(a->dtype);
    char *out = (char *)a->out + oo * es;
    const char *in0 = (const char *)a->in0 + o0 * es;
    const char *in1 = a->in1 ? (const char *)a->in1 + o1 * es : NULL;
    /* f32 computes transcendental unary ops in f32; binary ops and f64 go through f64 */
    if (a->dtype != CC_F64 && a->kind != CC_PW_BINARY) {
        float y[PW_RUN], u[PW_RUN], v[PW_RUN];
        cc_ld_block_f(u, in0, a->dtype, s0, n);
        if (in1) cc_ld_block_f(v, in1, a->dtype, s1, n);
        compute_f(a, y, u, v, n);
        cc_st_block_f(out, a->dtype, so, y, n);
    } else {
        double y[PW_RUN], u[PW_RUN], v[PW_RUN];
        cc_ld_block(u, in0, a->dtype, s0, n);
        if (in1) cc_ld_block(v, in1, a->dtype, s1, n);
        compute_d(a, y, u, v, n);
        cc_st_block(out, a->dtype, so, y, n);
    }
}

/* elements [start, end) of the flat index */
static void pointwise_range(const cc_pointwise_args *a, int64_t start, int64_t end)
{
    int nd = a->ndim;
    int64_t idx[8];
    int64_t r = start;
    for (int d = nd - 1; d >= 0; d--) { idx[d] = r % a->shape[d]; r /= a->shape[d]; }
    int64_t pos = start;
    while (pos < end) {
        int64_t oo = 0, o0 = 0, o1 = 0;
        for (int d = 0; d < nd; d++) {
            oo += idx[d] * a->out_stride[d];
            o0 += idx[d] * a->in0_stride[d];
            o1 += idx[d] * a->in1_stride[d];
        }
        int64_t row_left = nd ? a->shape[nd - 1] - idx[nd - 1] : 1;
        int64_t n = end - pos < row_left ? end - pos : row_left;
        if (n > PW_RUN) n = PW_RUN;
        pointwise_run(a, oo, o0, o1, n);
        pos += n;
        if (nd == 0) break;
        idx[nd - 1] += n;
        for (int d = nd - 1; d > 0 && idx[d] == a->shape[d]; d--) { idx[d] = 0; idx[d - 1]++; }
    }
}

/* out = f(in0[, in1]), any shape (collapsed), any strides */
int cc_cpu_pointwise(const cc_pointwise_args *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    int64_t nchunks = (n + PW_CHUNK - 1) / PW_CHUNK;
    #pragma omp parallel for schedule(static) if (n > CC_OMP_MIN_WORK)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t end = (c + 1) * PW_CHUNK < n ? (c + 1) * PW_CHUNK : n;
        pointwise_range(a, c * PW_CHUNK, end);
    }
    return CC_OK;
}

/* plain reference: one element at a time through the multi-index */
int cc_cpu_pointwise_ref(const cc_pointwise_args *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    for (int64_t e = 0; e < n; e++) {
        int64_t r = e, oo = 0, o0 = 0, o1 = 0;
        for (int d = a->ndim - 1; d >= 0; d--) {
            int64_t i = r % a->shape[d];
            r /= a->shape[d];
            oo += i * a->out_stride[d]; o0 += i * a->in0_stride[d]; o1 += i * a->in1_stride[d];
        }
        double u = cc_load_f64(a->in0, a->dtype, o0), v = a->in1 ? cc_load_f64(a->in1, a->dtype, o1) : 0.0, y;
        if (a->kind == CC_PW_BINARY) y = binary_d(a->op, u, v);
        else if (a->dtype == CC_F64)
            y = a->kind == CC_PW_UNARY ? unary_d(a->op, u, a->scalar) : v * unary_grad_d(a->op, u, a->scalar);
        else
            y = a->kind == CC_PW_UNARY ? unary_f(a->op, (float)u, (float)a->scalar)
                                       : (float)v * unary_grad_f(a->op, (float)u, (float)a->scalar);
        cc_store_f64(a->out, a->dtype, oo, y);
    }
    return CC_OK;
}
