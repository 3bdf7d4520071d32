-- causal_conv1d forward with out in the other layout than x (the mixed layouts: channel-first x
-- with a channel-last out, as a (B, L, D) consumer wants, and the reverse) and its backward (dout
-- in out's layout), against the plain-Lua
-- oracle of tests/lua/naive_conv.lua on shapes that cross the kernels' tiles (128 positions, 64
-- channels, 512-position chunks), and against the CPU reference kernels on outputs large enough
-- for the streaming stores. The kernels under test run on TEST_DEVICE.
local cc = require "causalconv"
local N = require "naive_conv"
local TOL = require "tolerance"
local U = require "conv_util"

local DEV = TEST_DEVICE

-- A random (B, D, L) tensor on DEV: "cf" a slice of spare channels of a (B, D+3, L) buffer, "cl"
-- a (B, L, D+3) buffer's slice viewed as (B, D, L).
local function bdl(B, D, L, dtype, layout)
    if layout == "cl" then
        return cc.randn(B, L, D + 3, { dtype = dtype }):narrow(3, 2, D):transpose(2, 3):to(DEV)
    end
    return cc.randn(B, D + 3, L, { dtype = dtype }):narrow(2, 2, D):to(DEV)
end

-- An output tensor of (B, D, L) in layout, filled with NaN so that a position left unwritten shows.
local function out_in(B, D, L, dtype, layout)
    local buf = layout == "cl" and cc.empty(B, L, D, { dtype = dtype, device = DEV })
        or cc.empty(B, D, L, { dtype = dtype, device = DEV })
    buf:fill_(0 / 0)
    return layout == "cl" and buf:transpose(2, 3) or buf
end

local function seq_rows(B, L, nseg)
    local rows = {}
    for b = 1, B do
        rows[b] = {}
        for t = 1, L do rows[b][t] = math.floor((t - 1) * nseg / L) + (b - 1) end
    end
    return rows
end

local function vals(t) return t and t:to("cpu"):totable() end

local function near(name, actual, expected, tol)
    local e = cc.is_tensor(expected) and expected or cc.tensor(expected, { dtype = "f64" })
    local ok, err = pcall(assert.tensor_near, actual:to("cpu"), e, tol.atol, tol.rtol)
    assert.is_true(ok, not ok and name .. ": " .. tostring(err) or nil)
end

-- c: B, D, L, W, xl (x's layout), ol (out's), dtype, bias, silu, seq (segments per row), init, final
local function check(c)
    local name = string.format("%s>%s %s B%d D%d L%d W%d%s%s%s%s%s", c.xl, c.ol, c.dtype, c.B, c.D, c.L, c.W,
        c.bias and " bias" or "", c.silu and " silu" or "", c.seq and " seq" or "", c.init and " init" or "",
        c.final and " final" or "")
    local x = bdl(c.B, c.D, c.L, c.dtype, c.xl)
    local w = cc.randn(c.D, c.W, { dtype = c.dtype }):to(DEV)
    local b = c.bias and cc.randn(c.D, { dtype = c.dtype }):to(DEV) or nil
    local seq = c.seq and seq_rows(c.B, c.L, c.seq)
    local init = c.init and bdl(c.B, c.D, c.W - 1, c.dtype, c.xl) or nil
    local out = out_in(c.B, c.D, c.L, c.dtype, c.ol)
    local o = { activation = c.silu and "silu" or nil, seq_idx = seq and cc.tensor(seq, { dtype = "i32" }):to(DEV),
                initial_states = init, return_final_states = c.final, out = out }
    local got, fin = cc.causal_conv1d(x, w, b, o)
    local eout, efin = N.forward(vals(x), vals(w), vals(b), { silu = c.silu, seq_idx = seq, init = vals(init) })
    near(name .. ": out", got, eout, TOL.oracle[c.dtype])
    assert.are.same(out:stride(), got:stride())
    if c.final then near(name .. ": final_states", fin, efin, { atol = 0, rtol = 0 }) end

    -- the backward of that forward: dout in out's layout, dx in x's
    local dout = bdl(c.B, c.D, c.L, c.dtype, c.ol)
    local dfin = c.final and bdl(c.B, c.D, c.W - 1, c.dtype, c.ol) or nil
    local dx, dw, db, dinit = cc.causal_conv1d_backward(x, w, b, dout, { activation = o.activation,
        seq_idx = o.seq_idx, initial_states = init, dfinal_states = dfin, return_dinitial_states = c.init or nil })
    local edx, edw, edb, edinit = N.backward(vals(x), vals(w), vals(b), vals(dout), { silu = c.silu, seq_idx = seq,
        init = vals(init), dfinal = vals(dfin) })
    near(name .. ": dx", dx, edx, TOL.oracle[c.dtype])
    -- dweight, dbias: sums over B * L terms in f32 (the weight-gradient table), rounded to a half dtype
    local wtol = c.dtype == "f32" and U.WTOL or TOL.oracle[c.dtype]
    near(name .. ": dweight", dw, edw, wtol)
    if b then near(name .. ": dbias", db, edb, wtol) end
    if c.init then near(name .. ": dinitial_states", dinit, edinit, TOL.oracle[c.dtype]) end
end

describe("causal_conv1d mixed layouts #cuda", function()
    it("cf x with cl out and cl x with cf out: widths, dtypes, options, tile and chunk edges", function()
        math.randomseed(17)
        cc.manual_seed(17)
        local widths = { 1, 2, 3, 4, 5, 8, 16 }
        local shapes = { { 2, 5, 3 }, { 1, 70, 130 }, { 2, 9, 600 }, { 1, 136, 257 }, { 2, 24, 1 } }
        local dtypes = { "f32", "bf16", "f16" }
        local i = 0
        for _, lay in ipairs({ { "cf", "cl" }, { "cl", "cf" } }) do
            for si, s in ipairs(shapes) do
                for wi = 1, 3 do
                    i = i + 1
                    check({ B = s[1], D = s[2], L = s[3], W = widths[(i + wi) % #widths + 1], xl = lay[1], ol = lay[2],
                            dtype = dtypes[i % #dtypes + 1], bias = i % 2 == 0, silu = wi ~= 2,
                            seq = (si + wi) % 3 == 0 and 3 or nil, init = wi ~= 3, final = i % 3 ~= 1 })
                end
            end
        end
    end)

    it("the W = 4 SiLU backward of cl x with a cf dout (dout transposed by tiles): tiles, chunks, channel blocks", function()
        math.randomseed(23)
        cc.manual_seed(23)
        for _, s in ipairs({ { 2, 300, 700, true }, { 1, 37, 40, false }, { 1, 8, 33, true } }) do
            check({ B = s[1], D = s[2], L = s[3], W = 4, xl = "cl", ol = "cf", dtype = "f32", bias = true, silu = true,
                    init = s[4], final = s[4] })
        end
    end)

    it("outputs above the streaming-store size agree with the reference kernels", function()
        cc.manual_seed(19)
        for _, lay in ipairs({ { "cf", "cl" }, { "cl", "cf" } }) do
            for _, W in ipairs({ 4, 3 }) do
                local B, D, L = 2, 264, 2100   -- > 4 MiB of f32 out; D: 4 full channel blocks and a tail of 8
                local x = bdl(B, D, L, "f32", lay[1])
                local w, b = cc.randn(D, W):to(DEV), cc.randn(D):to(DEV)
                local init = bdl(B, D, W - 1, "f32", lay[1])
                local o = { activation = W == 4 and "silu" or nil, initial_states = init,
                            out = out_in(B, D, L, "f32", lay[2]) }
                local got = cc.causal_conv1d(x, w, b, o)
                local ref = U.ref(cc.causal_conv1d, x:to("cpu"), w:to("cpu"), b:to("cpu"),
                                  { activation = o.activation, initial_states = init:to("cpu") })
                near(lay[1] .. ">" .. lay[2] .. " W" .. W, got, ref, TOL.oracle.f32)
            end
        end
    end)
end)
