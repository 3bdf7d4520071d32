-- Per-function help: one entry per function exported as cc.<name>, the one source of truth for
-- cc.help(name) (tests/lua/repl_spec.lua: every exported function has one, every example runs).
--   sig      the call and what it returns      shapes   tensor shapes (or "-")
--   opts     options with their defaults        ex       two REPL input lines (each runs as typed)
local T = "f32 unless opts.dtype; opts: dtype (f32), device (\"cpu\"), requires_grad (false)"
local D = {}
local function doc(name, sig, shapes, opts, ex) D[name] = { sig = sig, shapes = shapes, opts = opts, ex = ex } end

-- making tensors
doc("tensor", "cc.tensor(data [, opts]) -> Tensor", "shape from the nesting of data (a number: 0-d)", T,
    "y = cc.tensor({{1, 2}, {3, 4}}, {dtype = \"f64\"})\ny:size()")
doc("zeros", "cc.zeros(sizes... | {sizes} [, opts]) -> Tensor", "the sizes given", T, "x = cc.zeros(2, 3)\nx:sum():item()")
doc("ones", "cc.ones(sizes... | {sizes} [, opts]) -> Tensor", "the sizes given", T, "x = cc.ones({2, 3}, {dtype = \"f64\"})\nx:sum():item()")
doc("empty", "cc.empty(sizes... | {sizes} [, opts]) -> Tensor (values undefined)", "the sizes given", T, "x = cc.empty(2, 3)\nx:fill_(1):sum():item()")
doc("full", "cc.full(sizes, value [, opts]) -> Tensor", "sizes: a table, or n for 1-d", T, "x = cc.full({2, 3}, 7.5)\nx[{1, 1}]")
doc("arange", "cc.arange(n) | cc.arange(start, stop [, step]) [, opts] -> 1-d Tensor", "(ceil((stop - start) / step)), stop excluded", T,
    "r = cc.arange(0, 10, 2)\nr:totable()")
doc("rand", "cc.rand(sizes... [, opts]) -> Tensor uniform in [0, 1)", "the sizes given", T .. " (global Philox stream: cc.manual_seed)",
    "cc.manual_seed(1); x = cc.rand(2, 3)\nx:max():item() < 1")
doc("randn", "cc.randn(sizes... [, opts]) -> Tensor, standard normal", "the sizes given", T, "cc.manual_seed(1); x = cc.randn(2, 3, 4)\nx:size()")
doc("randint", "cc.randint(low, high, sizes... [, opts]) -> Tensor of integers in [low, high)", "the sizes given",
    "dtype (i64), device (\"cpu\")", "ids = cc.randint(0, 10, 2, 3)\nids:dtype()")
for _, k in ipairs({ "zeros", "ones", "empty", "rand", "randn" }) do
    doc(k .. "_like", "cc." .. k .. "_like(x [, opts]) -> Tensor shaped like x", "x's sizes", "dtype, device (default: x's)",
        "x = cc.randn(2, 3)\ncc." .. k .. "_like(x):size()")
end
doc("full_like", "cc.full_like(x, value [, opts]) -> Tensor shaped like x", "x's sizes", "dtype, device (default: x's)",
    "x = cc.randn(2, 3)\ncc.full_like(x, 5):sum():item()")
doc("is_tensor", "cc.is_tensor(v) -> boolean", "-", "-", "cc.is_tensor(cc.zeros(1))\ncc.is_tensor({})")

-- views and copies (also methods: x:transpose(...), ...)
doc("transpose", "cc.transpose(x, d1, d2) -> view (x:transpose(d1, d2))", "swaps dims d1 and d2", "-",
    "x = cc.randn(2, 3, 4)\ncc.transpose(x, 2, 3):size()")
doc("t", "cc.t(x) -> view of a 2-d x transposed (x:t())", "(m, n) -> (n, m)", "-", "x = cc.randn(2, 3)\ncc.t(x):size()")
doc("permute", "cc.permute(x, dims...) -> view (x:permute(...))", "dims reordered", "-", "x = cc.randn(2, 3, 4)\ncc.permute(x, 3, 1, 2):size()")
doc("narrow", "cc.narrow(x, dim, start, length) -> view (x:narrow(...))", "dim cut to length, from 1-based start", "-",
    "x = cc.arange(10)\ncc.narrow(x, 1, 3, 2):totable()")
doc("select", "cc.select(x, dim, index) -> view without dim (x:select(...))", "one dim fewer", "-",
    "x = cc.randn(2, 3)\ncc.select(x, 1, 2):size()")
doc("view", "cc.view(x, sizes...) -> view (x:view(...)); one size may be -1", "same numel, x contiguous enough", "-",
    "x = cc.arange(6)\ncc.view(x, 2, 3):size()")
doc("reshape", "cc.reshape(x, sizes...) -> view or copy (x:reshape(...))", "same numel; one size may be -1", "-",
    "x = cc.arange(6):view(2, 3):t()\ncc.reshape(x, -1):totable()")
doc("expand", "cc.expand(x, sizes...) -> broadcast view (x:expand(...))", "size-1 dims stretch; -1 keeps a size", "-",
    "x = cc.ones(3, 1)\ncc.expand(x, 3, 4):size()")
doc("unsqueeze", "cc.unsqueeze(x, dim) -> view with a size-1 dim at dim", "one dim more", "-", "x = cc.randn(3)\ncc.unsqueeze(x, 1):size()")
doc("squeeze", "cc.squeeze(x [, dim]) -> view without size-1 dims (or only dim)", "fewer dims", "-", "x = cc.randn(1, 3, 1)\ncc.squeeze(x):size()")
doc("contiguous", "cc.contiguous(x) -> x, or a C-order copy (x:contiguous())", "x's sizes", "-",
    "x = cc.randn(2, 3):t()\ncc.contiguous(x):is_contiguous()")
doc("clone", "cc.clone(x) -> a copy (x:clone())", "x's sizes", "-", "x = cc.randn(2)\ny = cc.clone(x); y:same_storage(x)")

-- files, settings, randomness
doc("load_npy", "cc.load_npy(path) -> Tensor", "the file's (C or Fortran order)", "-",
    "p = os.tmpname(); cc.save_npy(cc.arange(4), p)\ncc.load_npy(p):totable()")
doc("save_npy", "cc.save_npy(x, path) (x:save_npy(path))", "any; f32 f64 f16 i32 i64, bf16 saved as f32", "-",
    "p = os.tmpname()\ncc.save_npy(cc.ones(2, 2), p); os.remove(p)")
doc("manual_seed", "cc.manual_seed(seed)", "-", "seed: a non-negative integer (or int64 cdata)", "cc.manual_seed(42); a = cc.randn(2)\ncc.manual_seed(42); (cc.randn(2) - a):abs():sum():item()")
doc("initial_seed", "cc.initial_seed() -> the seed last given to manual_seed", "-", "-", "cc.manual_seed(7)\ncc.initial_seed()")
doc("get_rng_state", "cc.get_rng_state() -> {seed = n, offset = n} of the global stream", "-", "-",
    "s = cc.get_rng_state(); a = cc.randn(2)\ncc.set_rng_state(s); (cc.randn(2) - a):abs():sum():item()")
doc("set_rng_state", "cc.set_rng_state(s): restores a state from get_rng_state", "-", "-",
    "s = cc.get_rng_state()\ncc.set_rng_state(s)")
doc("Generator", "cc.Generator(seed) -> g: g:rand(...), g:randn(...), g:randint(low, high, n), g:get_state(), g:set_state(s)", "-", "-",
    "g = cc.Generator(3)\ng:randn(2, 2):size()")
doc("is_generator", "cc.is_generator(v) -> boolean", "-", "-", "cc.is_generator(cc.Generator(1))\ncc.is_generator({})")
doc("set_num_threads", "cc.set_num_threads(n): CPU threads for every op (1 to 1024)", "-", "-",
    "n = cc.get_num_threads(); cc.set_num_threads(1)\ncc.set_num_threads(n)")
doc("get_num_threads", "cc.get_num_threads() -> n", "-", "-", "n = cc.get_num_threads()\nn >= 1")
doc("set_reference_kernels", "cc.set_reference_kernels(on): the naive CPU reference kernels instead of the fast ones", "-", "-",
    "cc.set_reference_kernels(true); cc.causal_conv1d(cc.randn(1, 2, 5), cc.randn(2, 3)):size()\ncc.set_reference_kernels(false)")
doc("get_reference_kernels", "cc.get_reference_kernels() -> boolean", "-", "-", "cc.get_reference_kernels()\ncc.set_reference_kernels(false)")
doc("set_printoptions", "cc.set_printoptions({linewidth = n}): tensors print in at most n columns", "-", "linewidth (80; the REPL: the terminal's width)",
    "cc.set_printoptions({linewidth = 120}); o = cc.get_printoptions()\ncc.set_printoptions({linewidth = 80}); o")
doc("get_printoptions", "cc.get_printoptions() -> {linewidth = n}", "-", "-", "o = cc.get_printoptions()\no.linewidth")
doc("help", "cc.help() | cc.help(fn) | cc.help(\"name\")", "-", "-", "cc.help(cc.zeros)\ncc.help(\"causal_conv1d\")")

-- elementwise math (also methods and operators: x + y, x:exp(), ...)
local BIN = "a, b: tensors of one dtype and device (broadcasting as PyTorch) or a tensor and a number"
doc("add", "cc.add(a, b) -> a + b", BIN, "-", "a = cc.ones(2, 3); b = cc.arange(3)\ncc.add(a, b):totable()")
doc("sub", "cc.sub(a, b) -> a - b", BIN, "-", "a = cc.ones(2, 3)\ncc.sub(a, 1):sum():item()")
doc("mul", "cc.mul(a, b) -> a * b", BIN, "-", "a = cc.arange(3)\ncc.mul(a, a):totable()")
doc("div", "cc.div(a, b) -> a / b", BIN, "-", "a = cc.arange(1, 4)\ncc.div(1, a):totable()")
doc("pow", "cc.pow(a, b) -> a ^ b", BIN, "-", "a = cc.arange(4)\ncc.pow(a, 2):totable()")
doc("neg", "cc.neg(x) -> -x", "x's sizes", "-", "x = cc.arange(3)\ncc.neg(x):totable()")
for _, k in ipairs({ "abs", "exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh", "relu", "silu", "softplus", "gelu" }) do
    doc(k, "cc." .. k .. "(x) -> elementwise " .. k .. " (x:" .. k .. "())", "x's sizes", "-",
        "x = cc.arange(1, 4)\ncc." .. k .. "(x):size()")
end
local CMP = BIN .. "; the result is i32 0/1, never recorded"
for k, op in pairs({ eq = "==", ne = "~=", lt = "<", le = "<=", gt = ">", ge = ">=" }) do
    doc(k, "cc." .. k .. "(a, b) -> i32 tensor of a " .. op .. " b (x:" .. k .. "(y))", CMP, "-",
        "a = cc.arange(4)\ncc." .. k .. "(a, 2):totable()")
end
doc("where", "cc.where(cond, a, b) -> a where cond ~= 0, else b", "cond, a, b broadcast (a, b may be numbers)", "-",
    "x = cc.arange(-2, 3)\ncc.where(cc.gt(x, 0), x, 0):totable()")
doc("clamp", "cc.clamp(x, min, max) -> x limited to [min, max] (either may be nil)", "x's sizes", "-",
    "x = cc.arange(-2, 3)\ncc.clamp(x, -1, 1):totable()")
doc("allclose", "cc.allclose(a, b [, rtol [, atol]]) -> boolean: |a - b| <= atol + rtol * |b| everywhere", BIN,
    "rtol (1e-5), atol (1e-8)", "a = cc.ones(3)\ncc.allclose(a, a + 1e-9)")

-- reductions and rows
doc("sum", "cc.sum(x [, dim [, keepdim]]) -> Tensor (all: 0-d)", "dim removed (kept as 1 with keepdim)", "keepdim (false)",
    "x = cc.arange(6):view(2, 3)\ncc.sum(x, 2):totable()")
doc("mean", "cc.mean(x [, dim [, keepdim]]) -> Tensor", "dim removed (kept as 1 with keepdim)", "keepdim (false)",
    "x = cc.arange(6):view(2, 3)\ncc.mean(x, 1):totable()")
doc("max", "cc.max(x) -> 0-d | cc.max(x, dim [, keepdim]) -> values, i64 0-based indices", "dim removed", "keepdim (false)",
    "x = cc.tensor({{1, 5}, {7, 2}})\nv, i = cc.max(x, 2); i:totable()")
doc("min", "cc.min(x) -> 0-d | cc.min(x, dim [, keepdim]) -> values, i64 0-based indices", "dim removed", "keepdim (false)",
    "x = cc.tensor({{1, 5}, {7, 2}})\nv, i = cc.min(x, 2); v:totable()")
doc("sum_to_size", "cc.sum_to_size(x, sizes...) -> x summed down to sizes (the inverse of broadcasting)", "sizes x broadcasts from", "-",
    "x = cc.ones(2, 3)\ncc.sum_to_size(x, 1, 3):totable()")
doc("softmax", "cc.softmax(x [, dim]) -> Tensor", "x's sizes; dim default -1", "-", "x = cc.randn(2, 3)\ncc.softmax(x):sum(2):totable()")
doc("log_softmax", "cc.log_softmax(x [, dim]) -> Tensor", "x's sizes; dim default -1", "-", "x = cc.randn(2, 3)\ncc.log_softmax(x):size()")
doc("matmul", "cc.matmul(a, b) -> a @ b", "(n, k) @ (k, m) -> (n, m); batched (..., n, k) @ (..., k, m); 1-d as vectors", "-",
    "a = cc.randn(2, 3); b = cc.randn(3, 4)\ncc.matmul(a, b):size()")
doc("linear", "cc.linear(x, weight [, bias]) -> x @ weight^T + bias", "x (..., in), weight (out, in), bias (out) -> (..., out)", "-",
    "x = cc.randn(5, 3); w = cc.randn(4, 3)\ncc.linear(x, w, cc.zeros(4)):size()")
doc("cat", "cc.cat(list, dim) -> the tensors joined along dim", "equal sizes except along dim", "-",
    "a = cc.ones(2, 3)\ncc.cat({a, a}, 1):size()")
doc("stack", "cc.stack(list [, dim]) -> the tensors stacked along a new dim", "equal sizes -> one dim more; dim default 1", "-",
    "a = cc.ones(2, 3)\ncc.stack({a, a}):size()")
doc("split", "cc.split(x, size | {sizes} [, dim]) -> list of views", "pieces of size along dim (default 1; the last may be smaller)", "-",
    "x = cc.arange(5)\n#cc.split(x, 2)")
doc("chunk", "cc.chunk(x, n [, dim]) -> list of n (or fewer) views", "along dim (default 1)", "-", "x = cc.arange(6)\n#cc.chunk(x, 3)")
doc("index_select", "cc.index_select(x, dim, index) -> Tensor", "index 1-d i32/i64 of 0-based positions; dim gets #index", "-",
    "x = cc.arange(6):view(3, 2)\ncc.index_select(x, 1, cc.tensor({2, 0}, {dtype = \"i64\"})):totable()")
doc("embedding", "cc.embedding(weight, ids) -> rows of weight", "weight (V, E), ids (...) i32/i64 0-based -> (..., E)", "-",
    "w = cc.randn(10, 4)\ncc.embedding(w, cc.tensor({1, 2, 3}, {dtype = \"i64\"})):size()")

-- losses and normalization
doc("cross_entropy", "cc.cross_entropy(logits, target [, opts]) -> 0-d mean loss", "logits (N, C), target (N) i32/i64 0-based classes",
    "ignore_index (-100)", "logits = cc.randn(4, 5); t = cc.tensor({0, 1, 2, 3}, {dtype = \"i64\"})\ncc.cross_entropy(logits, t):item() > 0")
doc("mse_loss", "cc.mse_loss(a, b) -> 0-d mean((a - b)^2)", "a and b of the same shape (no broadcasting)", "-",
    "a = cc.zeros(3); b = cc.ones(3)\ncc.mse_loss(a, b):item()")
doc("rms_norm", "cc.rms_norm(x [, weight [, eps]]) -> x * rsqrt(mean(x^2 over D) + eps) * weight", "x (..., D), weight (D) or nil",
    "eps (1e-6)", "x = cc.randn(2, 8)\ncc.rms_norm(x, cc.ones(8)):size()")
doc("layer_norm", "cc.layer_norm(x, normalized_shape [, weight [, bias [, eps]]]) -> Tensor", "x (..., D), normalized_shape D or {D}, weight, bias (D) or nil",
    "eps (1e-5)", "x = cc.randn(2, 8)\ncc.layer_norm(x, 8):mean(2):abs():max():item() < 1e-5")

-- autograd
doc("no_grad", "cc.no_grad(fn, ...) -> fn(...) with recording off", "-", "-",
    "w = cc.randn(3, {requires_grad = true})\ncc.no_grad(function() return (w * 2).requires_grad end)")
doc("enable_grad", "cc.enable_grad(fn, ...) -> fn(...) with recording on", "-", "-",
    "w = cc.randn(3, {requires_grad = true})\ncc.no_grad(cc.enable_grad, function() return (w * 2).requires_grad end)")
doc("is_grad_enabled", "cc.is_grad_enabled() -> boolean", "-", "-", "cc.is_grad_enabled()\ncc.no_grad(cc.is_grad_enabled)")
doc("set_grad_enabled", "cc.set_grad_enabled(on): recording on or off until changed again", "-", "-",
    "cc.set_grad_enabled(false)\ncc.set_grad_enabled(true)")
doc("zero_grad", "cc.zero_grad(params [, opts]): zeroes (or drops) .grad of a tensor, list or name -> tensor table", "-",
    "set_to_none (false: zero the gradients; true: drop them)", "w = cc.randn(3, {requires_grad = true}); w:sum():backward()\ncc.zero_grad({w}); w.grad:sum():item()")
doc("gradcheck", "cc.gradcheck(fn, inputs [, opts]) -> ok, report", "inputs: f64 tensors with requires_grad are checked",
    "eps (1e-6), atol (1e-5), rtol (1e-3), nondet_tol (0), names",
    "x = cc.randn(3, {dtype = \"f64\", requires_grad = true})\ncc.gradcheck(function(a) return a:sigmoid():sum() end, {x})")

-- causal conv1d
local CONV_OPTS = "activation (nil | \"silu\" | \"swish\"), seq_idx (B, L) i32 (nil), initial_states (B, D, W-1) (nil),\n"
    .. "return_final_states (false), final_states_out (nil), out (nil)"
doc("causal_conv1d", "cc.causal_conv1d(x, weight, bias [, opts]) -> out [, final_states]",
    "x (B, D, L) in either layout, weight (D, W), bias (D) or nil -> out like x", CONV_OPTS,
    "x = cc.randn(2, 3, 16); w = cc.randn(3, 4)\nout = cc.causal_conv1d(x, w, nil, {activation = \"silu\"}); out:size()")
doc("causal_conv1d_backward", "cc.causal_conv1d_backward(x, weight, bias, dout [, opts]) -> dx, dweight, dbias, dinitial_states",
    "as causal_conv1d; dout like out", "activation, seq_idx, initial_states, dfinal_states, dx (nil), return_dinitial_states (true with initial_states)",
    "x = cc.randn(2, 3, 16); w = cc.randn(3, 4)\ndx, dw = cc.causal_conv1d_backward(x, w, nil, cc.ones(2, 3, 16)); dw:size()")
doc("causal_conv1d_update", "cc.causal_conv1d_update(x, conv_state, weight, bias [, opts]) -> out (conv_state updated in place)",
    "x (B, D) or (B, D, S), conv_state (B or pool, D, state_len >= W-1)",
    "activation (nil), cache_seqlens (B) i32 (nil), conv_state_indices (B) i32 (nil), out (nil)",
    "state = cc.zeros(2, 3, 3); w = cc.randn(3, 4)\ncc.causal_conv1d_update(cc.randn(2, 3), state, w, nil):size()")
doc("causal_conv1d_varlen", "cc.causal_conv1d_varlen(x, weight, bias, cu_seqlens [, opts]) -> out [, final_states]",
    "x (T, D) packed, cu_seqlens (N+1) i32/i64 from 0 to T",
    "activation (nil), initial_states (N, D, W-1) (nil), return_final_states (false), final_states_out (nil), out (nil)",
    "x = cc.randn(10, 3); w = cc.randn(3, 4); cu = cc.tensor({0, 4, 10}, {dtype = \"i32\"})\ncc.causal_conv1d_varlen(x, w, nil, cu):size()")
doc("causal_conv1d_varlen_backward", "cc.causal_conv1d_varlen_backward(x, weight, bias, dout, cu_seqlens [, opts]) -> dx, dweight, dbias, dinitial_states",
    "as causal_conv1d_varlen", "activation, initial_states, dfinal_states, dx (nil), return_dinitial_states (true with initial_states)",
    "x = cc.randn(10, 3); w = cc.randn(3, 4); cu = cc.tensor({0, 4, 10}, {dtype = \"i32\"})\ndx = cc.causal_conv1d_varlen_backward(x, w, nil, cc.ones(10, 3), cu); dx:size()")
doc("causal_conv1d_varlen_states", "cc.causal_conv1d_varlen_states(x, cu_seqlens, state_len [, opts]) -> states",
    "x (T, D) packed -> states (N, D, state_len)", "dtype (x's), out (nil)",
    "x = cc.randn(10, 3); cu = cc.tensor({0, 4, 10}, {dtype = \"i32\"})\ncc.causal_conv1d_varlen_states(x, cu, 3):size()")

-- selective scan
local SCAN_SHAPES = "u, delta (Bt, Di, L); A (Di, N); B, C (Bt, N, L), (Bt, G, N, L) or (Di, N)"
doc("selective_scan", "cc.selective_scan(u, delta, A, B, C [, opts]) -> out [, last_state]", SCAN_SHAPES,
    "D (Di) (nil), z (Bt, Di, L) (nil), delta_bias (Di) (nil), delta_softplus (false), return_last_state (false),\n"
    .. "initial_state (Bt, Di, N) (nil), seq_idx (Bt, L) i32 (nil), out (nil)",
    "u = cc.randn(1, 4, 8); dt = cc.rand(1, 4, 8); A = -cc.rand(4, 2); B = cc.randn(1, 2, 8)\ncc.selective_scan(u, dt, A, B, B, {delta_softplus = true}):size()")
doc("selective_scan_backward", "cc.selective_scan_backward(u, delta, A, B, C, dout [, opts]) -> du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state",
    SCAN_SHAPES .. "; dout like u", "the forward's (D, z, delta_bias, delta_softplus, initial_state, seq_idx), dlast_state (nil),\n"
    .. "return_dinitial_state (true with initial_state)",
    "u = cc.randn(1, 4, 8); dt = cc.rand(1, 4, 8); A = -cc.rand(4, 2); B = cc.randn(1, 2, 8)\ndu, ddt, dA = cc.selective_scan_backward(u, dt, A, B, B, cc.ones(1, 4, 8)); dA:size()")
doc("selective_state_update", "cc.selective_state_update(state, x, dt, A, B, C [, opts]) -> out (state updated in place)",
    "state (Bt or pool, Di, N); x, dt (Bt, Di); A (Di, N); B, C (Bt, N) or (Bt, G, N)",
    "D (nil), z (Bt, Di) (nil), dt_bias (Di) (nil), dt_softplus (false), state_batch_indices (Bt) i32 (nil), out (nil)",
    "state = cc.zeros(1, 4, 2); A = -cc.rand(4, 2); B = cc.randn(1, 2)\ncc.selective_state_update(state, cc.randn(1, 4), cc.rand(1, 4), A, B, B):size()")

-- checkpoints
doc("save_safetensors", "cc.save_safetensors(tensors, path [, metadata]): a name -> tensor table to a .safetensors file (atomic rename)",
    "any tensors (F32 F64 F16 BF16 I32 I64)", "metadata: a string -> string table (nil)",
    "p = os.tmpname(); cc.save_safetensors({w = cc.ones(2, 2)}, p)\nt = cc.load_safetensors(p); os.remove(p); t.w:size()")
doc("load_safetensors", "cc.load_safetensors(path [, opts]) -> tensors, metadata", "as saved",
    "device (\"cpu\"), names (nil: all; a list loads only those)",
    "p = os.tmpname(); cc.save_safetensors({w = cc.ones(2)}, p, {step = \"1\"})\nt, meta = cc.load_safetensors(p); os.remove(p); meta.step")

-- ---- namespaces: cc.nn, cc.optim, cc.bench, cc.cuda, cc.autograd ---------------------------------
-- Keys are the path after cc. ("nn.Linear", "optim.AdamW", "bench.time"); a method's key is
-- "<namespace>.<Class>:<method>" ("nn.Module:forward", "optim.Optimizer:step"). A Module subclass's
-- init / forward / describe are covered by the nn.Module page of that name and the class's page.
-- (tests/lua/repl_spec.lua walks these tables: every function in them has a page here.)
local function meth(key, call, shapes, opts, ex) doc(key, call .. "   [cc." .. key .. "]", shapes, opts, ex) end
local LIN = "m = cc.nn.Linear{in_features = 3, out_features = 2}"
local DT = "dtype (f32), device (\"cpu\")"

-- cc.nn.Module and its methods
doc("nn.Module", "cc.nn.Module: the base class; cc.nn.Module:extend(\"Name\") makes a module type", "-",
    "a type defines init(opts) (register_parameter, add_module) and forward(...); m(...) = m:forward(...)",
    "M = cc.nn.Module:extend(\"Scale\"); function M:init(o) self:register_parameter(\"s\", cc.ones(o.n)) end\nfunction M:forward(x) return x * self.s end; M{n = 3}(cc.ones(3)):sum():item()")
meth("nn.Module:extend", "cc.nn.Module:extend(name) -> a new module type (Class(opts) makes one, running init(opts))", "-", "-",
    "Id = cc.nn.Module:extend(\"Id\"); function Id:forward(x) return x end\nId()(cc.ones(2)):size()")
meth("nn.Module:new", "Class.new(Class, ...) -> module (what Class(...) calls: empty tables, training = true, then init(...))", "-", "-",
    "m = cc.nn.Linear.new(cc.nn.Linear, {in_features = 3, out_features = 2})\nm.training")
meth("nn.Module:init", "m:init(opts): a type's constructor body (the base one does nothing)", "-", "the type's options",
    "m = cc.nn.Module:extend(\"Empty\")()\nm:num_parameters()")
meth("nn.Module:forward", "m:forward(x, ...) -> outputs; m(x, ...) is the same (the base one raises)", "the type's", "the type's",
    LIN .. "\nm:forward(cc.randn(4, 3)):size()")
meth("nn.Module:register_parameter", "m:register_parameter(name, t) -> t: a float leaf (detached if not one), requires_grad on; also m[name]",
    "any", "name: a non-empty string without dots, not yet registered",
    "m = cc.nn.Module:extend(\"P\")(); m:register_parameter(\"w\", cc.zeros(2, 2))\nm.w.requires_grad")
meth("nn.Module:add_module", "m:add_module(name, child) -> child: a named child module (also m[name])", "-",
    "name: a non-empty string without dots, not yet registered",
    "m = cc.nn.Module:extend(\"Box\")(); m:add_module(\"lin\", cc.nn.Linear{in_features = 2, out_features = 2})\nm:named_parameters()[1][1]")
meth("nn.Module:named_parameters", "m:named_parameters() -> array of {name, tensor}, registration order, PyTorch's dotted names", "-", "-",
    LIN .. "\nm:named_parameters()[1][1]")
meth("nn.Module:parameters", "m:parameters() -> array of the parameter tensors (leaves with requires_grad)", "-", "-",
    LIN .. "\n#m:parameters()")
meth("nn.Module:num_parameters", "m:num_parameters() -> the number of scalars", "-", "-", LIN .. "\nm:num_parameters()")
meth("nn.Module:state_dict", "m:state_dict() -> name -> the parameter tensors themselves (so .grad is reachable)", "-", "-",
    LIN .. "\nm:state_dict()[\"weight\"]:size()")
meth("nn.Module:load_state_dict", "m:load_state_dict(t [, opts]): copies values in; on any missing, unexpected, mis-shaped or mis-typed entry it raises, naming all of them, and changes nothing",
    "each entry shaped like its parameter", "strict (true)",
    LIN .. "; sd = {weight = cc.zeros(2, 3), bias = cc.ones(2)}\nm:load_state_dict(sd); m.bias:sum():item()")
meth("nn.Module:train", "m:train([on]) -> m: sets m.training on the whole tree", "-", "on (true)", LIN .. "\nm:train(); m.training")
meth("nn.Module:eval", "m:eval() -> m: m:train(false)", "-", "-", LIN .. "\nm:eval(); m.training")
meth("nn.Module:to", "m:to(dtype | device | {dtype =, device =}) -> m: converts every parameter in place (the tensor objects stay, so an optimizer keeps working)",
    "-", "dtype, device", LIN .. "\nm:to(\"f64\"); m.weight:dtype()")
meth("nn.Module:zero_grad", "m:zero_grad(): drops every parameter's .grad", "-", "-",
    LIN .. "; m(cc.randn(4, 3)):sum():backward()\nm:zero_grad(); m.weight.grad == nil")
meth("nn.Module:describe", "m:describe() -> the one-line name tostring(m) shows for this module", "-", "-",
    LIN .. "\nm:describe()")
meth("nn.Module:save", "m:save(path [, metadata]): the weights (named_parameters order) to a .safetensors file; metadata format = \"pt\", a MambaLM adds its MambaConfig as \"config\"",
    "-", "metadata: string -> string (nil)",
    LIN .. "; p = os.tmpname(); m:save(p)\nt = cc.load_safetensors(p); os.remove(p); t.weight:size()")

-- layers
doc("nn.Linear", "cc.nn.Linear{in_features, out_features [, bias]} -> module; m(x) = x W^T + b", "weight (out, in), bias (out); x (..., in) -> (..., out)",
    "bias (true), " .. DT .. "; PyTorch's init (kaiming_uniform_ a = sqrt(5))", LIN .. "\nm(cc.randn(4, 3)):size()")
doc("nn.Embedding", "cc.nn.Embedding{num_embeddings, embedding_dim} -> module; m(ids) looks rows up", "weight (V, d) ~ N(0, 1); ids (...) -> (..., d)",
    DT, "m = cc.nn.Embedding{num_embeddings = 10, embedding_dim = 4}\nm(cc.tensor({{1, 2}}, {dtype = \"i64\"})):size()")
doc("nn.RMSNorm", "cc.nn.RMSNorm{dim [, eps]} -> module; m(x) = rms_norm(x, weight, eps)", "weight (dim) = 1; x (..., dim) -> like x",
    "eps (1e-5), " .. DT, "m = cc.nn.RMSNorm{dim = 4}\nm(cc.randn(2, 4)):size()")
doc("nn.CausalConv1d", "cc.nn.CausalConv1d{channels, kernel_size [, bias, activation]} -> module; m(x [, opts]) = causal_conv1d",
    "weight (D, 1, W) as PyTorch's Conv1d(groups = D), bias (D); x (B, D, L) in either layout -> (B, D, L)",
    "bias (true), activation (nil | \"silu\"), " .. DT .. "; forward opts pass on to cc.causal_conv1d",
    "m = cc.nn.CausalConv1d{channels = 3, kernel_size = 4, activation = \"silu\"}\nm(cc.randn(2, 3, 8)):size()")
doc("nn.ModuleList", "cc.nn.ModuleList{m1, m2, ...} -> module: children named \"0\", \"1\", ...; list[i] is child i-1", "-", "-",
    "l = cc.nn.ModuleList{cc.nn.RMSNorm{dim = 2}, cc.nn.RMSNorm{dim = 2}}\nl.n, l:named_parameters()[2][1]")
local MAMBA = "mx = cc.nn.Mamba{d_model = 4, d_state = 2, d_conv = 2, expand = 1}"
doc("nn.Mamba", "cc.nn.Mamba{d_model, ...} -> module (mamba_ssm's Mamba-1 mixer); y = m(hs [, {cache = c}])",
    "hs (Bt, L, d) -> (Bt, L, d); with a cache, a prefill that fills it",
    "d_state (16), d_conv (4), expand (2), dt_rank (\"auto\"), dt_min (0.001), dt_max (0.1), dt_init_floor (1e-4),\n"
    .. "dt_scale (1), conv_bias (true), bias (false), lti (false: true is the gated LTI ablation), " .. DT,
    MAMBA .. "\nmx(cc.randn(1, 5, 4)):size()")
meth("nn.Mamba:allocate_inference_cache", "m:allocate_inference_cache(Bt) -> {conv_state, ssm_state} (zeros)", "conv_state (Bt, Di, K), ssm_state (Bt, Di, N)", "-",
    MAMBA .. "; c = mx:allocate_inference_cache(1)\nc.ssm_state:size()")
meth("nn.Mamba:step", "m:step(hs_t, cache) -> y_t: one token, updating cache in place (constant work per token)", "hs_t (Bt, 1, d) -> (Bt, 1, d)", "-",
    MAMBA .. "; c = mx:allocate_inference_cache(1)\nmx:step(cc.randn(1, 1, 4), c):size()")
meth("nn.Mamba:conv_weight", "m:conv_weight() -> the conv1d weight viewed (Di, K)", "(Di, K)", "-", MAMBA .. "\nmx:conv_weight():size()")
meth("nn.Mamba:dt_bias_param", "m:dt_bias_param() -> the dt bias parameter (dt_proj.bias, or dt_bias with lti)", "(Di)", "-",
    MAMBA .. "\nmx:dt_bias_param():size()")
doc("nn.Block", "cc.nn.Block(o) -> module: pre-norm residual block of MambaLM (norm, mixer); b(h, residual, cache) -> h, residual",
    "residual = h + residual (h when residual is nil); h = mixer(norm(residual)); h (Bt, L, d)",
    "o: d_model, norm_epsilon, dtype, device, mixer (the cc.nn.Mamba options)",
    "b = cc.nn.Block{d_model = 4, norm_epsilon = 1e-5, mixer = {d_model = 4, d_state = 2, d_conv = 2, expand = 1}}\nh, r = b(cc.randn(1, 3, 4)); h:size()")
meth("nn.Block:step", "b:step(h_t, residual, cache) -> h_t, residual: one token through norm and mixer:step", "h_t (Bt, 1, d)", "-",
    "b = cc.nn.Block{d_model = 4, norm_epsilon = 1e-5, mixer = {d_model = 4, d_state = 2, d_conv = 2, expand = 1}}\nh = b:step(cc.randn(1, 1, 4), nil, b.mixer:allocate_inference_cache(1)); h:size()")
local LM = "cc.manual_seed(0); lm = cc.nn.MambaLM{d_model = 4, n_layer = 1, vocab_size = 10, d_state = 2, d_conv = 2, expand = 1}"
doc("nn.MambaLM", "cc.nn.MambaLM{d_model, n_layer, vocab_size, ...} -> module (MambaLMHeadModel, Mamba-1 mixers, no MLP); logits = lm(tokens [, {caches = cs}])",
    "tokens (Bt, L) i64, 0-based -> logits (Bt, L, padded vocab)",
    "d_state, d_conv, expand, dt_rank (the Mamba defaults), pad_vocab_size_multiple (8), tie_embeddings (true),\n"
    .. "norm_epsilon (1e-5), lti (false), " .. DT,
    LM .. "\nlm(cc.tensor({{1, 2, 3}}, {dtype = \"i64\"})):size()")
meth("nn.MambaLM:allocate_inference_cache", "lm:allocate_inference_cache(Bt) -> caches: one Mamba cache per layer", "-", "-",
    LM .. "\n#lm:allocate_inference_cache(1)")
meth("nn.MambaLM:step", "lm:step(tokens_t, caches) -> logits: one token per row, updating caches", "tokens_t (Bt) -> (Bt, V)", "-",
    LM .. "; cs = lm:allocate_inference_cache(1)\nlm:step(cc.tensor({3}, {dtype = \"i64\"}), cs):size()")
meth("nn.MambaLM:generate", "lm:generate(prompt, opts) -> the prompt with the new tokens (no grad)", "prompt (Bt, P) tokens",
    "max_new_tokens (required), greedy (true unless temperature or top_k), temperature (1), top_k (nil), seed (0)",
    LM .. "\nlm:generate(cc.tensor({{1, 2}}, {dtype = \"i64\"}), {max_new_tokens = 3}):size()")
meth("nn.MambaLM:head_weight", "lm:head_weight() -> the output projection weight (the embedding's when tie_embeddings)", "(padded vocab, d)", "-",
    LM .. "\nlm:head_weight():size()")
doc("nn.load", "cc.nn.load(path [, opts]) -> MambaLM, metadata: from a checkpoint written by m:save (or mamba_ssm's with a MambaConfig \"config\")",
    "as saved", "device (nil: as loaded)",
    LM .. "; p = os.tmpname(); lm:save(p)\nlm2 = cc.nn.load(p); os.remove(p); lm2:num_parameters() == lm:num_parameters()")
doc("nn.ctor_options", "cc.nn.ctor_options(opts) -> {dtype =, device =} for tensor constructors (nil entries keep f32, cpu)", "-", "-",
    "o = cc.nn.ctor_options({dtype = \"f64\", d_model = 4})\ncc.zeros(2, o):dtype()")
doc("nn.required", "cc.nn.required(fname, opts, name) -> opts[name], raising \"fname: name: expected a positive integer, got nil\" when absent", "-", "-",
    "cc.nn.required(\"Mine\", {n = 3}, \"n\")\nok = pcall(cc.nn.required, \"Mine\", {}, \"n\"); ok")
doc("nn.options", "cc.nn.options(fname, opts, spec) -> opts checked against spec (a list of {name, kind}); nil opts raise", "-", "-",
    "o = cc.nn.options(\"Mine\", {n = 3}, {{\"n\", \"positive\"}})\no.n")

-- cc.nn.init
local W = "w = cc.empty(3, 4)"
doc("nn.init.uniform_", "cc.nn.init.uniform_(t [, a, b]) -> t filled from U(a, b) in place (no_grad, global stream)", "any float t", "a (0), b (1), a <= b",
    W .. "\ncc.nn.init.uniform_(w, -1, 1):abs():max():item() <= 1")
doc("nn.init.normal_", "cc.nn.init.normal_(t [, mean, std]) -> t filled from N(mean, std^2) in place", "any float t", "mean (0), std (1)",
    W .. "\ncc.nn.init.normal_(w, 0, 0.02):size()")
doc("nn.init.constant_", "cc.nn.init.constant_(t, v) -> t filled with v in place", "any float t", "-", W .. "\ncc.nn.init.constant_(w, 2):sum():item()")
doc("nn.init.zero_", "cc.nn.init.zero_(t) -> t filled with 0 in place", "any float t", "-", W .. "\ncc.nn.init.zero_(w):sum():item()")
doc("nn.init.ones_", "cc.nn.init.ones_(t) -> t filled with 1 in place", "any float t", "-", W .. "\ncc.nn.init.ones_(w):sum():item()")
doc("nn.init.kaiming_uniform_", "cc.nn.init.kaiming_uniform_(t [, opts]) -> t from U(+-bound) in place; a = sqrt(5) gives PyTorch's Linear / Conv1d default U(+-1/sqrt(fan_in))",
    "t: 2-d or more, fan_in = size(2) * the later sizes", "a (sqrt(5))",
    W .. "\ncc.nn.init.kaiming_uniform_(w, {a = math.sqrt(5)}):abs():max():item() <= 0.5")

-- cc.optim
local P = "w = cc.ones(2):requires_grad_(); (w * w):sum():backward()"
local OPT_STEP = "step([closure]) updates every parameter with a .grad under cc.no_grad; params: tensors or groups {params = {...}, lr = ...}"
doc("optim.SGD", "cc.optim.SGD(params [, opts]) -> optimizer (PyTorch's rule; " .. OPT_STEP .. ")", "-",
    "lr (required), momentum (0), dampening (0), nesterov (false: needs momentum > 0, dampening 0), weight_decay (0)",
    P .. "\nopt = cc.optim.SGD({w}, {lr = 0.1}); opt:step(); w:sum():item()")
doc("optim.Adam", "cc.optim.Adam(params [, opts]) -> optimizer; weight_decay is L2 (grad + wd * param)", "-",
    "lr (1e-3), betas ({0.9, 0.999}), eps (1e-8), weight_decay (0)",
    P .. "\nopt = cc.optim.Adam({w}, {lr = 1e-2}); opt:step(); w:sum():item()")
doc("optim.AdamW", "cc.optim.AdamW(params [, opts]) -> optimizer; weight_decay is decoupled (param * (1 - lr * wd))", "-",
    "lr (1e-3), betas ({0.9, 0.999}), eps (1e-8), weight_decay (0.01)",
    P .. "\nopt = cc.optim.AdamW({w}); opt:step(); opt.param_groups[1].lr")
local OPT = P .. "; opt = cc.optim.SGD({w}, {lr = 0.1, momentum = 0.9})"
meth("optim.Optimizer:step", "opt:step([closure]) -> closure's result: updates every parameter whose .grad is not nil; everything is checked before the first parameter changes",
    "each grad shaped like its parameter", "closure: called first with grad recording on", OPT .. "\nopt:step(); w:sum():item()")
meth("optim.Optimizer:zero_grad", "opt:zero_grad([opts]): zeroes every .grad in place, or drops them", "-", "set_to_none (false: true drops them)",
    OPT .. "\nopt:zero_grad(); w.grad:sum():item()")
meth("optim.Optimizer:state_dict", "opt:state_dict() -> {state = {[i] = {...}}, param_groups = {...}} with copies of the state; i counts parameters from 1",
    "-", "-", OPT .. "\nopt:step(); sd = opt:state_dict(); sd.state[1].momentum_buffer:size()")
meth("optim.Optimizer:load_state_dict", "opt:load_state_dict(sd): restores the state and every group's options (the parameters stay); nothing changes when it fails",
    "state tensors shaped like their parameters", "-", OPT .. "; opt:step(); sd = opt:state_dict()\nopt:load_state_dict(sd); opt.param_groups[1].momentum")
doc("optim.no_decay_groups", "cc.optim.no_decay_groups(named_params, weight_decay) -> {{params = decayed, weight_decay = wd}, {params = not_decayed, weight_decay = 0}}",
    "-", "not decayed: A_log, D, *.bias, names with norm or embedding, t._no_weight_decay = true",
    LIN .. "; g = cc.optim.no_decay_groups(m:named_parameters(), 0.1)\n#g[1].params, #g[2].params")
doc("optim.clip_grad_norm_", "cc.optim.clip_grad_norm_(params, max_norm [, norm_type]) -> the total norm (a number, computed in f64); grads scaled in place when over max_norm",
    "params: a tensor or an array of tensors (nil grads skipped)", "norm_type (2; a positive number or math.huge)",
    P .. "\ncc.optim.clip_grad_norm_({w}, 1.0), (w.grad * w.grad):sum():item()")
doc("optim.schedule.constant", "cc.optim.schedule.constant() -> fn: step -> 1 always", "-", "-",
    "f = cc.optim.schedule.constant()\nf(0), f(100)")
doc("optim.schedule.warmup_cosine", "cc.optim.schedule.warmup_cosine{warmup, total [, min_ratio]} -> fn: step -> lr multiplier",
    "s / W for s < W, then cosine from 1 to min_ratio at total, min_ratio after", "warmup, total, min_ratio (0)",
    "f = cc.optim.schedule.warmup_cosine{warmup = 10, total = 100}\nf(5), f(10), f(100)")
local SCH = OPT .. "; sched = cc.optim.LRScheduler(opt, cc.optim.schedule.warmup_cosine{warmup = 2, total = 10})"
doc("optim.LRScheduler", "cc.optim.LRScheduler(opt, fn) -> scheduler: each group's lr is its base lr times fn(s); sets lr = base * fn(0) at once",
    "-", "fn: a schedule (cc.optim.schedule.*)", SCH .. "\nsched:get_last_lr()[1]")
meth("optim.LRScheduler:step", "sched:step(): s = s + 1, lr = base * fn(s) (call it after opt:step())", "-", "-", SCH .. "\nsched:step(); sched:get_last_lr()[1]")
meth("optim.LRScheduler:get_last_lr", "sched:get_last_lr() -> {lr of each group}", "-", "-", SCH .. "\nsched:get_last_lr()")
meth("optim.LRScheduler:state_dict", "sched:state_dict() -> {last_step, base_lrs}", "-", "-", SCH .. "\nsched:step(); sched:state_dict().last_step")
meth("optim.LRScheduler:load_state_dict", "sched:load_state_dict(sd): restores last_step and base_lrs (one per group) and sets the lrs", "-", "-",
    SCH .. "\nsched:load_state_dict({last_step = 5, base_lrs = {0.1}}); sched:get_last_lr()[1]")

-- cc.bench
local TOPTS = "device (\"cpu\"), warmup (3), reps (10; [\"repeat\"] the same), min_sample_ms (1: a sample repeats fn that long)"
local QUICK = "{warmup = 1, reps = 3, min_sample_ms = 0.01}"
doc("bench.now", "cc.bench.now() -> seconds from CLOCK_MONOTONIC", "-", "-", "t0 = cc.bench.now()\ncc.bench.now() >= t0")
doc("bench.stats", "cc.bench.stats(samples) -> {median, min, max, mean, p25, p75, spread, n, samples}", "samples: a non-empty array of numbers",
    "spread = (p75 - p25) / median", "s = cc.bench.stats({3, 1, 2})\ns.median, s.min, s.max")
doc("bench.time", "cc.bench.time(fn [, opts]) -> stats (ms per call) of fn, after warm-up; fn(k) gets a running call counter",
    "-", TOPTS .. ";\non cuda a device-event timer after cc.cuda.synchronize()",
    "s = cc.bench.time(function() return 1 + 1 end, " .. QUICK .. ")\ns.n, s.median >= 0")
doc("bench.compare", "cc.bench.compare(fns [, opts]) -> {[k] = stats (+ .inner: calls per sample)}: several functions interleaved sample by sample",
    "fns: a table of functions", TOPTS,
    "r = cc.bench.compare({a = function() end, b = function() end}, " .. QUICK .. ")\nr.a.n, r.b.n")
doc("bench.ratio", "cc.bench.ratio(sa, sb) -> stats of sa.samples[r] / sb.samples[r] (two results of one compare call)", "-", "-",
    "r = cc.bench.compare({a = function() end, b = function() end}, " .. QUICK .. ")\ncc.bench.ratio(r.a, r.b).n")
doc("bench.copy", "cc.bench.copy(nbytes [, opts]) -> fn, bytes moved, {src = {...}, dst = {...}}: fn does dst:copy_(src) moving nbytes (read + write)",
    "-", "device (\"cpu\"), dtype (f32), sets (1: source/destination pairs to rotate)",
    "fn, bytes = cc.bench.copy(4096)\nfn(1); bytes")
doc("bench.memcpy", "cc.bench.memcpy(nbytes) -> fn, bytes moved: one-thread memcpy of nbytes/2 (host memory)", "-", "-",
    "fn, bytes = cc.bench.memcpy(4096)\nfn(); bytes")
doc("bench.scan_roof", "cc.bench.scan_roof(elements [, opts]) -> fn, elements: the selective scan forward's arithmetic on registers only (every CPU thread)",
    "-", "device (\"cpu\"; cuda is an error)", "fn, n = cc.bench.scan_roof(1000)\nfn(); n")
doc("bench.conv_roof", "cc.bench.conv_roof(elements [, opts]) -> fn, elements: the fast CPU conv's row arithmetic on rows kept in L1 (every CPU thread)",
    "-", "width (4), activation (nil | \"silu\"), backward (false; width 4 only), device (\"cpu\"; cuda is an error)",
    "fn, n = cc.bench.conv_roof(4096, { activation = \"silu\" })\nfn(); n")
doc("bench.rotation_sets", "cc.bench.rotation_sets(bytes [, device]) -> input sets to rotate so inputs are not cache-resident (twice the L3 on cpu, 256 MiB on cuda; 1..64)",
    "-", "device (\"cpu\")", "n = cc.bench.rotation_sets(2 ^ 20)\nn >= 1 and n <= 64")
doc("bench.gbps", "cc.bench.gbps(bytes, ms) -> GB/s (1e9 bytes)", "-", "-", "cc.bench.gbps(1e9, 1000)\ncc.bench.gbps(2e6, 1)")
doc("bench.progress", "cc.bench.progress(n [, opts]) -> bar with bar:start(label), bar:step(label), bar:print(line), bar:finish(); drawn only on a terminal",
    "-", "stream (io.stdout), force (false: draw even when stream is not a terminal)",
    "bar = cc.bench.progress(2, {stream = io.stderr}); bar:step(\"a\"); bar:step(\"b\")\nbar:finish()")
doc("bench.machine", "cc.bench.machine([device]) -> {date, host, kernel, cpu, cpus, l3, load, threads, lib, commit, lib_built, omp_proc_bind, device [, gpu, emulated]}",
    "-", "device (\"cpu\")", "m = cc.bench.machine()\nm.cpus > 0, m.device")
doc("bench.describe", "cc.bench.describe(m) -> m (cc.bench.machine()) as \"# \" header lines", "-", "-",
    "m = cc.bench.machine()\ncc.bench.describe(m):sub(1, 8)")
doc("bench.load", "cc.bench.load() -> the 1-, 5- and 15-minute load averages as \"a b c\"", "-", "-", "l = cc.bench.load()\ntype(l)")
doc("bench.isatty", "cc.bench.isatty([fd]) -> whether fd (1 = stdout) is a terminal", "-", "fd (1)", "cc.bench.isatty(1)\ncc.bench.isatty(2)")

-- cc.cuda (on a build without CUDA the is_* functions say false and the others raise)
local IFC = "if cc.cuda.is_available() then "
doc("cuda.is_built", "cc.cuda.is_built() -> compiled with CUDA (real or emulated)", "-", "-", "cc.cuda.is_built()\ncc.cuda.is_built() or cc.cuda.device_count() == 0")
doc("cuda.is_emulated", "cc.cuda.is_emulated() -> kernels run on the CPU emulation (the test build)", "-", "-", "cc.cuda.is_emulated()\ntype(cc.cuda.is_emulated())")
doc("cuda.is_available", "cc.cuda.is_available() -> a device can be used now (false, quietly, without a GPU)", "-", "-",
    "cc.cuda.is_available()\ndev = cc.cuda.is_available() and \"cuda\" or \"cpu\"; dev")
doc("cuda.device_count", "cc.cuda.device_count() -> number of devices", "-", "-", "cc.cuda.device_count()\ncc.cuda.device_count() >= 0")
doc("cuda.device_name", "cc.cuda.device_name() -> e.g. \"NVIDIA H100 80GB HBM3\", \"causalconv CPU emulation\"", "-", "-",
    IFC .. "print(cc.cuda.device_name()) end\nok = pcall(cc.cuda.device_name); ok == cc.cuda.is_built()")
doc("cuda.synchronize", "cc.cuda.synchronize(): waits for every queued kernel and copy; raises their errors", "-", "-",
    IFC .. "cc.cuda.synchronize() end\ncc.cuda.is_available()")
doc("cuda.memory_stats", "cc.cuda.memory_stats() -> {allocated, reserved, peak_allocated, num_allocs, device_to_host_copies} (bytes; reserved adds the allocator's cache; num_allocs: cudaMalloc calls; device_to_host_copies: each waits for the device)",
    "-", "-", IFC .. "print(cc.cuda.memory_stats().allocated) end\ncc.cuda.is_available()")
doc("cuda.reset_peak_memory_stats", "cc.cuda.reset_peak_memory_stats(): peak_allocated starts again from allocated", "-", "-",
    IFC .. "cc.cuda.reset_peak_memory_stats() end\ncc.cuda.is_available()")
doc("cuda.empty_cache", "cc.cuda.empty_cache(): returns the cached blocks to the driver (after a garbage collection)", "-", "-",
    IFC .. "cc.cuda.empty_cache() end\ncc.cuda.is_available()")
doc("cuda.timer", "cc.cuda.timer() -> t; t:stop() -> ms of device time since the timer started (waits for the work queued in between; stops once)",
    "-", "-", IFC .. "t = cc.cuda.timer(); cc.ones(4, {device = \"cuda\"}); print(t:stop()) end\ncc.cuda.is_available()")

-- cc.autograd
local G = "x = cc.randn(3):requires_grad_()"
doc("autograd.is_enabled", "cc.autograd.is_enabled() -> whether recording is on (cc.no_grad turns it off)", "-", "-",
    "cc.autograd.is_enabled()\ncc.no_grad(cc.autograd.is_enabled)")
doc("autograd.requires_grad", "cc.autograd.requires_grad(t) -> t takes part in the graph (t.requires_grad == true)", "-", "-",
    G .. "\ncc.autograd.requires_grad(x), cc.autograd.requires_grad(cc.ones(1))")
doc("autograd.needs_grad", "cc.autograd.needs_grad(...) -> recording is on and some argument requires grad", "-", "-",
    G .. "\ncc.autograd.needs_grad(cc.ones(1), x)")
doc("autograd.check_inplace", "cc.autograd.check_inplace(fname, t [, argname]): raises when t may not be changed in place now (requires grad while recording)",
    "-", "-", G .. "\nok = pcall(cc.autograd.check_inplace, \"my_op_\", x); ok")
doc("autograd.record", "cc.autograd.record(op, input_names, inputs, outputs, backward [, saved]) -> node or nil: records a custom op (outputs get requires_grad)",
    "backward(ctx, g_1, ...) -> one grad per input; ctx.saved, ctx.needs[i]; returns nil when recording is off or no input requires grad",
    "saved: tensors for backward (ctx.saved, version-checked) (nil)",
    G .. "; y = x:detach() * 2; node = cc.autograd.record(\"double\", {\"x\"}, {x}, {y}, function(ctx, g) return g * 2 end)\ny:sum():backward(); x.grad:totable()")
doc("autograd.backward", "cc.autograd.backward(t [, grad [, opts]]) (t:backward(...)): gradients accumulate into the leaves' .grad",
    "grad like t (implicit 1 only for one element)", "retain_graph (false)", G .. "\ncc.autograd.backward((x * x):sum()); x.grad:size()")
doc("autograd.retain_grad", "cc.autograd.retain_grad(t) (t:retain_grad()): a non-leaf keeps its .grad after backward", "-", "-",
    G .. "; y = x * 2; cc.autograd.retain_grad(y)\ny:sum():backward(); y.grad:totable()")

-- Tensor methods that are not also cc.<name> (x:sum() and the like share cc.sum's page), keyed
-- "Tensor:name"; cc.help("x:size") and cc.help(x.size) find them. "Tensor.name": the binding's
-- helpers for code that adds ops (tensor.lua).
local X = "x = cc.randn(2, 3)"
local function method(name, sig, shapes, opts, ex) doc("Tensor:" .. name, sig, shapes, opts, ex) end
method("size", "x:size([dim]) -> {sizes...}, or the size of dim (x:shape() is the same)", "-", "-", X .. "\nx:size(), x:size(2)")
method("shape", "x:shape([dim]) -> {sizes...}, or the size of dim (x:size)", "-", "-", X .. "\nx:shape()")
method("stride", "x:stride([dim]) -> {strides...} in elements, or dim's", "-", "-", X .. "\nx:stride(), x:t():stride(1)")
method("dim", "x:dim() -> the number of dims", "-", "-", X .. "\nx:dim()")
method("numel", "x:numel() -> the number of elements", "-", "-", X .. "\nx:numel()")
method("dtype", "x:dtype() -> \"f32\" | \"f64\" | \"bf16\" | \"f16\" | \"i32\" | \"i64\"", "-", "-", X .. "\nx:dtype()")
method("device", "x:device() -> \"cpu\" | \"cuda\" | \"cuda:N\"", "-", "-", X .. "\nx:device()")
method("element_size", "x:element_size() -> bytes per element", "-", "-", X .. "\nx:element_size(), x:bfloat16():element_size()")
method("is_contiguous", "x:is_contiguous() -> true when x is in C order without gaps", "-", "-", X .. "\nx:is_contiguous(), x:t():is_contiguous()")
method("is_cuda", "x:is_cuda() -> true on a CUDA device", "-", "-", X .. "\nx:is_cuda()")
method("is_floating_point", "x:is_floating_point() -> false for i32 and i64", "-", "-", X .. "\nx:is_floating_point(), x:long():is_floating_point()")
method("same_storage", "x:same_storage(y) -> true when x and y are views of one buffer", "-", "-", X .. "\nx:t():same_storage(x), x:clone():same_storage(x)")
method("data_ptr", "x:data_ptr() -> void* cdata at x's first element (device memory for cuda)", "-", "-", X .. "\nx:data_ptr() ~= nil")
method("item", "x:item() -> the Lua number of a one-element x (int64 cdata for i64 beyond 2^53)", "one element", "-",
    "x = cc.tensor({{3.5}})\nx:item()")
method("totable", "x:totable() -> nested Lua tables of numbers", "any (0-d: a number)", "-", "x = cc.arange(6):view(2, 3)\nx:totable()")
method("to", "x:to(dtype | device | {dtype =, device =}) -> x itself when nothing changes, else a copy", "x's sizes",
    "dtype, device; the gradient goes back to x's dtype and device", X .. "\nx:to(\"f64\"):dtype(), x:to({dtype = \"bf16\"}):dtype()")
method("cpu", "x:cpu() -> x:to(\"cpu\")", "x's sizes", "-", X .. "\nx:cpu():device()")
method("cuda", "x:cuda() -> x:to(\"cuda\") (an error without a CUDA build and device)", "x's sizes", "-",
    X .. "\ncc.cuda.is_available() and x:cuda():device() or \"no device\"")
for name, dt in pairs({ float = "f32", double = "f64", half = "f16", bfloat16 = "bf16", int = "i32", long = "i64" }) do
    method(name, "x:" .. name .. "() -> x:to(\"" .. dt .. "\")", "x's sizes", "-", X .. "\nx:" .. name .. "():dtype()")
end
method("copy_", "x:copy_(src) -> x, src's values written into x (converted; src broadcasts to x's shape)", "src broadcastable to x", "-",
    "x = cc.zeros(2, 3)\nx:copy_(cc.ones(3)):sum():item()")
method("fill_", "x:fill_(value) -> x with every element value", "-", "-", "x = cc.empty(2, 3)\nx:fill_(2):sum():item()")
method("zero_", "x:zero_() -> x with every element 0", "-", "-", X .. "\nx:zero_():sum():item()")
for name, op in pairs({ add_ = "+", sub_ = "-", mul_ = "*", div_ = "/" }) do
    method(name, "x:" .. name .. "(y) -> x, x = x " .. op .. " y in place (y: a tensor broadcastable to x, or a number)",
        "y broadcastable to x", "-", "x = cc.ones(2, 3)\nx:" .. name .. "(2):sum():item()")
end
method("uniform_", "x:uniform_([a [, b]]) -> x filled uniform in [a, b) (0, 1) from the global stream", "-", "-",
    "x = cc.empty(2, 3)\nx:uniform_(-1, 1):max():item() < 1")
method("normal_", "x:normal_([mean [, std]]) -> x filled from N(mean, std^2) (0, 1), global stream", "-", "-",
    "x = cc.empty(1000)\nx:normal_(5, 2):mean():item() > 4")
method("expand_as", "x:expand_as(y) -> x:expand(y's sizes...)", "x broadcastable to y", "-",
    "x = cc.ones(3, 1)\nx:expand_as(cc.zeros(3, 4)):size()")
method("requires_grad_", "x:requires_grad_([flag]) -> x, recording ops on it for backward (flag true)", "-", "-",
    X .. "\nx:requires_grad_(); x.requires_grad")
method("backward", "y:backward([grad [, opts]]): gradients into the .grad of the leaves y depends on", "grad like y (implicit 1 for one element)",
    "retain_graph (false)", "x = cc.randn(3, {requires_grad = true})\n(x * x):sum():backward(); x.grad:size()")
method("retain_grad", "y:retain_grad() -> y; a non-leaf keeps its .grad after backward", "-", "-",
    "x = cc.randn(3, {requires_grad = true}); y = x * 2; y:retain_grad()\ny:sum():backward(); y.grad:totable()")
method("is_leaf", "x:is_leaf() -> false for a result of recorded ops", "-", "-",
    "x = cc.randn(3, {requires_grad = true})\nx:is_leaf(), (x * 2):is_leaf()")
method("detach", "x:detach() -> a view of x's data that records nothing", "x's sizes", "-",
    "x = cc.randn(3, {requires_grad = true})\nx:detach().requires_grad")
local function helper(name, sig, ex) doc("Tensor." .. name, sig, "-", "-", ex) end
local TT = "T = cc.Tensor; x = cc.randn(2, 3)"
helper("add_method", "cc.Tensor.add_method(name, fn): a new x:name(...) method (\"__x\": a metamethod); never replaces one",
    "cc.Tensor.add_method(\"double_it\", function(self) return self * 2 end)\ncc.ones(2):double_it():totable()")
helper("wrap", "cc.Tensor.wrap(handle) -> Tensor owning a cc_tensor* (freed by the GC)", "x = cc.randn(2, 3); p = require(\"ffi\").new(\"cc_tensor*[1]\"); cc.C.cc_tensor_alias(p, x._h)\ncc.Tensor.wrap(p[0]):same_storage(x)")
helper("from_c", "cc.Tensor.from_c(cfn, args...) -> Tensor from cfn(&out, args...), a new allocation (a GC and one retry when memory runs out)",
    TT .. "\nT.from_c(cc.C.cc_tensor_clone, x._h):size()")
helper("view_from_c", "cc.Tensor.view_from_c(cfn, args...) -> Tensor from cfn(&out, args...), a view of existing memory",
    TT .. "\nT.view_from_c(cc.C.cc_tensor_alias, x._h):same_storage(x)")
helper("empty_on", "cc.Tensor.empty_on(dtype_code, like, sizes...) -> an empty tensor on like's device (ops' outputs)",
    TT .. "\nT.empty_on(cc.C.CC_F64, x, 4, 5):size()")
helper("zeros_of", "cc.Tensor.zeros_of(t) -> zeros with t's shape, strides, dtype and device", TT .. "\nT.zeros_of(x:t()):stride()")

return D
