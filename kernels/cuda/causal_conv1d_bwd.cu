/* Causal depthwise conv1d backward on CUDA (dense and varlen).

   gz[t] = dout[t] (times silu'(pre[t]) with pre recomputed from x), 0 on padding tokens.
   dx[p] = sum_k w[k] gz[p+W-1-k] over t in p's segment, plus dfinal for the last W-1 positions.
   dweight/dbias are reduced without atomics: every block writes its partial sums to a workspace
   ws[P][D][W+1] (slot W is the bias), and a second kernel sums the P partials in a fixed order, so
   the result is bit-identical run to run.

   Paths (each serves every feature; the fast ones run a 4-tap window with right-aligned weights,
   so W = 1..4 share one instantiation per dtype, layout and masking):
   - channel-first (x, dout, dx L-contiguous), f32/f16/bf16, W 1..4: the forward's tiling with one
     16-byte vector of positions per thread (tpr threads a split of a (b, c) line). x's W-1 halo comes from the previous lane,
     gz's W-1 right halo from the next lane (warp shuffles); lanes at a warp or split edge
     recompute it from global. dweight/dbias: per-thread sums over the split, reduced over the
     unit (xor shuffles, then shared memory across warps), one partial per (b, split, c).
   - channel-last (x, dout, dx D-contiguous), f32/f16/bf16, W 1..4: a thread owns 4 channels (a 16-
     or 8-byte vector) and a run of LS positions, swept left to right with register windows: x (W-1 back)
     for the pre-activation and dweight, gz (W-1 back) so dx[p] is emitted at step p+W-1 (the dout
     halo to the right is read by sweeping W-1 steps past the run). A 128-thread block holds
     BX channel groups x BY runs; dweight/dbias are reduced over the BY runs in shared memory.
   - generic: dx one thread per element (gz recomputed per tap), dweight one block per
     (channel, split of the B*L positions); any strides, f64, widths 5..16 (run-time W).
   - dinitial_states: a small kernel over (row, D, W-1), gz recomputed. */
#include "causal_conv1d_common.cuh"
#include "cuda_backend.h"

/* gz at row position t (0 <= t < len) */
template <int DT> CV_DEV typename cc_dt<DT>::A cv_gz(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t t)
{
    typedef typename cc_dt<DT>::A A;
    if (cv_seg(&a, &row, t) < 0) return (A)0;
    A g = cc_widen(((const typename cc_dt<DT>::S *)a.dout)[row.b * a.dout_stride[0] + c * a.dout_stride[1] +
                                                            (row.start + t) * a.dout_stride[2]]);
    if (a.silu) g *= cc_dsilu(cv_pre<DT>(a, row, c, t));
    return g;
}

/* d loss / d xe[p], -(W-1) <= p < len: the taps of p's segment plus the dfinal pass-through */
template <int DT> CV_DEV typename cc_dt<DT>::A cv_dxe(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t p)
{
    typedef typename cc_dt<DT>::A A;
    const int64_t ext = a.W - 1;
    int32_t sp = cv_seg(&a, &row, p);
    A g = (A)0;
    int64_t j = p - (row.len - ext);
    if (a.dfinal_states && j >= 0 && cv_final_keeps(&a, &row, p)) {
        const int64_t *fs = a.dfinal_states_stride;
        g = cc_load_as<A>(a.dfinal_states, a.state_dtype, row.s * fs[0] + c * fs[1] + j * fs[2]);
    }
    for (int64_t k = 0; k < a.W; k++) {
        int64_t t = p + ext - k;
        if (t >= 0 && t < row.len && cv_seg(&a, &row, t) == sp)
            g += cc_load_as<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + k * a.weight_stride[1]) * cv_gz<DT>(a, row, c, t);
    }
    return g;
}


/* positions per thread (channel-first) and channels per thread (channel-last): one 16-byte vector
   of positions; 4 channels (16 or 8 bytes), which keeps the register windows of the sweep small */
template <int DT> struct cv_bwd_geom {
    static constexpr int NE = 16 / (int)sizeof(typename cc_dt<DT>::S);
    static constexpr int CV = 4;
};

/* gz at absolute position q of line (b, c), from global memory (edge lanes); 0 past the line */
template <int DT> CV_COLD typename cc_dt<DT>::A cv_gz_abs(const cc_conv1d_args &a, int64_t b, int64_t c, int64_t q)
{
    cv_row row;
    if (q >= a.L || !cv_row_of(a, b, q, row)) return (typename cc_dt<DT>::A)0;
    return cv_gz<DT>(a, row, c, q - row.start);
}

/* dfinal contribution to dx at absolute position p of line (b, c) whose key is kp (dense: klast
   is the key of the line's last token) */
template <class A> CV_COLD A cv_dfinal_at(const cc_conv1d_args &a, int64_t b, int64_t c, int64_t p, int64_t kp, int64_t klast)
{
    const int64_t *fs = a.dfinal_states_stride;
    if (a.cu_seqlens) {
        if (kp < 0) return (A)0;
        int64_t end = cc_load_index(a.cu_seqlens, a.cu_seqlens_dtype, kp + 1), j = p - (end - (a.W - 1));
        return j >= 0 ? cc_load_as<A>(a.dfinal_states, a.state_dtype, kp * fs[0] + c * fs[1] + j * fs[2]) : (A)0;
    }
    int64_t j = p - (a.L - (a.W - 1));
    if (j < 0 || (a.seq_idx && (klast < 0 || kp != klast))) return (A)0;
    return cc_load_as<A>(a.dfinal_states, a.state_dtype, b * fs[0] + c * fs[1] + j * fs[2]);
}

/* dx (B, D, L) with L contiguous, partial dweight/dbias into ws[B*P][D][W+1]; MASK: seq_idx or
   varlen keys (compiled out of the plain kernel) */
template <int DT, int KW, bool MASK>
__global__ void __launch_bounds__(CV_CF_THREADS) cv_bwd_cf_kernel(const cc_conv1d_args a, const cv_tiles tl,
                                                                  typename cc_dt<DT>::A *ws)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    constexpr int NE = cv_bwd_geom<DT>::NE, H = KW - 1, NK = 2 * H + NE;
    CC_DYNAMIC_SMEM(A, red);
    const int tpr = tl.tpr, lt = threadIdx.x % tpr, lane = threadIdx.x % 32;
    const int64_t upb = CV_CF_THREADS / tpr, L = a.L, W = a.W;
    constexpr bool masked = MASK;
    for (int64_t ub = blockIdx.x * upb; ub < tl.units; ub += (int64_t)gridDim.x * upb) {
        const int64_t u = ub + threadIdx.x / tpr;
        const bool valid = u < tl.units;
        const int64_t line = valid ? u / tl.P : 0, split = valid ? u % tl.P : 0;
        const int64_t b = line / a.D, c = line % a.D;
        A w[KW], dw[KW + 1];
        cv_load_weights(w, a, c);
        #pragma unroll
        for (int k = 0; k <= KW; k++) dw[k] = (A)0;
        const A bias = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
        const S *xl = (const S *)a.x + b * a.x_stride[0] + c * a.x_stride[1];
        const S *gl = (const S *)a.dout + b * a.dout_stride[0] + c * a.dout_stride[1];
        S *dl = (S *)a.dx + b * a.dx_stride[0] + c * a.dx_stride[1];
        const int32_t *sq = MASK && a.seq_idx ? a.seq_idx + b * a.seq_idx_stride[0] : NULL;
        const int64_t klast = sq && L > 0 ? sq[(L - 1) * a.seq_idx_stride[1]] : 0;
        const int64_t ch_first = split * tl.cps;
        const int64_t ch_end = ch_first + tl.cps < tl.nchunk ? ch_first + tl.cps : tl.nchunk;
        for (int64_t it = 0; it < tl.cps; it += tpr) {
            if (ch_first + it >= ch_end) break;   /* uniform: only long lines (tpr = block) loop */
            const int64_t ch = ch_first + it + lt;
            const bool active = valid && ch < ch_end;
            const int64_t t0 = ch * NE, n = active ? (L - t0 < NE ? L - t0 : NE) : 0;
            A xw[H + NE], cur[NE], g[NE];
            cv_load_run<DT, NE>(cur, xl + t0, n, tl.vec);
            cv_load_run<DT, NE>(g, gl + t0, n, tl.vec);
            cv_cf_window<DT, NE, H>(xw, cur, a, xl, b, c, t0, active, lt == 0 || lane == 0);
            /* keys of positions t0-H .. t0+NE+H-1 (masked paths only) */
            int32_t kw[NK];
            #pragma unroll
            for (int h = 0; h < NK; h++) kw[h] = 0;
            if (masked && active) {
                if (sq) {
                    #pragma unroll
                    for (int h = 0; h < NK; h++) {
                        int64_t p = t0 - H + h;
                        kw[h] = p >= L ? -1 : sq[(p > 0 ? p : 0) * a.seq_idx_stride[1]];
                    }
                } else {
                    cv_seq_walk sw = cv_walk_begin(a, t0 - H > 0 ? t0 - H : 0);
                    #pragma unroll
                    for (int h = 0; h < NK; h++) {
                        int64_t p = t0 - H + h;
                        if (p >= 0 && p < L) cv_walk_to(a, sw, p);
                        kw[h] = p < 0 || p >= L ? -1 : (int32_t)sw.n;
                    }
                }
            }
            /* gz of the own positions, and the tap values feeding them (masked taps replaced) */
            A gz[NE + H];
            #pragma unroll
            for (int i = 0; i < NE; i++) {
                A pre = bias;
                const int32_t kt = kw[H + i];
                #pragma unroll
                for (int k = 0; k < KW; k++) {
                    pre += w[k] * (masked ? cv_cf_tap<A, KW>(a, xw, kw, i, k, kt, c, t0) : xw[i + k]);
                }
                A gi = g[i];
                if (masked && kt < 0) gi = (A)0;
                else if (a.silu) gi *= cc_dsilu(pre);
                gz[i] = gi;
            }
            /* right halo: the next lane's first H gz values, or recomputed at an edge */
            #pragma unroll
            for (int h = 0; h < H; h++) gz[NE + h] = __shfl_down_sync(CV_FULL, gz[h], 1);
            if (active && !(lt < tpr - 1 && lane < 31 && ch + 1 < ch_end)) {
                #pragma unroll
                for (int h = 0; h < H; h++)
                    gz[NE + h] = h < W - 1 ? cv_gz_abs<DT>(a, b, c, t0 + NE + h) : (A)0;
            }
            if (!active) continue;
            /* dx[p] = sum_k w[k] gz[p + H - k] over same-key positions, plus dfinal */
            A d[NE];
            #pragma unroll
            for (int i = 0; i < NE; i++) {
                A s = (A)0;
                const int32_t kp = kw[H + i];
                #pragma unroll
                for (int k = 0; k < KW; k++)
                    if (!masked || kw[i + 2 * H - k] == kp) s += w[k] * gz[i + H - k];
                if (a.dfinal_states && i < n) s += cv_dfinal_at<A>(a, b, c, t0 + i, masked ? kp : 0, klast);
                d[i] = s;
            }
            cv_store_run<DT, NE>(dl + t0, d, n, tl.vec);
            /* dweight / dbias over the own positions (gz is 0 past the line); padding tokens give
               nothing, not 0 * x (their x may be NaN or Inf) */
            #pragma unroll
            for (int i = 0; i < NE; i++) {
                dw[KW] += gz[i];
                const int32_t kt = kw[H + i];
                if (masked && kt < 0) continue;
                #pragma unroll
                for (int k = 0; k < KW; k++) {
                    dw[k] += gz[i] * (masked ? cv_cf_tap<A, KW>(a, xw, kw, i, k, kt, c, t0) : xw[i + k]);
                }
            }
        }
        /* reduce over the unit's threads in a fixed order, one partial per (b, split, c) */
        const int lim = tpr < 32 ? tpr : 32;
        #pragma unroll
        for (int k = 0; k <= KW; k++)
            for (int m = 1; m < lim; m <<= 1) dw[k] += __shfl_xor_sync(CV_FULL, dw[k], m);
        if (tpr > 32) {
            const int warp = threadIdx.x / 32;
            if (lane == 0) {
                #pragma unroll
                for (int k = 0; k <= KW; k++) red[warp * (KW + 1) + k] = dw[k];
            }
            __syncthreads();
            if (lt == 0) {
                #pragma unroll
                for (int k = 0; k <= KW; k++) {
                    A s = (A)0;
                    for (int q = 0; q < tpr / 32; q++) s += red[(warp + q) * (KW + 1) + k];
                    dw[k] = s;
                }
            }
            __syncthreads();
        }
        if (valid && lt == 0) {
            A *o = ws + ((b * tl.P + split) * a.D + c) * (W + 1);
            #pragma unroll
            for (int k = 0; k < KW; k++)
                if (k >= KW - W) o[k - (KW - W)] = dw[k];
            o[W] = dw[KW];
        }
    }
}

/* Channel-last backward tiling: block = BX channel groups x BY runs of LS positions. */
struct cv_clb_tiles {
    int64_t G, GT;    /* channel groups of CV, tiles of BX groups */
    int64_t LS, NS;   /* positions per run, runs per row */
    int64_t NST;      /* tiles of BY runs */
    int64_t blocks;   /* B * NST * GT */
    int BX, BY;
    int vec;
};

/* dx (B, D, L) with D contiguous, partial dweight/dbias into ws[B*NST][D][W+1] */
template <int DT, int KW, bool MASK>
__global__ void __launch_bounds__(128) cv_bwd_cl_kernel(const cc_conv1d_args a, const cv_clb_tiles tl,
                                                        typename cc_dt<DT>::A *ws)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    constexpr int CV = cv_bwd_geom<DT>::CV, H = KW - 1, U = 2, NW = CV * (KW + 1);
    CC_DYNAMIC_SMEM(A, red);
    const int tx = threadIdx.x % tl.BX, ty = threadIdx.x / tl.BX;
    const int64_t L = a.L, W = a.W, D = a.D;
    const int64_t xs2 = a.x_stride[2], gs2 = a.dout_stride[2], ds2 = a.dx_stride[2];
    for (int64_t blk = blockIdx.x; blk < tl.blocks; blk += gridDim.x) {
        const int64_t gt = blk % tl.GT, q = blk / tl.GT, st = q % tl.NST, b = q / tl.NST;
        const int64_t g = gt * tl.BX + tx, run = st * tl.BY + ty;
        const int64_t c0 = g * CV, nc = g < tl.G ? (D - c0 < CV ? D - c0 : CV) : 0;
        const int64_t t0 = run * tl.LS, t1 = t0 + tl.LS < L ? t0 + tl.LS : L;
        const bool valid = nc > 0 && t0 < L, vec = tl.vec && nc == CV;
        A dw[CV][KW + 1];
        #pragma unroll
        for (int j = 0; j < CV; j++)
            #pragma unroll
            for (int k = 0; k <= KW; k++) dw[j][k] = (A)0;
        if (valid) {
            A w[CV][KW], bias[CV], xw[CV][H], gw[CV][H];
            int32_t kw[H];
            #pragma unroll
            for (int j = 0; j < CV; j++) {
                int64_t c = j < nc ? c0 + j : c0;
                cv_load_weights(w[j], a, c);
                bias[j] = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
            }
            const S *xb = (const S *)a.x + b * a.x_stride[0] + c0 * a.x_stride[1];
            const S *gb = (const S *)a.dout + b * a.dout_stride[0] + c0 * a.dout_stride[1];
            S *db = (S *)a.dx + b * a.dx_stride[0] + c0 * a.dx_stride[1];
            const int32_t *sq = MASK && a.seq_idx ? a.seq_idx + b * a.seq_idx_stride[0] : NULL;
            const int64_t klast = sq ? sq[(L - 1) * a.seq_idx_stride[1]] : 0;
            cv_seq_walk sw = {0, 0, L};
            if (MASK && a.cu_seqlens) sw = cv_walk_begin(a, t0);
            const int64_t rs = MASK && a.cu_seqlens ? sw.n : b;
            #pragma unroll
            for (int h = 0; h < H; h++) {
                const int64_t p = t0 - H + h;
                A v[CV];
                cv_cl_xe_row<DT, CV>(v, a, xb, xs2, p, sw.start, rs, c0, nc, vec);
                #pragma unroll
                for (int j = 0; j < CV; j++) { xw[j][h] = v[j]; gw[j][h] = (A)0; }
                kw[h] = sq ? sq[(p > 0 ? p : 0) * a.seq_idx_stride[1]] : -1;
            }
            const int64_t tend = t1 + H;   /* sweep H past the run: the gz halo for dx */
            for (int64_t tb = t0; tb < tend; tb += U) {
                A xs[U][CV], gs[U][CV];
                #pragma unroll
                for (int uu = 0; uu < U; uu++) {
                    const int64_t t = tb + uu;
                    const int64_t m = t < L && t < tend ? nc : 0;
                    cv_load_run<DT, CV>(xs[uu], xb + t * xs2, m, vec);
                    cv_load_run<DT, CV>(gs[uu], gb + t * gs2, m, vec);
                }
                #pragma unroll
                for (int uu = 0; uu < U; uu++) {
                    const int64_t t = tb + uu;
                    if (t >= tend) break;
                    int32_t kt = 0;
                    if (t >= L) {
                        kt = -2;   /* past the line: gz 0, never equal to a real key */
                    } else if (sq) {
                        kt = sq[t * a.seq_idx_stride[1]];
                    } else if (MASK && a.cu_seqlens) {
                        if (cv_walk_to(a, sw, t)) {
                            #pragma unroll
                            for (int j = 0; j < CV; j++)
                                #pragma unroll
                                for (int h = 0; h < H; h++)
                                    xw[j][h] = j < nc ? cv_init_at<A>(a, sw.n, c0 + j, W - 1 + (t - H + h) - sw.start) : (A)0;
                        }
                        kt = (int32_t)sw.n;
                    }
                    A gz[CV];
                    #pragma unroll
                    for (int j = 0; j < CV; j++) {
                        A pre = bias[j] + w[j][H] * xs[uu][j];
                        #pragma unroll
                        for (int h = 0; h < H; h++)
                            if (!sq || kw[h] == kt) pre += w[j][h] * xw[j][h];
                        A gi = gs[uu][j];
                        if (kt < 0) gi = (A)0;   /* padding token or past the line */
                        else if (a.silu) gi *= cc_dsilu(pre);
                        gz[j] = gi;
                        if (t < t1 && kt >= 0) {   /* padding gives nothing, not 0 * x */
                            dw[j][KW] += gi;
                            dw[j][H] += gi * xs[uu][j];
                            #pragma unroll
                            for (int h = 0; h < H; h++)
                                if (!sq || kw[h] == kt) dw[j][h] += gi * xw[j][h];
                        }
                    }
                    /* dx at p = t - H: gz at t - k for tap k (k = 0 is the current one) */
                    const int64_t p = t - H;
                    if (p >= t0 && p < t1) {
                        const bool keyed = MASK && (sq || a.cu_seqlens);
                        const int32_t kp = H > 0 ? kw[0] : kt;
                        A d[CV];
                        #pragma unroll
                        for (int j = 0; j < CV; j++) {
                            A s = (A)0;
                            if (!keyed || kt == kp) s += w[j][0] * gz[j];
                            #pragma unroll
                            for (int k = 1; k < KW; k++)
                                if (!keyed || kw[H - k] == kp) s += w[j][k] * gw[j][H - k];
                            if (a.dfinal_states && j < nc) s += cv_dfinal_at<A>(a, b, c0 + j, p, keyed ? kp : 0, klast);
                            d[j] = s;
                        }
                        cv_store_run<DT, CV>(db + p * ds2, d, nc, vec);
                    }
                    #pragma unroll
                    for (int h = 0; h + 1 < H; h++) {
                        kw[h] = kw[h + 1];
                        #pragma unroll
                        for (int j = 0; j < CV; j++) { xw[j][h] = xw[j][h + 1]; gw[j][h] = gw[j][h + 1]; }
                    }
                    kw[H - 1] = kt;
                    #pragma unroll
                    for (int j = 0; j < CV; j++) { xw[j][H - 1] = xs[uu][j]; gw[j][H - 1] = gz[j]; }
                }
            }
        }
        /* reduce over the BY runs of the block (fixed order), one partial per (b, run tile, c) */
        #pragma unroll
        for (int j = 0; j < CV; j++)
            #pragma unroll
            for (int k = 0; k <= KW; k++) red[threadIdx.x * NW + j * (KW + 1) + k] = dw[j][k];
        __syncthreads();
        if (ty == 0 && nc > 0) {
            for (int j = 0; j < nc; j++) {
                A *o = ws + ((b * tl.NST + st) * D + c0 + j) * (W + 1);
                for (int k = 0; k <= KW; k++) {
                    A s = (A)0;
                    for (int y = 0; y < tl.BY; y++) s += red[(y * tl.BX + tx) * NW + j * (KW + 1) + k];
                    if (k == KW) o[W] = s;
                    else if (k >= KW - W) o[k - (KW - W)] = s;
                }
            }
        }
        __syncthreads();
    }
}

/* dx (B, D, L); one thread per element */
template <int DT>
__global__ void cv_bwd_dx_generic_kernel(const cc_conv1d_args a, int chan_fast)
{
    typedef typename cc_dt<DT>::S S;
    const int64_t D = a.D, L = a.L;
    CV_GRID_STRIDE(i, a.B * D * L) {
        int64_t b, c, t;
        if (chan_fast) { c = i % D; int64_t q = i / D; t = q % L; b = q / L; }
        else           { t = i % L; int64_t q = i / L; c = q % D; b = q / D; }
        cv_row row;
        if (!cv_row_of(a, b, t, row)) continue;
        ((S *)a.dx)[b * a.dx_stride[0] + c * a.dx_stride[1] + t * a.dx_stride[2]] =
            cc_narrow<typename cc_dt<DT>::S>(cv_dxe<DT>(a, row, c, t - row.start));
    }
}

/* dinitial_states (rows, D, W-1) */
template <int DT>
__global__ void cv_bwd_dinit_kernel(const cc_conv1d_args a)
{
    const int64_t ext = a.W - 1, D = a.D, R = cv_num_rows(&a);
    const int64_t *ds = a.dinitial_states_stride;
    CV_GRID_STRIDE(i, R * D * ext) {
        int64_t c = i % D, q = i / D, j = q % ext, r = q / ext;
        cv_row row = cv_get_row(&a, r);
        cc_store_as(a.dinitial_states, a.state_dtype, row.s * ds[0] + c * ds[1] + j * ds[2], cv_dxe<DT>(a, row, c, j - ext));
    }
}

/* ws[P][D][W+1] partial dweight/dbias: block (c, s) of grid (D * P) sums split s of the B*L
   positions of channel c, reduced over the block in a fixed tree order. */
template <int DT>
__global__ void cv_bwd_dw_generic_kernel(const cc_conv1d_args a, typename cc_dt<DT>::A *ws, int64_t P)
{
    typedef typename cc_dt<DT>::A A;
    CC_DYNAMIC_SMEM(A, red);
    const int64_t W = a.W, total = a.B * a.L, per = (total + P - 1) / P;
    const int64_t c = (int64_t)blockIdx.x % a.D, s = (int64_t)blockIdx.x / a.D;
    A dw[CC_CONV_MAX_WIDTH + 1];
    for (int k = 0; k <= CC_CONV_MAX_WIDTH; k++) dw[k] = (A)0;
    int64_t end = (s + 1) * per < total ? (s + 1) * per : total;
    for (int64_t i = s * per + threadIdx.x; i < end; i += blockDim.x) {
        int64_t b = i / a.L, t = i % a.L;
        cv_row row;
        if (!cv_row_of(a, b, t, row)) continue;
        int64_t tr = t - row.start;
        A g = cv_gz<DT>(a, row, c, tr);
        int32_t st = cv_seg(&a, &row, tr);
        if (st < 0) continue;   /* padding gives nothing, not 0 * x */
        dw[W] += g;
        for (int64_t k = 0; k < W; k++) {
            int64_t p = tr - (W - 1) + k;
            if (cv_seg(&a, &row, p) == st) dw[k] += g * cv_xe<DT>(a, row, c, p);
        }
    }
    for (int64_t k = 0; k <= W; k++) {
        red[threadIdx.x] = dw[k];
        __syncthreads();
        for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
            if (threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
            __syncthreads();
        }
        if (threadIdx.x == 0) ws[(s * a.D + c) * (W + 1) + k] = red[0];
        __syncthreads();
    }
}

/* dweight (D, W), dbias (D) from ws[P][D][W+1], summed over P in order; one thread per (c, k) */
template <class A>
__global__ void cv_bwd_dw_reduce_kernel(const cc_conv1d_args a, const A *ws, int64_t P)
{
    const int64_t W1 = a.W + 1;
    CV_GRID_STRIDE(i, a.D * W1) {
        int64_t c = i / W1, k = i % W1;
        A sum = (A)0;
        for (int64_t s = 0; s < P; s++) sum += ws[s * a.D * W1 + i];
        if (k < a.W)
            cc_store_as(a.dweight, a.weight_dtype, c * a.dweight_stride[0] + k * a.dweight_stride[1], sum);
        else if (a.dbias)
            cc_store_as(a.dbias, a.bias_dtype, c * a.dbias_stride, sum);
    }
}

/* Launches the channel-first fast kernel; returns the number of partials it writes to ws. */
template <int DT, int KW, bool MASK>
static int64_t cv_bwd_cf(const cc_conv1d_args *a, void **ws, int *st)
{
    typedef typename cc_dt<DT>::A A;
    constexpr int NE = cv_bwd_geom<DT>::NE;
    cv_tiles tl = cv_make_tiles(a->B * a->D, a->L, NE, 16);
    int es = (int)sizeof(typename cc_dt<DT>::S);
    tl.vec = cv_aligned(a->x, es, a->B, a->x_stride[0], a->D, a->x_stride[1]) &&
             cv_aligned(a->dout, es, a->B, a->dout_stride[0], a->D, a->dout_stride[1]) &&
             cv_aligned(a->dx, es, a->B, a->dx_stride[0], a->D, a->dx_stride[1]);
    int64_t PP = a->B * tl.P;
    *st = cc_cuda_alloc(ws, PP * a->D * (a->W + 1) * (int64_t)sizeof(A), 0);
    if (*st != CC_OK) return 0;
    int64_t upb = CV_CF_THREADS / tl.tpr;
    void (*k)(const cc_conv1d_args, const cv_tiles, A *) = cv_bwd_cf_kernel<DT, KW, MASK>;
    CC_LAUNCH(k, cv_blocks((tl.units + upb - 1) / upb, 1), CV_CF_THREADS, (CV_CF_THREADS / 32) * (KW + 1) * sizeof(A),
              *a, tl, (A *)*ws);
    return PP;
}

template <int DT, int KW, bool MASK>
static int64_t cv_bwd_cl(const cc_conv1d_args *a, void **ws, int *st)
{
    typedef typename cc_dt<DT>::A A;
    constexpr int CV = cv_bwd_geom<DT>::CV;
    cv_clb_tiles tl;
    tl.G = (a->D + CV - 1) / CV;
    tl.BX = 1;
    while (tl.BX < 32 && tl.BX < tl.G) tl.BX *= 2;
    tl.BY = 128 / tl.BX;
    tl.GT = (tl.G + tl.BX - 1) / tl.BX;
    /* runs short enough to give ~128K threads, long enough (>= 32) to amortise the halos */
    int64_t want = (131072 + a->B * tl.G - 1) / (a->B * tl.G);
    tl.LS = (a->L + want - 1) / want;
    if (tl.LS < 32) tl.LS = 32;
    tl.LS = (tl.LS + 3) / 4 * 4;
    tl.NS = (a->L + tl.LS - 1) / tl.LS;
    tl.NST = (tl.NS + tl.BY - 1) / tl.BY;
    tl.blocks = a->B * tl.NST * tl.GT;
    int es = (int)sizeof(typename cc_dt<DT>::S);
    tl.vec = cv_aligned(a->x, es, a->B, a->x_stride[0], a->L, a->x_stride[2]) &&
             cv_aligned(a->dout, es, a->B, a->dout_stride[0], a->L, a->dout_stride[2]) &&
             cv_aligned(a->dx, es, a->B, a->dx_stride[0], a->L, a->dx_stride[2]);
    int64_t PP = a->B * tl.NST;
    *st = cc_cuda_alloc(ws, PP * a->D * (a->W + 1) * (int64_t)sizeof(A), 0);
    if (*st != CC_OK) return 0;
    void (*k)(const cc_conv1d_args, const cv_clb_tiles, A *) = cv_bwd_cl_kernel<DT, KW, MASK>;
    CC_LAUNCH(k, cv_blocks(tl.blocks, 1), 128, 128 * CV * (KW + 1) * sizeof(A), *a, tl, (A *)*ws);
    return PP;
}

/* Fast path by layout; returns the partial count, 0 when only the generic path applies. Widths
   1..4 share one 4-tap window (leading weights 0). */
template <int DT>
static int64_t cv_bwd_fast(const cc_conv1d_args *a, void **ws, int *st)
{
    if (a->L == 0 || a->W > 4) return 0;
    const bool cf = a->x_stride[2] == 1 && a->dout_stride[2] == 1 && a->dx_stride[2] == 1;
    const bool cl = a->x_stride[1] == 1 && a->dout_stride[1] == 1 && a->dx_stride[1] == 1;
    if (!cf && !cl) return 0;
    const bool use_cf = cf && (!cl || a->L >= 64);
    const bool mask = a->seq_idx || a->cu_seqlens;
    if (use_cf) return mask ? cv_bwd_cf<DT, 4, true>(a, ws, st) : cv_bwd_cf<DT, 4, false>(a, ws, st);
    return mask ? cv_bwd_cl<DT, 4, true>(a, ws, st) : cv_bwd_cl<DT, 4, false>(a, ws, st);
}

template <int DT>
static int cv_bwd(const cc_conv1d_args *a)
{
    typedef typename cc_dt<DT>::A A;
    const int threads = 256;
    const int64_t D = a->D, W1 = a->W + 1, R = cv_num_rows(a);
    void *ws = NULL;
    int st = CC_OK;
    int64_t P = 0;
    if constexpr (DT != CC_F64) P = cv_bwd_fast<DT>(a, &ws, &st);
    if (st != CC_OK) return st;
    if (P == 0) {
        int chan_fast = a->x_stride[1] == 1 && a->x_stride[2] != 1;
        int64_t total = a->B * a->L;
        /* enough blocks to fill the device, each with a few hundred positions at least */
        P = (1024 + D - 1) / D;
        int64_t pmax = (total + 511) / 512;
        if (P > pmax) P = pmax;
        if (P < 1) P = 1;
        st = cc_cuda_alloc(&ws, P * D * W1 * (int64_t)sizeof(A), 0);
        if (st != CC_OK) return st;
        if (a->B * D * a->L > 0)
            CC_LAUNCH(cv_bwd_dx_generic_kernel<DT>, cv_blocks(a->B * D * a->L, threads), threads, 0, *a, chan_fast);
        const int rthreads = 128;
        CC_LAUNCH(cv_bwd_dw_generic_kernel<DT>, (unsigned)(D * P), rthreads, rthreads * sizeof(A), *a, (A *)ws, P);
    }
    if (a->dinitial_states && R * D * (a->W - 1) > 0)
        CC_LAUNCH(cv_bwd_dinit_kernel<DT>, cv_blocks(R * D * (a->W - 1), threads), threads, 0, *a);
    CC_LAUNCH(cv_bwd_dw_reduce_kernel<A>, cv_blocks(D * W1, threads), threads, 0, *a, (const A *)ws, P);
    st = cc_cuda_launch_status("causal_conv1d_backward");
    cc_cuda_free(ws, 0);
    return st;
}

extern "C" int cc_cuda_causal_conv1d_backward(const cc_conv1d_args *a)
{
    if (a->D == 0) return cc_cuda_launch_status("causal_conv1d_backward");
    int st = CC_OK;
    CV_DISPATCH_DTYPE(a->x_dtype, st = cv_bwd<DT>(a));
    return st;
}
