-- The fast CPU kernels' SiLU (the inline exp of kernels/cpu/conv_common.h) against the reference
-- (libm exp in f64) at extreme pre-activations: |pre| up to 100, the ends of exp's f32 range, and
-- inf / NaN inputs, which must come out as the reference's (silu(-inf) = -inf * 0 = NaN).
-- weight = (0, 0, 0, 1) and no bias make pre[t] = x[t] (plus 0 * x of the earlier taps, which
-- carries a NaN or inf of x[t-3 .. t-1] into pre[t] in both kernels alike).
local cc = require "causalconv"
local U = require "conv_util"

local SPECIAL = { -100, 100, -88.8, 88.8, -88.5, 88.5, -87.4, 87.4, -20, 20, 0, -0.0,
                  math.huge, -math.huge, 0 / 0 }

-- x (1, D, L) in f32: every 7th position a special value, the others spread over [-100, 100].
local function inputs(D, L, cl)
    local rows, seed = {}, 12345
    for c = 1, D do
        local row = {}
        for t = 1, L do
            seed = (seed * 1103515245 + 12345) % 2147483648
            local v = (seed / 2147483648) * 200 - 100
            if t % 7 == 0 then v = SPECIAL[(t / 7 + c) % #SPECIAL + 1] end
            row[t] = v
        end
        rows[c] = row
    end
    if not cl then return cc.tensor({ rows }, { dtype = "f32" }) end
    local tr = {}
    for t = 1, L do
        tr[t] = {}
        for c = 1, D do tr[t][c] = rows[c][t] end
    end
    return cc.tensor({ tr }, { dtype = "f32" }):transpose(2, 3)
end

-- Element-wise: NaN where the reference has NaN, equal infinities, finite values within tol.
local function same(a, e, tol, what)
    if type(e) == "table" then
        for i = 1, #e do same(a[i], e[i], tol, what) end
        return
    end
    if e ~= e then
        assert(a ~= a, what .. ": expected NaN, got " .. tostring(a))
    elseif e == math.huge or e == -math.huge then
        assert(a == e, what .. ": expected " .. tostring(e) .. ", got " .. tostring(a))
    else
        assert(a == a and math.abs(a - e) <= tol.atol + tol.rtol * math.abs(e),
               what .. ": expected " .. tostring(e) .. ", got " .. tostring(a))
    end
end

describe("causal_conv1d fast SiLU at extreme pre-activations", function()
    for _, dtype in ipairs({ "f32", "bf16", "f16" }) do
        for _, cl in ipairs({ false, true }) do
            it(dtype .. (cl and " channel-last" or " channel-first") .. ", forward and backward", function()
                local D, L = 40, 600   -- rows longer than one chunk, the in-place W = 4 paths
                local x = inputs(D, L, cl):to(dtype)
                local wrows = {}
                for c = 1, D do wrows[c] = { 0, 0, 0, 1 } end
                local w = cc.tensor(wrows, { dtype = "f32" })
                local g = U.bdl(1, D, L, dtype, cl)
                local o = { activation = "silu" }
                local tol = U.TOL[dtype]
                same(U.values(cc.causal_conv1d(x, w, nil, o)), U.values(U.ref(cc.causal_conv1d, x, w, nil, o)),
                     tol, "out")
                local dx, dw = cc.causal_conv1d_backward(x, w, nil, g, o)
                local rdx, rdw = U.ref(cc.causal_conv1d_backward, x, w, nil, g, o)
                same(U.values(dx), U.values(rdx), tol, "dx")
                same(U.values(dw), U.values(rdw), U.WTOL, "dweight")
            end)
        end
    end

    it("gives silu(-100) = -0 and silu(100) = 100 exactly in f32", function()
        local x = cc.tensor({ { { -100, 100, -1e4, 1e4 } } }, { dtype = "f32" })
        local w = cc.tensor({ { 1 } }, { dtype = "f32" })
        local v = U.values(cc.causal_conv1d(x, w, nil, { activation = "silu" }))[1][1]
        assert.are.equal(0, v[1])
        assert.is_true(1 / v[1] < 0)
        assert.are.equal(100, v[2])
        assert.are.equal(0, v[3])
        assert.are.equal(1e4, v[4])
    end)
end)
