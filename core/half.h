/* f16 / bf16 <-> f32 conversions, round to nearest even, usable from C, C++ and CUDA device code.
   16-bit values are stored as uint16_t everywhere in the library. */
#ifndef CC_HALF_H
#define CC_HALF_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define CC_HD __host__ __device__ __forceinline__
#else
#define CC_HD static inline
#endif

CC_HD uint32_t cc_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
CC_HD float cc_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

CC_HD float cc_bf16_to_f32_inline(uint16_t h) { return cc_bits_f32((uint32_t)h << 16); }

CC_HD uint16_t cc_f32_to_bf16_inline(float f)
{
    uint32_t u = cc_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                           /* ties to even */
    return (uint16_t)(u >> 16);
}

CC_HD float cc_f16_to_f32_inline(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return cc_bits_f32(sign | 0x7f800000u | (mant << 13));      /* inf, NaN */
    if (exp == 0) {                                                              /* zero, subnormal */
        float m = (float)mant * (1.0f / 16777216.0f);                            /* mant * 2^-24 */
        return sign ? -m : m;
    }
    return cc_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

CC_HD uint16_t cc_f32_to_f16_inline(float f)
{
    uint32_t u = cc_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);                      /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                     /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                                       /* below 2^-14: subnormal */
        /* scale so that the f16 subnormal unit (2^-24) becomes 1, round half to even */
        float m = cc_bits_f32(a) * 16777216.0f;
        uint32_t r = (uint32_t)m;
        float frac = m - (float)r;
        if (frac > 0.5f || (frac == 0.5f && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t mant = a & 0x7fffffu, exp = (a >> 23) - 112u;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;                    /* carries into exp fine */
    return (uint16_t)(sign | h);
}

#endif
