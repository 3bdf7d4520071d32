/* The CUDA causal conv1d kernels (run on the CPU emulation) against the CPU reference kernels, on
   random cases covering both layouts, odd strides, misaligned bases, every dtype mix, widths 1..16,
   seq_idx with padding, initial/final states, varlen, update and varlen_states. States must match
   bit for bit; computed values within dtype tolerances. Prints "N passed, N failed".

   Build and run (after `make BUILD=build-cuconv emu`):
     g++ -std=c++17 -O1 -Icore -Ikernels tests/emu/conv_emu_test.cpp -o build-cuconv/conv_emu_test \
         -Lbuild-cuconv/emu -Wl,-rpath,$PWD/build-cuconv/emu -lcausalconv
     build-cuconv/conv_emu_test [cases]   */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vector>
#include <string>
#include <algorithm>
#include "causalconv.h"
#include "dtype.h"
#include "causal_conv1d.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64() { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static int64_t rnd(int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1)); }
static double urand() { return (double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0; }

static int esize(int dt) { return dt == CC_F64 ? 8 : dt == CC_F32 ? 4 : 2; }
static const char *dname(int dt) { static const char *n[] = {"f32", "f64", "f16", "bf16"}; return n[dt]; }

static double get(const void *p, int dt, int64_t i)
{
    switch (dt) {
    case CC_F32: return ((const float *)p)[i];
    case CC_F64: return ((const double *)p)[i];
    case CC_F16: return cc_f16_to_f32_inline(((const uint16_t *)p)[i]);
    default: return cc_bf16_to_f32_inline(((const uint16_t *)p)[i]);
    }
}
static void put(void *p, int dt, int64_t i, double v)
{
    switch (dt) {
    case CC_F32: ((float *)p)[i] = (float)v; break;
    case CC_F64: ((double *)p)[i] = v; break;
    case CC_F16: ((uint16_t *)p)[i] = cc_f32_to_f16_inline((float)v); break;
    default: ((uint16_t *)p)[i] = cc_f32_to_bf16_inline((float)v); break;
    }
}

/* A strided 3-D (or smaller) tensor inside a padded buffer; base may be shifted one element off
   16-byte alignment. */
struct Buf {
    std::vector<unsigned char> mem;
    int dt = CC_F32;
    int64_t off = 0;
    int64_t shape[3] = {1, 1, 1}, stride[3] = {0, 0, 0};
    void *ptr() { return mem.data() + 64 + off * esize(dt); }
    int64_t at(int64_t i, int64_t j, int64_t k) const { return i * stride[0] + j * stride[1] + k * stride[2]; }
};

/* order: logical dims from outermost to innermost; the innermost stride is step; pad adds slack to
   every dim's extent. */
static void make_buf(Buf &b, int dt, int64_t n0, int64_t n1, int64_t n2, const int order[3], int64_t pad, bool misalign,
                     int64_t step = 1)
{
    b.dt = dt;
    int64_t n[3] = {n0, n1, n2};
    b.shape[0] = n0; b.shape[1] = n1; b.shape[2] = n2;
    int64_t s = step;
    for (int q = 2; q >= 0; q--) {
        b.stride[order[q]] = s;
        s *= n[order[q]] + pad;
    }
    b.off = misalign ? 1 : 0;
    b.mem.assign((size_t)((s + 8) * esize(dt) + 128), 0);
    for (int64_t i = 0; i < s + 4; i++) put(b.mem.data() + 64, dt, i, urand());
}

static void fill_copy(Buf &dst, const Buf &src) { dst = src; }

static int g_pass = 0, g_fail = 0;
static std::string g_case;

static bool close_enough(double a, double r, double atol, double rtol) { return fabs(a - r) <= atol + rtol * fabs(r) || (a != a && r != r); }

static double tol_of(int dt) { return dt == CC_F64 ? 1e-10 : dt == CC_F32 ? 2e-5 : dt == CC_F16 ? 2e-3 : 1.6e-2; }

/* Compares two buffers over a logical shape. exact: bitwise equal. */
/* FNV-1a over every buffer the CUDA kernels wrote: the kernels are deterministic, so it must not
   change with CC_EMU_ORDER (tests/run.sh compares it across runs). */
static uint64_t g_digest = 1469598103934665603ull;
static void digest(const Buf &b)
{
    for (unsigned char c : b.mem) g_digest = (g_digest ^ c) * 1099511628211ull;
}

static bool compare(const char *what, Buf &got, Buf &ref, int64_t n0, int64_t n1, int64_t n2, bool exact, double atol, double rtol)
{
    digest(got);
    int es = esize(got.dt);
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            for (int64_t k = 0; k < n2; k++) {
                int64_t o = got.at(i, j, k);
                double g = get(got.ptr(), got.dt, o), r = get(ref.ptr(), ref.dt, o);
                bool ok = exact ? memcmp((char *)got.ptr() + o * es, (char *)ref.ptr() + o * es, es) == 0
                                : close_enough(g, r, atol, rtol);
                if (!ok) {
                    printf("FAIL %s: %s[%lld,%lld,%lld] got %.9g want %.9g\n", g_case.c_str(), what, (long long)i,
                           (long long)j, (long long)k, g, r);
                    return false;
                }
            }
    /* bytes outside the view must be untouched */
    std::vector<char> inside(got.mem.size(), 0);
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            for (int64_t k = 0; k < n2; k++) {
                size_t b0 = (size_t)((char *)got.ptr() - (char *)got.mem.data()) + (size_t)(got.at(i, j, k) * es);
                for (int e = 0; e < es; e++) inside[b0 + e] = 1;
            }
    for (size_t q = 0; q < got.mem.size(); q++)
        if (!inside[q] && got.mem[q] != ref.mem[q]) {
            printf("FAIL %s: %s: byte %zu outside the view was written\n", g_case.c_str(), what, q);
            return false;
        }
    return true;
}

static void result(bool ok) { if (ok) g_pass++; else g_fail++; }

static const int CF[3] = {0, 1, 2}, CL[3] = {0, 2, 1};

static void test_conv(bool varlen, bool backward, int64_t casei)
{
    int xdt = (int)rnd(0, 3), wdt = (int)rnd(0, 3), bdt = (int)rnd(0, 3), sdt = (int)rnd(0, 3);
    int64_t W = rnd(0, 3) ? rnd(2, 4) : rnd(1, 16);
    int64_t B = varlen ? 1 : rnd(1, 3), D = rnd(1, 3) == 1 ? rnd(1, 40) : rnd(1, 3) * 8, L = rnd(0, 4) ? rnd(1, 300) : rnd(1, 12);
    int layout = (int)rnd(0, 2);   /* 0 cf, 1 cl, 2 odd */
    bool misalign = rnd(0, 5) == 0, pad = rnd(0, 2) == 0;
    bool has_bias = rnd(0, 1), silu = rnd(0, 1), has_init = rnd(0, 1), has_final = rnd(0, 1);
    bool has_seq = !varlen && rnd(0, 2) == 0;
    bool has_dbias = rnd(0, 1);
    int64_t N = 0;
    std::vector<int64_t> cu;
    if (varlen) {
        N = rnd(1, 6);
        cu.push_back(0);
        std::vector<int64_t> cuts;
        for (int64_t n = 0; n < N - 1; n++) cuts.push_back(rnd(0, L));
        std::sort(cuts.begin(), cuts.end());
        for (auto v : cuts) cu.push_back(v);
        cu.push_back(L);
    }
    int64_t R = varlen ? N : B, ext = W - 1;
    char name[256];
    snprintf(name, sizeof name, "#%lld %s%s x=%s w=%s b=%s s=%s B=%lld D=%lld L=%lld W=%lld layout=%d mis=%d pad=%d bias=%d silu=%d init=%d final=%d seq=%d N=%lld",
             (long long)casei, varlen ? "varlen " : "", backward ? "bwd" : "fwd", dname(xdt), dname(wdt), dname(bdt),
             dname(sdt), (long long)B, (long long)D, (long long)L, (long long)W, layout, misalign, pad, has_bias, silu,
             has_init, has_final, has_seq, (long long)N);
    g_case = name;
    const int *order = layout == 1 ? CL : CF;
    const int64_t step = layout == 2 ? 2 : 1;   /* layout 2: no unit stride at all */

    Buf x, out_r, out_g, w, bias, init, fin_r, fin_g, dout, dfin, dx_r, dx_g, dw_r, dw_g, db_r, db_g, di_r, di_g;
    make_buf(x, xdt, B, D, L, order, pad ? rnd(1, 9) : 0, misalign, step);
    make_buf(out_r, xdt, B, D, L, order, pad ? rnd(1, 9) : 0, misalign && rnd(0, 1), step);
    fill_copy(out_g, out_r);
    const int wo[3] = {0, 1, 2};
    make_buf(w, wdt, 1, D, W, wo, rnd(0, 1) * 3, false);
    make_buf(bias, bdt, 1, 1, D, wo, rnd(0, 1) * 2, false);
    const int so[3] = {0, 2, 1};
    make_buf(init, sdt, R, D, ext > 0 ? ext : 1, rnd(0, 1) ? so : wo, 0, false);
    make_buf(fin_r, sdt, R, D, ext > 0 ? ext : 1, rnd(0, 1) ? so : wo, 0, false);
    fill_copy(fin_g, fin_r);
    std::vector<int32_t> seq;
    if (has_seq) {
        seq.resize((size_t)(B * L));
        for (int64_t b = 0; b < B; b++) {
            int32_t id = (int32_t)rnd(-1, 1);
            for (int64_t t = 0; t < L; t++) {
                if (rnd(0, 9) == 0) id = (int32_t)rnd(-1, 3);   /* repeats and padding allowed */
                seq[(size_t)(b * L + t)] = id;
            }
        }
    }

    cc_conv1d_args a;
    memset(&a, 0, sizeof a);
    a.B = B; a.D = D; a.L = L; a.W = W;
    a.x_dtype = xdt; a.weight_dtype = wdt; a.bias_dtype = bdt; a.state_dtype = sdt;
    a.silu = silu;
    a.x = x.ptr(); memcpy(a.x_stride, x.stride, sizeof a.x_stride);
    if (varlen) a.x_stride[0] = 0;
    a.weight = w.ptr(); a.weight_stride[0] = w.stride[1]; a.weight_stride[1] = w.stride[2];
    if (has_bias) { a.bias = bias.ptr(); a.bias_stride = bias.stride[2]; }
    if (has_seq) { a.seq_idx = seq.data(); a.seq_idx_stride[0] = L; a.seq_idx_stride[1] = 1; }
    if (has_init && ext > 0) { a.initial_states = init.ptr(); memcpy(a.initial_states_stride, init.stride, sizeof init.stride); }
    if (varlen) { a.cu_seqlens = cu.data(); a.cu_seqlens_dtype = CC_I64; a.N = N; }

    bool ok = true;
    if (!backward) {
        cc_conv1d_args ar = a, ag = a;
        ar.out = out_r.ptr(); ag.out = out_g.ptr();
        memcpy(ar.out_stride, out_r.stride, sizeof ar.out_stride); memcpy(ag.out_stride, out_g.stride, sizeof ag.out_stride);
        if (varlen) ar.out_stride[0] = ag.out_stride[0] = 0;
        if (has_final && ext > 0) {
            ar.final_states = fin_r.ptr(); ag.final_states = fin_g.ptr();
            memcpy(ar.final_states_stride, fin_r.stride, sizeof fin_r.stride);
            memcpy(ag.final_states_stride, fin_g.stride, sizeof fin_g.stride);
        }
        cc_cpu_causal_conv1d_forward_ref(&ar);
        int st = cc_cuda_causal_conv1d_forward(&ag);
        if (st != CC_OK) { printf("FAIL %s: status %d %s\n", name, st, cc_last_error()); result(false); return; }
        ok = compare("out", out_g, out_r, B, D, L, false, tol_of(xdt), tol_of(xdt));
        if (ok && has_final && ext > 0) ok = compare("final_states", fin_g, fin_r, R, D, ext, true, 0, 0);
        result(ok);
        return;
    }
    make_buf(dout, xdt, B, D, L, rnd(0, 1) ? order : CF, pad ? rnd(1, 5) : 0, misalign && rnd(0, 1));
    make_buf(dfin, sdt, R, D, ext > 0 ? ext : 1, rnd(0, 1) ? so : wo, 0, false);
    make_buf(dx_r, xdt, B, D, L, order, pad ? rnd(1, 5) : 0, misalign && rnd(0, 1), step);
    fill_copy(dx_g, dx_r);
    make_buf(dw_r, wdt, 1, D, W, wo, rnd(0, 1) * 2, false);
    fill_copy(dw_g, dw_r);
    make_buf(db_r, has_bias ? bdt : (int)rnd(0, 3), 1, 1, D, wo, 0, false);
    fill_copy(db_g, db_r);
    make_buf(di_r, sdt, R, D, ext > 0 ? ext : 1, rnd(0, 1) ? so : wo, 0, false);
    fill_copy(di_g, di_r);
    bool has_dfin = has_final && ext > 0, has_di = has_init && ext > 0 && rnd(0, 3);
    a.dout = dout.ptr(); memcpy(a.dout_stride, dout.stride, sizeof a.dout_stride);
    if (varlen) a.dout_stride[0] = 0;
    if (has_dfin) { a.dfinal_states = dfin.ptr(); memcpy(a.dfinal_states_stride, dfin.stride, sizeof dfin.stride); }
    if (!has_bias) a.bias_dtype = db_r.dt;
    cc_conv1d_args ar = a, ag = a;
    ar.dx = dx_r.ptr(); ag.dx = dx_g.ptr();
    memcpy(ar.dx_stride, dx_r.stride, sizeof ar.dx_stride); memcpy(ag.dx_stride, dx_g.stride, sizeof ag.dx_stride);
    if (varlen) ar.dx_stride[0] = ag.dx_stride[0] = 0;
    ar.dweight = dw_r.ptr(); ag.dweight = dw_g.ptr();
    ar.dweight_stride[0] = ag.dweight_stride[0] = dw_r.stride[1];
    ar.dweight_stride[1] = ag.dweight_stride[1] = dw_r.stride[2];
    if (has_dbias) { ar.dbias = db_r.ptr(); ag.dbias = db_g.ptr(); ar.dbias_stride = ag.dbias_stride = db_r.stride[2]; }
    if (has_di) {
        ar.dinitial_states = di_r.ptr(); ag.dinitial_states = di_g.ptr();
        memcpy(ar.dinitial_states_stride, di_r.stride, sizeof di_r.stride);
        memcpy(ag.dinitial_states_stride, di_g.stride, sizeof di_g.stride);
    }
    cc_cpu_causal_conv1d_backward_ref(&ar);
    int st = cc_cuda_causal_conv1d_backward(&ag);
    if (st != CC_OK) { printf("FAIL %s: status %d %s\n", name, st, cc_last_error()); result(false); return; }
    double t = tol_of(xdt);
    /* reductions over B*L terms in f32 against the f64 reference */
    double red = (xdt == CC_F64 ? 1e-9 : 1e-4) * sqrt((double)(B * L) + 1.0) * 4;
    ok = compare("dx", dx_g, dx_r, B, D, L, false, 2 * t, 2 * t);
    if (ok) ok = compare("dweight", dw_g, dw_r, 1, D, W, false, red + tol_of(wdt), tol_of(wdt));
    if (ok && has_dbias) ok = compare("dbias", db_g, db_r, 1, 1, D, false, red + tol_of(db_r.dt), tol_of(db_r.dt));
    if (ok && has_di) ok = compare("dinitial_states", di_g, di_r, R, D, ext, false, 2 * t + tol_of(sdt), 2 * t + tol_of(sdt));
    result(ok);
}

static void test_update(int64_t casei)
{
    int xdt = (int)rnd(0, 3), wdt = (int)rnd(0, 3), bdt = (int)rnd(0, 3), sdt = rnd(0, 2) ? xdt : (int)rnd(0, 3);
    int64_t W = rnd(0, 3) ? rnd(2, 4) : rnd(1, 16), B = rnd(1, 5), D = rnd(1, 40), S = rnd(1, 3) == 1 ? rnd(1, 20) : 1;
    int64_t SL = W - 1 + rnd(0, 5);
    bool circ = rnd(0, 1), idx = rnd(0, 1), has_bias = rnd(0, 1), silu = rnd(0, 1);
    int64_t pool = idx ? B + rnd(0, 4) : B;
    char name[256];
    snprintf(name, sizeof name, "#%lld update x=%s w=%s s=%s B=%lld D=%lld S=%lld W=%lld SL=%lld circ=%d idx=%d",
             (long long)casei, dname(xdt), dname(wdt), dname(sdt), (long long)B, (long long)D, (long long)S,
             (long long)W, (long long)SL, circ, idx);
    g_case = name;
    const int *xo = rnd(0, 1) ? CF : CL;
    Buf x, out_r, out_g, w, bias, st_r, st_g;
    make_buf(x, xdt, B, D, S, xo, rnd(0, 1) * 3, false);
    make_buf(out_r, xdt, B, D, S, xo, rnd(0, 1) * 3, false);
    fill_copy(out_g, out_r);
    make_buf(w, wdt, 1, D, W, CF, 0, false);
    make_buf(bias, bdt, 1, 1, D, CF, 0, false);
    make_buf(st_r, sdt, pool, D, SL > 0 ? SL : 1, rnd(0, 1) ? CF : CL, rnd(0, 1) * 2, false);
    fill_copy(st_g, st_r);
    std::vector<int32_t> cs(B), ci(B);
    for (int64_t b = 0; b < B; b++) cs[b] = (int32_t)rnd(-40, 40);
    /* distinct pool rows, some padding */
    std::vector<int32_t> perm(pool);
    for (int64_t i = 0; i < pool; i++) perm[i] = (int32_t)i;
    for (int64_t i = pool - 1; i > 0; i--) std::swap(perm[i], perm[rnd(0, i)]);
    for (int64_t b = 0; b < B; b++) ci[b] = rnd(0, 4) == 0 ? -1 : perm[b];
    cc_conv1d_update_args a;
    memset(&a, 0, sizeof a);
    a.B = B; a.D = D; a.S = S; a.W = W; a.state_len = SL;
    a.x_dtype = xdt; a.weight_dtype = wdt; a.bias_dtype = bdt; a.state_dtype = sdt; a.silu = silu;
    a.x = x.ptr(); memcpy(a.x_stride, x.stride, sizeof a.x_stride);
    a.weight = w.ptr(); a.weight_stride[0] = w.stride[1]; a.weight_stride[1] = w.stride[2];
    if (has_bias) { a.bias = bias.ptr(); a.bias_stride = 1; }
    if (circ) { a.cache_seqlens = cs.data(); a.cache_seqlens_stride = 1; }
    if (idx) { a.conv_state_indices = ci.data(); a.conv_state_indices_stride = 1; }
    cc_conv1d_update_args ar = a, ag = a;
    ar.out = out_r.ptr(); ag.out = out_g.ptr();
    memcpy(ar.out_stride, out_r.stride, sizeof ar.out_stride); memcpy(ag.out_stride, out_g.stride, sizeof ag.out_stride);
    ar.conv_state = st_r.ptr(); ag.conv_state = st_g.ptr();
    memcpy(ar.conv_state_stride, st_r.stride, sizeof st_r.stride); memcpy(ag.conv_state_stride, st_g.stride, sizeof st_g.stride);
    cc_cpu_causal_conv1d_update_ref(&ar);
    int st = cc_cuda_causal_conv1d_update(&ag);
    if (st != CC_OK) { printf("FAIL %s: status %d %s\n", name, st, cc_last_error()); result(false); return; }
    bool ok = compare("out", out_g, out_r, B, D, S, false, tol_of(xdt), tol_of(xdt));
    if (ok) ok = compare("conv_state", st_g, st_r, pool, D, SL, true, 0, 0);
    result(ok);
}

static void test_states(int64_t casei)
{
    int xdt = (int)rnd(0, 3), sdt = rnd(0, 1) ? xdt : (int)rnd(0, 3);
    int64_t D = rnd(1, 40), N = rnd(1, 6), SL = rnd(1, 20);
    std::vector<int32_t> cu(1, 0);
    for (int64_t n = 0; n < N; n++) cu.push_back(cu.back() + (int32_t)rnd(0, 25));
    int64_t T = cu.back();
    char name[160];
    snprintf(name, sizeof name, "#%lld varlen_states x=%s s=%s D=%lld N=%lld SL=%lld T=%lld", (long long)casei,
             dname(xdt), dname(sdt), (long long)D, (long long)N, (long long)SL, (long long)T);
    g_case = name;
    Buf x, s_r, s_g;
    make_buf(x, xdt, 1, T > 0 ? T : 1, D, CF, rnd(0, 1) * 3, false);
    make_buf(s_r, sdt, N, D, SL, rnd(0, 1) ? CF : CL, 0, false);
    fill_copy(s_g, s_r);
    cc_conv1d_states_args a;
    memset(&a, 0, sizeof a);
    a.T = T; a.D = D; a.N = N; a.state_len = SL; a.x_dtype = xdt; a.state_dtype = sdt;
    a.x = x.ptr(); a.x_stride[0] = x.stride[1]; a.x_stride[1] = x.stride[2];
    a.cu_seqlens = cu.data(); a.cu_seqlens_dtype = CC_I32;
    cc_conv1d_states_args ar = a, ag = a;
    ar.states = s_r.ptr(); ag.states = s_g.ptr();
    memcpy(ar.states_stride, s_r.stride, sizeof s_r.stride); memcpy(ag.states_stride, s_g.stride, sizeof s_g.stride);
    cc_cpu_causal_conv1d_varlen_states_ref(&ar);
    int st = cc_cuda_causal_conv1d_varlen_states(&ag);
    if (st != CC_OK) { printf("FAIL %s: status %d %s\n", name, st, cc_last_error()); result(false); return; }
    result(compare("states", s_g, s_r, N, D, SL, true, 0, 0));
}

int main(int argc, char **argv)
{
    int64_t cases = argc > 1 ? atoll(argv[1]) : 200;
    if (argc > 2) rng = (uint64_t)atoll(argv[2]) * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < cases; i++) {
        switch (i % 6) {
        case 0: test_conv(false, false, i); break;
        case 1: test_conv(false, true, i); break;
        case 2: test_conv(true, false, i); break;
        case 3: test_conv(true, true, i); break;
        case 4: test_update(i); break;
        default: test_states(i); break;
        }
    }
    printf("digest %016llx\n", (unsigned long long)g_digest);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
