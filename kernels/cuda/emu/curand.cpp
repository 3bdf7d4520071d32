/* cuRAND's host API in the emulation: a Philox 4x32-10 generator run on the host.
 *
 * Element i of a request at offset `o` is element o + i of one stream per output kind, drawn from
 * the 32-bit words of Philox(key = seed, counter = word index / 4): uniform floats take one word,
 * uniform doubles two, normal floats come in Box-Muller pairs from two words, normal doubles from
 * four. Uniforms lie in (0, 1] as cuRAND's do. The values are deterministic for a seed and offset
 * but are not bit-identical to those of the real cuRAND.
 */
#include "cuda_emu.h"

#include <new>

struct curandGenerator_st {
    uint64_t seed = 0;
    uint64_t offset = 0;
};

namespace {

/* One Philox 4x32-10 block: four 32-bit words for counter `ctr` under key `seed`. */
void philox(uint64_t seed, uint64_t ctr, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Word w of the generator's stream; blocks are cached by the caller's loop through `blk`. */
struct Words {
    uint64_t seed, blk = ~(uint64_t)0;
    uint32_t buf[4] = {0, 0, 0, 0};
    explicit Words(uint64_t s) : seed(s) {}
    uint32_t at(uint64_t w)
    {
        if (w / 4 != blk) {
            blk = w / 4;
            philox(seed, blk, buf);
        }
        return buf[w % 4];
    }
};

float uniform_f32(uint32_t a) { return (float)a * 2.3283064365386963e-10f + 1.1641532182693481e-10f; }
double uniform_f64(uint32_t a, uint32_t b)
{
    uint64_t m = ((uint64_t)a << 21) ^ (uint64_t)b;   /* 53 random bits */
    m &= ((uint64_t)1 << 53) - 1;
    return (double)m * 1.1102230246251565e-16 + 5.551115123125783e-17;
}

curandStatus_t check(curandGenerator_t gen, const void *out, size_t n)
{
    if (!gen) return CURAND_STATUS_NOT_INITIALIZED;
    if (!out && n) return CURAND_STATUS_OUT_OF_RANGE;
    return CURAND_STATUS_SUCCESS;
}

}  /* namespace */

curandStatus_t curandCreateGenerator(curandGenerator_t *gen, curandRngType_t type)
{
    if (type != CURAND_RNG_PSEUDO_PHILOX4_32_10) return CURAND_STATUS_TYPE_ERROR;
    *gen = new (std::nothrow) curandGenerator_st();
    return *gen ? CURAND_STATUS_SUCCESS : CURAND_STATUS_ALLOCATION_FAILED;
}

curandStatus_t curandDestroyGenerator(curandGenerator_t gen)
{
    delete gen;
    return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandSetPseudoRandomGeneratorSeed(curandGenerator_t gen, unsigned long long seed)
{
    if (!gen) return CURAND_STATUS_NOT_INITIALIZED;
    gen->seed = seed;
    return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandSetGeneratorOffset(curandGenerator_t gen, unsigned long long offset)
{
    if (!gen) return CURAND_STATUS_NOT_INITIALIZED;
    gen->offset = offset;
    return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandSetStream(curandGenerator_t gen, cudaStream_t)
{
    return gen ? CURAND_STATUS_SUCCESS : CURAND_STATUS_NOT_INITIALIZED;
}

curandStatus_t curandGenerateUniform(curandGenerator_t gen, float *out, size_t n)
{
    curandStatus_t s = check(gen, out, n);
    if (s != CURAND_STATUS_SUCCESS) return s;
    Words w{gen->seed};
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(w.at(gen->offset + i));
    cc_emu::memory_written(out, n * sizeof(float));   /* for initcheck */
    return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandGenerateUniformDouble(curandGenerator_t gen, double *out, size_t n)
{
    curandStatus_t s = check(gen, out, n);
    if (s != CURAND_STATUS_SUCCESS) return s;
    Words w{gen->seed};
    for (size_t i = 0; i < n; i++) {
        uint64_t e = gen->offset + i;
        out[i] = uniform_f64(w.at(2 * e), w.at(2 * e + 1));
    }
    cc_emu::memory_written(out, n * sizeof(double));   /* for initcheck */
    return CURAND_STATUS_SUCCESS;
}

/* Box-Muller on (u1, u2) in (0, 1]: the pair (r cos t, r sin t). */
curandStatus_t curandGenerateNormal(curandGenerator_t gen, float *out, size_t n, float mean, float stddev)
{
    curandStatus_t s = check(gen, out, n);
    if (s != CURAND_STATUS_SUCCESS) return s;
    if (n % 2) return CURAND_STATUS_LENGTH_NOT_MULTIPLE;
    Words w{gen->seed};
    for (size_t i = 0; i < n; i++) {
        uint64_t e = gen->offset + i, pair = e / 2;
        float u1 = uniform_f32(w.at(2 * pair)), u2 = uniform_f32(w.at(2 * pair + 1));
        float r = sqrtf(-2.0f * logf(u1)), t = 6.2831853071795865f * u2;
        out[i] = mean + stddev * r * (e % 2 ? sinf(t) : cosf(t));
    }
    cc_emu::memory_written(out, n * sizeof(float));   /* for initcheck */
    return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandGenerateNormalDouble(curandGenerator_t gen, double *out, size_t n, double mean, double stddev)
{
    curandStatus_t s = check(gen, out, n);
    if (s != CURAND_STATUS_SUCCESS) return s;
    if (n % 2) return CURAND_STATUS_LENGTH_NOT_MULTIPLE;
    Words w{gen->seed};
    for (size_t i = 0; i < n; i++) {
        uint64_t e = gen->offset + i, pair = e / 2;
        double u1 = uniform_f64(w.at(4 * pair), w.at(4 * pair + 1));
        double u2 = uniform_f64(w.at(4 * pair + 2), w.at(4 * pair + 3));
        double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586 * u2;
        out[i] = mean + stddev * r * (e % 2 ? sin(t) : cos(t));
    }
    cc_emu::memory_written(out, n * sizeof(double));   /* for initcheck */
    return CURAND_STATUS_SUCCESS;
}
