/* Selective scan backward on CUDA.

   1. Checkpoints: the forward pass of selective_scan_fwd.cu stores the state and the running
      segment id entering every T-step chunk (T from the shared-memory budget, see ss_bwd_plan_of).
   2. ss_bwd_kernel: a block of up to SS_BWD_THREADS works R rows (b, c) of S lanes, consecutive
      channels of one batch row inside one tile group (below). Per row, chunks from last to first:
      A. recompute the chunk's states from its checkpoint, keeping h_t of every step (hist, T x N
         per row) and the step's dt, u, gy, v and token kind in shared memory; y (for dz only)
         from per-lane partials summed in lane order, as in the forward; dz written.
      B. variable dC: the block sums gy h_t over its rows, in row order, into its partial.
      C. reverse: lambda from the chunk's end to its start (carried across chunks in registers),
         the per-state gradients in registers, per-lane partials of ddt and du per step in shared
         memory, summed in lane order afterwards; du and ddelta written. lambda dt u of step t
         replaces h_t in hist: step t was h_t's last reader.
      D. variable dB: the block sums hist over its rows into its partial.
   3. Fixed-order reductions (no atomics anywhere, so results are bitwise repeatable):
      ss_bwd_reduce_rows sums the per-row partials of dA, dD, ddelta_bias and time-invariant dB, dC
      over b; ss_bwd_reduce_bc sums the variable dB / dC partials of each group's tiles.

   Tile groups: the channels are cut into groups of cpgT channels, the gcd of the channels per
   group of every variable B / C whose gradient is wanted (Di when there is none), so a tile of R
   rows never straddles a group. A unit (one block: b, tile group, slot p) works tiles p, p + P, ...
   of its group in turn, adding their sums into its own (L, N) partial; P gives about SS_BWD_UNITS
   units in all, fewer when their partials would pass 1/32 of Bt * Di * N * L.

   Scratch (values of the compute type A unless said), freed at the end:
     ckpt     Bt * Di * nch * N, and ckseg Bt * Di * nch int32 (nch = ceil(L / T))
     rowpart  Bt * Di * (3 N + 2): dA, time-invariant dB, dC, then dD, ddelta_bias per row
     dBpart, dCpart   Bt * (Di / cpgT) * P * L * N each (about SS_BWD_UNITS * L * N, and at most
              max(Bt * G, Bt * Di / 32) * L * N), only for a variable gradient wanted
     gstate   units * R * 6 ss_state_pitch(N), only when N > 256 (states per lane beyond registers)
     ghist    units * R * T * N, only when T x N per row does not fit in shared memory */
#include "selective_scan_common.cuh"
#include "cuda_backend.h"

#define SS_BWD_THREADS 128
#define SS_BWD_UNITS 1024

struct ss_bwd_plan {
    int S, R;                      /* lanes per row, rows per block */
    int hist_global;               /* hist in ghist rather than shared memory */
    int64_t T, nch;                /* steps per chunk, chunks per row */
    int64_t cpgT, ntg, tpg, P;     /* channels per tile group, tile groups, tiles per group, slots */
};

/* gy h_t (var C) or hist (var B) summed over the nv valid rows of the block, in row order, for the
   nt steps of the chunk at c0, into the unit's partial part (L, N): written by the unit's first
   tile, added to by the later ones. sc_gy: row rr's gy at sc_gy[rr * 4T]; NULL sums hist alone. */
template <class A>
static __device__ void ss_rows_sum(A *part, const A *hist, const A *sc_gy, int nv, int64_t T, int64_t N, int64_t c0,
                                   int nt, bool first)
{
    for (int64_t idx = threadIdx.x; idx < nt * N; idx += blockDim.x) {
        const int64_t i = idx / N, n = idx % N;
        A s = (A)0;
        for (int rr = 0; rr < nv; rr++) {
            const A hv = hist[(rr * T + i) * N + n];
            s += sc_gy ? sc_gy[rr * 4 * T + i] * hv : hv;
        }
        A *d = part + (c0 + i) * N + n;
        *d = first ? s : *d + s;
    }
}

/* du, ddelta, dz (Bt, Di, L), dinitial_state (Bt, Di, N) and the partials (see the file comment)
   from dout (Bt, Di, L), dlast_state (Bt, Di, N) and the forward's inputs; ckpt (Bt * Di, nch, N),
   ckseg (Bt * Di, nch). */
template <class A, int K>
__global__ void __launch_bounds__(SS_BWD_THREADS)
ss_bwd_kernel(const cc_scan_args a, const ss_bwd_plan p, const A *ckpt, const int32_t *ckseg, A *rowpart, A *dBpart,
              A *dCpart, A *gstate, A *ghist)
{
    CC_DYNAMIC_SMEM(A, sm);
    const int S = p.S, R = p.R, gr = threadIdx.x / S, lane = threadIdx.x % S;
    const int64_t N = a.N, L = a.L, T = p.T, Di = a.Di, rows = a.Bt * Di, PR = S + 1;
    const int nk = K ? K : (int)((N + S - 1) / S);
    /* shared memory: [hist R T N unless global] [pd, pu: R 2 T (S + 1)] [dt, u, gy, v: R 4 T] [kind: R T] */
    A *hist_all = p.hist_global ? ghist + (int64_t)blockIdx.x * R * T * N : sm;
    A *pr_all = p.hist_global ? sm : sm + R * T * N;
    A *sc_all = pr_all + R * 2 * T * PR;
    int *kind_all = (int *)(sc_all + R * 4 * T);
    A *hist = hist_all + gr * T * N, *pd = pr_all + gr * 2 * T * PR, *pu = pd + T * PR;
    A *sdt = sc_all + gr * 4 * T, *su = sdt + T, *sgy = su + T, *sv = sgy + T;
    int *skind = kind_all + gr * T;

    const int64_t unit = blockIdx.x, ps = unit % p.P, q = unit / p.P, tg = q % p.ntg, b = q / p.ntg;
    const bool varB = a.B.grad && !a.B.is_const, varC = a.C.grad && !a.C.is_const;
    const bool constB = a.B.grad && a.B.is_const, constC = a.C.grad && a.C.is_const;
    const bool need_y = a.dz && a.z;
    A *dBp = varB ? dBpart + unit * L * N : NULL, *dCp = varC ? dCpart + unit * L * N : NULL;
    ss_states<A, K> h, lam, Ac, dAacc, dBc, dCc;
    if constexpr (K == 0) {
        const int64_t NP = (int64_t)nk * S;   /* row pitch: every lane's every slot, n >= N included */
        A *gs = gstate + (unit * R + gr) * 6 * NP;
        h.bind(gs, lane); lam.bind(gs + NP, lane); Ac.bind(gs + 2 * NP, lane);
        dAacc.bind(gs + 3 * NP, lane); dBc.bind(gs + 4 * NP, lane); dCc.bind(gs + 5 * NP, lane);
    }
    for (int64_t tt = ps; tt < p.tpg; tt += p.P) {
        const bool first = tt == ps;
        const int64_t cr = tt * R + gr;
        const bool valid = cr < p.cpgT;
        const int nv = (int)(p.cpgT - tt * R < R ? p.cpgT - tt * R : R);
        const int64_t c = tg * p.cpgT + (valid ? cr : p.cpgT - 1), row = b * Di + c;
        const ss_row r = ss_row_of(a, b, c);
        #pragma unroll
        for (int k = 0; k < nk; k++) {
            const int64_t n = lane + (int64_t)S * k;
            Ac[k] = n < N ? cc_load_as<A>(a.A, a.A_dtype, c * a.A_stride[0] + n * a.A_stride[1]) : (A)0;
            lam[k] = n < N && a.dlast_state
                         ? cc_load_as<A>(a.dlast_state, a.dlast_state_dtype, ss_at3(a.dlast_state_stride, b, c, n))
                         : (A)0;
            dAacc[k] = dBc[k] = dCc[k] = (A)0;
        }
        const A Dc = a.D ? cc_load_as<A>(a.D, a.D_dtype, c * a.D_stride) : (A)0;
        A accD = (A)0, accDB = (A)0;   /* this lane's share of dD and ddelta_bias */
        for (int64_t ch = p.nch - 1; ch >= 0; ch--) {
            const int64_t c0 = ch * T, ck = row * p.nch + ch;
            const int nt = (int)(L - c0 < T ? L - c0 : T);
            /* A: recompute */
            for (int i = lane; i < nt; i += S) {
                const int64_t t = c0 + i;
                A v;
                sdt[i] = ss_dt<A>(a, r, t, v);
                sv[i] = v;
                su[i] = ss_load3<A>(a.u, a.u_dtype, a.u_stride, r, t);
                const A g = ss_load3<A>(a.dout, a.dout_dtype, a.dout_stride, r, t);
                sgy[i] = a.z ? g * cc_silu(ss_load3<A>(a.z, a.z_dtype, a.z_stride, r, t)) : g;
            }
            __syncwarp();
            #pragma unroll
            for (int k = 0; k < nk; k++) {
                const int64_t n = lane + (int64_t)S * k;
                h[k] = n < N ? ckpt[ck * N + n] : (A)0;
            }
            int32_t seg = ckseg[ck];
            for (int i = 0; i < nt; i++) {
                const int64_t t = c0 + i;
                const int kind = ss_token_kind(&a, b, t, &seg);
                const A dt = sdt[i], du = dt * su[i], gy = sgy[i];
                A y = (A)0;
                #pragma unroll
                for (int k = 0; k < nk; k++) {
                    const int64_t n = lane + (int64_t)S * k;
                    if (n >= N) continue;
                    if (kind != SS_PAD) {
                        const A Bv = cc_load_as<A>(a.B.data, a.B.dtype, r.boff + n * a.B.stride[2] + t * a.B.stride[3]);
                        h[k] = (kind == SS_RESET ? (A)0 : ccops::m_exp(dt * Ac[k]) * h[k]) + du * Bv;
                        if (need_y || constC) {
                            const A Cv = cc_load_as<A>(a.C.data, a.C.dtype, r.coff + n * a.C.stride[2] + t * a.C.stride[3]);
                            if (need_y) y += Cv * h[k];
                            if (constC) dCc[k] += gy * h[k];
                        }
                    }
                    hist[i * N + n] = h[k];
                }
                pd[i * PR + lane] = y;
                if (lane == 0) skind[i] = kind;
            }
            __syncwarp();
            for (int i = lane; i < nt; i += S) {
                const int64_t t = c0 + i;
                const bool pad = skind[i] == SS_PAD;
                if (pad) sgy[i] = (A)0;   /* padding gives nothing to dC, dD, du */
                if (a.dz && valid) {
                    A dz = (A)0;
                    if (need_y && !pad) {
                        const A y = ss_lane_sum(pd + i * PR, S) + Dc * su[i];
                        const A g = ss_load3<A>(a.dout, a.dout_dtype, a.dout_stride, r, t);
                        dz = g * y * cc_dsilu(ss_load3<A>(a.z, a.z_dtype, a.z_stride, r, t));
                    }
                    cc_store_as(a.dz, a.dz_dtype, ss_at3(a.dz_stride, b, c, t), dz);
                }
            }
            __syncwarp();
            /* B: variable dC */
            if (varC) {
                __syncthreads();
                ss_rows_sum(dCp, hist_all, sc_all + 2 * T, nv, T, N, c0, nt, first);
                __syncthreads();
            }
            /* C: reverse */
            for (int i = nt - 1; i >= 0; i--) {
                const int64_t t = c0 + i;
                const int kind = skind[i];
                A sd = (A)0, sdu = (A)0;
                #pragma unroll
                for (int k = 0; k < nk; k++) {
                    const int64_t n = lane + (int64_t)S * k;
                    if (n >= N) continue;
                    if (kind == SS_PAD) {   /* lambda passes through */
                        if (varB) hist[i * N + n] = (A)0;
                        continue;
                    }
                    const A dt = sdt[i], u = su[i];
                    const A Bv = cc_load_as<A>(a.B.data, a.B.dtype, r.boff + n * a.B.stride[2] + t * a.B.stride[3]);
                    const A Cv = cc_load_as<A>(a.C.data, a.C.dtype, r.coff + n * a.C.stride[2] + t * a.C.stride[3]);
                    lam[k] += sgy[i] * Cv;
                    const A hp = kind == SS_RESET ? (A)0 : i > 0 ? hist[(i - 1) * N + n] : ckpt[ck * N + n];
                    const A e = ccops::m_exp(dt * Ac[k]);
                    sd += lam[k] * (Ac[k] * e * hp + Bv * u);
                    sdu += lam[k] * dt * Bv;
                    dAacc[k] += lam[k] * hp * e * dt;
                    const A x = lam[k] * dt * u;
                    if (constB) dBc[k] += x;
                    if (varB) hist[i * N + n] = x;
                    lam[k] = kind == SS_RESET ? (A)0 : e * lam[k];
                }
                pd[i * PR + lane] = sd;
                pu[i * PR + lane] = sdu;
            }
            __syncwarp();
            for (int i = lane; i < nt; i += S) {
                const int64_t t = c0 + i;
                A du = (A)0, dd = (A)0;
                if (skind[i] != SS_PAD) {
                    du = Dc * sgy[i] + ss_lane_sum(pu + i * PR, S);
                    dd = ss_lane_sum(pd + i * PR, S);
                    if (a.delta_softplus) dd *= ss_dsoftplus(sv[i]);
                    accD += sgy[i] * su[i];
                    accDB += dd;
                }
                if (valid && a.du) cc_store_as(a.du, a.du_dtype, ss_at3(a.du_stride, b, c, t), du);
                if (valid && a.ddelta) cc_store_as(a.ddelta, a.ddelta_dtype, ss_at3(a.ddelta_stride, b, c, t), dd);
            }
            __syncwarp();
            /* D: variable dB */
            if (varB) {
                __syncthreads();
                ss_rows_sum<A>(dBp, hist_all, NULL, nv, T, N, c0, nt, first);
                __syncthreads();
            }
        }
        /* the row's results: lambda has reached h[-1] */
        if (valid) {
            #pragma unroll
            for (int k = 0; k < nk; k++) {
                const int64_t n = lane + (int64_t)S * k;
                if (n >= N) continue;
                if (a.dinitial_state)
                    cc_store_as(a.dinitial_state, a.dinitial_state_dtype, ss_at3(a.dinitial_state_stride, b, c, n), lam[k]);
                if (rowpart) {
                    rowpart[row * N + n] = dAacc[k];
                    rowpart[(rows + row) * N + n] = dBc[k];
                    rowpart[(2 * rows + row) * N + n] = dCc[k];
                }
            }
        }
        pd[lane] = accD;
        pu[lane] = accDB;
        __syncwarp();
        if (valid && lane == 0 && rowpart) {
            rowpart[3 * rows * N + row] = ss_lane_sum(pd, S);
            rowpart[3 * rows * N + rows + row] = ss_lane_sum(pu, S);
        }
        __syncwarp();   /* the next tile's recompute overwrites pd, pu */
    }
}

/* dA (Di, N), time-invariant dB, dC (Di, N views), dD, ddelta_bias (Di) from rowpart (see the file
   comment): sums over b in order; one thread per (c, n). */
template <class A>
__global__ void ss_bwd_reduce_rows(const cc_scan_args a, const A *rowpart)
{
    const int64_t N = a.N, Di = a.Di, rows = a.Bt * Di;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < Di * N; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = i / N, n = i % N;
        A sA = (A)0, sB = (A)0, sC = (A)0, sD = (A)0, sDB = (A)0;
        for (int64_t b = 0; b < a.Bt; b++) {
            const int64_t row = b * Di + c;
            sA += rowpart[row * N + n];
            sB += rowpart[(rows + row) * N + n];
            sC += rowpart[(2 * rows + row) * N + n];
            sD += rowpart[3 * rows * N + row];
            sDB += rowpart[3 * rows * N + rows + row];
        }
        if (a.dA) cc_store_as(a.dA, a.dA_dtype, c * a.dA_stride[0] + n * a.dA_stride[1], sA);
        if (a.B.grad && a.B.is_const) cc_store_as(a.B.grad, a.B.grad_dtype, ss_bc_grad_at(&a.B, Di, 0, c, n, 0), sB);
        if (a.C.grad && a.C.is_const) cc_store_as(a.C.grad, a.C.grad_dtype, ss_bc_grad_at(&a.C, Di, 0, c, n, 0), sC);
        if (n == 0 && a.dD) cc_store_as(a.dD, a.dD_dtype, c * a.dD_stride, sD);
        if (n == 0 && a.ddelta_bias) cc_store_as(a.ddelta_bias, a.ddelta_bias_dtype, c * a.ddelta_bias_stride, sDB);
    }
}

/* Variable dB or dC (Bt, G, N, L view m) from the unit partials part (Bt, ntg, P, L, N): element
   (b, g, n, t) sums the partials of the per tile groups inside group g, in order (none, so 0, when
   Di is 0); one thread each. */
template <class A>
__global__ void ss_bwd_reduce_bc(const cc_scan_args a, const cc_scan_bc m, const ss_bwd_plan p, int64_t per, const A *part)
{
    const int64_t N = a.N, L = a.L, total = a.Bt * m.G * N * L;
    const int64_t *gs = m.grad_stride;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = i % N, q = i / N, t = q % L, q2 = q / L, g = q2 % m.G, b = q2 / m.G;
        A s = (A)0;
        for (int64_t tg = g * per; tg < (g + 1) * per; tg++)
            for (int64_t ps = 0; ps < p.P; ps++) s += part[(((b * p.ntg + tg) * p.P + ps) * L + t) * N + n];
        cc_store_as(m.grad, m.grad_dtype, b * gs[0] + g * gs[1] + n * gs[2] + t * gs[3], s);
    }
}

/* Launches ss_bwd_reduce_bc for m when its gradient is variable and wanted. */
template <class A>
static void ss_reduce_bc_launch(const cc_scan_args *a, const cc_scan_bc &m, const ss_bwd_plan &p, const A *part)
{
    const int threads = 256;
    const int64_t total = a->Bt * m.G * a->N * a->L;
    if (!m.grad || m.is_const || total == 0) return;
    const int64_t per = a->Di > 0 ? a->Di / m.G / p.cpgT : 0;
    CC_LAUNCH(ss_bwd_reduce_bc<A>, ss_blocks(cc_ceil_div(total, threads)), threads, 0, *a, m, p, per, part);
}

static int64_t ss_gcd(int64_t x, int64_t y)
{
    while (y) {
        int64_t r = x % y;
        x = y;
        y = r;
    }
    return x;
}

/* Geometry of the backward: lanes, rows per block, chunk length from the shared-memory budget,
   tile groups and slots; *smem gets the kernel's dynamic shared memory. */
static ss_bwd_plan ss_bwd_plan_of(const cc_scan_args *a, int64_t es, size_t *smem)
{
    ss_bwd_plan p;
    p.S = ss_lanes(a->N);
    p.R = SS_BWD_THREADS / p.S;
    const int64_t small = (2 * (p.S + 1) + 4) * es + (int64_t)sizeof(int);   /* per step and row, hist aside */
    p.hist_global = 0;
    p.T = SS_SMEM_BUDGET / (p.R * (small + a->N * es));
    /* fewer rows (down to one warp) for chunks of 16 steps or more */
    while (p.T < 16 && p.R * p.S > 32) {
        p.R /= 2;
        p.T = SS_SMEM_BUDGET / (p.R * (small + a->N * es));
    }
    if (p.T < 8) {   /* a long enough chunk matters more than hist in shared memory */
        p.hist_global = 1;
        p.T = SS_SMEM_BUDGET / (p.R * small);
    }
    if (p.T > 256) p.T = 256;
    if (p.T > a->L) p.T = a->L;
    if (p.T < 1) p.T = 1;
    p.nch = cc_ceil_div(a->L, p.T);
    *smem = (size_t)(p.R * p.T * ((p.hist_global ? 0 : a->N * es) + small));

    const bool varB = a->B.grad && !a->B.is_const, varC = a->C.grad && !a->C.is_const;
    p.cpgT = 0;
    if (varB) p.cpgT = a->Di / a->B.G;
    if (varC) p.cpgT = p.cpgT ? ss_gcd(p.cpgT, a->Di / a->C.G) : a->Di / a->C.G;
    if (p.cpgT == 0) p.cpgT = a->Di > 0 ? a->Di : 1;
    p.ntg = a->Di / p.cpgT;
    p.tpg = cc_ceil_div(p.cpgT, p.R);
    p.P = p.tpg;
    if ((varB || varC) && a->Bt * p.ntg > 0) {
        p.P = cc_ceil_div(SS_BWD_UNITS, a->Bt * p.ntg);
        /* the partials stay within 1/32 of the Bt * Di * N * L that the scan never materialises */
        const int64_t cap = p.cpgT / 32 > 1 ? p.cpgT / 32 : 1;
        if (p.P > cap) p.P = cap;
        if (p.P > p.tpg) p.P = p.tpg;
    }
    return p;
}

/* Device scratch of one call, freed when it goes out of scope (after the launches: the stream
   orders the reuse). */
struct ss_scratch {
    void *ptr[8];
    int n = 0;
    template <class T> int get(T **out, int64_t count)
    {
        *out = NULL;
        if (count <= 0) return CC_OK;
        void *q = NULL;
        int st = cc_cuda_alloc(&q, count * (int64_t)sizeof(T), 0);
        if (st == CC_OK) {
            ptr[n++] = q;
            *out = (T *)q;
        }
        return st;
    }
    ~ss_scratch()
    {
        for (int i = 0; i < n; i++) cc_cuda_free(ptr[i], 0);
    }
};

template <class A, int K>
static void ss_bwd_launch(const cc_scan_args *a, const ss_bwd_plan &p, size_t smem, int64_t units, const A *ckpt,
                          const int32_t *ckseg, A *rowpart, A *dBpart, A *dCpart, A *gstate, A *ghist)
{
    CC_LAUNCH((ss_bwd_kernel<A, K>), ss_blocks(units), p.R * p.S, smem, *a, p, ckpt, ckseg, rowpart, dBpart, dCpart,
              gstate, ghist);
}

template <class A> static int ss_backward(const cc_scan_args *a)
{
    const char *op = "selective_scan_backward";
    const int64_t rows = a->Bt * a->Di, N = a->N, L = a->L;
    size_t smem;
    const ss_bwd_plan p = ss_bwd_plan_of(a, (int64_t)sizeof(A), &smem);
    if (rows == 0) {   /* no channels: a variable dB / dC of Bt * G * N * L zeros may remain */
        ss_reduce_bc_launch<A>(a, a->B, p, NULL);
        ss_reduce_bc_launch<A>(a, a->C, p, NULL);
        return cc_cuda_launch_status(op);
    }
    const int K = ss_states_per_lane(N, p.S);
    const int64_t units = a->Bt * p.ntg * p.P;
    const bool varB = a->B.grad && !a->B.is_const, varC = a->C.grad && !a->C.is_const;
    const bool rowred = a->dA || a->dD || a->ddelta_bias || (a->B.grad && a->B.is_const) || (a->C.grad && a->C.is_const);
    ss_scratch sc;
    A *ckpt, *rowpart, *dBpart, *dCpart, *gstate, *ghist;
    int32_t *ckseg;
    int st;
    if ((st = sc.get(&ckpt, rows * p.nch * N)) || (st = sc.get(&ckseg, rows * p.nch)) ||
        (st = sc.get(&rowpart, rowred ? rows * (3 * N + 2) : 0)) ||
        (st = sc.get(&dBpart, varB ? units * L * N : 0)) || (st = sc.get(&dCpart, varC ? units * L * N : 0)) ||
        (st = sc.get(&gstate, K == 0 ? units * p.R * 6 * ss_state_pitch(N) : 0)) ||
        (st = sc.get(&ghist, p.hist_global ? units * p.R * p.T * N : 0)))
        return st;
    if (L > 0) {
        cc_scan_args fa = *a;
        fa.out = NULL;
        fa.last_state = NULL;
        if ((st = ss_forward_pass<A>(&fa, ckpt, ckseg, p.T, op))) return st;
    }
    switch (K) {
    case 1:  ss_bwd_launch<A, 1>(a, p, smem, units, ckpt, ckseg, rowpart, dBpart, dCpart, gstate, ghist); break;
    case 2:  ss_bwd_launch<A, 2>(a, p, smem, units, ckpt, ckseg, rowpart, dBpart, dCpart, gstate, ghist); break;
    case 4:  ss_bwd_launch<A, 4>(a, p, smem, units, ckpt, ckseg, rowpart, dBpart, dCpart, gstate, ghist); break;
    case 8:  ss_bwd_launch<A, 8>(a, p, smem, units, ckpt, ckseg, rowpart, dBpart, dCpart, gstate, ghist); break;
    default: ss_bwd_launch<A, 0>(a, p, smem, units, ckpt, ckseg, rowpart, dBpart, dCpart, gstate, ghist); break;
    }
    const int threads = 256;
    if (rowred) CC_LAUNCH(ss_bwd_reduce_rows<A>, ss_blocks(cc_ceil_div(a->Di * N, threads)), threads, 0, *a, (const A *)rowpart);
    ss_reduce_bc_launch<A>(a, a->B, p, dBpart);
    ss_reduce_bc_launch<A>(a, a->C, p, dCpart);
    return cc_cuda_launch_status(op);
}

extern "C" int cc_cuda_selective_scan_backward(const cc_scan_args *a)
{
    return a->u_dtype == CC_F64 ? ss_backward<double>(a) : ss_backward<float>(a);
}
