/* Random tensors from Philox 4x32-10: a global seed and a global block offset that each call
   advances by the blocks it used. The layout of the stream is documented in core/philox.h. */
#include <math.h>
#include "checks.h"
#include "philox.h"
#ifdef CC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

static uint64_t rng_seed;      /* default seed 0; atomics: calls may come from several threads */
static uint64_t rng_offset;

void cc_manual_seed(uint64_t seed)
{
    __atomic_store_n(&rng_seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&rng_offset, 0, __ATOMIC_RELAXED);
}

uint64_t cc_initial_seed(void) { return __atomic_load_n(&rng_seed, __ATOMIC_RELAXED); }

/* The global stream's position, so a run can be checkpointed and resumed exactly. */
void cc_get_rng_state(uint64_t *seed, uint64_t *offset)
{
    *seed = __atomic_load_n(&rng_seed, __ATOMIC_RELAXED);
    *offset = __atomic_load_n(&rng_offset, __ATOMIC_RELAXED);
}

void cc_set_rng_state(uint64_t seed, uint64_t offset)
{
    __atomic_store_n(&rng_seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&rng_offset, offset, __ATOMIC_RELAXED);
}

/* Keeps rounded results inside [low, high). */
static double below(double v, double low, double high, int f32)
{
    if (f32) {
        float r = (float)v;
        if ((double)r >= high && high > low) r = nextafterf(r, -INFINITY);
        return r;
    }
    return v >= high && high > low ? nextafter(high, -INFINITY) : v;
}

/* n contiguous host values of dtype f32 or f64 from the stream at block offset. */
static void generate(void *dst, int dtype, int64_t n, int normal, double a, double b, uint64_t seed, uint64_t offset)
{
    int per = dtype == CC_F32 ? 4 : 2;                 /* values per block */
    int64_t blocks = (n + per - 1) / per;
    #pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t blk = 0; blk < blocks; blk++) {
        uint32_t w[4];
        double v[4] = { 0, 0, 0, 0 };
        cc_philox_block(seed, offset + (uint64_t)blk, w);
        if (dtype == CC_F32) {
            if (normal) {
                cc_box_muller(((w[0] >> 8) + 1) * (1.0 / 16777216.0), cc_u01_f32(w[1]), &v[0], &v[1]);
                cc_box_muller(((w[2] >> 8) + 1) * (1.0 / 16777216.0), cc_u01_f32(w[3]), &v[2], &v[3]);
                for (int k = 0; k < 4; k++) v[k] = a + b * v[k];
            } else {
                for (int k = 0; k < 4; k++) v[k] = below(a + (b - a) * cc_u01_f32(w[k]), a, b, 1);
            }
        } else if (normal) {
            cc_box_muller(1.0 - cc_u01_f64(w[0], w[1]), cc_u01_f64(w[2], w[3]), &v[0], &v[1]);
            for (int k = 0; k < 2; k++) v[k] = a + b * v[k];
        } else {
            v[0] = below(a + (b - a) * cc_u01_f64(w[0], w[1]), a, b, 0);
            v[1] = below(a + (b - a) * cc_u01_f64(w[2], w[3]), a, b, 0);
        }
        for (int k = 0; k < per && blk * per + k < n; k++) {
            if (dtype == CC_F32) ((float *)dst)[blk * per + k] = (float)v[k];
            else ((double *)dst)[blk * per + k] = v[k];
        }
    }
}

/* gen_offset: the block offset of a caller-held stream (a cc.Generator), advanced here; NULL draws
   from the global stream. */
static cc_status fill_random(const char *op, cc_tensor *dst, int normal, double a, double b,
                             uint64_t gen_seed, uint64_t *gen_offset)
{
    char d[160];
    cc_status st;
    if (!dst || !dst->storage) return cc_error(CC_ERR_ARGUMENT, "%s: dst: expected a tensor, got nil", op);
    TRY(cc_check_dtype(op, "dst", dst, CC_FLOAT_DTYPES));
    for (int i = 0; i < dst->ndim; i++)
        if (dst->stride[i] == 0 && dst->shape[i] > 1)
            return cc_error(CC_ERR_ARGUMENT, "%s: dst %s is expanded (a dim with stride 0); clone() it first", op, cc_describe(d, sizeof d, dst));
    if (normal && !(isfinite(a) && isfinite(b) && b >= 0))
        return cc_error(CC_ERR_ARGUMENT, "%s: expected a finite mean and a finite std >= 0, got mean %g, std %g", op, a, b);
    if (!normal && !(isfinite(a) && isfinite(b) && a <= b))
        return cc_error(CC_ERR_ARGUMENT, "%s: expected finite low <= high, got low %g, high %g", op, a, b);
    int64_t n = cc_tensor_numel(dst);
    if (n == 0) return CC_OK;

    int gen_dtype = dst->dtype == CC_F64 ? CC_F64 : CC_F32;
    int64_t blocks = (n + (gen_dtype == CC_F32 ? 3 : 1)) / (gen_dtype == CC_F32 ? 4 : 2);
    uint64_t seed, offset;
    if (gen_offset) {
        seed = gen_seed;
        offset = *gen_offset;
        *gen_offset += (uint64_t)blocks;
    } else {
        seed = cc_initial_seed();
        offset = __atomic_fetch_add(&rng_offset, (uint64_t)blocks, __ATOMIC_RELAXED);
    }

    /* generate straight into dst when it is a dense f32/f64 tensor, else into a dense temporary */
    cc_tensor *tmp = NULL;
    cc_tensor *target = dst;
    if (!cc_tensor_is_contiguous(dst) || dst->dtype != gen_dtype) {
        TRY(cc_tensor_empty(&tmp, dst->ndim, dst->shape, gen_dtype, dst->device, dst->device_index));
        target = tmp;
    }
    if (dst->device == CC_CPU) {
        generate(cc_tensor_data(target), gen_dtype, n, normal, a, b, seed, offset);
        st = CC_OK;
    } else {
#ifdef CC_WITH_CUDA
        st = normal ? (cc_status)cc_cuda_randn(cc_tensor_data(target), gen_dtype, n, a, b, seed, offset)
                    : (cc_status)cc_cuda_rand(cc_tensor_data(target), gen_dtype, n, a, b, seed, offset);
#else
        st = cc_no_cuda(normal ? "randn" : "rand");
#endif
    }
    if (st == CC_OK && tmp) st = cc_tensor_copy(dst, tmp);
    else if (st == CC_OK) cc_tensor_bump_version(dst);
    cc_tensor_free(tmp);
    return st;
}

cc_status cc_tensor_rand(cc_tensor *dst, double low, double high) { return fill_random("rand", dst, 0, low, high, 0, NULL); }

cc_status cc_tensor_randn(cc_tensor *dst, double mean, double std) { return fill_random("randn", dst, 1, mean, std, 0, NULL); }

cc_status cc_generator_rand(cc_tensor *dst, double low, double high, uint64_t seed, uint64_t *offset)
{
    if (!offset) return cc_error(CC_ERR_ARGUMENT, "generator_rand: offset: expected a pointer, got NULL");
    return fill_random("rand", dst, 0, low, high, seed, offset);
}

cc_status cc_generator_randn(cc_tensor *dst, double mean, double std, uint64_t seed, uint64_t *offset)
{
    if (!offset) return cc_error(CC_ERR_ARGUMENT, "generator_randn: offset: expected a pointer, got NULL");
    return fill_random("randn", dst, 1, mean, std, seed, offset);
}
