-- Differentiable tensor ops: elementwise math with PyTorch broadcasting, reductions, max,
-- softmax, matmul/linear, cat/split/chunk, indexing, losses, rms_norm, and recording
-- versions of the tensor.lua views. Every op works with and without autograd: it computes
-- with one or a few C calls (Lua never loops over elements), then, when recording is on and
-- an input requires grad, records one node on the tape (lua/causalconv/tape.lua).
--
-- Conventions
--   * Binary ops take two tensors of one dtype (a mismatch is an error) or a tensor and a Lua
--     number on either side (2 * x, x - 1, 1 / x). Tensors broadcast as in PyTorch (sizes
--     aligned from the right, size 1 stretches); backward sums gradients back to each shape.
--   * dims are 1-based, negative counts from the end (-1 = last).
--   * Integer tensors hold 0-based positions: max returns an i64 tensor of 0-based indices,
--     index_select / embedding / cross_entropy read 0-based indices and targets.
--   * Results are new contiguous tensors, except the views (transpose, narrow, ...), which
--     share storage as in tensor.lua.
local cffi = require "causalconv.ffi"
local tape = require "causalconv.tape"
local ffi, C, check, raise = cffi.ffi, cffi.C, cffi.check, cffi.raise

local U = {   -- cc_unary_op
    NEG = 0, EXP = 1, LOG = 2, SQRT = 3, RSQRT = 4, ABS = 5, SIGMOID = 6, SILU = 7, SOFTPLUS = 8,
    TANH = 9, RELU = 10, POW_SCALAR = 11, ADD_SCALAR = 12, MUL_SCALAR = 13, RPOW_SCALAR = 14,
    RDIV_SCALAR = 15,
}
local B = { ADD = 0, SUB = 1, MUL = 2, DIV = 3 }   -- cc_binary_op

return function(cc)
    local Tensor = cc.Tensor
    local wrap = Tensor.wrap
    local shape_of, shape_str = tape.shape_of, tape.shape_str
    local box = ffi.new("cc_tensor*[1]")

    local is_tensor = cc.is_tensor
    local describe = cc._show

    local function dtype_name(t) return cc._dtype_name(t._h.dtype) end
    local function is_float(t) return cc._is_float(t._h.dtype) end

    -- argument checks: raise naming the op, the argument, what was expected and what came
    local function want_tensor(op, arg, v)
        if not is_tensor(v) then
            raise(string.format("%s: %s: expected a tensor, got %s", op, arg, describe(v)))
        end
        return v
    end

    local function want_float(op, arg, v)
        want_tensor(op, arg, v)
        if not is_float(v) then
            raise(string.format("%s: %s: expected a float tensor (f32, f64, f16, bf16), got %s", op, arg, describe(v)))
        end
        return v
    end

    local function want_same_dtype(op, aname, a, bname, b)
        if a._h.dtype ~= b._h.dtype then
            raise(string.format("%s: %s: expected dtype %s (the dtype of %s), got %s", op, bname, dtype_name(a),
                aname, describe(b)))
        end
    end

    -- 1-based / negative dim of x -> 0-based (tensor.lua's rule and message)
    local function dim0(op, x, d) return Tensor._dim(x, d, "dim", op) end

    -- ---- raw tensor helpers (no recording, C calls only) ----------------------------------

    local function int64s(list)
        local n = #list
        local a = ffi.new("int64_t[?]", n > 0 and n or 1)
        for i = 1, n do a[i - 1] = list[i] end
        return a
    end

    -- new storage goes through tensor.lua's allocator wrapper, which counts the bytes for the
    -- Lua GC and collects and retries once when memory runs out
    local new_storage = cc._new_storage

    local function new(shape, dtype, like)
        local h = like._h
        return new_storage(C.cc_tensor_empty, #shape, int64s(shape), dtype or h.dtype, h.device, h.device_index)
    end

    local function zeros(shape, dtype, like)
        local t = new(shape, dtype, like)
        check(C.cc_tensor_fill(t._h, 0))
        return t
    end

    local function r_view(t, shape)
        check(C.cc_tensor_view(box, t._h, #shape, int64s(shape)))
        return wrap(box[0])
    end

    local function r_expand(t, shape)
        check(C.cc_tensor_expand(box, t._h, #shape, int64s(shape)))
        return wrap(box[0])
    end

    local function r_contiguous(t)
        if C.cc_tensor_is_contiguous(t._h) ~= 0 then return t end
        return new_storage(C.cc_tensor_contiguous, t._h)
    end

    local function r_reshape(t, shape) return r_view(r_contiguous(t), shape) end

    local function r_clone(t) return new_storage(C.cc_tensor_clone, t._h) end

    local function r_transpose(t, d0, d1)
        check(C.cc_tensor_transpose(box, t._h, d0, d1))
        return wrap(box[0])
    end

    local function r_permute(t, dims0)
        local a = ffi.new("int[?]", #dims0 > 0 and #dims0 or 1)
        for i = 1, #dims0 do a[i - 1] = dims0[i] end
        check(C.cc_tensor_permute(box, t._h, #dims0, a))
        return wrap(box[0])
    end

    local function r_narrow(t, d, start0, len)
        check(C.cc_tensor_narrow(box, t._h, d, start0, len))
        return wrap(box[0])
    end

    local function r_convert(t, dtype, device, device_index)
        return new_storage(C.cc_tensor_to, t._h, dtype, device, device_index or t._h.device_index)
    end

    local function numel(t) return tonumber(C.cc_tensor_numel(t._h)) end

    local function same_shape(a, b)
        if #a ~= #b then return false end
        for i = 1, #a do if a[i] ~= b[i] then return false end end
        return true
    end

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

    local function broadcast_shapes(op, a, b)
        local sa, sb = shape_of(a), shape_of(b)
        local n = math.max(#sa, #sb)
        local out = {}
        for i = 1, n do
            local x = sa[#sa - n + i] or 1
            local y = sb[#sb - n + i] or 1
            if x == y or y == 1 then out[i] = x
            elseif x == 1 then out[i] = y
            else
                raise(string.format("%s: shapes %s and %s do not broadcast (dim %d: %d vs %d)", op,
                    shape_str(sa), shape_str(sb), i - n - 1, x, y))
            end
        end
        return out
    end

    -- the engine's arithmetic
    local function add_into(dst, g)
        local ge = same_shape(shape_of(g), shape_of(dst)) and g or r_expand(g, shape_of(dst))
        check(C.cc_binary_forward(dst._h, dst._h, ge._h, B.ADD))
    end

    local function raw_add(a, b)
        local out = new(shape_of(a), nil, a)
        check(C.cc_binary_forward(out._h, a._h, b._h, B.ADD))
        return out
    end

    local function ones_like(t)
        local o = new(shape_of(t), nil, t)
        check(C.cc_tensor_fill(o._h, 1))
        return o
    end

    tape.bind_tensor_ops {
        clone = r_clone, add = raw_add, add_into = add_into, ones_like = ones_like,
        convert = function(g, dtype, device) return r_convert(g, dtype, device) end,
    }

    -- ---- elementwise -------------------------------------------------------------------------

    -- out = f(x[, scalar]); ops whose derivative does not depend on x save nothing.
    local linear_unary = { [U.NEG] = true, [U.ADD_SCALAR] = true, [U.MUL_SCALAR] = true }

    local function unary(name, op, x, scalar)
        want_float(name, "x", x)
        scalar = scalar or 0
        local out = new(shape_of(x), nil, x)
        check(C.cc_unary_forward(out._h, x._h, op, scalar))
        if tape.needs_grad(x) then
            if linear_unary[op] then
                local factor = op == U.NEG and -1 or op == U.MUL_SCALAR and scalar or 1
                tape.record(name, { "x" }, { x }, { out }, function(_, g)
                    if factor == 1 then return g end
                    local dx = new(shape_of(g), nil, g)
                    check(C.cc_unary_forward(dx._h, g._h, U.MUL_SCALAR, factor))
                    return dx
                end)
            else
                tape.record(name, { "x" }, { x }, { out }, function(ctx, g)
                    local dx = new(shape_of(g), nil, g)
                    check(C.cc_unary_backward(dx._h, ctx.saved.x._h, g._h, op, scalar))
                    return dx
                end, { x = x })
            end
        end
        return out
    end

    local function neg(x) return unary("neg", U.NEG, x) end

    -- both operands tensors of one dtype, broadcast to one shape
    local function binary_tensors(name, op, a, b)
        want_tensor(name, "a", a)
        want_tensor(name, "b", b)
        want_same_dtype(name, "a", a, "b", b)
        local shape = broadcast_shapes(name, a, b)
        local sa, sb = shape_of(a), shape_of(b)
        local ae = same_shape(sa, shape) and a or r_expand(a, shape)
        local be = same_shape(sb, shape) and b or r_expand(b, shape)
        local out = new(shape, nil, a)
        check(C.cc_binary_forward(out._h, ae._h, be._h, op))
        if tape.needs_grad(a, b) then
            local saved
            if op == B.MUL then saved = { a = a, b = b }
            elseif op == B.DIV then saved = { b = b, out = out } end
            tape.record(name, { "a", "b" }, { a, b }, { out }, function(ctx, g)
                local ga, gb
                if op == B.ADD then
                    ga, gb = g, ctx.needs[2] and g or nil
                elseif op == B.SUB then
                    ga, gb = g, ctx.needs[2] and neg(g) or nil
                elseif op == B.MUL then
                    ga = ctx.needs[1] and cc.mul(g, ctx.saved.b) or nil
                    gb = ctx.needs[2] and cc.mul(g, ctx.saved.a) or nil
                else
                    ga = cc.div(g, ctx.saved.b)
                    gb = ctx.needs[2] and neg(cc.mul(ga, ctx.saved.out)) or nil
                end
                return ctx.needs[1] and unbroadcast(ga, sa) or nil, gb and unbroadcast(gb, sb) or nil
            end, saved)
        end
        return out
    end

    local function check_operands(name, a, b)
        local ta, tb = is_tensor(a), is_tensor(b)
        if not ta and type(a) ~= "number" then
            raise(string.format("%s: a: expected a tensor or a number, got %s", name, describe(a)))
        end
        if not tb and type(b) ~= "number" then
            raise(string.format("%s: b: expected a tensor or a number, got %s", name, describe(b)))
        end
        if not ta and not tb then
            raise(string.format("%s: expected at least one tensor operand, got two numbers", name))
        end
        return ta, tb
    end

    function cc.add(a, b)
        local ta, tb = check_operands("add", a, b)
        if ta and tb then return binary_tensors("add", B.ADD, a, b) end
        if ta then return unary("add", U.ADD_SCALAR, a, b) end
        return unary("add", U.ADD_SCALAR, b, a)
    end

    function cc.sub(a, b)
        local ta, tb = check_operands("sub", a, b)
        if ta and tb then return binary_tensors("sub", B.SUB, a, b) end
        if ta then return unary("sub", U.ADD_SCALAR, a, -b) end
        return unary("sub", U.ADD_SCALAR, neg(want_float("sub", "b", b)), a)
    end

    function cc.mul(a, b)
        local ta, tb = check_operands("mul", a, b)
        if ta and tb then return binary_tensors("mul", B.MUL, a, b) end
        if ta then return unary("mul", U.MUL_SCALAR, a, b) end
        return unary("mul", U.MUL_SCALAR, b, a)
    end

    function cc.div(a, b)
        local ta, tb = check_operands("div", a, b)
        if ta and tb then return binary_tensors("div", B.DIV, a, b) end
        if ta then return unary("div", U.MUL_SCALAR, a, 1 / b) end
        return unary("div", U.RDIV_SCALAR, b, a)
    end

    -- x ^ p with a number exponent, or p ^ x with a number base
    function cc.pow(a, b)
        local ta, tb = check_operands("pow", a, b)
        if ta and tb then
            raise("pow: expected a number exponent (x ^ 2) or a number base (2 ^ x), got two tensors; "
                .. "write cc.exp(b * cc.log(a)) for a tensor exponent")
        end
        if ta then return unary("pow", U.POW_SCALAR, a, b) end
        return unary("pow", U.RPOW_SCALAR, b, a)
    end

    cc.neg = neg
    for name, op in pairs { exp = U.EXP, log = U.LOG, sqrt = U.SQRT, rsqrt = U.RSQRT, abs = U.ABS,
                            sigmoid = U.SIGMOID, silu = U.SILU, softplus = U.SOFTPLUS, tanh = U.TANH,
                            relu = U.RELU } do
        cc[name] = function(x) return unary(name, op, x) end
    end

    -- ---- reductions --------------------------------------------------------------------------

    -- dims (nil = all, a number, or a list) -> set of 0-based dims and the keepdim shape
    local function reduce_dims(op, x, dims)
        local shape = shape_of(x)
        local set = {}
        if dims == nil then
            for i = 0, #shape - 1 do set[i] = true end
        elseif type(dims) == "number" then
            set[dim0(op, x, dims)] = true
        elseif type(dims) == "table" then
            for _, d in ipairs(dims) do set[dim0(op, x, d)] = true end
        else
            raise(string.format("%s: dim: expected nil, a dim or a list of dims, got %s", op, type(dims)))
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

    local function reduce(name, x, dims, keepdim, mean)
        want_float(name, "x", x)
        local xshape = shape_of(x)
        local kept, squeezed, count = reduce_dims(name, x, dims)
        local scale = mean and 1 / count or 1
        local out = new(kept, nil, x)
        check(C.cc_sum_to(out._h, x._h, scale))
        if not keepdim then out = r_view(out, squeezed) end
        if tape.needs_grad(x) then
            tape.record(name, { "x" }, { x }, { out }, function(_, g)
                g = r_reshape(g, kept)
                if scale ~= 1 then
                    local s = new(kept, nil, g)
                    check(C.cc_unary_forward(s._h, g._h, U.MUL_SCALAR, scale))
                    g = s
                end
                return r_expand(g, xshape)
            end)
        end
        return out
    end

    function cc.sum(x, dim, keepdim) return reduce("sum", x, dim, keepdim, false) end
    function cc.mean(x, dim, keepdim) return reduce("mean", x, dim, keepdim, true) end

    -- values, indices (i64, 0-based) of the maximum along dim (all elements when dim is nil)
    function cc.max(x, dim, keepdim)
        want_float("max", "x", x)
        if dim == nil then
            local flat = cc.reshape(x, { -1 })
            local v, i = cc.max(flat, 1, false)
            return v, i
        end
        local shape = shape_of(x)
        local d = dim0("max", x, dim)
        local kept = {}
        for i = 1, #shape do kept[i] = (i - 1 == d) and 1 or shape[i] end
        local values = new(kept, nil, x)
        local indices = new(kept, 5, x)
        check(C.cc_max_dim(values._h, indices._h, x._h, d))
        local keep_idx = indices
        if not keepdim then
            local sq = {}
            for i = 1, #shape do if i - 1 ~= d then sq[#sq + 1] = shape[i] end end
            values, indices = r_view(values, sq), r_view(indices, sq)
        end
        if tape.needs_grad(x) then
            tape.record("max", { "x" }, { x }, { values }, function(ctx, g)
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
                local pos = r_convert(idx, 1, idx._h.device)
                local base = new({ rows }, 1, pos)
                check(C.cc_tensor_arange(base._h, 0, n))
                check(C.cc_binary_forward(pos._h, pos._h, base._h, B.ADD))
                local flat = zeros({ rows * n }, g._h.dtype, g)
                check(C.cc_index_add(flat._h, 0, r_convert(pos, 5, pos._h.device)._h, gk._h))
                local permuted = {}
                for k, i in ipairs(order) do permuted[k] = shape[i + 1] end
                return r_permute(r_view(flat, permuted), inv)
            end, { indices = keep_idx })
        end
        return values, indices
    end

    local function softmax_op(name, log, x, dim)
        want_float(name, "x", x)
        local d = dim0(name, x, dim or -1)
        local out = new(shape_of(x), nil, x)
        check(C.cc_softmax_forward(out._h, x._h, d, log))
        if tape.needs_grad(x) then
            tape.record(name, { "x" }, { x }, { out }, function(ctx, g)
                local dx = new(shape_of(g), nil, g)
                check(C.cc_softmax_backward(dx._h, ctx.saved.out._h, g._h, d, log))
                return dx
            end, { out = out })
        end
        return out
    end

    function cc.softmax(x, dim) return softmax_op("softmax", 0, x, dim) end
    function cc.log_softmax(x, dim) return softmax_op("log_softmax", 1, x, dim) end

    -- ---- matmul ------------------------------------------------------------------------------

    -- a (batch..., M, K) @ b (batch..., K, N) with identical batch dims
    local function matmul_core(a, b)
        local sa, sb = shape_of(a), shape_of(b)
        local oshape = {}
        for i = 1, #sa - 1 do oshape[i] = sa[i] end
        oshape[#sa] = sb[#sb]
        local out = new(oshape, nil, a)
        check(C.cc_matmul(out._h, a._h, b._h))
        if tape.needs_grad(a, b) then
            local nd = #sa
            tape.record("matmul", { "a", "b" }, { a, b }, { out }, function(ctx, g)
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
    function cc.matmul(a, b)
        want_float("matmul", "a", a)
        want_float("matmul", "b", b)
        want_same_dtype("matmul", "a", a, "b", b)
        local na, nb = a._h.ndim, b._h.ndim
        if na == 0 or nb == 0 then
            raise(string.format("matmul: expected operands with at least one dim, got %s and %s", describe(a), describe(b)))
        end
        local squeeze_front, squeeze_back = false, false
        if na == 1 then a = cc.unsqueeze(a, 1); squeeze_front = true end
        if nb == 1 then b = cc.unsqueeze(b, -1); squeeze_back = true end
        local sa, sb = shape_of(a), shape_of(b)
        if sa[#sa] ~= sb[#sb - 1] then
            raise(string.format("matmul: sizes do not match: a %s has K = %d, b %s has K = %d",
                shape_str(sa), sa[#sa], shape_str(sb), sb[#sb - 1]))
        end
        local nbatch = math.max(#sa, #sb) - 2
        if nbatch > 0 then
            local batch = {}
            for i = 1, nbatch do
                local x = sa[#sa - 2 - nbatch + i] or 1
                local y = sb[#sb - 2 - nbatch + i] or 1
                if x ~= y and x ~= 1 and y ~= 1 then
                    raise(string.format("matmul: batch dims of a %s and b %s do not broadcast",
                        shape_str(sa), shape_str(sb)))
                end
                batch[i] = x == 1 and y or x
            end
            local ta, tb = {}, {}
            for i = 1, nbatch do ta[i] = batch[i]; tb[i] = batch[i] end
            ta[nbatch + 1], ta[nbatch + 2] = sa[#sa - 1], sa[#sa]
            tb[nbatch + 1], tb[nbatch + 2] = sb[#sb - 1], sb[#sb]
            if not same_shape(sa, ta) then a = cc.expand(a, ta) end
            if not same_shape(sb, tb) then b = cc.expand(b, tb) end
        end
        local out = matmul_core(a, b)
        if squeeze_front then out = cc.squeeze(out, -2) end
        if squeeze_back then out = cc.squeeze(out, -1) end
        return out
    end

    -- x (..., in) @ weight (out, in)^T + bias (out)
    function cc.linear(x, weight, bias)
        want_float("linear", "x", x)
        want_float("linear", "weight", weight)
        if weight._h.ndim ~= 2 then
            raise("linear: weight: expected shape (out, in), got " .. describe(weight))
        end
        local sx = shape_of(x)
        local nin = sx[#sx]
        if nin ~= tonumber(weight._h.shape[1]) then
            raise(string.format("linear: weight: expected shape (out, %d) to match x %s, got %s", nin or 0,
                shape_str(sx), describe(weight)))
        end
        local x2 = #sx == 2 and x or cc.reshape(x, { -1, nin })
        local y = cc.matmul(x2, cc.transpose(weight, 1, 2))
        if #sx ~= 2 then
            local oshape = {}
            for i = 1, #sx - 1 do oshape[i] = sx[i] end
            oshape[#sx] = tonumber(weight._h.shape[0])
            y = cc.view(y, oshape)
        end
        if bias ~= nil then y = cc.add(y, bias) end
        return y
    end

    -- ---- cat / split / chunk -----------------------------------------------------------------

    function cc.cat(list, dim)
        if type(list) ~= "table" or is_tensor(list) or #list == 0 then
            raise("cat: tensors: expected a non-empty list of tensors, got " .. describe(list))
        end
        local first = want_tensor("cat", "tensors[1]", list[1])
        local nd = first._h.ndim
        local d = dim0("cat", first, dim or 1)
        local shape = shape_of(first)
        local total = 0
        local names = {}
        for i, t in ipairs(list) do
            local arg = "tensors[" .. i .. "]"
            names[i] = arg
            want_tensor("cat", arg, t)
            want_same_dtype("cat", "tensors[1]", first, arg, t)
            local s = shape_of(t)
            local ok = #s == nd
            for k = 1, nd do if ok and k - 1 ~= d and s[k] ~= shape[k] then ok = false end end
            if not ok then
                shape[d + 1] = -1
                raise(string.format("cat: %s: expected shape %s (sizes equal except along dim %d), got %s", arg,
                    (shape_str(shape):gsub("%-1", "*")), dim or 1, describe(t)))
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
        if tape.needs_grad(unpack(list)) then
            tape.record("cat", names, list, { out }, function(ctx, g)
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
    function cc.split(x, size, dim)
        want_tensor("split", "x", x)
        local d = dim0("split", x, dim or 1)
        local len = tonumber(x._h.shape[d])
        local sizes = {}
        if type(size) == "number" then
            if size <= 0 or size % 1 ~= 0 then
                raise("split: size: expected a positive integer, got " .. tostring(size))
            end
            local pos = 0
            repeat
                sizes[#sizes + 1] = math.min(size, len - pos)
                pos = pos + size
            until pos >= len
        elseif type(size) == "table" then
            local sum = 0
            for i, s in ipairs(size) do sizes[i] = s; sum = sum + s end
            if sum ~= len then
                raise(string.format("split: size: expected sizes summing to %d (the size of dim %d), got %d",
                    len, dim or 1, sum))
            end
        else
            raise("split: size: expected a number or a list of sizes, got " .. type(size))
        end
        local outs, starts, pos = {}, {}, 0
        for i, s in ipairs(sizes) do
            outs[i] = r_narrow(x, d, pos, s)
            starts[i] = pos
            pos = pos + s
        end
        if tape.needs_grad(x) then
            local xshape = shape_of(x)
            tape.record("split", { "x" }, { x }, outs, function(_, ...)
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

    function cc.chunk(x, n, dim)
        want_tensor("chunk", "x", x)
        if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
            raise("chunk: n: expected a positive integer, got " .. tostring(n))
        end
        local d = dim0("chunk", x, dim or 1)
        local len = tonumber(x._h.shape[d])
        return cc.split(x, math.max(1, math.ceil(len / n)), dim or 1)
    end

    -- ---- indexing ----------------------------------------------------------------------------

    -- out = x with dim indexed by index (1-D i32/i64 of 0-based positions)
    function cc.index_select(x, dim, index)
        want_float("index_select", "x", x)
        want_tensor("index_select", "index", index)
        if index._h.ndim ~= 1 or is_float(index) then
            raise("index_select: index: expected a 1-D i32 or i64 tensor of 0-based positions, got " .. describe(index))
        end
        local d = dim0("index_select", x, dim)
        local shape = shape_of(x)
        local xshape = shape_of(x)
        shape[d + 1] = tonumber(index._h.shape[0])
        local out = new(shape, nil, x)
        check(C.cc_index_select(out._h, x._h, d, index._h))
        if tape.needs_grad(x) then
            tape.record("index_select", { "x", "index" }, { x, index }, { out }, function(ctx, g)
                local dx = zeros(xshape, g._h.dtype, g)
                check(C.cc_index_add(dx._h, d, ctx.saved.index._h, g._h))
                return dx
            end, { index = index })
        end
        return out
    end

    -- rows of weight (V, D) picked by ids (any shape, 0-based): ids shape .. (D)
    function cc.embedding(weight, ids)
        want_float("embedding", "weight", weight)
        want_tensor("embedding", "ids", ids)
        if weight._h.ndim ~= 2 then raise("embedding: weight: expected shape (V, D), got " .. describe(weight)) end
        if is_float(ids) then raise("embedding: ids: expected an i32 or i64 tensor of 0-based rows, got " .. describe(ids)) end
        local ishape = shape_of(ids)
        local rows = cc.index_select(weight, 1, r_reshape(ids, { numel(ids) }))
        ishape[#ishape + 1] = tonumber(weight._h.shape[1])
        return cc.view(rows, ishape)
    end

    -- ---- losses and normalization ------------------------------------------------------------

    -- mean over rows whose target is not ignore_index (default -100) of -log_softmax(logits)[target]
    function cc.cross_entropy(logits, target, opts)
        want_float("cross_entropy", "logits", logits)
        want_tensor("cross_entropy", "target", target)
        if logits._h.ndim ~= 2 then
            raise("cross_entropy: logits: expected shape (N, C), got " .. describe(logits))
        end
        if is_float(target) or target._h.ndim ~= 1 or target._h.shape[0] ~= logits._h.shape[0] then
            raise(string.format("cross_entropy: target: expected an i32 or i64 tensor of shape (%d) of 0-based classes, got %s",
                tonumber(logits._h.shape[0]), describe(target)))
        end
        local ignore = opts and opts.ignore_index or -100
        local loss = new({}, nil, logits)
        check(C.cc_cross_entropy_forward(loss._h, logits._h, target._h, ignore))
        if tape.needs_grad(logits) then
            tape.record("cross_entropy", { "logits", "target" }, { logits, target }, { loss }, function(ctx, g)
                local dl = new(shape_of(ctx.saved.logits), g._h.dtype, g)
                check(C.cc_cross_entropy_backward(dl._h, ctx.saved.logits._h, ctx.saved.target._h, g._h, ignore))
                return dl
            end, { logits = logits, target = target })
        end
        return loss
    end

    function cc.mse_loss(a, b)
        local d = cc.sub(a, b)
        return cc.mean(cc.mul(d, d))
    end

    -- x (..., D) * rsqrt(mean(x^2 over D) + eps) * weight (D); weight may be nil
    function cc.rms_norm(x, weight, eps)
        want_float("rms_norm", "x", x)
        if weight ~= nil then want_float("rms_norm", "weight", weight) end
        eps = eps or 1e-6
        local sx = shape_of(x)
        if #sx == 0 then raise("rms_norm: x: expected at least one dim, got " .. describe(x)) end
        local rshape = {}
        for i = 1, #sx - 1 do rshape[i] = sx[i] end
        local out = new(sx, nil, x)
        local rstd = new(rshape, tonumber(x._h.dtype) == 1 and 1 or 0, x)
        check(C.cc_rms_norm_forward(out._h, rstd._h, x._h, weight and weight._h or nil, eps))
        if tape.needs_grad(x, weight) then
            tape.record("rms_norm", { "x", "weight" }, { x, weight }, { out }, function(ctx, g)
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

    -- ---- views and copies with gradients -----------------------------------------------------
    -- The tensor.lua methods stay the forward (same arguments, same checks); the recording
    -- versions replace them on the class and as cc.<name>(t, ...).

    -- rule makers: (original method, input, forward args, their count) -> backward rule
    local function scatter_back(orig, x, args, nargs)
        -- dx = zeros(x's shape) with g copied into the same view of it
        local xshape = shape_of(x)
        return function(_, g)
            local dx = zeros(xshape, g._h.dtype, g)
            check(C.cc_tensor_copy(orig(dx, unpack(args, 1, nargs))._h, g._h))
            return dx
        end
    end

    local function reshape_back(_, x)
        local xshape = shape_of(x)
        return function(_, g) return r_reshape(g, xshape) end
    end

    local function identity_back() return function(_, g) return g end end

    local view_rules = {
        transpose = function(orig, _, args, nargs)
            return function(_, g) return orig(g, unpack(args, 1, nargs)) end
        end,
        t = function(orig) return function(_, g) return orig(g) end end,
        permute = scatter_back,
        narrow = scatter_back,
        select = scatter_back,
        view = reshape_back,
        reshape = reshape_back,
        unsqueeze = reshape_back,
        squeeze = reshape_back,
        expand = function(_, x)
            local xshape = shape_of(x)
            return function(_, g) return unbroadcast(g, xshape) end
        end,
        contiguous = identity_back,
        clone = identity_back,
    }

    for name, make in pairs(view_rules) do
        local orig = Tensor[name]
        if orig then
            local function recorded(self, ...)
                local out = orig(self, ...)
                if out ~= self and tape.needs_grad(self) then
                    tape.record(name, { "self" }, { self }, { out }, make(orig, self, { ... }, select("#", ...)))
                end
                return out
            end
            Tensor[name] = recorded
            cc[name] = recorded
        end
    end

    -- t:to(dtype/device): the gradient goes back to the source dtype and device
    local orig_to = Tensor.to
    if orig_to then
        function Tensor.to(self, ...)
            local out = orig_to(self, ...)
            if out ~= self and is_float(out) and tape.needs_grad(self) then
                local h = self._h
                local dtype, device, index = tonumber(h.dtype), tonumber(h.device), tonumber(h.device_index)
                tape.record("to", { "self" }, { self }, { out }, function(_, g)
                    return r_convert(g, dtype, device, index)
                end)
            end
            return out
        end
    end

    -- ---- in-place ops ------------------------------------------------------------------------
    -- In-place writes are never recorded; on a tensor that requires grad they are allowed only
    -- with recording off (cc.no_grad), where the version counter protects saved tensors.

    local function guard_inplace(op, t)
        if tape.is_enabled() and tape.tracked(t) then
            raise(string.format("%s: in-place change of a tensor that requires grad %s: do it inside cc.no_grad(...) "
                .. "(e.g. a parameter update), or use the out-of-place op", op, describe(t)))
        end
    end

    local function inplace_binary(name, op, uop)
        return function(self, other)
            want_float(name, "self", self)
            guard_inplace(name, self)
            if is_tensor(other) then
                want_same_dtype(name, "self", self, "other", other)
                local s = shape_of(self)
                local oe = same_shape(shape_of(other), s) and other or r_expand(other, s)
                check(C.cc_binary_forward(self._h, self._h, oe._h, op))
            elseif type(other) == "number" then
                local scalar = other
                if op == B.SUB then scalar = -other elseif op == B.DIV then scalar = 1 / other end
                check(C.cc_unary_forward(self._h, self._h, uop, scalar))
            else
                raise(string.format("%s: other: expected a tensor or a number, got %s", name, type(other)))
            end
            return self
        end
    end

    Tensor.add_ = inplace_binary("add_", B.ADD, U.ADD_SCALAR)
    Tensor.sub_ = inplace_binary("sub_", B.SUB, U.ADD_SCALAR)
    Tensor.mul_ = inplace_binary("mul_", B.MUL, U.MUL_SCALAR)
    Tensor.div_ = inplace_binary("div_", B.DIV, U.MUL_SCALAR)

    function Tensor.zero_(self)
        guard_inplace("zero_", self)
        check(C.cc_tensor_fill(self._h, 0))
        return self
    end

    for _, name in ipairs { "fill_", "copy_" } do
        local orig = Tensor[name]
        if orig then
            Tensor[name] = function(self, ...)
                guard_inplace(name, self)
                return orig(self, ...)
            end
        end
    end

    -- ---- methods -----------------------------------------------------------------------------
    for _, name in ipairs { "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "rsqrt", "abs",
                            "sigmoid", "silu", "softplus", "tanh", "relu", "sum", "mean", "max", "softmax",
                            "log_softmax", "matmul", "linear", "split", "chunk", "index_select",
                            "cross_entropy", "mse_loss", "rms_norm", "embedding" } do
        Tensor[name] = cc[name]
    end

    -- for other modules (autograd.lua, gradcheck.lua): raw helpers that never record
    cc._raw = {
        new = new, zeros = zeros, view = r_view, expand = r_expand, contiguous = r_contiguous,
        reshape = r_reshape, clone = r_clone, convert = r_convert, numel = numel, unbroadcast = unbroadcast,
        describe = describe, is_tensor = is_tensor, is_float = is_float, shape_of = shape_of,
    }
end
