-- Argument and option checking shared by every module of the binding (internal: not part of
-- `cc`). Every check raises through ffi.raise, so the error names the user's function and
-- argument ("causal_conv1d: weight: expected ...") and blames the user's line.
--
--   show(v)                                  a short description of any value, for messages
--   is_tensor(v), is_integer(v)
--   shape_of(t), shape_str(sizes), same_shape(a, b)
--   dtype codes and names, from the cdef'd enums (C.CC_F32, ...): DTYPE_CODE, DTYPE_NAME,
--       dtype_bytes(code), is_int_dtype(code), dtype(fname, v), device(fname, v)
--   tensor(fname, name, v), optional(fname, name, v [, hint]), float_tensor(fname, name, v)
--   bias_hint(fname, opts_pos)               the hint optional() adds for a table passed as bias
--   rank(fname, name, t, n, what)            t:dim() == n, "(B, D, L)" as what
--   same_device(fname, ref_name, ref, name, t), same_dtype(fname, ref_name, ref, name, t)
--   integer(fname, name, v [, lo [, hi]])    a finite integer Lua number in lo..hi
--   check_as(status, c_op, fname [, c_arg, arg])  ffi.check with C's op/argument names replaced
--   number(fname, name, v)
--   dim(fname, name, t, d [, ndim]) -> 0-based dim; pos(fname, name, t, dim0, p) -> 0-based position
--   sizes(fname, allow_infer, ...)  -> sizes, opts: sizes as varargs or one table, then options
--   options(fname, opts, spec [, argname]) -> opts (or {}): the one options checker. spec is an
--       ordered list of {key, kind}; kind is a name in KINDS below. Unknown keys and values of
--       the wrong kind are errors.
local F = require "causalconv.ffi"
local ffi, C, raise = F.ffi, F.C, F.raise

local floor, huge = math.floor, math.huge
local fmt = string.format
local concat = table.concat

local M = {}

------------------------------------------------------------------------------------------------
-- dtypes and devices (codes from the header's enums)

M.DTYPE_CODE = {
    f32 = C.CC_F32, f64 = C.CC_F64, f16 = C.CC_F16, bf16 = C.CC_BF16, i32 = C.CC_I32, i64 = C.CC_I64,
    float32 = C.CC_F32, float = C.CC_F32, float64 = C.CC_F64, double = C.CC_F64, float16 = C.CC_F16,
    half = C.CC_F16, bfloat16 = C.CC_BF16, int32 = C.CC_I32, int = C.CC_I32, int64 = C.CC_I64, long = C.CC_I64,
}
M.DTYPE_NAME = {
    [C.CC_F32] = "f32", [C.CC_F64] = "f64", [C.CC_F16] = "f16", [C.CC_BF16] = "bf16",
    [C.CC_I32] = "i32", [C.CC_I64] = "i64",
}
local DTYPE_BYTES = {}
for code in pairs(M.DTYPE_NAME) do DTYPE_BYTES[code] = tonumber(C.cc_dtype_size(code)) end

function M.dtype_bytes(code) return DTYPE_BYTES[code] end
function M.is_int_dtype(code) return code == C.CC_I32 or code == C.CC_I64 end
function M.is_float_dtype(code) return not M.is_int_dtype(code) end

local DTYPE_LIST = '"f32", "f64", "f16", "bf16", "i32", "i64"'
local DEVICE_LIST = '"cpu", "cuda" or "cuda:N"'

local function device_code(v)
    if v == "cpu" then return C.CC_CPU, 0 end
    if v == "cuda" then return C.CC_CUDA, 0 end
    local idx = type(v) == "string" and v:match("^cuda:(%d+)$")
    if idx then return C.CC_CUDA, tonumber(idx) end
    return nil
end

function M.dtype(fname, v)
    local code = type(v) == "string" and M.DTYPE_CODE[v]
    if not code then raise(fmt("%s: dtype: expected one of %s, got %s", fname, DTYPE_LIST, M.show(v))) end
    return code
end

-- -> device code, device index
function M.device(fname, v)
    local code, idx = device_code(v)
    if not code then raise(fmt("%s: device: expected %s, got %s", fname, DEVICE_LIST, M.show(v))) end
    return code, idx
end

function M.device_name(h)
    if h.device == C.CC_CPU then return "cpu" end
    return "cuda:" .. tonumber(h.device_index)
end

------------------------------------------------------------------------------------------------
-- values

-- The Tensor metatable, looked up when first needed (tensor.lua requires this module).
local tensor_mt
function M.is_tensor(v)
    if tensor_mt == nil then tensor_mt = require("causalconv.tensor").Tensor.mt end
    return getmetatable(v) == tensor_mt
end
local is_tensor = M.is_tensor

function M.is_integer(v)
    return type(v) == "number" and v == floor(v) and v > -huge and v < huge
end
local is_integer = M.is_integer

function M.shape_of(t)
    local h = t._h
    local s = {}
    for i = 0, h.ndim - 1 do s[i + 1] = tonumber(h.shape[i]) end
    return s
end

function M.shape_str(sizes, sep)
    local s = {}
    for i = 1, #sizes do
        local v = sizes[i]
        s[i] = is_integer(v) and math.abs(v) < 2 ^ 64 and fmt("%.0f", v) or tostring(v)
    end
    return "(" .. concat(s, sep or ", ") .. ")"
end

function M.same_shape(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
end

-- A short description of any value, for error messages.
function M.show(v)
    local tv = type(v)
    if tv == "string" then return fmt("%q", v) end
    if tv == "number" then
        if v ~= v then return "nan" end
        local s = fmt("%.14g", v)
        if tonumber(s) ~= v then s = fmt("%.17g", v) end
        return s
    end
    if is_tensor(v) then
        local h = v._h
        local s = {}
        for i = 0, h.ndim - 1 do s[#s + 1] = tostring(tonumber(h.shape[i])) end
        return fmt("a tensor (%s) %s %s", concat(s, ", "), M.DTYPE_NAME[h.dtype], M.device_name(h))
    end
    if tv == "cdata" then return tostring(v) end
    if tv == "nil" then return "nil" end
    if tv == "boolean" then return tostring(v) end
    return "a " .. tv
end
local show = M.show

------------------------------------------------------------------------------------------------
-- tensor arguments

function M.tensor(fname, name, v)
    if not is_tensor(v) then raise(fmt("%s: %s: expected a causalconv.Tensor, got %s", fname, name, show(v))) end
    return v
end

-- A tensor or nil. hint (optional) is added in parentheses when v is a plain table, e.g. an
-- options table passed where a positional bias goes: see M.bias_hint.
function M.optional(fname, name, v, hint)
    if v == nil or is_tensor(v) then return v end
    raise(fmt("%s: %s: expected a causalconv.Tensor or nil, got %s%s", fname, name, show(v),
              hint and type(v) == "table" and " (" .. hint .. ")" or ""))
end

-- The hint for a positional bias: opts_pos is the position of the options table that follows
-- it (nil when the function takes none).
local ORDINAL = { "1st", "2nd", "3rd", "4th", "5th", "6th", "7th" }
function M.bias_hint(fname, opts_pos)
    if opts_pos == nil then return "pass nil for no bias; " .. fname .. " takes no options" end
    return "pass nil for no bias; options go " .. ORDINAL[opts_pos]
end

function M.float_tensor(fname, name, v)
    M.tensor(fname, name, v)
    if M.is_int_dtype(v._h.dtype) then
        raise(fmt("%s: %s: expected a float tensor (f32, f64, f16, bf16), got %s", fname, name, show(v)))
    end
    return v
end

function M.rank(fname, name, t, n, what)
    if t._h.ndim ~= n then
        raise(fmt("%s: %s: expected %d dims %s, got %s", fname, name, n, what, show(t)))
    end
end

-- t must live where ref does (checked here, before any output is allocated on ref's device).
function M.same_device(fname, ref_name, ref, name, t)
    local a, b = ref._h, t._h
    if a.device ~= b.device or a.device_index ~= b.device_index then
        raise(fmt("%s: %s: expected a tensor on %s (the device of %s; all tensors must be on one device), got %s",
                  fname, name, M.device_name(a), ref_name, show(t)))
    end
end

function M.same_dtype(fname, ref_name, ref, name, t)
    if ref._h.dtype ~= t._h.dtype then
        raise(fmt("%s: %s: expected dtype %s (the dtype of %s), got %s", fname, name, M.DTYPE_NAME[ref._h.dtype],
                  ref_name, show(t)))
    end
end

------------------------------------------------------------------------------------------------
-- numbers

-- A finite integer in lo..hi (defaults: any integer a double holds exactly, |v| <= 2^53).
function M.integer(fname, name, v, lo, hi)
    lo, hi = lo or -2 ^ 53, hi or 2 ^ 53
    if not is_integer(v) or v < lo or v > hi then
        local want
        if lo == 0 and hi == 2 ^ 53 then want = "a non-negative integer"
        elseif lo == 1 and hi == 2 ^ 53 then want = "a positive integer"
        elseif hi == 2 ^ 53 and lo == -2 ^ 53 then want = "an integer"
        else want = fmt("an integer from %s to %s", show(lo), show(hi)) end
        raise(fmt("%s: %s: expected %s, got %s", fname, name, want, show(v)))
    end
    return v
end

function M.number(fname, name, v)
    if type(v) ~= "number" then raise(fmt("%s: %s: expected a number, got %s", fname, name, show(v))) end
    return v
end

------------------------------------------------------------------------------------------------
-- dims, positions, sizes

-- 1-based (or negative) dim of t -> 0-based; ndim overrides t:dim() (unsqueeze takes ndim+1).
function M.dim(fname, name, t, d, ndim)
    ndim = ndim or t._h.ndim
    if not is_integer(d) then
        raise(fmt("%s: %s: expected an integer dim, got %s", fname, name, show(d)))
    end
    if d >= 1 and d <= ndim then return d - 1 end
    if d <= -1 and d >= -ndim then return ndim + d end
    if ndim == 0 then
        raise(fmt("%s: %s %d out of range for a 0-d tensor (it has no dims)", fname, name, d))
    end
    raise(fmt("%s: %s %d out of range for a %d-d tensor (expected 1..%d or -%d..-1%s)", fname, name, d,
              ndim, ndim, ndim, d == 0 and "; dims are 1-based" or ""))
end

-- 1-based (or negative) position along 0-based dim d0 of t -> 0-based.
function M.pos(fname, name, t, d0, p)
    local size = tonumber(t._h.shape[d0])
    if not is_integer(p) then
        raise(fmt("%s: %s: expected an integer position, got %s", fname, name, show(p)))
    end
    if p >= 1 and p <= size then return p - 1 end
    if p <= -1 and p >= -size then return size + p end
    if size == 0 then
        raise(fmt("%s: %s %d out of range: dim %d has size 0", fname, name, p, d0 + 1))
    end
    raise(fmt("%s: %s %d out of range for dim %d of size %d (expected 1..%d or -%d..-1%s)", fname, name, p,
              d0 + 1, size, size, size, p == 0 and "; positions are 1-based" or ""))
end

-- The element count of sizes must fit in an int64 (the C core counts in int64).
function M.check_numel(fname, sizes)
    local n = 1
    for i = 1, #sizes do if sizes[i] > 0 then n = n * sizes[i] end end
    local zero = false
    for i = 1, #sizes do if sizes[i] == 0 then zero = true end end
    if not zero and n >= 2 ^ 63 then
        raise(fmt("%s: sizes: %s make %s elements, more than an int64 can count", fname, M.shape_str(sizes), show(n)))
    end
end

-- sizes as varargs (2, 3, 4) or one table ({2, 3, 4}), then an optional options table.
-- allow_infer: -1 is accepted (view/reshape infer it, expand keeps the size).
function M.sizes(fname, allow_infer, ...)
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
        if type(v) == "cdata" and (ffi.istype("int64_t", v) or ffi.istype("uint64_t", v)) and v >= 0 and v <= 2 ^ 53 then
            v = tonumber(v)
            sizes[i] = v
        end
        if not is_integer(v) or v < (allow_infer and -1 or 0) or v >= 2 ^ 63 then
            raise(fmt("%s: size %d: expected a non-negative integer%s, got %s", fname, i,
                      allow_infer and " (or -1)" or "", show(v)))
        end
    end
    M.check_numel(fname, sizes)
    return sizes, opts
end

------------------------------------------------------------------------------------------------
-- C statuses reported in the user's words

-- Like ffi.check(status), for a C entry point the user did not call by name: a message that
-- starts "c_op: c_arg" starts "fname: arg" instead (c_arg and arg may be nil: the op alone).
function M.check_as(status, c_op, fname, c_arg, arg)
    if status == 0 then return end
    local msg = ffi.string(C.cc_last_error())
    local prefix = c_op .. ": "
    if msg:sub(1, #prefix) == prefix then
        local rest = msg:sub(#prefix + 1)
        local after = c_arg and rest:sub(#c_arg + 1, #c_arg + 1)
        if c_arg and rest:sub(1, #c_arg) == c_arg and (after == ":" or after == " ") then
            rest = arg .. rest:sub(#c_arg + 1)
        end
        msg = fname .. ": " .. rest
    end
    raise(msg)
end

------------------------------------------------------------------------------------------------
-- options tables

-- kind -> { test = function(v) -> ok, desc = what is expected } (nil always passes)
local KINDS = {
    boolean = { test = function(v) return type(v) == "boolean" end, desc = "a boolean or nil" },
    number = { test = function(v) return type(v) == "number" end, desc = "a number or nil" },
    integer = { test = function(v) return is_integer(v) and math.abs(v) <= 2 ^ 53 end, desc = "an integer or nil" },
    count = { test = function(v) return is_integer(v) and v >= 0 and v <= 2 ^ 53 end,
              desc = "a non-negative integer or nil" },
    positive = { test = function(v) return is_integer(v) and v >= 1 and v <= 2 ^ 53 end,
                 desc = "a positive integer or nil" },
    string = { test = function(v) return type(v) == "string" end, desc = "a string or nil" },
    list = { test = function(v) return type(v) == "table" and not is_tensor(v) end, desc = "a table or nil" },
    tensor = { test = is_tensor, desc = "a causalconv.Tensor or nil" },
    dtype = { test = function(v) return type(v) == "string" and M.DTYPE_CODE[v] ~= nil end,
              desc = "one of " .. DTYPE_LIST },
    device = { test = function(v) return device_code(v) ~= nil end, desc = DEVICE_LIST },
    activation = { test = function(v) return v == "silu" or v == "swish" end, desc = 'nil, "silu" or "swish"' },
    file = { test = function(v) return io.type(v) == "file" end, desc = "an open file or nil" },
}

function M.options(fname, opts, spec, argname)
    argname = argname or "opts"
    if opts == nil then return {} end
    if type(opts) ~= "table" or is_tensor(opts) then
        raise(fmt("%s: %s: expected a table of options or nil, got %s", fname, argname, show(opts)))
    end
    local kinds = spec.kinds
    if not kinds then
        kinds = {}
        local names = {}
        for i, entry in ipairs(spec) do
            kinds[entry[1]] = KINDS[entry[2]] or error("args.options: unknown kind " .. tostring(entry[2]), 2)
            names[i] = entry[1]
        end
        spec.kinds, spec.names = kinds, concat(names, ", ")   -- cached on the spec table
    end
    for k in pairs(opts) do
        if kinds[k] == nil then
            raise(fmt("%s: %s: unknown option %s (valid options: %s)", fname, argname, show(k), spec.names))
        end
    end
    for k, v in pairs(opts) do
        local kind = kinds[k]
        if not kind.test(v) then raise(fmt("%s: %s: expected %s, got %s", fname, k, kind.desc, show(v))) end
    end
    return opts
end

return M
