-- Argument errors of the conv ops: each names the op and the argument, says what was expected
-- and what came, blames the caller's line, and leaves every output untouched.
local cc = require "causalconv"

local B, D, L, W = 2, 8, 10, 4
local function t(...) return cc.randn(...) end
local function i32(list) return cc.tensor(list, { dtype = "i32" }) end

-- Pre-filled outputs that must come out of a rejected call unchanged.
local function sentinels(list)
    for _, o in ipairs(list) do o:fill_(7) end
    return function()
        for _, o in ipairs(list) do assert.tensor_equal(o, cc.full(o:size(), 7, { dtype = o:dtype() })) end
    end
end

describe("causal_conv1d argument errors", function()
    local x, w, b = t(B, D, L), t(D, W), t(D)
    local out, fin = cc.empty(B, D, L), cc.empty(B, D, W - 1)
    local unchanged

    before_each(function() unchanged = sentinels({ out, fin }) end)
    after_each(function() unchanged() end)

    local function fwd(opts)
        opts = opts or {}
        opts.out = opts.out or out
        opts.final_states_out = opts.final_states_out or fin
        return cc.causal_conv1d(opts.x or x, opts.w or w, opts.b == nil and b or opts.b or nil, {
            out = opts.out, final_states_out = opts.final_states_out, seq_idx = opts.seq_idx,
            initial_states = opts.initial_states, activation = opts.activation })
    end

    it("rejects widths outside 1..16", function()
        expect_error(function() fwd({ w = t(D, 17) }) end, "causal_conv1d: weight: expected shape (D, W) = (8, *) with 1 <= W <= 16, got (8, 17) f32 cpu")
        expect_error(function() fwd({ w = t(D, 0) }) end, "with 1 <= W <= 16, got (8, 0)")
    end)

    it("rejects wrong ranks and shapes", function()
        expect_error(function() fwd({ x = t(B, D) }) end, "causal_conv1d: x: expected 3 dims (B, D, L), got a tensor (2, 8) f32 cpu")
        expect_error(function() fwd({ w = t(D + 1, W) }) end, "weight: expected shape (D, W) = (8, *)")
        expect_error(function() fwd({ b = t(D + 1) }) end, "causal_conv1d: bias: expected shape (8), got (9) f32 cpu")
        expect_error(function() fwd({ out = cc.empty(B, D, L + 1) }) end, "out: expected shape (2, 8, 10), got (2, 8, 11)")
        expect_error(function() fwd({ initial_states = t(B, D, W) }) end, "initial_states: expected shape (2, 8, 3), got (2, 8, 4)")
        expect_error(function() fwd({ seq_idx = cc.zeros(B, L + 1, { dtype = "i32" }) }) end, "seq_idx: expected shape (2, 10)")
    end)

    it("rejects unsupported dtypes and mismatched ones", function()
        expect_error(function() fwd({ x = cc.zeros(B, D, L, { dtype = "i32" }) }) end, "x: expected dtype f32, f64, f16 or bf16, got (2, 8, 10) i32 cpu")
        expect_error(function() fwd({ seq_idx = cc.zeros(B, L, { dtype = "i64" }) }) end, "seq_idx: expected dtype i32, got (2, 10) i64 cpu")
        expect_error(function() fwd({ out = cc.empty(B, D, L, { dtype = "f64" }) }) end, "out: expected dtype f32 (the dtype of x), got (2, 8, 10) f64 cpu")
        expect_error(function() fwd({ initial_states = t(B, D, W - 1, { dtype = "bf16" }) }) end, "final_states_out: expected dtype bf16 (the dtype of initial_states), got (2, 8, 3) f32 cpu")
    end)

    it("rejects outputs that overlap inputs or cannot be written", function()
        local buf = t(B, D, L)
        expect_error(function() fwd({ x = buf, out = buf }) end, "causal_conv1d: out (2, 8, 10) f32 cpu overlaps x (2, 8, 10) f32 cpu in memory")
        expect_error(function() fwd({ out = cc.empty(B, D, 1):expand(B, D, L) }) end, "out: expected an output whose elements do not overlap, got (2, 8, 10) f32 cpu with strides (8, 1, 0)")
    end)

    it("rejects bad options in Lua", function()
        expect_error(function() cc.causal_conv1d(x, w, b, { activaton = "silu" }) end, "causal_conv1d: opts: unknown option \"activaton\" (valid options: activation, seq_idx, initial_states, return_final_states, final_states_out, out)")
        expect_error(function() cc.causal_conv1d(x, w, b, { activation = "gelu" }) end, "causal_conv1d: activation: expected nil, \"silu\" or \"swish\", got \"gelu\"")
        expect_error(function() cc.causal_conv1d(x, "w", b) end, "causal_conv1d: weight: expected a causalconv.Tensor, got \"w\"")
    end)
end)

describe("causal_conv1d_backward argument errors", function()
    local x, w, b, g = t(B, D, L), t(D, W), t(D), t(B, D, L)
    local dx = cc.empty(B, D, L)
    local unchanged
    before_each(function() unchanged = sentinels({ dx }) end)
    after_each(function() unchanged() end)

    it("names the bad argument", function()
        expect_error(function() cc.causal_conv1d_backward(x, w, b, t(B, D, L - 1), { dx = dx }) end, "causal_conv1d_backward: dout: expected shape (2, 8, 10), got (2, 8, 9) f32 cpu")
        expect_error(function() cc.causal_conv1d_backward(x, w, b, g, { dx = dx, dfinal_states = t(B, D, 2) }) end, "dfinal_states: expected shape (2, 8, 3)")
        expect_error(function() cc.causal_conv1d_backward(x, w, b, g, { dx = g }) end, "causal_conv1d_backward: dx (2, 8, 10) f32 cpu overlaps dout")
        expect_error(function() cc.causal_conv1d_backward(x, w, b, g, { dx = dx, determinstic = true }) end, "unknown option \"determinstic\"")
    end)
end)

describe("causal_conv1d_update argument errors", function()
    local x, w = t(B, D, 1), t(D, W)
    local state, out = t(B, D, W - 1), cc.empty(B, D, 1)
    local pool = t(5, D, W - 1)
    local unchanged
    before_each(function() unchanged = sentinels({ state, out, pool }) end)
    after_each(function() unchanged() end)

    it("checks state_len, pool indices and their dtypes", function()
        expect_error(function() cc.causal_conv1d_update(x, t(B, D, W - 2):fill_(7), w, nil, { out = out }) end, "causal_conv1d_update: conv_state: expected shape (B, D, state_len) = (2, 8, >= W-1 = 3)")
        expect_error(function() cc.causal_conv1d_update(x, pool, w, nil, { out = out, conv_state_indices = i32({ 0, 5 }) }) end, "conv_state_indices: expected values < 5 (conv_state's first dim) or < 0 for padding, got 5 at 0-based position 1")
        expect_error(function() cc.causal_conv1d_update(x, pool, w, nil, { out = out, conv_state_indices = i32({ 3, 3 }) }) end, "conv_state_indices: expected distinct state rows, got 3 at 0-based positions 0 and 1")
        expect_error(function() cc.causal_conv1d_update(x, pool, w, nil, { out = out, conv_state_indices = cc.tensor({ 0, 1 }, { dtype = "i64" }) }) end, "conv_state_indices: expected dtype i32, got (2) i64 cpu")
        expect_error(function() cc.causal_conv1d_update(x, state, w, nil, { out = out, cache_seqlens = i32({ 1 }) }) end, "cache_seqlens: expected shape (2), got (1) i32 cpu")
        expect_error(function() cc.causal_conv1d_update(x, state, w, nil, { out = state:narrow(3, 1, 1) }) end, "causal_conv1d_update: out (2, 8, 1) f32 cpu overlaps conv_state")
    end)
end)

describe("causal_conv1d_varlen argument errors", function()
    local T = 12
    local x, w = t(T, D), t(D, W)
    local out = cc.empty(T, D)
    local unchanged
    before_each(function() unchanged = sentinels({ out }) end)
    after_each(function() unchanged() end)

    it("checks cu_seqlens values", function()
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, i32({ 1, 5, 12 }), { out = out }) end, "causal_conv1d_varlen: cu_seqlens: expected cu_seqlens[0] = 0, got 1")
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, i32({ 0, 7, 5, 12 }), { out = out }) end, "cu_seqlens: expected non-decreasing values, got 7 then 5 at 0-based positions 1, 2")
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, i32({ 0, 5, 11 }), { out = out }) end, "cu_seqlens: expected the last value to equal the token count T = 12 (x's first dim), got 11")
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, i32({ 0, 5, 13 }), { out = out }) end, "got 13")
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, cc.tensor({ 0, 12 }), { out = out }) end, "cu_seqlens: expected dtype i32 or i64, got (2) f32 cpu")
        expect_error(function() cc.causal_conv1d_varlen(x, w, nil, i32({ 0, 12 }), { out = out, initial_states = t(2, D, W - 1) }) end, "initial_states: expected shape (1, 8, 3), got (2, 8, 3)")
    end)

    it("checks varlen_states arguments", function()
        expect_error(function() cc.causal_conv1d_varlen_states(x, i32({ 0, 12 }), -1) end, "causal_conv1d_varlen_states: state_len: expected a non-negative integer, got -1")
        expect_error(function() cc.causal_conv1d_varlen_states(x, i32({ 0, 12 }), 3, { out = cc.zeros(2, D, 3) }) end, "causal_conv1d_varlen_states: out: expected shape (N, D, state_len) = (1, 8, *), got (2, 8, 3)")
    end)

    it("rejects tensors on different devices #cuda", function()
        if not cc.cuda.is_available() then pending("needs a CUDA device, real or emulated (CAUSALCONV_LIB=build/emu/libcausalconv.so)") end
        expect_error(function() cc.causal_conv1d_varlen(x, w:to("cuda"), nil, i32({ 0, 12 }), { out = out }) end, "all tensors must be on one device")
    end)
end)
