/* The fast CPU selective-scan kernels (kernels/cpu/selective_scan_{fwd,bwd}.c,
   selective_state_update.c) against the f64 reference kernels, called directly with argument
   blocks filled by hand: every option (D, z, delta_bias, softplus, initial / last state, seq_idx
   with padding and resets, dlast_state), variable / grouped / time-invariant B and C, input dtypes
   f32 f64 f16 bf16, channel-first and channel-last layouts, L and Di around the kernels' chunk and
   vector sizes, N in {1, 4, 16, 17}. Tolerance per element: tol * (|ref| + mean |ref|), tol 1e-4
   for f32 results, 1e-10 for f64, one output ulp more for f16 / bf16 outputs. The backward must
   give the same bits with 1 and 2 threads. */
#include <omp.h>
#include <stdlib.h>
#include "test.h"
#include "selective_scan.h"

static uint64_t rng_state;

static double urand(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static int64_t irand(int64_t n) { return (int64_t)urand(0, (double)n) % n; }

/* A host buffer of n elements of one dtype. */
typedef struct buf {
    void *p;
    int dtype;
    int64_t n;
} buf;

static buf buf_new(int64_t n, int dtype, double lo, double hi)
{
    buf b = { calloc((size_t)(n + 1), (size_t)cc_dtype_bytes(dtype)), dtype, n };
    for (int64_t i = 0; i < n; i++) cc_store_f64(b.p, dtype, i, lo == hi ? lo : urand(lo, hi));
    return b;
}


static double tol_of(int dtype)
{
    return dtype == CC_F64 ? 1e-10 : dtype == CC_F32 ? 1e-4 : dtype == CC_F16 ? 1.5e-3 : 1e-2;
}

/* Every element of fast within tolerance of ref (computed in precision prec, stored in ref's
   dtype); one CHECK per tensor. */
static void close_to(const char *what, const char *label, buf fast, buf ref, int prec)
{
    double mean = 0, tol = fmax(tol_of(ref.dtype), tol_of(prec)), worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < ref.n; i++) mean += fabs(cc_load_f64(ref.p, ref.dtype, i));
    mean = ref.n ? mean / (double)ref.n : 0;
    for (int64_t i = 0; i < ref.n; i++) {
        double r = cc_load_f64(ref.p, ref.dtype, i), f = cc_load_f64(fast.p, fast.dtype, i);
        double e = fabs(f - r) / (fabs(r) + mean + 1e-30);
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    CHECK_MSG(worst <= tol, "%s %s: element %lld: fast %.9g ref %.9g (error %.3g of tolerance %.3g)", label, what,
              (long long)at, at >= 0 ? cc_load_f64(fast.p, fast.dtype, at) : 0.0,
              at >= 0 ? cc_load_f64(ref.p, ref.dtype, at) : 0.0, worst, tol);
}

static void same_bits(const char *what, const char *label, buf x, buf y)
{
    CHECK_MSG(memcmp(x.p, y.p, (size_t)(x.n * cc_dtype_bytes(x.dtype))) == 0, "%s %s: 1 and 2 threads differ", label,
              what);
}

/* ---- scan cases ---- */

typedef struct scase {
    int64_t Bt, Di, L, N;
    int dtype;   /* u, delta, z, dout, B, C; the rest f32 (f64 with f64 u) */
    int cl;      /* (Bt, Di, L) tensors channel-last */
    int D, z, bias, softplus, init, last, seq, dlast;
    int64_t GB, GC;   /* 0: time-invariant; 1: (Bt, N, L); > 1 grouped */
} scase;

/* The tensors of one case: inputs, forward outputs, gradients. */
enum { U, DELTA, Z, DOUT, A_, B_, C_, D_, BIAS, INIT, DLAST, OUT, LAST, DU, DDELTA, DZ, DA, DB, DC, DD, DBIAS,
       DINIT, NBUF };
static const char *const buf_name[NBUF] = { "u", "delta", "z", "dout", "A", "B", "C", "D", "delta_bias",
    "initial_state", "dlast_state", "out", "last_state", "du", "ddelta", "dz", "dA", "dB", "dC", "dD", "ddelta_bias",
    "dinitial_state" };
#define FIRST_OUT OUT

typedef struct scan_set {
    buf b[NBUF];
    int32_t *seq;
} scan_set;

static void bc_view(cc_scan_bc *m, const scase *k, int64_t G, buf data, buf grad)
{
    int64_t N = k->N, L = k->L;
    memset(m, 0, sizeof *m);
    m->data = data.p;
    m->dtype = data.dtype;
    m->grad = grad.p;
    m->grad_dtype = grad.dtype;
    if (G == 0) {
        m->G = k->Di;
        m->is_const = 1;
        int64_t s[4] = { 0, N, 1, 0 };
        memcpy(m->stride, s, sizeof s);
    } else {
        m->G = G;
        int64_t s[4] = { G * N * L, G == 1 ? 0 : N * L, L, 1 };
        memcpy(m->stride, s, sizeof s);
    }
    memcpy(m->grad_stride, m->stride, sizeof m->stride);
}

static void set3(int64_t *s, const scase *k)
{
    int64_t Di = k->Di, L = k->L;
    s[0] = Di * L;
    s[1] = k->cl ? 1 : L;
    s[2] = k->cl ? Di : 1;
}

/* Random inputs for case k (the same for every call with one seed), zeroed outputs; a filled in. */
static void scan_make(scan_set *s, cc_scan_args *a, const scase *k, uint64_t seed)
{
    int64_t Bt = k->Bt, Di = k->Di, L = k->L, N = k->N, BDL = Bt * Di * L;
    int dt = k->dtype, ft = dt == CC_F64 ? CC_F64 : CC_F32;
    int64_t nB = k->GB ? Bt * k->GB * N * L : Di * N, nC = k->GC ? Bt * k->GC * N * L : Di * N;
    rng_state = seed;
    memset(s, 0, sizeof *s);
    s->b[U] = buf_new(BDL, dt, -1, 1);
    s->b[DELTA] = k->softplus ? buf_new(BDL, dt, -3, 1) : buf_new(BDL, dt, 0.01, 0.5);
    s->b[Z] = buf_new(k->z ? BDL : 0, dt, -2, 2);
    s->b[DOUT] = buf_new(BDL, dt, -1, 1);
    s->b[A_] = buf_new(Di * N, ft, -4, -0.5);
    s->b[B_] = buf_new(nB, dt, -1, 1);
    s->b[C_] = buf_new(nC, dt, -1, 1);
    s->b[D_] = buf_new(k->D ? Di : 0, ft, -1, 1);
    s->b[BIAS] = buf_new(k->bias ? Di : 0, ft, k->softplus ? -1 : 0, k->softplus ? 1 : 0.2);
    s->b[INIT] = buf_new(k->init ? Bt * Di * N : 0, ft, -1, 1);
    s->b[DLAST] = buf_new(k->dlast ? Bt * Di * N : 0, ft, -1, 1);
    s->b[OUT] = buf_new(BDL, dt, 0, 0);
    s->b[LAST] = buf_new(k->last ? Bt * Di * N : 0, ft, 0, 0);
    s->b[DU] = buf_new(BDL, dt, 0, 0);
    s->b[DDELTA] = buf_new(BDL, dt, 0, 0);
    s->b[DZ] = buf_new(k->z ? BDL : 0, dt, 0, 0);
    s->b[DA] = buf_new(Di * N, ft, 0, 0);
    s->b[DB] = buf_new(nB, dt, 0, 0);
    s->b[DC] = buf_new(nC, dt, 0, 0);
    s->b[DD] = buf_new(k->D ? Di : 0, ft, 0, 0);
    s->b[DBIAS] = buf_new(k->bias ? Di : 0, ft, 0, 0);
    s->b[DINIT] = buf_new(Bt * Di * N, ft, 0, 0);
    s->seq = calloc((size_t)(Bt * L + 1), sizeof(int32_t));
    for (int64_t b = 0; k->seq && b < Bt; b++) {
        int32_t id = b % 2 ? -1 : 0;   /* odd rows start with padding */
        for (int64_t t = 0; t < L; t++) {
            double r = urand(0, 1);
            if (id < 0 && r < 0.3) id = (int32_t)(t + 1);
            else if (id >= 0 && r < 0.06) id++;
            else if (id >= 0 && r < 0.12) id = -1;
            s->seq[b * L + t] = id < 0 && urand(0, 1) < 0.2 ? (int32_t)t + 5 : id;
        }
    }

    memset(a, 0, sizeof *a);
    a->Bt = Bt;
    a->Di = Di;
    a->L = L;
    a->N = N;
    a->delta_softplus = k->softplus;
    bc_view(&a->B, k, k->GB, s->b[B_], s->b[DB]);
    bc_view(&a->C, k, k->GC, s->b[C_], s->b[DC]);
    struct { const void **in; void **out; int *dtype; int64_t *stride; int i; } t3[] = {
        { &a->u, NULL, &a->u_dtype, a->u_stride, U },
        { &a->delta, NULL, &a->delta_dtype, a->delta_stride, DELTA },
        { &a->z, NULL, &a->z_dtype, a->z_stride, Z },
        { &a->dout, NULL, &a->dout_dtype, a->dout_stride, DOUT },
        { NULL, &a->out, &a->out_dtype, a->out_stride, OUT },
        { NULL, &a->du, &a->du_dtype, a->du_stride, DU },
        { NULL, &a->ddelta, &a->ddelta_dtype, a->ddelta_stride, DDELTA },
        { NULL, &a->dz, &a->dz_dtype, a->dz_stride, DZ },
    };
    for (size_t i = 0; i < sizeof t3 / sizeof t3[0]; i++) {
        buf x = s->b[t3[i].i];
        if (t3[i].in) *t3[i].in = x.n ? x.p : NULL;
        else *t3[i].out = x.n ? x.p : NULL;
        *t3[i].dtype = x.dtype;
        set3(t3[i].stride, k);
    }
    struct { const void **in; void **out; int *dtype; int64_t *stride; int i; } st[] = {
        { &a->initial_state, NULL, &a->initial_state_dtype, a->initial_state_stride, INIT },
        { &a->dlast_state, NULL, &a->dlast_state_dtype, a->dlast_state_stride, DLAST },
        { NULL, &a->last_state, &a->last_state_dtype, a->last_state_stride, LAST },
        { NULL, &a->dinitial_state, &a->dinitial_state_dtype, a->dinitial_state_stride, DINIT },
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        buf x = s->b[st[i].i];
        if (st[i].in) *st[i].in = x.n ? x.p : NULL;
        else *st[i].out = x.n ? x.p : NULL;
        *st[i].dtype = x.dtype;
        st[i].stride[0] = Di * N;
        st[i].stride[1] = N;
        st[i].stride[2] = 1;
    }
    a->A = s->b[A_].p;
    a->A_dtype = s->b[A_].dtype;
    a->A_stride[0] = N;
    a->A_stride[1] = 1;
    a->dA = s->b[DA].p;
    a->dA_dtype = ft;
    a->dA_stride[0] = N;
    a->dA_stride[1] = 1;
    a->D = k->D ? s->b[D_].p : NULL;
    a->dD = k->D ? s->b[DD].p : NULL;
    a->delta_bias = k->bias ? s->b[BIAS].p : NULL;
    a->ddelta_bias = k->bias ? s->b[DBIAS].p : NULL;
    a->D_dtype = a->dD_dtype = a->delta_bias_dtype = a->ddelta_bias_dtype = ft;
    a->D_stride = a->dD_stride = a->delta_bias_stride = a->ddelta_bias_stride = 1;
    a->seq_idx = k->seq ? s->seq : NULL;
    a->seq_idx_stride[0] = L;
    a->seq_idx_stride[1] = 1;
}

static void scan_free(scan_set *s)
{
    for (int i = 0; i < NBUF; i++) free(s->b[i].p);
    free(s->seq);
}

static const char *dtype_name(int d) { return d == CC_F32 ? "f32" : d == CC_F64 ? "f64" : d == CC_F16 ? "f16" : "bf16"; }

static void scan_label(char *out, size_t n, const scase *k)
{
    snprintf(out, n, "Bt%lld Di%lld L%lld N%lld %s%s GB%lld GC%lld%s%s%s%s%s%s%s%s", (long long)k->Bt,
             (long long)k->Di, (long long)k->L, (long long)k->N, dtype_name(k->dtype), k->cl ? " cl" : "",
             (long long)k->GB, (long long)k->GC, k->D ? " D" : "", k->z ? " z" : "", k->bias ? " bias" : "",
             k->softplus ? " softplus" : "", k->init ? " init" : "", k->last ? " last" : "", k->seq ? " seq" : "",
             k->dlast ? " dlast" : "");
}

/* Forward and backward of case k: fast against reference. */
static void scan_case(const scase *k, uint64_t seed)
{
    char label[200];
    scan_label(label, sizeof label, k);
    scan_set fs, rs;
    cc_scan_args fa, ra;
    scan_make(&fs, &fa, k, seed);
    scan_make(&rs, &ra, k, seed);
    CHECK_MSG(cc_cpu_selective_scan_forward(&fa) == CC_OK, "%s: forward failed", label);
    cc_cpu_selective_scan_forward_ref(&ra);
    CHECK_MSG(cc_cpu_selective_scan_backward(&fa) == CC_OK, "%s: backward failed", label);
    cc_cpu_selective_scan_backward_ref(&ra);
    for (int i = FIRST_OUT; i < NBUF; i++)
        if (fs.b[i].n) close_to(buf_name[i], label, fs.b[i], rs.b[i], k->dtype == CC_F64 ? CC_F64 : CC_F32);
    scan_free(&fs);
    scan_free(&rs);
}

/* The backward twice, with 1 and with 2 threads: the same bits. */
static void scan_threads_case(const scase *k, uint64_t seed)
{
    char label[200];
    scan_label(label, sizeof label, k);
    scan_set s1, s2;
    cc_scan_args a1, a2;
    scan_make(&s1, &a1, k, seed);
    scan_make(&s2, &a2, k, seed);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(cc_cpu_selective_scan_backward(&a1) == CC_OK);
    omp_set_num_threads(2);
    CHECK(cc_cpu_selective_scan_backward(&a2) == CC_OK);
    omp_set_num_threads(saved);
    for (int i = DU; i < NBUF; i++)
        if (s1.b[i].n) same_bits(buf_name[i], label, s1.b[i], s2.b[i]);
    scan_free(&s1);
    scan_free(&s2);
}

static const int dtypes[4] = { CC_F32, CC_F64, CC_F16, CC_BF16 };

/* A base case with each option toggled in turn, then random combinations. */
TEST_GROUP(scan_fast_options)
{
    scase base = { 2, 24, 70, 16, CC_F32, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    scan_case(&base, 1);
    int *flags[] = { &base.D, &base.z, &base.bias, &base.softplus, &base.init, &base.last, &base.seq, &base.dlast,
                     &base.cl };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        *flags[i] = !*flags[i];
        scan_case(&base, 2 + i);
        *flags[i] = !*flags[i];
    }
    for (int d = 1; d < 4; d++) {
        scase k = base;
        k.dtype = dtypes[d];
        scan_case(&k, 20 + (uint64_t)d);
    }
    int64_t groups[][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 2, 2 }, { 4, 4 }, { 2, 4 }, { 4, 1 } };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        scase k = base;
        k.GB = groups[i][0];
        k.GC = groups[i][1];
        scan_case(&k, 30 + i);
    }
}

/* L around the chunk (SC_T = 64) and 0, 1; Di around the vector width (8) and the superblocks. */
TEST_GROUP(scan_fast_shapes)
{
    int64_t Ls[] = { 0, 1, 2, 63, 64, 65, 129 }, Dis[] = { 1, 3, 7, 8, 9, 40, 72 }, Ns[] = { 1, 4, 16, 17 };
    scase base = { 2, 13, 65, 4, CC_F32, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    for (size_t i = 0; i < sizeof Ls / sizeof Ls[0]; i++) {
        scase k = base;
        k.L = Ls[i];
        scan_case(&k, 100 + i);
        k.seq = 0;
        scan_case(&k, 150 + i);
    }
    for (size_t i = 0; i < sizeof Dis / sizeof Dis[0]; i++) {
        scase k = base;
        k.Di = Dis[i];
        scan_case(&k, 200 + i);
        k.GB = k.GC = 0;
        scan_case(&k, 250 + i);
    }
    for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++) {
        scase k = base;
        k.N = Ns[i];
        scan_case(&k, 300 + i);
    }
    scase zero = base;
    zero.Bt = 0;
    scan_case(&zero, 400);
}

TEST_GROUP(scan_fast_random)
{
    int64_t Ls[] = { 1, 5, 63, 64, 65, 130 }, Dis[] = { 2, 8, 12, 24, 36 }, Ns[] = { 1, 4, 16, 17 };
    rng_state = 7;
    for (int i = 0; i < 60; i++) {
        scase k = { 1 + irand(3), Dis[irand(5)], Ls[irand(6)], Ns[irand(4)], dtypes[irand(4)], (int)irand(2),
                    (int)irand(2), (int)irand(2), (int)irand(2), (int)irand(2), (int)irand(2), (int)irand(2),
                    (int)irand(2), (int)irand(2), 0, 0 };
        int64_t g[] = { 0, 1, 2, 4 };
        k.GB = g[irand(4)];
        k.GC = g[irand(4)];
        if (k.GB && k.Di % k.GB) k.GB = 1;   /* groups divide Di */
        if (k.GC && k.Di % k.GC) k.GC = 1;
        uint64_t saved = rng_state;
        scan_case(&k, 1000 + (uint64_t)i);
        rng_state = saved;
    }
}

TEST_GROUP(scan_fast_threads)
{
    scase cases[] = {
        { 2, 72, 130, 16, CC_F32, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
        { 3, 40, 65, 17, CC_BF16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4 },
        { 1, 200, 64, 4, CC_F32, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0 },
        { 4, 24, 100, 16, CC_F16, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) scan_threads_case(&cases[i], 500 + i);
}

/* ---- state update ---- */

typedef struct ucase {
    int64_t Bt, Di, N, G;
    int dtype, state_dtype;   /* x, dt, B, C, z, out; state */
    int D, z, bias, softplus, idx, xs;   /* xs: x and dt with a row stride of 2 Di */
} ucase;

enum { UX, UDT, UA, UB, UC, UD, UZ, UBIAS, USTATE, UOUT, NUBUF };

static void upd_make(buf *u, int32_t *idx, cc_scan_update_args *a, const ucase *k, uint64_t seed)
{
    int64_t Bt = k->Bt, Di = k->Di, N = k->N, G = k->G, pool = k->idx ? Bt + 3 : Bt, xr = k->xs ? 2 * Di : Di;
    int dt = k->dtype, ft = dt == CC_F64 ? CC_F64 : CC_F32;
    rng_state = seed;
    u[UX] = buf_new(Bt * xr, dt, -1, 1);
    u[UDT] = k->softplus ? buf_new(Bt * xr, dt, -3, 1) : buf_new(Bt * xr, dt, 0.01, 0.5);
    u[UA] = buf_new(Di * N, ft, -4, -0.5);
    u[UB] = buf_new(Bt * G * N, dt, -1, 1);
    u[UC] = buf_new(Bt * G * N, dt, -1, 1);
    u[UD] = buf_new(Di, ft, -1, 1);
    u[UZ] = buf_new(Bt * Di, dt, -2, 2);
    u[UBIAS] = buf_new(Di, ft, 0, 0.3);
    u[USTATE] = buf_new(pool * Di * N, k->state_dtype, -1, 1);
    u[UOUT] = buf_new(Bt * Di, dt, 7, 7);
    for (int64_t b = 0; b < Bt; b++) idx[b] = (int32_t)b;
    for (int64_t b = Bt - 1; b > 0; b--) {   /* a permutation of 0 .. pool-1, some rows padding */
        int64_t j = irand(b + 1);
        int32_t t = idx[b];
        idx[b] = idx[j];
        idx[j] = t;
    }
    for (int64_t b = 0; b < Bt; b++) idx[b] = urand(0, 1) < 0.25 ? -1 : idx[b] + 2;
    memset(a, 0, sizeof *a);
    a->Bt = Bt;
    a->Di = Di;
    a->N = N;
    a->pool = pool;
    a->dt_softplus = k->softplus;
    a->state = u[USTATE].p;
    a->state_dtype = k->state_dtype;
    a->state_stride[0] = Di * N;
    a->state_stride[1] = N;
    a->state_stride[2] = 1;
    a->x = u[UX].p;
    a->dt = u[UDT].p;
    a->x_dtype = a->dt_dtype = dt;
    a->x_stride[0] = a->dt_stride[0] = xr;
    a->x_stride[1] = a->dt_stride[1] = 1;
    a->A = u[UA].p;
    a->A_dtype = ft;
    a->A_stride[0] = N;
    a->A_stride[1] = 1;
    a->B = u[UB].p;
    a->C = u[UC].p;
    a->B_dtype = a->C_dtype = dt;
    a->B_G = a->C_G = G;
    int64_t bs[3] = { G * N, G == 1 ? 0 : N, 1 };
    memcpy(a->B_stride, bs, sizeof bs);
    memcpy(a->C_stride, bs, sizeof bs);
    a->D = k->D ? u[UD].p : NULL;
    a->D_dtype = ft;
    a->D_stride = 1;
    a->z = k->z ? u[UZ].p : NULL;
    a->z_dtype = dt;
    a->z_stride[0] = Di;
    a->z_stride[1] = 1;
    a->dt_bias = k->bias ? u[UBIAS].p : NULL;
    a->dt_bias_dtype = ft;
    a->dt_bias_stride = 1;
    a->state_batch_indices = k->idx ? idx : NULL;
    a->state_batch_indices_stride = 1;
    a->out = u[UOUT].p;
    a->out_dtype = dt;
    a->out_stride[0] = Di;
    a->out_stride[1] = 1;
}

static void upd_case(const ucase *k, uint64_t seed)
{
    char label[160];
    snprintf(label, sizeof label, "update Bt%lld Di%lld N%lld G%lld %s state %s%s%s%s%s%s%s", (long long)k->Bt,
             (long long)k->Di, (long long)k->N, (long long)k->G, dtype_name(k->dtype), dtype_name(k->state_dtype),
             k->D ? " D" : "", k->z ? " z" : "", k->bias ? " bias" : "", k->softplus ? " softplus" : "",
             k->idx ? " indices" : "", k->xs ? " strided" : "");
    buf f[NUBUF], r[NUBUF];
    int32_t *fi = calloc((size_t)k->Bt + 1, sizeof(int32_t)), *ri = calloc((size_t)k->Bt + 1, sizeof(int32_t));
    cc_scan_update_args fa, ra;
    upd_make(f, fi, &fa, k, seed);
    upd_make(r, ri, &ra, k, seed);
    CHECK_MSG(cc_cpu_selective_state_update(&fa) == CC_OK, "%s: failed", label);
    cc_cpu_selective_state_update_ref(&ra);
    int prec = k->dtype == CC_F64 ? CC_F64 : CC_F32;
    close_to("state", label, f[USTATE], r[USTATE], prec);
    close_to("out", label, f[UOUT], r[UOUT], prec);
    for (int i = 0; i < NUBUF; i++) {
        free(f[i].p);
        free(r[i].p);
    }
    free(fi);
    free(ri);
}

TEST_GROUP(scan_fast_update)
{
    ucase base = { 5, 40, 16, 1, CC_F32, CC_F32, 1, 1, 1, 1, 1, 0 };
    upd_case(&base, 1);
    int *flags[] = { &base.D, &base.z, &base.bias, &base.softplus, &base.idx, &base.xs };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        *flags[i] = !*flags[i];
        upd_case(&base, 2 + i);
        *flags[i] = !*flags[i];
    }
    for (int d = 0; d < 4; d++)
        for (int s = 0; s < 4; s++) {
            ucase k = base;
            k.dtype = dtypes[d];
            k.state_dtype = d == 1 ? CC_F64 : dtypes[s];
            upd_case(&k, 20 + (uint64_t)(4 * d + s));
        }
    int64_t Ns[] = { 1, 4, 16, 17 }, Dis[] = { 1, 7, 8, 9, 100 }, Gs[] = { 2, 4 };
    for (size_t i = 0; i < 4; i++) {
        ucase k = base;
        k.N = Ns[i];
        upd_case(&k, 40 + i);
    }
    for (size_t i = 0; i < 5; i++) {
        ucase k = base;
        k.Di = Dis[i] * 4;
        k.G = 4;
        upd_case(&k, 50 + i);
        k.Di = Dis[i];
        k.G = 1;
        upd_case(&k, 60 + i);
    }
    for (size_t i = 0; i < 2; i++) {
        ucase k = base;
        k.G = Gs[i];
        upd_case(&k, 70 + i);
    }
    ucase zero = base;
    zero.Bt = 0;
    upd_case(&zero, 80);
}
