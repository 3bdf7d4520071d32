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

return D
