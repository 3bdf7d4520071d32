-- Training and decoding speed of a small Mamba LM (the default model of experiments/mamba_block.lua:
-- d_model 64, 2 layers, vocab 16, d_state 16), next to the limits measured in the same run and to
-- PyTorch CPU written as a CPU user would (experiments/bench_mamba_torch.py: mamba.py's parallel
-- scan), with the share of each training step spent in Lua rather than in C.
--
--   luajit experiments/bench_mamba.lua [--batch 32] [--seq_len 64] [--steps 30] [--no-torch]
--
-- Training step: forward on (batch, seq_len) tokens, cross-entropy of every position against the
-- next token, backward, clip_grad_norm_(1.0), AdamW (lr 2e-3, weight decay 0.01 on every
-- parameter) -- the same step bench_mamba_torch.py times. Reported: median step time, tokens/s,
-- model GFLOP/s (3x the forward FLOPs of mamba_block.md §1.3, + the LM head) next to a large
-- sgemm's GFLOP/s through cc.matmul (the compute roof the matmuls could reach), and the Lua
-- share: 1 - (time inside C calls) / (step time), timed with $CC_PROFILE_C (lua/causalconv/ffi.lua).
-- Decode: greedy generate at batch 1 and 64, tokens/s, and the bytes each token touches (every
-- layer's conv and SSM state read and written, plus every weight read once per step) as GB/s next
-- to a tensor copy's GB/s. With --device cuda the model, batches and limits live on the GPU (the
-- copy is a device-to-device copy, the roof a cuBLAS sgemm, each step ends with a synchronize);
-- the PyTorch peer stays a CPU one, so it is not run there.
local script_dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
package.path = script_dir .. "../lua/?.lua;" .. script_dir .. "../lua/?/init.lua;"
    .. script_dir .. "?.lua;" .. package.path
local util = require "bench_util"

local usage = [[
usage: luajit experiments/bench_mamba.lua [options]
  --batch B --seq_len T   training batch (32, 64)
  --d_model D --n_layer N model (64, 2); vocab 16, d_state 16
  --steps N               timed training steps (30, after 5 untimed)
  --decode_tokens N       generated tokens per decode measurement (128)
  --threads N             OpenMP threads (the library's default)
  --device cpu|cuda       where the model runs (cpu)
  --python PATH           the Python with torch (/usr/bin/python3); --no-torch skips the peer
  --no-pin                leave OpenMP threads unpinned (as a script that does not pin them runs)
  --help]]
local opts = util.parse_args(arg, { batch = "number", seq_len = "number", d_model = "number", n_layer = "number",
    steps = "number", decode_tokens = "number", threads = "number", python = "string", device = "string", ["no-torch"] = "flag", ["no-pin"] = "flag",
    help = "flag" }, usage)
if opts.help then print(usage) os.exit(0) end
local Bt, T = opts.batch or 32, opts.seq_len or 64
local d, n_layer, V, N = opts.d_model or 64, opts.n_layer or 2, 16, 16
local steps, ntok = opts.steps or 30, opts.decode_tokens or 128
opts.device = opts.device or "cpu"
if opts.device ~= "cpu" and not opts.device:match("^cuda") then util.die("--device: expected cpu or cuda, got " .. opts.device, 2) end

if not opts["no-pin"] then util.pin_threads() end
require("ffi").C.cc_bench_setenv("CC_PROFILE_C", "1", 1)
local cc = require "causalconv"
local F = require "causalconv.ffi"
if opts.threads then cc.set_num_threads(opts.threads) end
local bench = cc.bench
local device = util.select_device(cc, opts.device)
local on_cuda = device ~= "cpu"
local function sync() if on_cuda then cc.cuda.synchronize() end end
if on_cuda then opts["no-torch"] = true end

io.write(bench.describe(bench.machine(device)), "\n")

-- ---- training ---------------------------------------------------------------------------------

cc.manual_seed(0)
local lm = cc.nn.MambaLM { d_model = d, n_layer = n_layer, vocab_size = V, d_state = N, device = device }
local params = lm:parameters()
local opt = cc.optim.AdamW(params, { lr = 2e-3, weight_decay = 0.01 })
local gen = cc.Generator(1)
local batches = {}
for i = 1, 4 do batches[i] = cc.tensor(gen:randint(0, V, Bt * (T + 1)), { dtype = "i64" }):view(Bt, T + 1):to(device) end

local function train_step(k)
    local b = batches[(k - 1) % 4 + 1]
    local logits = lm(b:narrow(2, 1, T))
    local loss = cc.cross_entropy(logits:reshape(-1, lm.padded_vocab), b:narrow(2, 2, T):reshape(-1))
    opt:zero_grad()
    loss:backward()
    cc.optim.clip_grad_norm_(params, 1.0)
    opt:step()
    sync()
    return loss
end

for k = 1, 5 do train_step(k) end
local times, lua_share, by_name = {}, {}, {}
for k = 1, steps do
    F.profile.reset()
    local t0 = bench.now()
    train_step(k)
    local dt = bench.now() - t0
    times[k] = dt
    lua_share[k] = 1 - F.profile.seconds / dt
    for name, sec in pairs(F.profile.by_name) do by_name[name] = (by_name[name] or 0) + sec end
end
local st, ls = bench.stats(times), bench.stats(lua_share)
local Di, R = 2 * d, math.ceil(d / 16)
local fwd_flops = n_layer * (2 * (2 * Di * d + Di * (R + 2 * N) + R * Di + Di * d) + 2 * 4 * Di + 7 * Di * N) + 2 * d * lm.padded_vocab
local gflops = 3 * fwd_flops * Bt * T / st.median / 1e9

-- the matmul roof: a large sgemm through cc.matmul
local a, b = cc.randn(1024, 1024, { device = device }), cc.randn(1024, 1024, { device = device })
local mm = bench.time(function() return a:matmul(b) end, { ["repeat"] = 7, device = device })
local roof = 2 * 1024 ^ 3 / (mm.median / 1e3) / 1e9

print(string.format("causalconv train: batch=%d seq_len=%d d_model=%d n_layer=%d params=%d step_ms_median=%.2f "
    .. "(p25 %.2f, p75 %.2f) tokens_per_s=%.0f", Bt, T, d, n_layer, lm:num_parameters(), st.median * 1e3, st.p25 * 1e3,
    st.p75 * 1e3, Bt * T / st.median))
print(string.format("  model %.2f GFLOP/s = %.0f%% of the sgemm roof measured now (1024^3 cc.matmul: %.1f GFLOP/s)",
    gflops, 100 * gflops / roof, roof))
print(string.format("  Lua share of the step: median %.1f%% (p25 %.1f%%, p75 %.1f%%): time outside C calls, %d C calls per step",
    100 * ls.median, 100 * ls.p25, 100 * ls.p75, F.profile.calls))
local total = 0
for _, t in ipairs(times) do total = total + t end
local names = {}
for name in pairs(by_name) do names[#names + 1] = name end
table.sort(names, function(x, y) return by_name[x] > by_name[y] end)
local parts = {}
for i = 1, math.min(6, #names) do
    parts[i] = string.format("%s %.1f%%", names[i]:gsub("^cc_", ""), 100 * by_name[names[i]] / total)
end
print("  where the step goes (share of the step time, by C function): " .. table.concat(parts, ", "))

-- ---- decode -----------------------------------------------------------------------------------

local copy = bench.time((bench.copy(64 * 2 ^ 20, { device = device })), { ["repeat"] = 5, device = device })
local copy_gbps = bench.gbps(64 * 2 ^ 20, copy.median)
local weight_bytes = 4 * lm:num_parameters()
local state_bytes = n_layer * Di * (4 + N) * 4   -- conv_state (Di, K) and ssm_state (Di, N), f32
local decode = {}
for _, db in ipairs({ 1, 64 }) do
    local prompt = cc.tensor(gen:randint(0, V, db * 4), { dtype = "i64" }):view(db, 4):to(device)
    lm:generate(prompt, { max_new_tokens = 8 })
    sync()
    local copies0 = on_cuda and cc.cuda.memory_stats().device_to_host_copies
    local t0 = bench.now()
    lm:generate(prompt, { max_new_tokens = ntok })
    sync()
    local dt = bench.now() - t0
    if on_cuda then
        print(string.format("  decode batch=%d: %.2f device-to-host copies (host waits) per step", db,
            (cc.cuda.memory_stats().device_to_host_copies - copies0) / ntok))
    end
    local per_step = dt / ntok
    local bytes = weight_bytes + 2 * state_bytes * db
    decode[db] = db * ntok / dt
    print(string.format("causalconv decode: batch=%d tokens=%d step_ms=%.3f tokens_per_s=%.0f state_bytes_per_token=%d "
        .. "(read + written: %d) bytes_per_step=%d -> %.2f GB/s = %.1f%% of copy (%.1f GB/s)", db, ntok, per_step * 1e3,
        decode[db], state_bytes, 2 * state_bytes, bytes, bytes / per_step / 1e9, 100 * bytes / per_step / 1e9 / copy_gbps, copy_gbps))
end

-- ---- the peer ---------------------------------------------------------------------------------

if not opts["no-torch"] then
    local python = opts.python or "/usr/bin/python3"
    local cmd = string.format("%s %sbench_mamba_torch.py --batch %d --seq_len %d --d_model %d --n_layer %d --steps %d "
        .. "--threads %d --decode --decode_tokens %d --no-check 2>&1", python, script_dir, Bt, T, d, n_layer, math.min(steps, 10),
        cc.get_num_threads(), ntok)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    local ttps = tonumber(out:match("torch train:.-tokens_per_s=([%d.]+)"))
    if not ttps then
        print("torch: no result (" .. cmd .. "):\n" .. out)
    else
        print(string.format("torch train: tokens_per_s=%.0f -> causalconv is %.1fx faster", ttps, Bt * T / st.median / ttps))
        for db, tps in pairs(decode) do
            local t = tonumber(out:match("torch decode: batch=" .. db .. " .-tokens_per_s=([%d.]+)"))
            if t then print(string.format("torch decode: batch=%d tokens_per_s=%.0f -> causalconv is %.1fx faster", db, t, tps / t)) end
        end
    end
end
