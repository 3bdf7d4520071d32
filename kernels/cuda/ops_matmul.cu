/* Batched matrix product on the CUDA device through cuBLAS (column-major, so a row-major
   C = A B is computed as C^T = B^T A^T). f32/f64 operands whose rows or columns are contiguous go
   to cuBLAS as they are; other layouts, and f16/bf16 (converted to f32), are first copied into
   dense scratch with cc_cuda_copy; an out that cuBLAS cannot write is computed in scratch and
   copied back. The last batch dim runs as one strided-batched call (stride 0 for expanded
   operands), the other batch dims loop on the host. */
#include "ops_common.cuh"
#include "copy.h"

using namespace ccops;

namespace {

/* element (i, j) of a rows x cols matrix is p[trans ? j * ld + i : i * ld + j]; bstride between
   matrices of the strided-batched dim */
struct Mat {
    char *p;
    int trans;
    int64_t ld;
};

int64_t max1(int64_t v) { return v > 1 ? v : 1; }

bool blas_view(Mat *m, int64_t rows, int64_t cols, int64_t srow, int64_t scol)
{
    if (srow > INT32_MAX || scol > INT32_MAX) return false;
    if ((scol == 1 || cols <= 1) && (rows <= 1 || srow >= max1(cols))) {
        m->trans = 0; m->ld = rows <= 1 ? max1(cols) : srow;
        return true;
    }
    if ((srow == 1 || rows <= 1) && (cols <= 1 || scol >= max1(rows))) {
        m->trans = 1; m->ld = cols <= 1 ? max1(rows) : scol;
        return true;
    }
    return false;
}

/* a batch of (batch..., rows, cols) as a copy block */
cc_copy_args copy_block(int nbatch, const int64_t *bshape, int64_t rows, int64_t cols)
{
    cc_copy_args c;
    memset(&c, 0, sizeof c);
    c.ndim = nbatch + 2;
    for (int d = 0; d < nbatch; d++) c.shape[d] = bshape[d];
    c.shape[nbatch] = rows;
    c.shape[nbatch + 1] = cols;
    return c;
}

/* strides of a dense (batch..., rows, cols) buffer */
void dense_strides(int64_t *st, int nbatch, const int64_t *bshape, int64_t rows, int64_t cols)
{
    st[nbatch + 1] = 1;
    st[nbatch] = cols;
    for (int d = nbatch - 1; d >= 0; d--) st[d] = st[d + 1] * (d + 1 == nbatch ? rows : bshape[d + 1]);
}

cublasStatus_t gemm(bool f64, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                    const char *A, int64_t lda, int64_t sa, const char *B, int64_t ldb, int64_t sb,
                    char *C, int64_t ldc, int64_t sc, int64_t count)
{
    if (f64) {
        const double one = 1.0, zero = 0.0;
        return cublasDgemmStridedBatched(cc_cuda_cublas(), ta, tb, (int)m, (int)n, (int)k, &one, (const double *)A, (int)lda,
                                         sa, (const double *)B, (int)ldb, sb, &zero, (double *)C, (int)ldc, sc, (int)count);
    }
    const float one = 1.0f, zero = 0.0f;
    return cublasSgemmStridedBatched(cc_cuda_cublas(), ta, tb, (int)m, (int)n, (int)k, &one, (const float *)A, (int)lda,
                                     sa, (const float *)B, (int)ldb, sb, &zero, (float *)C, (int)ldc, sc, (int)count);
}

cublasOperation_t op_of(int trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* A dense copy in the compute dtype sdt (element size ses) of the (batch..., rows, cols) operand src
   (dtype, batch strides bst, matrix strides mst): the buffer in *buf, its view in m, its batch
   strides in bs, its element size in *es. */
int stage(void **buf, Mat *m, int64_t *bs, int64_t *es, const void *src, int dtype, int sdt, int64_t ses, int nbatch,
          const int64_t *bshape, const int64_t *bst, const int64_t *mst, int64_t rows, int64_t cols, int64_t nb)
{
    int st = cc_cuda_alloc(buf, nb * rows * cols * ses, 0);
    if (st) return st;
    int64_t dst[8];
    cc_copy_args c = copy_block(nbatch, bshape, rows, cols);
    dense_strides(dst, nbatch, bshape, rows, cols);
    c.dst = *buf; c.dst_dtype = sdt; memcpy(c.dst_stride, dst, sizeof dst);
    c.src = src; c.src_dtype = dtype;
    for (int d = 0; d < nbatch; d++) c.src_stride[d] = bst[d];
    c.src_stride[nbatch] = mst[0]; c.src_stride[nbatch + 1] = mst[1];
    m->p = (char *)*buf; m->trans = 0; m->ld = cols; *es = ses;
    for (int d = 0; d < nbatch; d++) bs[d] = dst[d];
    return cc_cuda_copy(&c);
}

}  /* namespace */

extern "C" int cc_cuda_matmul(const cc_matmul_args *a)
{
    const char *op = "matmul";
    int64_t M = a->M, N = a->N, K = a->K, es = cc_dtype_bytes(a->dtype);
    bool f64 = a->dtype == CC_F64, half = a->dtype == CC_F16 || a->dtype == CC_BF16;
    int sdt = f64 ? CC_F64 : CC_F32;
    int64_t ses = f64 ? 8 : 4, nb = 1;
    int nbatch = a->nbatch;
    for (int d = 0; d < nbatch; d++) nb *= a->batch_shape[d];
    if (M == 0 || N == 0 || nb == 0) return CC_OK;

    /* per-operand matrix view; batch strides in elements of the buffer actually used */
    Mat A = { (char *)a->a, 0, 0 }, B = { (char *)a->b, 0, 0 }, C = { (char *)a->out, 0, 0 };
    int64_t abs_[8], bbs[8], obs[8];
    void *sa = NULL, *sb = NULL, *sc = NULL;
    int st = CC_OK;
    for (int d = 0; d < nbatch; d++) { abs_[d] = a->a_bstride[d]; bbs[d] = a->b_bstride[d]; obs[d] = a->out_bstride[d]; }
    int64_t aes = es, bes = es, oes = es;
    bool a_ok = !half && K > 0 && blas_view(&A, M, K, a->a_stride[0], a->a_stride[1]);
    bool b_ok = !half && K > 0 && blas_view(&B, K, N, a->b_stride[0], a->b_stride[1]);
    bool o_ok = !half && K > 0 && blas_view(&C, M, N, a->out_stride[0], a->out_stride[1]);
    int64_t dst[8];
    /* dense f32/f64 copies of the operands BLAS cannot read as they are */
    if (!a_ok && K > 0 && (st = stage(&sa, &A, abs_, &aes, a->a, a->dtype, sdt, ses, nbatch, a->batch_shape, a->a_bstride,
                                      a->a_stride, M, K, nb)))
        goto done;
    if (!b_ok && K > 0 && (st = stage(&sb, &B, bbs, &bes, a->b, a->dtype, sdt, ses, nbatch, a->batch_shape, a->b_bstride,
                                      a->b_stride, K, N, nb)))
        goto done;
    if (!o_ok) {
        if ((st = cc_cuda_alloc(&sc, nb * M * N * ses, 0))) goto done;
        dense_strides(dst, nbatch, a->batch_shape, M, N);
        C.p = (char *)sc; C.trans = 0; C.ld = N; oes = ses;
        for (int d = 0; d < nbatch; d++) obs[d] = dst[d];
        if (K == 0 && (st = cc_cuda_check(cudaMemsetAsync(sc, 0, (size_t)(nb * M * N * ses), cc_cuda_stream()), op,
                                           "cudaMemsetAsync")))
            goto done;
    }
    if (K > 0) {
        /* the last batch dim is the strided batch; the others loop */
        int64_t inner = nbatch ? a->batch_shape[nbatch - 1] : 1, outer = nb / inner;
        int64_t sa_ = nbatch ? abs_[nbatch - 1] : 0, sb_ = nbatch ? bbs[nbatch - 1] : 0, so_ = nbatch ? obs[nbatch - 1] : 0;
        for (int64_t bo = 0; bo < outer && st == CC_OK; bo++) {
            int64_t r = bo, oa = 0, ob = 0, oo = 0;
            for (int d = nbatch - 2; d >= 0; d--) {
                int64_t i = r % a->batch_shape[d];
                r /= a->batch_shape[d];
                oa += i * abs_[d]; ob += i * bbs[d]; oo += i * obs[d];
            }
            const char *pa = A.p + oa * aes, *pb = B.p + ob * bes;
            char *pc = C.p + oo * oes;
            cublasStatus_t s;
            if (!C.trans)   /* row-major C: column-major C^T (N x M) = B^T A^T */
                s = gemm(f64, op_of(B.trans), op_of(A.trans), N, M, K, pb, B.ld, sb_, pa, A.ld, sa_, pc, C.ld, so_, inner);
            else            /* column-major C (M x N) = A B */
                s = gemm(f64, op_of(!A.trans), op_of(!B.trans), M, N, K, pa, A.ld, sa_, pb, B.ld, sb_, pc, C.ld, so_, inner);
            st = cc_cublas_check(s, op, "gemm");
        }
    }
    if (st == CC_OK && !o_ok) {   /* scratch -> out, converting */
        cc_copy_args c = copy_block(nbatch, a->batch_shape, M, N);
        c.dst = a->out; c.dst_dtype = a->dtype;
        for (int d = 0; d < nbatch; d++) c.dst_stride[d] = a->out_bstride[d];
        c.dst_stride[nbatch] = a->out_stride[0]; c.dst_stride[nbatch + 1] = a->out_stride[1];
        c.src = sc; c.src_dtype = sdt;
        dense_strides(c.src_stride, nbatch, a->batch_shape, M, N);
        st = cc_cuda_copy(&c);
    }
done:
    if (sa) cc_cuda_free(sa, 0);
    if (sb) cc_cuda_free(sb, 0);
    if (sc) cc_cuda_free(sc, 0);
    return st;
}
