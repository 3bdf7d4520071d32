/* Causal depthwise conv1d forward on CUDA (dense and varlen).

   Paths (every one serves every feature: seq_idx, initial states, varlen, SiLU):
   - channel-first (x and out L-contiguous), f32/f16/bf16, W 1..4: a thread owns NE consecutive
     positions (two 16-byte vectors), tpr threads (a power of two)
     work one split of a (b, c) line, several lines per 128-thread block when lines are short.
     The W-1 halo comes from the previous lane by warp shuffle; the first lane of a warp or unit
     reloads it from global (an L1/L2 hit), the line start takes the initial state.
   - channel-last (x and out D-contiguous), f32/f16/bf16, W 1..4: a thread owns CV channels (one
     16-byte vector) and LC positions, walked with a register window
     along L; 4 positions are loaded before any is computed. The halo of a run is reloaded
     (W-1 of LC positions). Varlen resets the window at each sequence start.
   - generic: one thread per output element, any strides, f64, widths 5..16 (run-time W, the
     W taps of an output hit L1). Threads walk the axis that is contiguous in x fastest.
   - final states: a small kernel over (row, D, W-1), run after the main one.
   The fast kernels run a 4-tap window with the weights right-aligned (leading taps 0), so W = 1..4
   share one instantiation per dtype, layout and masking (seq_idx / varlen keys compiled in or out). */
#include "causal_conv1d_common.cuh"

/* out (B, D, L) from x (B, D, L); one thread per output element */
template <int DT>
__global__ void cv_fwd_generic_kernel(const cc_conv1d_args a, int chan_fast)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    const int64_t D = a.D, L = a.L;
    CV_GRID_STRIDE(i, a.B * D * L) {
        int64_t b, c, t;
        if (chan_fast) { c = i % D; int64_t q = i / D; t = q % L; b = q / L; }
        else           { t = i % L; int64_t q = i / L; c = q % D; b = q / D; }
        cv_row row;
        if (!cv_row_of(a, b, t, row)) continue;   /* varlen positions outside every sequence */
        int64_t tr = t - row.start;
        A v = (A)0;
        if (cv_seg(&a, &row, tr) >= 0) {
            A pre = cv_pre<DT>(a, row, c, tr);
            v = a.silu ? cc_silu(pre) : pre;
        }
        ((S *)a.out)[b * a.out_stride[0] + c * a.out_stride[1] + t * a.out_stride[2]] = cc_narrow<typename cc_dt<DT>::S>(v);
    }
}

/* final_states (rows, D, W-1), one slot per thread: cv_write_final_state (kernels/causal_conv1d.h). */
__global__ void cv_final_states_kernel(const cc_conv1d_args a)
{
    const int64_t ext = a.W - 1, D = a.D;
    CV_GRID_STRIDE(i, cv_num_rows(&a) * D * ext) {
        int64_t c = i % D, q = i / D, j = q % ext, r = q / ext;
        cv_row row = cv_get_row(&a, r);
        cv_write_final_state(&a, &row, c, j);
    }
}

template <int DT, int KW> struct cv_cf_ne {
    static constexpr int VEC = 16 / (int)sizeof(typename cc_dt<DT>::S);
    static constexpr int value = 2 * VEC;
};

/* out (B, D, L) with L contiguous; unit = one split of line (b, c); thread = NE positions.
   MASK: seq_idx or varlen keys (compiled out of the plain kernel to save registers). */
template <int DT, int KW, bool MASK>
__global__ void __launch_bounds__(CV_CF_THREADS) cv_fwd_cf_kernel(const cc_conv1d_args a, const cv_tiles tl)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    constexpr int NE = cv_cf_ne<DT, KW>::value, H = KW - 1;
    const int tpr = tl.tpr, lt = threadIdx.x % tpr, lane = threadIdx.x % 32;
    const int64_t upb = CV_CF_THREADS / tpr, L = a.L;
    constexpr bool masked = MASK;
    for (int64_t ub = blockIdx.x * upb; ub < tl.units; ub += (int64_t)gridDim.x * upb) {
        const int64_t u = ub + threadIdx.x / tpr;
        const bool valid = u < tl.units;
        const int64_t line = valid ? u / tl.P : 0, split = valid ? u % tl.P : 0;
        const int64_t b = line / a.D, c = line % a.D;
        A w[KW];
        cv_load_weights(w, a, c);
        const A bias = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
        const S *xl = (const S *)a.x + b * a.x_stride[0] + c * a.x_stride[1];
        S *ol = (S *)a.out + b * a.out_stride[0] + c * a.out_stride[1];
        const int64_t ch_first = split * tl.cps;
        const int64_t ch_end = ch_first + tl.cps < tl.nchunk ? ch_first + tl.cps : tl.nchunk;
        for (int64_t it = 0; it < tl.cps; it += tpr) {
            if (ch_first + it >= ch_end) break;   /* uniform: only long lines (tpr = block) loop */
            const int64_t ch = ch_first + it + lt;
            const bool active = valid && ch < ch_end;
            const int64_t t0 = ch * NE, n = active ? (L - t0 < NE ? L - t0 : NE) : 0;
            A xw[H + NE], cur[NE];
            cv_load_run<DT, NE>(cur, xl + t0, n, tl.vec);
            cv_cf_window<DT, NE, H>(xw, cur, a, xl, b, c, t0, active, lt == 0 || lane == 0);
            if (!active) continue;
            A o[NE];
            if (!masked) {
                #pragma unroll
                for (int i = 0; i < NE; i++) {
                    A pre = bias;
                    #pragma unroll
                    for (int k = 0; k < KW; k++) pre += w[k] * xw[i + k];
                    o[i] = a.silu ? cc_silu(pre) : pre;
                }
            } else {
                /* keys: seq_idx segment, or varlen sequence index, of each window position */
                int64_t kw[H + NE];
                if (a.seq_idx) {
                    const int32_t *sq = a.seq_idx + b * a.seq_idx_stride[0];
                    #pragma unroll
                    for (int h = 0; h < H + NE; h++) {
                        int64_t p = t0 - H + h;
                        kw[h] = p >= L ? -1 : sq[(p > 0 ? p : 0) * a.seq_idx_stride[1]];
                    }
                } else {
                    cv_seq_walk sw = cv_walk_begin(a, t0 - H > 0 ? t0 - H : 0);
                    #pragma unroll
                    for (int h = 0; h < H + NE; h++) {
                        int64_t p = t0 - H + h;
                        if (p >= 0 && p < L) cv_walk_to(a, sw, p);
                        kw[h] = p < 0 || p >= L ? -1 : sw.n;
                    }
                }
                #pragma unroll
                for (int i = 0; i < NE; i++) {
                    const int64_t kt = kw[H + i];
                    o[i] = (A)0;
                    if (kt < 0) continue;   /* padding token, or past the line */
                    A pre = bias;
                    #pragma unroll
                    for (int k = 0; k < KW; k++) pre += w[k] * cv_cf_tap<A, KW>(a, xw, kw, i, k, kt, c, t0);
                    o[i] = a.silu ? cc_silu(pre) : pre;
                }
            }
            cv_store_run<DT, NE>(ol + t0, o, n, tl.vec);
        }
    }
}

template <int DT, int KW> struct cv_cl_cv {
    static constexpr int VEC = 16 / (int)sizeof(typename cc_dt<DT>::S);
    static constexpr int value = VEC;
};

/* out (B, D, L) with D contiguous; thread = CV channels x LC positions with a register window */
template <int DT, int KW, bool MASK>
__global__ void __launch_bounds__(128) cv_fwd_cl_kernel(const cc_conv1d_args a, const cv_cl_tiles tl)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    constexpr int CV = cv_cl_cv<DT, KW>::value, H = KW - 1, U = 4;
    const int64_t L = a.L, W = a.W, D = a.D, xs2 = a.x_stride[2], os2 = a.out_stride[2];
    CV_GRID_STRIDE(u, tl.units) {
        const int64_t g = u % tl.G, q = u / tl.G, lc = q % tl.NLC, b = q / tl.NLC;
        const int64_t c0 = g * CV, nc = D - c0 < CV ? D - c0 : CV;
        const int64_t t0 = lc * tl.LC, t1 = t0 + tl.LC < L ? t0 + tl.LC : L;
        const bool vec = tl.vec && nc == CV;
        A w[CV][KW], bias[CV], xw[CV][H];
        #pragma unroll
        for (int j = 0; j < CV; j++) {
            int64_t c = j < nc ? c0 + j : c0;
            cv_load_weights(w[j], a, c);
            bias[j] = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
        }
        const S *xb = (const S *)a.x + b * a.x_stride[0] + c0 * a.x_stride[1];
        S *ob = (S *)a.out + b * a.out_stride[0] + c0 * a.out_stride[1];
        const int32_t *sq = MASK && a.seq_idx ? a.seq_idx + b * a.seq_idx_stride[0] : NULL;
        cv_seq_walk sw = {0, 0, L};
        if (MASK && a.cu_seqlens) sw = cv_walk_begin(a, t0);
        const int64_t rs = MASK && a.cu_seqlens ? sw.n : b;
        int32_t kw[H];
        #pragma unroll
        for (int h = 0; h < H; h++) {
            const int64_t p = t0 - H + h;
            A v[CV];
            cv_cl_xe_row<DT, CV>(v, a, xb, xs2, p, sw.start, rs, c0, nc, vec);
            #pragma unroll
            for (int j = 0; j < CV; j++) xw[j][h] = v[j];
            kw[h] = MASK && sq ? sq[(p > 0 ? p : 0) * a.seq_idx_stride[1]] : 0;
        }
        for (int64_t tb = t0; tb < t1; tb += U) {
            A xs[U][CV];
            int32_t ks[U];
            #pragma unroll
            for (int uu = 0; uu < U; uu++) {
                const int64_t t = tb + uu;
                cv_load_run<DT, CV>(xs[uu], xb + t * xs2, t < t1 ? nc : 0, vec);
                ks[uu] = MASK && sq && t < t1 ? sq[t * a.seq_idx_stride[1]] : 0;
            }
            #pragma unroll
            for (int uu = 0; uu < U; uu++) {
                const int64_t t = tb + uu;
                if (t >= t1) break;
                if (MASK && a.cu_seqlens && cv_walk_to(a, sw, t)) {
                    /* a new sequence starts at t: the window holds its initial state */
                    #pragma unroll
                    for (int j = 0; j < CV; j++)
                        #pragma unroll
                        for (int h = 0; h < H; h++)
                            xw[j][h] = j < nc ? cv_init_at<A>(a, sw.n, c0 + j, W - 1 + (t - H + h) - sw.start) : (A)0;
                }
                A o[CV];
                #pragma unroll
                for (int j = 0; j < CV; j++) {
                    A pre = bias[j] + w[j][H] * xs[uu][j];
                    #pragma unroll
                    for (int h = 0; h < H; h++)
                        if (!MASK || kw[h] == ks[uu]) pre += w[j][h] * xw[j][h];
                    o[j] = MASK && ks[uu] < 0 ? (A)0 : a.silu ? cc_silu(pre) : pre;
                }
                cv_store_run<DT, CV>(ob + t * os2, o, nc, vec);
                #pragma unroll
                for (int h = 0; h + 1 < H; h++) {
                    kw[h] = kw[h + 1];
                    #pragma unroll
                    for (int j = 0; j < CV; j++) xw[j][h] = xw[j][h + 1];
                }
                kw[H - 1] = ks[uu];
                #pragma unroll
                for (int j = 0; j < CV; j++) xw[j][H - 1] = xs[uu][j];
            }
        }
    }
}

template <int DT, int KW, bool MASK>
static void cv_fwd_cf(const cc_conv1d_args *a)
{
    constexpr int NE = cv_cf_ne<DT, KW>::value;
    cv_tiles tl = cv_make_tiles(a->B * a->D, a->L, NE, 4);
    int es = (int)sizeof(typename cc_dt<DT>::S);
    tl.vec = cv_aligned(a->x, es, a->B, a->x_stride[0], a->D, a->x_stride[1]) &&
             cv_aligned(a->out, es, a->B, a->out_stride[0], a->D, a->out_stride[1]);
    int64_t upb = CV_CF_THREADS / tl.tpr;
    void (*k)(const cc_conv1d_args, const cv_tiles) = cv_fwd_cf_kernel<DT, KW, MASK>;
    CC_LAUNCH(k, cv_blocks((tl.units + upb - 1) / upb, 1), CV_CF_THREADS, 0, *a, tl);
}

template <int DT, int KW, bool MASK>
static void cv_fwd_cl(const cc_conv1d_args *a)
{
    constexpr int CV = cv_cl_cv<DT, KW>::value;
    cv_cl_tiles tl = cv_make_cl_tiles(a->B, a->D, a->L, CV);
    int es = (int)sizeof(typename cc_dt<DT>::S);
    tl.vec = cv_aligned(a->x, es, a->B, a->x_stride[0], a->L, a->x_stride[2]) &&
             cv_aligned(a->out, es, a->B, a->out_stride[0], a->L, a->out_stride[2]);
    void (*k)(const cc_conv1d_args, const cv_cl_tiles) = cv_fwd_cl_kernel<DT, KW, MASK>;
    CC_LAUNCH(k, cv_blocks(tl.units, 128), 128, 0, *a, tl);
}

/* Fast path by layout; false when only the generic kernel applies. Widths 1..4 share one 4-tap
   window (leading weights 0): one instantiation per dtype, layout and masking. */
template <int DT>
static bool cv_fwd_fast(const cc_conv1d_args *a)
{
    const bool cf = a->x_stride[2] == 1 && a->out_stride[2] == 1;
    const bool cl = a->x_stride[1] == 1 && a->out_stride[1] == 1;
    if ((!cf && !cl) || a->W > 4) return false;
    /* channel-first unless the lines are short and the channels contiguous */
    const bool use_cf = cf && (!cl || a->L >= 64);
    const bool mask = a->seq_idx || a->cu_seqlens;
    if (use_cf) {
        if (mask) cv_fwd_cf<DT, 4, true>(a); else cv_fwd_cf<DT, 4, false>(a);
    } else {
        if (mask) cv_fwd_cl<DT, 4, true>(a); else cv_fwd_cl<DT, 4, false>(a);
    }
    return true;
}

template <int DT>
static void cv_fwd_generic(const cc_conv1d_args *a)
{
    const int threads = 256;
    int chan_fast = a->x_stride[1] == 1 && a->x_stride[2] != 1;
    CC_LAUNCH(cv_fwd_generic_kernel<DT>, cv_blocks(a->B * a->D * a->L, threads), threads, 0, *a, chan_fast);
}

extern "C" int cc_cuda_causal_conv1d_forward(const cc_conv1d_args *a)
{
    if (a->B * a->D * a->L > 0) {
        switch (a->x_dtype) {
        case CC_F32:  if (!cv_fwd_fast<CC_F32>(a)) cv_fwd_generic<CC_F32>(a); break;
        case CC_F16:  if (!cv_fwd_fast<CC_F16>(a)) cv_fwd_generic<CC_F16>(a); break;
        case CC_BF16: if (!cv_fwd_fast<CC_BF16>(a)) cv_fwd_generic<CC_BF16>(a); break;
        default:      cv_fwd_generic<CC_F64>(a); break;
        }
    }
    int64_t R = cv_num_rows(a);
    if (a->final_states && R * a->D * (a->W - 1) > 0)
        CC_LAUNCH(cv_final_states_kernel, cv_blocks(R * a->D * (a->W - 1), 256), 256, 0, *a);
    return cc_cuda_launch_status("causal_conv1d_forward");
}
