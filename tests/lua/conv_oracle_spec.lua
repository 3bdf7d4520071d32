-- The conv ops against an oracle that shares nothing with kernels/: the plain-Lua loops of
-- tests/lua/naive_conv.lua (written from the README's rule list) on small random cases covering
-- every option, and PyTorch results stored as .npy fixtures (tests/fixtures/conv, made by
-- tests/fixtures/make_conv_fixtures.py). The kernels under test run on TEST_DEVICE (cpu fast
-- kernels, or cuda: `CC_TEST_DEVICE=cuda busted --run=emu` on the emulation). The shapes are
-- tiny, so the whole file takes about a second, emulation included.
local cc = require "causalconv"
local N = require "naive_conv"
local TOL = require "tolerance"

local DEV = TEST_DEVICE
local FIXTURES = "tests/fixtures/conv/"

------------------------------------------------------------------------------------------------
-- inputs

-- A random (n1, n2, n3) tensor on DEV in a layout: "cf" (n3 contiguous, a slice of spare
-- channels), "cl" (a (n1, n3, n2) buffer viewed as (n1, n2, n3), the channel-last layout), "odd"
-- (no stride 1: a (n3, n1, n2, 2) buffer's second plane permuted). scale, shift: values
-- randn * scale + shift.
local function rand3(n1, n2, n3, dtype, layout, scale, shift)
    local buf, view
    if layout == "cf" then
        buf, view = { n1, n2 + 2, n3 }, function(t) return t:narrow(2, 2, n2) end
    elseif layout == "cl" then
        buf, view = { n1, n3, n2 + 2 }, function(t) return t:narrow(3, 2, n2):transpose(2, 3) end
    else
        buf, view = { n3, n1, n2, 2 }, function(t) return t:select(4, 2):permute(2, 3, 1) end
    end
    local t = cc.randn(buf, { dtype = "f64" })
    if scale then t = t * scale end
    if shift then t = t + shift end
    return view(t:to({ dtype = dtype, device = DEV }))
end

-- A random (n1, n2) tensor on DEV: "cf" row-major slice, "cl" a (n2, n1) buffer transposed.
local function rand2(n1, n2, dtype, layout, scale, shift)
    local t
    if layout == "cl" then t = cc.randn(n2, n1, { dtype = "f64" }):t()
    else t = cc.randn(n1, n2 + 1, { dtype = "f64" }):narrow(2, 1, n2) end
    if scale then t = t * scale end
    if shift then t = t + shift end
    return t:to({ dtype = dtype, device = DEV })
end

local function rand1(n, dtype, scale, shift)
    local t = cc.randn(n, { dtype = "f64" })
    if scale then t = t * scale end
    if shift then t = t + shift end
    return t:to({ dtype = dtype, device = DEV })
end

local function ints(list, dtype) return cc.tensor(list, { dtype = dtype or "i32" }):to(DEV) end

local function vals(t) return t and t:totable() end

-- seq_idx rows of length L: segments with increasing ids; with pad, padding tokens (-1) at the
-- start, inside and at the end of rows; a segment may continue after a padding run (the id
-- rule: a tap counts when its position has the token's id). A new segment starts at a token with
-- probability p_new (default 0.25: short segments, most taps cut).
local function seq_rows(B, L, pad, p_new)
    p_new = p_new or 0.25
    local rows = {}
    for b = 1, B do
        local r, id = {}, math.random(0, 2)
        for t = 1, L do
            local u = math.random()
            if pad and (u < 0.2 or (b == 2 and t == 1) or (b == 1 and t == L and L > 2)) then
                r[t] = -1
            else
                if u > 1 - p_new then id = id + 1 end
                r[t] = id
            end
        end
        rows[b] = r
    end
    return rows
end

-- Random cu_seqlens of N sequences with lengths 0 .. maxlen.
local function cu_list(n, maxlen)
    local cu = { 0 }
    for i = 1, n do cu[i + 1] = cu[i] + math.random(0, maxlen) end
    if cu[n + 1] == 0 then cu[n + 1] = 1 end
    return cu
end

------------------------------------------------------------------------------------------------
-- comparisons

-- Tolerance for a result of dtype rdt computed from x of dtype xdt against an exact reference:
-- the oracle table of the looser of the two (the library's rounding only).
local function tol_for(xdt, rdt) return TOL.oracle[TOL.loosest(xdt, rdt)] end
local EXACT = { atol = 0, rtol = 0 }

-- actual (tensor) against expected (nested table or tensor) within tol; name says which case
-- and result.
local function near(name, actual, expected, tol)
    assert(actual ~= nil, name .. ": got nil")
    if actual:numel() == 0 then return end
    local e = cc.is_tensor(expected) and expected or cc.tensor(expected, { dtype = "f64" })
    local ok, err = pcall(assert.tensor_near, actual, e, tol.atol, tol.rtol)
    assert.is_true(ok, not ok and name .. ": " .. tostring(err) or nil)
end

local function describe_case(c, keys)
    local parts = {}
    for _, k in ipairs(keys) do
        local v = c[k]
        if v ~= nil and v ~= false then parts[#parts + 1] = v == true and k or (k .. "=" .. tostring(v)) end
    end
    return table.concat(parts, " ")
end

------------------------------------------------------------------------------------------------
-- dense forward + backward

local DENSE_KEYS = { "B", "D", "L", "W", "layout", "xt", "wt", "bt", "st", "bias", "silu", "seq", "init", "final",
                     "extreme" }

-- c: B, D, L, W, layout, xt/wt/bt/st (x, weight, bias, state dtypes), bias, silu,
-- seq (nil | "segs" | "pad"), init, final (final states out and dfinal in), extreme (pre-activations
-- around +-30 and +-100 through the bias).
local function check_dense(c)
    local B, D, L, W = c.B, c.D, c.L, c.W
    local xt, wt, bt, st = c.xt, c.wt or c.xt, c.bt or c.wt or c.xt, c.st or c.xt
    local ext = W - 1
    local name = describe_case(c, DENSE_KEYS)
    local x = rand3(B, D, L, xt, c.layout, c.extreme and 0.2 or nil)
    local w = rand2(D, W, wt, c.layout, c.extreme and 0.2 or nil)
    local b
    if c.bias or c.extreme then
        if c.extreme then
            local big = {}
            for i = 1, D do big[i] = ({ 30, -30, 100, -100 })[(i - 1) % 4 + 1] end
            b = cc.tensor(big, { dtype = bt }):to(DEV)
        else
            b = rand1(D, bt)
        end
    end
    local seq = c.seq and seq_rows(B, L, c.seq == "pad" or c.seq == "long pad", c.seq:match("^long") and 0.004)
    local seqd = seq and ints(seq)
    local init = c.init and rand3(B, D, ext, st, c.layout) or nil
    local act = c.silu and "silu" or nil

    local out, fin = cc.causal_conv1d(x, w, b, { activation = act, seq_idx = seqd, initial_states = init,
                                                 return_final_states = c.final })
    local X, Wv, Bv, I = vals(x), vals(w), vals(b), vals(init)
    local eout, efin = N.forward(X, Wv, Bv, { silu = c.silu, seq_idx = seq, init = I })
    near(name .. ": out", out, eout, tol_for(xt, xt))
    if c.final then
        assert.are.equal(init and init:dtype() or xt, fin:dtype())
        near(name .. ": final_states", fin, efin, fin:dtype() == xt and EXACT or tol_for(xt, fin:dtype()))
    end

    -- backward: dout in another layout than x, dfinal with the final states
    local other = ({ cf = "cl", cl = "odd", odd = "cf" })[c.layout]
    local dout = rand3(B, D, L, xt, other)
    local dfin = c.final and rand3(B, D, ext, st, other) or nil
    local want_dinit = c.init or c.final or nil
    local dx, dw, db, dinit = cc.causal_conv1d_backward(x, w, b, dout, { activation = act, seq_idx = seqd,
        initial_states = init, dfinal_states = dfin, return_dinitial_states = want_dinit })
    local edx, edw, edb, edinit = N.backward(X, Wv, Bv, vals(dout), { silu = c.silu, seq_idx = seq, init = I,
                                                                      dfinal = vals(dfin) })
    near(name .. ": dx", dx, edx, tol_for(xt, xt))
    near(name .. ": dweight", dw, edw, tol_for(xt, wt))
    if b then near(name .. ": dbias", db, edb, tol_for(xt, bt)) else assert.is_nil(db) end
    if want_dinit then near(name .. ": dinitial_states", dinit, edinit, tol_for(xt, dinit:dtype())) end
end

local WIDTHS = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16 }
local LENGTHS = { 1, 2, 3, 5, 8, 13, 21, 34 }

-- Every combination of bias x silu x seq_idx x initial x final x layout, f64; widths and
-- lengths cycle so that every width meets short (L < W-1) and longer rows.
local function option_grid()
    local cases, i = {}, 0
    for _, layout in ipairs({ "cf", "cl", "odd" }) do
        for _, seq in ipairs({ false, "segs", "pad" }) do
            for _, bias in ipairs({ false, true }) do
                for _, silu in ipairs({ false, true }) do
                    for _, init in ipairs({ false, true }) do
                        for _, final in ipairs({ false, true }) do
                            i = i + 1
                            cases[#cases + 1] = { B = 2, D = 3, L = LENGTHS[(i * 5) % #LENGTHS + 1],
                                W = WIDTHS[i % #WIDTHS + 1], layout = layout, xt = "f64", bias = bias, silu = silu,
                                seq = seq or nil, init = init, final = final }
                        end
                    end
                end
            end
        end
    end
    return cases
end

-- x dtype x (weight, bias, state) dtypes, all options on (seq_idx with padding).
local function dtype_grid()
    local cases, i = {}, 0
    local other = { f64 = "f32", f32 = "bf16", f16 = "f32", bf16 = "f16" }
    for _, xt in ipairs({ "f64", "f32", "f16", "bf16" }) do
        local o = other[xt]
        for _, d in ipairs({ { xt, xt, xt }, { o, xt, xt }, { xt, o, o }, { "f64", "f16", o }, { "bf16", "f32", "f64" } }) do
            i = i + 1
            cases[#cases + 1] = { B = 2, D = 4, L = LENGTHS[(i * 3) % #LENGTHS + 1], W = WIDTHS[(i * 7) % #WIDTHS + 1],
                layout = ({ "cf", "cl", "odd" })[i % 3 + 1], xt = xt, wt = d[1], bt = d[2], st = d[3], bias = true,
                silu = i % 2 == 0, seq = i % 3 ~= 0 and "pad" or nil, init = true, final = true }
        end
    end
    return cases
end

-- SiLU at pre-activations around +-30 and +-100, every x dtype, both layouts.
local function extreme_grid()
    local cases = {}
    for _, xt in ipairs({ "f64", "f32", "f16", "bf16" }) do
        for _, layout in ipairs({ "cf", "cl" }) do
            cases[#cases + 1] = { B = 2, D = 8, L = 9, W = 4, layout = layout, xt = xt, wt = "f32", silu = true,
                extreme = true, seq = layout == "cl" and "pad" or nil, init = true, final = true }
        end
    end
    return cases
end

-- Longer rows and more channels, to reach the vectorised and tiled paths of the kernels (the
-- W = 4 SiLU fast paths, 16-channel groups, tails).
local function path_grid()
    local cases = {}
    for i, xt in ipairs({ "f32", "bf16", "f16", "f64" }) do
        for _, layout in ipairs({ "cf", "cl" }) do
            for _, W in ipairs({ 4, i + 1 }) do
                cases[#cases + 1] = { B = 2, D = 35, L = 70, W = W, layout = layout, xt = xt, bias = true, silu = true,
                    init = W ~= 4 or xt == "f32", final = W ~= 4 or xt == "f32", seq = W ~= 4 and "pad" or nil }
            end
        end
    end
    -- rows over several tasks: the channel-last backward's register tiles meet chunk ends, and 37
    -- channels leave a tail of 5 past the 8-lane groups
    for _, final in ipairs({ false, true }) do
        cases[#cases + 1] = { B = 2, D = 37, L = 1100, W = 4, layout = "cl", xt = "f32", bias = true, silu = true,
            init = final, final = final }
    end
    return cases
end

-- seq_idx with long segments over several CV_CHUNK-long tasks: long runs of uncut taps between
-- boundaries, which the channel-first kernel reads and writes in place for f32 rows.
local function long_segment_grid()
    local cases = {}
    for i, W in ipairs({ 2, 3, 4, 6 }) do
        for _, xt in ipairs({ "f32", i % 2 == 0 and "bf16" or "f16" }) do
            cases[#cases + 1] = { B = 2, D = 5, L = 1300, W = W, layout = i == 3 and "cl" or "cf", xt = xt, bias = true,
                silu = W ~= 6, init = i % 2 == 1, final = true, seq = i <= 2 and "long" or "long pad" }
        end
    end
    return cases
end

local function run_cases(cases, check, keys, seed)
    for i, c in ipairs(cases) do
        it(describe_case(c, keys), function()
            cc.manual_seed(seed + i)
            math.randomseed(seed + i)
            check(c)
        end)
    end
end

describe("conv oracle: causal_conv1d and its backward, every option combination (f64) #cuda", function()
    run_cases(option_grid(), check_dense, DENSE_KEYS, 1000)
end)

describe("conv oracle: causal_conv1d dtypes (x, weight, bias, state each) #cuda", function()
    run_cases(dtype_grid(), check_dense, DENSE_KEYS, 2000)
end)

describe("conv oracle: causal_conv1d SiLU at pre-activations +-30 and +-100 #cuda", function()
    run_cases(extreme_grid(), check_dense, DENSE_KEYS, 3000)
end)

describe("conv oracle: causal_conv1d longer rows (fast paths) #cuda", function()
    run_cases(path_grid(), check_dense, DENSE_KEYS, 4000)
end)

describe("conv oracle: causal_conv1d seq_idx with long segments #cuda", function()
    run_cases(long_segment_grid(), check_dense, DENSE_KEYS, 4500)
end)

describe("conv oracle: empty rows (L = 0, S = 0, state_len = 0) #cuda", function()
    it("causal_conv1d with L = 0: final states are the initial states, dinitial_states = dfinal_states", function()
        cc.manual_seed(3500)
        for _, layout in ipairs({ "cf", "cl", "odd" }) do
            for _, seq in ipairs({ false, true }) do
                local B, D, W = 2, 3, 4
                local name = "L=0 " .. layout .. (seq and " seq_idx" or "")
                local x, w, b = rand3(B, D, 0, "f64", layout), rand2(D, W, "f64"), rand1(D, "f64")
                local init, dfin = rand3(B, D, W - 1, "f64", layout), rand3(B, D, W - 1, "f64", "cl")
                local seqd = seq and cc.zeros(B, 0, { dtype = "i32" }):to(DEV) or nil
                local seqv = seq and { {}, {} } or nil
                local out, fin = cc.causal_conv1d(x, w, b, { activation = "silu", seq_idx = seqd, initial_states = init,
                                                             return_final_states = true })
                local _, efin = N.forward(vals(x), vals(w), vals(b), { silu = true, seq_idx = seqv, init = vals(init) })
                assert.are.same({ B, D, 0 }, out:size())
                near(name .. ": final_states", fin, efin, EXACT)
                local dout = rand3(B, D, 0, "f64", layout)
                local dx, dw, db, dinit = cc.causal_conv1d_backward(x, w, b, dout, {
                    activation = "silu", seq_idx = seqd, initial_states = init, dfinal_states = dfin })
                local _, edw, edb, edinit = N.backward(vals(x), vals(w), vals(b), vals(dout), { silu = true,
                    seq_idx = seqv, init = vals(init), dfinal = vals(dfin) })
                assert.are.same({ B, D, 0 }, dx:size())
                near(name .. ": dweight", dw, edw, EXACT)
                near(name .. ": dbias", db, edb, EXACT)
                near(name .. ": dinitial_states", dinit, edinit, EXACT)
            end
        end
    end)

    it("causal_conv1d_update with S = 0 leaves the state alone; varlen_states with state_len = 0", function()
        cc.manual_seed(3600)
        local state = rand3(2, 3, 5, "f64", "cl")
        local before = vals(state)
        local out = cc.causal_conv1d_update(rand3(2, 3, 0, "f64", "cf"), state, rand2(3, 4, "f64"), nil)
        assert.are.same({ 2, 3, 0 }, out:size())
        near("S=0: conv_state", state, before, EXACT)
        local states = cc.causal_conv1d_varlen_states(rand2(5, 3, "f64"), ints({ 0, 2, 2, 5 }), 0)
        assert.are.same({ 3, 3, 0 }, states:size())
    end)
end)

------------------------------------------------------------------------------------------------
-- decode update

local UPDATE_KEYS = { "B", "D", "S", "W", "SL", "P", "xlayout", "slayout", "xt", "wt", "st", "bias", "silu", "cache",
                      "indices", "squeeze" }

-- c: B, D, S (new tokens), W, SL (state_len), P (pool rows, with indices), xlayout, slayout,
-- xt/wt/st, bias, silu, cache (cache_seqlens), indices (with padding rows), squeeze (2-d x).
local function check_update(c)
    local B, D, S, W, SL = c.B, c.D, c.squeeze and 1 or c.S, c.W, c.SL
    local xt, wt, st = c.xt, c.wt or c.xt, c.st or c.xt
    local name = describe_case(c, UPDATE_KEYS)
    local P = c.indices and c.P or B
    local x = rand3(B, D, S, xt, c.xlayout)
    local w = rand2(D, W, wt, "cf")
    local b = c.bias and rand1(D, wt) or nil
    local state = rand3(P, D, SL, st, c.slayout)
    local cache, idx
    if c.cache then
        cache = {}
        for i = 1, B do cache[i] = math.random(-2 * SL - 1, 3 * SL + 1) end
    end
    if c.indices then                                   -- distinct pool rows, every other row padding
        local perm = {}
        for i = 0, P - 1 do perm[i + 1] = i end
        for i = P, 2, -1 do local j = math.random(1, i); perm[i], perm[j] = perm[j], perm[i] end
        idx = {}
        for i = 1, B do idx[i] = i % 2 == 0 and -(i % 3) - 1 or perm[i] end
    end
    local X, S0 = vals(x), vals(state)
    local act = c.silu and "silu" or nil
    local xin = c.squeeze and x:select(3, 1) or x
    local out = cc.causal_conv1d_update(xin, state, w, b, { activation = act, cache_seqlens = cache and ints(cache),
                                                            conv_state_indices = idx and ints(idx) })
    local eout, estate = N.update(X, S0, vals(w), vals(b), { silu = c.silu, cache_seqlens = cache, indices = idx })
    if c.squeeze then
        for bb = 1, B do for ch = 1, D do eout[bb][ch] = eout[bb][ch][1] end end
    end
    near(name .. ": out", out, eout, tol_for(xt, xt))
    near(name .. ": conv_state", state, estate, st == xt and EXACT or tol_for(xt, st))
end

local function update_grid()
    local cases, i = {}, 0
    local other = { f64 = "f32", f32 = "f64", f16 = "f32", bf16 = "f16" }
    for _, xt in ipairs({ "f64", "f32", "f16", "bf16" }) do
        for _, cache in ipairs({ false, true }) do
            for _, indices in ipairs({ false, true }) do
                for _, silu in ipairs({ false, true }) do
                    i = i + 1
                    local W = WIDTHS[(i * 5) % #WIDTHS + 1]
                    cases[#cases + 1] = { B = 4, D = 3, S = ({ 1, 2, 3, 7 })[i % 4 + 1], W = W,
                        SL = math.max(W - 1 + (i % 3) * 2, cache and 1 or 0), P = 7,
                        xlayout = ({ "cf", "cl", "odd" })[i % 3 + 1], slayout = ({ "cl", "cf", "odd" })[i % 3 + 1],
                        xt = xt, wt = i % 4 == 0 and other[xt] or nil, st = i % 3 == 0 and other[xt] or nil,
                        bias = i % 2 == 1, silu = silu, cache = cache, indices = indices, squeeze = i % 5 == 0 }
                end
            end
        end
    end
    return cases
end

describe("conv oracle: causal_conv1d_update #cuda", function()
    run_cases(update_grid(), check_update, UPDATE_KEYS, 5000)
end)

------------------------------------------------------------------------------------------------
-- varlen forward + backward, varlen_states

local VARLEN_KEYS = { "N", "D", "W", "maxlen", "layout", "xt", "wt", "st", "bias", "silu", "init", "final", "cu_i64" }

local function check_varlen(c)
    local D, W = c.D, c.W
    local xt, wt, st = c.xt, c.wt or c.xt, c.st or c.xt
    local name = describe_case(c, VARLEN_KEYS)
    local cu = cu_list(c.N, c.maxlen)
    local T = cu[#cu]
    local cut = ints(cu, c.cu_i64 and "i64" or "i32")
    local x = rand2(T, D, xt, c.layout)
    local w = rand2(D, W, wt, "cf")
    local b = c.bias and rand1(D, wt) or nil
    local init = c.init and rand3(c.N, D, W - 1, st, c.layout == "cl" and "cf" or "cl") or nil
    local act = c.silu and "silu" or nil
    local out, fin = cc.causal_conv1d_varlen(x, w, b, cut, { activation = act, initial_states = init,
                                                             return_final_states = c.final })
    local X, Wv, Bv, I = vals(x), vals(w), vals(b), vals(init)
    local eout, efin = N.varlen(X, Wv, Bv, cu, { silu = c.silu, init = I })
    near(name .. ": out", out, eout, tol_for(xt, xt))
    if c.final then near(name .. ": final_states", fin, efin, fin:dtype() == xt and EXACT or tol_for(xt, fin:dtype())) end

    local dout = rand2(T, D, xt, c.layout == "cl" and "cf" or "cl")
    local dfin = c.final and rand3(c.N, D, W - 1, st, "odd") or nil
    local want_dinit = c.init or c.final or nil
    local dx, dw, db, dinit = cc.causal_conv1d_varlen_backward(x, w, b, dout, cut, { activation = act,
        initial_states = init, dfinal_states = dfin, return_dinitial_states = want_dinit })
    local edx, edw, edb, edinit = N.varlen_backward(X, Wv, Bv, vals(dout), cu, { silu = c.silu, init = I,
                                                                                dfinal = vals(dfin) })
    near(name .. ": dx", dx, edx, tol_for(xt, xt))
    near(name .. ": dweight", dw, edw, tol_for(xt, wt))
    if b then near(name .. ": dbias", db, edb, tol_for(xt, wt)) end
    if want_dinit then near(name .. ": dinitial_states", dinit, edinit, tol_for(xt, dinit:dtype())) end
end

local function varlen_grid()
    local cases, i = {}, 0
    local other = { f64 = "f32", f32 = "bf16", f16 = "f32", bf16 = "f64" }
    for _, xt in ipairs({ "f64", "f32", "f16", "bf16" }) do
        for _, init in ipairs({ false, true }) do
            for _, final in ipairs({ false, true }) do
                for _, silu in ipairs({ false, true }) do
                    i = i + 1
                    cases[#cases + 1] = { N = ({ 1, 3, 5 })[i % 3 + 1], D = 3, W = WIDTHS[(i * 7) % #WIDTHS + 1],
                        maxlen = ({ 2, 6, 11 })[i % 3 + 1], layout = ({ "cf", "cl" })[i % 2 + 1], xt = xt,
                        wt = i % 4 == 1 and other[xt] or nil, st = i % 3 == 2 and other[xt] or nil,
                        bias = i % 3 ~= 0, silu = silu, init = init, final = final, cu_i64 = i % 4 == 0 }
                end
            end
        end
    end
    return cases
end

describe("conv oracle: causal_conv1d_varlen and its backward #cuda", function()
    run_cases(varlen_grid(), check_varlen, VARLEN_KEYS, 6000)
end)

describe("conv oracle: causal_conv1d_varlen_states #cuda", function()
    local cases = {}
    for i, SL in ipairs({ 1, 3, 4, 9, 16 }) do
        cases[#cases + 1] = { N = 4, D = 3, SL = SL, maxlen = 7, layout = i % 2 == 0 and "cl" or "cf",
                              xt = ({ "f32", "f64", "bf16", "f16", "f32" })[i],
                              dtype = ({ nil, "f32", nil, "f64", "bf16" })[i] }
    end
    run_cases(cases, function(c)
        local cu = cu_list(c.N, c.maxlen)
        local x = rand2(cu[#cu], c.D, c.xt, c.layout)
        local states = cc.causal_conv1d_varlen_states(x, ints(cu), c.SL, { dtype = c.dtype })
        local name = describe_case(c, { "N", "D", "SL", "layout", "xt", "dtype" })
        local dt = c.dtype or c.xt
        assert.are.equal(dt, states:dtype())
        near(name .. ": states", states, N.varlen_states(vals(x), cu, c.SL), dt == c.xt and EXACT or tol_for(c.xt, dt))
    end, { "N", "D", "SL", "layout", "xt", "dtype" }, 7000)
end)

------------------------------------------------------------------------------------------------
-- PyTorch fixtures: the library (both layouts) and the Lua oracle against PyTorch's results

describe("conv oracle: PyTorch fixtures (tests/fixtures/conv) #cuda", function()
    local manifest = dofile(FIXTURES .. "manifest.lua")
    local function load(f) return f and cc.load_npy(FIXTURES .. f) end
    local function on_dev(t) return t and t:to(DEV) end
    -- a copy in the other layout: (n1, n3, n2) buffer viewed as (n1, n2, n3); (n2, n1) transposed
    local function relayout(t)
        if t == nil then return nil end
        local o = { dtype = t:dtype(), device = t:device() }
        if t:dim() == 3 then return cc.empty(t:size(1), t:size(3), t:size(2), o):transpose(2, 3):copy_(t) end
        return cc.empty(t:size(2), t:size(1), o):t():copy_(t)
    end

    for _, case in ipairs(manifest) do
        local I, E = case.inputs, case.expected
        local act = case.silu and "silu" or nil
        -- f64 fixtures are exact references; the f32 ones are PyTorch's own f32 results, so Dao's
        -- table applies (dweight / dbias: its weight-gradient entry)
        local function tol(_, wgrad)
            if case.dtype == "f64" then return TOL.oracle.f64 end
            return wgrad and TOL.conv_weight_grad or TOL.conv[case.dtype]
        end
        local function check_all(name, got, wgrad_keys)
            for key, t in pairs(got) do
                if E[key] then near(name .. ": " .. key, t, load(E[key]), key == "final_states" and EXACT
                                    or tol(nil, wgrad_keys[key])) end
            end
        end
        local WG = { dweight = true, dbias = true }

        for _, layout in ipairs({ "cf", "cl" }) do
            it(case.name .. " (" .. case.op .. ", " .. layout .. ")", function()
                local function in_layout(t) t = on_dev(t); return layout == "cl" and relayout(t) or t end
                local x, w, b = in_layout(load(I.x)), on_dev(load(I.weight)), on_dev(load(I.bias))
                local name = case.name .. " " .. layout
                if case.op == "dense" then
                    local seq, init = on_dev(load(I.seq_idx)), in_layout(load(I.initial_states))
                    local dout, dfin = in_layout(load(I.dout)), in_layout(load(I.dfinal_states))
                    local out, fin = cc.causal_conv1d(x, w, b, { activation = act, seq_idx = seq, initial_states = init,
                                                                 return_final_states = E.final_states ~= nil })
                    local dx, dw, db, dinit = cc.causal_conv1d_backward(x, w, b, dout, { activation = act,
                        seq_idx = seq, initial_states = init, dfinal_states = dfin,
                        return_dinitial_states = E.dinitial_states ~= nil })
                    check_all(name, { out = out, final_states = fin, dx = dx, dweight = dw, dbias = db,
                                      dinitial_states = dinit }, WG)
                elseif case.op == "varlen" then
                    local cu, init = on_dev(load(I.cu_seqlens)), in_layout(load(I.initial_states))
                    local dout, dfin = in_layout(load(I.dout)), in_layout(load(I.dfinal_states))
                    local out, fin = cc.causal_conv1d_varlen(x, w, b, cu, { activation = act, initial_states = init,
                                                                            return_final_states = E.final_states ~= nil })
                    local dx, dw, db, dinit = cc.causal_conv1d_varlen_backward(x, w, b, dout, cu, {
                        activation = act, initial_states = init, dfinal_states = dfin,
                        return_dinitial_states = E.dinitial_states ~= nil })
                    local states = case.state_len and cc.causal_conv1d_varlen_states(x, cu, case.state_len)
                    check_all(name, { out = out, final_states = fin, dx = dx, dweight = dw, dbias = db,
                                      dinitial_states = dinit }, WG)
                    if states then near(name .. ": states", states, load(E.states), EXACT) end
                else
                    local state = in_layout(load(I.conv_state))
                    local out = cc.causal_conv1d_update(x, state, w, b, { activation = act,
                        cache_seqlens = on_dev(load(I.cache_seqlens)), conv_state_indices = on_dev(load(I.conv_state_indices)) })
                    near(name .. ": out", out, load(E.out), tol())
                    near(name .. ": conv_state", state, load(E.conv_state), EXACT)
                end
            end)
        end

        it(case.name .. ": the Lua oracle agrees with PyTorch", function()
            local function v(key) return I[key] and load(I[key]):totable() end
            local name = case.name .. " naive_conv"
            local got = {}
            if case.op == "dense" then
                local o = { silu = case.silu, seq_idx = v("seq_idx"), init = v("initial_states"), dfinal = v("dfinal_states") }
                got.out, got.final_states = N.forward(v("x"), v("weight"), v("bias"), o)
                got.dx, got.dweight, got.dbias, got.dinitial_states = N.backward(v("x"), v("weight"), v("bias"), v("dout"), o)
            elseif case.op == "varlen" then
                local o = { silu = case.silu, init = v("initial_states"), dfinal = v("dfinal_states") }
                local cu = v("cu_seqlens")
                got.out, got.final_states = N.varlen(v("x"), v("weight"), v("bias"), cu, o)
                got.dx, got.dweight, got.dbias, got.dinitial_states = N.varlen_backward(v("x"), v("weight"), v("bias"),
                                                                                       v("dout"), cu, o)
                if case.state_len then got.states = N.varlen_states(v("x"), cu, case.state_len) end
            else
                got.out, got.conv_state = N.update(v("x"), v("conv_state"), v("weight"), v("bias"), { silu = case.silu,
                    cache_seqlens = v("cache_seqlens"), indices = v("conv_state_indices") })
            end
            for key, file in pairs(E) do
                assert(got[key] ~= nil, name .. ": no " .. key)
                local e = load(file)
                near(name .. ": " .. key, e, got[key], tol(nil, WG[key]))
            end
        end)
    end
end)
