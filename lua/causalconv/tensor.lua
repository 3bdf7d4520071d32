-- cc.Tensor: the user-facing tensor, a Lua table {_h = cdata cc_tensor* owned through ffi.gc}.
-- Room is left on the table for Lua-side fields (requires_grad, grad, the autograd node, ...).
--
-- Indexing rule (written once, here): dims and positions are 1-based, negative ones count from
-- the end (-1 = last). dim0/pos0 below are the only places that turn them into C's 0-based ones.
--
-- Helpers for the other modules (ops.lua, conv.lua, autograd.lua, ...), so every module
-- validates and reports the same way:
--   x:_dim(d, argname, fname [, ndim])   -> 0-based dim; raises "fname: argname d out of range
--                                           for a 3-d tensor (expected 1..3 or -3..-1)".
--                                           ndim overrides x:dim() (unsqueeze takes ndim+1).
--   x:_pos(dim0, p, argname, fname)       -> 0-based position along 0-based dim dim0.
--   x:_version()                          -> the storage's write counter (a Lua number).
--   cc._raise(msg)                        -> error blaming the user's line (see ffi.lua).
--   cc._check(status)                     -> raise cc_last_error() when status ~= CC_OK.
--   cc._parse_sizes(fname, ...)           -> sizes (table), opts: sizes given as varargs or
--                                           one table, an options table may follow.
--   cc._options(opts, fname)              -> dtype code, device code, device index
--                                           (defaults f32, cpu, 0); rejects unknown keys.
--   cc._dtype(name, fname) / cc._device(name, fname) -> C codes; cc._dtype_name(code).
--   cc._is_float(code)                    -> true for f32/f64/f16/bf16.
--   cc._show(v)                           -> a short description of any value for messages.
--   cc._new_storage(cfn, ...)             -> cfn(out, ...) for a C function that allocates a
--                                           new storage; counts its bytes for the pull-style GC
--                                           and retries once after a collection on CC_ERR_MEMORY.
--   cc._new_view(cfn, ...)                -> cfn(out, ...) for a C function that makes a view.
--   cc.Tensor.wrap(h)                     -> takes ownership of a new cc_tensor* handle.
--   cc.Tensor.mt                          -> the metatable of every tensor.
--   cc.is_tensor(v)
-- Every method that can fail validates its arguments here first, so the messages name the
-- Lua-side argument with 1-based numbers; the C checks stay as the second line of defence.
local F = require "causalconv.ffi"
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise

local floor, huge = math.floor, math.huge
local fmt = string.format
local concat = table.concat

local DTYPE_CODE = {
    f32 = 0, f64 = 1, f16 = 2, bf16 = 3, i32 = 4, i64 = 5,
    float32 = 0, float = 0, float64 = 1, double = 1, float16 = 2, half = 2,
    bfloat16 = 3, int32 = 4, int = 4, int64 = 5, long = 5,
}
local DTYPE_NAME = { [0] = "f32", "f64", "f16", "bf16", "i32", "i64" }
local DTYPE_BYTES = { [0] = 4, 8, 2, 2, 4, 8 }
local CC_F64, CC_I32, CC_I64 = 1, 4, 5
local CC_CPU, CC_CUDA = 0, 1
local function is_int_dtype(code) return code == CC_I32 or code == CC_I64 end

local SUMMARY_THRESHOLD = 1000   -- more elements than this print summarised
local EDGE = 3                   -- elements shown at each end of a summarised dim
local LINE_WIDTH = 80
local GC_STEP_BYTES = 256 * 2 ^ 20

return function(cc)
    local Tensor = {}
    local mt = {}
    Tensor.mt = mt

    local function is_tensor(v) return getmetatable(v) == mt end

    -- A short description of any value, for error messages.
    local function show(v)
        local tv = type(v)
        if tv == "string" then return fmt("%q", v) end
        if tv == "number" then
            local s = fmt("%.14g", v)
            if tonumber(s) ~= v then s = fmt("%.17g", v) end
            return s
        end
        if is_tensor(v) then
            local h = v._h
            local s = {}
            for i = 0, h.ndim - 1 do s[#s + 1] = tostring(tonumber(h.shape[i])) end
            return fmt("a tensor (%s) %s %s", concat(s, ", "), DTYPE_NAME[h.dtype], v:device())
        end
        if tv == "nil" then return "nil" end
        return "a " .. tv
    end

    local function shape_str(sizes, sep)
        local s = {}
        for i = 1, #sizes do s[i] = tostring(sizes[i]) end
        return "(" .. concat(s, sep or ", ") .. ")"
    end

    ------------------------------------------------------------------------------------------
    -- argument parsing

    local function is_integer(v) return type(v) == "number" and v == floor(v) and v > -huge and v < huge end

    local function parse_dtype(v, fname)
        local code = type(v) == "string" and DTYPE_CODE[v]
        if not code then
            raise(fmt('%s: dtype: expected one of "f32", "f64", "f16", "bf16", "i32", "i64", got %s', fname, show(v)))
        end
        return code
    end

    local function parse_device(v, fname)
        if v == "cpu" then return CC_CPU, 0 end
        if v == "cuda" then return CC_CUDA, 0 end
        local idx = type(v) == "string" and v:match("^cuda:(%d+)$")
        if idx then return CC_CUDA, tonumber(idx) end
        raise(fmt('%s: device: expected "cpu", "cuda" or "cuda:N", got %s', fname, show(v)))
    end

    local OPTION_KEYS = { dtype = true, device = true, requires_grad = true }

    local function parse_options(opts, fname)
        local dtype, dev, idx = 0, CC_CPU, 0
        if opts == nil then return dtype, dev, idx end
        if type(opts) ~= "table" or is_tensor(opts) then
            raise(fmt("%s: options: expected a table like {dtype = \"f32\", device = \"cpu\"}, got %s", fname, show(opts)))
        end
        for k in pairs(opts) do
            if not OPTION_KEYS[k] then
                raise(fmt("%s: options: unknown key %s (expected dtype, device or requires_grad)", fname, show(k)))
            end
        end
        if opts.dtype ~= nil then dtype = parse_dtype(opts.dtype, fname) end
        if opts.device ~= nil then dev, idx = parse_device(opts.device, fname) end
        return dtype, dev, idx
    end

    -- sizes as varargs (2, 3, 4) or one table ({2, 3, 4}), then an optional options table.
    -- allow_infer: -1 is accepted (view/reshape infer it, expand keeps the size).
    local function parse_sizes(fname, allow_infer, ...)
        local n = select("#", ...)
        local first = ...
        local sizes, opts = {}, nil
        if type(first) == "table" and not is_tensor(first) then
            if n > 2 then
                raise(fmt("%s: after the table of sizes only an options table may follow, got %d more arguments", fname, n - 1))
            end
            for i = 1, #first do sizes[i] = first[i] end
            opts = select(2, ...)
        else
            for i = 1, n do
                local v = select(i, ...)
                if type(v) == "table" and i == n and not is_tensor(v) then
                    opts = v
                else
                    sizes[#sizes + 1] = v
                end
            end
        end
        if #sizes > 8 then raise(fmt("%s: at most 8 dims are supported, got %d sizes", fname, #sizes)) end
        for i = 1, #sizes do
            local v = sizes[i]
            if type(v) == "cdata" then v = tonumber(v); sizes[i] = v end
            if not is_integer(v) or v < (allow_infer and -1 or 0) then
                raise(fmt("%s: size %d: expected a non-negative integer%s, got %s", fname, i,
                          allow_infer and " (or -1)" or "", show(v)))
            end
        end
        return sizes, opts
    end

    -- 1-based (or negative) dim -> 0-based, for a tensor of ndim dims.
    local function dim0(self, d, argname, fname, ndim)
        ndim = ndim or self._h.ndim
        if not is_integer(d) then
            raise(fmt("%s: %s: expected an integer dim, got %s", fname, argname, show(d)))
        end
        if d >= 1 and d <= ndim then return d - 1 end
        if d <= -1 and d >= -ndim then return ndim + d end
        if ndim == 0 then
            raise(fmt("%s: %s %d out of range for a 0-d tensor (it has no dims)", fname, argname, d))
        end
        raise(fmt("%s: %s %d out of range for a %d-d tensor (expected 1..%d or -%d..-1%s)", fname, argname, d,
                  ndim, ndim, ndim, d == 0 and "; dims are 1-based" or ""))
    end

    -- 1-based (or negative) position along 0-based dim d -> 0-based.
    local function pos0(self, d, p, argname, fname)
        local size = tonumber(self._h.shape[d])
        if not is_integer(p) then
            raise(fmt("%s: %s: expected an integer position, got %s", fname, argname, show(p)))
        end
        if p >= 1 and p <= size then return p - 1 end
        if p <= -1 and p >= -size then return size + p end
        if size == 0 then
            raise(fmt("%s: %s %d out of range: dim %d has size 0", fname, argname, p, d + 1))
        end
        raise(fmt("%s: %s %d out of range for dim %d of size %d (expected 1..%d or -%d..-1%s)", fname, argname, p,
                  d + 1, size, size, size, p == 0 and "; positions are 1-based" or ""))
    end

    ------------------------------------------------------------------------------------------
    -- handles

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
    -- collection so dropped tensors give their memory back (pull-style, as THAlloc did).
    local pending_bytes = 0
    local function note_alloc(h)
        pending_bytes = pending_bytes + tonumber(C.cc_tensor_numel(h)) * DTYPE_BYTES[h.dtype]
        if pending_bytes > GC_STEP_BYTES then
            pending_bytes = 0
            collectgarbage("collect")
        end
    end

    -- Runs fn(pout, ...) for a C function that allocates storage; on out-of-memory it collects
    -- garbage and tries once more.
    local function new_storage(fn, ...)
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

    local function new_view(fn, ...)
        check(fn(pout, ...))
        return wrap(pout[0])
    end

    local function empty(sizes, dtype, dev, idx)
        for i = 1, #sizes do shape_buf[i - 1] = sizes[i] end
        return new_storage(C.cc_tensor_empty, #sizes, shape_buf, dtype, dev, idx)
    end

    local function bump(self) C.cc_tensor_bump_version(self._h) end

    local function set_requires_grad(t, opts)
        if opts and opts.requires_grad then
            if t.requires_grad_ then t:requires_grad_(true) else t.requires_grad = true end
        end
        return t
    end

    ------------------------------------------------------------------------------------------
    -- constructors

    function cc.empty(...)
        local sizes, opts = parse_sizes("empty", false, ...)
        return set_requires_grad(empty(sizes, parse_options(opts, "empty")), opts)
    end

    local function filled(fname, value, ...)
        local sizes, opts = parse_sizes(fname, false, ...)
        local t = empty(sizes, parse_options(opts, fname))
        check(C.cc_tensor_fill(t._h, value))
        return set_requires_grad(t, opts)
    end

    function cc.zeros(...) return filled("zeros", 0, ...) end
    function cc.ones(...) return filled("ones", 1, ...) end

    -- cc.full({2, 3}, 7.5[, opts]) or cc.full(5, 7.5[, opts]) for a 1-d tensor.
    function cc.full(sizes, value, opts)
        if type(sizes) == "number" then sizes = { sizes } end
        if type(sizes) ~= "table" or is_tensor(sizes) then
            raise("full: sizes: expected a table of sizes like {2, 3} (usage: cc.full({2, 3}, 7.5[, {dtype=, device=}])), got " .. show(sizes))
        end
        if type(value) ~= "number" then
            raise("full: value: expected a number (usage: cc.full({2, 3}, 7.5[, {dtype=, device=}])), got " .. show(value))
        end
        return filled("full", value, sizes, opts)
    end

    local function random(fname, cfn, a, b, ...)
        local sizes, opts = parse_sizes(fname, false, ...)
        local dtype, dev, idx = parse_options(opts, fname)
        if is_int_dtype(dtype) then
            raise(fmt("%s: dtype: expected a floating dtype (f32, f64, f16, bf16), got %s", fname, DTYPE_NAME[dtype]))
        end
        local t = empty(sizes, dtype, dev, idx)
        check(cfn(t._h, a, b))
        return set_requires_grad(t, opts)
    end

    function cc.rand(...) return random("rand", C.cc_tensor_rand, 0, 1, ...) end
    function cc.randn(...) return random("randn", C.cc_tensor_randn, 0, 1, ...) end

    -- cc.arange(n), cc.arange(start, stop[, step]): stop excluded, as in PyTorch; default f32.
    function cc.arange(...)
        local nums, opts = {}, nil
        local n = select("#", ...)
        for i = 1, n do
            local v = select(i, ...)
            if type(v) == "table" and i == n then opts = v
            elseif type(v) == "number" then nums[#nums + 1] = v
            else raise(fmt("arange: argument %d: expected a number, got %s (usage: cc.arange(n) or cc.arange(start, stop[, step])[, opts])", i, show(v))) end
        end
        local start, stop, step
        if #nums == 1 then start, stop, step = 0, nums[1], 1
        elseif #nums == 2 or #nums == 3 then start, stop, step = nums[1], nums[2], nums[3] or 1
        else raise(fmt("arange: expected 1 to 3 numbers (n, or start, stop[, step]), got %d", #nums)) end
        if step == 0 or step ~= step then raise("arange: step: expected a non-zero number, got " .. show(step)) end
        local len = math.ceil((stop - start) / step)
        if len ~= len or len == huge then raise(fmt("arange: (stop - start) / step is not finite for start %s, stop %s, step %s", show(start), show(stop), show(step))) end
        if len < 0 then len = 0 end
        local t = empty({ len }, parse_options(opts, "arange"))
        check(C.cc_tensor_arange(t._h, start, step))
        return set_requires_grad(t, opts)
    end

    -- cc.tensor(nested tables or a number[, opts]): shape from the nesting; default f32.
    function cc.tensor(data, opts)
        local dtype, dev, idx = parse_options(opts, "tensor")
        if is_tensor(data) then
            local o = { dtype = opts and opts.dtype or data:dtype(), device = opts and opts.device or data:device() }
            local t = data:to(o)
            if t == data then t = data:clone() end
            return set_requires_grad(t, opts)
        end
        if type(data) ~= "number" and type(data) ~= "table" then
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
        local stage = empty(shape, int and CC_I64 or CC_F64, CC_CPU, 0)
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
                if type(x) == "cdata" then x = tonumber(x) end
                if type(x) ~= "number" then
                    raise(fmt("tensor: %s is %s, expected a number", where(path), show(node)))
                end
                if int then
                    if not is_integer(x) then
                        raise(fmt("tensor: %s = %s is not an integer (dtype %s)", where(path), show(x), DTYPE_NAME[dtype]))
                    end
                    if dtype == CC_I32 and (x < -2 ^ 31 or x >= 2 ^ 31) then
                        raise(fmt("tensor: %s = %s is out of range for i32", where(path), show(x)))
                    end
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
        if dtype ~= stage._h.dtype or dev ~= CC_CPU then
            t = new_storage(C.cc_tensor_to, stage._h, dtype, dev, idx)
        end
        return set_requires_grad(t, opts)
    end

    local function like(fname, x, opts)
        if not is_tensor(x) then raise(fmt("%s: x: expected a causalconv.Tensor, got %s", fname, show(x))) end
        local o = { dtype = x:dtype(), device = x:device() }
        if opts ~= nil then
            if type(opts) ~= "table" then raise(fmt("%s: options: expected a table, got %s", fname, show(opts))) end
            for k, v in pairs(opts) do o[k] = v end
        end
        return x:size(), o
    end
    function cc.empty_like(x, opts) local s, o = like("empty_like", x, opts); return cc.empty(s, o) end
    function cc.zeros_like(x, opts) local s, o = like("zeros_like", x, opts); return cc.zeros(s, o) end
    function cc.ones_like(x, opts) local s, o = like("ones_like", x, opts); return cc.ones(s, o) end
    function cc.rand_like(x, opts) local s, o = like("rand_like", x, opts); return cc.rand(s, o) end
    function cc.randn_like(x, opts) local s, o = like("randn_like", x, opts); return cc.randn(s, o) end
    function cc.full_like(x, value, opts) local s, o = like("full_like", x, opts); return cc.full(s, value, o) end

    ------------------------------------------------------------------------------------------
    -- metadata

    function Tensor:dim() return self._h.ndim end

    function Tensor:size(d)
        local h = self._h
        if d == nil then
            local s = {}
            for i = 1, h.ndim do s[i] = tonumber(h.shape[i - 1]) end
            return s
        end
        return tonumber(h.shape[dim0(self, d, "dim", "size")])
    end
    Tensor.shape = Tensor.size

    function Tensor:stride(d)
        local h = self._h
        if d == nil then
            local s = {}
            for i = 1, h.ndim do s[i] = tonumber(h.stride[i - 1]) end
            return s
        end
        return tonumber(h.stride[dim0(self, d, "dim", "stride")])
    end

    function Tensor:numel() return tonumber(C.cc_tensor_numel(self._h)) end
    function Tensor:dtype() return DTYPE_NAME[self._h.dtype] end
    function Tensor:element_size() return DTYPE_BYTES[self._h.dtype] end
    function Tensor:device()
        local h = self._h
        if h.device == CC_CPU then return "cpu" end
        return "cuda:" .. h.device_index
    end
    function Tensor:is_cuda() return self._h.device == CC_CUDA end
    function Tensor:is_contiguous() return C.cc_tensor_is_contiguous(self._h) ~= 0 end
    function Tensor:is_floating_point() return not is_int_dtype(self._h.dtype) end
    function Tensor:same_storage(other)
        if not is_tensor(other) then raise("same_storage: other: expected a causalconv.Tensor, got " .. show(other)) end
        return C.cc_tensor_same_storage(self._h, other._h) ~= 0
    end
    function Tensor:data_ptr() return C.cc_tensor_data(self._h) end
    function Tensor:_version() return tonumber(C.cc_tensor_version(self._h)) end
    Tensor._dim = dim0
    Tensor._pos = pos0

    ------------------------------------------------------------------------------------------
    -- views

    function Tensor:transpose(d1, d2)
        local a = dim0(self, d1, "dim1", "transpose")
        local b = dim0(self, d2, "dim2", "transpose")
        return new_view(C.cc_tensor_transpose, self._h, a, b)
    end

    function Tensor:t()
        local n = self._h.ndim
        if n ~= 2 then
            raise(fmt("t: expected a 2-d tensor, got a %d-d tensor (use transpose(dim1, dim2))", n))
        end
        return new_view(C.cc_tensor_transpose, self._h, 0, 1)
    end

    function Tensor:permute(...)
        local dims = ...
        if type(dims) ~= "table" then dims = { ... } end
        local n = self._h.ndim
        if #dims ~= n then
            raise(fmt("permute: expected %d dims (one per dim of the %d-d tensor), got %d", n, n, #dims))
        end
        local seen = {}
        for i = 1, n do
            local c = dim0(self, dims[i], "dim", "permute")
            if seen[c] then
                raise(fmt("permute: dims %s name dim %d twice (expected a permutation of 1..%d)", shape_str(dims), c + 1, n))
            end
            seen[c] = true
            int_buf[i - 1] = c
        end
        return new_view(C.cc_tensor_permute, self._h, n, int_buf)
    end

    function Tensor:narrow(dim, start, length)
        local d = dim0(self, dim, "dim", "narrow")
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
        return new_view(C.cc_tensor_narrow, self._h, d, s - 1, length)
    end

    function Tensor:select(dim, index)
        local d = dim0(self, dim, "dim", "select")
        return new_view(C.cc_tensor_select, self._h, d, pos0(self, d, index, "index", "select"))
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
        local sizes = parse_sizes("view", true, ...)
        check_view_shape(self, "view", sizes)
        return new_view(C.cc_tensor_view, self._h, #sizes, shape_buf)
    end

    -- A view when the strides allow one, else a contiguous copy viewed.
    function Tensor:reshape(...)
        local sizes = parse_sizes("reshape", true, ...)
        check_view_shape(self, "reshape", sizes)
        if C.cc_tensor_view(pout, self._h, #sizes, shape_buf) == 0 then return wrap(pout[0]) end
        C.cc_clear_error()
        local c = self:contiguous()
        check_view_shape(c, "reshape", sizes)
        return new_view(C.cc_tensor_view, c._h, #sizes, shape_buf)
    end

    function Tensor:expand(...)
        local sizes = parse_sizes("expand", true, ...)
        local have = self:size()
        local n, m = #sizes, #have
        if n < m then
            raise(fmt("expand: expected at least %d sizes for a %d-d tensor, got %d", m, m, n))
        end
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
            shape_buf[i - 1] = sizes[i]
        end
        return new_view(C.cc_tensor_expand, self._h, n, shape_buf)
    end

    function Tensor:expand_as(other)
        if not is_tensor(other) then raise("expand_as: other: expected a causalconv.Tensor, got " .. show(other)) end
        return self:expand(other:size())
    end

    function Tensor:unsqueeze(dim)
        local n = self._h.ndim
        if n >= 8 then raise("unsqueeze: the tensor already has the maximum of 8 dims") end
        return new_view(C.cc_tensor_unsqueeze, self._h, dim0(self, dim, "dim", "unsqueeze", n + 1))
    end

    -- squeeze() drops every size-1 dim; squeeze(d) drops dim d when its size is 1 (else no change).
    function Tensor:squeeze(dim)
        local d = -1
        if dim ~= nil then d = dim0(self, dim, "dim", "squeeze") end
        return new_view(C.cc_tensor_squeeze, self._h, d)
    end

    ------------------------------------------------------------------------------------------
    -- copies and conversions

    function Tensor:contiguous()
        if C.cc_tensor_is_contiguous(self._h) ~= 0 then return self end
        return new_storage(C.cc_tensor_contiguous, self._h)
    end

    function Tensor:clone() return new_storage(C.cc_tensor_clone, self._h) end

    local function parse_to(self, a, fname)
        local h = self._h
        local dtype, dev, idx = h.dtype, h.device, h.device_index
        if type(a) == "string" then
            if DTYPE_CODE[a] then
                dtype = DTYPE_CODE[a]
            elseif a == "cpu" or a == "cuda" or a:match("^cuda:%d+$") then
                dev, idx = parse_device(a, fname)
            else
                raise(fmt('%s: expected a dtype ("f32", "f64", "f16", "bf16", "i32", "i64"), a device ("cpu", "cuda", "cuda:N") or {dtype=, device=}, got %s', fname, show(a)))
            end
        elseif type(a) == "table" and not is_tensor(a) then
            for k in pairs(a) do
                if k ~= "dtype" and k ~= "device" then
                    raise(fmt("%s: options: unknown key %s (expected dtype or device)", fname, show(k)))
                end
            end
            if a.dtype ~= nil then dtype = parse_dtype(a.dtype, fname) end
            if a.device ~= nil then dev, idx = parse_device(a.device, fname) end
        else
            raise(fmt('%s: expected a dtype ("f32", ...), a device ("cpu", "cuda") or {dtype=, device=}, got %s', fname, show(a)))
        end
        return dtype, dev, idx
    end

    -- x:to("f64"), x:to("cuda"), x:to({dtype = "bf16", device = "cpu"}); returns x itself when
    -- nothing changes, a new tensor otherwise.
    function Tensor:to(a)
        local dtype, dev, idx = parse_to(self, a, "to")
        local h = self._h
        if dtype == h.dtype and dev == h.device and idx == h.device_index then return self end
        return new_storage(C.cc_tensor_to, h, dtype, dev, idx)
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
        if not is_tensor(src) then
            raise("copy_: src: expected a causalconv.Tensor, got " .. show(src) .. (type(src) == "number" and " (use fill_ for a number)" or ""))
        end
        local want, have = self:size(), src:size()
        local same = #want == #have
        if same then for i = 1, #want do if want[i] ~= have[i] then same = false end end end
        if not same then
            if not broadcasts(have, want) then
                raise(fmt("copy_: src of size %s does not broadcast to the destination's size %s", shape_str(have), shape_str(want)))
            end
            src = src:expand(want)
        end
        check(C.cc_tensor_copy(self._h, src._h))
        bump(self)
        return self
    end

    function Tensor:fill_(value)
        if type(value) ~= "number" then raise("fill_: value: expected a number, got " .. show(value)) end
        check(C.cc_tensor_fill(self._h, value))
        bump(self)
        return self
    end

    function Tensor:zero_() return self:fill_(0) end

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
        local want = is_int_dtype(h.dtype) and CC_I64 or CC_F64
        if h.device == CC_CPU and h.dtype == want and C.cc_tensor_is_contiguous(h) ~= 0 then return self end
        return new_storage(C.cc_tensor_to, h, want, CC_CPU, 0):contiguous()
    end

    local function int_value(v)   -- int64 cdata -> number when exact, else the cdata
        if v >= -9007199254740992LL and v <= 9007199254740992LL then return tonumber(v) end
        return v
    end

    -- Nested Lua tables of numbers (a number for a 0-d tensor).
    function Tensor:totable()
        local host = host_copy(self)
        local h = host._h
        local int = h.dtype == CC_I64
        local p = ffi.cast(int and "int64_t*" or "double*", C.cc_tensor_data(h))
        local n = h.ndim
        local sizes = host:size()
        local k = 0
        local function build(level)
            local t = {}
            if level == n then
                for i = 1, sizes[level] do
                    t[i] = int and int_value(p[k]) or p[k]
                    k = k + 1
                end
            else
                for i = 1, sizes[level] do t[i] = build(level + 1) end
            end
            return t
        end
        local result
        if n == 0 then result = int and int_value(p[0]) or p[0] else result = build(1) end
        if host._h == nil then error("unreachable") end   -- keeps host (and p's memory) alive to here
        return result
    end

    function Tensor:save_npy(path)
        if type(path) ~= "string" then raise("save_npy: path: expected a string, got " .. show(path)) end
        check(C.cc_npy_save(self._h, path))
        return self
    end

    ------------------------------------------------------------------------------------------
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
        for i = 1, n do index_buf[i - 1] = pos0(self, i - 1, idx[i], "index", where) end
    end

    local function set_element(self, v, where)
        if type(v) ~= "number" then raise(fmt("%s = v: expected a number, got %s", where, show(v))) end
        check(C.cc_tensor_set(self._h, index_buf, v))
        bump(self)
    end

    mt.__index = function(self, k)
        local m = Tensor[k]
        if m ~= nil then return m end
        local tk = type(k)
        if tk == "table" then
            load_index(self, k)
            return get_at(self)
        elseif tk == "number" then
            local n = self._h.ndim
            if n == 1 then
                index_buf[0] = pos0(self, 0, k, "index", fmt("x[%s]", show(k)))
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
                index_buf[0] = pos0(self, 0, k, "index", fmt("x[%s]", show(k)))
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

    ------------------------------------------------------------------------------------------
    -- printing

    local function num_str(v, int, style)
        if int then return tostring(int_value(v)):gsub("LL$", "") end
        if v ~= v then return "nan" end
        if v == huge then return "inf" end
        if v == -huge then return "-inf" end
        return fmt(style, v)
    end

    -- One format for the whole tensor, chosen from the values shown.
    local function choose_style(p, count, int)
        if int then return nil end
        local amax, amin, all_int = 0, huge, true
        for i = 0, count - 1 do
            local v = p[i]
            if v == v and v ~= huge and v ~= -huge then
                local a = math.abs(v)
                if a > amax then amax = a end
                if a > 0 and a < amin then amin = a end
                if v ~= floor(v) then all_int = false end
            end
        end
        if all_int and amax < 1e9 then return "%.0f" end
        if amax >= 1e5 or amin < 1e-4 then return "%.4e" end
        return "%.4f"
    end

    -- Copies the shown part of x (all of it, or the first/last EDGE along every long dim when
    -- summarising) into a contiguous host tensor. Returns it and, per dim, the cut flags.
    local function shown_part(self)
        local sizes = self:size()
        local summarise = self:numel() > SUMMARY_THRESHOLD
        local cut = {}
        if not summarise then return host_copy(self), cut end
        local shown = {}
        local cut_dims = {}
        for d = 1, #sizes do
            if sizes[d] > 2 * EDGE then
                cut[d] = true
                shown[d] = 2 * EDGE
                cut_dims[#cut_dims + 1] = d
            else
                shown[d] = sizes[d]
            end
        end
        local want = is_int_dtype(self._h.dtype) and CC_I64 or CC_F64
        local dst = empty(shown, want, CC_CPU, 0)
        for combo = 0, 2 ^ #cut_dims - 1 do
            local s, t = self, dst
            for j, d in ipairs(cut_dims) do
                if floor(combo / 2 ^ (j - 1)) % 2 == 0 then
                    s, t = s:narrow(d, 1, EDGE), t:narrow(d, 1, EDGE)
                else
                    s, t = s:narrow(d, sizes[d] - EDGE + 1, EDGE), t:narrow(d, EDGE + 1, EDGE)
                end
            end
            check(C.cc_tensor_copy(t._h, s._h))
        end
        return dst, cut
    end

    local function footer(self)
        local sizes = self:size()
        local s = #sizes == 0 and "()" or concat(sizes, "x")
        return fmt("[causalconv.Tensor %s %s of size %s]", self:dtype(), self:device(), s)
    end

    -- Original 1-based index of shown position j along a dim of size `size`.
    local function orig(j, size, is_cut)
        if is_cut and j > EDGE then return size - 2 * EDGE + j end
        return j
    end

    function mt.__tostring(self)
        local sizes = self:size()
        local n = #sizes
        if self:numel() == 0 then return footer(self) end
        local host, cut = shown_part(self)
        local h = host._h
        local int = h.dtype == CC_I64
        local p = ffi.cast(int and "int64_t*" or "double*", C.cc_tensor_data(h))
        local shown = host:size()
        local count = tonumber(C.cc_tensor_numel(h))
        local style = choose_style(p, count, int)
        local strs, width = {}, 0
        for i = 0, count - 1 do
            local s = num_str(p[i], int, style)
            strs[i] = s
            if #s > width then width = #s end
        end
        if host._h == nil then error("unreachable") end   -- keeps host alive while p is read
        local function cell(k) return string.rep(" ", width - #strs[k]) .. strs[k] end
        local ell = string.rep(" ", width - 3) .. "..."
        local out = {}
        if n == 0 then
            out[1] = strs[0]
        elseif n == 1 then
            local line = {}
            local per_line = math.max(1, floor((LINE_WIDTH + 1) / (width + 2)))
            local items = {}
            for j = 1, shown[1] do
                items[#items + 1] = cell(j - 1)
                if cut[1] and j == EDGE then items[#items + 1] = ell end
            end
            for i = 1, #items do
                line[#line + 1] = items[i]
                if #line == per_line or i == #items then
                    out[#out + 1] = " " .. concat(line, "  ")
                    line = {}
                end
            end
        else
            local rows, cols = shown[n - 1], shown[n]
            local ncols_all = cols + (cut[n] and 1 or 0)
            local per_chunk = math.max(1, floor((LINE_WIDTH + 1) / (width + 2)))
            local function matrix(base)   -- base: offset of the slice in host
                local col_items = {}
                for c = 1, cols do
                    col_items[#col_items + 1] = c
                    if cut[n] and c == EDGE then col_items[#col_items + 1] = false end
                end
                for c0 = 1, ncols_all, per_chunk do
                    local c1 = math.min(ncols_all, c0 + per_chunk - 1)
                    if ncols_all > per_chunk then
                        local first, last = col_items[c0], col_items[c1]
                        first = first or col_items[c0 + 1]
                        last = last or col_items[c1 - 1]
                        out[#out + 1] = fmt("Columns %d to %d", orig(first, sizes[n], cut[n]), orig(last, sizes[n], cut[n]))
                    end
                    for r = 1, rows do
                        local line = {}
                        for ci = c0, c1 do
                            local c = col_items[ci]
                            line[#line + 1] = c and cell(base + (r - 1) * cols + (c - 1)) or ell
                        end
                        out[#out + 1] = " " .. concat(line, "  ")
                        if cut[n - 1] and r == EDGE then out[#out + 1] = " " .. ell end
                    end
                    if c1 < ncols_all then out[#out + 1] = "" end
                end
            end
            if n == 2 then
                matrix(0)
            else
                -- every combination of the leading indices, last leading dim fastest
                local lead = {}
                for d = 1, n - 2 do lead[d] = 1 end
                local slice = rows * cols
                local k = 0
                while true do
                    local label = {}
                    for d = 1, n - 2 do label[d] = orig(lead[d], sizes[d], cut[d]) end
                    out[#out + 1] = "(" .. concat(label, ",") .. ",.,.) ="
                    matrix(k * slice)
                    k = k + 1
                    local d = n - 2
                    while d >= 1 do
                        if lead[d] < shown[d] then
                            if cut[d] and lead[d] == EDGE then out[#out + 1] = "" out[#out + 1] = "..." end
                            lead[d] = lead[d] + 1
                            break
                        end
                        lead[d] = 1
                        d = d - 1
                    end
                    if d < 1 then break end
                    out[#out + 1] = ""
                end
            end
        end
        out[#out + 1] = footer(self)
        return concat(out, "\n")
    end

    -- #x is x:size(1) where the Lua VM honours __len on tables (LuaJIT built with Lua 5.2
    -- compatibility); use x:size(1) in portable code.
    function mt.__len(self) return self:size(1) end

    -- Arithmetic goes to the ops module (cc.add, ...), looked up at call time so it may be
    -- loaded or reloaded after this one.
    local function arith(name, sym)
        return function(a, b)
            local f = cc[name]
            if not f then
                raise(fmt("tensor %s: cc.%s is not available (it comes from lua/causalconv/ops.lua)", sym, name))
            end
            return f(a, b)
        end
    end
    mt.__add = arith("add", "+")
    mt.__sub = arith("sub", "-")
    mt.__mul = arith("mul", "*")
    mt.__div = arith("div", "/")
    mt.__pow = arith("pow", "^")
    mt.__unm = arith("neg", "unary -")

    ------------------------------------------------------------------------------------------

    cc.Tensor = Tensor
    cc.is_tensor = is_tensor
    cc._raise = raise
    cc._check = check
    cc._show = show
    cc._parse_sizes = function(fname, ...) return parse_sizes(fname, false, ...) end
    cc._options = parse_options
    cc._dtype = parse_dtype
    cc._device = parse_device
    cc._dtype_name = function(code) return DTYPE_NAME[code] end
    cc._is_float = function(code) return not is_int_dtype(code) end
    cc._new_storage = new_storage
    cc._new_view = new_view
end
