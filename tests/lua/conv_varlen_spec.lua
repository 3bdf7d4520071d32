-- Packed variable-length ops: varlen forward / backward against per-sequence dense reference
-- calls (so the varlen oracle is checked too), against the varlen reference, and
-- varlen_states bit for bit against its definition.
local cc = require "causalconv"
local U = require "conv_util"

local function dev(t) return t and t:to(TEST_DEVICE) or nil end

-- sequence n of a packed (T, D) tensor as a (1, D, len) view
local function seq_view(x, s, len) return x:narrow(1, s + 1, len):t():unsqueeze(1) end
local function state_row(t, n) return t and t:narrow(1, n, 1) or nil end

-- c: N, T, D, W, itype, bias, silu, init, final, empty (allow empty sequences), cl (x as (D, T):t())
local function check_varlen(c)
    local N, T, D, W, itype = c.N, c.T, c.D, c.W, c.itype
    local cu = U.cu_seqlens(N, T, c.empty)
    local cut = cc.tensor(cu, { dtype = c.i64 and "i64" or "i32" })
    local x = c.cf and cc.randn(D, T, { dtype = itype }):t() or cc.randn(T, D, { dtype = itype })
    local g = cc.randn(T, D, { dtype = itype })
    local w, b = cc.randn(D, W), c.bias and cc.randn(D) or nil
    local init = c.init and cc.randn(N, D, W - 1, { dtype = itype }) or nil
    local dfin = c.final and cc.randn(N, D, W - 1, { dtype = itype }) or nil
    local act = c.silu and "silu" or nil
    local tol = U.TOL[itype]

    local out, fin = cc.causal_conv1d_varlen(dev(x), dev(w), dev(b), dev(cut), { activation = act,
        initial_states = dev(init), return_final_states = c.final })
    local dx, dw, db, dinit = cc.causal_conv1d_varlen_backward(dev(x), dev(w), dev(b), dev(g), dev(cut), {
        activation = act, initial_states = dev(init), dfinal_states = dev(dfin) })
    local rout, rfin = U.ref(cc.causal_conv1d_varlen, x, w, b, cut, { activation = act, initial_states = init,
                                                                      return_final_states = c.final })
    local rdx, rdw, rdb, rdinit = U.ref(cc.causal_conv1d_varlen_backward, x, w, b, g, cut, {
        activation = act, initial_states = init, dfinal_states = dfin })
    U.near(out, rout, tol, "out")
    if c.final then assert.tensor_equal(fin:to("cpu"), rfin) end
    U.near(dx, rdx, tol, "dx")
    U.near(dw, rdw, U.WTOL, "dweight")
    U.near(db, rdb, U.WTOL, "dbias")
    U.near(dinit, rdinit, tol, "dinitial_states")

    -- the varlen reference equals one dense reference call per sequence
    local sdw, sdb = cc.zeros(D, W, { dtype = "f64" }), cc.zeros(D, { dtype = "f64" })
    for n = 1, N do
        local s, len = cu[n], cu[n + 1] - cu[n]
        local o, f = U.ref(cc.causal_conv1d, seq_view(x, s, len), w, b, { activation = act,
            initial_states = state_row(init, n), return_final_states = c.final })
        local ddx, ddw, ddb, ddinit = U.ref(cc.causal_conv1d_backward, seq_view(x, s, len), w, b, seq_view(g, s, len), {
            activation = act, initial_states = state_row(init, n), dfinal_states = state_row(dfin, n) })
        if len > 0 then
            assert.tensor_equal(seq_view(rout, s, len), o)
            assert.tensor_equal(seq_view(rdx, s, len), ddx)
        end
        if c.final then assert.tensor_equal(state_row(rfin, n), f) end
        if c.init then assert.tensor_equal(state_row(rdinit, n), ddinit) end
        sdw = sdw + ddw:to("f64")
        if b then sdb = sdb + ddb:to("f64") end
    end
    assert.tensor_near(rdw, sdw, 1e-4, 1e-5)
    if b then assert.tensor_near(rdb, sdb, 1e-4, 1e-5) end
end

describe("causal_conv1d_varlen #cuda", function()
    local cases = {
        { N = 1, T = 50, D = 8, W = 4, itype = "f32", bias = true, silu = true, init = true, final = true },
        { N = 5, T = 300, D = 33, W = 4, itype = "f32", bias = true, silu = true, init = true, final = true },
        { N = 7, T = 40, D = 16, W = 3, itype = "f32", bias = false, silu = false, init = false, final = true, empty = true },
        { N = 4, T = 1100, D = 24, W = 2, itype = "bf16", bias = true, silu = true, init = true, final = false, i64 = true },
        { N = 9, T = 90, D = 12, W = 5, itype = "f16", bias = true, silu = false, init = true, final = true, empty = true },
        { N = 3, T = 600, D = 20, W = 4, itype = "f32", bias = true, silu = true, init = true, final = true, cf = true },
        { N = 6, T = 30, D = 10, W = 16, itype = "f64", bias = true, silu = true, init = true, final = true },
        { N = 12, T = 24, D = 5, W = 8, itype = "f32", bias = true, silu = true, init = true, final = true, empty = true },
        { N = 0, T = 0, D = 5, W = 4, itype = "f32", bias = true, silu = false, init = true, final = true },
    }
    for i, c in ipairs(cases) do
        it(string.format("N=%d T=%d D=%d W=%d %s%s%s", c.N, c.T, c.D, c.W, c.itype, c.empty and " with empty sequences" or "",
                         c.cf and " channel-first buffer" or ""), function()
            math.randomseed(100 + i)
            cc.manual_seed(100 + i)
            if c.N == 0 then
                -- no sequences at all: nothing to compute, still valid
                local x = cc.randn(0, c.D)
                local out = cc.causal_conv1d_varlen(dev(x), dev(cc.randn(c.D, c.W)), nil, dev(cc.tensor({ 0 }, { dtype = "i32" })))
                assert.are.same({ 0, c.D }, out:size())
                return
            end
            check_varlen(c)
        end)
    end
end)

describe("causal_conv1d_varlen_states #cuda", function()
    it("copies the last state_len tokens of each sequence, zeros before its start", function()
        math.randomseed(7)
        cc.manual_seed(7)
        for _, dtype in ipairs({ "f32", "bf16", "f16" }) do
            for _, D in ipairs({ 2048, 2064 }) do
                local N, SL = 30, 20
                local cu = { 0 }
                for n = 1, N do cu[n + 1] = cu[n] + math.random(1, 31) end
                local T = cu[N + 1]
                local x = cc.randn(T + 5, D, { dtype = dtype }):narrow(1, 3, T)   -- a strided view
                local cut = cc.tensor(cu, { dtype = "i32" })
                local states = cc.causal_conv1d_varlen_states(dev(x), dev(cut), SL):to("cpu")
                local rstates = U.ref(cc.causal_conv1d_varlen_states, x, cut, SL)
                assert.tensor_equal(states, rstates)
                -- the definition, sequence by sequence
                for n = 1, N do
                    local len = cu[n + 1] - cu[n]
                    local k = math.min(len, SL)
                    local st = states:select(1, n)
                    if k < SL then assert.tensor_equal(st:narrow(2, 1, SL - k), cc.zeros(D, SL - k, { dtype = dtype })) end
                    assert.tensor_equal(st:narrow(2, SL - k + 1, k), x:narrow(1, cu[n + 1] - k + 1, k):t())
                end
            end
        end
    end)

    it("converts into another state dtype, bit for bit as the reference", function()
        cc.manual_seed(9)
        local x = cc.randn(40, 16, { dtype = "bf16" })
        local cut = cc.tensor({ 0, 3, 3, 25, 40 }, { dtype = "i64" })
        local s = cc.causal_conv1d_varlen_states(dev(x), dev(cut), 6, { dtype = "f32" })
        assert.are.equal("f32", s:dtype())
        assert.tensor_equal(s:to("cpu"), U.ref(cc.causal_conv1d_varlen_states, x, cut, 6, { dtype = "f32" }))
        assert.tensor_equal(s:to("cpu"):select(1, 2), cc.zeros(16, 6))   -- empty sequence
    end)
end)
