"""PyTorch CPU peer for training (and decoding) a small Mamba language model: what a CPU user
without mamba_ssm's CUDA kernels writes, the mamba.py way (alxndrTL/mamba.py: mambapy/mamba.py's
block structure, the selective scan as a parallel Blelloch scan in PyTorch like mambapy/pscan.py;
the code here is this repo's own).

    /usr/bin/python3 experiments/bench_mamba_torch.py                 # train step, defaults
    /usr/bin/python3 experiments/bench_mamba_torch.py --decode        # and token-by-token decoding

Model (the same as tests/fixtures/mamba_ref.py, i.e. mamba_ssm's MambaLMHeadModel with Mamba-1
mixers and no MLP): embedding (V, d) -> n_layer x [x + Mixer(RMSNorm(x))] -> RMSNorm -> logits
x @ embedding^T (tied head). Mixer: in_proj (2Di x d, no bias) -> x, z; depthwise causal conv1d
(K, bias, padding K-1 cut to L); silu; x_proj -> dt_rank, B, C; dt = softplus(dt_proj(dt_rank))
(bias inside the softplus); dA = exp(dt A), A = -exp(A_log); dBx = dt B x, both (Bt, L, Di, N);
h = pscan(dA, dBx); y = h C + D x; y silu(z); out_proj. RMSNorm eps 1e-5. Init: the PyTorch
defaults plus Mamba's dt / A / D init, then mamba_ssm's model-level embedding N(0, 0.02^2) and
out_proj / sqrt(n_layer). float32.
Defaults: d_model 64, n_layer 2, vocab 16, d_state 16, d_conv 4, expand 2 (66,496 parameters).

pscan: h_t = a_t h_{t-1} + x_t over dim 1 of (Bt, L, Di, N) tensors, L padded to a power of two;
up-sweep then down-sweep, 2 log2(L) - 1 in-place strided updates on whole tensors. Its autograd
backward is the same scan run right to left on (a shifted one step earlier, grad h), giving
lambda = grad x, and grad a_t = lambda_t h_{t-1}.

Training step (timed as a whole, wall clock): forward on tokens (batch, seq_len), cross-entropy
of every position's logits against the next token (inputs are seq_len + 1 random tokens, so all
seq_len positions have a target), backward, clip_grad_norm_(1.0), AdamW(lr 2e-3; betas, eps and
weight_decay 0.01 are torch's defaults, applied to every parameter). --warmup untimed steps, then
--steps timed ones; the batches cycle over 4 pre-drawn random token tensors.
Decode (--decode): greedy generation, one token per step through the recurrent form (per layer a
conv window (Bt, Di, K-1) and the state h (Bt, Di, N); nothing grows with position), under
torch.no_grad(), for each of --decode_batches; 16 untimed steps, then --decode_tokens timed ones.

Output: '#' lines (setup, the checks), then one line per measurement:
    torch train: batch=32 seq_len=64 d_model=64 n_layer=2 vocab=16 d_state=16 params=66496
                 step_ms_median=... step_ms_min=... step_ms_max=... tokens_per_s=... threads=2
    torch decode: batch=1 tokens=256 step_ms_median=... tokens_per_s=... threads=2 ...
(each on one line; tokens_per_s = batch * seq_len / median step time, and for decode
batch / median step time).

Checks first (skip with --no-check; exit 5 when one fails): pscan against a sequential loop in
float64 (forward and both gradients, L = 1, 12, 64); then this model, loaded in float64 from
tests/fixtures/mamba/lm.safetensors (mamba_ssm's parameter names minus 'backbone.'), against that
folder's logits, loss, every gradient and its step_logits (here every token goes through the
recurrent step from zero caches, the logits from position 4 on compared).
"""
import argparse
import math
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"# torch not importable: {e}", file=sys.stderr)
    sys.exit(3)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------------------------
# parallel scan

def _sweeps_(a, x, reverse):
    """In place over dim 1 (length a power of two): x becomes the inclusive scan
    h_t = a_t h_{t-1} + x_t (reverse: h_t = a_t h_{t+1} + x_t), from zero. a is overwritten."""
    L = x.shape[1]
    levels = L.bit_length() - 1
    for d in range(levels):                     # up-sweep: combine pairs of blocks of 2^d
        s, h = 2 << d, 1 << d
        dst, src = (slice(0, L, s), slice(h, L, s)) if reverse else (slice(s - 1, L, s), slice(h - 1, L, s))
        x[:, dst].addcmul_(a[:, dst], x[:, src])
        if d < levels - 1:                      # the root's product is never needed
            a[:, dst].mul_(a[:, src])
    for d in range(levels - 2, -1, -1):         # down-sweep: complete each half-block's prefix
        s, h = 2 << d, 1 << d
        dst, src = (slice(h, L - s, s), slice(s, L, s)) if reverse else (slice(s + h - 1, L, s), slice(s - 1, L - h, s))
        x[:, dst].addcmul_(a[:, dst], x[:, src])
    return x


def _padded(t, P):
    L = t.shape[1]
    if P == L:
        return t.clone()
    return F.pad(t, (0, 0, 0, 0, 0, P - L))


class PScan(torch.autograd.Function):
    """H = pscan(A, X): H_t = A_t H_{t-1} + X_t over dim 1, A and X (Bt, L, Di, N), H_{-1} = 0."""

    @staticmethod
    def forward(ctx, A, X):
        L = X.shape[1]
        P = 1 << (L - 1).bit_length()
        H = _sweeps_(_padded(A, P), _padded(X, P), False)[:, :L]
        ctx.save_for_backward(A, H)
        return H

    @staticmethod
    def backward(ctx, gH):
        A, H = ctx.saved_tensors
        L = A.shape[1]
        P = 1 << (L - 1).bit_length()
        a = A.new_zeros((A.shape[0], P) + A.shape[2:])
        a[:, :L - 1] = A[:, 1:]                  # lambda_t = A_{t+1} lambda_{t+1} + gH_t
        g = A.new_zeros(a.shape)
        g[:, :L] = gH
        lam = _sweeps_(a, g, True)[:, :L]
        dA = torch.zeros_like(A)
        dA[:, 1:] = lam[:, 1:] * H[:, :-1]
        return dA, lam


pscan = PScan.apply


def scan_sequential(A, X):
    h = torch.zeros_like(X[:, 0])
    hs = []
    for a_t, x_t in zip(A.unbind(1), X.unbind(1)):
        h = a_t * h + x_t
        hs.append(h)
    return torch.stack(hs, dim=1)


# ------------------------------------------------------------------------------------------------
# model

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    def __init__(self, d_model, d_state, d_conv, expand, dt_rank="auto", dt_min=1e-3, dt_max=0.1, dt_floor=1e-4):
        super().__init__()
        Di = expand * d_model
        R = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.d_inner, self.d_state, self.d_conv, self.dt_rank = Di, d_state, d_conv, R
        self.in_proj = nn.Linear(d_model, 2 * Di, bias=False)
        self.conv1d = nn.Conv1d(Di, Di, d_conv, groups=Di, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(Di, R + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(R, Di, bias=True)
        with torch.no_grad():
            self.dt_proj.weight.uniform_(-R ** -0.5, R ** -0.5)
            dt = torch.exp(torch.rand(Di) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            dt = dt.clamp(min=dt_floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(Di, 1)))
        self.D = nn.Parameter(torch.ones(Di))
        self.out_proj = nn.Linear(Di, d_model, bias=False)

    def forward(self, x):                                         # (Bt, L, d)
        L = x.shape[1]
        x, z = self.in_proj(x).chunk(2, dim=-1)                   # (Bt, L, Di) each
        x = F.silu(self.conv1d(x.transpose(1, 2))[:, :, :L].transpose(1, 2))
        y = self.ssm(x)
        return self.out_proj(y * F.silu(z))

    def ssm(self, x):
        A = -torch.exp(self.A_log)                                # (Di, N)
        dtr, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dtr))                     # (Bt, L, Di)
        dA = torch.exp(delta.unsqueeze(-1) * A)                   # (Bt, L, Di, N)
        dBx = (delta * x).unsqueeze(-1) * B.unsqueeze(2)          # (Bt, L, Di, N)
        h = pscan(dA, dBx)
        return (h @ C.unsqueeze(-1)).squeeze(-1) + self.D * x

    def init_cache(self, batch):
        w = self.A_log
        return (w.new_zeros(batch, self.d_inner, self.d_state), w.new_zeros(batch, self.d_inner, self.d_conv - 1))

    def step(self, x, cache):                                     # x (Bt, d)
        h, window = cache                                         # (Bt, Di, N), (Bt, Di, K-1)
        x, z = self.in_proj(x).chunk(2, dim=-1)
        full = torch.cat([window, x.unsqueeze(-1)], dim=-1)       # (Bt, Di, K), newest last
        x = F.silu((full * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias)
        A = -torch.exp(self.A_log)
        dtr, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dtr))                     # (Bt, Di)
        h = torch.exp(delta.unsqueeze(-1) * A) * h + (delta * x).unsqueeze(-1) * B.unsqueeze(1)
        y = (h @ C.unsqueeze(-1)).squeeze(-1) + self.D * x
        return self.out_proj(y * F.silu(z)), (h, full[:, :, 1:])


class ResidualBlock(nn.Module):
    def __init__(self, d_model, **kw):
        super().__init__()
        self.mixer = MambaBlock(d_model, **kw)
        self.norm = RMSNorm(d_model)

    def forward(self, x):
        return x + self.mixer(self.norm(x))

    def step(self, x, cache):
        out, cache = self.mixer.step(self.norm(x), cache)
        return x + out, cache


class MambaLM(nn.Module):
    def __init__(self, vocab, d_model, n_layer, d_state=16, d_conv=4, expand=2, dt_rank="auto"):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.layers = nn.ModuleList([ResidualBlock(d_model, d_state=d_state, d_conv=d_conv, expand=expand,
                                                   dt_rank=dt_rank) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.lm_head.weight = self.embedding.weight               # tied
        with torch.no_grad():                                     # mamba_ssm's model-level init
            nn.init.normal_(self.embedding.weight, std=0.02)
            for layer in self.layers:
                nn.init.kaiming_uniform_(layer.mixer.out_proj.weight, a=math.sqrt(5))
                layer.mixer.out_proj.weight /= math.sqrt(n_layer)

    def forward(self, tokens):                                    # (Bt, L) -> (Bt, L, V)
        x = self.embedding(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm_f(x))

    def init_caches(self, batch):
        return [layer.mixer.init_cache(batch) for layer in self.layers]

    def step(self, token, caches):                                # (Bt,) -> (Bt, V)
        x = self.embedding(token)
        for i, layer in enumerate(self.layers):
            x, caches[i] = layer.step(x, caches[i])
        return self.lm_head(self.norm_f(x)), caches


def n_params(model):
    return sum(p.numel() for p in model.parameters())            # a tied weight counts once


# ------------------------------------------------------------------------------------------------
# checks

def check_pscan():
    torch.manual_seed(3)
    worst = 0.0
    for L in (1, 12, 64):
        A = (0.3 + 0.7 * torch.rand(2, L, 5, 3, dtype=torch.float64)).requires_grad_(True)
        X = torch.randn(2, L, 5, 3, dtype=torch.float64, requires_grad=True)
        g = torch.randn(2, L, 5, 3, dtype=torch.float64)
        r = []
        for fn in (pscan, scan_sequential):
            H = fn(A, X)
            r.append([H] + list(torch.autograd.grad(H, (A, X), g)))
        worst = max([worst] + [float((p - q).abs().max()) for p, q in zip(*r)])
    return worst


def check_fixture():
    """This model in float64 with tests/fixtures/mamba's weights against its logits, loss,
    gradients and decode logits. Returns the worst differences, or None without the fixture."""
    import json
    import numpy as np
    try:
        from safetensors.torch import load_file
        from safetensors import safe_open
    except ImportError:
        return None
    here = os.path.join(REPO, "tests", "fixtures", "mamba")
    path = os.path.join(here, "lm.safetensors")
    if not os.path.exists(path):
        return None
    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    sd = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in load_file(path).items()}
    ssm = cfg["ssm_cfg"]
    V = cfg["vocab_size"] + (-cfg["vocab_size"]) % cfg["pad_vocab_size_multiple"]
    model = MambaLM(V, cfg["d_model"], cfg["n_layer"], d_state=ssm["d_state"], d_conv=ssm["d_conv"],
                    expand=ssm["expand"], dt_rank=ssm.get("dt_rank", "auto")).double()
    sd["lm_head.weight"] = sd["embedding.weight"]
    model.load_state_dict(sd, strict=True)
    load = lambda name: torch.from_numpy(np.load(os.path.join(here, name)))
    tokens, want_logits = load("tokens.npy"), load("logits.npy")
    logits = model(tokens)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1))
    names = [n for n in sd if n != "lm_head.weight"]
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    d_grad = max(float((g - load("grad.backbone.%s.npy" % n)).abs().max()) for n, g in zip(names, grads))
    with torch.no_grad():
        P = 5
        # prefill by steps from zero caches (equal to a full forward's states), then decode steps
        caches = model.init_caches(tokens.shape[0])
        steps = []
        for t in range(tokens.shape[1]):
            out, caches = model.step(tokens[:, t], caches)
            if t >= P - 1:
                steps.append(out)
        step_logits = torch.stack(steps, dim=1)
    return dict(logits=float((logits - want_logits).abs().max()),
                loss=abs(float(loss) - float(load("loss.npy"))), grads=d_grad,
                decode=float((step_logits - load("step_logits.npy")).abs().max()))


# ------------------------------------------------------------------------------------------------
# timing

def bench_train(args, model):
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    V = args.vocab
    batches = [torch.randint(0, V, (args.batch, args.seq_len + 1)) for _ in range(4)]

    def train_step(tokens):
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    times, losses = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = train_step(batches[i % len(batches)])
        dt = time.perf_counter() - t0
        losses.append(float(loss))
        if i >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    return med, min(times), max(times), losses


@torch.no_grad()
def bench_decode(args, model, batch):
    caches = model.init_caches(batch)
    token = torch.randint(0, args.vocab, (batch,))
    times = []
    for i in range(16 + args.decode_tokens):
        t0 = time.perf_counter()
        logits, caches = model.step(token, caches)
        token = logits.argmax(-1)
        dt = time.perf_counter() - t0
        if i >= 16:
            times.append(dt)
    return statistics.median(times), sum(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d_model", type=int, default=64)
    ap.add_argument("--n_layer", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=16)
    ap.add_argument("--d_state", type=int, default=16)
    ap.add_argument("--d_conv", type=int, default=4)
    ap.add_argument("--expand", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq_len", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--decode", action="store_true", help="also time token-by-token generation")
    ap.add_argument("--decode_batches", default="1,64")
    ap.add_argument("--decode_tokens", type=int, default=256, help="timed decode steps per batch size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", dest="check", action="store_false", help="skip the correctness checks")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    if args.check:
        w = check_pscan()
        print(f"# check: pscan vs sequential loop (f64, L = 1, 12, 64; H, dA, dX): max |diff| {w:.1e}")
        ok = w < 1e-12
        r = check_fixture()
        if r is None:
            print("# check: tests/fixtures/mamba not readable (or no safetensors): fixture check skipped")
        else:
            print("# check: vs tests/fixtures/mamba (f64): max |diff| logits %.1e, loss %.1e, grads %.1e, "
                  "decode logits %.1e" % (r["logits"], r["loss"], r["grads"], r["decode"]))
            ok = ok and max(r.values()) < 1e-12
        if not ok:
            print("# check FAILED", file=sys.stderr)
            sys.exit(5)

    torch.manual_seed(args.seed)
    model = MambaLM(args.vocab, args.d_model, args.n_layer, d_state=args.d_state, d_conv=args.d_conv,
                    expand=args.expand)
    common = (f"d_model={args.d_model} n_layer={args.n_layer} vocab={args.vocab} d_state={args.d_state} "
              f"params={n_params(model)}")
    med, mn, mx, losses = bench_train(args, model)
    print(f"# train: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} steps")
    print(f"torch train: batch={args.batch} seq_len={args.seq_len} {common} step_ms_median={med * 1e3:.3f} "
          f"step_ms_min={mn * 1e3:.3f} step_ms_max={mx * 1e3:.3f} "
          f"tokens_per_s={args.batch * args.seq_len / med:.1f} threads={args.threads}", flush=True)
    if args.decode:
        model.eval()
        for b in (int(v) for v in args.decode_batches.split(",") if v):
            med, total = bench_decode(args, model, b)
            print(f"torch decode: batch={b} tokens={args.decode_tokens} {common} step_ms_median={med * 1e3:.3f} "
                  f"tokens_per_s={b / med:.1f} threads={args.threads}", flush=True)


if __name__ == "__main__":
    main()
