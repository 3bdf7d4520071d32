-- Random streams a script can hold, save and restore: cc.Generator(seed), and the global
-- stream's state (the one cc.rand / cc.randn / the nn initialisers draw from).
--
--   g = cc.Generator(seed)          a private Philox stream (same generator as the global one)
--   g:rand(sizes... [, opts])       uniform [0, 1) tensor; opts: dtype (f32 | f64), device
--   g:randn(sizes... [, opts])      standard normal tensor
--   g:randint(low, high, n)         a Lua array of n integers uniform in [low, high)
--   cc.randint(low, high, sizes... [, opts])   a tensor of them (i64 by default) from the global stream
--   g:get_state() / g:set_state(s)  s = {seed = n, offset = n}: plain numbers, JSON-friendly
--   cc.get_rng_state() / cc.set_rng_state(s)   the same for the global stream
--
-- A training script draws its data from one generator and its validation set from another, so
-- the data never depends on how many random numbers the model's initialisation used, and saves
-- both states in a checkpoint so a resumed run draws exactly what the uninterrupted run would.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tensor = require "causalconv.tensor"
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise
local fmt = string.format
local show = args.show

local M = {}

local seed_buf, offset_buf = ffi.new("uint64_t[1]"), ffi.new("uint64_t[1]")

-- an integer in [0, 2^53): states are kept as Lua numbers so they survive JSON
local function state_number(fname, name, v)
    if type(v) ~= "number" or v < 0 or v ~= math.floor(v) or v >= 2 ^ 53 then
        raise(fmt("%s: %s: expected an integer in [0, 2^53), got %s", fname, name, show(v)))
    end
    return v
end

local STATE_OPTS = { { "seed", "number" }, { "offset", "number" } }

local function parse_state(fname, s)
    if type(s) ~= "table" then raise(fmt("%s: state: expected {seed = n, offset = n}, got %s", fname, show(s))) end
    args.options(fname, s, STATE_OPTS, "state")
    return state_number(fname, "seed", s.seed), state_number(fname, "offset", s.offset)
end

function M.get_rng_state()
    C.cc_get_rng_state(seed_buf, offset_buf)
    if seed_buf[0] >= 2 ^ 53 or offset_buf[0] >= 2 ^ 53 then
        raise("get_rng_state: the global seed or offset does not fit a Lua number exactly")
    end
    return { seed = tonumber(seed_buf[0]), offset = tonumber(offset_buf[0]) }
end

function M.set_rng_state(s)
    local seed, offset = parse_state("set_rng_state", s)
    C.cc_set_rng_state(seed, offset)
end

local Generator = {}
Generator.__index = Generator

function M.Generator(seed)
    state_number("Generator", "seed", seed == nil and 0 or seed)
    local g = setmetatable({ seed = seed or 0, offset = ffi.new("uint64_t[1]") }, Generator)
    return g
end

function Generator:get_state() return { seed = self.seed, offset = tonumber(self.offset[0]) } end

function Generator:set_state(s)
    self.seed, self.offset[0] = parse_state("Generator:set_state", s)
end

local GEN_OPTS = { { "dtype", "dtype" }, { "device", "device" } }

local function draw(fname, cfn, g, a, b, ...)
    if getmetatable(g) ~= Generator then raise(fmt("%s: expected g:%s(...) on a cc.Generator", fname, fname)) end
    local sizes, opts = args.sizes("Generator:" .. fname, false, ...)
    opts = args.options("Generator:" .. fname, opts, GEN_OPTS, "options")
    local t = tensor.empty(sizes, { dtype = opts.dtype or "f32", device = opts.device })
    if not t:is_floating_point() then
        raise(fmt("Generator:%s: dtype: expected a floating dtype, got %s", fname, t:dtype()))
    end
    check(cfn(t._h, a, b, g.seed, g.offset))
    return t
end

function Generator:rand(...) return draw("rand", C.cc_generator_rand, self, 0, 1, ...) end
function Generator:randn(...) return draw("randn", C.cc_generator_randn, self, 0, 1, ...) end

-- n integers uniform in [low, high), as a Lua array (host-side data generation)
function Generator:randint(low, high, n)
    args.integer("Generator:randint", "low", low)
    args.integer("Generator:randint", "high", high)
    args.integer("Generator:randint", "n", n, 0)
    if high <= low then raise(fmt("Generator:randint: expected low < high, got low %d, high %d", low, high)) end
    local out = {}
    if n == 0 then return out end
    local u = draw("randint", C.cc_generator_rand, self, 0, 1, n, { dtype = "f64" })
    local p = ffi.cast("const double *", u:data_ptr())
    local span = high - low
    for i = 1, n do
        local v = low + math.floor(p[i - 1] * span)
        out[i] = v < high and v or high - 1
    end
    return out
end

local RANDINT_OPTS = { { "dtype", "dtype" }, { "device", "device" }, { "requires_grad", "boolean" } }

-- cc.randint(low, high, sizes...[, opts]): integers uniform in [low, high), i64 unless opts
-- says another dtype, drawn from the global stream (cc.manual_seed) as Generator:randint
-- draws: low + floor(u * (high - low)) for u uniform in [0, 1) in f64.
function M.randint(low, high, ...)
    args.integer("randint", "low", low)
    args.integer("randint", "high", high)
    if high <= low then raise(fmt("randint: expected low < high, got low %s, high %s", show(low), show(high))) end
    if high - low > 2 ^ 53 then
        raise(fmt("randint: high - low = %s is more than 2^53 (Lua numbers count exactly only up to there)", show(high - low)))
    end
    local sizes, opts = args.sizes("randint", false, ...)
    opts = args.options("randint", opts, RANDINT_OPTS, "options")
    local dtype = args.dtype("randint", opts.dtype or "i64")
    if dtype == C.CC_I32 and (low < -2 ^ 31 or high - 1 > 2 ^ 31 - 1) then
        raise(fmt("randint: [%s, %s) does not fit i32", show(low), show(high)))
    end
    if opts.requires_grad and args.is_int_dtype(dtype) then
        raise("randint: requires_grad: only float tensors can require grad, got dtype " .. args.DTYPE_NAME[dtype])
    end
    local dev, idx = C.CC_CPU, 0
    if opts.device ~= nil then dev, idx = args.device("randint", opts.device) end
    local from_c = tensor.Tensor.from_c
    local n = #sizes
    local shape = ffi.new("int64_t[?]", n > 0 and n or 1)
    for i = 1, n do shape[i - 1] = sizes[i] end
    local u = from_c(C.cc_tensor_empty, n, shape, C.CC_F64, dev, idx)
    check(C.cc_tensor_rand(u._h, 0, high - low))   -- [0, high - low): the draw stays below high - low
    -- floor: converting to i64 truncates, which is floor for values >= 0
    local k = from_c(C.cc_tensor_to, u._h, C.CC_I64, dev, idx)
    if low ~= 0 then
        k = from_c(C.cc_tensor_to, k._h, C.CC_F64, dev, idx)
        check(C.cc_unary_forward(k._h, k._h, C.CC_UNARY_ADD_SCALAR, low))   -- exact: |values| <= 2^53
    end
    local t = from_c(C.cc_tensor_to, k._h, dtype, dev, idx)
    if opts.requires_grad then t:requires_grad_(true) end
    return t
end

Generator.__tostring = function(g)
    return fmt("cc.Generator(seed %d, offset %d)", g.seed, tonumber(g.offset[0]))
end

M.is_generator = function(v) return getmetatable(v) == Generator end

return M
