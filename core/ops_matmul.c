/* Batched matrix product: out (..., M, N) = a (..., M, K) @ b (..., K, N).
   The batch dims of a, b and out are identical (Lua expands broadcast batch dims with stride 0).
   CPU: OpenBLAS; CUDA: cuBLAS. out never overlaps a or b. */
#include <stdint.h>
#include "checks.h"
#include "ops.h"

static int run(const cc_matmul_args *a, int device)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return cc_cuda_matmul(a);
#endif
    (void)device;
    return cc_get_reference_kernels() ? cc_cpu_matmul_ref(a) : cc_cpu_matmul(a);
}

cc_status cc_matmul(cc_tensor *out, const cc_tensor *a, const cc_tensor *b)
{
    const char *op = "matmul";
    char ab[160], bb[160];
    TRY(cc_check_present(op, "out", out));
    TRY(cc_check_present(op, "a", a));
    TRY(cc_check_present(op, "b", b));
    const cc_tensor *ts[3] = { a, b, out };
    const char *names[3] = { "a", "b", "out" };
    TRY(cc_check_devices(op, 3, ts, names));
    TRY(cc_check_dtype(op, "a", a, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, "b", b, a->dtype, "a"));
    TRY(cc_check_dtype_as(op, "out", out, a->dtype, "a"));
    if (a->ndim < 2)
        return cc_error(CC_ERR_SHAPE, "%s: a: expected shape (..., M, K) with at least 2 dims, got %s", op,
                        cc_describe(ab, sizeof ab, a));
    int nd = a->ndim;
    int64_t M = a->shape[nd - 2], K = a->shape[nd - 1], want[8];
    for (int d = 0; d < nd - 2; d++) want[d] = a->shape[d];
    want[nd - 2] = K; want[nd - 1] = -1;
    if (b->ndim != nd || b->shape[nd - 2] != K || cc_check_shape(op, "b", b, nd, want) != CC_OK)
        return cc_error(CC_ERR_SHAPE, "%s: b: expected shape (..., K, N) with the batch dims of a and K = %lld (a is %s), got %s",
                        op, (long long)K, cc_describe(ab, sizeof ab, a), cc_describe(bb, sizeof bb, b));
    int64_t N = b->shape[nd - 1];
    want[nd - 2] = M; want[nd - 1] = N;
    TRY(cc_check_shape(op, "out", out, nd, want));
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return cc_error(CC_ERR_UNSUPPORTED, "%s: a, b: expected M, N, K below 2^31 (BLAS limit), got M=%lld N=%lld K=%lld",
                        op, (long long)M, (long long)N, (long long)K);
    TRY(cc_check_output(op, "out", out));
    TRY(cc_check_disjoint(op, "out", out, "a", a, 0));
    TRY(cc_check_disjoint(op, "out", out, "b", b, 0));

    cc_matmul_args m = { .dtype = a->dtype, .M = M, .N = N, .K = K, .nbatch = nd - 2 };
    for (int d = 0; d < nd - 2; d++) {
        m.batch_shape[d] = a->shape[d];
        m.a_bstride[d] = a->stride[d]; m.b_bstride[d] = b->stride[d]; m.out_bstride[d] = out->stride[d];
    }
    m.a = cc_tensor_data(a);     m.a_stride[0] = a->stride[nd - 2];     m.a_stride[1] = a->stride[nd - 1];
    m.b = cc_tensor_data(b);     m.b_stride[0] = b->stride[nd - 2];     m.b_stride[1] = b->stride[nd - 1];
    m.out = cc_tensor_data(out); m.out_stride[0] = out->stride[nd - 2]; m.out_stride[1] = out->stride[nd - 1];
    TRY(cc_kernel_status(op, out->device, run(&m, out->device)));
    cc_tensor_bump_version(out);
    return CC_OK;
}
