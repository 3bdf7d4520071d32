-- The selective scan ops (cc.selective_scan, cc.selective_scan_backward,
-- cc.selective_state_update) through the public API, whatever kernels run behind it, against
--   * the float64 reference values of mamba_block.md section 7 (closed-form inputs);
--   * PyTorch f64 fixtures (tests/fixtures/scan, made by tests/fixtures/make_scan_fixtures.py);
--   * the plain-Lua f64 oracle tests/lua/naive_scan.lua (written from the rule block of
--     core/selective_scan.c), f64 and f32 / f16 / bf16 inputs (against the f64 oracle on the
--     same rounded inputs);
--   * properties: split-L, per-segment seq_idx, padding, step-by-step decode = scan;
--   * the fast kernels against the reference kernels (cc.set_reference_kernels), a separate
--     check on top (the reference kernels are checked against the oracle above);
--   * determinism (backward twice, 1 vs 2 threads) and the autograd tape.
-- Blocks tagged #cuda run on TEST_DEVICE (`CC_TEST_DEVICE=cuda busted --run=emu`); tolerances
-- are tolerance.lua's scan table.
local cc = require "causalconv"
local NS = require "naive_scan"
local TOL = require "tolerance"

local DEV = TEST_DEVICE
local FIX = "tests/fixtures/scan/"
local RESULTS = { "du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "dinitial_state" }

------------------------------------------------------------------------------------------------
-- helpers

local function tol(dtype, what) return TOL.scan[dtype][what] or TOL.scan[dtype].out end

-- actual tensor vs expected (nested table, tensor or number) within t = {atol, rtol}
local function near(name, actual, expected, t)
    assert(actual ~= nil, name .. ": got nil")
    if actual:numel() == 0 then return end
    local e = cc.is_tensor(expected) and expected or cc.tensor(expected, { dtype = "f64" })
    local ok, err = pcall(assert.tensor_near, actual, e, t.atol, t.rtol)
    assert(ok, not ok and (name .. ": " .. tostring(err)) or nil)
end

local function num_near(name, actual, expected, atol)
    assert(math.abs(actual - expected) <= atol,
           string.format("%s: got %.15g, expected %.15g (diff %.3g > %.3g)", name, actual, expected,
                         math.abs(actual - expected), atol))
end

local function bits_equal(name, a, b)
    local ok, err = pcall(assert.tensor_equal, a:cpu(), b:cpu())
    assert(ok, not ok and (name .. ": " .. tostring(err)) or nil)
end

local function sum_sumsq(t)
    local v = t:to({ dtype = "f64", device = "cpu" }):contiguous():view(-1):totable()
    local s, q = 0, 0
    for i = 1, #v do s = s + v[i]; q = q + v[i] * v[i] end
    return s, q
end

local function param_dtype(dtype) return dtype == "f64" and "f64" or "f32" end

-- a (Bt, Di, L) f64 tensor as dtype on DEV, channel-last when cl (a (Bt, L, Di) buffer transposed)
local function place(t64, dtype, cl)
    if t64 == nil then return nil end
    if cl and t64:dim() == 3 then
        return t64:transpose(2, 3):contiguous():to({ dtype = dtype, device = DEV }):transpose(2, 3)
    end
    return t64:to({ dtype = dtype, device = DEV })
end

-- f64 values exactly representable in dtype
local function R(sizes, dtype, scale, shift)
    local t = cc.randn(sizes, { dtype = "f64" })
    if scale then t = t * scale end
    if shift then t = t + shift end
    return t:to(dtype):to("f64")
end

-- seq_idx rows: "segs" (several segments, no padding), "pad" (padding at the start of row 1,
-- inside, and at the end of row 2, a segment that continues after padding), "allpad" (row 2 all
-- padding); lengths other than 7 get random rows of the same flavour
local function seq_rows(Bt, L, kind)
    local rows = {}
    if L == 7 and Bt == 2 then
        if kind == "segs" then return { { 0, 0, 1, 1, 1, 2, 2 }, { 3, 3, 3, 3, 4, 4, 4 } } end
        if kind == "pad" then return { { -1, -1, 0, 0, -1, 1, 1 }, { 0, 0, -1, 0, 2, 2, -1 } } end
        if kind == "allpad" then return { { 5, -1, 5, 6, 6, 6, -1 }, { -1, -1, -1, -1, -1, -1, -1 } } end
    end
    for b = 1, Bt do
        local r, id = {}, b - 1
        for t = 1, L do
            local x = math.random()
            if kind ~= "segs" and (x < 0.2 or (b == 1 and t == 1) or (b == Bt and t == L and L > 2)) then
                r[t] = -1
            else
                if x > 0.8 then id = id + 1 end
                r[t] = id
            end
        end
        rows[b] = r
    end
    return rows
end

-- A case: c = { Bt, Di, N, L, dtype, Bkind, Ckind ("var" | "grouped" | "const"), G, D, z, bias,
-- softplus, init, seq (nil | "segs" | "pad" | "allpad"), last, dlast, cl }.
-- Returns x64 (f64 cpu tensors, the rounded inputs), dev (the inputs on DEV in their dtypes and
-- layout), and the oracle's input.
local function make(c)
    local Bt, Di, N, L, dt = c.Bt, c.Di, c.N, c.L, c.dtype
    local pdt = param_dtype(dt)
    local G = c.G or 2
    local function bc(kind)
        if kind == "const" then return R({ Di, N }, dt) end
        if kind == "grouped" then return R({ Bt, G, N, L }, dt) end
        return R({ Bt, N, L }, dt)
    end
    local x = {
        u = R({ Bt, Di, L }, dt),
        -- raw delta: around -1 with softplus (dt ~ 0.3), small positive without
        delta = c.softplus and R({ Bt, Di, L }, dt, 0.5, -1) or cc.rand({ Bt, Di, L }, { dtype = "f64" }):mul(0.5):add(0.05):to(dt):to("f64"),
        A = (cc.rand({ Di, N }, { dtype = "f64" }) + 0.3):neg():to(pdt):to("f64"),
        B = bc(c.Bkind or "var"), C = bc(c.Ckind or "var"),
        D = c.D and R({ Di }, pdt) or nil,
        z = c.z and R({ Bt, Di, L }, dt) or nil,
        delta_bias = c.bias and R({ Di }, pdt, 0.3, c.softplus and 0 or 0.1):abs() or nil,
        initial_state = c.init and R({ Bt, Di, N }, pdt) or nil,
        seq_idx = c.seq and cc.tensor(seq_rows(Bt, L, c.seq), { dtype = "i32" }):view(Bt, L) or nil,
        dout = R({ Bt, Di, L }, dt),
        dlast_state = c.dlast and R({ Bt, Di, N }, pdt) or nil,
    }
    local function d3(t) return place(t, dt, c.cl) end
    local dev = {
        u = d3(x.u), delta = d3(x.delta), A = place(x.A, pdt), B = place(x.B, dt), C = place(x.C, dt),
        D = place(x.D, pdt), z = d3(x.z), delta_bias = place(x.delta_bias, pdt),
        initial_state = place(x.initial_state, pdt), seq_idx = x.seq_idx and x.seq_idx:to(DEV) or nil,
        dout = d3(x.dout), dlast_state = place(x.dlast_state, pdt),
    }
    local p = NS.from_tensors(x.u, x.delta, x.A, x.B, x.C, { D = x.D, z = x.z, delta_bias = x.delta_bias,
        delta_softplus = c.softplus, initial_state = x.initial_state, seq_idx = x.seq_idx })
    return x, dev, p
end

local function fwd_opts(c, d)
    return { D = d.D, z = d.z, delta_bias = d.delta_bias, delta_softplus = c.softplus or nil,
             initial_state = d.initial_state, seq_idx = d.seq_idx, return_last_state = c.last or nil }
end

local function bwd_opts(c, d)
    return { D = d.D, z = d.z, delta_bias = d.delta_bias, delta_softplus = c.softplus or nil,
             initial_state = d.initial_state, seq_idx = d.seq_idx, dlast_state = d.dlast_state,
             return_dinitial_state = true }
end

-- forward and backward of case c on the library (current kernel setting)
local function lib_run(c, d)
    local out, last = cc.selective_scan(d.u, d.delta, d.A, d.B, d.C, fwd_opts(c, d))
    local g = { cc.selective_scan_backward(d.u, d.delta, d.A, d.B, d.C, d.dout, bwd_opts(c, d)) }
    local r = { out = out, last_state = last }
    for i, k in ipairs(RESULTS) do r[k] = g[i] end
    return r
end

local function describe_case(c)
    local s = string.format("Bt=%d Di=%d N=%d L=%d %s B=%s C=%s", c.Bt, c.Di, c.N, c.L, c.dtype, c.Bkind or "var",
                            c.Ckind or "var")
    for _, k in ipairs({ "D", "z", "bias", "softplus", "init", "last", "dlast", "cl" }) do
        if c[k] then s = s .. " " .. k end
    end
    if c.seq then s = s .. " seq=" .. c.seq end
    return s
end

-- the library against the oracle on case c
local function check_oracle(c)
    local x, d, p = make(c)
    local name = describe_case(c)
    local r = lib_run(c, d)
    local out, last = NS.scan(p)
    local g = NS.scan_backward(p, x.dout:totable(), x.dlast_state and x.dlast_state:totable())
    local dt = c.dtype
    assert.are.equal(dt, r.out:dtype())
    near(name .. " out", r.out, out, tol(dt, "out"))
    if c.last then
        assert.are.equal(param_dtype(dt), r.last_state:dtype())
        near(name .. " last_state", r.last_state, last, tol(dt, "last_state"))
    else
        assert.is_nil(r.last_state)
    end
    for _, k in ipairs(RESULTS) do
        if g[k] == nil then
            assert(r[k] == nil, name .. " " .. k .. ": expected nil")
        else
            near(name .. " " .. k, r[k], g[k], tol(dt, k))
        end
    end
    return r, x, d, p
end

------------------------------------------------------------------------------------------------
-- section 7

local function ref7()
    local Bt, Di, N, L = 2, 3, 4, 8
    local u, delta, z, g = NS.zeros(Bt, Di, L), NS.zeros(Bt, Di, L), NS.zeros(Bt, Di, L), NS.zeros(Bt, Di, L)
    local B, C, A, D, bias = NS.zeros(Bt, N, L), NS.zeros(Bt, N, L), NS.zeros(Di, N), {}, {}
    local sin, cos = math.sin, math.cos
    for b = 0, Bt - 1 do
        for c = 0, Di - 1 do
            for t = 0, L - 1 do
                u[b + 1][c + 1][t + 1] = sin(0.5 * t + 0.9 * c + 1.3 * b + 0.2)
                delta[b + 1][c + 1][t + 1] = 0.5 * cos(0.3 * t + 0.7 * c + 0.2 * b) - 1.0
                z[b + 1][c + 1][t + 1] = cos(0.8 * t - 0.5 * c + 0.3 * b)
                g[b + 1][c + 1][t + 1] = sin(0.2 * t + 0.4 * c + 0.6 * b + 0.5)
            end
        end
        for n = 0, N - 1 do
            for t = 0, L - 1 do
                B[b + 1][n + 1][t + 1] = cos(0.4 * t + 0.6 * n + 0.5 * b)
                C[b + 1][n + 1][t + 1] = sin(0.35 * t - 0.45 * n + 0.25 * b + 0.1)
            end
        end
    end
    for c = 0, Di - 1 do
        bias[c + 1] = -1.0 + 0.25 * c
        D[c + 1] = 1.0 - 0.2 * c
        for n = 0, N - 1 do A[c + 1][n + 1] = -(n + 1) * (1 + 0.1 * c) end
    end
    return { u = u, delta = delta, z = z, g = g, B = B, C = C, A = A, D = D, delta_bias = bias }
end

local R7 = {   -- mamba_block.md section 7
    out00 = { 1.385838327689e-01, 3.577984790299e-01, -1.789476437670e-02, -3.017737972071e-01,
              -2.223980981260e-01, -5.562428237515e-02, -9.855677973928e-03, -2.974183905974e-01 },
    out12 = { -6.386002421323e-02, -3.654221448460e-01, -2.676601571729e-01, 2.771533400340e-02,
              1.726937551455e-02, -6.175301153530e-02, -7.232204125679e-02, 4.517947068898e-02 },
    sums = {
        out = { 2.153718594128e+00, 2.875909637837e+00 }, y = { 1.101007185581e+01, 1.591093562960e+01 },
        last_state = { 3.259083807172e+00, 8.822193140704e-01 }, du = { 5.230578167525e+00, 3.928185424159e+00 },
        ddelta = { 2.508364652498e-01, 7.024948248227e-02 }, dA = { -2.071299542293e-01, 1.035690530478e-02 },
        dB = { -1.521276471308e+00, 3.539831653056e-01 }, dC = { 1.066939049209e+00, 7.335983770439e-01 },
        dD = { 2.816543003609e+00, 5.716958385453e+00 }, dz = { 5.391174863342e+00, 5.492680428404e+00 },
        ddelta_bias = { 2.508364652498e-01, 1.431547441307e-01 },
    },
    last12 = { -4.039313123883e-02, 5.241917708663e-02, 6.433041303975e-02, 6.259848000497e-02 },
    dA0 = { -4.842689948987e-02, -7.540678504138e-03, -4.250644747066e-03, -1.199936519541e-02 },
    dD = { -1.458938678218e-01, 2.289815138707e+00, 6.726217327240e-01 },
    ddelta_bias = { 3.311879022667e-01, 8.279001006566e-02, -1.631414470825e-01 },
}

-- the section 7 results of the library in dtype on DEV
local function run7(dtype)
    local v = ref7()
    local pdt = param_dtype(dtype)
    local function T(t, dt) return cc.tensor(t, { dtype = "f64" }):to({ dtype = dt, device = DEV }) end
    local u, delta, A, B, C = T(v.u, dtype), T(v.delta, dtype), T(v.A, pdt), T(v.B, dtype), T(v.C, dtype)
    local D, z, bias, g = T(v.D, pdt), T(v.z, dtype), T(v.delta_bias, pdt), T(v.g, dtype)
    local o = { D = D, z = z, delta_bias = bias, delta_softplus = true }
    local r = {}
    o.return_last_state = true
    r.out, r.last_state = cc.selective_scan(u, delta, A, B, C, o)
    o.return_last_state = nil
    r.y = cc.selective_scan(u, delta, A, B, C, { D = D, delta_bias = bias, delta_softplus = true })
    r.du, r.ddelta, r.dA, r.dB, r.dC, r.dD, r.dz, r.ddelta_bias = cc.selective_scan_backward(u, delta, A, B, C, g, o)
    return r
end

local function check7(r, atol)
    for k, want in pairs(R7.sums) do
        local s, q = sum_sumsq(r[k])
        -- relative to the value (the published sums have 13 significant digits)
        num_near(k .. " sum", s, want[1], atol * math.max(1, math.abs(want[1])))
        num_near(k .. " sumsq", q, want[2], atol * math.max(1, math.abs(want[2])))
    end
    local t = { atol = atol, rtol = 0 }
    near("out[0][0][:]", r.out:select(1, 1):select(1, 1), R7.out00, t)
    near("out[1][2][:]", r.out:select(1, 2):select(1, 3), R7.out12, t)
    near("last_state[1][2][:]", r.last_state:select(1, 2):select(1, 3), R7.last12, t)
    near("dA[0][:]", r.dA:select(1, 1), R7.dA0, t)
    near("dD", r.dD, R7.dD, t)
    near("ddelta_bias", r.ddelta_bias, R7.ddelta_bias, t)
end

describe("selective scan: section 7 reference values #cuda", function()
    it("the oracle itself reproduces them", function()
        local v = ref7()
        local p = { Bt = 2, Di = 3, L = 8, N = 4, u = v.u, delta = v.delta, A = v.A, B = v.B, C = v.C, D = v.D,
                    z = v.z, delta_bias = v.delta_bias, delta_softplus = true, Bkind = "var", Ckind = "var" }
        local out, last, y = NS.scan(p)
        local g = NS.scan_backward(p, v.g)
        local r = { out = cc.tensor(out, { dtype = "f64" }), last_state = cc.tensor(last, { dtype = "f64" }),
                    y = cc.tensor(y, { dtype = "f64" }) }
        for _, k in ipairs(RESULTS) do if g[k] then r[k] = cc.tensor(g[k], { dtype = "f64" }) end end
        check7(r, 1e-12)
    end)

    for _, ref in ipairs({ true, false }) do
        it("f64 to 1e-12, " .. (ref and "reference" or "fast") .. " kernels", function()
            check7(with_kernels(ref, run7, "f64"), 1e-12)
        end)
    end

    it("f32 to ~1e-5 relative (section 6 item 5)", function()
        local r = with_kernels(false, run7, "f32")
        local v = ref7()
        local p = { Bt = 2, Di = 3, L = 8, N = 4, u = v.u, delta = v.delta, A = v.A, B = v.B, C = v.C, D = v.D,
                    z = v.z, delta_bias = v.delta_bias, delta_softplus = true, Bkind = "var", Ckind = "var" }
        -- f32 inputs are the section 7 inputs rounded: compare with the oracle on those
        local x = {}
        for k, t in pairs(v) do x[k] = cc.tensor(t, { dtype = "f64" }):to("f32"):to("f64"):totable() end
        for k in pairs(x) do if p[k] then p[k] = x[k] end end
        local out, last = NS.scan(p)
        local g = NS.scan_backward(p, x.g)
        local t = { atol = 1e-5, rtol = 1e-5 }
        near("out", r.out, out, t)
        near("last_state", r.last_state, last, t)
        for _, k in ipairs({ "du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias" }) do near(k, r[k], g[k], t) end
        -- and the published sums within 1e-5 relative
        for _, k in ipairs({ "out", "last_state", "du", "dD", "dz" }) do
            local s = sum_sumsq(r[k])
            num_near(k .. " sum (f32)", s, R7.sums[k][1], 1e-5 * math.abs(R7.sums[k][1]) + 1e-5)
        end
    end)
end)

------------------------------------------------------------------------------------------------
-- PyTorch fixtures

local manifest = dofile(FIX .. "manifest.lua")

local function load(name, dtype, on)
    if name == nil then return nil end
    local t = cc.load_npy(FIX .. name)
    if t:dtype() == "i32" then return t:to(on or DEV) end
    return t:to({ dtype = dtype, device = on or DEV })
end

describe("selective scan: PyTorch fixtures #cuda", function()
    for _, fx in ipairs(manifest) do
        for _, dtype in ipairs({ "f64", "f32" }) do
            it(fx.name .. " (" .. fx.op .. ") in " .. dtype, function()
                local pdt = param_dtype(dtype)
                local i, e = fx.inputs, fx.expected
                local PARAM = { A = true, D = true, delta_bias = true, initial_state = true, dlast_state = true,
                                dt_bias = true }
                local function L(k) return load(i[k], PARAM[k] and pdt or dtype) end
                if fx.op == "scan" then
                    local o = { D = L("D"), z = L("z"), delta_bias = L("delta_bias"), initial_state = L("initial_state"),
                                seq_idx = L("seq_idx"), delta_softplus = fx.delta_softplus }
                    local args = { L("u"), L("delta"), L("A"), L("B"), L("C") }
                    o.return_last_state = true
                    local out, last = cc.selective_scan(args[1], args[2], args[3], args[4], args[5], o)
                    o.return_last_state = nil
                    o.dlast_state = L("dlast_state")
                    o.return_dinitial_state = i.initial_state ~= nil
                    local g = { cc.selective_scan_backward(args[1], args[2], args[3], args[4], args[5], L("dout"), o) }
                    near("out", out, load(e.out, "f64", "cpu"), tol(dtype, "out"))
                    near("last_state", last, load(e.last_state, "f64", "cpu"), tol(dtype, "last_state"))
                    local n, want = 0, 0
                    for k, name in ipairs(RESULTS) do
                        if e[name] then
                            near(name, g[k], load(e[name], "f64", "cpu"), tol(dtype, name))
                            n = n + 1
                        else
                            assert(g[k] == nil, name .. ": expected nil (the case has no such input)")
                        end
                    end
                    for k in pairs(e) do if k:sub(1, 1) == "d" then want = want + 1 end end
                    assert.are.equal(want, n)
                else
                    local state = L("state")
                    local out = cc.selective_state_update(state, L("x"), L("dt"), L("A"), L("B"), L("C"), {
                        D = L("D"), z = L("z"), dt_bias = L("dt_bias"), dt_softplus = fx.dt_softplus,
                        state_batch_indices = L("state_batch_indices") })
                    near("out", out, load(e.out, "f64", "cpu"), tol(dtype, "out"))
                    near("state", state, load(e.state, "f64", "cpu"), tol(dtype, "last_state"))
                end
            end)
        end
    end
end)

------------------------------------------------------------------------------------------------
-- the oracle

local function base(t)
    local c = { Bt = 2, Di = 4, N = 3, L = 7, dtype = "f64" }
    for k, v in pairs(t) do c[k] = v end
    return c
end

local ALL = { D = true, z = true, bias = true, softplus = true, init = true, last = true, dlast = true }
local function with(t, extra)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    for k, v in pairs(extra) do c[k] = v end
    return c
end

local ORACLE_CASES = {
    base({}),
    base({ last = true }),
    base(ALL),
    base(with(ALL, { softplus = false })),
    base({ D = true, last = true }),
    base({ z = true, last = true, dlast = true }),
    base({ bias = true, softplus = true }),
    base({ init = true, last = true }),
    base({ init = true, dlast = true }),          -- dinitial_state from dout alone, dlast without last
    base({ dlast = true, last = true }),
    base(with(ALL, { seq = "segs" })),
    base(with(ALL, { seq = "pad" })),
    base(with(ALL, { seq = "allpad" })),
    base({ seq = "pad", z = true, last = true }),
    base(with(ALL, { Bkind = "grouped", Ckind = "grouped" })),
    base(with(ALL, { Bkind = "const", Ckind = "const" })),
    base(with(ALL, { Bkind = "const", Ckind = "var" })),
    base(with(ALL, { Bkind = "var", Ckind = "grouped" })),
    base(with(ALL, { Bkind = "grouped", Ckind = "const", seq = "pad" })),
    base(with(ALL, { cl = true })),
    base(with(ALL, { cl = true, seq = "pad", Bkind = "grouped", Ckind = "grouped" })),
    base(with(ALL, { N = 1 })),
    base(with(ALL, { N = 17, Bkind = "grouped" })),
    base(with(ALL, { L = 1 })),
    base(with(ALL, { L = 2, seq = "pad" })),
    base(with(ALL, { L = 0 })),
    base({ L = 0, last = true }),
    base(with(ALL, { Bt = 1, Di = 6, G = 3, Bkind = "grouped", Ckind = "grouped" })),
}

describe("selective scan against the plain-Lua oracle #cuda", function()
    it("f64, every option, to 1e-12", function()
        cc.manual_seed(101)
        math.randomseed(101)
        for _, c in ipairs(ORACLE_CASES) do check_oracle(c) end
    end)

    for _, dtype in ipairs({ "f32", "bf16", "f16" }) do
        it(dtype .. " inputs within the scan tolerances of the f64 oracle on the same rounded inputs", function()
            cc.manual_seed(103)
            math.randomseed(103)
            for i, c in ipairs(ORACLE_CASES) do
                if dtype == "f32" or i % 2 == 1 or c.cl then check_oracle(with(c, { dtype = dtype })) end
            end
        end)
    end

    it("the reference and the fast kernels both match (f64 and f32)", function()
        for _, ref in ipairs({ true, false }) do
            cc.manual_seed(107)
            math.randomseed(107)
            with_kernels(ref, function()
                for _, i in ipairs({ 3, 12, 15, 16, 21, 26 }) do
                    check_oracle(ORACLE_CASES[i])
                    check_oracle(with(ORACLE_CASES[i], { dtype = "f32" }))
                end
            end)
        end
    end)

    it("last_state is the initial state where every token is padding, and dinitial_state is then dlast_state", function()
        cc.manual_seed(109)
        local c = base(with(ALL, { seq = "allpad" }))
        local x, d = make(c)
        local r = lib_run(c, d)
        bits_equal("last_state of the all-padding row", r.last_state:select(1, 2), d.initial_state:select(1, 2))
        near("dinitial_state of the all-padding row", r.dinitial_state:select(1, 2), x.dlast_state:select(1, 2),
             { atol = 0, rtol = 0 })
        assert.are.same(NS.zeros(c.Di, c.L), r.out:select(1, 2):totable())
    end)
end)

------------------------------------------------------------------------------------------------
-- properties

local function narrow_bdl(t, s, n) return t and t:narrow(t:dim(), s, n) or nil end

describe("selective scan properties #cuda", function()
    it("split-L: [0, k) then [k, L) from the first last_state equals the whole scan (f64)", function()
        cc.manual_seed(113)
        for _, kinds in ipairs({ { "var", "var" }, { "grouped", "const" } }) do
            local c = base(with(ALL, { L = 11, Bkind = kinds[1], Ckind = kinds[2] }))
            local _, d = make(c)
            local o = fwd_opts(c, d)
            local whole, wlast = cc.selective_scan(d.u, d.delta, d.A, d.B, d.C, o)
            for _, k in ipairs({ 1, 2, 5, 10 }) do
                local function part(s, n, init)
                    local B = c.Bkind == "const" and d.B or narrow_bdl(d.B, s, n)
                    local C = c.Ckind == "const" and d.C or narrow_bdl(d.C, s, n)
                    return cc.selective_scan(narrow_bdl(d.u, s, n), narrow_bdl(d.delta, s, n), d.A, B, C, {
                        D = d.D, z = narrow_bdl(d.z, s, n), delta_bias = d.delta_bias, delta_softplus = true,
                        initial_state = init, return_last_state = true })
                end
                local o1, l1 = part(1, k, d.initial_state)
                local o2, l2 = part(k + 1, c.L - k, l1)
                local t = tol("f64", "out")
                near("split " .. k .. " out [0,k)", o1, narrow_bdl(whole, 1, k), t)
                near("split " .. k .. " out [k,L)", o2, narrow_bdl(whole, k + 1, c.L - k), t)
                near("split " .. k .. " last_state", l2, wlast, t)
            end
        end
    end)

    it("each seq_idx segment equals its tokens scanned as a row of their own; padding gives 0", function()
        cc.manual_seed(127)
        math.randomseed(127)
        for _, c in ipairs({ base(with(ALL, { seq = "pad" })), base(with(ALL, { seq = "segs", Bkind = "grouped" })),
                             base(with(ALL, { seq = "pad", L = 13, Bkind = "const", Ckind = "grouped" })) }) do
            local x, d = make(c)
            local out, last = cc.selective_scan(d.u, d.delta, d.A, d.B, d.C, fwd_opts(c, d))
            local rows = x.seq_idx:totable()
            local g = { cc.selective_scan_backward(d.u, d.delta, d.A, d.B, d.C, d.dout, bwd_opts(c, d)) }
            local du, ddelta, dz = g[1], g[2], g[7]
            for b = 1, c.Bt do
                local segs, cur = {}, nil
                for t = 1, c.L do
                    local s = rows[b][t]
                    if s < 0 then
                        for _, gt in ipairs({ out, du, ddelta, dz }) do
                            assert.are.equal(0, gt:select(1, b):select(2, t):abs():max():item())
                        end
                    else
                        if not cur or cur.id ~= s then cur = { id = s, idx = {} }; segs[#segs + 1] = cur end
                        cur.idx[#cur.idx + 1] = t - 1
                    end
                end
                local final = d.initial_state:narrow(1, b, 1)
                for k, seg in ipairs(segs) do
                    local ix = cc.tensor(seg.idx, { dtype = "i64" }):to(DEV)
                    local function sel(t) return t:narrow(1, b, 1):index_select(t:dim(), ix) end
                    local B = c.Bkind == "const" and d.B or sel(d.B)
                    local C = c.Ckind == "const" and d.C or sel(d.C)
                    local init = (k == 1 and seg.id == rows[b][1]) and d.initial_state:narrow(1, b, 1) or nil
                    local o, l = cc.selective_scan(sel(d.u), sel(d.delta), d.A, B, C, { D = d.D, z = sel(d.z),
                        delta_bias = d.delta_bias, delta_softplus = true, initial_state = init, return_last_state = true })
                    near(string.format("row %d segment %d", b, k), sel(out), o, tol("f64", "out"))
                    final = l
                end
                near("row " .. b .. " last_state", last:narrow(1, b, 1), final, tol("f64", "last_state"))
            end
        end
    end)

    it("a state update step by step equals the scan: out and last_state (f64)", function()
        cc.manual_seed(131)
        for _, c in ipairs({ base(ALL), base(with(ALL, { Bkind = "grouped", Ckind = "grouped", N = 5 })),
                             base({ last = true, init = true }) }) do
            local _, d = make(c)
            local out, last = cc.selective_scan(d.u, d.delta, d.A, d.B, d.C, fwd_opts(c, d))
            local state = d.initial_state and d.initial_state:clone() or cc.zeros({ c.Bt, c.Di, c.N },
                { dtype = "f64", device = DEV })
            for t = 1, c.L do
                local function at(m) return m and m:select(m:dim(), t) or nil end
                local o = cc.selective_state_update(state, at(d.u), at(d.delta), d.A, at(d.B), at(d.C), {
                    D = d.D, z = at(d.z), dt_bias = d.delta_bias, dt_softplus = c.softplus or nil })
                near("step " .. t, o, at(out), tol("f64", "out"))
            end
            near("state after the steps", state, last, tol("f64", "last_state"))
        end
    end)
end)

------------------------------------------------------------------------------------------------
-- fast kernels against the reference kernels, determinism

-- two results each rounded to f16 / bf16 (the reference kernels compute in f64, the fast ones in
-- f32) may sit one ulp apart, not half an ulp: the scan tolerance plus one more rounding
local ROUNDING = { f16 = 2 ^ -11, bf16 = 2 ^ -8 }
local function pair_tol(dtype, k)
    local t = tol(dtype, k)
    return { atol = t.atol, rtol = t.rtol + (ROUNDING[dtype] or 0) }
end

-- case c's results with the fast kernels on DEV and with the reference kernels on the cpu
local function fast_vs_ref(c, note)
    local x, d = make(c)
    local fast = with_kernels(false, lib_run, c, d)
    local cpu = {}
    for k, v in pairs(d) do cpu[k] = v:cpu() end
    local ref = with_kernels(true, lib_run, c, cpu)
    local name = (note or "") .. describe_case(c)
    for _, k in ipairs({ "out", "last_state", unpack(RESULTS) }) do
        if ref[k] == nil then assert(fast[k] == nil, name .. " " .. k .. ": expected nil")
        else near(name .. " " .. k .. " fast vs reference", fast[k], ref[k], pair_tol(c.dtype, k)) end
    end
    return x, d
end

describe("selective scan fast kernels against the reference kernels #cuda", function()
    it("L at the chunk boundaries, f32", function()
        cc.manual_seed(137)
        math.randomseed(137)
        for _, L in ipairs({ 63, 64, 65, 255, 256, 257, 2047, 2048, 2049 }) do
            fast_vs_ref({ Bt = 1, Di = 2, N = 4, L = L, dtype = "f32", D = true, z = true, bias = true, softplus = true,
                          init = true, last = true, dlast = true, cl = L % 2 == 0, seq = L % 3 == 0 and "pad" or nil })
        end
    end)

    it("every option combination, small shapes (half of them on cuda, each option both ways)", function()
        cc.manual_seed(139)
        math.randomseed(139)
        local KINDS = { "var", "grouped", "const" }
        local SEQ = { false, "segs", "pad" }
        local DT = { "f32", "f64", "bf16", "f16" }
        local n = 0
        for bits = 0, 63 do
            local function bit(i) return math.floor(bits / 2 ^ i) % 2 == 1 end
            for s = 1, 3 do
                n = n + 1
                if DEV ~= "cuda" or (bits + s) % 2 == 0 then fast_vs_ref({ Bt = 2, Di = 4, N = 3 + n % 2, L = 7, dtype = DT[n % 4 + 1], D = bit(0), z = bit(1),
                              bias = bit(2), softplus = bit(3), init = bit(4), dlast = bit(5), last = true,
                              seq = SEQ[s] or nil, cl = n % 5 == 0,
                              Bkind = KINDS[n % 3 + 1], Ckind = KINDS[math.floor(n / 3) % 3 + 1] }) end
            end
        end
        assert.are.equal(192, n)
    end)

    it("the backward is bitwise the same run to run, and for 1 or 2 threads", function()
        cc.manual_seed(149)
        math.randomseed(149)
        local prev = cc.get_num_threads()
        for _, c in ipairs({
            { Bt = 2, Di = 8, N = 16, L = 300, dtype = "f32", D = true, z = true, bias = true, softplus = true,
              init = true, dlast = true, seq = "pad" },
            { Bt = 3, Di = 6, N = 4, L = 130, dtype = "bf16", D = true, bias = true, softplus = true, init = true,
              Bkind = "grouped", G = 3, Ckind = "const" },
        }) do
            local _, d = make(c)
            local runs = {}
            with_kernels(false, function()
                for _, th in ipairs({ 2, 2, 1 }) do
                    cc.set_num_threads(th)
                    local ok, r = pcall(lib_run, c, d)
                    cc.set_num_threads(prev)
                    if not ok then error(r, 0) end
                    runs[#runs + 1] = r
                end
            end)
            for i = 2, 3 do
                for _, k in ipairs({ "out", unpack(RESULTS) }) do
                    if runs[1][k] then bits_equal(describe_case(c) .. " " .. k .. " run " .. i, runs[i][k], runs[1][k]) end
                end
            end
        end
    end)
end)

------------------------------------------------------------------------------------------------
-- autograd

local GRAD_INPUTS = { "u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state" }

describe("selective scan through the autograd tape #cuda", function()
    local function leaves(d)
        local l = {}
        for _, k in ipairs(GRAD_INPUTS) do if d[k] then l[k] = d[k]:detach():clone():requires_grad_() end end
        return l
    end

    for _, mode in ipairs({ "out and last_state", "out only", "last_state only" }) do
        it("loss from " .. mode .. " gives selective_scan_backward's gradients and the oracle's", function()
            cc.manual_seed(151)
            math.randomseed(151)
            for _, c in ipairs({ base(with(ALL, { seq = "pad" })), base(with(ALL, { Bkind = "grouped", Ckind = "const" })) }) do
                local x, d = make(c)
                local l = leaves(d)
                local out, last = cc.selective_scan(l.u, l.delta, l.A, l.B, l.C, { D = l.D, z = l.z,
                    delta_bias = l.delta_bias, delta_softplus = true, initial_state = l.initial_state,
                    seq_idx = d.seq_idx, return_last_state = true })
                local loss
                if mode ~= "last_state only" then loss = (out * d.dout):sum() end
                if mode ~= "out only" then
                    local t = (last * d.dlast_state):sum()
                    loss = loss and loss + t or t
                end
                loss:backward()
                local dout = mode == "last_state only" and d.dout:clone():fill_(0) or d.dout
                local dlast = mode ~= "out only" and d.dlast_state or nil
                local g = { cc.selective_scan_backward(d.u, d.delta, d.A, d.B, d.C, dout, { D = d.D, z = d.z,
                    delta_bias = d.delta_bias, delta_softplus = true, initial_state = d.initial_state,
                    seq_idx = d.seq_idx, dlast_state = dlast }) }
                local p2 = NS.from_tensors(x.u, x.delta, x.A, x.B, x.C, { D = x.D, z = x.z,
                    delta_bias = x.delta_bias, delta_softplus = true, initial_state = x.initial_state, seq_idx = x.seq_idx })
                local og = NS.scan_backward(p2, dout:totable(), dlast and dlast:totable())
                for i, k in ipairs(GRAD_INPUTS) do
                    local name = mode .. " " .. describe_case(c) .. " d" .. k
                    assert(l[k].grad ~= nil, name .. ": no gradient reached it")
                    near(name .. " tape vs selective_scan_backward", l[k].grad, g[i], tol("f64", RESULTS[i]))
                    near(name .. " tape vs oracle", l[k].grad, og[RESULTS[i]], tol("f64", RESULTS[i]))
                end
            end
        end)
    end

    it("a gradient reaching selective_state_update is an error naming the input", function()
        local x = cc.randn({ 2, 3 }, { dtype = "f64", device = DEV }):requires_grad_()
        local state = cc.zeros({ 2, 3, 4 }, { dtype = "f64", device = DEV })
        local dt = cc.rand({ 2, 3 }, { dtype = "f64", device = DEV })
        local A = cc.full({ 3, 4 }, -1, { dtype = "f64", device = DEV })
        local B = cc.randn({ 2, 4 }, { dtype = "f64", device = DEV })
        local out = cc.selective_state_update(state, x, dt, A, B, B)
        assert.is_true(out.requires_grad)
        local loss = out:sum()
        expect_error(function() loss:backward() end, "op 'selective_state_update' has no backward rule for its input 'x'")
    end)
end)

------------------------------------------------------------------------------------------------
-- state update

describe("selective_state_update against the oracle #cuda", function()
    local function update_case(u)
        local Bt, Di, N, pool = u.Bt or 3, u.Di or 4, u.N or 5, u.pool
        local dt = u.dtype or "f64"
        local pdt = param_dtype(dt)
        local x = {
            state = R({ pool or Bt, Di, N }, u.state_dtype or pdt),
            x = R({ Bt, Di }, dt), dt = u.softplus and R({ Bt, Di }, dt) or cc.rand({ Bt, Di }, { dtype = "f64" }):to(dt):to("f64"),
            A = (cc.rand({ Di, N }, { dtype = "f64" }) + 0.3):neg():to(pdt):to("f64"),
            B = u.G and R({ Bt, u.G, N }, dt) or R({ Bt, N }, dt),
            C = u.G and R({ Bt, u.G, N }, dt) or R({ Bt, N }, dt),
            D = u.D and R({ Di }, pdt) or nil, z = u.z and R({ Bt, Di }, dt) or nil,
            dt_bias = u.bias and R({ Di }, pdt, 0.3) or nil,
            state_batch_indices = u.idx and cc.tensor(u.idx, { dtype = "i32" }) or nil,
        }
        local d = {}
        for k, v in pairs(x) do
            if k == "state_batch_indices" then d[k] = v:to(DEV)
            elseif k == "state" then d[k] = v:to({ dtype = u.state_dtype or pdt, device = DEV }):clone()
            else d[k] = v:to({ dtype = (k == "A" or k == "D" or k == "dt_bias") and pdt or dt, device = DEV }) end
        end
        local before = d.state:clone()
        local out = cc.selective_state_update(d.state, d.x, d.dt, d.A, d.B, d.C, { D = d.D, z = d.z,
            dt_bias = d.dt_bias, dt_softplus = u.softplus or nil, state_batch_indices = d.state_batch_indices })
        local q = {}
        for k, v in pairs(x) do q[k] = v end
        q.dt_softplus = u.softplus
        local eo, es = NS.state_update(q)
        local t = tol(TOL.loosest(dt, u.state_dtype), "out")
        near("update out", out, eo, t)
        near("update state", d.state, es, t)
        if u.idx then   -- rows no index names are untouched, bit for bit
            local named = {}
            for _, i in ipairs(u.idx) do named[i] = true end
            for i = 0, (pool or Bt) - 1 do
                if not named[i] then bits_equal("state row " .. i, d.state:select(1, i + 1), before:select(1, i + 1)) end
            end
            for b, i in ipairs(u.idx) do
                if i < 0 then assert.are.equal(0, out:select(1, b):abs():max():item()) end
            end
        end
    end

    it("with and without D, z, dt_bias, dt_softplus (f64)", function()
        cc.manual_seed(157)
        for bits = 0, 15 do
            local function bit(i) return math.floor(bits / 2 ^ i) % 2 == 1 end
            update_case({ D = bit(0), z = bit(1), bias = bit(2), softplus = bit(3) })
        end
    end)

    it("grouped B / C, N = 1 and 17", function()
        cc.manual_seed(163)
        update_case({ G = 2, D = true, z = true, bias = true, softplus = true })
        update_case({ Di = 6, G = 3, softplus = true })
        update_case({ N = 1, D = true })
        update_case({ N = 17, G = 2, z = true, softplus = true })
    end)

    it("state_batch_indices with a padding row and a pool larger than Bt", function()
        cc.manual_seed(167)
        update_case({ pool = 6, idx = { 4, -1, 0 }, D = true, z = true, bias = true, softplus = true })
        update_case({ pool = 5, idx = { -1, -1, 2 }, G = 2 })
        update_case({ pool = 3, idx = { 2, 0, 1 }, softplus = true })
    end)

    it("f32, bf16 and f16 inputs, f32 / f64 / bf16 state", function()
        cc.manual_seed(173)
        for _, dt in ipairs({ "f32", "bf16", "f16" }) do
            update_case({ dtype = dt, D = true, z = true, bias = true, softplus = true, pool = 5, idx = { 3, -1, 1 } })
        end
        update_case({ dtype = "f32", state_dtype = "bf16", softplus = true, G = 2 })
        update_case({ dtype = "bf16", state_dtype = "f64", softplus = true, z = true })
    end)
end)
