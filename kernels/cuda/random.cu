/* Random tensors on the CUDA device: cuRAND's host API with Philox 4x32-10 (cuda_backend.h).
 *
 * One generator, created on first use and bound to the library's stream; each call sets the seed
 * and the counter offset the caller passes, so results depend only on (seed, offset, n), as on
 * the CPU backend (whose values they do not match: cuRAND lays out its stream its own way). cuRAND's uniforms lie in (0, 1]; rand maps u to low + (high - low) * (1 - u),
 * which lies in [low, high). cuRAND's normals come in pairs from an aligned buffer, so an odd
 * count or an odd address goes through a scratch buffer.
 */
#include "cuda_common.cuh"

#ifndef CC_CUDA_EMU
#include <curand.h>
#endif

#include <mutex>

namespace {

std::mutex rng_mutex;
curandGenerator_t generator = nullptr;

int curand_check(curandStatus_t s, const char *op, const char *what)
{
    if (s == CURAND_STATUS_SUCCESS) return CC_OK;
    return cc_error(CC_ERR_CUDA, "%s: %s failed: curandStatus %d", op, what, (int)s);
}

/* Creates the generator if needed and positions it at (seed, offset). Caller holds rng_mutex. */
int position(const char *op, uint64_t seed, uint64_t offset)
{
    int st = CC_OK;
    if (!generator) {
        st = curand_check(curandCreateGenerator(&generator, CURAND_RNG_PSEUDO_PHILOX4_32_10), op, "curandCreateGenerator");
        if (st != CC_OK) {
            generator = nullptr;
            return st;
        }
        st = curand_check(curandSetStream(generator, cc_cuda_stream()), op, "curandSetStream");
    }
    if (st == CC_OK) st = curand_check(curandSetPseudoRandomGeneratorSeed(generator, seed), op, "curandSetPseudoRandomGeneratorSeed");
    /* offset counts Philox blocks of four 32-bit words, as the caller reserves them (n/4 blocks for
       f32, n/2 for f64); cuRAND counts values, at most one word each for f32, two for f64. So 4x
       the block offset starts past every value an earlier call drew. */
    if (st == CC_OK) st = curand_check(curandSetGeneratorOffset(generator, offset * 4), op, "curandSetGeneratorOffset");
    return st;
}

__device__ __forceinline__ float just_below(float x, float low) { return nextafterf(x, low); }
__device__ __forceinline__ double just_below(double x, double low) { return nextafter(x, low); }

/* x (n): u in (0, 1] becomes low + (high - low) * (1 - u), pulled below high if rounding reached it. */
template <typename T> __global__ void uniform_to_range(T *x, int64_t n, T low, T high)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        T v = low + (high - low) * (T(1) - x[i]);
        x[i] = v < high || high <= low ? v : just_below(high, low);
    }
}

template <typename T> int rand_typed(T *dst, int64_t n, double low, double high)
{
    curandStatus_t s = sizeof(T) == 4 ? curandGenerateUniform(generator, (float *)dst, (size_t)n)
                                      : curandGenerateUniformDouble(generator, (double *)dst, (size_t)n);
    int st = curand_check(s, "rand", sizeof(T) == 4 ? "curandGenerateUniform" : "curandGenerateUniformDouble");
    if (st != CC_OK) return st;
    int64_t blocks = cc_ceil_div(n, 256) < 65535 ? cc_ceil_div(n, 256) : 65535;
    CC_LAUNCH(uniform_to_range<T>, (unsigned)blocks, 256, 0, dst, n, (T)low, (T)high);
    return cc_cuda_launch_status("rand");
}

int normal(void *dst, int dtype, int64_t n, double mean, double std)
{
    bool f32 = dtype == CC_F32;
    if (f32) return curand_check(curandGenerateNormal(generator, (float *)dst, (size_t)n, (float)mean, (float)std), "randn",
                                 "curandGenerateNormal");
    return curand_check(curandGenerateNormalDouble(generator, (double *)dst, (size_t)n, mean, std), "randn",
                        "curandGenerateNormalDouble");
}

}  /* namespace */

extern "C" int cc_cuda_rand(void *dst, int dtype, int64_t n, double low, double high, uint64_t seed, uint64_t offset)
{
    if (dtype != CC_F32 && dtype != CC_F64)
        return cc_error(CC_ERR_DTYPE, "rand: the CUDA generator writes f32 or f64, got dtype code %d", dtype);
    if (n <= 0) return CC_OK;
    std::lock_guard<std::mutex> lock(rng_mutex);
    int st = position("rand", seed, offset);
    if (st != CC_OK) return st;
    return dtype == CC_F32 ? rand_typed((float *)dst, n, low, high) : rand_typed((double *)dst, n, low, high);
}

extern "C" int cc_cuda_randn(void *dst, int dtype, int64_t n, double mean, double std, uint64_t seed, uint64_t offset)
{
    if (dtype != CC_F32 && dtype != CC_F64)
        return cc_error(CC_ERR_DTYPE, "randn: the CUDA generator writes f32 or f64, got dtype code %d", dtype);
    if (n <= 0) return CC_OK;
    std::lock_guard<std::mutex> lock(rng_mutex);
    int st = position("randn", seed, offset);
    if (st != CC_OK) return st;
    int64_t size = dtype == CC_F32 ? 4 : 8;
    if (n % 2 == 0 && (uintptr_t)dst % (uintptr_t)(2 * size) == 0) return normal(dst, dtype, n, mean, std);
    /* generate an even count into aligned scratch, copy the n wanted */
    int64_t even = n + (n % 2);
    void *scratch = nullptr;
    st = cc_cuda_alloc(&scratch, even * size, 0);
    if (st != CC_OK) return st;
    st = normal(scratch, dtype, even, mean, std);
    if (st == CC_OK)
        st = cc_cuda_check(cudaMemcpyAsync(dst, scratch, (size_t)(n * size), cudaMemcpyDeviceToDevice, cc_cuda_stream()), "randn",
                           "cudaMemcpyAsync");
    cc_cuda_free(scratch, 0);
    return st;
}
