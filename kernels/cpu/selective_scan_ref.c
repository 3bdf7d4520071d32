/* Plain scalar reference kernels of the selective scan: the test oracle
   (cc_set_reference_kernels(1)). They follow core/selective_scan.c's rule block line by line, in
   f64 throughout, one row after another on the calling thread, so every sum has one fixed order. */
#include <stdlib.h>
#include "activation.h"
#include "selective_scan.h"

static double ld3(const void *p, int dtype, const int64_t *s, int64_t i, int64_t j, int64_t k)
{
    return cc_load_f64(p, dtype, i * s[0] + j * s[1] + k * s[2]);
}

static void st3(void *p, int dtype, const int64_t *s, int64_t i, int64_t j, int64_t k, double v)
{
    cc_store_f64(p, dtype, i * s[0] + j * s[1] + k * s[2], v);
}

static double opt1(const void *p, int dtype, int64_t stride, int64_t c)
{
    return p ? cc_load_f64(p, dtype, c * stride) : 0.0;
}

static double softplus_or_not(int on, double v) { return on ? ss_softplus_f64(v) : v; }

/* dt of token t of row (b, c): delta + delta_bias, through softplus when asked. */
static double ref_dt(const cc_scan_args *a, int64_t b, int64_t c, int64_t t, double *v)
{
    *v = ld3(a->delta, a->delta_dtype, a->delta_stride, b, c, t) + opt1(a->delta_bias, a->delta_bias_dtype,
                                                                        a->delta_bias_stride, c);
    return softplus_or_not(a->delta_softplus, *v);
}

static double ref_bc(const cc_scan_bc *m, int64_t Di, int64_t b, int64_t c, int64_t n, int64_t t)
{
    return cc_load_f64(m->data, m->dtype, ss_bc_at(m, Di, b, c, n, t));
}

static double ref_A(const cc_scan_args *a, int64_t c, int64_t n)
{
    return cc_load_f64(a->A, a->A_dtype, c * a->A_stride[0] + n * a->A_stride[1]);
}

/* h (N) of row (b, c) before token 0. */
static void ref_initial(const cc_scan_args *a, int64_t b, int64_t c, double *h)
{
    for (int64_t n = 0; n < a->N; n++)
        h[n] = a->initial_state ? ld3(a->initial_state, a->initial_state_dtype, a->initial_state_stride, b, c, n) : 0.0;
}

/* The forward of row (b, c): hs (N * (L + 1)) gets h[n, t-1] at hs[t * N + n] (hs[0..N) the
   initial state) and kinds (L) the token kinds; y (L) the un-gated output (0 for padding). */
static void ref_row_forward(const cc_scan_args *a, int64_t b, int64_t c, double *hs, unsigned char *kinds, double *y)
{
    int64_t N = a->N, Di = a->Di;
    int32_t seg = 0;
    ref_initial(a, b, c, hs);
    for (int64_t t = 0; t < a->L; t++) {
        const double *hp = hs + t * N;
        double *h = hs + (t + 1) * N;
        int kind = ss_token_kind(a, b, t, &seg);
        kinds[t] = (unsigned char)kind;
        if (kind == SS_PAD) {
            for (int64_t n = 0; n < N; n++) h[n] = hp[n];
            y[t] = 0.0;
            continue;
        }
        double v, dt = ref_dt(a, b, c, t, &v);
        double u = ld3(a->u, a->u_dtype, a->u_stride, b, c, t);
        double acc = opt1(a->D, a->D_dtype, a->D_stride, c) * u;
        for (int64_t n = 0; n < N; n++) {
            double prev = kind == SS_RESET ? 0.0 : hp[n];
            h[n] = exp(dt * ref_A(a, c, n)) * prev + dt * ref_bc(&a->B, Di, b, c, n, t) * u;
            acc += ref_bc(&a->C, Di, b, c, n, t) * h[n];
        }
        y[t] = acc;
    }
}

typedef struct ref_scratch {
    double *hs, *y;
    unsigned char *kinds;
} ref_scratch;

static int scratch_init(ref_scratch *s, const cc_scan_args *a)
{
    s->hs = malloc((size_t)(a->N * (a->L + 1)) * sizeof *s->hs);
    s->y = malloc((size_t)(a->L + 1) * sizeof *s->y);
    s->kinds = malloc((size_t)(a->L + 1));
    return s->hs && s->y && s->kinds;
}

static void scratch_free(ref_scratch *s)
{
    free(s->hs);
    free(s->y);
    free(s->kinds);
}

int cc_cpu_selective_scan_forward_ref(const cc_scan_args *a)
{
    ref_scratch s;
    if (!scratch_init(&s, a)) {
        scratch_free(&s);
        return CC_ERR_MEMORY;
    }
    int64_t N = a->N;
    for (int64_t b = 0; b < a->Bt; b++) {
        for (int64_t c = 0; c < a->Di; c++) {
            ref_row_forward(a, b, c, s.hs, s.kinds, s.y);
            for (int64_t t = 0; t < a->L; t++) {
                double o = s.y[t];
                if (a->z && s.kinds[t] != SS_PAD) o *= cc_silu_f64(ld3(a->z, a->z_dtype, a->z_stride, b, c, t));
                st3(a->out, a->out_dtype, a->out_stride, b, c, t, o);
            }
            if (a->last_state)
                for (int64_t n = 0; n < N; n++)
                    st3(a->last_state, a->last_state_dtype, a->last_state_stride, b, c, n, s.hs[a->L * N + n]);
        }
    }
    scratch_free(&s);
    return CC_OK;
}

/* f64 sums of the parameter gradients, written out once at the end. */
typedef struct ref_sums {
    double *dA, *dD, *ddelta_bias, *dB, *dC;
    int64_t dB_len, dC_len;
} ref_sums;

/* Index of dB / dC's f64 sum: (Di, N) for time-invariant, (Bt, G, N, L) otherwise. */
static int64_t sum_at(const cc_scan_bc *m, const cc_scan_args *a, int64_t b, int64_t c, int64_t n, int64_t t)
{
    if (m->is_const) return c * a->N + n;
    int64_t g = c / (a->Di / m->G);
    return ((b * m->G + g) * a->N + n) * a->L + t;
}

static int64_t sum_len(const cc_scan_bc *m, const cc_scan_args *a)
{
    return m->is_const ? a->Di * a->N : a->Bt * m->G * a->N * a->L;
}

/* bc's gradient view written from its f64 sums (group indices direct: Di may be 0). */
static void write_bc_grad(const cc_scan_bc *m, const cc_scan_args *a, const double *sum)
{
    if (!m->grad) return;
    const int64_t *gs = m->grad_stride;
    if (m->is_const) {
        for (int64_t c = 0; c < a->Di; c++)
            for (int64_t n = 0; n < a->N; n++)
                cc_store_f64(m->grad, m->grad_dtype, c * gs[1] + n * gs[2], sum[c * a->N + n]);
        return;
    }
    for (int64_t b = 0; b < a->Bt; b++)
        for (int64_t g = 0; g < m->G; g++)
            for (int64_t n = 0; n < a->N; n++)
                for (int64_t t = 0; t < a->L; t++)
                    cc_store_f64(m->grad, m->grad_dtype, b * gs[0] + g * gs[1] + n * gs[2] + t * gs[3],
                                 sum[((b * m->G + g) * a->N + n) * a->L + t]);
}

/* The reverse-time pass of row (b, c) after ref_row_forward filled s; lam (N) the adjoint. */
static void ref_row_backward(const cc_scan_args *a, int64_t b, int64_t c, const ref_scratch *s, double *lam,
                             ref_sums *sums)
{
    int64_t N = a->N, Di = a->Di;
    double Dc = opt1(a->D, a->D_dtype, a->D_stride, c);
    for (int64_t n = 0; n < N; n++)
        lam[n] = a->dlast_state ? ld3(a->dlast_state, a->dlast_state_dtype, a->dlast_state_stride, b, c, n) : 0.0;
    for (int64_t t = a->L - 1; t >= 0; t--) {
        int kind = s->kinds[t];
        if (kind == SS_PAD) {
            if (a->du) st3(a->du, a->du_dtype, a->du_stride, b, c, t, 0.0);
            if (a->ddelta) st3(a->ddelta, a->ddelta_dtype, a->ddelta_stride, b, c, t, 0.0);
            if (a->dz) st3(a->dz, a->dz_dtype, a->dz_stride, b, c, t, 0.0);
            continue;
        }
        const double *hp = s->hs + t * N, *h = s->hs + (t + 1) * N;
        double g = ld3(a->dout, a->dout_dtype, a->dout_stride, b, c, t), gy = g;
        if (a->z) {
            double z = ld3(a->z, a->z_dtype, a->z_stride, b, c, t);
            gy = g * cc_silu_f64(z);
            if (a->dz) st3(a->dz, a->dz_dtype, a->dz_stride, b, c, t, g * s->y[t] * cc_dsilu_f64(z));
        }
        double v, dt = ref_dt(a, b, c, t, &v);
        double u = ld3(a->u, a->u_dtype, a->u_stride, b, c, t);
        double du = Dc * gy, ddt = 0.0;
        for (int64_t n = 0; n < N; n++) {
            double An = ref_A(a, c, n), dA = exp(dt * An);
            double Bn = ref_bc(&a->B, Di, b, c, n, t), Cn = ref_bc(&a->C, Di, b, c, n, t);
            double prev = kind == SS_RESET ? 0.0 : hp[n];
            double l = lam[n] + gy * Cn;
            du += l * dt * Bn;
            ddt += l * (An * dA * prev + Bn * u);
            sums->dA[c * N + n] += l * prev * dA * dt;
            sums->dB[sum_at(&a->B, a, b, c, n, t)] += l * dt * u;
            sums->dC[sum_at(&a->C, a, b, c, n, t)] += gy * h[n];
            lam[n] = kind == SS_RESET ? 0.0 : dA * l;
        }
        double ddelta = a->delta_softplus ? ddt * ss_dsoftplus_f64(v) : ddt;
        sums->dD[c] += gy * u;
        sums->ddelta_bias[c] += ddelta;
        if (a->du) st3(a->du, a->du_dtype, a->du_stride, b, c, t, du);
        if (a->ddelta) st3(a->ddelta, a->ddelta_dtype, a->ddelta_stride, b, c, t, ddelta);
    }
    if (a->dinitial_state)
        for (int64_t n = 0; n < N; n++)
            st3(a->dinitial_state, a->dinitial_state_dtype, a->dinitial_state_stride, b, c, n, lam[n]);
}

int cc_cpu_selective_scan_backward_ref(const cc_scan_args *a)
{
    ref_scratch s;
    ref_sums sums;
    int64_t Di = a->Di, N = a->N;
    sums.dB_len = sum_len(&a->B, a);
    sums.dC_len = sum_len(&a->C, a);
    int ok = scratch_init(&s, a);
    sums.dA = calloc((size_t)(Di * N + 1), sizeof(double));
    sums.dD = calloc((size_t)(Di + 1), sizeof(double));
    sums.ddelta_bias = calloc((size_t)(Di + 1), sizeof(double));
    sums.dB = calloc((size_t)(sums.dB_len + 1), sizeof(double));
    sums.dC = calloc((size_t)(sums.dC_len + 1), sizeof(double));
    double *lam = malloc((size_t)(N + 1) * sizeof *lam);
    int st = CC_ERR_MEMORY;
    if (ok && sums.dA && sums.dD && sums.ddelta_bias && sums.dB && sums.dC && lam) {
        for (int64_t b = 0; b < a->Bt; b++)
            for (int64_t c = 0; c < Di; c++) {
                ref_row_forward(a, b, c, s.hs, s.kinds, s.y);
                ref_row_backward(a, b, c, &s, lam, &sums);
            }
        for (int64_t c = 0; c < Di; c++) {
            for (int64_t n = 0; n < N; n++)
                if (a->dA) cc_store_f64(a->dA, a->dA_dtype, c * a->dA_stride[0] + n * a->dA_stride[1], sums.dA[c * N + n]);
            if (a->dD) cc_store_f64(a->dD, a->dD_dtype, c * a->dD_stride, sums.dD[c]);
            if (a->ddelta_bias)
                cc_store_f64(a->ddelta_bias, a->ddelta_bias_dtype, c * a->ddelta_bias_stride, sums.ddelta_bias[c]);
        }
        write_bc_grad(&a->B, a, sums.dB);
        write_bc_grad(&a->C, a, sums.dC);
        st = CC_OK;
    }
    scratch_free(&s);
    free(sums.dA);
    free(sums.dD);
    free(sums.ddelta_bias);
    free(sums.dB);
    free(sums.dC);
    free(lam);
    return st;
}

int cc_cpu_selective_state_update_ref(const cc_scan_update_args *a)
{
    int64_t N = a->N, Di = a->Di;
    for (int64_t b = 0; b < a->Bt; b++) {
        int64_t i = a->state_batch_indices ? a->state_batch_indices[b * a->state_batch_indices_stride] : b;
        for (int64_t c = 0; c < Di; c++) {
            int64_t o = b * a->out_stride[0] + c * a->out_stride[1];
            if (i < 0) {
                cc_store_f64(a->out, a->out_dtype, o, 0.0);
                continue;
            }
            double x = cc_load_f64(a->x, a->x_dtype, b * a->x_stride[0] + c * a->x_stride[1]);
            double dt = cc_load_f64(a->dt, a->dt_dtype, b * a->dt_stride[0] + c * a->dt_stride[1])
                      + opt1(a->dt_bias, a->dt_bias_dtype, a->dt_bias_stride, c);
            dt = softplus_or_not(a->dt_softplus, dt);
            double y = opt1(a->D, a->D_dtype, a->D_stride, c) * x;
            int64_t gB = c / (Di / a->B_G), gC = c / (Di / a->C_G);
            for (int64_t n = 0; n < N; n++) {
                int64_t si = i * a->state_stride[0] + c * a->state_stride[1] + n * a->state_stride[2];
                double A = cc_load_f64(a->A, a->A_dtype, c * a->A_stride[0] + n * a->A_stride[1]);
                double B = cc_load_f64(a->B, a->B_dtype, b * a->B_stride[0] + gB * a->B_stride[1] + n * a->B_stride[2]);
                double C = cc_load_f64(a->C, a->C_dtype, b * a->C_stride[0] + gC * a->C_stride[1] + n * a->C_stride[2]);
                double h = cc_load_f64(a->state, a->state_dtype, si) * exp(dt * A) + dt * B * x;
                cc_store_f64(a->state, a->state_dtype, si, h);
                y += h * C;
            }
            if (a->z) y *= cc_silu_f64(cc_load_f64(a->z, a->z_dtype, b * a->z_stride[0] + c * a->z_stride[1]));
            cc_store_f64(a->out, a->out_dtype, o, y);
        }
    }
    return CC_OK;
}
