"""PyTorch's causal depthwise conv1d (+ SiLU), timed the same way experiments/bench_torch.lua
times causalconv, so the two can be compared in one run.

    /usr/bin/python3 experiments/bench_torch.py --shapes 8x1024x2048,1x512x8192 --threads 2

The op is what a PyTorch user writes without causal-conv1d:
    forward:  y = silu(F.conv1d(x, w[:, None, :], b, padding=W-1, groups=D)[..., :L])
    backward: torch.autograd.grad(y, (x, w, b), dy)      (dx, dw, db; nothing accumulated)
x is (B, D, L) contiguous, f32. Timing: warm-up calls, then `repeat` samples, each a loop of
calls lasting about 1 ms; inputs rotate over several sets so they do not sit in a cache
(the same rule as bench_util.case in experiments/bench_util.lua). On cuda, CUDA events time each sample.

Prints '#' header lines, then one line per shape and op:
    RESULT op B D L W median_ms min_ms max_ms spread calls_per_sample
spread is the inter-quartile range over the median. Exits 3 when torch cannot be imported.

--op scan times the selective scan (Mamba's SSM) instead, the same timing rule:

    /usr/bin/python3 experiments/bench_torch.py --op scan --shapes 4x512x16x1024 --threads 2

Shapes are BtxDixNxL; u, delta, z (Bt, Di, L), A (Di, N), B, C (Bt, N, L) (one group), D and
delta_bias (Di), delta_softplus, all f32 contiguous. Two ways a PyTorch user writes it without
mamba_ssm's kernels (--variants seq,pscan; a check first makes sure seq, pscan and seqindex agree
in f64, forward and gradients, and exits 5 when not):
  seq    the sequential loop of mamba_ssm's selective_scan_ref: deltaA = exp(delta A) and
         deltaB_u = delta B u materialised (Bt, Di, N, L), then for t in range(L):
         x = deltaA[..., t] * x + deltaB_u[..., t]; y_t = sum_n x C[:, :, t], the per-step slices
         taken with unbind (one backward node for all L). "seqindex" (not in the default list)
         slices with deltaA[..., t] literally, as the reference does: under autograd each slice's
         backward materialises a zero (Bt, Di, N, L) gradient, O(L^2) work (1x64x16x256: 5.4 s
         fwdbwd vs 0.18 s with unbind; at 4x512x16x1024 it ran > 7 min), so only small shapes
  pscan  the same discretisation as (Bt, Di, L, N), then a work-efficient (Blelloch) scan over
         L done in log2(L) strided in-place sweeps on whole tensors (L padded to a power of two),
         as an autograd.Function whose backward is the reverse scan of (deltaA shifted by one
         step, grad h) plus dA_t = lambda_t h_{t-1} (mamba.py's pscan idea)
Ops (--ops): fwd (no autograd graph) and fwdbwd (forward, then torch.autograd.grad of out with
respect to u, delta, A, B, C, D, z, delta_bias; nothing accumulated). One line per shape,
variant and op:
    RESULT scan variant op Bt Di N L median_ms min_ms max_ms spread calls_per_sample
"""
import argparse
import math
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"# torch not importable: {e}", file=sys.stderr)
    sys.exit(3)


def l3_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            s = f.read().strip()
    except OSError:
        return 32 << 20
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in units:
        return int(s[:-1]) * units[s[-1]]
    return int(s)


def rotation_sets(nbytes, device):
    target = 256 << 20 if device.startswith("cuda") else 2 * l3_bytes()
    return max(1, min(64, math.ceil(target / nbytes)))


def quantile(sorted_vals, q):
    n = len(sorted_vals)
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    if lo >= n - 1:
        return sorted_vals[-1]
    return sorted_vals[lo] + (pos - lo) * (sorted_vals[lo + 1] - sorted_vals[lo])


def time_calls(fn, device, warmup, repeat, min_sample_ms=1.0):
    """ms per call: (median, min, max, spread, calls per sample). fn(k) gets a call counter."""
    cuda = device.startswith("cuda")
    counter = [0]

    def sample(inner):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                counter[0] += 1
                fn(counter[0])
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / inner
        t0 = time.perf_counter()
        for _ in range(inner):
            counter[0] += 1
            fn(counter[0])
        return (time.perf_counter() - t0) * 1e3 / inner

    if cuda:
        torch.cuda.synchronize()
    for _ in range(warmup):
        sample(1)
    one = sample(1)
    inner = max(1, min(10000, math.ceil(min_sample_ms / max(one, 1e-6))))
    samples = sorted(sample(inner) for _ in range(repeat))
    med = statistics.median(samples)
    spread = (quantile(samples, 0.75) - quantile(samples, 0.25)) / med if med > 0 else 0.0
    return med, samples[0], samples[-1], spread, inner


def conv_silu(x, w, b, W, L):
    return F.silu(F.conv1d(x, w.unsqueeze(1), b, padding=W - 1, groups=x.shape[1])[..., :L])


def bench_shape(B, D, L, W, ops, device, warmup, repeat):
    esize = 4
    dtype = torch.float32
    out = []
    for op in ops:
        if op == "fwd":
            nbytes = 2 * B * D * L * esize
        else:
            nbytes = 3 * B * D * L * esize
        sets = rotation_sets(nbytes, device)
        w = torch.randn(D, W, dtype=dtype, device=device)
        b = torch.randn(D, dtype=dtype, device=device)
        if op == "fwd":
            xs = [torch.randn(B, D, L, dtype=dtype, device=device) for _ in range(sets)]

            def fn(k, xs=xs):
                conv_silu(xs[(k - 1) % len(xs)], w, b, W, L)

            with torch.no_grad():
                res = time_calls(fn, device, warmup, repeat)
        else:
            wg = w.clone().requires_grad_(True)
            bg = b.clone().requires_grad_(True)
            graphs = []
            for _ in range(sets):
                x = torch.randn(B, D, L, dtype=dtype, device=device, requires_grad=True)
                y = conv_silu(x, wg, bg, W, L)
                graphs.append((x, y, torch.randn_like(y)))

            def fn(k, graphs=graphs):
                x, y, dy = graphs[(k - 1) % len(graphs)]
                torch.autograd.grad(y, (x, wg, bg), dy, retain_graph=True)

            res = time_calls(fn, device, warmup, repeat)
        out.append((op, res))
    return out


# ---- selective scan ----

def discretize_bdnl(u, delta, A, B, delta_bias):
    """dt (Bt, Di, L), deltaA and deltaB_u (Bt, Di, N, L), as selective_scan_ref lays them out."""
    dt = F.softplus(delta + delta_bias[:, None])
    deltaA = torch.exp(torch.einsum("bdl,dn->bdnl", dt, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdnl", dt, B, u)
    return dt, deltaA, deltaB_u


def gate(y, u, D, z):
    return (y + u * D[:, None]) * F.silu(z)


def scan_seq(u, delta, A, B, C, D, z, delta_bias, index=False):
    """The sequential loop over L (mamba_ssm's selective_scan_ref, variable B/C, one group).
    The per-step slices come from unbind (one backward node for all L slices); index=True takes
    them as deltaA[:, :, :, t] instead, whose backward materialises a zero gradient of the whole
    (Bt, Di, N, L) tensor at every step (O(L^2) work: only for small shapes)."""
    Bt, Di, L = u.shape
    _, deltaA, deltaB_u = discretize_bdnl(u, delta, A, B, delta_bias)
    if index:
        steps = ((deltaA[:, :, :, t], deltaB_u[:, :, :, t], C[:, :, t]) for t in range(L))
    else:
        steps = zip(deltaA.unbind(3), deltaB_u.unbind(3), C.unbind(2))
    x = u.new_zeros(Bt, Di, A.shape[1])
    ys = []
    for a_t, bu_t, c_t in steps:
        x = a_t * x + bu_t
        ys.append(torch.einsum("bdn,bn->bd", x, c_t))
    return gate(torch.stack(ys, dim=2), u, D, z)


def scan_seq_index(*args):
    return scan_seq(*args, index=True)


def blelloch_(a, x, reverse=False):
    """In place over dim -2 (length a power of two): x[t] <- the inclusive scan
    h_t = a_t h_{t-1} + x_t (h_{-1} = 0), or with reverse the right-to-left one
    h_t = a_t h_{t+1} + x_t (h_L = 0); a is overwritten. Up-sweep: in each block of 2^(d+1)
    the last element (reverse: the first) takes the middle one's (a, x) composed in; down-sweep:
    the element half a block past each complete prefix gets that prefix (its a already holds
    the product over its range). Every step is a strided view over whole tensors."""
    L, lead, N = a.shape[-2], a.shape[:-2], a.shape[-1]
    levels = L.bit_length() - 1
    for d in range(levels):                                   # up-sweep
        step, half = 2 << d, 1 << d
        av, xv = a.view(*lead, L // step, step, N), x.view(*lead, L // step, step, N)
        dst, src = (0, half) if reverse else (step - 1, half - 1)
        xv[..., dst, :].addcmul_(av[..., dst, :], xv[..., src, :])
        av[..., dst, :].mul_(av[..., src, :])
    for d in range(levels - 2, -1, -1):                       # down-sweep
        step, half = 2 << d, 1 << d
        if reverse:
            left = x[..., step:L - step + 1:step, :]
            sl = slice(step - half, L - step - half + 1, step)
        else:
            left = x[..., step - 1:L - 1:step, :]
            sl = slice(step - 1 + half, None, step)
        x[..., sl, :].addcmul_(a[..., sl, :], left)
    return x


def pscan_(a, x, reverse=False):
    """blelloch_ for any length: identity steps (a = 1, x = 0) padded at the end (no effect on
    either direction's results, x = 0 there). Returns the scanned x (x itself when L is a
    power of two); a is overwritten."""
    L = a.shape[-2]
    P = 1 << max(0, (L - 1).bit_length())
    if P == L:
        return blelloch_(a, x, reverse)
    pad = (0, 0, 0, P - L)
    return blelloch_(F.pad(a, pad, value=1.0), F.pad(x, pad), reverse)[..., :L, :]


class PScan(torch.autograd.Function):
    """h = scan of (a, x) over dim -2, a and x (Bt, Di, L, N); x is consumed (the result is
    written into it when L is a power of two)."""

    @staticmethod
    def forward(ctx, a, x):
        h = pscan_(a.clone(), x)
        if h is x:
            ctx.mark_dirty(x)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, gh):
        a, h = ctx.saved_tensors
        L = a.shape[-2]
        # lambda_t = gh_t + a_{t+1} lambda_{t+1}: the same scan run right to left
        a_next = torch.empty_like(a)
        a_next[..., :L - 1, :] = a[..., 1:, :]
        a_next[..., L - 1, :] = 0
        lam = pscan_(a_next, gh.clone(), reverse=True)
        da = torch.empty_like(a)
        da[..., 0, :] = 0
        torch.mul(lam[..., 1:, :], h[..., :L - 1, :], out=da[..., 1:, :])
        return da, lam


def scan_pscan(u, delta, A, B, C, D, z, delta_bias):
    """The parallel scan over L on (Bt, Di, L, N) tensors."""
    dt = F.softplus(delta + delta_bias[:, None])
    deltaA = (dt.unsqueeze(-1) * A[:, None, :]).exp_()                            # (Bt, Di, L, N)
    deltaB_u = (dt * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)           # (Bt, Di, L, N)
    h = PScan.apply(deltaA, deltaB_u)
    y = torch.einsum("bdln,bln->bdl", h, C.transpose(1, 2))
    return gate(y, u, D, z)


SCAN_VARIANTS = {"seq": scan_seq, "pscan": scan_pscan, "seqindex": scan_seq_index}


def scan_inputs(Bt, Di, N, L, device, requires_grad):
    """Mamba-like values: A = -(n+1), delta_bias the inverse softplus of dt log-uniform in
    [1e-3, 1e-1], delta small around 0, D = 1."""
    f32 = dict(dtype=torch.float32, device=device)
    dt0 = torch.exp(torch.rand(Di, **f32) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    t = dict(u=torch.randn(Bt, Di, L, **f32), delta=0.1 * torch.randn(Bt, Di, L, **f32),
             A=-torch.arange(1, N + 1, **f32).repeat(Di, 1), B=torch.randn(Bt, N, L, **f32),
             C=torch.randn(Bt, N, L, **f32), D=torch.ones(Di, **f32), z=torch.randn(Bt, Di, L, **f32),
             delta_bias=dt0 + torch.log(-torch.expm1(-dt0)))
    if requires_grad:
        for v in t.values():
            v.requires_grad_(True)
    return t


SCAN_ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def check_scan_variants(device):
    """seq, pscan and seqindex agree (f64; L a power of two, not one (the pscan pads), and 1), forward
    and every gradient."""
    torch.manual_seed(7)
    worst = 0.0
    for L in (16, 13, 1):
        t = {k: (3 * v if k == "delta" else v).double().detach().requires_grad_(True)
             for k, v in scan_inputs(2, 3, 4, L, device, False).items()}
        dy = torch.randn(2, 3, L, dtype=torch.float64, device=device)
        res = []
        for fn in (scan_seq, scan_pscan, scan_seq_index):
            y = fn(*(t[k] for k in SCAN_ARGS))
            res.append([y] + list(torch.autograd.grad(y, [t[k] for k in SCAN_ARGS], dy)))
        for other in res[1:]:
            worst = max([worst] + [float((a - b).abs().max() / (1 + b.abs().max())) for a, b in zip(res[0], other)])
    if worst > 1e-10:
        print(f"# seq, pscan and seqindex disagree: {worst:.2e}", file=sys.stderr)
        sys.exit(5)
    return worst


def bench_scan_shape(Bt, Di, N, L, variants, ops, device, warmup, repeat):
    esize = 4
    out = []
    # compulsory bytes: u, delta, z in, out (and du, ddelta, dz, dout for fwdbwd), B, C in
    nbytes = (4 * Bt * Di * L + 2 * Bt * N * L) * esize
    for variant in variants:
        fn = SCAN_VARIANTS[variant]
        for op in ops:
            bwd = op == "fwdbwd"
            sets = rotation_sets(nbytes * (2 if bwd else 1), device)
            ins = [scan_inputs(Bt, Di, N, L, device, bwd) for _ in range(sets)]
            douts = [torch.randn(Bt, Di, L, dtype=torch.float32, device=device) for _ in range(sets)] if bwd else None

            def call(k, ins=ins, douts=douts, fn=fn, bwd=bwd):
                t = ins[(k - 1) % len(ins)]
                leaves = [t[a] for a in SCAN_ARGS]
                y = fn(*leaves)
                if bwd:
                    torch.autograd.grad(y, leaves, douts[(k - 1) % len(douts)])

            if bwd:
                res = time_calls(call, device, warmup, repeat)
            else:
                with torch.no_grad():
                    res = time_calls(call, device, warmup, repeat)
            out.append((variant, op, res))
            del ins, douts
    return out


def main_scan(args, device):
    worst = check_scan_variants(device)
    print(f"# scan: seq, pscan and seqindex agree in f64 (forward and gradients, max rel diff {worst:.1e})")
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in SCAN_VARIANTS:
            print(f"# unknown scan variant {v}", file=sys.stderr)
            sys.exit(2)
    ops = [o for o in args.ops.split(",") if o] if args.ops else ["fwd", "fwdbwd"]
    for shape in args.shapes.split(","):
        Bt, Di, N, L = (int(v) for v in shape.split("x"))
        torch.manual_seed(args.seed)
        for variant, op, (med, mn, mx, spread, inner) in bench_scan_shape(Bt, Di, N, L, variants, ops, device,
                                                                         args.warmup, args.repeat):
            print(f"RESULT scan {variant} {op} {Bt} {Di} {N} {L} {med:.6f} {mn:.6f} {mx:.6f} {spread:.4f} {inner}",
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", default="conv", choices=["conv", "scan"])
    ap.add_argument("--shapes", default=None, help="BxDxL,BxDxL,... (conv); BtxDixNxL,... (scan)")
    ap.add_argument("--variants", default="seq,pscan", help="scan: seq,pscan")
    ap.add_argument("--W", type=int, default=4)
    ap.add_argument("--ops", default=None, help="conv: fwd,bwd (default); scan: fwd,fwdbwd (default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = args.device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("# torch: no CUDA device available", file=sys.stderr)
            sys.exit(4)
        print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}, "
              f"cuDNN {torch.backends.cudnn.version()} (benchmark={torch.backends.cudnn.benchmark})")
    else:
        print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    if args.op == "scan":
        args.shapes = args.shapes or "4x512x16x1024"
        main_scan(args, device)
        return
    args.shapes = args.shapes or "8x1024x2048"
    ops = [o for o in (args.ops or "fwd,bwd").split(",") if o]
    for shape in args.shapes.split(","):
        B, D, L = (int(v) for v in shape.split("x"))
        for op, (med, mn, mx, spread, inner) in bench_shape(B, D, L, args.W, ops, device,
                                                             args.warmup, args.repeat):
            print(f"RESULT {op} {B} {D} {L} {args.W} {med:.6f} {mn:.6f} {mx:.6f} {spread:.4f} {inner}",
                  flush=True)


if __name__ == "__main__":
    main()
