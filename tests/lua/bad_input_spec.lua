-- Bad input, every public function x every argument: wrong type, rank, size, dtype, device,
-- overflow, aliasing of outputs with inputs, unknown or mistyped options. Every row asserts that
--   * the call raises, blaming the caller's line (expect_error in helpers.lua);
--   * the message starts with the user's function and names the user's argument
--     ("causal_conv1d: weight: expected ..."), also where the C core found the fault;
--   * every output tensor handed in (opts.out, opts.dx, final_states_out, conv_state, the
--     self of an in-place method) is untouched.
-- The rows come from compact per-function tables: a base call that succeeds, and the
-- replacements that must fail; type and option rows are generated from the parameter lists.
-- Zero-size inputs are not errors (zero-size outputs, as in PyTorch): they are the #zerosize
-- block at the end; the calls that must succeed are just before it.
local cc = require "causalconv"
local Tensor = cc.Tensor

local function R(...) return cc.randn({ ... }) end
local function E(...) return cc.empty({ ... }) end
local function F64(...) return cc.randn({ ... }, { dtype = "f64" }) end
local function I32(list) return cc.tensor(list, { dtype = "i32" }) end
local function I64(list) return cc.tensor(list, { dtype = "i64" }) end
local function leaf(...) return cc.randn({ ... }, { dtype = "f64", requires_grad = true }) end

local SENTINEL = 7

-- ---- the runner ---------------------------------------------------------------------------------

local function copy_table(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
end

-- path "x" or "opts.out" inside a call table {x = ..., opts = {...}}
local function get(call, path)
    local a, b = path:match("^([%w_]+)%.([%w_]+)$")
    if a then return call[a] and call[a][b] end
    return call[path]
end

local function set(call, path, value)
    local a, b = path:match("^([%w_]+)%.([%w_]+)$")
    if a then
        call[a] = type(call[a]) == "table" and not cc.is_tensor(call[a]) and copy_table(call[a]) or {}
        call[a][b] = value
    else
        call[path] = value
    end
end

local describe_value
function describe_value(v)
    if cc.is_tensor(v) then return "(" .. table.concat(v:size(), "x") .. " " .. v:dtype() .. " " .. v:device() .. ")" end
    if type(v) == "string" then return string.format("%q", v) end
    if type(v) == "table" then
        local parts = {}
        for i = 1, #v do parts[i] = describe_value(v[i]) end
        for k, x in pairs(v) do
            if type(k) ~= "number" then parts[#parts + 1] = tostring(k) .. " = " .. describe_value(x) end
        end
        return "{" .. table.concat(parts, ", ") .. "}"
    end
    return tostring(v)
end

-- Runs one failing row of function spec f.
local function run_row(f, row)
    local call = f.base()
    if row.extra then row.extra(call) end   -- a row may adjust other arguments of the base call
    local value = row[2]
    if type(value) == "function" then value = value(call) end
    if row[1] then set(call, row[1], value) end
    -- fill every output with a sentinel (before the call) to see that a rejected call left it alone
    local outs = {}
    for _, path in ipairs(f.outs or {}) do
        local o = get(call, path)
        if cc.is_tensor(o) and o:numel() > 0 and not o.requires_grad then
            if pcall(o.fill_, o, SENTINEL) then outs[#outs + 1] = { path, o } end
        end
    end
    local argv = {}
    for i, name in ipairs(f.params) do argv[i] = call[name] end
    local n = #f.params
    local call_fn = f.fn
    local err = expect_error(function() local r = call_fn(unpack(argv, 1, n)); return r end, "")
    local body = err:match("^[^\n]-:%d+: (.*)$") or err
    -- the user's function first
    local prefix = f.name
    assert(body:sub(1, #prefix + 1) == prefix .. ":", string.format("error should start with %q: %s", f.name .. ":", err))
    -- then the argument
    local arg = row.arg
    if arg == nil and row[1] then arg = row[1]:match("([%w_]+)$") end
    if row.arg == false then arg = nil end
    if arg then
        local rest = body:sub(#prefix + 3)
        local ok = false
        local nxt = rest:sub(#arg + 1, #arg + 1)
        if rest:sub(1, #arg) == arg and (nxt == ":" or nxt == " " or nxt == "[") then ok = true end
        assert(ok, string.format("error should name the argument %q right after %q: %s", arg, prefix .. ": ", err))
    end
    if row[3] then
        assert(body:find(row[3], 1, true), string.format("error should contain %q: %s", row[3], err))
    end
    for _, p in ipairs(outs) do
        local o = p[2]
        assert.tensor_equal(o, cc.full(o:size(), SENTINEL, { dtype = o:dtype(), device = o:device() }))
    end
end

-- Adds the generated rows: wrong types for every tensor parameter and tensor option, opts of
-- the wrong type, an unknown option, wrong types for boolean and activation options.
local function generated(f)
    local rows = {}
    for _, p in ipairs(f.tensors or {}) do
        rows[#rows + 1] = { p, "oops", "expected a causalconv.Tensor" }
        rows[#rows + 1] = { p, 42, "expected a causalconv.Tensor" }
    end
    if f.options then
        rows[#rows + 1] = { "opts", "oops", "expected a table of options or nil", arg = f.opts_name or "opts" }
        rows[#rows + 1] = { "opts.bogus", 1, 'unknown option "bogus"', arg = f.opts_name or "opts" }
        local names = {}
        for name in pairs(f.options) do names[#names + 1] = name end
        table.sort(names)
        for _, name in ipairs(names) do
            local kind = f.options[name]
            if kind == "tensor" then
                rows[#rows + 1] = { "opts." .. name, "oops", "expected a causalconv.Tensor or nil" }
            elseif kind == "boolean" then
                rows[#rows + 1] = { "opts." .. name, "yes", "expected a boolean or nil" }
                rows[#rows + 1] = { "opts." .. name, 1, "expected a boolean or nil" }
            elseif kind == "activation" then
                rows[#rows + 1] = { "opts." .. name, "gelu", 'expected nil, "silu" or "swish"' }
                rows[#rows + 1] = { "opts." .. name, true, 'expected nil, "silu" or "swish"' }
            elseif kind == "integer" then
                rows[#rows + 1] = { "opts." .. name, "a", "expected an integer or nil" }
                rows[#rows + 1] = { "opts." .. name, 1.5, "expected an integer or nil" }
            elseif kind == "count" then
                rows[#rows + 1] = { "opts." .. name, -1, "expected a non-negative integer or nil" }
                rows[#rows + 1] = { "opts." .. name, 1.5, "expected a non-negative integer or nil" }
            elseif kind == "number" then
                rows[#rows + 1] = { "opts." .. name, "a", "expected a number or nil" }
            elseif kind == "dtype" then
                rows[#rows + 1] = { "opts." .. name, "f8", 'expected one of "f32"' }
            elseif kind == "device" then
                rows[#rows + 1] = { "opts." .. name, "gpu", 'expected "cpu", "cuda" or "cuda:N"' }
            end
        end
    end
    return rows
end

local SPECS = {}
local function spec(f) SPECS[#SPECS + 1] = f end

local function register(list, title)
    describe(title, function()
        for _, f in ipairs(list) do
            -- the rows replace one argument of a call that is valid as a whole (a few bases are
            -- invalid on purpose: their rows replace nothing)
            if not f.base_fails then
                it(f.name .. ": the base call succeeds", function()
                    local call = f.base()
                    local argv = {}
                    for i, name in ipairs(f.params) do argv[i] = call[name] end
                    f.fn(unpack(argv, 1, #f.params))
                end)
            end
            local rows = generated(f)
            for _, r in ipairs(f.rows or {}) do rows[#rows + 1] = r end
            for _, row in ipairs(rows) do
                local label = row.name or string.format("%s = %s", tostring(row[1] or "(base)"), describe_value(row[2]))
                it(f.name .. ": " .. label, function() run_row(f, row) end)
            end
        end
    end)
end

-- ---- the causal conv ops ------------------------------------------------------------------------

local B, D, L, W, T = 2, 8, 10, 4, 12

-- x and out views of one buffer: element-disjoint but with interleaved address ranges
local function interleaved()
    local buf = R(B, D, L, 2)
    return buf:select(4, 1), buf:select(4, 2)
end

spec {
    name = "causal_conv1d", fn = cc.causal_conv1d,
    params = { "x", "weight", "bias", "opts" }, tensors = { "x", "weight" },
    options = { activation = "activation", seq_idx = "tensor", initial_states = "tensor",
                return_final_states = "boolean", final_states_out = "tensor", out = "tensor" },
    base = function()
        return { x = R(B, D, L), weight = R(D, W), bias = R(D), opts = { out = E(B, D, L), final_states_out = E(B, D, W - 1) } }
    end,
    outs = { "opts.out", "opts.final_states_out" },
    rows = {
        { "bias", "oops", "expected a causalconv.Tensor" },
        { "x", R(B, D), "expected 3 dims (B, D, L)" },
        { "x", R(B, D, L, 1), "expected 3 dims (B, D, L)" },
        { "x", cc.zeros(B, D, L, { dtype = "i32" }), "expected dtype f32, f64, f16 or bf16" },
        { "x", R(B, D + 1, L), "expected shape (D, W) = (9, *)", arg = "weight", name = "x with D = 9 for a weight of D = 8" },
        { "weight", R(D), "expected 2 dims (D, W)" },
        { "weight", R(D + 1, W), "expected shape (D, W) = (8, *)" },
        { "weight", R(D, 17), "with 1 <= W <= 16" },
        { "weight", R(D, 0), "with 1 <= W <= 16" },
        { "weight", cc.zeros(D, W, { dtype = "i64" }), "" },
        { "bias", R(D + 1), "expected shape (8)" },
        { "bias", R(D, 1), "" },
        { "opts.seq_idx", cc.zeros(B, L, { dtype = "i64" }), "expected dtype i32" },
        { "opts.seq_idx", cc.zeros(B, L + 1, { dtype = "i32" }), "expected shape (2, 10)" },
        { "opts.seq_idx", R(B, L), "expected dtype i32" },
        { "opts.initial_states", R(B, D, W), "expected shape (2, 8, 3)" },
        { "opts.initial_states", R(B + 1, D, W - 1), "expected shape (2, 8, 3)" },
        { "opts.final_states_out", R(B, D, W), "expected shape (2, 8, 3)" },
        { "opts.out", E(B, D, L + 1), "expected shape (2, 8, 10)" },
        { "opts.out", cc.empty(B, D, L, { dtype = "f64" }), "expected dtype f32 (the dtype of x)" },
        { "opts.out", function() return E(B, D, 1):expand(B, D, L) end, "expected an output", name = "out is an expanded view" },
        { "opts.out", function(c) return c.x end, "overlaps x", name = "out is x (aliasing)" },
        { "opts.out", function(c) return c.x:narrow(3, 1, L) end, "overlaps x", name = "out is a view of x" },
        { "opts.final_states_out", function(c) return c.x:narrow(3, 1, W - 1) end, "overlaps x",
          name = "final_states_out overlaps x" },
        { "opts.final_states_out", function(c) return c.opts.out:narrow(3, 1, W - 1) end, "overlaps final_states",
          arg = "out", name = "final_states_out overlaps out" },
    },
}

spec {
    name = "causal_conv1d_backward", fn = cc.causal_conv1d_backward,
    params = { "x", "weight", "bias", "dout", "opts" }, tensors = { "x", "weight", "dout" },
    options = { activation = "activation", seq_idx = "tensor", initial_states = "tensor", dfinal_states = "tensor",
                dx = "tensor", return_dinitial_states = "boolean" },
    base = function()
        return { x = R(B, D, L), weight = R(D, W), bias = R(D), dout = R(B, D, L), opts = { dx = E(B, D, L) } }
    end,
    outs = { "opts.dx" },
    rows = {
        { "x", R(B, D), "expected 3 dims (B, D, L)" },
        { "weight", R(D), "expected 2 dims (D, W)" },
        { "weight", R(D, 17), "with 1 <= W <= 16" },
        { "bias", R(D + 1), "expected shape (8)" },
        { "dout", R(B, D, L - 1), "expected shape (2, 8, 10)" },
        { "dout", cc.zeros(B, D, L, { dtype = "f64" }), "" },
        { "opts.dfinal_states", R(B, D, 2), "expected shape (2, 8, 3)" },
        { "opts.initial_states", R(B, D, W), "expected shape (2, 8, 3)" },
        { "opts.seq_idx", cc.zeros(B, L, { dtype = "i64" }), "expected dtype i32" },
        { "opts.dx", E(B, D, L + 1), "expected shape (2, 8, 10)" },
        { "opts.dx", function(c) return c.dout end, "overlaps dout", name = "dx is dout (aliasing)" },
        { "opts.dx", function(c) return c.x end, "overlaps x", name = "dx is x (aliasing)" },
    },
}

spec {
    name = "causal_conv1d_update", fn = cc.causal_conv1d_update,
    params = { "x", "conv_state", "weight", "bias", "opts" }, tensors = { "x", "conv_state", "weight" },
    options = { activation = "activation", cache_seqlens = "tensor", conv_state_indices = "tensor", out = "tensor" },
    base = function()
        return { x = R(B, D, 1), conv_state = R(B, D, W - 1), weight = R(D, W), opts = { out = E(B, D, 1) } }
    end,
    outs = { "conv_state", "opts.out" },
    rows = {
        { "x", R(B, D, 1, 1), "expected 3 dims (B, D) or (B, D, S)" },
        { "x", R(B), "expected 3 dims (B, D) or (B, D, S)" },
        { "conv_state", R(B, D, W - 2), "expected shape (B, D, state_len) = (2, 8, >= W-1 = 3)" },
        { "conv_state", R(B, D + 1, W - 1), "" },
        { "weight", R(D + 1, W), "" },
        { "bias", R(D + 1), "" },
        { "opts.cache_seqlens", I32({ 1 }), "expected shape (2)" },
        { "opts.cache_seqlens", R(B), "" },
        { "opts.conv_state_indices", I32({ 0, 5 }), "expected values < 2" },
        { "opts.conv_state_indices", I32({ 1, 1 }), "expected distinct state rows" },
        { "opts.conv_state_indices", I64({ 0, 1 }), "expected dtype i32" },
        { "opts.out", E(B, D), "expected the shape of x" },
        { "opts.out", E(B, D, 2), "expected shape (2, 8, 1)" },
        { "opts.out", function(c) return c.conv_state:narrow(3, 1, 1) end, "overlaps conv_state", name = "out overlaps conv_state" },
        { "opts.out", function(c) return c.x end, "overlaps x", name = "out is x (aliasing)" },
    },
}

spec {
    name = "causal_conv1d_varlen", fn = cc.causal_conv1d_varlen,
    params = { "x", "weight", "bias", "cu_seqlens", "opts" }, tensors = { "x", "weight", "cu_seqlens" },
    options = { activation = "activation", initial_states = "tensor", return_final_states = "boolean",
                final_states_out = "tensor", out = "tensor" },
    base = function()
        return { x = R(T, D), weight = R(D, W), cu_seqlens = I32({ 0, 5, T }), opts = { out = E(T, D), final_states_out = E(2, D, W - 1) } }
    end,
    outs = { "opts.out", "opts.final_states_out" },
    rows = {
        { "x", R(1, T, D), "expected 2 dims (T, D)" },
        { "weight", R(D), "expected 2 dims (D, W)" },
        { "weight", R(D + 1, W), "" },
        { "cu_seqlens", I32({ { 0, T } }), "expected 1 dims (N+1)" },
        { "cu_seqlens", cc.tensor({ 0, T }), "expected dtype i32 or i64" },
        { "cu_seqlens", I32({ 1, 5, T }), "expected cu_seqlens[0] = 0, got 1" },
        { "cu_seqlens", I32({ 0, 7, 5, T }), "expected non-decreasing values" },
        { "cu_seqlens", I32({ 0, 5, T - 1 }), "expected the last value to equal the token count" },
        { "cu_seqlens", I32({ 0, 5, T + 1 }), "expected the last value to equal the token count" },
        { "opts.initial_states", R(3, D, W - 1), "expected shape (2, 8, 3)" },
        { "opts.final_states_out", R(3, D, W - 1), "" },
        { "opts.out", E(T + 1, D), "" },
        { "opts.out", function(c) return c.x end, "overlaps x", name = "out is x (aliasing)" },
    },
}

spec {
    name = "causal_conv1d_varlen_backward", fn = cc.causal_conv1d_varlen_backward,
    params = { "x", "weight", "bias", "dout", "cu_seqlens", "opts" }, tensors = { "x", "weight", "dout", "cu_seqlens" },
    options = { activation = "activation", initial_states = "tensor", dfinal_states = "tensor", dx = "tensor",
                return_dinitial_states = "boolean" },
    base = function()
        return { x = R(T, D), weight = R(D, W), dout = R(T, D), cu_seqlens = I32({ 0, 5, T }), opts = { dx = E(T, D) } }
    end,
    outs = { "opts.dx" },
    rows = {
        { "x", R(T), "expected 2 dims (T, D)" },
        { "dout", R(T - 1, D), "" },
        { "cu_seqlens", I32({ 0, 5, T - 1 }), "expected the last value to equal the token count" },
        { "opts.dfinal_states", R(2, D, W), "" },
        { "opts.dx", function(c) return c.dout end, "overlaps dout", name = "dx is dout (aliasing)" },
    },
}

spec {
    name = "causal_conv1d_varlen_states", fn = cc.causal_conv1d_varlen_states,
    params = { "x", "cu_seqlens", "state_len", "opts" }, tensors = { "x", "cu_seqlens" },
    options = { dtype = "dtype", out = "tensor" },
    base = function() return { x = R(T, D), cu_seqlens = I32({ 0, 5, T }), state_len = 3, opts = { out = E(2, D, 3) } } end,
    outs = { "opts.out" },
    rows = {
        { "state_len", -1, "expected a non-negative integer, got -1" },
        { "state_len", 1.5, "expected a non-negative integer, got 1.5" },
        { "state_len", math.huge, "expected a non-negative integer, got inf" },
        { "state_len", "3", "expected a non-negative integer" },
        { "x", R(T), "expected 2 dims (T, D)" },
        { "cu_seqlens", I32({ 0, 5 }), "" },
        { "opts.out", R(3, D, 3), "expected shape (N, D, state_len) = (2, 8, *)" },
        { "opts.out", function(c) return c.x:view(2, D, 6):narrow(3, 1, 3) end, "overlaps x", name = "out overlaps x" },
    },
}

-- overflow of element counts: sizes whose product an int64 cannot hold
describe("overflow", function()
    it("varlen_states with a state_len whose output cannot be counted", function()
        expect_error(function() cc.causal_conv1d_varlen_states(R(T, D), I32({ 0, T }), 2 ^ 60) end, "causal_conv1d_varlen_states: state_len: ")
    end)
    it("expand to more elements than an int64 counts", function()
        expect_error(function() cc.ones(1, 1):expand(2 ^ 62, 4) end, "expand: sizes: (4611686018427387904, 4) make")
        expect_error(function() cc.ones(1, 1, 1):expand(2 ^ 40, 2 ^ 20, 2 ^ 10) end, "expand: sizes: ")
    end)
    it("constructors with more elements than an int64 counts", function()
        expect_error(function() cc.empty(2 ^ 31, 2 ^ 31, 4) end, "empty: sizes: (2147483648, 2147483648, 4) make")
        expect_error(function() cc.zeros(2 ^ 64) end, "zeros: size 1: expected a non-negative integer")
    end)
end)

-- ---- tensors: constructors, views, copies, element access ------------------------------------------

local CTOR_OPTIONS = { dtype = "dtype", device = "device", requires_grad = "boolean" }

for _, name in ipairs({ "empty", "zeros", "ones", "rand", "randn" }) do
    local rows = {
        { "sizes", { -1, 3 }, "expected a non-negative integer, got -1", arg = "size 1" },
        { "sizes", { 2, 2.5 }, "expected a non-negative integer, got 2.5", arg = "size 2" },
        { "sizes", { 2, "3" }, "expected a non-negative integer", arg = "size 2" },
        { "sizes", { 2 ^ 63 }, "expected a non-negative integer", arg = "size 1" },
        { "sizes", { 0 / 0 }, "expected a non-negative integer", arg = "size 1" },
        { "sizes", { 2 ^ 40, 2 ^ 40 }, "make", arg = "sizes", name = "sizes = {2^40, 2^40}: more elements than an int64 counts" },
        { "sizes", { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, "at most 8 dims are supported", arg = false },
    }
    if name == "rand" or name == "randn" then
        rows[#rows + 1] = { "opts.dtype", "i32", "expected a floating dtype", arg = "dtype" }
    end
    spec {
        name = name, fn = cc[name], params = { "sizes", "opts" }, options = CTOR_OPTIONS, opts_name = "options",
        base = function() return { sizes = { 2, 3 }, opts = {} } end, rows = rows,
    }
end

spec {
    name = "full", fn = cc.full, params = { "sizes", "value", "opts" }, options = CTOR_OPTIONS, opts_name = "options",
    base = function() return { sizes = { 2, 3 }, value = 1, opts = {} } end,
    rows = {
        { "sizes", "2", "expected a table of sizes like {2, 3}" },
        { "value", "a", "expected a number" },
        { "value", nil, "expected a number" },
        { "value", 2 ^ 63, "is out of range for i64", extra = function(c) c.opts = { dtype = "i64" } end },
        { "value", 2 ^ 53 + 2, "Lua numbers are exact only up to 2^53", extra = function(c) c.opts = { dtype = "i64" } end },
        { "value", 2 ^ 31, "is out of range for i32", extra = function(c) c.opts = { dtype = "i32" } end },
        { "value", 0 / 0, "is not an integer", extra = function(c) c.opts = { dtype = "i32" } end },
        { "value", 1 / 0, "is not an integer", extra = function(c) c.opts = { dtype = "i64" } end },
    },
}

spec {
    name = "arange", fn = cc.arange, params = { "a", "b", "c", "opts" },
    base = function() return { a = 0, b = 10, c = 2, opts = {} } end,
    rows = {
        { "opts.bogus", 1, 'unknown option "bogus"', arg = "options" },
        { "opts.dtype", "f8", 'expected one of "f32"' },
        { "opts.requires_grad", "yes", "expected a boolean or nil" },
        { "a", "3", "expected a number", arg = "argument 1" },
        { "c", 0, "expected a non-zero number", arg = "step" },
        { "c", 0 / 0, "expected a non-zero number", arg = "step" },
        { "b", math.huge, "is not finite", arg = false },
        { "b", 2 ^ 32, "is out of range for i32", arg = "stop", extra = function(c) c.c = 2 ^ 30; c.opts = { dtype = "i32" } end },
        { "a", -2 ^ 60, "is out of range for i64", arg = "start", extra = function(c) c.b = -2 ^ 60 + 2 ^ 10; c.opts = { dtype = "i64" } end },
    },
}

spec {
    name = "tensor", fn = cc.tensor, params = { "data", "opts" }, options = CTOR_OPTIONS, opts_name = "options",
    base = function() return { data = { 1, 2 }, opts = {} } end,
    rows = {
        { "data", "abc", "expected a number or a nested table of numbers" },
        { "data", { 1, "x" }, 'is "x", expected a number', arg = "data[2]" },
        { "data", { { 1, 2 }, { 3 } }, "ragged nested table", arg = false },
        { "data", { 1.5 }, "is not an integer (dtype i32)", arg = "data[1]", extra = function(c) c.opts = { dtype = "i32" } end },
        { "data", { 2 ^ 31 }, "is out of range for i32", arg = "data[1]", extra = function(c) c.opts = { dtype = "i32" } end },
        { "data", { 2 ^ 63 }, "is out of range for i64", arg = "data[1]", extra = function(c) c.opts = { dtype = "i64" } end },
        { "data", { 1, 2 ^ 53 + 2 }, "Lua numbers are exact only up to 2^53", arg = "data[2]",
          extra = function(c) c.opts = { dtype = "i64" } end },
        { "data", { 2 ^ 33 }, "is out of range for i32", arg = "data[1]",
          extra = function(c) c.data = { 2LL ^ 33 }; c.opts = { dtype = "i32" } end, name = "data = {2LL^33} as i32" },
        { "data", { 0 / 0 }, "is not an integer", arg = "data[1]", extra = function(c) c.opts = { dtype = "i64" } end },
    },
}

for _, name in ipairs({ "empty_like", "zeros_like", "ones_like", "rand_like", "randn_like" }) do
    spec {
        name = name, fn = cc[name], params = { "x", "opts" }, tensors = { "x" }, options = CTOR_OPTIONS, opts_name = "options",
        base = function() return { x = R(2, 3), opts = {} } end,
    }
end
spec {
    name = "full_like", fn = cc.full_like, params = { "x", "value", "opts" }, tensors = { "x" }, options = CTOR_OPTIONS,
    opts_name = "options",
    base = function() return { x = R(2, 3), value = 1, opts = {} } end,
    rows = { { "value", "a", "expected a number" } },
}
spec {
    name = "rand_like", fn = cc.rand_like, params = { "x" }, base_fails = true,
    base = function() return { x = cc.zeros(2, { dtype = "i32" }) } end,
    rows = { { nil, nil, "expected a floating dtype", arg = "dtype", name = "of an i32 tensor" } },
}

-- methods, called as Tensor.<name>(self, ...) so that the row's line is the caller's
local function method(name, params, base, rows, extra)
    local f = { name = name, fn = Tensor[name], params = params, base = base, rows = rows }
    for k, v in pairs(extra or {}) do f[k] = v end
    spec(f)
end

method("size", { "self", "dim" }, function() return { self = R(2, 3, 4), dim = 1 } end, {
    { "dim", 4, "out of range for a 3-d tensor" }, { "dim", 0, "dims are 1-based" }, { "dim", 1.5, "expected an integer dim" },
})
method("stride", { "self", "dim" }, function() return { self = R(2, 3), dim = 1 } end, {
    { "dim", "1", "expected an integer dim" }, { "dim", -3, "out of range" },
})
method("transpose", { "self", "dim1", "dim2" }, function() return { self = R(2, 3, 4), dim1 = 1, dim2 = 2 } end, {
    { "dim1", nil, "expected an integer dim" }, { "dim2", 4, "out of range for a 3-d tensor" },
})
method("t", { "self" }, function() return { self = R(2, 3, 4) } end, {
    { nil, nil, "expected a 2-d tensor, got a 3-d tensor", arg = false, name = "of a 3-d tensor" },
}, { base_fails = true })
method("permute", { "self", "a", "b", "c" }, function() return { self = R(2, 3, 4), a = 3, b = 1, c = 2 } end, {
    { "c", 1, "name dim 1 twice", arg = "dims" }, { "c", nil, "expected 3 dims", arg = false }, { "a", 5, "out of range", arg = "dim" },
})
method("narrow", { "self", "dim", "start", "length" }, function() return { self = R(2, 3, 4), dim = 3, start = 1, length = 2 } end, {
    { "dim", 4, "out of range" }, { "start", 0, "positions are 1-based" }, { "start", 5, "out of range" },
    { "length", -1, "expected a non-negative integer" }, { "length", 4, "runs past the end", arg = false, extra = function(c) c.start = 2 end },
    { "start", "1", "expected an integer position" },
})
method("select", { "self", "dim", "index" }, function() return { self = R(2, 3), dim = 2, index = 1 } end, {
    { "index", 4, "out of range for dim 2 of size 3" }, { "index", "1", "expected an integer position" }, { "dim", 3, "out of range" },
})
method("view", { "self", "a", "b" }, function() return { self = R(2, 3, 4), a = 6, b = 4 } end, {
    { "a", 5, "is invalid for a tensor of 24 elements", arg = "shape" },
    { "a", -2, "expected a non-negative integer (or -1)", arg = "size 1" },
    { "b", -1, "only one size may be -1", arg = "shape", extra = function(c) c.a = -1 end },
    { "a", 4, "not compatible with the strides", arg = false, extra = function(c) c.self = R(2, 3, 4):transpose(1, 3); c.b = 6 end },
})
method("reshape", { "self", "a", "b" }, function() return { self = R(2, 3, 4), a = 6, b = 4 } end, {
    { "a", 7, "is invalid for a tensor of 24 elements", arg = "shape" },
})
method("expand", { "self", "a", "b" }, function() return { self = cc.ones(1, 1), a = 2, b = 4 } end, {
    { "a", 2 ^ 62, "make", arg = "sizes", name = "a = 2^62 (element count overflow)" },
    { "b", 3, "which is not 1", arg = false, extra = function(c) c.self = R(1, 2) end },
    { "b", nil, "expected at least 2 sizes", arg = false, extra = function(c) c.self = R(1, 2); c.a = nil end },
    { "a", -2, "expected a non-negative integer (or -1)", arg = "size 1" },
})
method("expand_as", { "self", "other" }, function() return { self = R(1, 2), other = R(3, 2) } end, {
    { "other", 3, "expected a causalconv.Tensor" },
})
method("unsqueeze", { "self", "dim" }, function() return { self = R(2, 3), dim = 1 } end, {
    { "dim", 4, "out of range for a 3-d tensor" }, { "dim", "x", "expected an integer dim" },
})
method("squeeze", { "self", "dim" }, function() return { self = R(2, 1), dim = 2 } end, {
    { "dim", 3, "out of range" }, { "dim", 1.5, "expected an integer dim" },
})
method("to", { "self", "a" }, function() return { self = R(2), a = "f64" } end, {
    { "a", "f8", "expected a dtype", arg = false },
    { "a", 3, "expected a dtype", arg = false },
    { "a", { dtpye = "f64" }, 'unknown option "dtpye"', arg = "options" },
    { "a", { dtype = "fp32" }, "expected one of", arg = "dtype" },
    { "a", { device = "tpu" }, 'expected "cpu", "cuda" or "cuda:N"', arg = "device" },
})
method("copy_", { "self", "src" }, function() return { self = R(2, 3), src = R(2, 3) } end, {
    { "src", 1, "expected a causalconv.Tensor" },
    { "src", R(3, 3), "does not broadcast to the destination's size" },
}, { outs = { "self" } })
method("fill_", { "self", "value" }, function() return { self = cc.zeros(3, { dtype = "i64" }), value = 1 } end, {
    { "value", "1", "expected a number" },
    { "value", 2 ^ 64, "is out of range for i64" },
    { "value", 2 ^ 53 + 2, "Lua numbers are exact only up to 2^53" },
    { "value", 0 / 0, "is not an integer" },
    { "value", -1 / 0, "is not an integer" },
    { "value", 2 ^ 31, "is out of range for i32", extra = function(c) c.self = cc.zeros(3, { dtype = "i32" }) end },
    { "value", 9223372036854775808ULL, "is out of range for i64" },
    { "self", leaf(2), "in-place change of a tensor that requires grad", arg = false, name = "self requires grad" },
}, { outs = { "self" } })
method("zero_", { "self" }, function() return { self = leaf(2) } end, {
    { nil, nil, "in-place change of a tensor that requires grad", arg = false, name = "self requires grad" },
}, { base_fails = true })
method("item", { "self" }, function() return { self = R(2, 3) } end, {
    { nil, nil, "expected a tensor with one element, got 6 elements", arg = false, name = "of 6 elements" },
}, { base_fails = true })
method("save_npy", { "self", "path" }, function() return { self = R(2), path = "/tmp/x.npy" } end, {
    { "path", 42, "expected a string" },
})
method("same_storage", { "self", "other" }, function() return { self = R(2), other = R(2) } end, {
    { "other", "x", "expected a causalconv.Tensor" },
})
method("requires_grad_", { "self", "flag" }, function() return { self = F64(2), flag = true } end, {
    { "flag", "yes", "expected a boolean" },
    { "self", cc.zeros(2, { dtype = "i32" }), "only float tensors", arg = false, name = "of an i32 tensor" },
})
method("backward", { "self", "grad", "opts" }, function()
    local x = leaf(3)
    return { self = (x * 2):sum(), opts = {} }
end, {
    { "opts.retain_grap", true, 'unknown option "retain_grap"', arg = "opts" },
    { "opts.retain_graph", "yes", "expected a boolean or nil" },
    { "grad", "x", "expected a tensor", extra = function(c) c.opts = nil end },
    { "grad", F64(2), "expected shape ()" },
    { "self", F64(2), "this tensor does not require grad", arg = false, name = "self does not require grad" },
    { "self", function() return leaf(3) * 2 end, "a gradient can be created implicitly only for a one-element output",
      arg = false, name = "of a 3-element output without grad" },
})
method("zero_grad", { "self", "opts" }, function() return { self = leaf(2), opts = {} } end, {
    { "opts.set_to_nil", true, 'unknown option "set_to_nil"', arg = "opts" },
    { "opts.set_to_none", 1, "expected a boolean or nil" },
    { "opts", "yes", "expected a table of options or nil" },
})
method("retain_grad", { "self" }, function() return { self = F64(2) } end, {
    { nil, nil, "this tensor does not require grad", arg = false, name = "of a tensor that does not require grad" },
}, { base_fails = true })

-- element access through the metamethods
spec {
    name = "x[{1, 2, 5}]", fn = Tensor.mt.__index, params = { "self", "k" },
    base = function() return { self = R(2, 3, 4), k = { 1, 2, 3 } } end,
    rows = { { "k", { 1, 2, 5 }, "index 5 out of range for dim 3 of size 4", arg = "index" } },
}
spec {
    name = "x[{1, 2}]", fn = Tensor.mt.__index, params = { "self", "k" }, base_fails = true,
    base = function() return { self = R(2, 3, 4), k = { 1, 2 } } end,
    rows = { { nil, nil, "expected 3 indices for a 3-d tensor, got 2", arg = false, name = "of a 3-d tensor" } },
}
spec {
    name = "x[{1}] = v", fn = Tensor.mt.__newindex, params = { "self", "k", "v" },
    base = function() return { self = cc.zeros(3, { dtype = "i64" }), k = { 1 }, v = 1 } end,
    outs = { "self" },
    rows = {
        { "v", "a", "expected a number", arg = false },
        { "v", 2 ^ 60, "Lua numbers are exact only up to 2^53", arg = false },
        { "v", 2 ^ 63, "is out of range for i64", arg = false },
        { "v", 0 / 0, "is not an integer", arg = false },
        { "v", 2 ^ 31, "is out of range for i32", arg = false, extra = function(c) c.self = cc.zeros(3, { dtype = "i32" }) end },
        { "self", leaf(3), "in-place change of a tensor that requires grad", arg = false, name = "self requires grad" },
    },
}

-- ---- settings, files, autograd --------------------------------------------------------------------

spec {
    name = "set_num_threads", fn = cc.set_num_threads, params = { "n" }, base = function() return { n = cc.get_num_threads() } end,
    rows = { { "n", 0, "expected an integer from 1 to 1024" }, { "n", 1025, "expected an integer from 1 to 1024" },
             { "n", 2 ^ 31 - 1, "expected an integer from 1 to 1024" }, { "n", 1.5, "expected an integer" },
             { "n", "2", "expected an integer" } },
}
spec {
    name = "manual_seed", fn = cc.manual_seed, params = { "seed" }, base = function() return { seed = cc.initial_seed() } end,
    rows = { { "seed", -1, "expected a non-negative integer" }, { "seed", 1.5, "expected a non-negative integer" },
             { "seed", "1", "expected a non-negative integer" }, { "seed", 2 ^ 64, "expected a non-negative integer" } },
}
spec {
    name = "set_reference_kernels", fn = cc.set_reference_kernels, params = { "on" },
    base = function() return { on = cc.get_reference_kernels() } end,
    rows = { { "on", "yes", "expected a boolean" } },
}
spec {
    name = "set_grad_enabled", fn = cc.set_grad_enabled, params = { "on" }, base = function() return { on = true } end,
    rows = { { "on", 1, "expected a boolean" } },
}
spec {
    name = "load_npy", fn = cc.load_npy, params = { "path" }, base = function() return { path = "x.npy" } end, base_fails = true,
    rows = { { "path", 42, "expected a string" } },
}
spec {
    name = "save_npy", fn = cc.save_npy, params = { "t", "path" }, tensors = { "t" },
    base = function() return { t = R(2), path = "/tmp/x.npy" } end,
    rows = { { "path", false, "expected a string" } },
}
for _, name in ipairs({ "no_grad", "enable_grad" }) do
    spec {
        name = name, fn = cc[name], params = { "fn" }, base = function() return { fn = function() end } end,
        rows = { { "fn", 3, "expected a function" } },
    }
end
spec {
    name = "zero_grad", fn = cc.zero_grad, params = { "params", "opts" }, options = { set_to_none = "boolean" },
    base = function() return { params = { leaf(2) }, opts = {} } end,
    rows = { { "params", 3, "expected a tensor or a table of tensors" } },
}
spec {
    name = "gradcheck", fn = cc.gradcheck, params = { "fn", "inputs", "opts" },
    options = { eps = "number", atol = "number", rtol = "number", nondet_tol = "number" },
    base = function() return { fn = function(a) return a * 2 end, inputs = { leaf(2) }, opts = {} } end,
    rows = {
        { "fn", 3, "expected a function" },
        { "inputs", "x", "expected a list of tensors" },
        { "inputs", { F64(2) }, "no input has requires_grad = true" },
        { "inputs", { cc.randn(2, { requires_grad = true }) }, "expected an f64 tensor", arg = "inputs[1]" },
        { "opts.names", "x", "expected a table or nil" },
    },
}

-- ---- tensor ops -----------------------------------------------------------------------------------

for _, name in ipairs({ "add", "sub", "mul", "div" }) do
    spec {
        name = name, fn = cc[name], params = { "a", "b" },
        base = function() return { a = F64(2, 3), b = F64(2, 3) } end,
        rows = {
            { "a", "x", "expected a tensor or a number" },
            { "b", {}, "expected a tensor or a number" },
            { "b", R(2, 3), "expected dtype f64 (the dtype of a)" },
            { "b", F64(3, 2), "do not broadcast", arg = "shapes" },
            { "a", I64({ 1, 2, 3 }), "expected a float tensor", extra = function(c) c.b = 1 end },
            { "b", I64({ 1, 2, 3 }), "expected a float tensor", extra = function(c) c.a = 1 end },
            { "b", I64({ 1, 2, 3 }), "expected a float tensor", extra = function(c) c.a = I64({ 1, 2, 3 }) end,
              arg = "a", name = "two i64 tensors" },
            { "a", 1, "expected at least one tensor operand", arg = false, extra = function(c) c.b = 2 end },
        },
    }
end
spec {
    name = "pow", fn = cc.pow, params = { "a", "b" }, base = function() return { a = F64(2), b = 2 } end,
    rows = { { "b", F64(2), "expected a number exponent", arg = false }, { "a", "x", "expected a tensor or a number" } },
}
for _, name in ipairs({ "neg", "exp", "log", "sqrt", "rsqrt", "abs", "sigmoid", "silu", "softplus", "tanh", "relu" }) do
    spec {
        name = name, fn = cc[name], params = { "x" }, tensors = { "x" }, base = function() return { x = F64(2) } end,
        rows = { { "x", I32({ 1 }), "expected a float tensor" } },
    }
end
for _, name in ipairs({ "sum", "mean" }) do
    spec {
        name = name, fn = cc[name], params = { "x", "dim", "keepdim" }, tensors = { "x" },
        base = function() return { x = F64(2, 3), dim = 1, keepdim = false } end,
        rows = {
            { "dim", 3, "out of range for a 2-d tensor" }, { "dim", "a", "expected nil, a dim or a list of dims" },
            { "dim", { 1, 0 }, "dims are 1-based" }, { "keepdim", "yes", "expected a boolean or nil" },
            { "x", I64({ 1 }), "expected a float tensor" },
        },
    }
end
spec {
    name = "max", fn = cc.max, params = { "x", "dim", "keepdim" }, tensors = { "x" },
    base = function() return { x = F64(2, 3), dim = 2 } end,
    rows = { { "dim", 3, "out of range" }, { "keepdim", 1, "expected a boolean or nil" },
             { "x", F64(2, 0), "has size 0, so it has no maximum" },
             { "x", F64(0), "expected at least one element", extra = function(c) c.dim = nil end } },
}
for _, name in ipairs({ "softmax", "log_softmax" }) do
    spec {
        name = name, fn = cc[name], params = { "x", "dim" }, tensors = { "x" }, base = function() return { x = F64(2, 3), dim = 2 } end,
        rows = { { "dim", 0, "dims are 1-based" }, { "dim", 1.5, "expected an integer dim" } },
    }
end
spec {
    name = "matmul", fn = cc.matmul, params = { "a", "b" }, tensors = { "a", "b" },
    base = function() return { a = F64(2, 3), b = F64(3, 4) } end,
    rows = {
        { "b", F64(2, 3), "sizes do not match", arg = false },
        { "b", R(3, 4), "expected dtype f64 (the dtype of a)" },
        { "a", F64(2, 2, 3), "do not broadcast", arg = false, extra = function(c) c.b = F64(3, 3, 4) end },
        { "b", cc.tensor(1, { dtype = "f64" }), "expected operands with at least one dim", arg = false },
        { "a", I64({ 1, 2, 3 }), "expected a float tensor" },
    },
}
spec {
    name = "linear", fn = cc.linear, params = { "x", "weight", "bias" }, tensors = { "x", "weight" },
    base = function() return { x = F64(2, 3), weight = F64(4, 3), bias = F64(4) } end,
    rows = {
        { "weight", F64(4, 2), "expected shape (out, 3) to match x (2, 3)" },
        { "weight", F64(12), "expected shape (out, in)" },
        { "bias", F64(3), "expected shape (4)" },
        { "bias", R(4), "expected dtype f64" },
        { "bias", "b", "expected a causalconv.Tensor" },
    },
}
spec {
    name = "cat", fn = cc.cat, params = { "tensors", "dim" }, base = function() return { tensors = { F64(2, 3), F64(1, 3) }, dim = 1 } end,
    rows = {
        { "tensors", {}, "expected a non-empty list of tensors" },
        { "tensors", "x", "expected a non-empty list of tensors" },
        { "tensors", { F64(2, 3), "x" }, "expected a causalconv.Tensor", arg = "tensors[2]" },
        { "tensors", { F64(2, 3), F64(2, 4) }, "expected shape (*, 3)", arg = "tensors[2]" },
        { "tensors", { F64(2, 3), R(1, 3) }, "expected dtype f64", arg = "tensors[2]" },
        { "dim", 3, "out of range" },
    },
}
spec {
    name = "split", fn = cc.split, params = { "x", "size", "dim" }, tensors = { "x" },
    base = function() return { x = F64(5), size = 2, dim = 1 } end,
    rows = {
        { "size", 0, "expected a positive integer" }, { "size", 1.5, "expected a positive integer" },
        { "size", { 1.5, 3.5 }, "expected a non-negative integer, got 1.5", arg = "size[1]" },
        { "size", { 2, -1, 4 }, "expected a non-negative integer, got -1", arg = "size[2]" },
        { "size", { 2, 2 }, "expected sizes summing to 5" }, { "size", "a", "expected a number or a list of sizes" },
        { "dim", 2, "out of range" },
    },
}
spec {
    name = "chunk", fn = cc.chunk, params = { "x", "n", "dim" }, tensors = { "x" },
    base = function() return { x = F64(5), n = 2 } end,
    rows = { { "n", 0, "expected a positive integer" }, { "n", 1.5, "expected a positive integer" }, { "dim", 2, "out of range" } },
}
spec {
    name = "index_select", fn = cc.index_select, params = { "x", "dim", "index" }, tensors = { "x", "index" },
    base = function() return { x = F64(5, 3), dim = 1, index = I64({ 0, 4 }) } end,
    rows = {
        { "index", F64(2), "expected a 1-D i32 or i64 tensor" },
        { "index", I64({ { 0 } }), "expected a 1-D i32 or i64 tensor" },
        { "index", I64({ 0, 5 }), "expected values in [0, 5)" },
        { "index", I64({ -1 }), "expected values in [0, 5)" },
        { "dim", 3, "out of range" },
        { "x", I64({ 1 }), "expected a float tensor" },
    },
}
spec {
    name = "embedding", fn = cc.embedding, params = { "weight", "ids" }, tensors = { "weight", "ids" },
    base = function() return { weight = F64(5, 3), ids = I64({ { 0, 4 } }) } end,
    rows = {
        { "ids", I64({ { 1, 7 } }), "expected values in [0, 5)" },
        { "ids", F64(2), "expected an i32 or i64 tensor of 0-based rows" },
        { "weight", F64(5), "expected shape (V, D)" },
    },
}
spec {
    name = "cross_entropy", fn = cc.cross_entropy, params = { "logits", "target", "opts" }, tensors = { "logits", "target" },
    options = { ignore_index = "integer" },
    base = function() return { logits = F64(2, 3), target = I64({ 0, 2 }), opts = {} } end,
    rows = {
        { "opts.ignore_idx", 1, 'unknown option "ignore_idx"', arg = "opts" },
        { "target", I64({ 0, 3 }), "expected values in [0, 3)" },
        { "target", F64(2), "expected an i32 or i64 tensor of shape (2)" },
        { "target", I64({ 0 }), "expected an i32 or i64 tensor of shape (2)" },
        { "logits", F64(6), "expected shape (N, C)" },
    },
}
spec {
    name = "mse_loss", fn = cc.mse_loss, params = { "a", "b" }, tensors = { "a", "b" },
    base = function() return { a = F64(3), b = F64(3) } end,
    rows = { { "b", F64(2), "a (3) and b (2) must have the same shape (mse_loss does not broadcast)", arg = "a" },
             { "b", F64(3, 1), "a (3) and b (3, 1) must have the same shape", arg = "a" }, { "b", R(3), "expected dtype f64" } },
}
spec {
    name = "rms_norm", fn = cc.rms_norm, params = { "x", "weight", "eps" }, tensors = { "x" },
    base = function() return { x = F64(2, 3), weight = F64(3), eps = 1e-5 } end,
    rows = {
        { "eps", "a", "expected a number" },
        { "weight", F64(4), "expected shape (3)" },
        { "weight", "w", "expected a causalconv.Tensor" },
        { "x", cc.tensor(1, { dtype = "f64" }), "expected at least one dim" },
    },
}
spec {
    name = "sum_to_size", fn = cc.sum_to_size, params = { "x", "a" }, tensors = { "x" },
    base = function() return { x = F64(2, 3), a = 3 } end,
    rows = { { "a", 2, "expected a size x (2, 3) broadcasts from", arg = "size" } },
}
for _, name in ipairs({ "add_", "sub_", "mul_", "div_" }) do
    method(name, { "self", "other" }, function() return { self = F64(2, 3), other = F64(3) } end, {
        { "other", "a", "expected a tensor or a number" },
        { "other", R(3), "expected dtype f64 (the dtype of self)" },
        { "other", F64(2, 2), "do not broadcast", arg = "shapes" },
        { "other", F64(4, 2, 3), "expected a size that broadcasts to self's (2, 3)" },
        { "self", I64({ 1 }), "expected a float tensor", extra = function(c) c.other = 1 end },
        { "self", leaf(3), "in-place change of a tensor that requires grad", arg = false, name = "self requires grad" },
    }, { outs = { "self" } })
end

-- ---- bench ----------------------------------------------------------------------------------------

spec {
    name = "bench.compare", fn = cc.bench.compare, params = { "fns", "opts" },
    options = { device = "device", warmup = "count", min_sample_ms = "number" },
    base = function() return { fns = { function() end }, opts = { warmup = 0, ["repeat"] = 1, min_sample_ms = 0 } } end,
    rows = { { "fns", 3, "expected a table of functions" }, { "fns", { 3 }, "expected a function", arg = "fns[1]" },
             { "opts.repeat", 0, "expected a positive integer or nil" }, { "opts.repeats", 3, 'unknown option "repeats"', arg = "opts" } },
}
spec {
    name = "bench.time", fn = cc.bench.time, params = { "fn", "opts" },
    base = function() return { fn = function() end, opts = { warmup = 0, ["repeat"] = 1, min_sample_ms = 0 } } end,
    rows = { { "fn", "f", "expected a function" }, { "opts.warmup", 1.5, "expected a non-negative integer or nil" } },
}
spec {
    name = "bench.copy", fn = cc.bench.copy, params = { "nbytes", "opts" }, options = { dtype = "dtype", device = "device" },
    base = function() return { nbytes = 4096, opts = {} } end,
    rows = { { "nbytes", "4k", "expected a number" }, { "opts.sets", 0, "expected a positive integer or nil" } },
}
spec {
    name = "bench.progress", fn = cc.bench.progress, params = { "n", "opts" }, options = { force = "boolean" },
    base = function() return { n = 2, opts = {} } end,
    rows = { { "n", -1, "expected a non-negative integer" }, { "opts.stream", 3, "expected an open file or nil" } },
}

register(SPECS, "bad input")

-- ---- mixed devices --------------------------------------------------------------------------------
-- All tensors of one call must be on one device: checked in Lua before any output is allocated,
-- naming the user's argument (not an output the library made).

describe("bad input: mixed devices #cuda", function()
    local function other(t) return t:to("cuda") end
    -- { function name, the function, its arguments (built when the test runs), the argument on another device }
    local cases = {
        { "causal_conv1d", cc.causal_conv1d, function() return { R(B, D, L), other(R(D, W)) } end, "weight" },
        { "causal_conv1d", cc.causal_conv1d, function() return { R(B, D, L), R(D, W), other(R(D)) } end, "bias" },
        { "causal_conv1d", cc.causal_conv1d, function() return { R(B, D, L), R(D, W), nil, { out = other(E(B, D, L)) } } end, "out" },
        { "causal_conv1d", cc.causal_conv1d,
          function() return { R(B, D, L), R(D, W), nil, { seq_idx = other(cc.zeros(B, L, { dtype = "i32" })) } } end, "seq_idx" },
        { "causal_conv1d", cc.causal_conv1d,
          function() return { R(B, D, L), R(D, W), nil, { initial_states = other(R(B, D, W - 1)) } } end, "initial_states" },
        { "causal_conv1d_backward", cc.causal_conv1d_backward, function() return { R(B, D, L), R(D, W), nil, other(R(B, D, L)) } end, "dout" },
        { "causal_conv1d_backward", cc.causal_conv1d_backward,
          function() return { R(B, D, L), R(D, W), nil, R(B, D, L), { dx = other(E(B, D, L)) } } end, "dx" },
        { "causal_conv1d_update", cc.causal_conv1d_update, function() return { R(B, D), other(R(B, D, W - 1)), R(D, W) } end, "conv_state" },
        { "causal_conv1d_varlen", cc.causal_conv1d_varlen, function() return { R(T, D), R(D, W), nil, other(I32({ 0, T })) } end, "cu_seqlens" },
        { "causal_conv1d_varlen_backward", cc.causal_conv1d_varlen_backward,
          function() return { R(T, D), other(R(D, W)), nil, R(T, D), I32({ 0, T }) } end, "weight" },
        { "causal_conv1d_varlen_states", cc.causal_conv1d_varlen_states, function() return { R(T, D), other(I32({ 0, T })), 3 } end, "cu_seqlens" },
        { "add", cc.add, function() return { R(2), other(R(2)) } end, "b" },
        { "matmul", cc.matmul, function() return { R(2, 2), other(R(2, 2)) } end, "b" },
        { "cat", cc.cat, function() return { { R(2), other(R(2)) } } end, "tensors[2]" },
        { "index_select", cc.index_select, function() return { R(3), 1, other(I64({ 0 })) } end, "index" },
        { "embedding", cc.embedding, function() return { R(3, 2), other(I64({ 0 })) } end, "ids" },
        { "cross_entropy", cc.cross_entropy, function() return { R(2, 3), other(I64({ 0, 1 })) } end, "target" },
        { "rms_norm", cc.rms_norm, function() return { R(2, 3), other(R(3)) } end, "weight" },
        { "linear", cc.linear, function() return { R(2, 3), other(R(4, 3)) } end, "weight" },
        { "mse_loss", cc.mse_loss, function() return { R(3), other(R(3)) } end, "b" },
        { "add_", Tensor.add_, function() return { R(3), other(R(3)) } end, "other" },
    }
    for _, c in ipairs(cases) do
        it(c[1] .. ": " .. c[4] .. " on another device", function()
            if not cc.cuda.is_available() then pending("needs a CUDA device, real or emulated") end
            local fn, a = c[2], c[3]()
            local outs = {}
            for i = 1, 6 do
                local v = a[i]
                if type(v) == "table" and not cc.is_tensor(v) then
                    for _, k in ipairs({ "out", "dx" }) do if v[k] then outs[#outs + 1] = v[k]:fill_(SENTINEL) end end
                end
            end
            local err = expect_error(function() local r = fn(unpack(a, 1, 6)); return r end, c[1] .. ": " .. c[4] .. ": expected a tensor on cpu")
            assert.truthy(err:find("all tensors must be on one device", 1, true), err)
            for _, o in ipairs(outs) do assert.tensor_equal(o, cc.full(o:size(), SENTINEL, { device = o:device() })) end
        end)
    end

    it("causal_conv1d: out on another device is untouched", function()
        if not cc.cuda.is_available() then pending("needs a CUDA device, real or emulated") end
        local out = other(E(B, D, L)):fill_(SENTINEL)
        expect_error(function() cc.causal_conv1d(R(B, D, L), R(D, W), nil, { out = out }) end, "causal_conv1d: out: expected a tensor on cpu")
        assert.tensor_equal(out, cc.full({ B, D, L }, SENTINEL, { device = "cuda" }))
    end)
end)

-- ---- calls that must succeed --------------------------------------------------------------------

describe("accepted input", function()
    it("int64 cdata values are stored exactly (cc.tensor, fill_, full, x[i] = v)", function()
        local big = 2LL ^ 62 + 1
        assert.equal(big, cc.tensor({ big, 3 }, { dtype = "i64" }):totable()[1])
        assert.equal(big, cc.zeros(2, { dtype = "i64" }):fill_(big):totable()[2])
        assert.equal(big, cc.full({ 2 }, big, { dtype = "i64" }):totable()[1])
        local x = cc.zeros(3, { dtype = "i64" })
        x[{ 2 }] = big
        assert.same({ 0, big, 0 }, x:totable())
        assert.equal(-2 ^ 53, cc.tensor({ -2 ^ 53 }, { dtype = "i64" }):totable()[1])
        assert.equal(2 ^ 31 - 1, cc.tensor({ 2 ^ 31 - 1 }, { dtype = "i32" }):totable()[1])
    end)

    it("fill_ and x[i] = v on integer tensors truncate a fractional number toward zero", function()
        assert.same({ -3, -3 }, cc.zeros(2, { dtype = "i32" }):fill_(-3.75):totable())
        local x = cc.zeros(2, { dtype = "i64" })
        x[{ 1 }] = 2.5
        assert.same({ 2, 0 }, x:totable())
    end)

    it("autograd conv and varlen with opts nil", function()
        local x, w, b = leaf(1, 2, 5), leaf(2, 3), leaf(2)
        cc.causal_conv1d(x, w, b):sum():backward()
        assert.same({ 1, 2, 5 }, x.grad:size())
        assert.same({ 2, 3 }, w.grad:size())
        local xv, wv = leaf(6, 2), leaf(2, 3)
        cc.causal_conv1d_varlen(xv, wv, nil, I32({ 0, 2, 6 })):sum():backward()
        assert.same({ 6, 2 }, xv.grad:size())
        assert.same({ 2, 3 }, wv.grad:size())
    end)
end)

-- ---- what the core accepts: disjoint outputs, padding, conversions, overlapping copies -----------------

describe("accepted input: core semantics", function()
    it("causal_conv1d: out element-disjoint from x, with interleaved address ranges", function()
        local x, out = interleaved()
        local want = cc.causal_conv1d(x:contiguous(), R(D, W):fill_(0.5))
        cc.causal_conv1d(x, cc.full({ D, W }, 0.5), nil, { out = out })
        assert.tensor_near(out, want)
    end)

    it("causal_conv1d_backward: NaN and Inf in padding tokens' x reach neither dweight nor dbias nor dx", function()
        local x = R(1, 2, 6)
        local seq = I32({ { 0, 0, 0, 0, -1, -1 } })
        local w, bias, dout = R(2, 3), R(2), R(1, 2, 6)
        local _, dw_ref, db_ref = cc.causal_conv1d_backward(x, w, bias, dout, { seq_idx = seq })
        x[{ 1, 1, 6 }] = 0 / 0
        x[{ 1, 2, 5 }] = 1 / 0
        local dx, dw, db = cc.causal_conv1d_backward(x, w, bias, dout, { seq_idx = seq })
        assert.tensor_near(dw, dw_ref)
        assert.tensor_near(db, db_ref)
        assert.tensor_equal(dx:narrow(3, 5, 2), cc.zeros(1, 2, 2))
    end)

    it("to: NaN converts to 0 and infinities and out-of-range values saturate in integer dtypes", function()
        local v = cc.tensor({ 1, 0 / 0, 1 / 0, -1 / 0, 3e30 }):to("i64"):totable()
        assert.same({ 1, 0, 9223372036854775807LL, -9223372036854775808LL, 9223372036854775807LL }, v)
        assert.same({ 1, 0, 2 ^ 31 - 1, -2 ^ 31 }, cc.tensor({ 1, 0 / 0, 1 / 0, -1 / 0 }):to("i32"):totable())
    end)

    it("copy_: a destination overlapping its source (shifted view) gets the source's values (memmove)", function()
        local x = cc.arange(5)
        x:narrow(1, 2, 3):copy_(x:narrow(1, 1, 3))
        assert.same({ 0, 0, 1, 2, 4 }, x:totable())
        local y = cc.arange(5)
        y:narrow(1, 1, 3):copy_(y:narrow(1, 2, 3))
        assert.same({ 1, 2, 3, 3, 4 }, y:totable())
    end)
end)

-- ---- zero-size inputs: zero-size outputs, as in PyTorch --------------------------------------------

describe("zero-size inputs #zerosize", function()
    local function zeros_of(t) return cc.zeros(t:size(), { dtype = t:dtype() }) end

    for _, s in ipairs({ { 0, D, L }, { B, 0, L }, { B, D, 0 }, { 0, 0, 0 } }) do
        local b, d, l = s[1], s[2], s[3]
        local label = string.format("B=%d D=%d L=%d", b, d, l)

        it("causal_conv1d forward and backward, " .. label, function()
            local x, w, bias, init = R(b, d, l), R(d, W), R(d), R(b, d, W - 1)
            local out, final = cc.causal_conv1d(x, w, bias, { initial_states = init, return_final_states = true, activation = "silu" })
            assert.same({ b, d, l }, out:size())
            assert.same({ b, d, W - 1 }, final:size())
            if l == 0 then assert.tensor_equal(final, init) end   -- the last W-1 of concat(init, x)
            local dout, dfinal = R(b, d, l), R(b, d, W - 1)
            local dx, dw, db, dinit = cc.causal_conv1d_backward(x, w, bias, dout, { initial_states = init, dfinal_states = dfinal })
            assert.same({ b, d, l }, dx:size())
            assert.same({ d, W }, dw:size())
            assert.same({ d }, db:size())
            assert.same({ b, d, W - 1 }, dinit:size())
            if l == 0 then assert.tensor_equal(dinit, dfinal) end
            if b == 0 or l == 0 then
                assert.tensor_equal(dw, zeros_of(dw))
                assert.tensor_equal(db, zeros_of(db))
            end
        end)

        it("causal_conv1d through autograd, " .. label, function()
            local x, w, bias = leaf(b, d, l), leaf(d, W), leaf(d)
            local init = leaf(b, d, W - 1)
            local out, final = cc.causal_conv1d(x, w, bias, { initial_states = init, return_final_states = true })
            local loss = out:sum() + final:sum()
            loss:backward()
            assert.same({ b, d, l }, x.grad:size())
            assert.same({ d, W }, w.grad:size())
            assert.same({ d }, bias.grad:size())
            assert.same({ b, d, W - 1 }, init.grad:size())
        end)
    end

    it("causal_conv1d_update with B = 0 and with D = 0", function()
        assert.same({ 0, D }, cc.causal_conv1d_update(R(0, D), R(0, D, W - 1), R(D, W)):size())
        assert.same({ B, 0, 1 }, cc.causal_conv1d_update(R(B, 0, 1), R(B, 0, W - 1), R(0, W)):size())
        assert.same({ B, D, 0 }, cc.causal_conv1d_update(R(B, D, 0), R(B, D, W - 1), R(D, W)):size())
    end)

    for _, c in ipairs({ { "T=0, one empty sequence", 0, D, { 0, 0 } }, { "T=0, no sequence", 0, D, { 0 } },
                         { "D=0", T, 0, { 0, 5, T } } }) do
        it("causal_conv1d_varlen forward, backward and states, " .. c[1], function()
            local t, d, cu = c[2], c[3], I32(c[4])
            local n = #c[4] - 1
            local x, w = R(t, d), R(d, W)
            local out, final = cc.causal_conv1d_varlen(x, w, R(d), cu, { return_final_states = true })
            assert.same({ t, d }, out:size())
            assert.same({ n, d, W - 1 }, final:size())
            local dx, dw = cc.causal_conv1d_varlen_backward(x, w, nil, R(t, d), cu)
            assert.same({ t, d }, dx:size())
            assert.same({ d, W }, dw:size())
            assert.same({ n, d, 3 }, cc.causal_conv1d_varlen_states(x, cu, 3):size())
            assert.same({ n, d, 0 }, cc.causal_conv1d_varlen_states(x, cu, 0):size())
            local xl, wl = leaf(t, d), leaf(d, W)
            cc.causal_conv1d_varlen(xl, wl, nil, cu):sum():backward()
            assert.same({ t, d }, xl.grad:size())
            assert.same({ d, W }, wl.grad:size())
        end)
    end
end)
