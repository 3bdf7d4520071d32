/* dtype names and sizes; the exported half-precision conversions (kernels/dtype.h does the work). */
#include <string.h>
#include "internal.h"
#include "dtype.h"

static const char *const names[] = { "f32", "f64", "f16", "bf16", "i32", "i64" };
static const int64_t sizes[] = { 4, 8, 2, 2, 4, 8 };

const char *cc_dtype_name(int dtype)
{
    if (dtype < CC_F32 || dtype > CC_I64) return "invalid dtype";
    return names[dtype];
}

int cc_dtype_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = CC_F32; i <= CC_I64; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int64_t cc_dtype_size(int dtype)
{
    if (dtype < CC_F32 || dtype > CC_I64) return 0;
    return sizes[dtype];
}

uint16_t cc_f32_to_f16(float x) { return cc_f32_to_f16_inline(x); }
float cc_f16_to_f32(uint16_t h) { return cc_f16_to_f32_inline(h); }
uint16_t cc_f32_to_bf16(float x) { return cc_f32_to_bf16_inline(x); }
float cc_bf16_to_f32(uint16_t h) { return cc_bf16_to_f32_inline(h); }
