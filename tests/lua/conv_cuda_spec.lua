-- Cases aimed at the CUDA kernels' own structure (kernels/cuda/causal_conv1d_*.cu): repeated
-- backward runs bit for bit, lines long enough to be split across blocks, views whose lines are
-- not 16-byte aligned (the element-by-element path), channel counts that leave a partial vector,
-- and packed sequences crossing the chunk boundaries. Each is checked against the CPU reference.
local cc = require "causalconv"
local U = require "conv_util"

local function dev(t) return t and t:to(TEST_DEVICE) or nil end

-- forward + backward of (x, g) views against the reference; returns the device results
local function check(x, g, W, itype, o)
    o = o or {}
    local B, D = x:size(1), x:size(2)
    local w, b = cc.randn(D, W), cc.randn(D)
    local init = o.init and cc.randn(B, D, W - 1, { dtype = itype }) or nil
    local dfin = o.init and cc.randn(B, D, W - 1, { dtype = itype }) or nil
    local act = o.silu and "silu" or nil
    local tol = U.TOL[itype]
    local out, fin = cc.causal_conv1d(dev(x), dev(w), dev(b), { activation = act, seq_idx = dev(o.seq),
        initial_states = dev(init), return_final_states = o.init })
    local rout, rfin = U.ref(cc.causal_conv1d, x, w, b, { activation = act, seq_idx = o.seq,
        initial_states = init, return_final_states = o.init })
    U.near(out, rout, tol, "out")
    if o.init then assert.tensor_equal(fin:to("cpu"), rfin) end
    local bo = { activation = act, seq_idx = dev(o.seq), initial_states = dev(init), dfinal_states = dev(dfin) }
    local dx, dw, db, dinit = cc.causal_conv1d_backward(dev(x), dev(w), dev(b), dev(g), bo)
    local rdx, rdw, rdb, rdinit = U.ref(cc.causal_conv1d_backward, x, w, b, g, { activation = act, seq_idx = o.seq,
        initial_states = init, dfinal_states = dfin })
    U.near(dx, rdx, tol, "dx")
    U.near(dw, rdw, U.WTOL, "dweight")
    U.near(db, rdb, U.WTOL, "dbias")
    U.near(dinit, rdinit, tol, "dinitial_states")
    return { dev(x), dev(w), dev(b), dev(g), bo }
end

local function bdl(B, D, L, itype, cl)
    if cl then return cc.randn(B, L, D, { dtype = itype }):transpose(2, 3) end
    return cc.randn(B, D, L, { dtype = itype })
end

describe("causal_conv1d cuda kernels #cuda", function()
    it("backward is bit-identical run to run, both layouts", function()
        cc.manual_seed(41)
        for _, cl in ipairs({ false, true }) do
            local x, g = bdl(2, 24, 700, "bf16", cl), bdl(2, 24, 700, "bf16", cl)
            local a = check(x, g, 4, "bf16", { silu = true, init = true })
            local dx1, dw1, db1, di1 = cc.causal_conv1d_backward(unpack(a))
            local dx2, dw2, db2, di2 = cc.causal_conv1d_backward(unpack(a))
            assert.tensor_equal(dx1:to("cpu"), dx2:to("cpu"))
            assert.tensor_equal(dw1:to("cpu"), dw2:to("cpu"))
            assert.tensor_equal(db1:to("cpu"), db2:to("cpu"))
            assert.tensor_equal(di1:to("cpu"), di2:to("cpu"))
        end
    end)

    it("long lines split over several blocks (channel-first) and many runs per block (channel-last)", function()
        cc.manual_seed(43)
        math.randomseed(43)
        check(bdl(1, 2, 20000, "f32", false), bdl(1, 2, 20000, "f32", false), 4, "f32", { silu = true, init = true })
        check(bdl(1, 3, 9000, "bf16", false), bdl(1, 3, 9000, "bf16", false), 3, "bf16", { init = true })
        check(bdl(2, 6, 3000, "f32", true), bdl(2, 6, 3000, "f32", true), 2, "f32",
              { silu = true, init = true, seq = U.seq_idx(2, 3000, 6, 5) })
    end)

    it("lines that are not 16-byte aligned take the element path, in both layouts", function()
        cc.manual_seed(47)
        for _, itype in ipairs({ "f32", "bf16" }) do
            -- position offset 1 (channel-first) and channel offset 1 (channel-last)
            local xf = cc.randn(2, 16, 131, { dtype = itype }):narrow(3, 2, 129)
            local gf = cc.randn(2, 16, 129, { dtype = itype })
            check(xf, gf, 4, itype, { silu = true, init = true })
            local xl = cc.randn(2, 129, 17, { dtype = itype }):narrow(3, 2, 16):transpose(2, 3)
            local gl = cc.randn(2, 129, 17, { dtype = itype }):narrow(3, 2, 16):transpose(2, 3)
            check(xl, gl, 4, itype, { silu = true, init = true })
        end
    end)

    it("channel counts that leave a partial vector, with seq_idx padding", function()
        cc.manual_seed(53)
        math.randomseed(53)
        for _, D in ipairs({ 1, 3, 13 }) do
            check(bdl(2, D, 90, "f16", true), bdl(2, D, 90, "f16", true), 3, "f16",
                  { silu = true, init = true, seq = U.seq_idx(2, 90, 3, 4) })
        end
    end)

    it("packed sequences crossing chunk boundaries, short and empty ones included", function()
        cc.manual_seed(59)
        for _, cl in ipairs({ false, true }) do
            local T, D, W = 300, 8, 4
            local cut = cc.tensor({ 0, 1, 1, 3, 17, 18, 150, 151, 300 }, { dtype = "i64" })
            local N = 8
            local x = cl and cc.randn(T, D, { dtype = "bf16" }) or cc.randn(D, T, { dtype = "bf16" }):t()
            local g = cc.randn(T, D, { dtype = "bf16" })
            local w, b = cc.randn(D, W), cc.randn(D)
            local init, dfin = cc.randn(N, D, W - 1, { dtype = "f32" }), cc.randn(N, D, W - 1, { dtype = "f32" })
            local o = { activation = "silu", initial_states = init, return_final_states = true }
            local out, fin = cc.causal_conv1d_varlen(dev(x), dev(w), dev(b), dev(cut), { activation = "silu",
                initial_states = dev(init), return_final_states = true })
            local rout, rfin = U.ref(cc.causal_conv1d_varlen, x, w, b, cut, o)
            U.near(out, rout, U.TOL.bf16, "out")
            assert.tensor_equal(fin:to("cpu"), rfin)
            local bo = { activation = "silu", initial_states = init, dfinal_states = dfin }
            local dx, dw, db, dinit = cc.causal_conv1d_varlen_backward(dev(x), dev(w), dev(b), dev(g), dev(cut), {
                activation = "silu", initial_states = dev(init), dfinal_states = dev(dfin) })
            local rdx, rdw, rdb, rdinit = U.ref(cc.causal_conv1d_varlen_backward, x, w, b, g, cut, bo)
            U.near(dx, rdx, U.TOL.bf16, "dx")
            U.near(dw, rdw, U.WTOL, "dweight")
            U.near(db, rdb, U.WTOL, "dbias")
            U.near(dinit, rdinit, U.TOL.f32, "dinitial_states")
        end
    end)
end)
