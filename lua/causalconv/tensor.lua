-- cc.Tensor: the user-facing tensor, a Lua table {_h = cdata cc_tensor* owned through ffi.gc},
-- with room for Lua-side fields (requires_grad, grad, the autograd node, ...).
--
-- This module owns the Tensor class: constructors, metadata, views (each records its backward
-- right here), copies and conversions (`to` records its backward too), element access, the
-- counted allocator, the autograd methods (requires_grad_, backward, detach, zero_grad,
-- retain_grad, is_leaf: the engine is tape.lua), .npy files and the library settings every op
-- obeys (threads, reference kernels, the random seed). Printing is printing.lua; arithmetic,
-- reductions and the other ops are ops.lua, which adds its methods through Tensor.add_method.
--
-- Indexing rule (written once, here): dims and positions are 1-based, negative ones count from
-- the end (-1 = last); args.dim / args.pos are the only places that turn them into C's 0-based
-- ones.
--
-- For other modules and for custom ops (the class's extension API):
--   Tensor.wrap(h)                  takes ownership of a new cc_tensor* handle
--   Tensor.from_c(cfn, ...)         cfn(out, ...) for a C function that allocates a new storage
--                                   (cc_tensor_empty, cc_tensor_to, ...): counts its bytes for the
--                                   pull-style GC and retries once after a collection on
--                                   CC_ERR_MEMORY
--   Tensor.view_from_c(cfn, ...)    cfn(out, ...) for a C function that makes a view
--   Tensor.add_method(name, fn)     adds a method (or a metamethod, "__add"); refuses a name that
--                                   is already defined
--   Tensor.mt                       the metatable of every tensor
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise
local autograd = tape.autograd

local floor, huge = math.floor, math.huge
local fmt = string.format
local concat = table.concat
local show, shape_of, shape_str, same_shape = args.show, args.shape_of, args.shape_str, args.same_shape
local is_integer, is_int_dtype = args.is_integer, args.is_int_dtype
local DTYPE_NAME = args.DTYPE_NAME


local M = {}
local Tensor = {}
-- REPL reloads (repl.lua's reload() re-requires this file): the metatable lives in the Lua
-- registry, so a reload reuses it, emptied here and filled again by this file and add_method;
-- tensors made before the reload get the new methods and cc.is_tensor stays true for them.
local registry = debug.getregistry()
local mt = registry["causalconv.Tensor.mt"] or {}
registry["causalconv.Tensor.mt"] = mt
for k in pairs(mt) do mt[k] = nil end
Tensor.mt = mt
M.Tensor = Tensor

local function is_tensor(v) return getmetatable(v) == mt end
M.is_tensor = is_tensor

function Tensor.add_method(name, fn)
    if type(name) ~= "string" or type(fn) ~= "function" then
        error("Tensor.add_method: expected a name and a function", 2)
    end
    local where = name:sub(1, 2) == "__" and mt or Tensor
    if rawget(where, name) ~= nil then
        error("Tensor.add_method: " .. name .. " is already defined (a module may not replace another's method)", 2)
    end
    where[name] = fn
end

------------------------------------------------------------------------------------------------
-- handles and the counted allocator

local pout = ffi.new("cc_tensor*[1]")     -- out-parameter shared by every C call below
local shape_buf = ffi.new("int64_t[8]")
local index_buf = ffi.new("int64_t[8]")
local int_buf = ffi.new("int[8]")
local value_buf = ffi.new("double[1]")

local function wrap(h)
    if h == nil then raise("Tensor.wrap: expected a cc_tensor* handle, got NULL") end
    return setmetatable({ _h = ffi.gc(h, C.cc_tensor_free) }, mt)
end
Tensor.wrap = wrap

-- The Lua GC cannot see C memory: after every GC_STEP_BYTES of new tensor data run a full
-- collection so dropped tensors give their memory back (pull-style, as THAlloc did). 32 MiB by
-- default, $CC_GC_MB to change it: small enough that an op's freed outputs come back to the
-- next call while their lines are still in the L3 cache (a B=1 forward that allocates its output
-- runs as fast as one writing into a given `out`: experiments/results/
-- cpu-20261201-1849-avx2-torch-t1.txt), large enough that a training step, whose full
-- collections each walk the whole Lua heap and its tape, runs few of them (tests/lua/memory_spec.lua).
local GC_STEP_BYTES = 32 * 2 ^ 20
do
    local mb = os.getenv("CC_GC_MB")
    if mb ~= nil then
        local v = tonumber(mb)
        if not v or v <= 0 then error("causalconv: CC_GC_MB: expected a positive number of MiB, got " .. string.format("%q", mb), 0) end
        GC_STEP_BYTES = v * 2 ^ 20
    end
end
local pending_bytes = 0
local function note_alloc(h)
    pending_bytes = pending_bytes + tonumber(C.cc_tensor_numel(h)) * args.dtype_bytes(h.dtype)
    if pending_bytes > GC_STEP_BYTES then
        pending_bytes = 0
        collectgarbage("collect")
    end
end

local function from_c(fn, ...)
    local st = fn(pout, ...)
    if st == C.CC_ERR_MEMORY then
        collectgarbage("collect")
        collectgarbage("collect")
        st = fn(pout, ...)
    end
    check(st)
    local h = pout[0]
    note_alloc(h)
    return wrap(h)
end
Tensor.from_c = from_c

local function view_from_c(fn, ...)
    check(fn(pout, ...))
    return wrap(pout[0])
end
Tensor.view_from_c = view_from_c

local function empty(sizes, dtype, dev, idx)
    for i = 1, #sizes do shape_buf[i - 1] = sizes[i] end
    return from_c(C.cc_tensor_empty, #sizes, shape_buf, dtype, dev, idx)
end

-- An empty tensor of sizes (...) and dtype code on like's device (the ops' outputs).
function Tensor.empty_on(dtype, like, ...)
    local n = select("#", ...)
    for i = 1, n do shape_buf[i - 1] = (select(i, ...)) end
    local lh = like._h
    return from_c(C.cc_tensor_empty, n, shape_buf, dtype, lh.device, lh.device_index)
end

-- Zeros with t's shape, strides, dtype and device (a gradient that did not reach an output).
function Tensor.zeros_of(t)
    local z = from_c(C.cc_tensor_clone, t._h)
    check(C.cc_tensor_fill(z._h, 0))
    return z
end

local function zeros_as(sizes, like)   -- zeros of like's dtype and device (for backward rules)
    local h = like._h
    local t = empty(sizes, h.dtype, h.device, h.device_index)
    check(C.cc_tensor_fill(t._h, 0))
    return t
end

------------------------------------------------------------------------------------------------
-- integer values: Lua numbers are exact up to 2^53, int64 cdata (5LL) exactly

local I32_MIN, I32_MAX = -2 ^ 31, 2 ^ 31 - 1

local function is_int64_cdata(v)
    return type(v) == "cdata" and (ffi.istype("int64_t", v) or ffi.istype("uint64_t", v))
end

-- v as a value for an integer tensor of dtype code: a Lua number, or int64 cdata when v is
-- one (stored exactly). what describes v in messages ("fill_: value", "tensor: data[2] = ...").
-- truncate: a fractional number is truncated toward zero (as fill_ and x[i] = v do, like
-- PyTorch); without it, it is an error (cc.tensor). NaN and infinities are always errors.
local function int_value(what, v, dtype, truncate)
    local name = DTYPE_NAME[dtype]
    if is_int64_cdata(v) then
        if ffi.istype("uint64_t", v) then
            if v > 9223372036854775807ULL then raise(fmt("%s %s is out of range for %s", what, show(v), name)) end
            v = ffi.cast("int64_t", v)
        end
        if dtype == C.CC_I32 and (v < I32_MIN or v > I32_MAX) then
            raise(fmt("%s %s is out of range for i32", what, show(v)))
        end
        if v >= -9007199254740992LL and v <= 9007199254740992LL then return tonumber(v) end
        return v
    end
    if type(v) ~= "number" then raise(fmt("%s expected a number, got %s", what, show(v))) end
    if truncate and v == v and v > -huge and v < huge then v = v < 0 and math.ceil(v) or floor(v) end
    if not is_integer(v) then
        raise(fmt("%s %s is not an integer (dtype %s)", what, show(v), name))
    end
    if dtype == C.CC_I32 and (v < I32_MIN or v > I32_MAX) then
        raise(fmt("%s %s is out of range for i32", what, show(v)))
    end
    if math.abs(v) > 2 ^ 53 then
        raise(fmt("%s %s is out of range for %s: Lua numbers are exact only up to 2^53 (give larger values as int64 cdata, e.g. 2LL^60)",
                  what, show(v), name))
    end
    return v
end

-- dst (any view) := v everywhere, with v int64 cdata: staged on the host, copied exactly.
local function fill_exact(dst, v)
    local stage = empty({}, C.CC_I64, C.CC_CPU, 0)
    ffi.cast("int64_t*", C.cc_tensor_data(stage._h))[0] = v
    local h = dst._h
    local src = view_from_c(C.cc_tensor_expand, stage._h, h.ndim, h.shape)
    check(C.cc_tensor_copy(h, src._h))
end

-- The value to write into a tensor of dtype code: checked for integer dtypes; int64 cdata
-- becomes a Lua number for float dtypes.
local function value_for(what, v, dtype)
    if is_int_dtype(dtype) then return int_value(what, v, dtype, true) end
    if is_int64_cdata(v) then return tonumber(v) end
    if type(v) ~= "number" then raise(fmt("%s expected a number, got %s", what, show(v))) end
    return v
end

local function fill_value(t, v)
    if type(v) == "cdata" then fill_exact(t, v) else check(C.cc_tensor_fill(t._h, v)) end
end

------------------------------------------------------------------------------------------------
-- constructors

local CTOR_OPTS = { { "dtype", "dtype" }, { "device", "device" }, { "requires_grad", "boolean" } }

-- -> dtype code, device code, device index (defaults f32, cpu, 0)
local function ctor_options(fname, opts)
    opts = args.options(fname, opts, CTOR_OPTS, "options")
    local dtype, dev, idx = C.CC_F32, C.CC_CPU, 0
    if opts.dtype ~= nil then dtype = args.dtype(fname, opts.dtype) end
    if opts.device ~= nil then dev, idx = args.device(fname, opts.device) end
    return dtype, dev, idx, opts
end

local function set_requires_grad(t, opts)
    if opts.requires_grad then t:requires_grad_(true) end
    return t
end

local function empty_op(fname, ...)
    local sizes, opts = args.sizes(fname, false, ...)
    local dtype, dev, idx, o = ctor_options(fname, opts)
    return set_requires_grad(empty(sizes, dtype, dev, idx), o)
end

local function filled(fname, value, ...)
    local sizes, opts = args.sizes(fname, false, ...)
    local dtype, dev, idx, o = ctor_options(fname, opts)
    value = value_for(fname .. ": value:", value, dtype)
    local t = empty(sizes, dtype, dev, idx)
    fill_value(t, value)
    return set_requires_grad(t, o)
end

local function full(fname, sizes, value, opts)
    if type(sizes) == "number" then sizes = { sizes } end
    if type(sizes) ~= "table" or is_tensor(sizes) then
        raise(fname .. ": sizes: expected a table of sizes like {2, 3} (usage: cc.full({2, 3}, 7.5[, {dtype=, device=}])), got " .. show(sizes))
    end
    if type(value) ~= "number" and not is_int64_cdata(value) then
        raise(fname .. ": value: expected a number (usage: cc.full({2, 3}, 7.5[, {dtype=, device=}])), got " .. show(value))
    end
    return filled(fname, value, sizes, opts)
end

function M.empty(...) return empty_op("empty", ...) end
function M.zeros(...) return filled("zeros", 0, ...) end
function M.ones(...) return filled("ones", 1, ...) end

-- cc.full({2, 3}, 7.5[, opts]) or cc.full(5, 7.5[, opts]) for a 1-d tensor.
function M.full(sizes, value, opts) return full("full", sizes, value, opts) end

local function random(fname, cfn, a, b, ...)
    local sizes, opts = args.sizes(fname, false, ...)
    local dtype, dev, idx, o = ctor_options(fname, opts)
    if is_int_dtype(dtype) then
        raise(fmt("%s: dtype: expected a floating dtype (f32, f64, f16, bf16), got %s", fname, DTYPE_NAME[dtype]))
    end
    local t = empty(sizes, dtype, dev, idx)
    check(cfn(t._h, a, b))
    return set_requires_grad(t, o)
end

local function rand(fname, ...) return random(fname, C.cc_tensor_rand, 0, 1, ...) end
local function randn(fname, ...) return random(fname, C.cc_tensor_randn, 0, 1, ...) end
function M.rand(...) return rand("rand", ...) end
function M.randn(...) return randn("randn", ...) end

-- cc.arange(n), cc.arange(start, stop[, step]): stop excluded, as in PyTorch; default f32.
function M.arange(...)
    local nums, opts = {}, nil
    local n = select("#", ...)
    for i = 1, n do
        local v = select(i, ...)
        if type(v) == "table" and i == n and not is_tensor(v) then opts = v
        elseif type(v) == "number" then nums[#nums + 1] = v
        else raise(fmt("arange: argument %d: expected a number, got %s (usage: cc.arange(n) or cc.arange(start, stop[, step])[, opts])", i, show(v))) end
    end
    local start, stop, step
    if #nums == 1 then start, stop, step = 0, nums[1], 1
    elseif #nums == 2 or #nums == 3 then start, stop, step = nums[1], nums[2], nums[3] or 1
    else raise(fmt("arange: expected 1 to 3 numbers (n, or start, stop[, step]), got %d", #nums)) end
    if step == 0 or step ~= step then raise("arange: step: expected a non-zero number, got " .. show(step)) end
    local len = math.ceil((stop - start) / step)
    if len ~= len or len == huge or len == -huge then
        raise(fmt("arange: (stop - start) / step is not finite for start %s, stop %s, step %s", show(start), show(stop), show(step)))
    end
    if len < 0 then len = 0 end
    if len > 2 ^ 53 then raise(fmt("arange: %s elements are more than a Lua number counts exactly", show(len))) end
    local dtype, dev, idx, o = ctor_options("arange", opts)
    if is_int_dtype(dtype) and len > 0 then
        -- every value must fit the dtype; both ends are the extremes
        int_value("arange: start:", start, dtype, true)
        int_value("arange: stop:", start + (len - 1) * step, dtype, true)
    end
    local t = empty({ len }, dtype, dev, idx)
    check(C.cc_tensor_arange(t._h, start, step))
    return set_requires_grad(t, o)
end

-- cc.tensor(nested tables or a number[, opts]): shape from the nesting; default f32.
-- Integer dtypes take Lua numbers up to 2^53 and int64 cdata exactly.
function M.tensor(data, opts)
    local dtype, dev, idx, o = ctor_options("tensor", opts)
    if is_tensor(data) then
        local to = { dtype = o.dtype or data:dtype(), device = o.device or data:device() }
        local t = autograd.needs_grad(data) and tape.no_grad(data.to, data, to) or data:to(to)
        if t == data then t = from_c(C.cc_tensor_clone, data._h) end
        return set_requires_grad(t, o)
    end
    if type(data) ~= "number" and type(data) ~= "table" and not is_int64_cdata(data) then
        raise("tensor: data: expected a number or a nested table of numbers, got " .. show(data))
    end
    local shape = {}
    local v = data
    while type(v) == "table" do
        shape[#shape + 1] = #v
        if #shape > 8 then raise("tensor: data is nested deeper than 8 levels (at most 8 dims)") end
        if #v == 0 then break end
        v = v[1]
    end
    local ndim = #shape
    local int = is_int_dtype(dtype)
    local stage = empty(shape, int and C.CC_I64 or C.CC_F64, C.CC_CPU, 0)
    local p = ffi.cast(int and "int64_t*" or "double*", C.cc_tensor_data(stage._h))
    local k = 0
    local function where(path, len)
        local parts = {}
        for i = 1, len or #path do parts[i] = path[i] end
        return "data" .. (#parts > 0 and "[" .. concat(parts, "][") .. "]" or "")
    end
    local ones = { 1, 1, 1, 1, 1, 1, 1, 1 }
    local function walk(node, level, path)
        if level > ndim then
            local x = node
            if type(x) ~= "number" and not is_int64_cdata(x) then
                raise(fmt("tensor: %s is %s, expected a number", where(path), show(node)))
            end
            if int then
                x = int_value("tensor: " .. where(path) .. " =", x, dtype)
            elseif type(x) == "cdata" then
                x = tonumber(x)
            end
            p[k] = x
            k = k + 1
            return
        end
        if type(node) ~= "table" then
            raise(fmt("tensor: ragged nested table: %s is %s, expected a table of %d elements (as %s is)",
                      where(path), show(node), shape[level], where(ones, level - 1)))
        end
        if #node ~= shape[level] then
            raise(fmt("tensor: ragged nested table: %s has %d element%s, expected %d (as %s has)",
                      where(path), #node, #node == 1 and "" or "s", shape[level], where(ones, level - 1)))
        end
        for i = 1, #node do
            path[level] = i
            walk(node[i], level + 1, path)
            path[level] = nil
        end
    end
    walk(data, 1, {})
    local t = stage
    if dtype ~= stage._h.dtype or dev ~= C.CC_CPU then
        t = from_c(C.cc_tensor_to, stage._h, dtype, dev, idx)
    end
    return set_requires_grad(t, o)
end

local function like(fname, x, opts)
    if not is_tensor(x) then raise(fmt("%s: x: expected a causalconv.Tensor, got %s", fname, show(x))) end
    local o = { dtype = x:dtype(), device = x:device() }
    if opts ~= nil then
        args.options(fname, opts, CTOR_OPTS, "options")
        for k, v in pairs(opts) do o[k] = v end
    end
    return x:size(), o
end
function M.empty_like(x, opts) local s, o = like("empty_like", x, opts); return empty_op("empty_like", s, o) end
function M.zeros_like(x, opts) local s, o = like("zeros_like", x, opts); return filled("zeros_like", 0, s, o) end
function M.ones_like(x, opts) local s, o = like("ones_like", x, opts); return filled("ones_like", 1, s, o) end
function M.rand_like(x, opts) local s, o = like("rand_like", x, opts); return rand("rand_like", s, o) end
function M.randn_like(x, opts) local s, o = like("randn_like", x, opts); return randn("randn_like", s, o) end
function M.full_like(x, value, opts) local s, o = like("full_like", x, opts); return full("full_like", s, value, o) end

------------------------------------------------------------------------------------------------
-- metadata

function Tensor:dim() return self._h.ndim end

function Tensor:size(d)
    local h = self._h
    if d == nil then return shape_of(self) end
    return tonumber(h.shape[args.dim("size", "dim", self, d)])
end
Tensor.shape = Tensor.size

function Tensor:stride(d)
    local h = self._h
    if d == nil then
        local s = {}
        for i = 1, h.ndim do s[i] = tonumber(h.stride[i - 1]) end
        return s
    end
    return tonumber(h.stride[args.dim("stride", "dim", self, d)])
end

function Tensor:numel() return tonumber(C.cc_tensor_numel(self._h)) end
function Tensor:dtype() return DTYPE_NAME[self._h.dtype] end
function Tensor:element_size() return args.dtype_bytes(self._h.dtype) end
function Tensor:device() return args.device_name(self._h) end
function Tensor:is_cuda() return self._h.device == C.CC_CUDA end
function Tensor:is_contiguous() return C.cc_tensor_is_contiguous(self._h) ~= 0 end
function Tensor:is_floating_point() return not is_int_dtype(self._h.dtype) end
function Tensor:same_storage(other)
    if not is_tensor(other) then raise("same_storage: other: expected a causalconv.Tensor, got " .. show(other)) end
    return C.cc_tensor_same_storage(self._h, other._h) ~= 0
end
function Tensor:data_ptr() return C.cc_tensor_data(self._h) end

------------------------------------------------------------------------------------------------
-- views: each records its backward when self takes part in the graph

-- make_rule() builds the rule, only when something is recorded
local function recorded(name, self, out, make_rule)
    if out ~= self and autograd.needs_grad(self) then
        autograd.record(name, { "self" }, { self }, { out }, make_rule())
    end
    return out
end

-- dx = zeros of x's shape with g copied into the view of it the forward took
local function scatter_rule(xshape, take)
    return function(_, g)
        local dx = zeros_as(xshape, g)
        check(C.cc_tensor_copy(take(dx)._h, g._h))
        return dx
    end
end

local function reshape_rule(x)
    return function()
        local xshape = shape_of(x)
        return function(_, g) return g:reshape(xshape) end
    end
end

local function identity_rule() return function(_, g) return g end end

function Tensor:transpose(d1, d2)
    local a = args.dim("transpose", "dim1", self, d1)
    local b = args.dim("transpose", "dim2", self, d2)
    return recorded("transpose", self, view_from_c(C.cc_tensor_transpose, self._h, a, b), function()
        return function(_, g) return view_from_c(C.cc_tensor_transpose, g._h, a, b) end
    end)
end

function Tensor:t()
    local n = self._h.ndim
    if n ~= 2 then
        raise(fmt("t: expected a 2-d tensor, got a %d-d tensor (use transpose(dim1, dim2))", n))
    end
    return recorded("t", self, view_from_c(C.cc_tensor_transpose, self._h, 0, 1), function()
        return function(_, g) return view_from_c(C.cc_tensor_transpose, g._h, 0, 1) end
    end)
end

function Tensor:permute(...)
    local dims = ...
    if type(dims) ~= "table" then dims = { ... } end
    local n = self._h.ndim
    if #dims ~= n then
        raise(fmt("permute: expected %d dims (one per dim of the %d-d tensor), got %d", n, n, #dims))
    end
    local seen, order = {}, {}
    for i = 1, n do
        local c = args.dim("permute", "dim", self, dims[i])
        if seen[c] then
            raise(fmt("permute: dims %s name dim %d twice (expected a permutation of 1..%d)", shape_str(dims), c + 1, n))
        end
        seen[c] = true
        order[i] = c
        int_buf[i - 1] = c
    end
    local out = view_from_c(C.cc_tensor_permute, self._h, n, int_buf)
    return recorded("permute", self, out, function()
        local inv = ffi.new("int[?]", n > 0 and n or 1)
        for i = 1, n do inv[order[i]] = i - 1 end
        return function(_, g) return view_from_c(C.cc_tensor_permute, g._h, n, inv) end
    end)
end

function Tensor:narrow(dim, start, length)
    local d = args.dim("narrow", "dim", self, dim)
    local size = tonumber(self._h.shape[d])
    if not is_integer(start) then raise("narrow: start: expected an integer position, got " .. show(start)) end
    if not is_integer(length) or length < 0 then
        raise("narrow: length: expected a non-negative integer, got " .. show(length))
    end
    local s = start
    if s < 0 then s = size + s + 1 end
    if s < 1 or s > size + 1 or (s == size + 1 and length > 0) then
        raise(fmt("narrow: start %d out of range for dim %d of size %d (expected 1..%d or -%d..-1%s)",
                  start, d + 1, size, size, size, start == 0 and "; positions are 1-based" or ""))
    end
    if s - 1 + length > size then
        raise(fmt("narrow: length %d from start %d runs past the end of dim %d (size %d): the last position would be %d",
                  length, start, d + 1, size, s - 1 + length))
    end
    local out = view_from_c(C.cc_tensor_narrow, self._h, d, s - 1, length)
    return recorded("narrow", self, out, function()
        return scatter_rule(shape_of(self), function(dx) return view_from_c(C.cc_tensor_narrow, dx._h, d, s - 1, length) end)
    end)
end

function Tensor:select(dim, index)
    local d = args.dim("select", "dim", self, dim)
    local i = args.pos("select", "index", self, d, index)
    local out = view_from_c(C.cc_tensor_select, self._h, d, i)
    return recorded("select", self, out, function()
        return scatter_rule(shape_of(self), function(dx) return view_from_c(C.cc_tensor_select, dx._h, d, i) end)
    end)
end

local function check_view_shape(self, fname, sizes)
    local numel = self:numel()
    local known, infer = 1, nil
    for i = 1, #sizes do
        if sizes[i] == -1 then
            if infer then raise(fmt("%s: shape %s: only one size may be -1", fname, shape_str(sizes))) end
            infer = i
        else
            known = known * sizes[i]
        end
    end
    if (infer and (known == 0 or numel % known ~= 0)) or (not infer and known ~= numel) then
        raise(fmt("%s: shape %s is invalid for a tensor of %d elements (size %s)", fname, shape_str(sizes),
                  numel, concat(self:size(), "x")))
    end
    for i = 1, #sizes do shape_buf[i - 1] = sizes[i] end
end

function Tensor:view(...)
    local sizes = args.sizes("view", true, ...)
    check_view_shape(self, "view", sizes)
    return recorded("view", self, view_from_c(C.cc_tensor_view, self._h, #sizes, shape_buf), reshape_rule(self))
end

-- A view when the strides allow one, else a contiguous copy viewed.
function Tensor:reshape(...)
    local sizes = args.sizes("reshape", true, ...)
    check_view_shape(self, "reshape", sizes)
    local out
    if C.cc_tensor_view(pout, self._h, #sizes, shape_buf) == 0 then
        out = wrap(pout[0])
    else
        C.cc_clear_error()
        local c = from_c(C.cc_tensor_contiguous, self._h)
        check_view_shape(c, "reshape", sizes)
        out = view_from_c(C.cc_tensor_view, c._h, #sizes, shape_buf)
    end
    return recorded("reshape", self, out, reshape_rule(self))
end

function Tensor:expand(...)
    local sizes = args.sizes("expand", true, ...)
    local have = self:size()
    local n, m = #sizes, #have
    if n < m then
        raise(fmt("expand: expected at least %d sizes for a %d-d tensor, got %d", m, m, n))
    end
    local final = {}
    for i = 1, n do
        local j = i - (n - m)
        if j < 1 then
            if sizes[i] < 0 then
                raise(fmt("expand: size %d: a new leading dim needs an explicit size (-1 only keeps an existing size)", i))
            end
        elseif sizes[i] ~= -1 and sizes[i] ~= have[j] and have[j] ~= 1 then
            raise(fmt("expand: cannot expand %s to %s: dim %d has size %d, which is not 1 and differs from %d",
                      shape_str(have), shape_str(sizes), j, have[j], sizes[i]))
        end
        final[i] = sizes[i] == -1 and have[j] or sizes[i]
        shape_buf[i - 1] = sizes[i]
    end
    args.check_numel("expand", final)
    local out = view_from_c(C.cc_tensor_expand, self._h, n, shape_buf)
    return recorded("expand", self, out, function() return function(_, g) return g:sum_to_size(have) end end)
end

function Tensor:expand_as(other)
    if not is_tensor(other) then raise("expand_as: other: expected a causalconv.Tensor, got " .. show(other)) end
    return self:expand(other:size())
end

function Tensor:unsqueeze(dim)
    local n = self._h.ndim
    if n >= 8 then raise("unsqueeze: the tensor already has the maximum of 8 dims") end
    local out = view_from_c(C.cc_tensor_unsqueeze, self._h, args.dim("unsqueeze", "dim", self, dim, n + 1))
    return recorded("unsqueeze", self, out, reshape_rule(self))
end

-- squeeze() drops every size-1 dim; squeeze(d) drops dim d when its size is 1 (else no change).
function Tensor:squeeze(dim)
    local d = -1
    if dim ~= nil then d = args.dim("squeeze", "dim", self, dim) end
    return recorded("squeeze", self, view_from_c(C.cc_tensor_squeeze, self._h, d), reshape_rule(self))
end

------------------------------------------------------------------------------------------------
-- copies and conversions

function Tensor:contiguous()
    if C.cc_tensor_is_contiguous(self._h) ~= 0 then return self end
    return recorded("contiguous", self, from_c(C.cc_tensor_contiguous, self._h), identity_rule)
end

function Tensor:clone()
    return recorded("clone", self, from_c(C.cc_tensor_clone, self._h), identity_rule)
end

local TO_OPTS = { { "dtype", "dtype" }, { "device", "device" } }

local function parse_to(self, a, fname)
    local h = self._h
    local dtype, dev, idx = h.dtype, h.device, h.device_index
    if type(a) == "string" then
        if args.DTYPE_CODE[a] then
            dtype = args.DTYPE_CODE[a]
        elseif a == "cpu" or a == "cuda" or a:match("^cuda:%d+$") then
            dev, idx = args.device(fname, a)
        else
            raise(fmt('%s: expected a dtype ("f32", "f64", "f16", "bf16", "i32", "i64"), a device ("cpu", "cuda", "cuda:N") or {dtype=, device=}, got %s', fname, show(a)))
        end
    elseif type(a) == "table" and not is_tensor(a) then
        args.options(fname, a, TO_OPTS, "options")
        if a.dtype ~= nil then dtype = args.dtype(fname, a.dtype) end
        if a.device ~= nil then dev, idx = args.device(fname, a.device) end
    else
        raise(fmt('%s: expected a dtype ("f32", ...), a device ("cpu", "cuda") or {dtype=, device=}, got %s', fname, show(a)))
    end
    return dtype, dev, idx
end

-- x:to("f64"), x:to("cuda"), x:to({dtype = "bf16", device = "cpu"}); returns x itself when
-- nothing changes, a new tensor otherwise. The gradient goes back to x's dtype and device.
function Tensor:to(a)
    local dtype, dev, idx = parse_to(self, a, "to")
    local h = self._h
    if dtype == h.dtype and dev == h.device and idx == h.device_index then return self end
    local out = from_c(C.cc_tensor_to, h, dtype, dev, idx)
    if is_int_dtype(dtype) then return out end
    local sdtype, sdev, sidx = tonumber(h.dtype), tonumber(h.device), tonumber(h.device_index)
    return recorded("to", self, out, function()
        return function(_, g) return from_c(C.cc_tensor_to, g._h, sdtype, sdev, sidx) end
    end)
end
function Tensor:float() return self:to("f32") end
function Tensor:double() return self:to("f64") end
function Tensor:half() return self:to("f16") end
function Tensor:bfloat16() return self:to("bf16") end
function Tensor:int() return self:to("i32") end
function Tensor:long() return self:to("i64") end
function Tensor:cuda() return self:to("cuda") end
function Tensor:cpu() return self:to("cpu") end

-- True when sizes `from` broadcast to `to` (trailing alignment, size-1 dims stretch).
local function broadcasts(from, to)
    if #from > #to then return false end
    for i = 1, #from do
        local a, b = from[#from - i + 1], to[#to - i + 1]
        if a ~= b and a ~= 1 then return false end
    end
    return true
end

-- Copies src's values into self (converting dtype, crossing devices); src broadcasts.
function Tensor:copy_(src)
    autograd.check_inplace("copy_", self, "self")
    if not is_tensor(src) then
        raise("copy_: src: expected a causalconv.Tensor, got " .. show(src) .. (type(src) == "number" and " (use fill_ for a number)" or ""))
    end
    local want, have = shape_of(self), shape_of(src)
    if not same_shape(want, have) then
        if not broadcasts(have, want) then
            raise(fmt("copy_: src of size %s does not broadcast to the destination's size %s", shape_str(have), shape_str(want)))
        end
        local h = self._h
        src = view_from_c(C.cc_tensor_expand, src._h, h.ndim, h.shape)
    end
    -- C names its op "copy" and the destination "dst": say copy_ and self, as the user wrote
    args.check_as(C.cc_tensor_copy(self._h, src._h), "copy", "copy_", "dst", "self")
    return self
end

function Tensor:fill_(value)
    autograd.check_inplace("fill_", self, "self")
    if type(value) ~= "number" and not is_int64_cdata(value) then
        raise("fill_: value: expected a number, got " .. show(value))
    end
    fill_value(self, value_for("fill_: value:", value, self._h.dtype))
    return self
end

function Tensor:zero_()
    autograd.check_inplace("zero_", self, "self")
    check(C.cc_tensor_fill(self._h, 0))
    return self
end

local function get_at(self)   -- element at index_buf
    check(C.cc_tensor_get(self._h, index_buf, value_buf))
    return value_buf[0]
end

function Tensor:item()
    local n = self:numel()
    if n ~= 1 then
        raise(fmt("item: expected a tensor with one element, got %d elements (size %s)", n, concat(self:size(), "x")))
    end
    for i = 0, self._h.ndim - 1 do index_buf[i] = 0 end
    return get_at(self)
end

-- host copy to read values from: contiguous, on the cpu, f64 (i64 for integer dtypes).
local function host_copy(self)
    local h = self._h
    local want = is_int_dtype(h.dtype) and C.CC_I64 or C.CC_F64
    if h.device == C.CC_CPU and h.dtype == want and C.cc_tensor_is_contiguous(h) ~= 0 then return self end
    local t = from_c(C.cc_tensor_to, h, want, C.CC_CPU, 0)
    if C.cc_tensor_is_contiguous(t._h) ~= 0 then return t end
    return from_c(C.cc_tensor_contiguous, t._h)
end

local function exact(v)   -- int64 cdata -> number when exact, else the cdata
    if v >= -9007199254740992LL and v <= 9007199254740992LL then return tonumber(v) end
    return v
end

-- Nested Lua tables of numbers (a number for a 0-d tensor); i64 values beyond 2^53 come back
-- as int64 cdata.
function Tensor:totable()
    local host = host_copy(self)
    local h = host._h
    local int = h.dtype == C.CC_I64
    local p = ffi.cast(int and "int64_t*" or "double*", C.cc_tensor_data(h))
    local n = h.ndim
    local sizes = shape_of(host)
    local k = 0
    local function build(level)
        local t = {}
        if level == n then
            for i = 1, sizes[level] do
                t[i] = int and exact(p[k]) or p[k]
                k = k + 1
            end
        else
            for i = 1, sizes[level] do t[i] = build(level + 1) end
        end
        return t
    end
    local result
    if n == 0 then result = int and exact(p[0]) or p[0] else result = build(1) end
    if host._h == nil then error("unreachable") end   -- keeps host (and p's memory) alive to here
    return result
end

------------------------------------------------------------------------------------------------
-- element access: x[{i, j, k}] (one 1-based index per dim), and x[i] as in Torch7:
-- an element of a 1-d tensor, else x:select(1, i).

local function index_str(idx)
    local s = {}
    for i = 1, #idx do s[i] = show(idx[i]) end
    return "x[{" .. concat(s, ", ") .. "}]"
end

local function load_index(self, idx)
    local n = self._h.ndim
    if #idx ~= n then
        raise(fmt("%s: expected %d indices for a %d-d tensor, got %d (x[{...}] reads one element; use select/narrow for slices)",
                  index_str(idx), n, n, #idx))
    end
    local where = index_str(idx)
    for i = 1, n do index_buf[i - 1] = args.pos(where, "index", self, i - 1, idx[i]) end
end

local function set_element(self, v, where)
    autograd.check_inplace(where .. " = v", self)
    if type(v) ~= "number" and not is_int64_cdata(v) then
        raise(fmt("%s = v: expected a number, got %s", where, show(v)))
    end
    local h = self._h
    v = value_for(where .. " = v:", v, h.dtype)
    if type(v) == "cdata" then   -- exact int64: through a 0-d view of the element
        local off = h.offset
        for i = 0, h.ndim - 1 do off = off + index_buf[i] * h.stride[i] end
        fill_exact(view_from_c(C.cc_tensor_as_strided, h, 0, nil, nil, off), v)
    else
        check(C.cc_tensor_set(h, index_buf, v))
    end
end

-- The name a caller's code knows t by (a local, an upvalue or a global), for a warning.
local function name_in_caller(t, level)
    for i = 1, 200 do
        local name, v = debug.getlocal(level + 1, i)
        if name == nil then break end
        if v == t and name:match("^[%a_][%w_]*$") then return name end
    end
    local info = debug.getinfo(level + 1, "f")
    for i = 1, 200 do
        local name, v = debug.getupvalue(info and info.func or print, i)
        if name == nil then break end
        if v == t and name:match("^[%a_][%w_]*$") then return name end
    end
    for name, v in pairs(_G) do
        if v == t and type(name) == "string" then return name end
    end
    return "t"
end

-- Reading .grad of a non-leaf tensor gives nil (only leaves keep gradients unless
-- retain_grad() was called): warn once per tensor on stderr, as PyTorch does. Runs only when
-- .grad is absent from the table, so reading a leaf's gradient costs nothing more.
local function warn_nonleaf_grad(self, node)
    rawset(self, "_grad_warned", true)
    local name = name_in_caller(self, 3)
    local info = debug.getinfo(3, "Sl")
    local where = info and info.currentline and info.currentline > 0 and (info.short_src .. ":" .. info.currentline .. ": ") or ""
    io.stderr:write(fmt("%swarning: %s.grad of a non-leaf tensor is not kept: call %s:retain_grad() first, "
        .. "or read the leaf's .grad (%s is the output of op '%s')\n", where, name, name, name, node.op))
end

mt.__index = function(self, k)
    local m = Tensor[k]
    if m ~= nil then return m end
    if k == "grad" then
        local node = rawget(self, "_node")
        if node ~= nil and not rawget(self, "_grad_warned")
            and not (node.retained and node.retained[rawget(self, "_out_index")] == self) then
            warn_nonleaf_grad(self, node)
        end
        return nil
    end
    local tk = type(k)
    if tk == "table" then
        load_index(self, k)
        return get_at(self)
    elseif tk == "number" then
        local n = self._h.ndim
        if n == 1 then
            index_buf[0] = args.pos(fmt("x[%s]", show(k)), "index", self, 0, k)
            return get_at(self)
        end
        if n == 0 then raise(fmt("x[%s]: a 0-d tensor has no dims to index (use x:item())", show(k))) end
        return self:select(1, k)
    end
    return nil
end

mt.__newindex = function(self, k, v)
    local tk = type(k)
    if tk == "table" then
        load_index(self, k)
        set_element(self, v, index_str(k))
    elseif tk == "number" then
        local n = self._h.ndim
        if n == 1 then
            index_buf[0] = args.pos(fmt("x[%s]", show(k)), "index", self, 0, k)
            set_element(self, v, fmt("x[%s]", show(k)))
        elseif n == 0 then
            raise(fmt("x[%s] = v: a 0-d tensor has no dims to index (use x:fill_(v))", show(k)))
        else
            local row = self:select(1, k)
            if is_tensor(v) then row:copy_(v) else row:fill_(v) end
        end
    else
        rawset(self, k, v)
    end
end

-- #x is x:size(1) where the Lua VM honours __len on tables (LuaJIT built with Lua 5.2
-- compatibility); use x:size(1) in portable code.
function mt.__len(self) return self:size(1) end

------------------------------------------------------------------------------------------------
-- autograd methods (the engine: tape.lua)

function Tensor:requires_grad_(flag)
    if flag == nil then flag = true end
    if type(flag) ~= "boolean" then
        raise("requires_grad_: flag: expected a boolean, got " .. show(flag))
    end
    if rawget(self, "_node") ~= nil then
        if not flag then
            raise("requires_grad_: this tensor is the output of op '" .. rawget(self, "_node").op
                .. "', not a leaf: use t:detach() to get a tensor outside the graph")
        end
        return self
    end
    if flag and is_int_dtype(self._h.dtype) then
        raise("requires_grad_: only float tensors (f32, f64, f16, bf16) can require grad, got " .. show(self))
    end
    rawset(self, "requires_grad", flag)
    return self
end

-- self:backward([grad][, {retain_graph = true}]); grad defaults to 1 for one-element tensors.
function Tensor:backward(grad, opts)
    if opts == nil and type(grad) == "table" and not is_tensor(grad) then grad, opts = nil, grad end
    autograd.backward(self, grad, opts)
end

function Tensor:is_leaf() return rawget(self, "_node") == nil end

-- Keeps this non-leaf tensor's gradient in .grad during the next backward.
function Tensor:retain_grad()
    if not autograd.requires_grad(self) then
        raise("retain_grad: this tensor does not require grad, so it gets no gradient")
    end
    autograd.retain_grad(self)
    return self
end

-- A new tensor on the same storage, outside the graph (requires_grad false).
function Tensor:detach() return view_from_c(C.cc_tensor_alias, self._h) end

local ZERO_GRAD_OPTS = { { "set_to_none", "boolean" } }

-- Zeroes .grad in place (keeps the buffer); {set_to_none = true} drops it instead.
function Tensor:zero_grad(opts)
    opts = args.options("zero_grad", opts, ZERO_GRAD_OPTS)
    local g = rawget(self, "grad")
    if g ~= nil then
        if opts.set_to_none then
            rawset(self, "grad", nil)
        else
            check(C.cc_tensor_fill(g._h, 0))
        end
    end
    return self
end

-- The functional forms of the views and copies: cc.transpose(x, 1, 2), ...
for _, name in ipairs { "transpose", "t", "permute", "narrow", "select", "view", "reshape", "expand",
                        "unsqueeze", "squeeze", "contiguous", "clone" } do
    local method = Tensor[name]
    M[name] = function(x, ...)
        args.tensor(name, "x", x)
        return method(x, ...)
    end
end

------------------------------------------------------------------------------------------------
-- .npy files

function Tensor:save_npy(path)
    if type(path) ~= "string" then raise("save_npy: path: expected a string, got " .. show(path)) end
    check(C.cc_npy_save(self._h, path))
    return self
end

-- Reads a .npy file (f32 f64 f16 i32 i64, C or Fortran order) into a cpu tensor.
function M.load_npy(path)
    if type(path) ~= "string" then raise("load_npy: path: expected a string, got " .. show(path)) end
    return from_c(C.cc_npy_load, path)
end

function M.save_npy(t, path)
    if not is_tensor(t) then raise("save_npy: t: expected a causalconv.Tensor, got " .. show(t)) end
    return t:save_npy(path)
end

------------------------------------------------------------------------------------------------
-- library settings every op obeys

-- Seeds the Philox generator every random op draws from (cpu and cuda alike).
function M.manual_seed(seed)
    if type(seed) == "number" then
        if seed < 0 or seed ~= floor(seed) or seed >= 2 ^ 64 then
            raise("manual_seed: seed: expected a non-negative integer, got " .. show(seed))
        end
    elseif not (ffi.istype("uint64_t", seed) or (ffi.istype("int64_t", seed) and seed >= 0)) then
        raise("manual_seed: seed: expected a non-negative integer, got " .. show(seed))
    end
    C.cc_manual_seed(seed)
end

-- The last seed set (a Lua number when it fits exactly, else uint64 cdata).
function M.initial_seed()
    local s = C.cc_initial_seed()
    if s < 2 ^ 53 then return tonumber(s) end
    return s
end

function M.set_num_threads(n)
    args.integer("set_num_threads", "n", n, 1, 1024)
    check(C.cc_set_num_threads(n))
end

function M.get_num_threads() return C.cc_get_num_threads() end

-- On: cpu ops run the plain scalar reference kernels (the test oracle).
function M.set_reference_kernels(on)
    if type(on) ~= "boolean" then raise("set_reference_kernels: on: expected a boolean, got " .. show(on)) end
    C.cc_set_reference_kernels(on and 1 or 0)
end
function M.get_reference_kernels() return C.cc_get_reference_kernels() ~= 0 end

return M
