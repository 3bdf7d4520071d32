-- Gradient checks of every differentiable op, of the causal conv configurations that matter, of
-- the selective scan (every input, last_state, groups, time-invariant B / C, seq_idx with padding)
-- and of the Mamba block and LM (cc.nn: the input and every parameter, the tied embedding),
-- against central differences in f64; the state update's forward against the naive formula; then
-- the f32 and bf16 conv kernels against the f64 result.
-- The first command to run after building:
--
--   luajit experiments/gradcheck.lua [--device cpu|cuda] [--filter PATTERN] [--quick]
--   make gradcheck ARGS="--filter conv"
--
-- One line per case as it completes: name, max abs error, max rel error, PASS/FAIL; then a
-- summary. Exit status 0 only when every case passes.
local script_dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
package.path = script_dir .. "../lua/?.lua;" .. script_dir .. "../lua/?/init.lua;" .. package.path

local usage = [[
usage: luajit experiments/gradcheck.lua [options]
  --device cpu|cuda   device the tensors live on (default cpu); cuda needs a GPU, or the
                      emulated library (CAUSALCONV_LIB=build/emu/libcausalconv.so)
  --filter PATTERN    only cases whose name matches this Lua pattern (e.g. "conv", "^softmax")
  --quick             fewer and smaller cases (a smoke run)
  --seed N            random seed (default 1)
  --threads N         CPU threads (default 1: the cases are tiny)
  --help              this text
Gradients: f64, central differences (eps 1e-6), an element passes when
|analytic - numeric| <= 1e-5 + 1e-3 * |numeric|. Precision lines compare the f32 / bf16 kernels
with the f64 result on the same (rounded) inputs, with the dtype's tolerance.
Environment: CAUSALCONV_LIB selects the library (default build/libcausalconv.so).]]

local opts = { device = "cpu", seed = 1 }
do
    local i = 1
    while i <= #arg do
        local a = arg[i]
        if a == "--help" or a == "-h" then print(usage) os.exit(0)
        elseif a == "--quick" then opts.quick = true
        elseif a == "--device" or a == "--filter" or a == "--seed" or a == "--threads" then
            if arg[i + 1] == nil then io.stderr:write(a .. ": expects a value\n" .. usage .. "\n") os.exit(2) end
            opts[a:sub(3)] = arg[i + 1]
            i = i + 1
        else
            io.stderr:write("unknown argument " .. a .. "\n" .. usage .. "\n")
            os.exit(2)
        end
        i = i + 1
    end
end
if opts.device ~= "cpu" and opts.device ~= "cuda" and not opts.device:match("^cuda:%d+$") then
    io.stderr:write("--device: expected cpu or cuda, got " .. opts.device .. "\n")
    os.exit(2)
end
-- A bad --filter pattern: one line, not a traceback from string.find. Lua finds some errors only
-- on a subject that gets far enough ("(conv" on "conv ..."): checked on "" now, on every case
-- name before the first case runs.
local function check_filter(names)
    if not opts.filter then return end
    for _, name in ipairs(names) do
        local ok, err = pcall(string.find, name, opts.filter)
        if not ok then
            io.stderr:write(string.format("--filter: bad Lua pattern %q: %s (escape magic characters ( ) . %% + - * ? [ ^ $ with %%)\n",
                opts.filter, (tostring(err):gsub("^[^:]*:%d+: ", ""):gsub("^bad argument #2 to '%?'%s*", ""))))
            os.exit(2)
        end
    end
end
check_filter({ "" })

local cc = require "causalconv"
local C = cc.C
if opts.device ~= "cpu" and C.cc_cuda_is_available() == 0 then   -- the REPL banner's words
    io.stderr:write("--device " .. opts.device .. ": no GPU to run on ("
        .. (C.cc_cuda_is_built() == 0 and "cuda: not built" or "cuda: built, no device") .. "; library "
        .. tostring(require("causalconv.ffi").libpath)
        .. "); the CPU emulation: CAUSALCONV_LIB=build/emu/libcausalconv.so (make emu)\n")
    os.exit(2)
end
cc.manual_seed(tonumber(opts.seed))
-- the tensors here are tiny: one thread avoids OpenMP start-up and barrier costs on every call
cc.set_num_threads(tonumber(opts.threads) or 1)
local DEV = opts.device
local quick = opts.quick

-- ---- case registry and output -------------------------------------------------------------

local cases = {}
local function case(name, run) cases[#cases + 1] = { name = name, run = run } end

local NAME_WIDTH = 62
local function line(name, abs, rel, ok, note)
    local s = string.format("%-" .. NAME_WIDTH .. "s max abs %9.2e  max rel %9.2e  %s", name, abs, rel,
        ok and "PASS" or "FAIL")
    if note then s = s .. "  " .. note end
    io.stdout:write(s, "\n")
    io.stdout:flush()
end

-- ---- inputs ---------------------------------------------------------------------------------

local F64 = { dtype = "f64", device = DEV }

-- a leaf f64 tensor with requires_grad; scale/shift move values away from kinks
local function leaf(sizes, scale, shift)
    local t = cc.randn(sizes, F64)
    cc.no_grad(function()
        if scale then t:mul_(scale) end
        if shift then t:add_(shift) end
    end)
    return t:requires_grad_()
end

-- the same values as a non-contiguous leaf: stored transposed (last two dims swapped)
local function strided(sizes, scale, shift)
    local n = #sizes
    local st = {}
    for i = 1, n do st[i] = sizes[i] end
    st[n - 1], st[n] = sizes[n], sizes[n - 1]
    local base = leaf(st, scale, shift):detach()
    return base:transpose(n - 1, n):requires_grad_()
end

-- values of magnitude in [lo, lo + 1), random signs kept away from 0 (for abs, relu)
local function away_from_zero(sizes, lo)
    local t = cc.randn(sizes, F64)
    local sign = cc.no_grad(function() return t:sub(0):div(t:abs()) end)
    local mag = cc.rand(sizes, F64)
    return cc.no_grad(function() return sign * (mag + lo) end):requires_grad_()
end

local function index_tensor(values) return cc.tensor(values, { dtype = "i64", device = DEV }) end

local function gc(name, fn, inputs, gopts)
    case(name, function()
        local ok, rep = cc.gradcheck(fn, inputs, gopts)
        return { ok = ok, abs = rep.max_abs or 0 / 0, rel = rep.max_rel or 0 / 0, note = (not ok) and rep.message or nil }
    end)
end

-- ---- elementwise, reductions, ... ---------------------------------------------------------

local S = quick and { 2, 3 } or { 3, 4 }

gc("add", function(a, b) return a + b end, { leaf(S), leaf(S) })
gc("add broadcast (3,1,4)+(2,4)", function(a, b) return a + b end, { leaf({ 3, 1, 4 }), leaf({ 2, 4 }) })
gc("sub broadcast (2,1)-(3) and scalars", function(a, b) return 1 - (a - b) - 2 end, { leaf({ 2, 1 }), leaf({ 3 }) })
gc("mul broadcast (4,1)*(1,3), 2*x", function(a, b) return 2 * (a * b) end, { leaf({ 4, 1 }), leaf({ 1, 3 }) })
gc("div broadcast (3,4)/(4), 1/x, x/3", function(a, b) return 1 / (a / b) + a / 3 end,
    { leaf(S), leaf({ S[2] }, 0.3, 2) })
gc("mul non-contiguous", function(a, b) return a * b end, { strided(S), strided(S) })
gc("neg", function(x) return -x end, { leaf(S) })
gc("exp", function(x) return x:exp() end, { leaf(S) })
gc("log", function(x) return x:log() end, { leaf(S, 0.2, 2) })
gc("sqrt", function(x) return x:sqrt() end, { leaf(S, 0.2, 2) })
gc("rsqrt", function(x) return x:rsqrt() end, { leaf(S, 0.2, 2) })
gc("pow x^3, x^0.5", function(x) return x ^ 3 + (x * x + 1) ^ 0.5 end, { leaf(S) })
gc("pow 2^x", function(x) return 2 ^ x end, { leaf(S) })
gc("abs", function(x) return x:abs() end, { away_from_zero(S, 0.1) })
gc("sigmoid", function(x) return x:sigmoid() end, { leaf(S, 2) })
gc("silu", function(x) return x:silu() end, { leaf(S, 2) })
gc("softplus", function(x) return x:softplus() end, { leaf(S, 3) })
gc("tanh", function(x) return x:tanh() end, { leaf(S) })
gc("relu", function(x) return x:relu() end, { away_from_zero(S, 0.1) })
gc("sum all", function(x) return x:sum() end, { leaf({ 2, 3, 4 }) })
gc("sum dim 2", function(x) return x:sum(2) end, { leaf({ 2, 3, 4 }) })
gc("sum dims {1,3} keepdim, non-contiguous", function(x) return x:sum({ 1, 3 }, true) end, { strided({ 2, 3, 4 }) })
gc("mean all, mean dim -1", function(x) return x:mean() + x:mean(-1) end, { leaf({ 3, 4 }) })
gc("max dim 2", function(x) return (x:max(2)) end, { leaf({ 3, 5 }) })
gc("max dim 1 keepdim, non-contiguous", function(x) return (x:max(1, true)) end, { strided({ 3, 4 }) })
gc("softmax dim -1", function(x) return x:softmax(-1) end, { leaf({ 3, 5 }) })
gc("softmax dim 1 (3-d)", function(x) return x:softmax(1) end, { leaf({ 3, 2, 4 }) })
gc("log_softmax dim -1, non-contiguous", function(x) return x:log_softmax(-1) end, { strided({ 3, 5 }) })
gc("matmul 2-d", function(a, b) return a:matmul(b) end, { leaf({ 3, 4 }), leaf({ 4, 2 }) })
gc("matmul batched broadcast (2,1,3,4)@(3,4,2)", function(a, b) return a:matmul(b) end,
    { leaf({ 2, 1, 3, 4 }), leaf({ 3, 4, 2 }) })
gc("matmul 1-d @ 2-d, 2-d @ 1-d", function(v, m) return v:matmul(m):sum() + m:matmul(v) end,
    { leaf({ 3 }), leaf({ 3, 3 }) })
gc("matmul non-contiguous", function(a, b) return a:matmul(b) end, { strided({ 3, 4 }), strided({ 4, 2 }) })
gc("linear (2,3,4) W (5,4) b (5)", function(x, w, b) return cc.linear(x, w, b) end,
    { leaf({ 2, 3, 4 }), leaf({ 5, 4 }), leaf({ 5 }) })
gc("cat dim 2", function(a, b) return cc.cat({ a, b }, 2) end, { leaf({ 2, 3 }), leaf({ 2, 2 }) })
gc("split / chunk (one piece unused)", function(x)
    local p = x:split(2, 2)
    local q = x:chunk(3, 1)
    return p[1] * 2 + p[3]:sum(), q[2]
end, { leaf({ 3, 5 }) })
gc("narrow, select", function(x) return x:narrow(2, 2, 3) * 2, x:select(1, -1) end, { leaf({ 3, 5 }) })
gc("transpose, t, permute", function(x)
    return x:transpose(1, 3):contiguous(), x:select(1, 1):t(), x:permute(2, 3, 1)
end, { leaf({ 2, 3, 4 }) })
gc("view, reshape, expand, unsqueeze, squeeze", function(x)
    return x:view(6, 2), x:transpose(1, 2):reshape(-1), x:unsqueeze(2):expand(3, 2, 4):clone(),
        x:unsqueeze(1):squeeze(1)
end, { leaf({ 3, 2, 2 }):view(3, 4):detach():requires_grad_() })
gc("to f32 and back", function(x) return x:to("f32"):to("f64") * 1 end, { leaf(S) }, { eps = 1e-2, atol = 1e-4, rtol = 1e-3 })
gc("index_select dim 1 (repeated ids)", function(x) return x:index_select(1, index_tensor({ 2, 0, 2 })) end,
    { leaf({ 4, 3 }) })
gc("embedding (2,3) ids", function(w) return cc.embedding(w, index_tensor({ { 0, 3, 1 }, { 3, 3, 2 } })) end,
    { leaf({ 4, 5 }) })
gc("cross_entropy ignore_index", function(z)
    return cc.cross_entropy(z, index_tensor({ 1, 4, -100, 0 }))
end, { leaf({ 4, 5 }) })
gc("mse_loss", function(a, b) return cc.mse_loss(a, b) end, { leaf(S), leaf(S) })
gc("rms_norm with weight", function(x, w) return cc.rms_norm(x, w, 1e-5) end, { leaf({ 2, 3, 6 }), leaf({ 6 }) })
gc("rms_norm no weight, non-contiguous", function(x) return cc.rms_norm(x, nil, 1e-5) end, { strided({ 3, 5 }) })
gc("gelu", function(x) return x:gelu() end, { leaf(S, 2) })
gc("min all, min dim 2", function(x) return x:min() + (x:min(2)):sum() end, { leaf({ 3, 5 }) })
gc("where (cond (3,1), a (3,4), b (4))", function(a, b)
    return cc.where(cc.tensor({ { 1 }, { 0 }, { 1 } }, { device = DEV, dtype = "i32" }), a, b)
end, { leaf({ 3, 4 }), leaf({ 4 }) })
gc("clamp (-0.5, 0.5), clamp max only", function(x) return cc.clamp(x, -0.5, 0.5) + cc.clamp(x, nil, 0.2) end,
   { away_from_zero(S, 0.1) })
gc("stack dim 2, dim -1", function(a, b) return cc.stack({ a, b }, 2), cc.stack({ b, a }, -1) end,
   { leaf({ 3, 4 }), leaf({ 3, 4 }) })
gc("layer_norm with weight and bias", function(x, w, b) return cc.layer_norm(x, 6, w, b) end,
   { leaf({ 2, 3, 6 }), leaf({ 6 }), leaf({ 6 }) })
gc("layer_norm no weight, non-contiguous", function(x) return cc.layer_norm(x, { 5 }) end, { strided({ 3, 5 }) })

-- ---- causal conv1d --------------------------------------------------------------------------

-- x (B, D, L) in a layout: "cf" a (B, D, L) buffer, "cl" a (B, L, D) buffer viewed as (B, D, L);
-- strided: a slice of a larger buffer in that layout (batch, channel and time strides all padded)
local function conv_x(B, D, L, layout, is_strided)
    local t
    if layout == "cf" then
        t = is_strided and leaf({ B, D + 3, 2 * L }):detach():narrow(2, 2, D):narrow(3, 3, L) or leaf({ B, D, L })
    else
        t = is_strided and leaf({ B, 2 * L, D + 5 }):detach():narrow(2, 3, L):narrow(3, 2, D) or leaf({ B, L, D })
        t = t:detach():transpose(2, 3)
    end
    return t:detach():requires_grad_()
end

local function act_name(silu) return silu and "silu" or nil end

local function conv_case(B, D, L, W, layout, has_bias, silu, is_strided)
    local name = string.format("causal_conv1d %s W=%d %s %s%s", layout, W, has_bias and "bias" or "nobias",
        silu and "silu" or "noact", is_strided and " strided" or "")
    local x = conv_x(B, D, L, layout, is_strided)
    local inputs = { x, leaf({ D, W }, 0.5), has_bias and leaf({ D }) or nil }
    gc(name, function(xx, w, b)
        return cc.causal_conv1d(xx, w, b, { activation = act_name(silu) })
    end, inputs, { names = { "x", "weight", "bias" } })
end

local B, D, L = 2, 3, quick and 6 or 9
local widths = quick and { 1, 4 } or { 1, 2, 3, 4, 7 }
for _, W in ipairs(widths) do
    for _, layout in ipairs { "cf", "cl" } do
        for _, has_bias in ipairs { true, false } do
            for _, silu in ipairs { true, false } do
                if not quick or (has_bias == silu) then conv_case(B, D, L, W, layout, has_bias, silu, false) end
            end
        end
    end
end
for _, layout in ipairs { "cf", "cl" } do
    conv_case(B, D, L, 4, layout, true, true, true)
    if not quick then conv_case(B, D, L, 3, layout, false, false, true) end
end

-- initial states in, final states out (both feed the projected loss)
local function states_case(W, layout, silu, with_init, with_final, short)
    local Ls = short and math.max(1, W - 2) or L
    local name = string.format("causal_conv1d %s W=%d %s%s%s%s", layout, W, silu and "silu" or "noact",
        with_init and " initial_states" or "", with_final and " final_states" or "", short and " L<W-1" or "")
    local init = with_init and leaf({ B, D, W - 1 }) or nil
    if init and layout == "cl" then init = leaf({ B, W - 1, D }):detach():transpose(2, 3):requires_grad_() end
    gc(name, function(x, w, b, s0)
        return cc.causal_conv1d(x, w, b, { activation = act_name(silu), initial_states = s0,
            return_final_states = with_final })
    end, { conv_x(B, D, Ls, layout, false), leaf({ D, W }, 0.5), leaf({ D }), init },
        { names = { "x", "weight", "bias", "initial_states" } })
end

for _, layout in ipairs { "cl", "cf" } do
    states_case(4, layout, true, true, false)
    states_case(4, layout, true, true, true)
    if not quick then
        states_case(3, layout, false, false, true)
        states_case(7, layout, true, true, true)
        states_case(4, layout, false, true, true, true)
    end
end

-- seq_idx: packed sequences in each row, with padding tokens (-1) at the end of row 2; optionally
-- with initial and final states as well
local function seq_case(W, layout, silu, with_states)
    local Lq = 9
    local seq = cc.tensor({ { 0, 0, 0, 1, 1, 1, 1, 1, 2 }, { 0, 0, 0, 0, 0, 3, 3, -1, -1 } },
        { dtype = "i32", device = DEV })
    gc(string.format("causal_conv1d %s W=%d %s seq_idx + padding%s", layout, W, silu and "silu" or "noact",
        with_states and " + states" or ""),
        function(x, w, b, s0)
            return cc.causal_conv1d(x, w, b, { activation = act_name(silu), seq_idx = seq, initial_states = s0,
                return_final_states = with_states })
        end, { conv_x(2, D, Lq, layout, false), leaf({ D, W }, 0.5), leaf({ D }), with_states and leaf({ 2, D, W - 1 }) or nil },
        { names = { "x", "weight", "bias", "initial_states" } })
end
seq_case(4, "cl", true)
seq_case(3, "cf", false)
seq_case(4, "cl", true, true)
if not quick then seq_case(2, "cl", false) seq_case(7, "cf", true) seq_case(3, "cf", false, true) end

-- varlen: packed (T, D) tokens, cu_seqlens, initial and final states per sequence
local function varlen_case(W, silu, with_init, with_final)
    local lens = { 4, 1, 6 }
    local cu, T = { 0 }, 0
    for i, n in ipairs(lens) do T = T + n; cu[i + 1] = T end
    local N = #lens
    local cu_t = cc.tensor(cu, { dtype = "i32", device = DEV })
    gc(string.format("causal_conv1d_varlen W=%d %s%s%s", W, silu and "silu" or "noact",
        with_init and " initial_states" or "", with_final and " final_states" or ""),
        function(x, w, b, s0)
            return cc.causal_conv1d_varlen(x, w, b, cu_t, { activation = act_name(silu), initial_states = s0,
                return_final_states = with_final })
        end, { leaf({ T, D }), leaf({ D, W }, 0.5), leaf({ D }), with_init and leaf({ N, D, W - 1 }) or nil },
        { names = { "x", "weight", "bias", "initial_states" } })
end
varlen_case(4, true, false, false)
varlen_case(4, true, true, true)
if not quick then varlen_case(3, false, true, false) varlen_case(7, true, true, true) end

-- ---- selective scan -------------------------------------------------------------------------

-- every input of the scan (u, delta, A, B, C, D, z, delta_bias, initial_state) as a leaf; the
-- loss projects out and, with last, last_state. delta stays around -1 (softplus) or 0.5 (none),
-- so delta + bias is far from the softplus threshold 20; A is negative.
-- o: Bt, Di, N, L, B / C ("var" (Bt, N, L), "grouped" (Bt, G, N, L), "const" (Di, N)), G, D, z,
-- bias, softplus, init, last, seq (a {Bt, L} table of ids, -1 padding), cl (u, delta, z
-- channel-last: (Bt, L, Di) buffers transposed)
local SCAN_NAMES = { "u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state" }
local function scan_case(o)
    local Bt, Di, N, Ls, G = o.Bt or 2, o.Di or 4, o.N or 3, o.L or 6, o.G or 2
    local parts = { "selective_scan", "B=" .. (o.B or "var"), "C=" .. (o.C or "var") }
    for _, k in ipairs({ "D", "z", "bias", "softplus", "init", "last", "cl" }) do if o[k] then parts[#parts + 1] = k end end
    if o.seq then parts[#parts + 1] = "seq_idx+padding" end
    if N ~= 3 then parts[#parts + 1] = "N=" .. N end
    local function bdl(scale, shift)
        if not o.cl then return leaf({ Bt, Di, Ls }, scale, shift) end
        return leaf({ Bt, Ls, Di }, scale, shift):detach():transpose(2, 3):requires_grad_()
    end
    local function bc(kind)
        if kind == "const" then return leaf({ Di, N }) end
        if kind == "grouped" then return leaf({ Bt, G, N, Ls }) end
        return leaf({ Bt, N, Ls })
    end
    local seq = o.seq and cc.tensor(o.seq, { dtype = "i32", device = DEV }) or nil
    local inputs = { bdl(), o.softplus and bdl(0.5, -1) or bdl(0.1, 0.5), leaf({ Di, N }, 0.3, -1), bc(o.B), bc(o.C),
                     o.D and leaf({ Di }) or nil, o.z and bdl() or nil, o.bias and leaf({ Di }, 0.3) or nil,
                     o.init and leaf({ Bt, Di, N }) or nil }
    gc(table.concat(parts, " "), function(u, delta, A, B, C, D, z, bias, init)
        return cc.selective_scan(u, delta, A, B, C, { D = D, z = z, delta_bias = bias, delta_softplus = o.softplus,
            initial_state = init, seq_idx = seq, return_last_state = o.last })
    end, inputs, { names = SCAN_NAMES })
end

local SEQ = { { -1, 0, 0, 1, -1, 1, 1, 2 }, { 3, 3, -1, 3, 4, 4, 4, -1 } }
scan_case({ D = true, z = true, bias = true, softplus = true, init = true, last = true })
scan_case({ B = "grouped", C = "grouped", D = true, z = true, bias = true, softplus = true, init = true, last = true })
scan_case({ L = 8, seq = SEQ, D = true, z = true, bias = true, softplus = true, init = true, last = true })
if not quick then
    scan_case({})
    scan_case({ last = true, init = true })
    scan_case({ B = "const", C = "const", D = true, z = true, bias = true, softplus = true, init = true, last = true })
    scan_case({ B = "const", C = "grouped", z = true, softplus = true, last = true })
    scan_case({ B = "grouped", C = "var", L = 8, seq = SEQ, D = true, bias = true, init = true, last = true })
    scan_case({ cl = true, D = true, z = true, bias = true, softplus = true, init = true, last = true })
    scan_case({ N = 1, L = 3, D = true, z = true, softplus = true, init = true, last = true })
end

-- selective_state_update has no backward: its forward against the naive formula of
-- tests/lua/naive_scan.lua (out and the state pool after), f64
package.path = script_dir .. "../tests/lua/?.lua;" .. package.path
local naive = require "naive_scan"
local function update_case(u)
    local Bt, Di, N, pool = 3, 4, u.N or 5, u.pool or 3
    local parts = { "selective_state_update vs formula" }
    for _, k in ipairs({ "G", "D", "z", "bias", "softplus", "pool" }) do
        if u[k] then parts[#parts + 1] = u[k] == true and k or (k .. "=" .. tostring(u[k])) end
    end
    case(table.concat(parts, " "), function()
        local function R(...) return cc.randn({ ... }, F64) end
        local q = {
            state = R(pool, Di, N), x = R(Bt, Di), dt = u.softplus and R(Bt, Di) or cc.rand({ Bt, Di }, F64),
            A = cc.rand({ Di, N }, F64):add(0.3):neg(),
            B = u.G and R(Bt, u.G, N) or R(Bt, N), C = u.G and R(Bt, u.G, N) or R(Bt, N),
            D = u.D and R(Di) or nil, z = u.z and R(Bt, Di) or nil, dt_bias = u.bias and R(Di) or nil,
            state_batch_indices = u.idx and cc.tensor(u.idx, { dtype = "i32", device = DEV }) or nil,
            dt_softplus = u.softplus,
        }
        local eo, es = naive.state_update(q)
        local st = q.state:clone()
        local out = cc.selective_state_update(st, q.x, q.dt, q.A, q.B, q.C, { D = q.D, z = q.z, dt_bias = q.dt_bias,
            dt_softplus = u.softplus, state_batch_indices = q.state_batch_indices })
        local r = { abs = 0, rel = 0, ok = true }
        for _, pair in ipairs({ { out, eo }, { st, es } }) do
            local e = cc.tensor(pair[2], { dtype = "f64", device = DEV })
            local diff = (pair[1] - e):abs():max():item()
            local scale = e:abs():max():item()
            r.abs, r.rel = math.max(r.abs, diff), math.max(r.rel, scale > 0 and diff / scale or diff)
            r.ok = r.ok and diff <= 1e-12 + 1e-12 * scale
        end
        return r
    end)
end
update_case({ D = true, z = true, bias = true, softplus = true, pool = 3 })
update_case({ G = 2, softplus = true, pool = 6, idx = { 5, -1, 0 } })
if not quick then
    update_case({})
    update_case({ G = 4, D = true, z = true, bias = true, pool = 4, idx = { -1, 2, 3 } })
    update_case({ N = 1, softplus = true, z = true, pool = 3 })
end

-- ---- Mamba block and LM (cc.nn): the input and every parameter ---------------------------------

-- every parameter moved a little from its init, so A = -(n+1), D = 1, zero biases hide nothing
local function jittered(m)
    cc.no_grad(function()
        for _, p in ipairs(m:parameters()) do p:add_(cc.randn(p:size(), F64) * 0.1) end
    end)
    return m
end

local function block_case(o)
    local name = string.format("Mamba block d%d N%d K%d%s (input and %s)", o.d_model, o.d_state, o.d_conv,
        o.lti and " LTI" or "", "every parameter")
    case(name, function()
        local m = jittered(cc.nn.Mamba { d_model = o.d_model, d_state = o.d_state, d_conv = o.d_conv, lti = o.lti,
                                         dtype = "f64", device = DEV })
        local hs = leaf({ 2, o.L, o.d_model })
        local inputs, names = { hs }, { "hs" }
        for _, np in ipairs(m:named_parameters()) do inputs[#inputs + 1] = np[2]; names[#names + 1] = np[1] end
        local ok, rep = cc.gradcheck(function() return m(hs) end, inputs, { names = names })
        return { ok = ok, abs = rep.max_abs or 0 / 0, rel = rep.max_rel or 0 / 0, note = (not ok) and rep.message or nil }
    end)
end
block_case({ d_model = 4, d_state = 3, d_conv = 4, L = 7 })
block_case({ d_model = 4, d_state = 2, d_conv = 3, L = 5, lti = true })
if not quick then block_case({ d_model = 6, d_state = 4, d_conv = 2, L = 9 }) end

case("MambaLM d4 2 layers V 7->8 (every parameter, tied embedding)", function()
    local lm = jittered(cc.nn.MambaLM { d_model = 4, n_layer = 2, vocab_size = 7, d_state = 2, dtype = "f64", device = DEV })
    local tokens = index_tensor({ { 1, 6, 0, 3, 3 }, { 2, 5, 4, 4, 1 } })
    local names = {}
    for i, np in ipairs(lm:named_parameters()) do names[i] = np[1] end
    local ok, rep = cc.gradcheck(function() return lm(tokens) end, lm:parameters(), { names = names })
    return { ok = ok, abs = rep.max_abs or 0 / 0, rel = rep.max_rel or 0 / 0, note = (not ok) and rep.message or nil }
end)

-- ---- precision: f32 / bf16 kernels against the f64 result on the same rounded inputs, computed
-- by the cpu reference kernels --------------------------------------------------------------------

local TOL = { f32 = { 1e-5, 1e-4 }, f16 = { 1e-3, 1e-3 }, bf16 = { 1e-2, 1e-2 } }

-- the f64 result of fn(...) on the cpu with the plain scalar reference kernels (the test oracle)
local function reference(fn, ...)
    local args = { ... }
    for i = 1, select("#", ...) do args[i] = args[i]:cpu() end
    local prev = cc.get_reference_kernels()
    cc.set_reference_kernels(true)
    local res = { pcall(fn, unpack(args, 1, select("#", ...))) }
    cc.set_reference_kernels(prev)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
end

-- max |a - e|, max |a - e| / max |e|, and whether |a - e| <= atol + rtol |e| everywhere
local function compare(a, e, dtype)
    return cc.no_grad(function()
        local a64 = a:to({ dtype = "f64", device = "cpu" })
        local diff = (a64 - e):abs()
        local max_abs = diff:max():item()
        local scale = e:abs():max():item()
        local worst = (diff - TOL[dtype][2] * e:abs()):max():item()
        return { abs = max_abs, rel = scale > 0 and max_abs / scale or max_abs, ok = worst <= TOL[dtype][1] }
    end)
end

local function precision_case(dtype, layout)
    local Bp, Dp, Lp, Wp = 2, 64, quick and 64 or 200, 4
    local tag = string.format("%s vs f64 (%s, B=%d D=%d L=%d W=%d silu)", dtype, layout, Bp, Dp, Lp, Wp)
    local function rounded(sizes)   -- f64 values exactly representable in dtype
        return cc.randn(sizes, F64):to(dtype):to("f64")
    end
    local function as_layout(t)      -- (B, D, L) values in the layout
        if layout == "cf" then return t:contiguous() end
        return t:transpose(2, 3):contiguous():transpose(2, 3)
    end
    local x64, w64, b64 = as_layout(rounded({ Bp, Dp, Lp })), rounded({ Dp, Wp }), rounded({ Dp })
    local dout64 = as_layout(rounded({ Bp, Dp, Lp }))
    local xl, wl, bl, doutl = as_layout(x64:to(dtype)), w64:to(dtype), b64:to(dtype), as_layout(dout64:to(dtype))
    local o = { activation = "silu" }
    case("causal_conv1d fwd " .. tag, function()
        local ref = reference(function(x, w, b) return cc.causal_conv1d(x, w, b, o) end, x64, w64, b64)
        return compare(cc.causal_conv1d(xl, wl, bl, o), ref, dtype)
    end)
    case("causal_conv1d bwd " .. tag, function()
        local rdx, rdw, rdb = reference(function(x, w, b, d) return cc.causal_conv1d_backward(x, w, b, d, o) end,
            x64, w64, b64, dout64)
        local dx, dw, db = cc.causal_conv1d_backward(xl, wl, bl, doutl, o)
        local r = { abs = 0, rel = 0, ok = true }
        for _, pair in ipairs { { dx, rdx }, { dw, rdw }, { db, rdb } } do
            local c = compare(pair[1], pair[2], dtype)
            r.abs, r.rel, r.ok = math.max(r.abs, c.abs), math.max(r.rel, c.rel), r.ok and c.ok
        end
        return r
    end)
end

for _, dtype in ipairs { "f32", "bf16" } do
    for _, layout in ipairs { "cf", "cl" } do
        if not quick or layout == "cl" then precision_case(dtype, layout) end
    end
end

-- ---- run --------------------------------------------------------------------------------------

local ffi = require "ffi"
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } cc_gc_timespec; int clock_gettime(int, cc_gc_timespec *);")
local ts = ffi.new("cc_gc_timespec")
local function now()
    ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

do
    local names = {}
    for i, c in ipairs(cases) do names[i] = c.name end
    check_filter(names)
end
local t0 = now()
local passed, failed, failures = 0, 0, {}
print(string.format("causalconv gradcheck on %s (%s), seed %s%s", DEV, cc.libpath, opts.seed, quick and ", quick" or ""))
for i, c in ipairs(cases) do
    if not opts.filter or c.name:find(opts.filter) then
        cc.manual_seed(tonumber(opts.seed) * 100003 + i)   -- a case draws the same numbers under any --filter
        local ok, r = pcall(c.run)
        if not ok then r = { ok = false, abs = 0 / 0, rel = 0 / 0, note = "ERROR: " .. tostring(r) } end
        line(c.name, r.abs, r.rel, r.ok, r.note)
        if r.ok then passed = passed + 1 else failed = failed + 1; failures[#failures + 1] = c.name end
    end
end
print(string.format("%d cases: %d passed, %d failed in %.1f s", passed + failed, passed, failed, now() - t0))
if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
if passed + failed == 0 then print("no case name matches --filter " .. opts.filter) end
os.exit((failed == 0 and passed > 0) and 0 or 1)
