-- Differentiable tensor ops: elementwise math with PyTorch broadcasting, reductions, max,
-- softmax, matmul/linear, cat/split/chunk, indexing, losses, rms_norm, and the in-place
-- arithmetic. Every op works with and without autograd: it computes with one or a few C calls
-- (Lua never loops over elements), then, when recording is on and an input requires grad,
-- records one node on the tape (cc.autograd.record, tape.lua) with its backward rule right
-- here. The ops are exported as cc.<name> and added as Tensor methods (x:sum(), x + y, ...)
-- through Tensor.add_method.
--
-- Conventions
--   * Binary ops take two tensors of one dtype and one device (a mismatch is an error) or a
--     tensor and a Lua number on either side (2 * x, x - 1, 1 / x). Tensors broadcast as in
--     PyTorch (sizes aligned from the right, size 1 stretches); backward sums gradients back
--     to each shape.
--   * dims are 1-based, negative counts from the end (-1 = last).
--   * Integer tensors hold 0-based positions: max returns an i64 tensor of 0-based indices,
--     index_select / embedding / cross_entropy read 0-based indices and targets.
--   * Results are new contiguous tensors.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local Tensor = require("causalconv.tensor").Tensor
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise
local autograd = tape.autograd
local fmt = string.format

local show, shape_of, shape_str, same_shape = args.show, args.shape_of, args.shape_str, args.same_shape
local is_tensor = args.is_tensor
local from_c, view_from_c = Tensor.from_c, Tensor.view_from_c

local M = {}

local function is_float(t) return not args.is_int_dtype(t._h.dtype) end

-- both tensors of one dtype and one device
local function same_kind(op, aname, a, bname, b)
    args.same_dtype(op, aname, a, bname, b)
    args.same_device(op, aname, a, bname, b)
end

local function dim0(op, x, d) return args.dim(op, "dim", x, d) end

-- ---- raw tensor helpers (no recording, C calls only) ----------------------------------------

local function int64s(list)
    local n = #list
    local a = ffi.new("int64_t[?]", n > 0 and n or 1)
    for i = 1, n do a[i - 1] = list[i] end
    return a
end

-- new storage goes through tensor.lua's allocator (counts the bytes for the Lua GC, collects
-- and retries once when memory runs out)
local function new(shape, dtype, like)
    local h = like._h
    return from_c(C.cc_tensor_empty, #shape, int64s(shape), dtype or h.dtype, h.device, h.device_index)
end

local function zeros(shape, dtype, like)
    local t = new(shape, dtype, like)
    check(C.cc_tensor_fill(t._h, 0))
    return t
end

local function r_view(t, shape) return view_from_c(C.cc_tensor_view, t._h, #shape, int64s(shape)) end
local function r_expand(t, shape) return view_from_c(C.cc_tensor_expand, t._h, #shape, int64s(shape)) end

local function r_contiguous(t)
    if C.cc_tensor_is_contiguous(t._h) ~= 0 then return t end
    return from_c(C.cc_tensor_contiguous, t._h)
end

local function r_reshape(t, shape) return r_view(r_contiguous(t), shape) end

local function r_transpose(t, d0, d1) return view_from_c(C.cc_tensor_transpose, t._h, d0, d1) end

local function r_permute(t, dims0)
    local a = ffi.new("int[?]", #dims0 > 0 and #dims0 or 1)
    for i = 1, #dims0 do a[i - 1] = dims0[i] end
    return view_from_c(C.cc_tensor_permute, t._h, #dims0, a)
end

local function r_narrow(t, d, start0, len) return view_from_c(C.cc_tensor_narrow, t._h, d, start0, len) end

local function r_convert(t, dtype) return from_c(C.cc_tensor_to, t._h, dtype, t._h.device, t._h.device_index) end

local function numel(t) return tonumber(C.cc_tensor_numel(t._h)) end

-- g summed down to shape (the inverse of broadcasting g's operand up to g's shape)
local function unbroadcast(g, shape)
    local gs = shape_of(g)
    if same_shape(gs, shape) then return g end
    local padded = {}
    for i = 1, #gs - #shape do padded[i] = 1 end
    for i = 1, #shape do padded[#gs - #shape + i] = shape[i] end
    local out = new(padded, nil, g)
    check(C.cc_sum_to(out._h, g._h, 1.0))
    return r_view(out, shape)
end

-- the broadcast of sizes sa and sb
local function broadcast_sizes(op, sa, sb)
    local n = math.max(#sa, #sb)
    local out = {}
    for i = 1, n do
        local x = sa[#sa - n + i] or 1
        local y = sb[#sb - n + i] or 1
        if x == y or y == 1 then out[i] = x
        elseif x == 1 then out[i] = y
        else
            raise(fmt("%s: shapes %s and %s do not broadcast (dim %d: %d vs %d)", op,
                shape_str(sa), shape_str(sb), i - n - 1, x, y))
        end
    end
    return out
end

local function broadcast_shapes(op, a, b) return broadcast_sizes(op, shape_of(a), shape_of(b)) end

local function scale(g, factor)
    if factor == 1 then return g end
    local out = new(shape_of(g), nil, g)
    check(C.cc_unary_forward(out._h, g._h, C.CC_UNARY_MUL_SCALAR, factor))
    return out
end

-- x summed to size (sizes x broadcasts from, as in PyTorch's sum_to_size); its gradient expands.
function M.sum_to_size(x, ...)
    args.float_tensor("sum_to_size", "x", x)
    local shape = args.sizes("sum_to_size", false, ...)
    local xshape = shape_of(x)
    local ok = #shape <= #xshape
    for i = 1, #shape do
        local a, b = shape[#shape - i + 1], xshape[#xshape - i + 1]
        if ok and a ~= b and a ~= 1 then ok = false end
    end
    if not ok then
        raise(fmt("sum_to_size: size %s: expected a size x %s broadcasts from", shape_str(shape), shape_str(xshape)))
    end
    local out = unbroadcast(x, shape)
    if out == x then return x end
    if autograd.needs_grad(x) then
        autograd.record("sum_to_size", { "x" }, { x }, { out }, function(_, g) return r_expand(g, xshape) end)
    end
    return out
end

-- ---- elementwise -----------------------------------------------------------------------------

local U = {
    neg = C.CC_UNARY_NEG, exp = C.CC_UNARY_EXP, log = C.CC_UNARY_LOG, sqrt = C.CC_UNARY_SQRT,
    rsqrt = C.CC_UNARY_RSQRT, abs = C.CC_UNARY_ABS, sigmoid = C.CC_UNARY_SIGMOID, silu = C.CC_UNARY_SILU,
    softplus = C.CC_UNARY_SOFTPLUS, tanh = C.CC_UNARY_TANH, relu = C.CC_UNARY_RELU, gelu = C.CC_UNARY_GELU,
}

-- out = f(x[, scalar]); ops whose derivative does not depend on x save nothing. xname: the
-- user's name for x in messages (a or b for add(x, 2) / add(2, x)).
local function unary(name, op, x, scalar, xname)
    args.float_tensor(name, xname or "x", x)
    scalar = scalar or 0
    local out = new(shape_of(x), nil, x)
    check(C.cc_unary_forward(out._h, x._h, op, scalar))
    if autograd.needs_grad(x) then
        if op == C.CC_UNARY_NEG or op == C.CC_UNARY_ADD_SCALAR or op == C.CC_UNARY_MUL_SCALAR then
            local factor = op == C.CC_UNARY_NEG and -1 or op == C.CC_UNARY_MUL_SCALAR and scalar or 1
            autograd.record(name, { "x" }, { x }, { out }, function(_, g) return scale(g, factor) end)
        else
            autograd.record(name, { "x" }, { x }, { out }, function(ctx, g)
                local dx = new(shape_of(g), nil, g)
                check(C.cc_unary_backward(dx._h, ctx.saved.x._h, g._h, op, scalar))
                return dx
            end, { x = x })
        end
    end
    return out
end

local function neg(x) return unary("neg", C.CC_UNARY_NEG, x) end
M.neg = neg

-- both operands tensors of one dtype and device, broadcast to one shape
local function binary_tensors(name, op, a, b)
    args.float_tensor(name, "a", a)
    args.float_tensor(name, "b", b)
    same_kind(name, "a", a, "b", b)
    local shape = broadcast_shapes(name, a, b)
    local sa, sb = shape_of(a), shape_of(b)
    local ae = same_shape(sa, shape) and a or r_expand(a, shape)
    local be = same_shape(sb, shape) and b or r_expand(b, shape)
    local out = new(shape, nil, a)
    check(C.cc_binary_forward(out._h, ae._h, be._h, op))
    if autograd.needs_grad(a, b) then
        local saved
        if op == C.CC_BINARY_MUL then saved = { a = a, b = b }
        elseif op == C.CC_BINARY_DIV then saved = { b = b, out = out } end
        autograd.record(name, { "a", "b" }, { a, b }, { out }, function(ctx, g)
            local ga, gb
            if op == C.CC_BINARY_ADD then
                ga, gb = g, ctx.needs[2] and g or nil
            elseif op == C.CC_BINARY_SUB then
                ga, gb = g, ctx.needs[2] and neg(g) or nil
            elseif op == C.CC_BINARY_MUL then
                ga = ctx.needs[1] and M.mul(g, ctx.saved.b) or nil
                gb = ctx.needs[2] and M.mul(g, ctx.saved.a) or nil
            else
                ga = M.div(g, ctx.saved.b)
                gb = ctx.needs[2] and neg(M.mul(ga, ctx.saved.out)) or nil
            end
            return ctx.needs[1] and unbroadcast(ga, sa) or nil, gb and unbroadcast(gb, sb) or nil
        end, saved)
    end
    return out
end

local function check_operands(name, a, b)
    local ta, tb = is_tensor(a), is_tensor(b)
    if not ta and type(a) ~= "number" then
        raise(fmt("%s: a: expected a tensor or a number, got %s", name, show(a)))
    end
    if not tb and type(b) ~= "number" then
        raise(fmt("%s: b: expected a tensor or a number, got %s", name, show(b)))
    end
    if not ta and not tb then
        raise(fmt("%s: expected at least one tensor operand, got two numbers", name))
    end
    return ta, tb
end

function M.add(a, b)
    local ta, tb = check_operands("add", a, b)
    if ta and tb then return binary_tensors("add", C.CC_BINARY_ADD, a, b) end
    if ta then return unary("add", C.CC_UNARY_ADD_SCALAR, a, b, "a") end
    return unary("add", C.CC_UNARY_ADD_SCALAR, b, a, "b")
end

function M.sub(a, b)
    local ta, tb = check_operands("sub", a, b)
    if ta and tb then return binary_tensors("sub", C.CC_BINARY_SUB, a, b) end
    if ta then return unary("sub", C.CC_UNARY_ADD_SCALAR, a, -b, "a") end
    args.float_tensor("sub", "b", b)
    return unary("sub", C.CC_UNARY_ADD_SCALAR, neg(b), a, "b")
end

function M.mul(a, b)
    local ta, tb = check_operands("mul", a, b)
    if ta and tb then return binary_tensors("mul", C.CC_BINARY_MUL, a, b) end
    if ta then return unary("mul", C.CC_UNARY_MUL_SCALAR, a, b, "a") end
    return unary("mul", C.CC_UNARY_MUL_SCALAR, b, a, "b")
end

function M.div(a, b)
    local ta, tb = check_operands("div", a, b)
    if ta and tb then return binary_tensors("div", C.CC_BINARY_DIV, a, b) end
    if ta then return unary("div", C.CC_UNARY_MUL_SCALAR, a, 1 / b, "a") end
    return unary("div", C.CC_UNARY_RDIV_SCALAR, b, a, "b")
end

-- x ^ p with a number exponent, or p ^ x with a number base
function M.pow(a, b)
    local ta, tb = check_operands("pow", a, b)
    if ta and tb then
        raise("pow: expected a number exponent (x ^ 2) or a number base (2 ^ x), got two tensors; "
            .. "write cc.exp(b * cc.log(a)) for a tensor exponent")
    end
    if ta then return unary("pow", C.CC_UNARY_POW_SCALAR, a, b, "a") end
    return unary("pow", C.CC_UNARY_RPOW_SCALAR, b, a, "b")
end

-- gelu is PyTorch's exact form, x * (1 + erf(x / sqrt 2)) / 2
for _, name in ipairs { "exp", "log", "sqrt", "rsqrt", "abs", "sigmoid", "silu", "softplus", "tanh", "relu", "gelu" } do
    local op = U[name]
    M[name] = function(x) return unary(name, op, x) end
end

-- ---- reductions ------------------------------------------------------------------------------

-- dims (nil = all, a number, or a list) -> the keepdim shape, the squeezed shape, the count
local function reduce_dims(op, x, dims)
    local shape = shape_of(x)
    local set = {}
    if dims == nil then
        for i = 0, #shape - 1 do set[i] = true end
    elseif type(dims) == "number" then
        set[dim0(op, x, dims)] = true
    elseif type(dims) == "table" and not is_tensor(dims) then
        for _, d in ipairs(dims) do set[dim0(op, x, d)] = true end
    else
        raise(fmt("%s: dim: expected nil, a dim or a list of dims, got %s", op, show(dims)))
    end
    local kept, count, squeezed = {}, 1, {}
    for i = 1, #shape do
        if set[i - 1] then
            kept[i] = 1
            count = count * shape[i]
        else
            kept[i] = shape[i]
            squeezed[#squeezed + 1] = shape[i]
        end
    end
    return kept, squeezed, count
end

local function keepdim_arg(op, keepdim)
    if keepdim ~= nil and type(keepdim) ~= "boolean" then
        raise(fmt("%s: keepdim: expected a boolean or nil, got %s", op, show(keepdim)))
    end
    return keepdim
end

local function reduce(name, x, dims, keepdim, mean)
    args.float_tensor(name, "x", x)
    keepdim_arg(name, keepdim)
    local xshape = shape_of(x)
    local kept, squeezed, count = reduce_dims(name, x, dims)
    local factor = mean and 1 / count or 1
    local out = new(kept, nil, x)
    check(C.cc_sum_to(out._h, x._h, factor))
    if not keepdim then out = r_view(out, squeezed) end
    if autograd.needs_grad(x) then
        autograd.record(name, { "x" }, { x }, { out }, function(_, g)
            return r_expand(scale(r_reshape(g, kept), factor), xshape)
        end)
    end
    return out
end

function M.sum(x, dim, keepdim) return reduce("sum", x, dim, keepdim, false) end
function M.mean(x, dim, keepdim) return reduce("mean", x, dim, keepdim, true) end

-- values, indices (i64, 0-based) of the maximum along dim (all elements when dim is nil)
function M.max(x, dim, keepdim)
    args.float_tensor("max", "x", x)
    keepdim_arg("max", keepdim)
    if dim == nil then
        if numel(x) == 0 then raise("max: x: expected at least one element, got " .. show(x)) end
        return M.max(x:reshape(-1), 1, false)
    end
    local shape = shape_of(x)
    local d = dim0("max", x, dim)
    if shape[d + 1] == 0 then raise(fmt("max: x: dim %d has size 0, so it has no maximum: %s", d + 1, show(x))) end
    local kept = {}
    for i = 1, #shape do kept[i] = (i - 1 == d) and 1 or shape[i] end
    local values = new(kept, nil, x)
    local indices = new(kept, C.CC_I64, x)
    check(C.cc_max_dim(values._h, indices._h, x._h, d))
    local keep_idx = indices
    if not keepdim then
        local sq = {}
        for i = 1, #shape do if i - 1 ~= d then sq[#sq + 1] = shape[i] end end
        values, indices = r_view(values, sq), r_view(indices, sq)
    end
    if autograd.needs_grad(x) then
        autograd.record("max", { "x" }, { x }, { values }, function(ctx, g)
            -- scatter g to the argmax positions: move dim to the end, rows of n = shape[d];
            -- flat position = row * n + index, then one index_add into the flat gradient.
            local n = shape[d + 1]
            local order, inv = {}, {}
            for i = 0, #shape - 1 do if i ~= d then order[#order + 1] = i end end
            order[#order + 1] = d
            for k, i in ipairs(order) do inv[i + 1] = k - 1 end
            local rows = numel(x) / n
            local gk = r_reshape(r_permute(r_reshape(g, kept), order), { rows })
            local idx = r_reshape(r_permute(ctx.saved.indices, order), { rows })
            local pos = r_convert(idx, C.CC_F64)
            local base = new({ rows }, C.CC_F64, pos)
            check(C.cc_tensor_arange(base._h, 0, n))
            check(C.cc_binary_forward(pos._h, pos._h, base._h, C.CC_BINARY_ADD))
            local flat = zeros({ rows * n }, g._h.dtype, g)
            check(C.cc_index_add(flat._h, 0, r_convert(pos, C.CC_I64)._h, gk._h))
            local permuted = {}
            for k, i in ipairs(order) do permuted[k] = shape[i + 1] end
            return r_permute(r_view(flat, permuted), inv)
        end, { indices = keep_idx })
    end
    return values, indices
end

-- values, indices (i64, 0-based) of the minimum along dim (all elements when dim is nil): the
-- maximum of -x, negated (the first minimum wins, as the first maximum does for max)
function M.min(x, dim, keepdim)
    args.float_tensor("min", "x", x)
    keepdim_arg("min", keepdim)
    if dim ~= nil then dim0("min", x, dim) end
    if dim == nil and numel(x) == 0 then raise("min: x: expected at least one element, got " .. show(x)) end
    local values, indices = M.max(neg(x), dim, keepdim)
    return neg(values), indices
end

local function softmax_op(name, log, x, dim)
    args.float_tensor(name, "x", x)
    local d = dim0(name, x, dim or -1)
    local out = new(shape_of(x), nil, x)
    check(C.cc_softmax_forward(out._h, x._h, d, log))
    if autograd.needs_grad(x) then
        autograd.record(name, { "x" }, { x }, { out }, function(ctx, g)
            local dx = new(shape_of(g), nil, g)
            check(C.cc_softmax_backward(dx._h, ctx.saved.out._h, g._h, d, log))
            return dx
        end, { out = out })
    end
    return out
end

function M.softmax(x, dim) return softmax_op("softmax", 0, x, dim) end
function M.log_softmax(x, dim) return softmax_op("log_softmax", 1, x, dim) end

-- ---- matmul ----------------------------------------------------------------------------------

-- a (batch..., M, K) @ b (batch..., K, N) with identical batch dims
local function matmul_core(a, b)
    local sa, sb = shape_of(a), shape_of(b)
    local oshape = {}
    for i = 1, #sa - 1 do oshape[i] = sa[i] end
    oshape[#sa] = sb[#sb]
    local out = new(oshape, nil, a)
    check(C.cc_matmul(out._h, a._h, b._h))
    if autograd.needs_grad(a, b) then
        local nd = #sa
        autograd.record("matmul", { "a", "b" }, { a, b }, { out }, function(ctx, g)
            local A, Bm = ctx.saved.a, ctx.saved.b
            local ga, gb
            if ctx.needs[1] then
                ga = new(sa, nil, g)
                check(C.cc_matmul(ga._h, g._h, r_transpose(Bm, nd - 2, nd - 1)._h))
            end
            if ctx.needs[2] then
                gb = new(sb, nil, g)
                check(C.cc_matmul(gb._h, r_transpose(A, nd - 2, nd - 1)._h, g._h))
            end
            return ga, gb
        end, { a = a, b = b })
    end
    return out
end

-- PyTorch's matmul: 1-D operands get a size-1 dim that is dropped again, batch dims
-- broadcast (the expand records the sum back to each operand's shape).
function M.matmul(a, b)
    args.float_tensor("matmul", "a", a)
    args.float_tensor("matmul", "b", b)
    same_kind("matmul", "a", a, "b", b)
    local na, nb = a._h.ndim, b._h.ndim
    if na == 0 or nb == 0 then
        raise(fmt("matmul: expected operands with at least one dim, got %s and %s", show(a), show(b)))
    end
    local squeeze_front, squeeze_back = false, false
    if na == 1 then a = a:unsqueeze(1); squeeze_front = true end
    if nb == 1 then b = b:unsqueeze(-1); squeeze_back = true end
    local sa, sb = shape_of(a), shape_of(b)
    if sa[#sa] ~= sb[#sb - 1] then
        raise(fmt("matmul: sizes do not match: a %s has K = %d, b %s has K = %d",
            shape_str(sa), sa[#sa], shape_str(sb), sb[#sb - 1]))
    end
    local nbatch = math.max(#sa, #sb) - 2
    if nbatch > 0 then
        local batch = {}
        for i = 1, nbatch do
            local x = sa[#sa - 2 - nbatch + i] or 1
            local y = sb[#sb - 2 - nbatch + i] or 1
            if x ~= y and x ~= 1 and y ~= 1 then
                raise(fmt("matmul: batch dims of a %s and b %s do not broadcast", shape_str(sa), shape_str(sb)))
            end
            batch[i] = x == 1 and y or x
        end
        local ta, tb = {}, {}
        for i = 1, nbatch do ta[i] = batch[i]; tb[i] = batch[i] end
        ta[nbatch + 1], ta[nbatch + 2] = sa[#sa - 1], sa[#sa]
        tb[nbatch + 1], tb[nbatch + 2] = sb[#sb - 1], sb[#sb]
        if not same_shape(sa, ta) then a = a:expand(ta) end
        if not same_shape(sb, tb) then b = b:expand(tb) end
    end
    local out = matmul_core(a, b)
    if squeeze_front then out = out:squeeze(-2) end
    if squeeze_back then out = out:squeeze(-1) end
    return out
end

-- x (..., in) @ weight (out, in)^T + bias (out)
function M.linear(x, weight, bias)
    args.float_tensor("linear", "x", x)
    args.float_tensor("linear", "weight", weight)
    if bias ~= nil then
        args.optional("linear", "bias", bias, args.bias_hint("linear"))
        args.float_tensor("linear", "bias", bias)
        same_kind("linear", "x", x, "bias", bias)
    end
    same_kind("linear", "x", x, "weight", weight)
    if weight._h.ndim ~= 2 then
        raise("linear: weight: expected shape (out, in), got " .. show(weight))
    end
    local sx = shape_of(x)
    if #sx == 0 then raise("linear: x: expected at least one dim, got " .. show(x)) end
    local nin = sx[#sx]
    if nin ~= tonumber(weight._h.shape[1]) then
        raise(fmt("linear: weight: expected shape (out, %d) to match x %s, got %s", nin or 0, shape_str(sx), show(weight)))
    end
    local nout = tonumber(weight._h.shape[0])
    if bias ~= nil and (bias._h.ndim ~= 1 or tonumber(bias._h.shape[0]) ~= nout) then
        raise(fmt("linear: bias: expected shape (%d) (weight's first dim), got %s", nout, show(bias)))
    end
    local x2 = #sx == 2 and x or x:reshape(-1, nin)
    local y = M.matmul(x2, weight:transpose(1, 2))
    if #sx ~= 2 then
        local oshape = {}
        for i = 1, #sx - 1 do oshape[i] = sx[i] end
        oshape[#sx] = nout
        y = y:view(oshape)
    end
    if bias ~= nil then y = M.add(y, bias) end
    return y
end

-- ---- cat / split / chunk ---------------------------------------------------------------------

function M.cat(list, dim)
    if type(list) ~= "table" or is_tensor(list) or #list == 0 then
        raise("cat: tensors: expected a non-empty list of tensors, got " .. show(list))
    end
    local first = args.tensor("cat", "tensors[1]", list[1])
    local nd = first._h.ndim
    local d = dim0("cat", first, dim or 1)
    local shape = shape_of(first)
    local total = 0
    local names = {}
    for i, t in ipairs(list) do
        local arg = "tensors[" .. i .. "]"
        names[i] = arg
        args.tensor("cat", arg, t)
        same_kind("cat", "tensors[1]", first, arg, t)
        local s = shape_of(t)
        local ok = #s == nd
        for k = 1, nd do if ok and k - 1 ~= d and s[k] ~= shape[k] then ok = false end end
        if not ok then
            shape[d + 1] = -1
            raise(fmt("cat: %s: expected shape %s (sizes equal except along dim %d), got %s", arg,
                (shape_str(shape):gsub("%-1", "*")), dim or 1, show(t)))
        end
        total = total + s[d + 1]
    end
    shape[d + 1] = total
    local out = new(shape, nil, first)
    local starts, lens, pos = {}, {}, 0
    for i, t in ipairs(list) do
        local len = tonumber(t._h.shape[d])
        starts[i], lens[i] = pos, len
        if len > 0 then check(C.cc_tensor_copy(r_narrow(out, d, pos, len)._h, t._h)) end
        pos = pos + len
    end
    if autograd.needs_grad(unpack(list)) then
        autograd.record("cat", names, list, { out }, function(ctx, g)
            local grads = {}
            for i = 1, #list do
                if ctx.needs[i] then grads[i] = r_narrow(g, d, starts[i], lens[i]) end
            end
            return unpack(grads, 1, #list)
        end)
    end
    return out
end

-- pieces of size `size` along dim (the last may be smaller), or of the sizes in a list
function M.split(x, size, dim)
    args.tensor("split", "x", x)
    local d = dim0("split", x, dim or 1)
    local len = tonumber(x._h.shape[d])
    local sizes = {}
    if type(size) == "number" then
        args.integer("split", "size", size, 1)
        local pos = 0
        repeat
            sizes[#sizes + 1] = math.min(size, len - pos)
            pos = pos + size
        until pos >= len
    elseif type(size) == "table" and not is_tensor(size) then
        local sum = 0
        for i = 1, #size do
            sizes[i] = args.integer("split", "size[" .. i .. "]", size[i], 0)
            sum = sum + size[i]
        end
        if sum ~= len then
            raise(fmt("split: size: expected sizes summing to %d (the size of dim %d), got %d", len, dim or 1, sum))
        end
    else
        raise("split: size: expected a number or a list of sizes, got " .. show(size))
    end
    local outs, starts, pos = {}, {}, 0
    for i, s in ipairs(sizes) do
        outs[i] = r_narrow(x, d, pos, s)
        starts[i] = pos
        pos = pos + s
    end
    if autograd.needs_grad(x) then
        local xshape = shape_of(x)
        autograd.record("split", { "x" }, { x }, outs, function(_, ...)
            local gs = { ... }
            local dx
            for i = 1, #sizes do
                if gs[i] then
                    dx = dx or zeros(xshape, gs[i]._h.dtype, gs[i])
                    check(C.cc_tensor_copy(r_narrow(dx, d, starts[i], sizes[i])._h, gs[i]._h))
                end
            end
            return dx
        end)
    end
    return outs
end

function M.chunk(x, n, dim)
    args.tensor("chunk", "x", x)
    args.integer("chunk", "n", n, 1)
    local d = dim0("chunk", x, dim or 1)
    local len = tonumber(x._h.shape[d])
    return M.split(x, math.max(1, math.ceil(len / n)), dim or 1)
end

-- ---- indexing --------------------------------------------------------------------------------

local function index_tensor(fname, name, index, what)
    args.tensor(fname, name, index)
    if index._h.ndim ~= 1 or is_float(index) then
        raise(fmt("%s: %s: expected a 1-D i32 or i64 tensor of 0-based %s, got %s", fname, name, what, show(index)))
    end
end

-- out = x with dim d0 indexed by index (1-D, 0-based), recorded as op fname
local function gather(fname, xname, x, d0, index, iname)
    local shape = shape_of(x)
    local xshape = shape_of(x)
    shape[d0 + 1] = tonumber(index._h.shape[0])
    local out = new(shape, nil, x)
    -- C names its own op and argument (index_select: index): say the user's
    args.check_as(C.cc_index_select(out._h, x._h, d0, index._h), "index_select", fname, "index", iname)
    if autograd.needs_grad(x) then
        autograd.record(fname, { xname, iname }, { x, index }, { out }, function(ctx, g)
            local dx = zeros(xshape, g._h.dtype, g)
            check(C.cc_index_add(dx._h, d0, ctx.saved.index._h, g._h))
            return dx
        end, { index = index })
    end
    return out
end

-- out = x with dim indexed by index (1-D i32/i64 of 0-based positions)
function M.index_select(x, dim, index)
    args.float_tensor("index_select", "x", x)
    index_tensor("index_select", "index", index, "positions")
    args.same_device("index_select", "x", x, "index", index)
    return gather("index_select", "x", x, dim0("index_select", x, dim), index, "index")
end

-- rows of weight (V, D) picked by ids (any shape, 0-based): ids shape .. (D)
function M.embedding(weight, ids)
    args.float_tensor("embedding", "weight", weight)
    args.tensor("embedding", "ids", ids)
    if weight._h.ndim ~= 2 then raise("embedding: weight: expected shape (V, D), got " .. show(weight)) end
    if is_float(ids) then raise("embedding: ids: expected an i32 or i64 tensor of 0-based rows, got " .. show(ids)) end
    args.same_device("embedding", "weight", weight, "ids", ids)
    local ishape = shape_of(ids)
    local rows = gather("embedding", "weight", weight, 0, r_reshape(ids, { numel(ids) }), "ids")
    ishape[#ishape + 1] = tonumber(weight._h.shape[1])
    return rows:view(ishape)
end

-- ---- losses and normalization ----------------------------------------------------------------

local CROSS_ENTROPY_OPTS = { { "ignore_index", "integer" } }

-- mean over rows whose target is not ignore_index (default -100) of -log_softmax(logits)[target]
function M.cross_entropy(logits, target, opts)
    args.float_tensor("cross_entropy", "logits", logits)
    args.tensor("cross_entropy", "target", target)
    opts = args.options("cross_entropy", opts, CROSS_ENTROPY_OPTS)
    if logits._h.ndim ~= 2 then
        raise("cross_entropy: logits: expected shape (N, C), got " .. show(logits))
    end
    if is_float(target) or target._h.ndim ~= 1 or target._h.shape[0] ~= logits._h.shape[0] then
        raise(fmt("cross_entropy: target: expected an i32 or i64 tensor of shape (%d) of 0-based classes, got %s",
            tonumber(logits._h.shape[0]), show(target)))
    end
    args.same_device("cross_entropy", "logits", logits, "target", target)
    local ignore = opts.ignore_index or -100
    local loss = new({}, nil, logits)
    args.check_as(C.cc_cross_entropy_forward(loss._h, logits._h, target._h, ignore), "cross_entropy_forward",
                  "cross_entropy")
    if autograd.needs_grad(logits) then
        autograd.record("cross_entropy", { "logits", "target" }, { logits, target }, { loss }, function(ctx, g)
            local dl = new(shape_of(ctx.saved.logits), g._h.dtype, g)
            check(C.cc_cross_entropy_backward(dl._h, ctx.saved.logits._h, ctx.saved.target._h, g._h, ignore))
            return dl
        end, { logits = logits, target = target })
    end
    return loss
end

function M.mse_loss(a, b)
    args.float_tensor("mse_loss", "a", a)
    args.float_tensor("mse_loss", "b", b)
    same_kind("mse_loss", "a", a, "b", b)
    local sa, sb = shape_of(a), shape_of(b)
    if not same_shape(sa, sb) then
        -- PyTorch warns and broadcasts ((3, 1) vs (3) gives a (3, 3) difference); we refuse
        raise(fmt("mse_loss: a %s and b %s must have the same shape (mse_loss does not broadcast)",
            shape_str(sa), shape_str(sb)))
    end
    local d = M.sub(a, b)
    return M.mean(M.mul(d, d))
end

-- x (..., D) * rsqrt(mean(x^2 over D) + eps) * weight (D); weight may be nil
function M.rms_norm(x, weight, eps)
    args.float_tensor("rms_norm", "x", x)
    if weight ~= nil then
        args.float_tensor("rms_norm", "weight", weight)
        args.same_device("rms_norm", "x", x, "weight", weight)
    end
    if eps ~= nil then args.number("rms_norm", "eps", eps) end
    eps = eps or 1e-6
    local sx = shape_of(x)
    if #sx == 0 then raise("rms_norm: x: expected at least one dim, got " .. show(x)) end
    if weight ~= nil and (weight._h.ndim ~= 1 or tonumber(weight._h.shape[0]) ~= sx[#sx]) then
        raise(fmt("rms_norm: weight: expected shape (%d) (x's last dim), got %s", sx[#sx], show(weight)))
    end
    local rshape = {}
    for i = 1, #sx - 1 do rshape[i] = sx[i] end
    local out = new(sx, nil, x)
    local rstd = new(rshape, x._h.dtype == C.CC_F64 and C.CC_F64 or C.CC_F32, x)
    check(C.cc_rms_norm_forward(out._h, rstd._h, x._h, weight and weight._h or nil, eps))
    if autograd.needs_grad(x, weight) then
        autograd.record("rms_norm", { "x", "weight" }, { x, weight }, { out }, function(ctx, g)
            local s = ctx.saved
            local dx = new(sx, nil, g)
            local dw = ctx.needs[2] and new(shape_of(s.weight), nil, s.weight) or nil
            check(C.cc_rms_norm_backward(dx._h, dw and dw._h or nil, s.x._h, s.weight and s.weight._h or nil,
                s.rstd._h, g._h))
            return ctx.needs[1] and dx or nil, dw
        end, { x = x, weight = weight, rstd = rstd })
    end
    return out
end

-- ---- comparisons and selection ---------------------------------------------------------------
-- Comparisons return i32 tensors of 0 (false) and 1 (true), as Torch7's masks did
-- (x:gt(0):float():sum() counts). Operands: two tensors (broadcast; mixed dtypes and integer
-- dtypes are compared exactly, in f64) or a tensor and a number (the number in the tensor's
-- float dtype, as in PyTorch). Not differentiable. Lua's < <= == on tables must return
-- booleans, so these are methods (x:lt(y)), not operators.

-- t in f64 (exact for every dtype, integers up to 2^53); never recorded
local function f64(t) return r_convert(t, C.CC_F64) end

local function compare(name, op, a, b)
    local ta, tb = check_operands(name, a, b)
    if ta and tb then
        args.same_device(name, "a", a, "b", b)
        if a._h.dtype ~= b._h.dtype or not is_float(a) then a, b = f64(a), f64(b) end
    else
        local t = ta and a or b
        if not is_float(t) then t = f64(t) end
        local s = new({}, nil, t)
        check(C.cc_tensor_fill(s._h, ta and b or a))
        if ta then a, b = t, s else a, b = s, t end
    end
    local shape = broadcast_shapes(name, a, b)
    local ae = same_shape(shape_of(a), shape) and a or r_expand(a, shape)
    local be = same_shape(shape_of(b), shape) and b or r_expand(b, shape)
    local out = new(shape, nil, a)
    check(C.cc_binary_forward(out._h, ae._h, be._h, op))
    return r_convert(out, C.CC_I32)
end

for name, op in pairs { gt = C.CC_BINARY_GT, lt = C.CC_BINARY_LT, ge = C.CC_BINARY_GE, le = C.CC_BINARY_LE,
                        eq = C.CC_BINARY_EQ, ne = C.CC_BINARY_NE } do
    M[name] = function(a, b) return compare(name, op, a, b) end
end

-- where(cond, a, b): a where cond is nonzero, else b. cond: any dtype; a, b: tensors of one
-- float dtype, or one of them a number; all three broadcast. The gradient goes to a where cond
-- holds and to b elsewhere. The selection is exact (an inf or nan in the branch not taken
-- stays out): a and b are laid end to end and the result gathered from them (cat and
-- index_select, both recorded).
function M.where(cond, a, b)
    args.tensor("where", "cond", cond)
    local ta, tb = check_operands("where", a, b)
    if ta then args.float_tensor("where", "a", a) end
    if tb then args.float_tensor("where", "b", b) end
    if ta and tb then same_kind("where", "a", a, "b", b) end
    local ref = ta and a or b
    args.same_device("where", ta and "a" or "b", ref, "cond", cond)
    if not ta then
        local v = a
        a = new({}, nil, ref)
        check(C.cc_tensor_fill(a._h, v))
    end
    if not tb then
        local v = b
        b = new({}, nil, ref)
        check(C.cc_tensor_fill(b._h, v))
    end
    local shape = broadcast_sizes("where", broadcast_shapes("where", cond, a), shape_of(b))
    local n = 1
    for i = 1, #shape do n = n * shape[i] end
    if n == 0 then return new(shape, nil, ref) end
    local function flat(t)
        if not same_shape(shape_of(t), shape) then t = t:expand(shape) end
        return t:reshape(n)
    end
    local both = M.cat({ flat(a), flat(b) }, 1)
    -- index k (into a) where cond holds, n + k (into b) elsewhere
    local keep = r_reshape(f64(r_expand(M.ne(cond, 0), shape)), { n })
    local idx = new({ n }, C.CC_F64, cond)
    check(C.cc_unary_forward(idx._h, keep._h, C.CC_UNARY_MUL_SCALAR, -n))
    check(C.cc_unary_forward(idx._h, idx._h, C.CC_UNARY_ADD_SCALAR, n))
    local pos = new({ n }, C.CC_F64, cond)
    check(C.cc_tensor_arange(pos._h, 0, 1))
    check(C.cc_binary_forward(idx._h, idx._h, pos._h, C.CC_BINARY_ADD))
    return M.index_select(both, 1, r_convert(idx, C.CC_I64)):view(shape)
end

-- x limited to [min, max] (either bound may be nil; with min > max every element is max, as in
-- PyTorch). Gradient 1 inside (bounds included), 0 where a bound replaced x.
function M.clamp(x, min, max)
    args.float_tensor("clamp", "x", x)
    if min ~= nil then args.number("clamp", "min", min) end
    if max ~= nil then args.number("clamp", "max", max) end
    if min == nil and max == nil then raise("clamp: expected a min or a max bound (or both), got two nils") end
    local y = x
    if min ~= nil then y = M.where(M.lt(y, min), min, y) end
    if max ~= nil then y = M.where(M.gt(y, max), max, y) end
    return y
end

-- tensors of one shape joined along a new dim (1..ndim+1, negative from the end): unsqueeze
-- then cat, so the gradient comes from those two
function M.stack(list, dim)
    if type(list) ~= "table" or is_tensor(list) or #list == 0 then
        raise("stack: tensors: expected a non-empty list of tensors, got " .. show(list))
    end
    local first = args.tensor("stack", "tensors[1]", list[1])
    local shape = shape_of(first)
    local d = args.dim("stack", "dim", first, dim or 1, #shape + 1)
    local parts = {}
    for i, t in ipairs(list) do
        args.tensor("stack", "tensors[" .. i .. "]", t)
        if not same_shape(shape_of(t), shape) then
            raise(fmt("stack: tensors[%d]: expected shape %s (the shape of tensors[1]), got %s", i,
                shape_str(shape), show(t)))
        end
        parts[i] = t:unsqueeze(d + 1)
    end
    return M.cat(parts, d + 1)
end

-- true when a == b or |a - b| <= atol + rtol * |b| with |a - b| finite, everywhere (a and b
-- broadcast; any dtypes): as torch.allclose, equal infinities are close, nan never is
function M.allclose(a, b, rtol, atol)
    args.tensor("allclose", "a", a)
    args.tensor("allclose", "b", b)
    args.same_device("allclose", "a", a, "b", b)
    rtol, atol = rtol or 1e-5, atol or 1e-8
    args.number("allclose", "rtol", rtol)
    args.number("allclose", "atol", atol)
    local shape = broadcast_shapes("allclose", a, b)
    for i = 1, #shape do if shape[i] == 0 then return true end end
    local a64, b64 = f64(a), f64(b)
    local d = M.abs(M.sub(a64, b64))
    local tol = M.add(M.mul(M.abs(b64), rtol), atol)
    local within = M.mul(f64(M.le(d, tol)), f64(M.lt(d, math.huge)))
    local ok = M.add(within, f64(M.eq(a64, b64)))
    return (M.min(ok)):item() > 0
end

-- (x - mean) / sqrt(var + eps) over the last dim (biased variance, as PyTorch), then * weight
-- + bias (each (D) or nil); normalized_shape is D or {D}. Composed of mean, sub, mul, rsqrt.
function M.layer_norm(x, normalized_shape, weight, bias, eps)
    args.float_tensor("layer_norm", "x", x)
    local sx = shape_of(x)
    if #sx == 0 then raise("layer_norm: x: expected at least one dim, got " .. show(x)) end
    local D = sx[#sx]
    local ns = normalized_shape
    if type(ns) == "table" and not is_tensor(ns) and #ns == 1 then ns = ns[1] end
    if ns ~= D then
        local got = type(normalized_shape) == "table" and not is_tensor(normalized_shape)
            and shape_str(normalized_shape) or show(normalized_shape)
        raise(fmt("layer_norm: normalized_shape: expected %d or {%d} (x's last dim; only the last dim is normalized), got %s",
            D, D, got))
    end
    args.optional("layer_norm", "weight", weight, "pass nil for no weight")
    args.optional("layer_norm", "bias", bias, "pass nil for no bias; eps goes 5th")
    for _, p in ipairs { { "weight", weight }, { "bias", bias } } do
        local t = p[2]
        if t ~= nil then
            args.float_tensor("layer_norm", p[1], t)
            same_kind("layer_norm", "x", x, p[1], t)
            if t._h.ndim ~= 1 or tonumber(t._h.shape[0]) ~= D then
                raise(fmt("layer_norm: %s: expected shape (%d) (x's last dim), got %s", p[1], D, show(t)))
            end
        end
    end
    if eps ~= nil then args.number("layer_norm", "eps", eps) end
    eps = eps or 1e-5
    local xc = M.sub(x, M.mean(x, -1, true))
    local var = M.mean(M.mul(xc, xc), -1, true)
    local y = M.mul(xc, M.rsqrt(M.add(var, eps)))
    if weight ~= nil then y = M.mul(y, weight) end
    if bias ~= nil then y = M.add(y, bias) end
    return y
end

-- ---- in-place arithmetic ---------------------------------------------------------------------
-- In-place writes are never recorded; on a tensor that requires grad they are allowed only
-- with recording off (cc.no_grad), where the version counter protects saved tensors.

local function inplace_binary(name, op, uop)
    return function(self, other)
        args.float_tensor(name, "self", self)
        autograd.check_inplace(name, self, "self")
        if is_tensor(other) then
            same_kind(name, "self", self, "other", other)
            local s = shape_of(self)
            local so = shape_of(other)
            if not same_shape(so, s) then
                if not same_shape(broadcast_shapes(name, self, other), s) then
                    raise(fmt("%s: other: expected a size that broadcasts to self's %s, got %s", name, shape_str(s), show(other)))
                end
                other = r_expand(other, s)
            end
            check(C.cc_binary_forward(self._h, self._h, other._h, op))
        elseif type(other) == "number" then
            local scalar = other
            if op == C.CC_BINARY_SUB then scalar = -other elseif op == C.CC_BINARY_DIV then scalar = 1 / other end
            check(C.cc_unary_forward(self._h, self._h, uop, scalar))
        else
            raise(fmt("%s: other: expected a tensor or a number, got %s", name, show(other)))
        end
        return self
    end
end

local methods = {
    add_ = inplace_binary("add_", C.CC_BINARY_ADD, C.CC_UNARY_ADD_SCALAR),
    sub_ = inplace_binary("sub_", C.CC_BINARY_SUB, C.CC_UNARY_ADD_SCALAR),
    mul_ = inplace_binary("mul_", C.CC_BINARY_MUL, C.CC_UNARY_MUL_SCALAR),
    div_ = inplace_binary("div_", C.CC_BINARY_DIV, C.CC_UNARY_MUL_SCALAR),
}

-- ---- methods and operators -------------------------------------------------------------------

for _, name in ipairs { "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "rsqrt", "abs",
                        "sigmoid", "silu", "softplus", "tanh", "relu", "sum", "mean", "max", "softmax",
                        "log_softmax", "matmul", "linear", "split", "chunk", "index_select",
                        "cross_entropy", "mse_loss", "rms_norm", "embedding", "sum_to_size",
                        "gelu", "min", "gt", "lt", "ge", "le", "eq", "ne", "clamp", "allclose", "layer_norm" } do
    methods[name] = M[name]
end
for name, fn in pairs(methods) do Tensor.add_method(name, fn) end

Tensor.add_method("__add", M.add)
Tensor.add_method("__sub", M.sub)
Tensor.add_method("__mul", M.mul)
Tensor.add_method("__div", M.div)
Tensor.add_method("__pow", M.pow)
Tensor.add_method("__unm", function(x) return neg(x) end)

return M
