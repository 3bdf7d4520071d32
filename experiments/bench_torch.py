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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="8x1024x2048", help="BxDxL,BxDxL,...")
    ap.add_argument("--W", type=int, default=4)
    ap.add_argument("--ops", default="fwd,bwd")
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
    ops = [o for o in args.ops.split(",") if o]
    for shape in args.shapes.split(","):
        B, D, L = (int(v) for v in shape.split("x"))
        for op, (med, mn, mx, spread, inner) in bench_shape(B, D, L, args.W, ops, device,
                                                             args.warmup, args.repeat):
            print(f"RESULT {op} {B} {D} {L} {args.W} {med:.6f} {mn:.6f} {mx:.6f} {spread:.4f} {inner}",
                  flush=True)


if __name__ == "__main__":
    main()
