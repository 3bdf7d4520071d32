-- causal_conv1d forward and backward: the oracle against hand-computed values and f64 central
-- differences, then the kernels under test (cpu fast, or cuda with CC_TEST_DEVICE=cuda) against
-- the oracle: Dao's grid (a deterministic sample by default, all of it under #slow) and the
-- features beyond it.
local cc = require "causalconv"
local U = require "conv_util"

describe("causal_conv1d reference kernel", function()
    local function ref_fwd(x, w, b, opts) return U.ref(cc.causal_conv1d, x, w, b, opts) end
    local x = cc.tensor({ { { 1, 2, 3, 4 } } }, { dtype = "f64" })
    local w = cc.tensor({ { 1, 10, 100 } }, { dtype = "f64" })   -- w[W-1] = 100 multiplies the current token
    local b = cc.tensor({ 0.5 }, { dtype = "f64" })

    it("matches hand-computed outputs", function()
        assert.tensor_equal(ref_fwd(x, w, b), cc.tensor({ { { 100.5, 210.5, 321.5, 432.5 } } }, { dtype = "f64" }))
    end)

    it("prepends initial states and returns the last W-1 inputs as final states", function()
        local init = cc.tensor({ { { 7, 8 } } }, { dtype = "f64" })
        local out, fin = ref_fwd(x, w, b, { initial_states = init, return_final_states = true })
        assert.tensor_equal(out, cc.tensor({ { { 187.5, 218.5, 321.5, 432.5 } } }, { dtype = "f64" }))
        assert.tensor_equal(fin, cc.tensor({ { { 3, 4 } } }, { dtype = "f64" }))
        -- L = 1 < W-1: the tail of the initial state, then x
        local _, short = ref_fwd(x:narrow(3, 1, 1), w, b, { initial_states = init, return_final_states = true })
        assert.tensor_equal(short, cc.tensor({ { { 8, 1 } } }, { dtype = "f64" }))
    end)

    it("masks taps across seq_idx segments and zeroes padding tokens", function()
        local seq = cc.tensor({ { 0, 0, 1, 1 } }, { dtype = "i32" })
        local init = cc.tensor({ { { 7, 8 } } }, { dtype = "f64" })
        local out, fin = ref_fwd(x, w, nil, { seq_idx = seq, initial_states = init, return_final_states = true })
        assert.tensor_equal(out, cc.tensor({ { { 187, 218, 300, 430 } } }, { dtype = "f64" }))
        assert.tensor_equal(fin, cc.tensor({ { { 3, 4 } } }, { dtype = "f64" }))
        local pad = cc.tensor({ { 0, 0, -1, -1 } }, { dtype = "i32" })
        out, fin = ref_fwd(x, w, b, { seq_idx = pad, return_final_states = true })
        assert.tensor_equal(out, cc.tensor({ { { 100.5, 210.5, 0, 0 } } }, { dtype = "f64" }))
        assert.tensor_equal(fin, cc.tensor({ { { 0, 0 } } }, { dtype = "f64" }))   -- padding-ended row
        -- the last segment has one token: only it is kept
        out, fin = ref_fwd(x, w, b, { seq_idx = cc.tensor({ { 0, 0, 0, 1 } }, { dtype = "i32" }), return_final_states = true })
        assert.tensor_equal(fin, cc.tensor({ { { 0, 4 } } }, { dtype = "f64" }))
    end)

    it("applies SiLU as pre / (1 + exp(-pre))", function()
        local out = ref_fwd(x, w, b, { activation = "silu" })
        local v = U.values(out)[1][1]
        for i, pre in ipairs({ 100.5, 210.5, 321.5, 432.5 }) do
            assert.is_true(math.abs(v[i] - pre / (1 + math.exp(-pre))) < 1e-12)
        end
    end)

    -- f64 central differences of loss = sum(out * R) + sum(final * Rf) against the reference
    -- backward, for every element of x, weight, bias and initial_states.
    local function check_fd(L, W, silu, seq)
        cc.manual_seed(7)
        local B, D = 2, 3
        local o64 = { dtype = "f64" }
        local xs, ws, bs, is = cc.randn(B, D, L, o64), cc.randn(D, W, o64), cc.randn(D, o64), cc.randn(B, D, W - 1, o64)
        local R, Rf = cc.randn(B, D, L, o64), cc.randn(B, D, W - 1, o64)
        local act = silu and "silu" or nil
        local function loss()
            local out, fin = ref_fwd(xs, ws, bs, { activation = act, seq_idx = seq, initial_states = is,
                                                   return_final_states = true })
            local s, o, r, f, rf = 0, U.values(out), U.values(R), U.values(fin), U.values(Rf)
            for b = 1, B do for c = 1, D do
                for t = 1, L do s = s + o[b][c][t] * r[b][c][t] end
                for j = 1, W - 1 do s = s + f[b][c][j] * rf[b][c][j] end
            end end
            return s
        end
        local dx, dw, db, dinit = U.ref(cc.causal_conv1d_backward, xs, ws, bs, R, { activation = act, seq_idx = seq,
                                        initial_states = is, dfinal_states = Rf })
        local h = 1e-6
        for _, pair in ipairs({ { xs, dx }, { ws, dw }, { bs, db }, { is, dinit } }) do
            local t, g = pair[1], pair[2]
            local sizes = t:size()
            local idx = {}
            local function walk(d)
                if d > #sizes then
                    local v = t[idx]
                    t[idx] = v + h
                    local lp = loss()
                    t[idx] = v - h
                    local lm = loss()
                    t[idx] = v
                    local fd, an = (lp - lm) / (2 * h), g[idx]
                    assert(math.abs(fd - an) <= 1e-6 + 1e-5 * math.abs(fd),
                           string.format("index {%s}: analytic %.10g, central difference %.10g", table.concat(idx, ","), an, fd))
                    return
                end
                for i = 1, sizes[d] do idx[d] = i; walk(d + 1) end
            end
            walk(1)
        end
    end

    it("backward matches f64 central differences", function() check_fd(7, 4, false) end)
    it("backward matches f64 central differences with SiLU", function() check_fd(6, 3, true) end)
    it("backward matches f64 central differences for L < W-1", function() check_fd(2, 5, true) end)
    it("backward matches f64 central differences with seq_idx and padding", function()
        check_fd(8, 3, true, cc.tensor({ { 0, 0, 0, 1, 1, 2, -1, -1 }, { -1, 3, 3, 3, 4, 4, 4, 4 } }, { dtype = "i32" }))
    end)
    it("backward matches f64 central differences when the first token is padding", function()
        check_fd(5, 4, false, cc.tensor({ { -1, -1, 0, 0, 0 }, { 0, 0, 0, 0, -1 } }, { dtype = "i32" }))
    end)
end)

-- One forward + backward case against the reference. c: L, D, W, bias, silu, itype, cl (channel
-- last), init, final; optional: B, wtype, stype (state dtype), seq (seq_idx cpu/dev pair), pad.
local function check_case(c)
    local B, D, L, W = c.B or 2, c.D, c.L, c.W
    local itype, wtype, stype = c.itype, c.wtype or "f32", c.stype or c.itype
    local tol = U.TOL[itype]
    local x, xd = U.bdl(B, D, L, itype, c.cl)
    local w, wd = U.randn({ D, W }, wtype)
    local b, bd
    if c.bias then b, bd = U.randn({ D }, c.btype or wtype) end
    local init, initd
    if c.init then init, initd = U.bdl(B, D, W - 1, stype, c.cl) end
    local seq, seqd
    if c.seq then seq, seqd = c.seq[1], c.seq[2] end
    local act = c.silu and "silu" or nil
    local out, fin = cc.causal_conv1d(xd, wd, bd, { activation = act, seq_idx = seqd, initial_states = initd,
                                                   return_final_states = c.final })
    local rout, rfin = U.ref(cc.causal_conv1d, x, w, b, { activation = act, seq_idx = seq, initial_states = init,
                                                          return_final_states = c.final })
    U.near(out, rout, tol, "out")
    if c.final then assert.tensor_equal(fin:to("cpu"), rfin) end

    local g, gd = U.bdl(B, D, L, itype, c.cl)
    local dfin, dfind
    if c.final then dfin, dfind = U.bdl(B, D, W - 1, stype, c.cl) end
    local o = { activation = act, seq_idx = seqd, initial_states = initd, dfinal_states = dfind }
    local dx, dw, db, dinit = cc.causal_conv1d_backward(xd, wd, bd, gd, o)
    local ro = { activation = act, seq_idx = seq, initial_states = init, dfinal_states = dfin }
    local rdx, rdw, rdb, rdinit = U.ref(cc.causal_conv1d_backward, x, w, b, g, ro)
    U.near(dx, rdx, tol, "dx")
    U.near(dw, rdw, U.WTOL, "dweight")
    U.near(db, rdb, U.WTOL, "dbias")
    U.near(dinit, rdinit, tol, "dinitial_states")
    return dx, dw, db, dinit
end

local GRID = {
    L = { 1, 2, 8, 16, 32, 64, 128, 129, 130, 151, 256, 372, 512, 784, 1024, 1134, 2048, 4096 },
    D = { 64, 4128 },
    W = { 2, 3, 4 },
    bias = { false, true },
    silu = { false, true },
    itype = { "f32", "f16", "bf16" },
    cl = { false, true },
    init = { false, true },
    final = { false, true },
}
local GRID_AXES = { "L", "D", "W", "bias", "silu", "itype", "cl", "init", "final" }

-- every step-th grid case; max_elems drops the cases with D * L above it (the comparisons run in
-- Lua, so the biggest cases cost seconds each: they run under #slow)
local function grid(step, first, max_elems)
    for _, c in ipairs(U.sample(GRID, GRID_AXES, step, first)) do
        if not max_elems or c.D * c.L <= max_elems then
            it(U.case_name(c, GRID_AXES), function()
                cc.manual_seed(c.L * 7 + c.D + c.W)
                check_case(c)
            end)
        end
    end
end

describe("causal_conv1d Dao grid sample #cuda", function()
    grid(211, 5, 300000)
end)

-- make test-full runs every case of the grid (about an hour on 2 cores);
-- CC_GRID_STEP=29 make test-full runs every 29th (about two minutes)
local full_step = tonumber(os.getenv("CC_GRID_STEP") or "1")
describe("causal_conv1d Dao grid, full #slow", function()
    grid(full_step, full_step > 1 and 3 or 0)
end)

describe("causal_conv1d beyond Dao #cuda", function()
    it("widths 1 to 16 in both layouts, with seq_idx, initial and final states", function()
        math.randomseed(3)
        cc.manual_seed(3)
        for W = 1, 16 do
            for _, cl in ipairs({ false, true }) do
                check_case({ L = 37, D = 5, W = W, bias = true, silu = W % 2 == 0, itype = "f32", cl = cl,
                             init = true, final = true, seq = { U.seq_idx(2, 37, 3) } })
            end
        end
    end)

    it("seq_idx with initial / final states and padding at chunk-boundary lengths, D not a multiple of 8", function()
        math.randomseed(5)
        cc.manual_seed(5)
        local i = 0
        for _, L in ipairs({ 63, 64, 65, 127, 128, 129, 511, 512, 513, 1025 }) do
            for _, cl in ipairs({ false, true }) do
                i = i + 1
                local W = ({ 2, 3, 4, 5 })[i % 4 + 1]
                check_case({ L = L, D = 9, W = W, bias = true, silu = true, itype = i % 3 == 0 and "bf16" or "f32",
                             cl = cl, init = true, final = true, seq = { U.seq_idx(2, L, 4, i % 2 == 0 and 7 or nil) } })
            end
        end
    end)

    it("padding tokens give and receive no gradient", function()
        cc.manual_seed(11)
        local B, D, L, W = 2, 6, 40, 4
        for _, cl in ipairs({ false, true }) do
            local seq = {}
            for b = 1, B do
                seq[b] = {}
                for t = 1, L do seq[b][t] = (t <= 3 and b == 2) and -1 or (t > 30 and -1 or (t > 15 and 1 or 0)) end
            end
            local _, sd = U.ints(seq)
            local shape = cl and { B, L, D + 3 } or { B, D + 3, L }
            local function view(t) return cl and t:narrow(3, 2, D):transpose(2, 3) or t:narrow(2, 2, D) end
            local xbuf = cc.randn(shape)
            local x = view(xbuf)
            local w, b = cc.randn(D, W), cc.randn(D)
            local init, g, dfin = cc.randn(B, D, W - 1), cc.randn(B, D, L), cc.randn(B, D, W - 1)
            local function run(xx)
                local dev = function(t) return t:to(TEST_DEVICE) end
                local out = cc.causal_conv1d(dev(xx), dev(w), dev(b), { activation = "silu", seq_idx = sd,
                                                                          initial_states = dev(init) })
                local dx, dw, db, dinit = cc.causal_conv1d_backward(dev(xx), dev(w), dev(b), dev(g), {
                    activation = "silu", seq_idx = sd, initial_states = dev(init), dfinal_states = dev(dfin) })
                return out:to("cpu"), dx:to("cpu"), dw:to("cpu"), db:to("cpu"), dinit:to("cpu")
            end
            local out, dx, dw, db, dinit = run(x)
            local dxv, outv = U.values(dx), U.values(out)
            for bb = 1, B do for c = 1, D do for t = 1, L do
                if seq[bb][t] < 0 then
                    assert.are.equal(0, dxv[bb][c][t])
                    assert.are.equal(0, outv[bb][c][t])
                end
            end end end
            -- changing x at padding positions changes nothing else
            local x2 = view(xbuf:clone())   -- same strides: the kernels take the same path
            for bb = 1, B do for c = 1, D do for t = 1, L do
                if seq[bb][t] < 0 then x2[{ bb, c, t }] = 1000 end
            end end end
            local out2, dx2, dw2, db2, dinit2 = run(x2)
            assert.tensor_equal(out2, out)
            assert.tensor_equal(dx2, dx)
            assert.tensor_equal(dw2, dw)
            assert.tensor_equal(db2, db)
            assert.tensor_equal(dinit2, dinit)
            -- and row 2 starts with padding: its initial state gets no gradient
            assert.tensor_equal(dinit:select(1, 2), cc.zeros(D, W - 1))
        end
    end)

    it("mixed dtypes: f32 states with bf16 x, f64 weight, f16 bias", function()
        cc.manual_seed(13)
        for _, cl in ipairs({ false, true }) do
            check_case({ L = 100, D = 12, W = 4, bias = true, silu = true, itype = "bf16", wtype = "f64", btype = "f16",
                         stype = "f32", cl = cl, init = true, final = true })
            check_case({ L = 70, D = 12, W = 3, bias = true, silu = false, itype = "f16", wtype = "bf16", stype = "f64",
                         cl = cl, init = true, final = true })
            check_case({ L = 50, D = 7, W = 4, bias = true, silu = true, itype = "f64", wtype = "f32", stype = "f64",
                         cl = cl, init = true, final = true })
        end
    end)

    it("odd strides: neither the channel nor the position stride is 1", function()
        cc.manual_seed(17)
        local B, D, L, W = 2, 11, 90, 4
        -- channel-first with position stride 2, channel-last with channel stride 2
        local bufs = {
            function(t) return t:select(4, 1) end,                         -- (B, D, L, 2)
            function(t) return t:select(4, 2):permute(1, 3, 2) end,        -- (B, L, D, 2) -> (B, D, L)
        }
        local shapes = { { B, D, L, 2 }, { B, L, D, 2 } }
        for i, view in ipairs(bufs) do
            local xb = cc.randn(shapes[i])
            local gb = cc.randn(shapes[i])
            local x, g = view(xb), view(gb)
            local xd, gd = view(xb:to(TEST_DEVICE)), view(gb:to(TEST_DEVICE))
            local w, b = cc.randn(D, W), cc.randn(D)
            local init = cc.randn(B, W - 1, D):transpose(2, 3)
            local out = cc.causal_conv1d(xd, w:to(TEST_DEVICE), b:to(TEST_DEVICE),
                                         { activation = "silu", initial_states = init:to(TEST_DEVICE) })
            local rout = U.ref(cc.causal_conv1d, x, w, b, { activation = "silu", initial_states = init })
            U.near(out, rout, U.TOL.f32)
            local dx, dw = cc.causal_conv1d_backward(xd, w:to(TEST_DEVICE), b:to(TEST_DEVICE), gd, { activation = "silu" })
            local rdx, rdw = U.ref(cc.causal_conv1d_backward, x, w, b, g, { activation = "silu" })
            U.near(dx, rdx, U.TOL.f32)
            U.near(dw, rdw, U.WTOL)
        end
    end)

    it("writes into pre-allocated out, final_states_out and strided dx", function()
        cc.manual_seed(19)
        local B, D, L, W = 2, 10, 33, 3
        local x, xd = U.bdl(B, D, L, "f32", true)
        local w, wd = U.randn({ D, W })
        local out = cc.zeros(B, D, L):to(TEST_DEVICE)
        local fin = cc.zeros(B, D, W - 1):to(TEST_DEVICE)
        local o, f = cc.causal_conv1d(xd, wd, nil, { out = out, final_states_out = fin })
        assert.are.equal(out, o)
        assert.are.equal(fin, f)
        local ro, rf = U.ref(cc.causal_conv1d, x, w, nil, { return_final_states = true })
        U.near(out, ro, U.TOL.f32)
        assert.tensor_equal(fin:to("cpu"), rf)
        -- dx as a slice of a bigger gradient buffer, as mamba's fused backward does
        local big = cc.zeros(B, D + 6, L + 2):to(TEST_DEVICE)
        local dxv = big:narrow(2, 4, D):narrow(3, 2, L)
        local g, gd = U.bdl(B, D, L, "f32", false)
        local dx = cc.causal_conv1d_backward(xd, wd, nil, gd, { dx = dxv })
        assert.are.equal(dxv, dx)
        local rdx = U.ref(cc.causal_conv1d_backward, x, w, nil, g)
        U.near(dxv, rdx, U.TOL.f32)
        local bigc = big:to("cpu")
        assert.tensor_equal(bigc:narrow(2, 1, 3), cc.zeros(B, 3, L + 2))   -- untouched around the slice
        assert.tensor_equal(bigc:narrow(3, 1, 1), cc.zeros(B, D + 6, 1))
    end)

    it("in-place f32 paths: long rows, W = 4, both layouts, more channels than one task", function()
        cc.manual_seed(31)
        for _, silu in ipairs({ false, true }) do
            check_case({ B = 2, L = 2100, D = 40, W = 4, bias = true, silu = silu, itype = "f32", cl = false,
                         init = true, final = true })
            check_case({ B = 1, L = 1100, D = 1030, W = 4, bias = true, silu = silu, itype = "f32", cl = true,
                         init = true, final = true })
        end
    end)

    it("more than 65535 channels", function()
        cc.manual_seed(23)
        check_case({ B = 1, L = 9, D = 70000, W = 4, bias = true, silu = true, itype = "bf16", cl = false,
                     init = true, final = true })
    end)
end)

describe("causal_conv1d cpu thread-count independence", function()
    it("gives bitwise identical outputs and gradients with 1 and 2 threads", function()
        local saved = cc.get_num_threads()
        cc.manual_seed(29)
        math.randomseed(29)
        local B, D, L, W = 3, 70, 1500, 4
        for case = 1, 4 do
            local cl = case % 2 == 0
            local x = U.bdl(B, D, L, "f32", cl)
            local g = U.bdl(B, D, L, "f32", cl)
            local w, b = cc.randn(D, W), cc.randn(D)
            local init, dfin = cc.randn(B, D, W - 1), cc.randn(B, D, W - 1)
            local seq = case > 2 and U.seq_idx(B, L, 5, 9) or nil   -- without: the fused fast paths
            local function run(n)
                cc.set_num_threads(n)
                local out, fin = cc.causal_conv1d(x, w, b, { activation = "silu", seq_idx = seq, initial_states = init,
                                                            return_final_states = true })
                return { out, fin, cc.causal_conv1d_backward(x, w, b, g, { activation = "silu", seq_idx = seq,
                                                              initial_states = init, dfinal_states = dfin }) }
            end
            local one, two = run(1), run(2)
            cc.set_num_threads(saved)
            for i = 1, 6 do assert.tensor_equal(two[i], one[i]) end
        end
    end)
end)
