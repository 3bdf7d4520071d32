-- Argument errors of the selective scan ops: every validation of core/selective_scan.c and
-- lua/causalconv/scan.lua. Each rejected call raises (never crashes), blames the caller's line
-- (expect_error), names the user's function (selective_scan, selective_scan_backward,
-- selective_state_update), the argument and what was expected, and writes nothing: the outputs
-- handed in (opts.out, the state of an update, the gradient buffers of the C entry points) keep
-- their sentinel values. Validations the Lua API cannot reach (last_state, the gradient outputs,
-- flags other than 0 / 1) are checked through the C entry points, whose names are then the op's.
local cc = require "causalconv"
local ffi, C = cc.ffi, cc.C

local Bt, Di, L, N = 2, 4, 5, 3
local function R(...) return cc.randn({ ... }) end
local function E(...) return cc.empty({ ... }) end
local function i32(list) return cc.tensor(list, { dtype = "i32" }) end
local SENTINEL = 7

-- fill the outputs with the sentinel; the returned function asserts they still hold it
local function sentinels(list)
    for _, o in ipairs(list) do o:fill_(SENTINEL) end
    return function()
        for _, o in ipairs(list) do
            assert.tensor_equal(o, cc.full(o:size(), SENTINEL, { dtype = o:dtype(), device = o:device() }))
        end
    end
end

-- state pools keep their values through a rejected update
local function unchanged_copy(t)
    local keep = t:clone()
    return function() assert.tensor_equal(t, keep) end
end

describe("selective_scan argument errors", function()
    local u, d, A, B, C_ = R(Bt, Di, L), R(Bt, Di, L), R(Di, N):neg(), R(Bt, N, L), R(Bt, N, L)
    local out = E(Bt, Di, L)
    local unchanged
    before_each(function() unchanged = sentinels({ out }) end)
    after_each(function() unchanged() end)

    -- the call with out pre-allocated; a = replacements of the positional arguments, o = options
    local function ss(a, o)
        a = a or {}
        o = o or {}
        if o.out == nil then o.out = out end
        return cc.selective_scan(a.u or u, a.delta or d, a.A or A, a.B or B, a.C or C_, o)
    end

    it("succeeds on the base call (the rows below change one thing each)", function()
        local o = ss({}, { D = R(Di), z = R(Bt, Di, L), delta_bias = R(Di), delta_softplus = true,
                           initial_state = R(Bt, Di, N), seq_idx = i32({ { 0, 0, 1, 1, -1 }, { 2, 2, 2, 2, 2 } }):view(Bt, L) })
        assert.are.equal(out, o)
        unchanged = function() end   -- this one did write
    end)

    it("rejects wrong ranks and shapes", function()
        expect_error(function() ss({ u = R(Bt, Di) }) end, "selective_scan: u: expected 3 dims (Bt, Di, L), got a tensor (2, 4) f32 cpu")
        expect_error(function() ss({ delta = R(Bt, Di, L + 1) }) end, "selective_scan: delta: expected shape (2, 4, 5) (as u), got (2, 4, 6) f32 cpu")
        expect_error(function() ss({ A = R(Di) }) end, "selective_scan: A: expected 2 dims (Di, N), got a tensor (4) f32 cpu")
        expect_error(function() ss({ A = R(Di + 1, N) }) end, "selective_scan: A: expected shape (Di, N) = (4, *), got (5, 3) f32 cpu")
        expect_error(function() ss({ B = R(Bt, N + 1, L) }) end, "selective_scan: B: expected shape (Bt, N, L) = (2, 3, 5), (Bt, G, N, L) with G dividing Di = 4, or (Di, N) = (4, 3), got (2, 4, 5) f32 cpu")
        expect_error(function() ss({ C = R(Bt, N, L - 1) }) end, "selective_scan: C: expected shape (Bt, N, L) = (2, 3, 5)")
        expect_error(function() ss({ C = R(Di, N + 1) }) end, "selective_scan: C: expected shape")
        expect_error(function() ss({ B = R(Bt, 1, 1, N, L) }) end, "selective_scan: B: expected shape (Bt, N, L)")
        expect_error(function() ss({}, { D = R(Di + 1) }) end, "selective_scan: D: expected shape (4), got (5) f32 cpu")
        expect_error(function() ss({}, { z = R(Bt, Di, L - 1) }) end, "selective_scan: z: expected shape (2, 4, 5) (as u), got (2, 4, 4) f32 cpu")
        expect_error(function() ss({}, { delta_bias = R(2) }) end, "selective_scan: delta_bias: expected shape (4), got (2) f32 cpu")
        expect_error(function() ss({}, { initial_state = R(Bt, Di, N + 1) }) end, "selective_scan: initial_state: expected shape (2, 4, 3), got (2, 4, 4) f32 cpu")
        expect_error(function() ss({}, { seq_idx = cc.zeros(Bt, L + 1, { dtype = "i32" }) }) end, "selective_scan: seq_idx: expected shape (2, 5), got (2, 6) i32 cpu")
    end)

    it("rejects a group count that does not divide Di (and G = 0)", function()
        expect_error(function() ss({ B = R(Bt, 3, N, L) }) end, "selective_scan: B: expected shape (Bt, N, L) = (2, 3, 5), (Bt, G, N, L) with G dividing Di = 4, or (Di, N) = (4, 3), got (2, 3, 3, 5) f32 cpu")
        expect_error(function() ss({ C = R(Bt, 3, N, L) }) end, "selective_scan: C: expected shape (Bt, N, L) = (2, 3, 5), (Bt, G, N, L) with G dividing Di = 4")
        expect_error(function() ss({ C = R(Bt, 0, N, L) }) end, "selective_scan: C: expected shape (Bt, N, L) = (2, 3, 5), (Bt, G, N, L) with G dividing Di = 4, or (Di, N) = (4, 3), got (2, 0, 3, 5) f32 cpu")
    end)

    it("rejects unsupported dtypes", function()
        expect_error(function() ss({ u = cc.zeros(Bt, Di, L, { dtype = "i32" }) }) end, "selective_scan: u: expected dtype f32, f64, f16 or bf16, got (2, 4, 5) i32 cpu")
        expect_error(function() ss({ delta = cc.zeros(Bt, Di, L, { dtype = "i64" }) }) end, "selective_scan: delta: expected dtype f32, f64, f16 or bf16, got (2, 4, 5) i64 cpu")
        expect_error(function() ss({ A = A:to("f16") }) end, "selective_scan: A: expected dtype f32 or f64, got (4, 3) f16 cpu")
        expect_error(function() ss({ A = A:to("bf16") }) end, "selective_scan: A: expected dtype f32 or f64, got (4, 3) bf16 cpu")
        expect_error(function() ss({ B = cc.zeros(Bt, N, L, { dtype = "i32" }) }) end, "selective_scan: B: expected dtype f32, f64, f16 or bf16, got (2, 3, 5) i32 cpu")
        expect_error(function() ss({}, { D = R(Di):to("bf16") }) end, "selective_scan: D: expected dtype f32 or f64, got (4) bf16 cpu")
        expect_error(function() ss({}, { z = cc.zeros(Bt, Di, L, { dtype = "i32" }) }) end, "selective_scan: z: expected dtype f32, f64, f16 or bf16, got (2, 4, 5) i32 cpu")
        expect_error(function() ss({}, { delta_bias = R(Di):to("f16") }) end, "selective_scan: delta_bias: expected dtype f32 or f64, got (4) f16 cpu")
        expect_error(function() ss({}, { initial_state = R(Bt, Di, N):to("f16") }) end, "selective_scan: initial_state: expected dtype f32 or f64, got (2, 4, 3) f16 cpu")
        expect_error(function() ss({}, { seq_idx = cc.zeros(Bt, L, { dtype = "i64" }) }) end, "selective_scan: seq_idx: expected dtype i32, got (2, 5) i64 cpu")
        expect_error(function() ss({}, { seq_idx = cc.zeros(Bt, L) }) end, "selective_scan: seq_idx: expected dtype i32, got (2, 5) f32 cpu")
    end)

    it("rejects an out of the wrong shape or dtype, one that overlaps an input, an expanded out", function()
        expect_error(function() ss({}, { out = E(Bt, Di, L + 1) }) end, "selective_scan: out: expected shape (2, 4, 5) (as u), got (2, 4, 6) f32 cpu")
        expect_error(function() ss({}, { out = cc.empty({ Bt, Di, L }, { dtype = "f64" }) }) end, "selective_scan: out: expected dtype f32 (the dtype of u), got (2, 4, 5) f64 cpu")
        expect_error(function() ss({}, { out = cc.empty({ Bt, Di, L }, { dtype = "bf16" }) }) end, "selective_scan: out: expected dtype f32 (the dtype of u)")
        local buf = R(Bt, Di, L)
        local keep = unchanged_copy(buf)
        expect_error(function() ss({ u = buf }, { out = buf }) end, "selective_scan: out (2, 4, 5) f32 cpu overlaps u (2, 4, 5) f32 cpu in memory")
        expect_error(function() ss({ delta = buf }, { out = buf }) end, "selective_scan: out (2, 4, 5) f32 cpu overlaps delta")
        expect_error(function() ss({}, { out = buf, z = buf }) end, "selective_scan: out (2, 4, 5) f32 cpu overlaps z")
        expect_error(function() ss({ B = buf:narrow(2, 1, N) }, { out = buf }) end, "selective_scan: out (2, 4, 5) f32 cpu overlaps B (2, 3, 5) f32 cpu in memory")
        keep()
        expect_error(function() ss({}, { out = E(Bt, Di, 1):expand(Bt, Di, L) }) end, "selective_scan: out: expected an output whose elements do not overlap, got (2, 4, 5) f32 cpu with strides (4, 1, 0)")
    end)

    it("rejects bad options and argument types in Lua", function()
        expect_error(function() ss({}, { delta_softpuls = true }) end, "selective_scan: opts: unknown option \"delta_softpuls\" (valid options: D, z, delta_bias, delta_softplus, return_last_state, initial_state, seq_idx, out)")
        expect_error(function() ss({}, { dlast_state = R(Bt, Di, N) }) end, "selective_scan: opts: unknown option \"dlast_state\"")
        expect_error(function() ss({}, { delta_softplus = 1 }) end, "selective_scan: delta_softplus: expected a boolean or nil, got 1")
        expect_error(function() ss({}, { return_last_state = "yes" }) end, "selective_scan: return_last_state: expected a boolean or nil, got \"yes\"")
        expect_error(function() ss({}, { D = 3 }) end, "selective_scan: D: expected a causalconv.Tensor or nil, got 3")
        expect_error(function() ss({}, { seq_idx = { { 0, 0, 0, 0, 0 } } }) end, "selective_scan: seq_idx: expected a causalconv.Tensor or nil")
        expect_error(function() cc.selective_scan(u, d, A, B, C_, 5) end, "selective_scan: opts: expected a table of options or nil, got 5")
        expect_error(function() cc.selective_scan("u", d, A, B, C_, { out = out }) end, "selective_scan: u: expected a causalconv.Tensor, got \"u\"")
        expect_error(function() cc.selective_scan(u, d, A, nil, C_, { out = out }) end, "selective_scan: B: expected a causalconv.Tensor, got nil")
        expect_error(function() cc.selective_scan(u, d, A, B, {}, { out = out }) end, "selective_scan: C: expected a causalconv.Tensor, got")
    end)
end)

describe("selective_scan_backward argument errors", function()
    local u, d, A, B, C_, g = R(Bt, Di, L), R(Bt, Di, L), R(Di, N):neg(), R(Bt, N, L), R(Bt, N, L), R(Bt, Di, L)
    local function bw(a, o)
        a = a or {}
        return cc.selective_scan_backward(a.u or u, a.delta or d, a.A or A, a.B or B, a.C or C_, a.dout or g, o)
    end

    it("succeeds on the base call", function()
        local r = { bw({}, { D = R(Di), z = R(Bt, Di, L), delta_bias = R(Di), initial_state = R(Bt, Di, N),
                             dlast_state = R(Bt, Di, N), seq_idx = i32({ { 0, 0, 1, 1, -1 }, { 2, 2, 2, 2, 2 } }):view(Bt, L) }) }
        assert.are.equal(9, table.maxn(r))
    end)

    it("names the bad argument", function()
        expect_error(function() bw({ dout = R(Bt, Di, L + 1) }) end, "selective_scan_backward: dout: expected shape (2, 4, 5) (as u), got (2, 4, 6) f32 cpu")
        expect_error(function() bw({ dout = cc.zeros(Bt, Di, L, { dtype = "i32" }) }) end, "selective_scan_backward: dout: expected dtype f32, f64, f16 or bf16, got (2, 4, 5) i32 cpu")
        expect_error(function() cc.selective_scan_backward(u, d, A, B, C_) end, "selective_scan_backward: dout: expected a causalconv.Tensor, got nil")
        expect_error(function() bw({}, { dlast_state = R(Bt, Di, N + 1) }) end, "selective_scan_backward: dlast_state: expected shape (2, 4, 3), got (2, 4, 4) f32 cpu")
        expect_error(function() bw({}, { dlast_state = cc.zeros(Bt, Di, N, { dtype = "i32" }) }) end, "selective_scan_backward: dlast_state: expected dtype f32, f64, f16 or bf16, got (2, 4, 3) i32 cpu")
        expect_error(function() bw({ u = R(Bt, Di) }) end, "selective_scan_backward: u: expected 3 dims (Bt, Di, L), got a tensor (2, 4) f32 cpu")
        expect_error(function() bw({ A = A:to("f16") }) end, "selective_scan_backward: A: expected dtype f32 or f64, got (4, 3) f16 cpu")
        expect_error(function() bw({ B = R(Bt, 3, N, L) }) end, "selective_scan_backward: B: expected shape (Bt, N, L) = (2, 3, 5), (Bt, G, N, L) with G dividing Di = 4")
        expect_error(function() bw({}, { seq_idx = cc.zeros(Bt, L, { dtype = "i64" }) }) end, "selective_scan_backward: seq_idx: expected dtype i32, got (2, 5) i64 cpu")
        expect_error(function() bw({}, { initial_state = R(Bt, Di, N):to("bf16") }) end, "selective_scan_backward: initial_state: expected dtype f32 or f64, got (2, 4, 3) bf16 cpu")
    end)

    it("rejects bad options in Lua", function()
        expect_error(function() bw({}, { return_last_state = true }) end, "selective_scan_backward: opts: unknown option \"return_last_state\" (valid options: D, z, delta_bias, delta_softplus, initial_state, seq_idx, dlast_state, return_dinitial_state)")
        expect_error(function() bw({}, { out = R(Bt, Di, L) }) end, "selective_scan_backward: opts: unknown option \"out\"")
        expect_error(function() bw({}, { return_dinitial_state = "yes" }) end, "selective_scan_backward: return_dinitial_state: expected a boolean or nil, got \"yes\"")
        expect_error(function() bw({}, { delta_softplus = 0 }) end, "selective_scan_backward: delta_softplus: expected a boolean or nil, got 0")
        expect_error(function() bw({}, { z = true }) end, "selective_scan_backward: z: expected a causalconv.Tensor or nil, got true")
    end)
end)

-- The C entry points, for the validations the Lua API cannot reach; a rejected call returns a
-- non-zero status with cc_last_error() naming the op and the argument, and writes nothing.
local function c_error(status, text)
    assert(status ~= 0, "expected the C call to fail with: " .. text)
    local msg = ffi.string(C.cc_last_error())
    assert(msg:find(text, 1, true), "error message\n  " .. msg .. "\ndoes not contain\n  " .. text)
    return msg
end
local function h(t) return t and t._h or nil end

describe("selective scan C entry points: outputs the Lua API allocates itself", function()
    local u, d, A, B, C_, g = R(Bt, Di, L), R(Bt, Di, L), R(Di, N):neg(), R(Bt, N, L), R(Bt, N, L), R(Bt, Di, L)
    local D, z, bias, init = R(Di), R(Bt, Di, L), R(Di), R(Bt, Di, N)

    it("forward: last_state of the wrong dtype or shape, delta_softplus not 0 or 1", function()
        local out, last = E(Bt, Di, L), E(Bt, Di, N)
        local unchanged = sentinels({ out, last })
        local function fwd(o, l, flag)
            return C.cc_selective_scan_forward(h(o or out), h(l), u._h, d._h, A._h, B._h, C_._h, D._h, z._h, bias._h,
                                               init._h, nil, flag or 0)
        end
        c_error(fwd(nil, cc.empty({ Bt, Di, N }, { dtype = "f64" })), "selective_scan_forward: last_state: expected dtype f32, got (2, 4, 3) f64 cpu")
        c_error(fwd(nil, cc.empty({ Bt, Di, N }, { dtype = "bf16" })), "selective_scan_forward: last_state: expected dtype f32")
        c_error(fwd(nil, E(Bt, Di, N + 1)), "selective_scan_forward: last_state: expected shape (2, 4, 3), got (2, 4, 4) f32 cpu")
        c_error(fwd(nil, last, 2), "selective_scan_forward: delta_softplus: expected 0 or 1, got 2")
        c_error(fwd(nil, u:narrow(3, 1, N)), "selective_scan_forward: last_state (2, 4, 3) f32 cpu overlaps u")
        c_error(C.cc_selective_scan_forward(nil, h(last), u._h, d._h, A._h, B._h, C_._h, nil, nil, nil, nil, nil, 0), "selective_scan_forward: out: expected a tensor")
        c_error(C.cc_selective_scan_forward(out._h, nil, u._h, nil, A._h, B._h, C_._h, nil, nil, nil, nil, nil, 0), "selective_scan_forward: delta: expected a tensor")
        unchanged()
        -- an f64 u wants an f64 last_state
        local u64 = u:double()
        c_error(C.cc_selective_scan_forward(cc.empty({ Bt, Di, L }, { dtype = "f64" })._h, last._h, u64._h, d:double()._h,
            A._h, B._h, C_._h, nil, nil, nil, nil, nil, 0), "selective_scan_forward: last_state: expected dtype f64, got (2, 4, 3) f32 cpu")
        unchanged()
    end)

    it("backward: gradient outputs of the wrong shape or dtype, dD without D, dz without z, overlaps", function()
        local du, dd, dA, dB, dC = E(Bt, Di, L), E(Bt, Di, L), E(Di, N), E(Bt, N, L), E(Bt, N, L)
        local dD, dz, dbias, dinit = E(Di), E(Bt, Di, L), E(Di), E(Bt, Di, N)
        local unchanged = sentinels({ du, dd, dA, dB, dC, dD, dz, dbias, dinit })
        local function bwd(r, k, flag)
            r = r or {}
            local function pick(name, dflt) if r[name] == false then return nil end return r[name] or dflt end
            local function inp(name, dflt) if k and k[name] == false then return nil end return (k and k[name]) or dflt end
            return C.cc_selective_scan_backward(h(pick("du", du)), h(pick("ddelta", dd)), h(pick("dA", dA)), h(pick("dB", dB)),
                h(pick("dC", dC)), h(pick("dD", dD)), h(pick("dz", dz)), h(pick("ddelta_bias", dbias)), h(pick("dinit", dinit)),
                u._h, d._h, A._h, B._h, C_._h, h(inp("D", D)), h(inp("z", z)), h(inp("bias", bias)), h(inp("init", init)), nil,
                g._h, nil, flag or 0)
        end
        c_error(bwd({}, { D = false }), "selective_scan_backward: dD: expected nil without D, got a tensor")
        c_error(bwd({ dD = false }, { z = false }), "selective_scan_backward: dz: expected nil without z, got a tensor")
        c_error(bwd({ du = E(Bt, Di, L + 1) }), "selective_scan_backward: du: expected shape (2, 4, 5), got (2, 4, 6) f32 cpu")
        c_error(bwd({ du = cc.empty({ Bt, Di, L }, { dtype = "f64" }) }), "selective_scan_backward: du: expected dtype f32 (the dtype of u), got (2, 4, 5) f64 cpu")
        c_error(bwd({ ddelta = cc.empty({ Bt, Di, L }, { dtype = "bf16" }) }), "selective_scan_backward: ddelta: expected dtype f32 (the dtype of delta)")
        c_error(bwd({ dA = E(Di, N + 1) }), "selective_scan_backward: dA: expected shape (4, 3), got (4, 4) f32 cpu")
        c_error(bwd({ dB = E(Bt, 2, N, L) }), "selective_scan_backward: dB: expected shape (2, 3, 5) (as B), got (2, 2, 3, 5) f32 cpu")
        c_error(bwd({ dC = cc.empty({ Bt, N, L }, { dtype = "f64" }) }), "selective_scan_backward: dC: expected dtype f32 (the dtype of C)")
        c_error(bwd({ dD = E(Di + 1) }), "selective_scan_backward: dD: expected shape (4), got (5) f32 cpu")
        c_error(bwd({ ddelta_bias = cc.empty({ Di }, { dtype = "f16" }) }), "selective_scan_backward: ddelta_bias: expected dtype")
        c_error(bwd({ dinit = E(Bt, Di, N + 1) }), "selective_scan_backward: dinitial_state: expected shape (2, 4, 3), got (2, 4, 4) f32 cpu")
        c_error(bwd({ ddelta_bias = cc.empty({ Di }, { dtype = "bf16" }) }, { bias = false }), "selective_scan_backward: ddelta_bias: expected dtype f32 or f64, got (4) bf16 cpu")
        c_error(bwd({ dinit = cc.empty({ Bt, Di, N }, { dtype = "f16" }) }, { init = false }), "selective_scan_backward: dinitial_state: expected dtype f32 or f64, got (2, 4, 3) f16 cpu")
        c_error(bwd({ du = g }), "selective_scan_backward: du (2, 4, 5) f32 cpu overlaps dout")
        c_error(bwd({ dz = z }), "selective_scan_backward: dz (2, 4, 5) f32 cpu overlaps z")
        c_error(bwd({ ddelta = du }), "overlaps")
        c_error(bwd({}, nil, 3), "selective_scan_backward: delta_softplus: expected 0 or 1, got 3")
        unchanged()
    end)

    it("state update: dt_softplus not 0 or 1", function()
        local st, x = R(Bt, Di, N), R(Bt, Di)
        local keep = unchanged_copy(st)
        local out = E(Bt, Di)
        local unchanged = sentinels({ out })
        c_error(C.cc_selective_state_update(out._h, st._h, x._h, R(Bt, Di)._h, A._h, R(Bt, N)._h, R(Bt, N)._h, nil, nil,
            nil, nil, 2), "selective_state_update: dt_softplus: expected 0 or 1, got 2")
        keep()
        unchanged()
    end)
end)

describe("selective_state_update argument errors", function()
    local st, x, dt, A, B = R(Bt, Di, N), R(Bt, Di), R(Bt, Di), R(Di, N):neg(), R(Bt, N)
    local pool = R(3, Di, N)
    local out = E(Bt, Di)
    local unchanged, keep_st, keep_pool
    before_each(function()
        unchanged = sentinels({ out })
        keep_st, keep_pool = unchanged_copy(st), unchanged_copy(pool)
    end)
    after_each(function() unchanged(); keep_st(); keep_pool() end)

    local function su(a, o)
        a = a or {}
        o = o or {}
        if o.out == nil then o.out = out end
        return cc.selective_state_update(a.state or st, a.x or x, a.dt or dt, a.A or A, a.B or B, a.C or B, o)
    end

    it("rejects wrong ranks, shapes and dtypes", function()
        expect_error(function() su({ x = R(Bt, Di, 1) }) end, "selective_state_update: x: expected 2 dims (Bt, Di), got a tensor (2, 4, 1) f32 cpu")
        expect_error(function() su({ dt = R(Bt, Di + 1) }) end, "selective_state_update: dt: expected shape (2, 4) (as x), got (2, 5) f32 cpu")
        expect_error(function() su({ A = R(Di + 1, N) }) end, "selective_state_update: A: expected shape (Di, N) = (4, *), got (5, 3) f32 cpu")
        expect_error(function() su({ A = R(Di) }) end, "selective_state_update: A: expected 2 dims")
        expect_error(function() su({ A = A:to("f16") }) end, "selective_state_update: A: expected dtype f32 or f64, got (4, 3) f16 cpu")
        expect_error(function() su({ B = R(Bt, 3, N) }) end, "selective_state_update: B: expected shape (Bt, N) = (2, 3) or (Bt, G, N) with G dividing Di = 4, got (2, 3, 3) f32 cpu")
        expect_error(function() su({ C = R(Bt, N + 1) }) end, "selective_state_update: C: expected shape (Bt, N) = (2, 3) or (Bt, G, N) with G dividing Di = 4, got (2, 4) f32 cpu")
        expect_error(function() su({ C = cc.zeros(Bt, N, { dtype = "i32" }) }) end, "selective_state_update: C: expected dtype f32, f64, f16 or bf16, got (2, 3) i32 cpu")
        expect_error(function() su({}, { D = R(Di + 1) }) end, "selective_state_update: D: expected shape (4), got (5) f32 cpu")
        expect_error(function() su({}, { z = R(Bt, Di + 1) }) end, "selective_state_update: z: expected shape (2, 4) (as x), got (2, 5) f32 cpu")
        expect_error(function() su({}, { dt_bias = R(Di):to("f16") }) end, "selective_state_update: dt_bias: expected dtype f32 or f64, got (4) f16 cpu")
        expect_error(function() su({ state = cc.zeros(Bt, Di, N, { dtype = "i32" }) }) end, "selective_state_update: state: expected dtype f32, f64, f16 or bf16, got (2, 4, 3) i32 cpu")
        expect_error(function() su({ state = R(Bt, Di) }) end, "selective_state_update: state: expected 3 dims")
    end)

    it("rejects a state pool that does not match", function()
        expect_error(function() su({ state = pool }) end, "selective_state_update: state: expected shape (Bt, Di, N) = (2, 4, 3) (its first dim must be Bt unless state_batch_indices is given), got (3, 4, 3) f32 cpu")
        expect_error(function() su({ state = R(Bt, Di + 1, N) }, { state_batch_indices = i32({ 0, 1 }) }) end, "selective_state_update: state: expected shape (pool, Di, N) = (2, 4, 3), got (2, 5, 3) f32 cpu")
        expect_error(function() su({ state = R(Bt, Di, N + 1) }) end, "selective_state_update: state: expected shape (Bt, Di, N) = (2, 4, 3)")
    end)

    it("rejects state_batch_indices past the pool, repeated, or not i32 (Bt)", function()
        expect_error(function() su({ state = pool }, { state_batch_indices = i32({ 0, 3 }) }) end, "selective_state_update: state_batch_indices: expected values < 3 (state's first dim) or < 0 for padding, got 3 at 0-based position 1")
        expect_error(function() su({ state = pool }, { state_batch_indices = i32({ 1, 1 }) }) end, "selective_state_update: state_batch_indices: expected distinct state rows, got 1 at 0-based positions 0 and 1")
        expect_error(function() su({ state = pool }, { state_batch_indices = cc.tensor({ 1, 0 }, { dtype = "i64" }) }) end, "selective_state_update: state_batch_indices: expected dtype i32, got (2) i64 cpu")
        expect_error(function() su({ state = pool }, { state_batch_indices = i32({ 1, 0, 2 }) }) end, "selective_state_update: state_batch_indices: expected shape (2), got (3) i32 cpu")
    end)

    it("rejects an out of the wrong shape or dtype and outputs that overlap inputs", function()
        expect_error(function() su({}, { out = E(Bt, Di + 1) }) end, "selective_state_update: out: expected shape (2, 4) (as x), got (2, 5) f32 cpu")
        expect_error(function() su({}, { out = cc.empty({ Bt, Di }, { dtype = "f64" }) }) end, "selective_state_update: out: expected dtype f32 (the dtype of x), got (2, 4) f64 cpu")
        local xb = R(Bt, Di)
        local keep = unchanged_copy(xb)
        expect_error(function() su({ x = xb }, { out = xb }) end, "selective_state_update: out (2, 4) f32 cpu overlaps x (2, 4) f32 cpu in memory")
        keep()
        expect_error(function() su({ x = st:select(3, 1) }) end, "selective_state_update: state (2, 4, 3) f32 cpu overlaps x")
    end)

    it("rejects bad options in Lua, and a state that requires grad", function()
        expect_error(function() su({}, { dt_softpus = true }) end, "selective_state_update: opts: unknown option \"dt_softpus\" (valid options: D, z, dt_bias, dt_softplus, state_batch_indices, out)")
        expect_error(function() su({}, { delta_softplus = true }) end, "selective_state_update: opts: unknown option \"delta_softplus\"")
        expect_error(function() su({}, { dt_softplus = "yes" }) end, "selective_state_update: dt_softplus: expected a boolean or nil, got \"yes\"")
        expect_error(function() su({}, { state_batch_indices = { 0, 1 } }) end, "selective_state_update: state_batch_indices: expected a causalconv.Tensor or nil")
        expect_error(function() cc.selective_state_update(st, x, dt, A, B, nil, { out = out }) end, "selective_state_update: C: expected a causalconv.Tensor, got nil")
        expect_error(function() cc.selective_state_update(nil, x, dt, A, B, B, { out = out }) end, "selective_state_update: state: expected a causalconv.Tensor, got nil")
        local sg = R(Bt, Di, N):requires_grad_()
        expect_error(function() su({ state = sg }) end, "selective_state_update: state: in-place change of a tensor that requires grad")
    end)
end)

describe("selective scan errors across devices #cuda", function()
    if TEST_DEVICE ~= "cuda" then return end
    it("rejects tensors on two devices, naming the argument", function()
        local u, d, A, B = R(Bt, Di, L):cuda(), R(Bt, Di, L):cuda(), R(Di, N):neg(), R(Bt, N, L):cuda()
        local out = cc.empty({ Bt, Di, L }, { device = "cuda" })
        local unchanged = sentinels({ out })
        expect_error(function() cc.selective_scan(u, d, A, B, B, { out = out }) end, "selective_scan: A: expected a tensor on cuda")
        expect_error(function() cc.selective_scan(u, d, A:cuda(), B, B, { out = out, D = R(Di) }) end, "selective_scan: D: expected a tensor on cuda")
        unchanged()
    end)
end)
