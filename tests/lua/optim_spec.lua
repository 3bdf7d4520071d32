-- cc.optim (lua/causalconv/optim.lua, the fused kernel cc_adam_step of core/optim.c): SGD, Adam
-- and AdamW over three steps against PyTorch's update rules written out here in plain Lua numbers,
-- in f64 and f32; the fused kernel on a larger random tensor against a Lua reimplementation that
-- rounds every operation as the kernel must (PyTorch's operation order in f32, or f64); parameter
-- groups, no_decay_groups, clip_grad_norm_, schedules, state_dict round trips that continue bitwise
-- like an uninterrupted run, and bad input. The #cuda blocks run on TEST_DEVICE (the emulated or a
-- real GPU with CC_TEST_DEVICE=cuda).
local cc = require "causalconv"
local ffi = cc.ffi

local DEV = TEST_DEVICE

pcall(ffi.cdef, [[double cc_optim_spec_pow(double x, double y) __asm__("pow");]])
local cpow = ffi.C.cc_optim_spec_pow   -- the pow core/optim.c uses for the bias corrections

local fbuf = ffi.new("float[1]")
local function f32(x) fbuf[0] = x; return fbuf[0] end   -- round to f32 (exact emulation: see adam_exact)
local function same(x) return x end

local P0 = { 1.0, -2.0, 0.5 }
local GRADS = { { 0.1, -0.2, 0.3 }, { -0.5, 0.25, 0.125 }, { 0.0, 1.0, -1.5 } }

local TOL = { f64 = { atol = 1e-14, rtol = 1e-12 }, f32 = { atol = 2e-6, rtol = 2e-6 } }

local function param(values, dtype)
    return cc.tensor(values, { dtype = dtype, device = DEV, requires_grad = true })
end

-- three steps of opt = make({p}) with the GRADS; returns p and the grads as the tensors hold them
local function run3(make, dtype)
    local p = param(P0, dtype)
    local opt = make({ p })
    local gs = {}
    for t = 1, 3 do
        local g = cc.tensor(GRADS[t], { dtype = dtype, device = DEV })
        gs[t] = g:totable()
        p.grad = g
        opt:step()
    end
    return p, gs, opt
end

-- PyTorch's documented rules, in f64 on plain numbers (p: array, gs: one array per step)
local function sgd_ref(p, gs, o)
    p = { unpack(p) }
    local buf
    for t = 1, #gs do
        local d = {}
        for i = 1, #p do d[i] = gs[t][i] + (o.weight_decay or 0) * p[i] end
        local mom = o.momentum or 0
        if mom ~= 0 then
            if buf == nil then buf = { unpack(d) }
            else for i = 1, #p do buf[i] = mom * buf[i] + (1 - (o.dampening or 0)) * d[i] end end
            for i = 1, #p do d[i] = o.nesterov and d[i] + mom * buf[i] or buf[i] end
        end
        for i = 1, #p do p[i] = p[i] - o.lr * d[i] end
    end
    return p
end

local function adam_ref(p, gs, o, decoupled)
    p = { unpack(p) }
    local m, v = {}, {}
    local b1, b2, wd = o.betas[1], o.betas[2], o.weight_decay
    for i = 1, #p do m[i], v[i] = 0, 0 end
    for t = 1, #gs do
        for i = 1, #p do
            local g = gs[t][i]
            if decoupled then p[i] = p[i] - o.lr * wd * p[i] else g = g + wd * p[i] end
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            local mhat, vhat = m[i] / (1 - b1 ^ t), v[i] / (1 - b2 ^ t)
            p[i] = p[i] - o.lr * mhat / (math.sqrt(vhat) + o.eps)
        end
    end
    return p, m, v
end

local function near(t, want, dtype)
    assert.tensor_near(t, cc.tensor(want, { dtype = "f64" }), TOL[dtype].atol, TOL[dtype].rtol)
end

describe("cc.optim.SGD #cuda", function()
    local CASES = {
        { name = "plain", o = { lr = 0.1 } },
        { name = "momentum", o = { lr = 0.1, momentum = 0.9 } },
        { name = "momentum and dampening", o = { lr = 0.05, momentum = 0.8, dampening = 0.25 } },
        { name = "nesterov", o = { lr = 0.1, momentum = 0.9, nesterov = true } },
        { name = "weight decay", o = { lr = 0.1, weight_decay = 0.01 } },
        { name = "weight decay and momentum", o = { lr = 0.1, momentum = 0.5, weight_decay = 0.1, nesterov = true } },
    }
    for _, dtype in ipairs({ "f64", "f32" }) do
        for _, case in ipairs(CASES) do
            it(case.name .. ", 3 steps, " .. dtype, function()
                local p, gs = run3(function(ps) return cc.optim.SGD(ps, case.o) end, dtype)
                near(p, sgd_ref(P0, gs, case.o), dtype)
            end)
        end
    end

    it("keeps a momentum buffer in the parameter's dtype, a copy of the first gradient", function()
        local p, _, opt = run3(function(ps) return cc.optim.SGD(ps, { lr = 0.1, momentum = 0.9 }) end, "f32")
        local buf = opt.state[p].momentum_buffer
        assert.equal("f32", buf:dtype())
        assert.is_false(buf:same_storage(p.grad))
    end)
end)

describe("cc.optim.Adam and AdamW #cuda", function()
    local CASES = {
        { name = "Adam", make = cc.optim.Adam, o = { lr = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 } },
        { name = "Adam, L2 weight decay", make = cc.optim.Adam,
          o = { lr = 0.02, betas = { 0.8, 0.9 }, eps = 1e-6, weight_decay = 0.1 } },
        { name = "AdamW", make = cc.optim.AdamW, decoupled = true,
          o = { lr = 0.01, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 } },
        { name = "AdamW, no weight decay", make = cc.optim.AdamW, decoupled = true,
          o = { lr = 0.05, betas = { 0.5, 0.75 }, eps = 1e-3, weight_decay = 0 } },
    }
    for _, dtype in ipairs({ "f64", "f32" }) do
        for _, case in ipairs(CASES) do
            it(case.name .. ", 3 steps, " .. dtype, function()
                local p, gs, opt = run3(function(ps) return case.make(ps, case.o) end, dtype)
                local wp, wm, wv = adam_ref(P0, gs, case.o, case.decoupled)
                near(p, wp, dtype)
                local st = opt.state[p]
                assert.equal(3, st.step)
                assert.equal(dtype, st.exp_avg:dtype())
                near(st.exp_avg, wm, dtype)
                near(st.exp_avg_sq, wv, dtype)
            end)
        end
    end

    it("defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay; AdamW weight_decay 0.01", function()
        local a = cc.optim.Adam({ param({ 1 }, "f32") })
        local w = cc.optim.AdamW({ param({ 1 }, "f32") })
        for _, g in ipairs({ a.param_groups[1], w.param_groups[1] }) do
            assert.equal(1e-3, g.lr); assert.same({ 0.9, 0.999 }, g.betas); assert.equal(1e-8, g.eps)
        end
        assert.equal(0, a.param_groups[1].weight_decay)
        assert.equal(0.01, w.param_groups[1].weight_decay)
        local p, gs = run3(function(ps) return cc.optim.AdamW(ps) end, "f64")
        near(p, (adam_ref(P0, gs, { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.01 }, true)), "f64")
    end)

    it("gradients from backward, and a parameter without a grad is skipped", function()
        local x = param({ 0.5, -1.5 }, "f64")
        local idle = param({ 3, 4 }, "f64")
        local opt = cc.optim.Adam({ x, idle }, { lr = 0.1 })
        local gs, p = {}, { 0.5, -1.5 }
        for t = 1, 3 do
            opt:zero_grad()
            local loss = (x * x):sum()
            loss:backward()
            gs[t] = { 2 * p[1], 2 * p[2] }
            opt:step()
            p = (adam_ref({ 0.5, -1.5 }, gs, { lr = 0.1, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 }))
        end
        near(x, p, "f64")
        assert.tensor_equal(idle, cc.tensor({ 3, 4 }, { dtype = "f64", device = DEV }))
        assert.is_nil(opt.state[idle])
    end)

    it("non-contiguous parameters and gradients give the contiguous result", function()
        local base = cc.randn(4, 3, { dtype = "f32", device = DEV })
        local gbase = cc.randn(4, 3, { dtype = "f32", device = DEV })
        local pt = base:t():requires_grad_()                -- (3, 4) view with strides (1, 3)
        local pc = base:t():contiguous():requires_grad_()
        local o1 = cc.optim.AdamW({ pt }, { lr = 0.1 })
        local o2 = cc.optim.AdamW({ pc }, { lr = 0.1 })
        for _ = 1, 2 do
            pt.grad = gbase:t()
            pc.grad = gbase:t():contiguous()
            o1:step(); o2:step()
        end
        assert.is_false(pt:is_contiguous())
        assert.tensor_equal(pt:contiguous(), pc)
        assert.is_true(pt:same_storage(base))
    end)

    it("steps bump the parameter's version: a graph that saved it refuses backward", function()
        local p = param({ 1, 2 }, "f32")
        local opt = cc.optim.Adam({ p })
        local loss = (p * p):sum()
        p.grad = cc.ones(2, { device = DEV })
        opt:step()
        expect_error(function() loss:backward() end, "was modified in place")
    end)

    it("step(closure) evaluates the closure with grad on and returns its loss", function()
        local p = param({ 1, -1 }, "f64")
        local opt = cc.optim.SGD({ p }, { lr = 0.5 })
        local loss = cc.no_grad(function()
            return opt:step(function()
                opt:zero_grad()
                local l = (p * p):sum()
                l:backward()
                return l
            end)
        end)
        assert.equal(2, loss:item())
        near(p, { 0, 0 }, "f64")
    end)

    it("zero_grad zeroes in place, or drops the grads with set_to_none", function()
        local p = param({ 1, 2 }, "f32")
        local opt = cc.optim.Adam({ p })
        local g = cc.ones(2, { device = DEV })
        p.grad = g
        opt:zero_grad()
        assert.equal(g, p.grad)
        assert.tensor_equal(g, cc.zeros(2, { device = DEV }))
        opt:zero_grad({ set_to_none = true })
        assert.is_nil(p.grad)
    end)
end)

-- The kernel's own rounding, emulated: every operation of kernels/optim.h's rule in the compute
-- type r (f32: each f64 result rounded to f32 is the correctly rounded f32 result, since f64 has
-- more than 2 * 24 + 2 bits; f64: the same operations), scalars computed in f64 first.
local function adam_exact(p, g, m, v, o, step, r, decoupled)
    local b1, b2, lr, wd = o.betas[1], o.betas[2], o.lr, o.weight_decay
    local bc1, bc2 = 1 - cpow(b1, step), 1 - cpow(b2, step)
    local k_wd, k_decay, k_b1, k_omb1 = r(wd), r(1 - lr * wd), r(b1), r(1 - b1)
    local k_b2, k_omb2, k_nss, k_bc2s, k_eps = r(b2), r(1 - b2), r(-(lr / bc1)), r(math.sqrt(bc2)), r(o.eps)
    local l2 = not decoupled and wd ~= 0
    for i = 1, #p do
        local pi, gi = p[i], g[i]
        if l2 then gi = r(gi + r(k_wd * pi)) end
        if decoupled then pi = r(pi * k_decay) end
        m[i] = r(r(k_b1 * m[i]) + r(k_omb1 * gi))
        v[i] = r(r(k_b2 * v[i]) + r(r(k_omb2 * gi) * gi))
        local denom = r(r(r(math.sqrt(v[i])) / k_bc2s) + k_eps)
        p[i] = r(pi + r(r(k_nss * m[i]) / denom))
    end
end

describe("the fused Adam kernel on a random tensor #cuda", function()
    -- bitwise on the cpu (the kernels are ISO C11, which GCC never contracts into FMAs); the
    -- CUDA kernel is contracted (by nvcc, and by g++ for the emulation), so there a few ulps
    local exact = DEV == "cpu"
    local N = 20000 + 3   -- several OpenMP chunks and a ragged tail

    for _, case in ipairs({
        { dtype = "f32", decoupled = true, o = { lr = 1e-2, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 } },
        { dtype = "f32", decoupled = false, o = { lr = 3e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.05 } },
        { dtype = "f32", decoupled = false, o = { lr = 1e-3, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0 } },
        { dtype = "f64", decoupled = true, o = { lr = 1e-2, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 } },
        { dtype = "f64", decoupled = false, o = { lr = 3e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.05 } },
    }) do
        local name = string.format("%s %s, wd %g: 3 steps against the Lua reimplementation", case.dtype,
            case.decoupled and "AdamW" or "Adam", case.o.weight_decay)
        it(name, function()
            cc.manual_seed(11)
            local p = cc.randn(N, { dtype = case.dtype }):to(DEV):requires_grad_()
            local make = case.decoupled and cc.optim.AdamW or cc.optim.Adam
            local opt = make({ p }, case.o)
            local r = case.dtype == "f32" and f32 or same
            local rp, rm, rv = p:totable(), {}, {}
            for i = 1, N do rm[i], rv[i] = 0, 0 end
            for step = 1, 3 do
                local g = cc.randn(N, { dtype = case.dtype }):to(DEV)
                if step == 2 then g:narrow(1, 1, 100):zero_() end   -- zero gradients too
                p.grad = g
                opt:step()
                adam_exact(rp, g:totable(), rm, rv, case.o, step, r, case.decoupled)
            end
            local want = cc.tensor(rp, { dtype = case.dtype })
            local st = opt.state[p]
            if exact then
                assert.tensor_equal(p:cpu(), want)
                assert.tensor_equal(st.exp_avg:cpu(), cc.tensor(rm, { dtype = case.dtype }))
                assert.tensor_equal(st.exp_avg_sq:cpu(), cc.tensor(rv, { dtype = case.dtype }))
            else
                local tol = case.dtype == "f32" and 1e-6 or 1e-14
                assert.tensor_near(p, want, tol, tol)
                assert.tensor_near(st.exp_avg, cc.tensor(rm, { dtype = case.dtype }), tol, 10 * tol)
                assert.tensor_near(st.exp_avg_sq, cc.tensor(rv, { dtype = case.dtype }), tol, 10 * tol)
            end
        end)
    end

    for _, dtype in ipairs({ "bf16", "f16" }) do
        it(dtype .. " parameter: f32 moments, the f32 update rounded once per step", function()
            cc.manual_seed(5)
            local n = 3000
            local p = cc.randn(n, { dtype = dtype }):to(DEV):requires_grad_()
            local o = { lr = 1e-2, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 }
            local opt = cc.optim.AdamW({ p }, o)
            local rp, rm, rv = p:totable(), {}, {}
            for i = 1, n do rm[i], rv[i] = 0, 0 end
            for step = 1, 3 do
                local g = cc.randn(n, { dtype = dtype }):to(DEV)
                p.grad = g
                opt:step()
                adam_exact(rp, g:totable(), rm, rv, o, step, f32, true)
                rp = cc.tensor(rp, { dtype = "f32" }):to(dtype):totable()   -- the one rounding to the dtype
            end
            assert.equal("f32", opt.state[p].exp_avg:dtype())
            if exact then
                assert.tensor_equal(p:cpu(), cc.tensor(rp, { dtype = "f32" }):to(dtype))
            else
                assert.tensor_near(p, cc.tensor(rp, { dtype = "f32" }), 1e-2, 1e-2)
            end
        end)
    end

    it("zero-size parameters are fine", function()
        local p = cc.empty(0, 4, { device = DEV }):requires_grad_()
        p.grad = cc.empty(0, 4, { device = DEV })
        local opt = cc.optim.AdamW({ p })
        opt:step()
        assert.equal(1, opt.state[p].step)
    end)
end)

describe("parameter groups", function()
    it("per-group options override the defaults; each parameter follows its group", function()
        local a, b, c = param(P0, "f64"), param(P0, "f64"), param(P0, "f64")
        local opt = cc.optim.AdamW({ { params = { a, b } }, { params = { c }, weight_decay = 0, lr = 0.05 } },
                                   { lr = 0.01, weight_decay = 0.2 })
        assert.equal(2, #opt.param_groups)
        assert.equal(0.01, opt.param_groups[1].lr)
        assert.equal(0.2, opt.param_groups[1].weight_decay)
        assert.equal(0.05, opt.param_groups[2].lr)
        assert.equal(0, opt.param_groups[2].weight_decay)
        local gs = {}
        for t = 1, 3 do
            for _, p in ipairs({ a, b, c }) do p.grad = cc.tensor(GRADS[t], { dtype = "f64", device = DEV }) end
            gs[t] = GRADS[t]
            opt:step()
        end
        local o1 = { lr = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.2 }
        local o2 = { lr = 0.05, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 }
        near(a, (adam_ref(P0, gs, o1, true)), "f64")
        near(b, (adam_ref(P0, gs, o1, true)), "f64")
        near(c, (adam_ref(P0, gs, o2, true)), "f64")
    end)

    it("a changed group lr is used by the next step", function()
        local p = param({ 1, 2 }, "f64")
        local opt = cc.optim.SGD({ p }, { lr = 0.1 })
        p.grad = cc.ones(2, { dtype = "f64", device = DEV })
        opt:step()
        opt.param_groups[1].lr = 1
        opt:step()
        near(p, { 1 - 0.1 - 1, 2 - 0.1 - 1 }, "f64")
        opt.param_groups[1].lr = -1
        expect_error(function() opt:step() end, "SGD: lr: expected a number >= 0, got -1")
    end)
end)

describe("cc.optim.no_decay_groups", function()
    it("A_log, D, biases, norms and embeddings get no weight decay; tied weights go once", function()
        local T = {}
        local names = { "backbone.embedding.weight", "backbone.layers.0.mixer.in_proj.weight",
                        "backbone.layers.0.mixer.conv1d.weight", "backbone.layers.0.mixer.conv1d.bias",
                        "backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.D",
                        "backbone.layers.0.mixer.dt_proj.weight", "backbone.layers.0.mixer.dt_proj.bias",
                        "backbone.layers.0.norm.weight", "backbone.norm_f.weight", "head.Dense", "tagged" }
        local named = {}
        for i, n in ipairs(names) do
            T[n] = cc.zeros(2)
            named[i] = { n, T[n] }
        end
        T.tagged._no_weight_decay = true
        named[#named + 1] = { "lm_head.weight", T["backbone.embedding.weight"] }   -- tied to the embedding
        local groups = cc.optim.no_decay_groups(named, 0.1)
        assert.equal(2, #groups)
        assert.equal(0.1, groups[1].weight_decay)
        assert.equal(0, groups[2].weight_decay)
        local function list(g)
            local inv, out = {}, {}
            for k, v in pairs(T) do inv[v] = k end
            for i, t in ipairs(g.params) do out[i] = inv[t] end
            return out
        end
        assert.same({ "backbone.layers.0.mixer.in_proj.weight", "backbone.layers.0.mixer.conv1d.weight",
                      "backbone.layers.0.mixer.dt_proj.weight", "head.Dense" }, list(groups[1]))
        assert.same({ "backbone.embedding.weight", "backbone.layers.0.mixer.conv1d.bias", "backbone.layers.0.mixer.A_log",
                      "backbone.layers.0.mixer.D", "backbone.layers.0.mixer.dt_proj.bias",
                      "backbone.layers.0.norm.weight", "backbone.norm_f.weight", "tagged" }, list(groups[2]))
        local opt = cc.optim.AdamW(groups, { lr = 1e-3 })   -- usable as they are
        assert.equal(0, opt.param_groups[2].weight_decay)
    end)

    it("rejects what is not a list of {name, tensor} pairs", function()
        expect_error(function() cc.optim.no_decay_groups({ cc.zeros(2) }, 0.1) end,
            "no_decay_groups: named_params[1]: expected a {name, tensor} pair")
        expect_error(function() cc.optim.no_decay_groups({}, -1) end, "no_decay_groups: weight_decay: expected a number >= 0")
    end)
end)

describe("cc.optim.clip_grad_norm_ #cuda", function()
    local function with_grads(list, dtype)
        local ps = {}
        for i, g in ipairs(list) do
            ps[i] = param({ 0, 0, 0 }, dtype or "f32")
            ps[i].grad = g and cc.tensor(g, { dtype = dtype or "f32", device = DEV }) or nil
        end
        return ps
    end

    it("scales every grad by max_norm / (total + 1e-6) when the total norm is larger", function()
        local ps = with_grads({ { 3, 0, 0 }, { 0, 4, 0 }, false })
        local total = cc.optim.clip_grad_norm_(ps, 1)
        assert.equal(5, total)
        local c = 1 / (5 + 1e-6)
        near(ps[1].grad, { 3 * c, 0, 0 }, "f32")
        near(ps[2].grad, { 0, 4 * c, 0 }, "f32")
    end)

    it("leaves grads alone below max_norm and returns the norm (f64, also for f16 grads)", function()
        local ps = with_grads({ { 0.5, -0.25, 0 }, { 1, 0, 0 } }, "f16")
        local total = cc.optim.clip_grad_norm_(ps, 10)
        assert.near(math.sqrt(0.25 + 0.0625 + 1), total, 1e-15)
        assert.tensor_equal(ps[1].grad, cc.tensor({ 0.5, -0.25, 0 }, { dtype = "f16", device = DEV }))
    end)

    it("norm_type inf and 1; no grads gives 0", function()
        assert.equal(4, cc.optim.clip_grad_norm_(with_grads({ { 3, -4, 0 }, { 1, 0, 0 } }), 100, math.huge))
        assert.equal(8, cc.optim.clip_grad_norm_(with_grads({ { 3, -4, 0 }, { 1, 0, 0 } }), 100, 1))
        assert.near(3, cc.optim.clip_grad_norm_(with_grads({ { 3, 0, 0 } }), 100, 3), 1e-14)
        assert.equal(0, cc.optim.clip_grad_norm_(with_grads({ false }), 1))
        local p = param({ 2, 0 }, "f64")
        p.grad = cc.tensor({ 6, 8 }, { dtype = "f64", device = DEV })
        assert.equal(10, cc.optim.clip_grad_norm_(p, 5))                    -- one tensor
        near(p.grad, { 6 * 5 / (10 + 1e-6), 8 * 5 / (10 + 1e-6) }, "f64")
    end)

    it("bad arguments", function()
        expect_error(function() cc.optim.clip_grad_norm_({ 1 }, 1) end, "clip_grad_norm_: params[1]: expected a causalconv.Tensor")
        expect_error(function() cc.optim.clip_grad_norm_({}, -1) end, "clip_grad_norm_: max_norm: expected a number >= 0, got -1")
        expect_error(function() cc.optim.clip_grad_norm_({}, 1, 0) end, "clip_grad_norm_: norm_type: expected a number > 0")
    end)
end)

describe("schedules", function()
    it("constant and warmup_cosine", function()
        assert.equal(1, cc.optim.schedule.constant()(123))
        local f = cc.optim.schedule.warmup_cosine({ warmup = 2, total = 6, min_ratio = 0.1 })
        assert.equal(0, f(0))
        assert.equal(0.5, f(1))
        assert.equal(1, f(2))
        assert.near(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25)), f(3), 1e-15)
        assert.near(0.55, f(4), 1e-15)
        assert.equal(0.1, f(6))
        assert.equal(0.1, f(100))
        local g = cc.optim.schedule.warmup_cosine({ warmup = 0, total = 4 })
        assert.equal(1, g(0))
        assert.near(0.5, g(2), 1e-15)
        assert.equal(0, g(4))
    end)

    it("LRScheduler sets lr = base_lr * fn(step) in every group; state_dict round trip", function()
        local a, b = param({ 1 }, "f32"), param({ 1 }, "f32")
        local opt = cc.optim.AdamW({ { params = { a } }, { params = { b }, lr = 0.01 } }, { lr = 0.1 })
        local sched = cc.optim.LRScheduler(opt, cc.optim.schedule.warmup_cosine({ warmup = 2, total = 6 }))
        assert.same({ 0, 0 }, sched:get_last_lr())
        sched:step()
        assert.near(0.05, opt.param_groups[1].lr, 1e-15)
        assert.near(0.005, opt.param_groups[2].lr, 1e-15)
        sched:step(); sched:step()
        local sd = sched:state_dict()
        assert.same({ last_step = 3, base_lrs = { 0.1, 0.01 } }, sd)
        local lrs = sched:get_last_lr()
        local sched2 = cc.optim.LRScheduler(opt, cc.optim.schedule.warmup_cosine({ warmup = 2, total = 6 }))
        sched2:load_state_dict(sd)
        assert.same(lrs, sched2:get_last_lr())
        sched:step(); sched2:step()
        assert.same(sched:get_last_lr(), sched2:get_last_lr())
    end)

    it("bad arguments", function()
        expect_error(function() cc.optim.schedule.warmup_cosine({ warmup = 5, total = 5 }) end,
            "schedule.warmup_cosine: total: expected an integer > warmup (5), got 5")
        expect_error(function() cc.optim.schedule.warmup_cosine({ warmup = 1, total = 5, min = 0 }) end,
            'schedule.warmup_cosine: opts: unknown option "min"')
        expect_error(function() cc.optim.schedule.warmup_cosine({ warmup = 1, total = 5, min_ratio = 2 }) end,
            "schedule.warmup_cosine: min_ratio: expected a number in [0, 1], got 2")
        local opt = cc.optim.SGD({ param({ 1 }, "f32") }, { lr = 1 })
        expect_error(function() cc.optim.LRScheduler(opt, 3) end, "LRScheduler: fn: expected a function")
        expect_error(function() cc.optim.LRScheduler({}, function() return 1 end) end,
            "LRScheduler: opt: expected a cc.optim optimizer")
        expect_error(function() cc.optim.LRScheduler(opt, function() return -1 end) end,
            "LRScheduler: fn(0) returned -1, expected a number >= 0")
        local s = cc.optim.LRScheduler(opt, cc.optim.schedule.constant())
        expect_error(function() s:load_state_dict({ last_step = 1, base_lrs = { 1, 2 } }) end,
            "LRScheduler:load_state_dict: sd.base_lrs: expected 1 numbers")
    end)
end)

describe("state_dict and load_state_dict #cuda", function()
    -- steps 1..k of opt over ps with gradients drawn from a fixed seed per step
    local function grads_for(ps, step)
        cc.manual_seed(1000 + step)
        for _, p in ipairs(ps) do p.grad = cc.randn(p:size(), { dtype = p:dtype() }):to(DEV) end
    end
    local function fresh(dtype)
        cc.manual_seed(3)
        return { cc.randn(5, 3, { dtype = dtype }):to(DEV):requires_grad_(), cc.randn(4, { dtype = dtype }):to(DEV):requires_grad_() }
    end
    local MAKERS = {
        AdamW = function(ps) return cc.optim.AdamW({ { params = { ps[1] } }, { params = { ps[2] }, weight_decay = 0 } }, { lr = 1e-2 }) end,
        Adam = function(ps) return cc.optim.Adam(ps, { lr = 1e-2, weight_decay = 0.01 }) end,
        SGD = function(ps) return cc.optim.SGD(ps, { lr = 0.1, momentum = 0.9, nesterov = true }) end,
    }
    for name, make in pairs(MAKERS) do
        for _, dtype in ipairs({ "f32", "f64" }) do
            it(name .. " " .. dtype .. ": a restored optimizer continues bitwise like an uninterrupted one", function()
                local ref = fresh(dtype)
                local ro = make(ref)
                for s = 1, 5 do grads_for(ref, s); ro:step() end

                local ps = fresh(dtype)
                local o = make(ps)
                for s = 1, 3 do grads_for(ps, s); o:step() end
                local sd = o:state_dict()
                local snapshot = { ps[1]:detach():clone(), ps[2]:detach():clone() }
                for s = 4, 5 do grads_for(ps, s); o:step() end     -- the saved dict holds copies
                if name ~= "SGD" then assert.equal(3, sd.state[1].step) end

                local qs = { snapshot[1]:requires_grad_(), snapshot[2]:requires_grad_() }
                local q = make(qs)
                q:load_state_dict(sd)
                for s = 4, 5 do grads_for(qs, s); q:step() end
                for i = 1, 2 do
                    assert.tensor_equal(qs[i], ref[i])
                    assert.tensor_equal(ps[i], ref[i])
                end
            end)
        end
    end

    it("layout: 1-based positions over the groups, group options, copies of the state", function()
        local ps = fresh("f32")
        local o = MAKERS.AdamW(ps)
        grads_for(ps, 1)
        ps[1].grad = nil
        o:step()
        local sd = o:state_dict()
        assert.same({ 1 }, sd.param_groups[1].params)
        assert.same({ 2 }, sd.param_groups[2].params)
        assert.equal(0, sd.param_groups[2].weight_decay)
        assert.same({ 0.9, 0.999 }, sd.param_groups[1].betas)
        assert.is_nil(sd.state[1])                              -- never stepped
        assert.equal(1, sd.state[2].step)
        assert.is_false(sd.state[2].exp_avg:same_storage(o.state[ps[2]].exp_avg))
        assert.tensor_equal(sd.state[2].exp_avg, o.state[ps[2]].exp_avg)
    end)

    it("load checks counts and shapes and changes nothing when it fails", function()
        local ps = fresh("f32")
        local o = MAKERS.AdamW(ps)
        grads_for(ps, 1); o:step()
        local sd = o:state_dict()
        local before = o.state
        local other = cc.optim.AdamW({ ps[1], ps[2] })
        expect_error(function() other:load_state_dict(sd) end,
            "AdamW:load_state_dict: sd.param_groups: expected 1 groups (the optimizer's), got 2")
        sd.state[1].exp_avg = cc.zeros(3, 5)
        sd.param_groups[2].lr = 0.5
        expect_error(function() o:load_state_dict(sd) end,
            "AdamW:load_state_dict: sd.state[1].exp_avg: expected shape (5, 3) (the parameter's), got")
        assert.equal(before, o.state)
        assert.equal(1e-2, o.param_groups[2].lr)
        sd.state[1].exp_avg = nil
        expect_error(function() o:load_state_dict(sd) end, "AdamW:load_state_dict: sd.state[1]: expected step, exp_avg and exp_avg_sq")
        sd.state[1] = { step = 0, exp_avg = cc.zeros(5, 3), exp_avg_sq = cc.zeros(5, 3) }
        expect_error(function() o:load_state_dict(sd) end, "AdamW:load_state_dict: sd.state[1].step: expected a positive integer, got 0")
        sd.state[1].step = 2
        sd.state[1].bogus = 1
        expect_error(function() o:load_state_dict(sd) end, 'AdamW:load_state_dict: sd.state[1]: unknown entry "bogus"')
        sd.state[1].bogus = nil
        sd.param_groups[1].params = { 1, 2 }
        expect_error(function() o:load_state_dict(sd) end,
            "AdamW:load_state_dict: sd.param_groups[1].params: expected 1 positions")
        sd.param_groups[1].params = { 1 }
        sd.param_groups[2].lr = -0.5
        expect_error(function() o:load_state_dict(sd) end, "AdamW:load_state_dict: sd.param_groups[2].lr: expected a number >= 0, got -0.5")
        assert.equal(before, o.state)
        sd.param_groups[2].lr = 0.5
        o:load_state_dict(sd)                                    -- now it loads: lr and state
        assert.equal(0.5, o.param_groups[2].lr)
        assert.equal(2, o.state[ps[1]].step)
    end)
end)

describe("optimizer argument errors", function()
    local p = param({ 1, 2 }, "f32")
    it("options", function()
        expect_error(function() cc.optim.AdamW({ p }, { lr = -1 }) end, "AdamW: lr: expected a number >= 0, got -1")
        expect_error(function() cc.optim.AdamW({ p }, { lr = 0 / 0 }) end, "AdamW: lr: expected a number >= 0, got nan")
        expect_error(function() cc.optim.Adam({ p }, { betas = { 1, 0.9 } }) end,
            "Adam: betas: expected {beta1, beta2} with 0 <= beta < 1, got {1, 0.9}")
        expect_error(function() cc.optim.Adam({ p }, { betas = { 0.9 } }) end, "Adam: betas: expected {beta1, beta2}")
        expect_error(function() cc.optim.Adam({ p }, { eps = 0 }) end, "Adam: eps: expected a number > 0, got 0")
        expect_error(function() cc.optim.AdamW({ p }, { weight_decay = -0.1 }) end, "AdamW: weight_decay: expected a number >= 0")
        expect_error(function() cc.optim.AdamW({ p }, { momentum = 0.9 }) end,
            'AdamW: opts: unknown option "momentum" (valid options: lr, betas, eps, weight_decay)')
        expect_error(function() cc.optim.SGD({ p }) end, "SGD: lr: expected a number >= 0, got nil (SGD has no default learning rate)")
        expect_error(function() cc.optim.SGD({ p }, { lr = 0.1, nesterov = true }) end,
            "SGD: nesterov: needs momentum > 0 and dampening = 0, got momentum 0 and dampening 0")
        expect_error(function() cc.optim.SGD({ p }, { lr = 0.1, momentum = -1 }) end, "SGD: momentum: expected a number >= 0")
        expect_error(function() cc.optim.SGD({ { params = { p }, lr = -2 } }, { lr = 0.1 }) end,
            "SGD: params[1].lr: expected a number >= 0, got -2")
        expect_error(function() cc.optim.SGD({ { params = { p }, foo = 1 } }, { lr = 0.1 }) end,
            'SGD: params[1]: unknown option "foo"')
    end)

    it("params", function()
        expect_error(function() cc.optim.Adam(p) end, "Adam: params: expected an array of tensors or of parameter groups")
        expect_error(function() cc.optim.Adam({}) end, "Adam: params: got an empty parameter list")
        expect_error(function() cc.optim.Adam({ p, 3 }) end, "Adam: params[2]: expected a causalconv.Tensor, got 3")
        expect_error(function() cc.optim.Adam({ cc.tensor({ 1 }, { dtype = "i32" }) }) end,
            "Adam: params[1]: expected a float tensor")
        expect_error(function() cc.optim.Adam({ p * 2 }) end, "Adam: params[1]: expected a leaf tensor (a parameter), got the output of op 'mul'")
        expect_error(function() cc.optim.Adam({ p, p }) end, "Adam: params[2]: this tensor is already params[1]")
        expect_error(function() cc.optim.Adam({ { params = { p } }, { params = { p } } }) end,
            "Adam: params[2].params[1]: this tensor is already params[1].params[1]")
        expect_error(function() cc.optim.Adam({ { "w", p } }) end, "(a {name, tensor} pair: pass the tensors")
        expect_error(function() cc.optim.Adam({ { params = p } }) end,
            "Adam: params: expected a table or nil, got a tensor (2) f32")   -- the group's params entry
    end)

    it("grads are checked before any parameter changes", function()
        local a, b = param({ 1, 2 }, "f32"), param({ 3, 4 }, "f32")
        local opt = cc.optim.Adam({ a, b })
        a.grad = cc.ones(2)
        b.grad = cc.ones(3)
        expect_error(function() opt:step() end, "Adam: params[2].grad: expected shape (2) (the parameter's), got a tensor (3)")
        b.grad = cc.ones(2, { dtype = "f64" })
        expect_error(function() opt:step() end, "Adam: params[2].grad: expected dtype f32 (the dtype of params[2])")
        assert.tensor_equal(a, cc.tensor({ 1, 2 }))
        assert.is_nil(opt.state[a])
        expect_error(function() opt:step(3) end, "Adam:step: closure: expected a function or nil, got 3")
        expect_error(function() opt:zero_grad({ none = true }) end, 'zero_grad: opts: unknown option "none"')
    end)
end)
