/* Batched matrix product out (..., M, N) = a (..., M, K) @ b (..., K, N) through OpenBLAS.
   Each batch is one gemm. A matrix whose rows or columns are contiguous goes to BLAS as it is
   (row-major, or transposed); any other layout, and f16/bf16 (converted to f32), goes through a
   dense scratch copy. An out with neither layout is computed into scratch and stored.
   Threads: OpenBLAS runs single-threaded and a large gemm is cut into blocks of GEMM_BLOCK rows
   (or columns) of out, which the OpenMP threads share. OpenBLAS's own thread pool next to
   OpenMP's fights it for the cores unless the threads are pinned (experiments/bench_mamba.lua
   --no-pin, 2 cores: a Mamba LM training step took 122-134 ms with both pools, 38-43 ms like
   this; pinned, the two were equal within noise: experiments/results/
   cpu-20261201-1529-avx2-mamba-matmul-ab.txt).
   The blocks do not depend on the thread count, and OpenBLAS picks its kernel (and so its
   summation order) by the size of the call, so a result is bitwise the same for any count. */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ops_common.h"

/* element (i, j) of a rows x cols matrix is p[trans ? j * ld + i : i * ld + j] */
typedef struct mat {
    const char *p;
    int trans;
    int64_t ld;
} mat;

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

/* a BLAS view of a strided matrix, or 0 when none fits (BLAS takes 32-bit leading dims) */
static int blas_view(mat *m, const char *p, int64_t rows, int64_t cols, int64_t srow, int64_t scol)
{
    m->p = p;
    if (srow > INT32_MAX || scol > INT32_MAX) return 0;
    if ((scol == 1 || cols <= 1) && (rows <= 1 || srow >= max1(cols))) {
        m->trans = 0; m->ld = rows <= 1 ? max1(cols) : srow;
        return 1;
    }
    if ((srow == 1 || rows <= 1) && (cols <= 1 || scol >= max1(rows))) {
        m->trans = 1; m->ld = cols <= 1 ? max1(rows) : scol;
        return 1;
    }
    return 0;
}

/* dense row-major copy of a strided matrix, f32 (f32/f16/bf16) or f64 */
static void to_dense(void *dst, const char *p, int dtype, int64_t rows, int64_t cols, int64_t srow, int64_t scol)
{
    int64_t es = cc_dtype_bytes(dtype);
    for (int64_t i = 0; i < rows; i++) {
        if (dtype == CC_F64) cc_ld_block((double *)dst + i * cols, p + i * srow * es, dtype, scol, cols);
        else cc_ld_block_f((float *)dst + i * cols, p + i * srow * es, dtype, scol, cols);
    }
}

static void from_dense(char *p, int dtype, const void *src, int64_t rows, int64_t cols, int64_t srow, int64_t scol)
{
    int64_t es = cc_dtype_bytes(dtype);
    for (int64_t i = 0; i < rows; i++) {
        if (dtype == CC_F64) cc_st_block(p + i * srow * es, dtype, scol, (const double *)src + i * cols, cols);
        else cc_st_block_f(p + i * srow * es, dtype, scol, (const float *)src + i * cols, cols);
    }
}

/* row-major C (M, N) with ldc = A (M, K) @ B (K, N), one BLAS call */
static void gemm1(int f64, int64_t M, int64_t N, int64_t K, mat A, mat B, void *C, int64_t ldc)
{
    enum CBLAS_TRANSPOSE ta = A.trans ? CblasTrans : CblasNoTrans, tb = B.trans ? CblasTrans : CblasNoTrans;
    if (f64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, 1.0, (const double *)A.p,
                    (blasint)A.ld, (const double *)B.p, (blasint)B.ld, 0.0, (double *)C, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, 1.0f, (const float *)A.p,
                    (blasint)A.ld, (const float *)B.p, (blasint)B.ld, 0.0f, (float *)C, (blasint)ldc);
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

/* below this many multiply-adds a gemm is one BLAS call; above it, blocks of GEMM_BLOCK rows */
#define GEMM_SPLIT_MIN (1 << 18)
#define GEMM_BLOCK 64

/* matrix m from row r0 and column c0 on */
static mat sub(mat m, int64_t es, int64_t r0, int64_t c0)
{
    int64_t off = m.trans ? c0 * m.ld + r0 : r0 * m.ld + c0;
    return (mat){ m.p + off * es, m.trans, m.ld };
}

/* row-major C (M, N) with ldc = A (M, K) @ B (K, N): blocks of GEMM_BLOCK rows of C (of columns
   when C is wider than tall), shared by the threads */
static void gemm(int f64, int64_t M, int64_t N, int64_t K, mat A, mat B, void *C, int64_t ldc)
{
    pthread_once(&blas_once, blas_single_thread);
    if (M * N * K < GEMM_SPLIT_MIN) { gemm1(f64, M, N, K, A, B, C, ldc); return; }
    int64_t es = f64 ? 8 : 4;
    int by_rows = M >= N;
    int64_t len = by_rows ? M : N, nblocks = (len + GEMM_BLOCK - 1) / GEMM_BLOCK;
    #pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t lo = blk * GEMM_BLOCK, n = len - lo < GEMM_BLOCK ? len - lo : GEMM_BLOCK;
        if (by_rows)
            gemm1(f64, n, N, K, sub(A, es, lo, 0), B, (char *)C + lo * ldc * es, ldc);
        else
            gemm1(f64, M, n, K, A, sub(B, es, 0, lo), (char *)C + lo * es, ldc);
    }
}

/* element offsets of batch bi's matrices in a, b and out */
static void batch_offsets(const cc_matmul_args *a, int64_t bi, int64_t *oa, int64_t *ob, int64_t *oo)
{
    int64_t r = bi;
    *oa = *ob = *oo = 0;
    for (int d = a->nbatch - 1; d >= 0; d--) {
        int64_t i = r % a->batch_shape[d];
        r /= a->batch_shape[d];
        *oa += i * a->a_bstride[d]; *ob += i * a->b_bstride[d]; *oo += i * a->out_bstride[d];
    }
}

int cc_cpu_matmul(const cc_matmul_args *a)
{
    int64_t M = a->M, N = a->N, K = a->K, es = cc_dtype_bytes(a->dtype);
    int f64 = a->dtype == CC_F64, half = a->dtype == CC_F16 || a->dtype == CC_BF16;
    int64_t ses = f64 ? 8 : 4;   /* scratch element size */
    int64_t nb = 1;
    for (int d = 0; d < a->nbatch; d++) nb *= a->batch_shape[d];
    if (M == 0 || N == 0 || nb == 0) return CC_OK;
    char *sa = malloc((size_t)(max1(M * K) * ses)), *sb = malloc((size_t)(max1(K * N) * ses));
    char *sc = malloc((size_t)(M * N * ses));
    if (!sa || !sb || !sc) { free(sa); free(sb); free(sc); return CC_ERR_MEMORY; }
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t oa, ob, oo;
        batch_offsets(a, bi, &oa, &ob, &oo);
        const char *pa = (const char *)a->a + oa * es, *pb = (const char *)a->b + ob * es;
        char *po = (char *)a->out + oo * es;
        if (K == 0) {   /* empty sum: BLAS would reject ld = 0 views, the answer is zeros */
            memset(sc, 0, (size_t)(M * N * ses));
            from_dense(po, a->dtype, sc, M, N, a->out_stride[0], a->out_stride[1]);
            continue;
        }
        mat A, B, C;
        if (half || !blas_view(&A, pa, M, K, a->a_stride[0], a->a_stride[1])) {
            to_dense(sa, pa, a->dtype, M, K, a->a_stride[0], a->a_stride[1]);
            A = (mat){ sa, 0, K };
        }
        if (half || !blas_view(&B, pb, K, N, a->b_stride[0], a->b_stride[1])) {
            to_dense(sb, pb, a->dtype, K, N, a->b_stride[0], a->b_stride[1]);
            B = (mat){ sb, 0, N };
        }
        if (!half && blas_view(&C, po, M, N, a->out_stride[0], a->out_stride[1])) {
            if (!C.trans) {
                gemm(f64, M, N, K, A, B, (void *)C.p, C.ld);
            } else {   /* column-major out: C^T = B^T A^T, row-major (N, M) */
                mat At = { A.p, !A.trans, A.ld }, Bt = { B.p, !B.trans, B.ld };
                gemm(f64, N, M, K, Bt, At, (void *)C.p, C.ld);
            }
        } else {
            gemm(f64, M, N, K, A, B, sc, N);
            from_dense(po, a->dtype, sc, M, N, a->out_stride[0], a->out_stride[1]);
        }
    }
    free(sa); free(sb); free(sc);
    return CC_OK;
}

/* plain reference: the triple loop, accumulating in f64 */
int cc_cpu_matmul_ref(const cc_matmul_args *a)
{
    int64_t nb = 1;
    for (int d = 0; d < a->nbatch; d++) nb *= a->batch_shape[d];
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t oa, ob, oo;
        batch_offsets(a, bi, &oa, &ob, &oo);
        for (int64_t i = 0; i < a->M; i++)
            for (int64_t j = 0; j < a->N; j++) {
                double s = 0.0;
                for (int64_t k = 0; k < a->K; k++)
                    s += cc_load_f64(a->a, a->dtype, oa + i * a->a_stride[0] + k * a->a_stride[1]) *
                         cc_load_f64(a->b, a->dtype, ob + k * a->b_stride[0] + j * a->b_stride[1]);
                cc_store_f64(a->out, a->dtype, oo + i * a->out_stride[0] + j * a->out_stride[1], s);
            }
    }
    return CC_OK;
}
