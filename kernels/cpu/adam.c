/* The fused Adam / AdamW update on the CPU (the rule: kernels/optim.h).

   Shapes: param, grad (n) in a->dtype; exp_avg, exp_avg_sq (n) in f32, or f64 for f64 params;
   all contiguous. OpenMP splits the elements into fixed chunks of CHUNK; each chunk runs
   branch-free `omp simd` loops (the variant -- plain Adam, Adam with L2 decay, AdamW -- is chosen
   outside them). f16/bf16 chunks are widened into f32 buffers, updated by the f32 code and
   rounded back once. Each element is computed on its own, so the result does not
   depend on the thread count. */
#include <math.h>
#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif
#include "ops_common.h"
#include "optim.h"

#define CHUNK 2048   /* elements per OpenMP work item (and per f16/bf16 staging buffer) */

/* dst = sqrt(src), n elements. GCC keeps a scalar sqrtf call per element in any loop that uses
   sqrtf (for errno, unless -fno-math-errno, which the optimize attribute does not turn on), and
   that stops the whole update loop from vectorising; so the square roots are one pass of their
   own, by the vector sqrt instructions (IEEE, correctly rounded: the same values as sqrtf). */
static inline void sqrt_block_f32(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
#if defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_sqrt_ps(_mm256_loadu_ps(src + i)));
#elif defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, _mm_sqrt_ps(_mm_loadu_ps(src + i)));
#endif
    for (; i < n; i++) dst[i] = sqrtf(src[i]);
}

static inline void sqrt_block_f64(double *restrict dst, const double *restrict src, int64_t n)
{
    int64_t i = 0;
#if defined(__AVX__)
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(dst + i, _mm256_sqrt_pd(_mm256_loadu_pd(src + i)));
#elif defined(__SSE2__)
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(dst + i, _mm_sqrt_pd(_mm_loadu_pd(src + i)));
#endif
    for (; i < n; i++) dst[i] = sqrt(src[i]);
}

/* The scalars of one update in the compute type. */
typedef struct { float wd, decay, b1, omb1, b2, omb2, nss, bc2s, eps; } consts_f32;
typedef struct { double wd, decay, b1, omb1, b2, omb2, nss, bc2s, eps; } consts_f64;

/* The rule on n <= CHUNK elements, in three passes over the chunk (it stays in L1): the moments,
   their square roots, the parameter. l2 and decoupled are compile-time constants at every call
   site, so each variant is its own branch-free loop. */
static inline __attribute__((always_inline)) void
update_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, int64_t n,
           const consts_f32 *k, int l2, int decoupled)
{
    const float wd = k->wd, decay = k->decay, b1 = k->b1, omb1 = k->omb1, b2 = k->b2, omb2 = k->omb2;
    const float nss = k->nss, bc2s = k->bc2s, eps = k->eps;
    float root[CHUNK];
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (l2) gi = gi + wd * p[i];
        m[i] = b1 * m[i] + omb1 * gi;
        v[i] = b2 * v[i] + (omb2 * gi) * gi;
    }
    sqrt_block_f32(root, v, n);
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i];
        if (decoupled) pi = pi * decay;
        float denom = root[i] / bc2s + eps;
        p[i] = pi + (nss * m[i]) / denom;
    }
}

static inline __attribute__((always_inline)) void
update_f64(double *restrict p, const double *restrict g, double *restrict m, double *restrict v, int64_t n,
           const consts_f64 *k, int l2, int decoupled)
{
    const double wd = k->wd, decay = k->decay, b1 = k->b1, omb1 = k->omb1, b2 = k->b2, omb2 = k->omb2;
    const double nss = k->nss, bc2s = k->bc2s, eps = k->eps;
    double root[CHUNK];
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i];
        if (l2) gi = gi + wd * p[i];
        m[i] = b1 * m[i] + omb1 * gi;
        v[i] = b2 * v[i] + (omb2 * gi) * gi;
    }
    sqrt_block_f64(root, v, n);
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i];
        if (decoupled) pi = pi * decay;
        double denom = root[i] / bc2s + eps;
        p[i] = pi + (nss * m[i]) / denom;
    }
}

static void chunk_f32(float *p, const float *g, float *m, float *v, int64_t n, const consts_f32 *k, int l2, int dec)
{
    if (dec) update_f32(p, g, m, v, n, k, 0, 1);
    else if (l2) update_f32(p, g, m, v, n, k, 1, 0);
    else update_f32(p, g, m, v, n, k, 0, 0);
}

static void chunk_f64(double *p, const double *g, double *m, double *v, int64_t n, const consts_f64 *k, int l2, int dec)
{
    if (dec) update_f64(p, g, m, v, n, k, 0, 1);
    else if (l2) update_f64(p, g, m, v, n, k, 1, 0);
    else update_f64(p, g, m, v, n, k, 0, 0);
}

int cc_cpu_adam(const cc_adam_args *a)
{
    const int64_t n = a->n, nchunks = (n + CHUNK - 1) / CHUNK;
    const int l2 = a->l2, dec = a->decoupled;
    if (a->dtype == CC_F64) {
        const consts_f64 k = { a->weight_decay, a->decay, a->beta1, a->one_minus_beta1, a->beta2,
                               a->one_minus_beta2, a->neg_step_size, a->bc2_sqrt, a->eps };
        double *p = a->param, *m = a->exp_avg, *v = a->exp_avg_sq;
        const double *g = a->grad;
        #pragma omp parallel for schedule(static) if (n >= CC_OMP_MIN_WORK)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
            chunk_f64(p + lo, g + lo, m + lo, v + lo, len, &k, l2, dec);
        }
        return CC_OK;
    }
    const consts_f32 k = { (float)a->weight_decay, (float)a->decay, (float)a->beta1, (float)a->one_minus_beta1,
                           (float)a->beta2, (float)a->one_minus_beta2, (float)a->neg_step_size,
                           (float)a->bc2_sqrt, (float)a->eps };
    float *m = a->exp_avg, *v = a->exp_avg_sq;
    if (a->dtype == CC_F32) {
        float *p = a->param;
        const float *g = a->grad;
        #pragma omp parallel for schedule(static) if (n >= CC_OMP_MIN_WORK)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
            chunk_f32(p + lo, g + lo, m + lo, v + lo, len, &k, l2, dec);
        }
        return CC_OK;
    }
    /* f16 / bf16: widen a chunk of param and grad, update in f32, round param back */
    const int dtype = a->dtype;
    uint16_t *p16 = a->param;
    const uint16_t *g16 = a->grad;
    #pragma omp parallel for schedule(static) if (n >= CC_OMP_MIN_WORK)
    for (int64_t c = 0; c < nchunks; c++) {
        float pb[CHUNK], gb[CHUNK];
        int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        cc_ld_block_f(pb, p16 + lo, dtype, 1, len);
        cc_ld_block_f(gb, g16 + lo, dtype, 1, len);
        chunk_f32(pb, gb, m + lo, v + lo, len, &k, l2, dec);
        cc_st_block_f(p16 + lo, dtype, 1, pb, len);
    }
    return CC_OK;
}
