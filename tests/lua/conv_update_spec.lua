-- causal_conv1d_update (decode): the oracle against hand-computed values, then the kernels under
-- test against it. States must match the reference bit for bit; outputs within Dao's tolerances.
local cc = require "causalconv"
local U = require "conv_util"

local function dev(t) return t and t:to(TEST_DEVICE) or nil end

describe("causal_conv1d_update reference kernel", function()
    local w = cc.tensor({ { 1, 10, 100 } }, { dtype = "f64" })
    local function state() return cc.tensor({ { { 1, 2, 3 } } }, { dtype = "f64" }) end
    local x = cc.tensor({ { { 10, 20 } } }, { dtype = "f64" })

    it("shifts a linear state and convolves over concat(history, x)", function()
        local s = state()
        local out = U.ref(cc.causal_conv1d_update, x, s, w, nil)
        assert.tensor_equal(out, cc.tensor({ { { 1032, 2103 } } }, { dtype = "f64" }))
        assert.tensor_equal(s, cc.tensor({ { { 3, 10, 20 } } }, { dtype = "f64" }))
        -- more new tokens than state slots: only x's tail survives
        s = state()
        U.ref(cc.causal_conv1d_update, cc.tensor({ { { 10, 20, 30, 40 } } }, { dtype = "f64" }), s, w, nil)
        assert.tensor_equal(s, cc.tensor({ { { 20, 30, 40 } } }, { dtype = "f64" }))
    end)

    it("treats the state as a circular buffer with cache_seqlens (true modulo for negatives)", function()
        for _, len in ipairs({ 4, -2, 1 }) do   -- all give slot r = 1 for state_len 3
            local s = state()
            local out = U.ref(cc.causal_conv1d_update, x, s, w, nil,
                              { cache_seqlens = cc.tensor({ len }, { dtype = "i32" }) })
            assert.tensor_equal(out, cc.tensor({ { { 1013, 2101 } } }, { dtype = "f64" }))
            assert.tensor_equal(s, cc.tensor({ { { 1, 10, 20 } } }, { dtype = "f64" }))
        end
    end)

    it("zeroes padding rows and leaves their state alone", function()
        local s = cc.tensor({ { { 1, 2, 3 } }, { { 4, 5, 6 } } }, { dtype = "f64" })
        local out = U.ref(cc.causal_conv1d_update, x, s, w, nil, { conv_state_indices = cc.tensor({ -1 }, { dtype = "i32" }) })
        assert.tensor_equal(out, cc.zeros(1, 1, 2, { dtype = "f64" }))
        assert.tensor_equal(s, cc.tensor({ { { 1, 2, 3 } }, { { 4, 5, 6 } } }, { dtype = "f64" }))
        U.ref(cc.causal_conv1d_update, x, s, w, nil, { conv_state_indices = cc.tensor({ 1 }, { dtype = "i32" }) })
        assert.tensor_equal(s, cc.tensor({ { { 1, 2, 3 } }, { { 6, 10, 20 } } }, { dtype = "f64" }))
    end)
end)

-- One update against the reference: x (B, D, S) and conv_state channel-last views as in Dao's
-- tests (c.cf: contiguous channel-first ones); optional cache_seqlens, pool with
-- conv_state_indices (padding rows), state dtype.
local function check_update(c)
    local B, D, S, W = c.B or 8, c.D, c.S, c.W
    local itype, stype = c.itype, c.stype or c.itype
    local SL = c.state_len or math.random(W - 1, W + 9)
    local P = c.pool and B * 3 or B
    local function make(n, len, dtype)
        if c.cf then return cc.randn(n, D, len, { dtype = dtype }) end
        return cc.randn(n, len, D, { dtype = dtype }):transpose(2, 3)
    end
    local x = make(B, S, itype)
    local w, b = cc.randn(D, W), c.bias and cc.randn(D) or nil
    local state0 = make(P, SL, stype)
    local cache, idx
    if c.cache then
        local v = {}
        for i = 1, B do v[i] = math.random(-1000, 1023) end
        cache = cc.tensor(v, { dtype = "i32" })
    end
    if c.pool then
        local perm = {}
        for i = 0, P - 1 do perm[i + 1] = i end
        for i = P, 2, -1 do local j = math.random(1, i); perm[i], perm[j] = perm[j], perm[i] end
        local v = {}
        for i = 1, B do v[i] = (c.padding and i % 2 == 0) and -1 or perm[i] end
        idx = cc.tensor(v, { dtype = "i32" })
    end
    local act = c.silu and "silu" or nil
    local ref_state = state0:clone()
    local rout = U.ref(cc.causal_conv1d_update, x, ref_state, w, b, { activation = act, cache_seqlens = cache,
                                                                      conv_state_indices = idx })
    local sd = state0:to(TEST_DEVICE)
    if TEST_DEVICE == "cpu" then sd = make(P, SL, stype):copy_(state0) end
    local out = cc.causal_conv1d_update(dev(x), sd, dev(w), dev(b), { activation = act, cache_seqlens = dev(cache),
                                                                    conv_state_indices = dev(idx) })
    U.near(out, rout, U.TOL[itype], "out")
    assert.tensor_equal(sd:to("cpu"), ref_state)
    if c.padding then
        local used = {}
        for i = 1, B do
            local v = idx[{ i }]
            if v < 0 then
                assert.tensor_equal(out:select(1, i):to("cpu"), cc.zeros(D, S, { dtype = itype }))
            else
                used[v + 1] = true
            end
        end
        local sc = sd:to("cpu")
        for p = 1, P do
            if not used[p] then assert.tensor_equal(sc:select(1, p), state0:select(1, p)) end
        end
    end
end

local GRID = {
    D = { 2048, 2064 }, W = { 2, 3, 4 }, S = { 1, 4, 5 }, cache = { false, true }, bias = { false, true },
    silu = { false, true }, itype = { "f32", "f16", "bf16" },
}
local AXES = { "D", "W", "S", "cache", "bias", "silu", "itype" }

describe("causal_conv1d_update against the reference #cuda", function()
    for _, mode in ipairs({ "plain", "pool", "padding" }) do
        for i, c in ipairs(U.sample(GRID, AXES, mode == "plain" and 37 or 71, mode == "pool" and 3 or 0)) do
            it(mode .. " " .. U.case_name(c, AXES), function()
                math.randomseed(i * 3 + #mode)
                cc.manual_seed(i * 3 + #mode)
                c.pool = mode ~= "plain"
                c.padding = mode == "padding"
                if c.padding then c.cache = false end
                check_update(c)
            end)
        end
    end

    it("widths 1 to 16, more new tokens than state slots, odd state lengths", function()
        math.randomseed(41)
        cc.manual_seed(41)
        for W = 1, 16 do
            check_update({ B = 3, D = 19, S = 9, W = W, state_len = W - 1, itype = "f32", bias = true, silu = true })
            check_update({ B = 3, D = 19, S = 2, W = W, state_len = W + 3, cache = true, itype = "f32", bias = true,
                           pool = true, padding = true })
        end
    end)

    it("channel-first x and state; states longer than the CPU's block buffers (its per-channel path)", function()
        math.randomseed(45)
        cc.manual_seed(45)
        for _, W in ipairs({ 2, 4, 7 }) do
            check_update({ B = 5, D = 70, S = 1, W = W, cf = true, itype = "f32", bias = true, silu = true })
            check_update({ B = 5, D = 70, S = 4, W = W, cf = true, cache = true, itype = "bf16", pool = true, padding = true })
            check_update({ B = 3, D = 70, S = 3, W = W, state_len = 70, cf = true, itype = "f32", bias = true })
            check_update({ B = 3, D = 70, S = 2, W = W, state_len = 66, cf = true, cache = true, itype = "f32", silu = true })
        end
    end)

    it("keeps an f32 state for bf16 activations, and an f64 one for f16", function()
        math.randomseed(43)
        cc.manual_seed(43)
        check_update({ D = 64, S = 3, W = 4, itype = "bf16", stype = "f32", bias = true, silu = true, cache = true })
        check_update({ D = 64, S = 3, W = 4, itype = "f16", stype = "f64", bias = true, pool = true, padding = true })
        check_update({ D = 64, S = 3, W = 4, itype = "f32", stype = "bf16", bias = true, silu = true })
    end)

    it("takes x (B, D) and returns (B, D)", function()
        cc.manual_seed(47)
        local B, D, W = 4, 10, 4
        local x, w = cc.randn(B, D), cc.randn(D, W)
        local s = cc.randn(B, D, W - 1)
        local rs = s:clone()
        local rout = U.ref(cc.causal_conv1d_update, x, rs, w, nil, { activation = "silu" })
        local sd = s:clone():to(TEST_DEVICE)
        local out = cc.causal_conv1d_update(dev(x), sd, dev(w), nil, { activation = "silu" })
        assert.are.same({ B, D }, out:size())
        U.near(out, rout, U.TOL.f32)
        assert.tensor_equal(sd:to("cpu"), rs)
    end)
end)

-- On cuda, index tensors are read on the host (a copy that waits for the device) only when their
-- values may have changed since they last passed: a decode loop with one conv_state_indices (and
-- a varlen call with one cu_seqlens) waits once, and an in-place change is checked again.
describe("index checks on cuda wait for the device once per content #cuda", function()
    if TEST_DEVICE ~= "cuda" then
        it("(cuda only)", function() end)
        return
    end
    local function copies() return cc.cuda.memory_stats().device_to_host_copies end

    it("conv_state_indices: one copy for a decode loop; a changed tensor is checked again", function()
        cc.manual_seed(51)
        local B, D, W, P = 4, 32, 4, 8
        local w, state = cc.randn(D, W, { device = "cuda" }), cc.randn(P, D, W - 1, { device = "cuda" })
        local idx = cc.tensor({ 5, -1, 0, 7 }, { dtype = "i32" }):cuda()
        local x = cc.randn(B, D, 1, { device = "cuda" })
        local out = cc.empty(B, D, 1, { device = "cuda" })
        local c0 = copies()
        for _ = 1, 10 do cc.causal_conv1d_update(x, state, w, nil, { conv_state_indices = idx, out = out }) end
        assert.are.equal(1, copies() - c0)
        -- the same values in a new tensor are a new tensor: checked once more
        local idx2 = cc.tensor({ 5, -1, 0, 7 }, { dtype = "i32" }):cuda()
        cc.causal_conv1d_update(x, state, w, nil, { conv_state_indices = idx2, out = out })
        assert.are.equal(2, copies() - c0)
        -- written in place (two rows now name state row 0): checked again, refused, nothing written
        idx:copy_(cc.tensor({ 0, -1, 0, 7 }, { dtype = "i32" }))
        local before, state_before = out:to("cpu"), state:to("cpu")
        local ok, err = pcall(cc.causal_conv1d_update, x, state, w, nil, { conv_state_indices = idx, out = out })
        assert.is_false(ok)
        assert.truthy(tostring(err):find("expected distinct state rows", 1, true), tostring(err))
        assert.tensor_equal(out:to("cpu"), before)
        assert.tensor_equal(state:to("cpu"), state_before)
        -- a view with another offset is another check
        local wide = cc.tensor({ 9, 1, 2, 3, 4 }, { dtype = "i32" }):cuda()
        local c1 = copies()
        cc.causal_conv1d_update(x, state, w, nil, { conv_state_indices = wide:narrow(1, 2, 4), out = out })
        assert.are.equal(1, copies() - c1)
        assert.has_error(function() cc.causal_conv1d_update(x, state, w, nil, { conv_state_indices = wide:narrow(1, 1, 4), out = out }) end)
    end)

    it("cu_seqlens: one copy for repeated varlen calls; another T is checked again", function()
        cc.manual_seed(53)
        local D, W = 16, 4
        local w = cc.randn(D, W, { device = "cuda" })
        local cu = cc.tensor({ 0, 3, 3, 10 }, { dtype = "i32" }):cuda()
        local x = cc.randn(10, D, { device = "cuda" })
        cc.causal_conv1d_varlen(x, w, nil, cu)
        local c0 = copies()
        for _ = 1, 5 do cc.causal_conv1d_varlen(x, w, nil, cu) end
        assert.are.equal(0, copies() - c0)
        local ok, err = pcall(cc.causal_conv1d_varlen, cc.randn(12, D, { device = "cuda" }), w, nil, cu)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("the token count T = 12", 1, true), tostring(err))
    end)
end)
