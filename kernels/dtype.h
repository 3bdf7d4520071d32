/* Every dtype's loads, stores and conversions, for C, C++ and CUDA device code alike: the one dtype
   vocabulary of core/ and kernels/ (CPU and CUDA).

   - 16-bit values are stored as uint16_t; f16 and bf16 convert to and from f32 with round to
     nearest even (NaN stays NaN, quieted).
   - By run-time dtype (kernels/cpu, and the uniform weight/state reads of kernels/cuda):
     cc_load_f32 / cc_load_f64 widen element i of a float buffer, cc_store_f32 / cc_store_f64 narrow
     into one (16-bit targets always round from f32, so a value computed in f64 and one computed in
     f32 that agree in f32 store the same bits), cc_load_index reads i32 / i64, cc_copy_element is
     the copy rule for values that are copied rather than computed (bitwise when the dtypes match).
   - Float to integer: NaN gives 0, values beyond the integer range saturate to its ends, others
     truncate toward zero (cc_f64_to_i32 / cc_f64_to_i64).
   - C++ (CUDA kernels): storage types float, double, cc_f16, cc_bf16, int32_t, int64_t; cc_dt<DT>
     names the storage type S and compute type A of a compile-time dtype, cc_acc_t<S> the compute
     type of a storage type; cc_widen(s) / cc_narrow<S>(a) / cc_load(p) / cc_store(p, a) convert
     between them; cc_load_as<A> / cc_store_as for run-time dtypes.
   i is an element offset and may be negative. */
#ifndef CC_KERNELS_DTYPE_H
#define CC_KERNELS_DTYPE_H

#include <stdint.h>
#include <string.h>
#include "enums.h"

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

/* Float to integer without undefined behaviour: NaN -> 0, saturated at the ends, else truncated. */
CC_HD int64_t cc_f64_to_i64(double v)
{
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

CC_HD int32_t cc_f64_to_i32(double v)
{
    if (v != v) return 0;
    if (v >= 2147483647.0) return INT32_MAX;
    if (v <= -2147483648.0) return INT32_MIN;
    return (int32_t)v;
}

CC_HD int64_t cc_dtype_bytes(int dtype)
{
    return dtype == CC_F64 || dtype == CC_I64 ? 8 : dtype == CC_F32 || dtype == CC_I32 ? 4 : 2;
}

CC_HD double cc_load_f64(const void *p, int dtype, int64_t i)
{
    switch (dtype) {
    case CC_F32: return ((const float *)p)[i];
    case CC_F64: return ((const double *)p)[i];
    case CC_F16: return cc_f16_to_f32_inline(((const uint16_t *)p)[i]);
    default:     return cc_bf16_to_f32_inline(((const uint16_t *)p)[i]);
    }
}

CC_HD float cc_load_f32(const void *p, int dtype, int64_t i)
{
    switch (dtype) {
    case CC_F32: return ((const float *)p)[i];
    case CC_F64: return (float)((const double *)p)[i];
    case CC_F16: return cc_f16_to_f32_inline(((const uint16_t *)p)[i]);
    default:     return cc_bf16_to_f32_inline(((const uint16_t *)p)[i]);
    }
}

CC_HD void cc_store_f64(void *p, int dtype, int64_t i, double v)
{
    switch (dtype) {
    case CC_F32: ((float *)p)[i] = (float)v; break;
    case CC_F64: ((double *)p)[i] = v; break;
    case CC_F16: ((uint16_t *)p)[i] = cc_f32_to_f16_inline((float)v); break;
    default:     ((uint16_t *)p)[i] = cc_f32_to_bf16_inline((float)v); break;
    }
}

CC_HD void cc_store_f32(void *p, int dtype, int64_t i, float v)
{
    switch (dtype) {
    case CC_F32: ((float *)p)[i] = v; break;
    case CC_F64: ((double *)p)[i] = v; break;
    case CC_F16: ((uint16_t *)p)[i] = cc_f32_to_f16_inline(v); break;
    default:     ((uint16_t *)p)[i] = cc_f32_to_bf16_inline(v); break;
    }
}

CC_HD int64_t cc_load_index(const void *p, int dtype, int64_t i)
{
    return dtype == CC_I64 ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

/* Values copied, not computed (final states, conv_state, varlen_states): bitwise when the dtypes
   match, otherwise through f64 (f32 for 16-bit targets). */
CC_HD void cc_copy_element(void *dst, int dst_dtype, int64_t di, const void *src, int src_dtype, int64_t si)
{
    if (dst_dtype == src_dtype) {
        int64_t es = cc_dtype_bytes(dst_dtype);
        memcpy((char *)dst + di * es, (const char *)src + si * es, (size_t)es);
    } else {
        cc_store_f64(dst, dst_dtype, di, cc_load_f64(src, src_dtype, si));
    }
}

CC_HD void cc_zero_element(void *dst, int dtype, int64_t i)
{
    int64_t es = cc_dtype_bytes(dtype);
    memset((char *)dst + i * es, 0, (size_t)es);
}

#ifdef __cplusplus
#if defined(__CUDACC__)
#define CC_HDT __host__ __device__ __forceinline__
#else
#define CC_HDT inline
#endif

/* The 16-bit dtypes as distinct storage types (the same bytes as uint16_t), so that templates tell
   f16 from bf16. */
struct cc_f16 { uint16_t bits; };
struct cc_bf16 { uint16_t bits; };

/* Storage type S and compute type A of a compile-time dtype. */
template <int DT> struct cc_dt;
template <> struct cc_dt<CC_F32>  { typedef float S;   typedef float A; };
template <> struct cc_dt<CC_F64>  { typedef double S;  typedef double A; };
template <> struct cc_dt<CC_F16>  { typedef cc_f16 S;  typedef float A; };
template <> struct cc_dt<CC_BF16> { typedef cc_bf16 S; typedef float A; };
template <> struct cc_dt<CC_I32>  { typedef int32_t S; typedef int32_t A; };
template <> struct cc_dt<CC_I64>  { typedef int64_t S; typedef int64_t A; };

/* What a storage type computes in. */
template <class S> struct cc_acc { typedef S type; };
template <> struct cc_acc<cc_f16> { typedef float type; };
template <> struct cc_acc<cc_bf16> { typedef float type; };
template <class S> using cc_acc_t = typename cc_acc<S>::type;

CC_HDT float cc_widen(cc_f16 v) { return cc_f16_to_f32_inline(v.bits); }
CC_HDT float cc_widen(cc_bf16 v) { return cc_bf16_to_f32_inline(v.bits); }
CC_HDT float cc_widen(float v) { return v; }
CC_HDT double cc_widen(double v) { return v; }
CC_HDT int32_t cc_widen(int32_t v) { return v; }
CC_HDT int64_t cc_widen(int64_t v) { return v; }

/* A compute value into storage type S: 16-bit types round from f32, integers from a float saturate
   (cc_f64_to_i32 / cc_f64_to_i64), integers from integers keep the low bits. */
template <class S> struct cc_narrow_to {
    template <class A> static CC_HDT S from(A v) { return (S)v; }
};
template <> struct cc_narrow_to<cc_f16> {
    template <class A> static CC_HDT cc_f16 from(A v) { cc_f16 h; h.bits = cc_f32_to_f16_inline((float)v); return h; }
};
template <> struct cc_narrow_to<cc_bf16> {
    template <class A> static CC_HDT cc_bf16 from(A v) { cc_bf16 h; h.bits = cc_f32_to_bf16_inline((float)v); return h; }
};
template <> struct cc_narrow_to<int32_t> {
    static CC_HDT int32_t from(float v) { return cc_f64_to_i32(v); }
    static CC_HDT int32_t from(double v) { return cc_f64_to_i32(v); }
    static CC_HDT int32_t from(int32_t v) { return v; }
    static CC_HDT int32_t from(int64_t v) { return (int32_t)v; }
};
template <> struct cc_narrow_to<int64_t> {
    static CC_HDT int64_t from(float v) { return cc_f64_to_i64(v); }
    static CC_HDT int64_t from(double v) { return cc_f64_to_i64(v); }
    static CC_HDT int64_t from(int32_t v) { return v; }
    static CC_HDT int64_t from(int64_t v) { return v; }
};
template <class S, class A> CC_HDT S cc_narrow(A v) { return cc_narrow_to<S>::from(v); }

template <class S> CC_HDT cc_acc_t<S> cc_load(const S *p) { return cc_widen(*p); }
template <class S> CC_HDT void cc_store(S *p, cc_acc_t<S> v) { *p = cc_narrow<S>(v); }

/* Run-time dtype loads and stores in the compute type A (float or double). */
template <class A> CC_HDT A cc_load_as(const void *p, int dtype, int64_t i);
template <> CC_HDT float cc_load_as<float>(const void *p, int dtype, int64_t i) { return cc_load_f32(p, dtype, i); }
template <> CC_HDT double cc_load_as<double>(const void *p, int dtype, int64_t i) { return cc_load_f64(p, dtype, i); }
CC_HDT void cc_store_as(void *p, int dtype, int64_t i, float v) { cc_store_f32(p, dtype, i, v); }
CC_HDT void cc_store_as(void *p, int dtype, int64_t i, double v) { cc_store_f64(p, dtype, i, v); }
#endif

#endif
