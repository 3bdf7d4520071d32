-- cc.gradcheck itself: passes correct gradients, catches a wrong backward rule (naming the
-- input, the 1-based index and both values), catches non-determinism, leaves .grad alone,
-- and rejects inputs it cannot check.
local cc = require "causalconv"

local function R(...) return cc.randn({ ... }, { dtype = "f64", device = TEST_DEVICE }) end

-- out = x * w with a backward rule that is right for x and scaled by `wrong` for w
local function scaled_mul(x, w, wrong)
    local out = cc.no_grad(function() return x * w end)
    cc.autograd.record("scaled_mul", { "x", "w" }, { x, w }, { out }, function(ctx, g)
        return g * ctx.saved.w, g * ctx.saved.x * wrong
    end, { x = x, w = w })
    return out
end

describe("gradcheck #cuda", function()
    it("passes a correct custom rule and reports small errors", function()
        local ok, report = cc.gradcheck(function(x, w) return scaled_mul(x, w, 1) end, { R(2, 3):requires_grad_(), R(2, 3):requires_grad_() })
        assert.is_true(ok, tostring(report))
        assert.is_true(report.ok)
        assert.equal(12, report.checked)
        assert.is_true(report.max_abs < 1e-6)
        assert.truthy(tostring(report):find("gradcheck: ok", 1, true))
    end)

    it("catches a wrong backward and names the input, the index and both values", function()
        local x, w = R(2, 3):requires_grad_(), R(2, 3):requires_grad_()
        local ok, report = cc.gradcheck(function(a, b) return scaled_mul(a, b, 1.5) end, { x, w }, { names = { "x", "w" } })
        assert.is_false(ok)
        assert.is_false(report.ok)
        assert.equal(2, report.worst.input)
        assert.equal("w", report.worst.name)
        assert.equal(2, #report.worst.index)
        local i, j = report.worst.index[1], report.worst.index[2]
        assert.is_true(i >= 1 and i <= 2 and j >= 1 and j <= 3)
        -- the analytic value is 1.5 times the numeric one
        assert.near(1.5 * report.worst.numeric, report.worst.analytic, 1e-6 * math.abs(report.worst.analytic) + 1e-9)
        local msg = tostring(report)
        assert.truthy(msg:find("gradcheck: FAILED: input 2 'w' at index (" .. i .. ", " .. j .. ")", 1, true), msg)
        assert.truthy(msg:find("analytic", 1, true) and msg:find("numeric", 1, true))
    end)

    it("checks only inputs that require grad, passing the others through", function()
        local x, c = R(3):requires_grad_(), R(3)
        local ok, report = cc.gradcheck(function(a, b, k) return a * b * k end, { x, c, 2 })
        assert.is_true(ok, tostring(report))
        assert.equal(3, report.checked)
    end)

    it("checks several outputs and a non-contiguous input", function()
        local x = R(3, 2):t():requires_grad_()
        local ok, report = cc.gradcheck(function(a) return a:exp(), a:sum(1) end, { x })
        assert.is_true(ok, tostring(report))
    end)

    it("catches an fn that is not deterministic", function()
        local ok, report = cc.gradcheck(function(a) return a + R(2) end, { R(2):requires_grad_() })
        assert.is_false(ok)
        assert.truthy(tostring(report):find("fn is not deterministic", 1, true), tostring(report))
    end)

    it("restores the inputs' values and .grad", function()
        local x = R(2):requires_grad_()
        local before = x:clone()
        x.grad = cc.ones({ 2 }, { dtype = "f64", device = TEST_DEVICE })
        cc.gradcheck(function(a) return a * a end, { x })
        assert.tensor_equal(x:detach(), before)
        assert.tensor_equal(x.grad, cc.ones({ 2 }, { dtype = "f64", device = TEST_DEVICE }))
    end)

    it("rejects inputs it cannot check", function()
        local f32 = cc.randn(2, { device = TEST_DEVICE }):requires_grad_()
        expect_error(function() cc.gradcheck(function(a) return a end, { f32 }) end, "gradcheck: inputs[1]: expected an f64 tensor")
        expect_error(function() cc.gradcheck(function(a) return a end, { R(2) }) end, "gradcheck: inputs: no input has requires_grad = true")
        local y = R(2):requires_grad_() * 2
        expect_error(function() cc.gradcheck(function(a) return a end, { y }) end, "gradcheck: inputs[1]: expected a leaf tensor")
        expect_error(function() cc.gradcheck(function(a) return a end, { R(2):requires_grad_() }, { tol = 1 }) end, "gradcheck: opts: unknown option \"tol\" (valid options: eps, atol, rtol, nondet_tol, names)")
    end)
end)
