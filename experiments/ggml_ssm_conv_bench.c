/* ggml's CPU ggml_ssm_conv next to causalconv's forward doing the same computation, and next to a
   plain tensor copy of the same bytes, all in one run, interleaved, same OpenMP threads.

     make bench-ggml GGML_DIR=/path/to/ggml (or a llama.cpp checkout) [ARGS="--threads 2 ..."]

   ggml_ssm_conv(sx, c) (ggml/src/ggml-cpu/ops.cpp): sx holds, per sequence b and channel d, the
   W-1 state columns followed by the L new tokens, (B, D, W-1+L) in C order; c is (D, W); the
   result is (B, L, D) in C order: out[b, t, d] = sum_k sx[b, d, t + k] * c[d, k], no bias, no
   activation. causalconv computes it as cc_causal_conv1d_forward with x = the (B, D, L) view of sx
   past the state columns (channel-first), initial_states = the (B, D, W-1) view of its first
   columns, and out = a (B, L, D) buffer viewed as (B, D, L) (channel-last): the mixed layout.
   Bytes counted: sx read and out written (weights are noise at these sizes). The copy moves the
   same number of bytes (half read, half written) through cc_tensor_copy, like experiments/sweep.lua. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "causalconv.h"
#include "ggml.h"
#include "ggml-cpu.h"

#define CHECK(call)                                                                   \
    do {                                                                              \
        if ((call) != CC_OK) {                                                        \
            fprintf(stderr, "ggml_ssm_conv_bench: %s: %s\n", #call, cc_last_error()); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void run_ggml(struct ggml_cgraph *gf, struct ggml_cplan *plan)
{
    if (ggml_graph_compute(gf, plan) != GGML_STATUS_SUCCESS) {
        fprintf(stderr, "ggml_ssm_conv_bench: ggml_graph_compute failed\n");
        exit(1);
    }
}

typedef struct shape {
    int64_t B, D, L, W;
} shape;

/* One shape: fills both sides with the same values, checks that the outputs agree, then times
   ggml, causalconv and the copy in turn, `reps` times. */
static void run_shape(shape s, int threads, int reps, int warmup)
{
    int64_t B = s.B, D = s.D, L = s.L, W = s.W, ncs = W - 1 + L;

    /* ggml side: ne = {W-1+L, D, B} for sx, {W, D} for c */
    size_t sx_bytes = (size_t)(B * D * ncs) * sizeof(float), out_bytes = (size_t)(B * L * D) * sizeof(float);
    struct ggml_init_params ip = {sx_bytes + out_bytes + (size_t)(D * W) * sizeof(float) + ggml_graph_overhead() +
                                      16 * ggml_tensor_overhead() + (1 << 20),
                                  NULL, false};
    struct ggml_context *ctx = ggml_init(ip);
    if (!ctx) {
        fprintf(stderr, "ggml_ssm_conv_bench: ggml_init failed\n");
        exit(1);
    }
    struct ggml_tensor *sx = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, ncs, D, B);
    struct ggml_tensor *c = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, W, D);
    struct ggml_tensor *y = ggml_ssm_conv(ctx, sx, c);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, y);
    struct ggml_cplan plan = ggml_graph_plan(gf, threads, NULL);
    void *work = plan.work_size ? malloc(plan.work_size) : NULL;
    plan.work_data = work;

    /* causalconv side */
    cc_tensor *sxc, *xv, *init, *wt, *outbuf, *out, *src, *dst;
    int64_t sx_shape[3] = {B, D, ncs}, w_shape[2] = {D, W}, o_shape[3] = {B, L, D};
    int64_t v_stride[3] = {D * ncs, ncs, 1}, x_shape[3] = {B, D, L}, i_shape[3] = {B, D, W - 1};
    CHECK(cc_tensor_empty(&sxc, 3, sx_shape, CC_F32, CC_CPU, 0));
    CHECK(cc_tensor_empty(&wt, 2, w_shape, CC_F32, CC_CPU, 0));
    CHECK(cc_tensor_empty(&outbuf, 3, o_shape, CC_F32, CC_CPU, 0));
    CHECK(cc_tensor_as_strided(&xv, sxc, 3, x_shape, v_stride, W - 1));
    CHECK(cc_tensor_as_strided(&init, sxc, 3, i_shape, v_stride, 0));
    CHECK(cc_tensor_transpose(&out, outbuf, 1, 2));
    CHECK(cc_tensor_randn(sxc, 0.0, 1.0));
    CHECK(cc_tensor_randn(wt, 0.0, 0.5));
    CHECK(cc_tensor_fill(outbuf, 0.0));
    memcpy(sx->data, cc_tensor_data(sxc), sx_bytes);
    memcpy(c->data, cc_tensor_data(wt), (size_t)(D * W) * sizeof(float));

    int64_t op_bytes = (int64_t)(sx_bytes + out_bytes), n_copy = op_bytes / 2 / (int64_t)sizeof(float);
    CHECK(cc_tensor_empty(&src, 1, &n_copy, CC_F32, CC_CPU, 0));
    CHECK(cc_tensor_empty(&dst, 1, &n_copy, CC_F32, CC_CPU, 0));
    CHECK(cc_tensor_randn(src, 0.0, 1.0));
    int64_t copy_bytes = 2 * n_copy * (int64_t)sizeof(float);

#define RUN_GGML() run_ggml(gf, &plan)
#define RUN_CC() CHECK(cc_causal_conv1d_forward(out, NULL, xv, wt, NULL, NULL, init, CC_ACT_NONE))
#define RUN_COPY() CHECK(cc_tensor_copy(dst, src))

    /* agreement: every output, relative to the size of its terms */
    RUN_GGML();
    RUN_CC();
    const float *yg = y->data, *yc = cc_tensor_data(outbuf);
    double maxrel = 0.0;
    for (int64_t i = 0; i < B * L * D; i++) {
        double d = fabs((double)yg[i] - yc[i]) / (1.0 + fabs((double)yg[i]));
        if (!(d <= maxrel)) maxrel = d;   /* NaN counts as a mismatch */
    }
    int agree = maxrel < 1e-5;

    for (int i = 0; i < warmup; i++) {
        RUN_GGML();
        RUN_CC();
        RUN_COPY();
    }
    double *tg = malloc(sizeof(double) * reps), *tc = malloc(sizeof(double) * reps), *tk = malloc(sizeof(double) * reps);
    double *ratio = malloc(sizeof(double) * reps), *pg = malloc(sizeof(double) * reps), *pc = malloc(sizeof(double) * reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        RUN_GGML();
        double t1 = now_s();
        RUN_CC();
        double t2 = now_s();
        RUN_COPY();
        double t3 = now_s();
        tg[r] = t1 - t0;
        tc[r] = t2 - t1;
        tk[r] = t3 - t2;
        ratio[r] = tg[r] / tc[r];
        /* each side's bandwidth over the adjacent copy sample's */
        pg[r] = 100.0 * ((double)op_bytes / tg[r]) / ((double)copy_bytes / tk[r]);
        pc[r] = 100.0 * ((double)op_bytes / tc[r]) / ((double)copy_bytes / tk[r]);
    }
    double mg = median(tg, reps), mc = median(tc, reps), mk = median(tk, reps);
    printf("B%-3lld D%-5lld L%-5lld W%-2lld %9.3f %9.3f %9.3f %8.2f %8.2f %8.2f %7.0f%% %7.0f%% %7.2fx  %s (%.1e)\n",
           (long long)B, (long long)D, (long long)L, (long long)W, 1e3 * mg, 1e3 * mc, 1e3 * mk, op_bytes / mg / 1e9,
           op_bytes / mc / 1e9, copy_bytes / mk / 1e9, median(pg, reps), median(pc, reps), median(ratio, reps),
           agree ? "agree" : "DIFFER", maxrel);
    fflush(stdout);
    if (!agree) exit(2);

    free(tg), free(tc), free(tk), free(ratio), free(pg), free(pc);
    cc_tensor_free(src), cc_tensor_free(dst), cc_tensor_free(out), cc_tensor_free(outbuf);
    cc_tensor_free(init), cc_tensor_free(xv), cc_tensor_free(wt), cc_tensor_free(sxc);
    free(work);
    ggml_free(ctx);
}

int main(int argc, char **argv)
{
    int threads = cc_get_num_threads(), reps = 21, warmup = 3;
    /* the sweep's target shape, Mamba-130m's and -1.4b's inner widths at prompt lengths, a long row */
    shape shapes[16] = {{8, 1024, 2048, 4}, {1, 1536, 2048, 4}, {4, 1536, 512, 4}, {1, 4096, 1024, 4}, {1, 512, 8192, 4}};
    int nshapes = 5, custom = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            shape s;
            long long b, d, l, w;
            if (sscanf(argv[++i], "%lld,%lld,%lld,%lld", &b, &d, &l, &w) != 4 || b < 1 || d < 1 || l < 1 || w < 1 ||
                w > 16) {
                fprintf(stderr, "ggml_ssm_conv_bench: --shape B,D,L,W (W 1..16), got %s\n", argv[i]);
                return 2;
            }
            s.B = b, s.D = d, s.L = l, s.W = w;
            if (!custom) nshapes = 0;   /* the first --shape replaces the default list */
            custom = 1;
            if (nshapes < 16) shapes[nshapes++] = s;
        } else {
            fprintf(stderr, "usage: ggml_ssm_conv_bench [--threads N] [--repeat N] [--shape B,D,L,W]...\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "ggml_ssm_conv_bench: --threads and --repeat must be >= 1\n");
        return 2;
    }
    CHECK(cc_set_num_threads(threads));
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    printf("# ggml_ssm_conv (ggml CPU backend) vs causalconv forward in ggml's layout, and a copy\n");
    printf("# date:    %s\n", date);
    printf("# threads: %d (both libraries, one libgomp; OMP_PROC_BIND=%s OMP_PLACES=%s)\n", threads,
           getenv("OMP_PROC_BIND") ? getenv("OMP_PROC_BIND") : "unset", getenv("OMP_PLACES") ? getenv("OMP_PLACES") : "unset");
    Dl_info lib;
    printf("# library: %s\n", dladdr((void *)cc_causal_conv1d_forward, &lib) && lib.dli_fname ? lib.dli_fname : "?");
    printf("# ggml:    %s\n", ggml_cpu_has_avx512() ? "AVX-512 build" : ggml_cpu_has_avx2() ? "AVX2 build" : "no AVX2");
    printf("# timing:  median of %d samples after %d warm-up calls; ggml, causalconv, copy interleaved\n", reps, warmup);
    printf("# bytes:   sx read + out written; copy: cc_tensor_copy of the same bytes; %% copy and ratio: medians of per-sample values\n");
    printf("# agree:   max |ggml - causalconv| / (1 + |ggml|) over every output < 1e-5\n");
    printf("%-24s %9s %9s %9s %8s %8s %8s %8s %8s %8s\n", "shape", "ggml ms", "cc ms", "copy ms", "ggml GB/s", "cc GB/s",
           "copy GB/s", "ggml %", "cc %", "cc/ggml");
    for (int i = 0; i < nshapes; i++) run_shape(shapes[i], threads, reps, warmup);
    return 0;
}
