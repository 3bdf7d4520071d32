-- The autograd engine: leaves and requires_grad, backward and accumulation, graph order,
-- no_grad, detach, zero_grad, retain_graph / freed graphs, missing rules, in-place changes of
-- saved tensors, and the messages of every error.
local cc = require "causalconv"

local function T(values, dtype) return cc.tensor(values, { dtype = dtype or "f64", device = TEST_DEVICE }) end
local function leaf(values, dtype) return T(values, dtype):requires_grad_() end

describe("requires_grad #cuda", function()
    it("is set by requires_grad_ and by the {requires_grad = true} option", function()
        local x = T({ 1, 2 })
        assert.is_nil(x.requires_grad)
        assert.is_true(x:requires_grad_().requires_grad)
        assert.is_true(cc.randn(2, 3, { dtype = "f64", device = TEST_DEVICE, requires_grad = true }).requires_grad)
        assert.is_true(cc.zeros({ 2 }, { device = TEST_DEVICE, requires_grad = true }).requires_grad)
        assert.is_true(cc.tensor({ 1, 2 }, { device = TEST_DEVICE, requires_grad = true }).requires_grad)
        assert.is_false(x:requires_grad_(false).requires_grad)
    end)

    it("outputs of recorded ops require grad and are not leaves; others do", function()
        local x, c = leaf({ 1, 2 }), T({ 3, 4 })
        local y = x * c
        assert.is_true(y.requires_grad)
        assert.is_false(y:is_leaf())
        assert.is_nil((c * c).requires_grad)
        assert.is_true((c * c):is_leaf())
    end)

    it("is refused for integer tensors and for non-leaves", function()
        local i = cc.tensor({ 1, 2 }, { dtype = "i64", device = TEST_DEVICE })
        expect_error(function() i:requires_grad_() end, "requires_grad_: only float tensors (f32, f64, f16, bf16) can require grad, got a tensor (2) i64")
        expect_error(function() cc.zeros(2, { dtype = "i32", requires_grad = true }) end, "requires_grad_: only float tensors")
        local y = leaf({ 1 }) * 2
        expect_error(function() y:requires_grad_(false) end, "requires_grad_: this tensor is the output of op 'mul', not a leaf")
    end)
end)

describe("backward #cuda", function()
    it("computes the gradient of a small expression (checked by hand)", function()
        local x, w = leaf({ 1, 2, 3 }), leaf({ 0.5, -1, 2 })
        local loss = (x * w + x * x):sum()   -- d/dx = w + 2x, d/dw = x
        loss:backward()
        assert.tensor_near(x.grad, { 2.5, 3, 8 })
        assert.tensor_near(w.grad, { 1, 2, 3 })
    end)

    it("handles a diamond (one value used by two paths) and a leaf used twice", function()
        local x = leaf({ 2, -1 })
        local y = x * x            -- 2x
        local z = y + y * 3 + x    -- 4y + x -> dz/dx = 8x + 1
        z:backward(T({ 1, 1 }))
        assert.tensor_near(x.grad, { 17, -7 })
    end)

    it("accumulates across backward calls and keeps the leaf's dtype and device", function()
        local x = leaf({ 1, 2 }, "f32")
        local function loss() return (x:to("f64") * 3):sum() end
        loss():backward()
        loss():backward()
        assert.equal("f32", x.grad:dtype())
        assert.equal(x:device(), x.grad:device())
        assert.tensor_near(x.grad, { 6, 6 })
        x:zero_grad()
        assert.tensor_near(x.grad, { 0, 0 })
        x:zero_grad({ set_to_none = true })
        assert.is_nil(x.grad)
    end)

    it("takes an explicit gradient for a non-scalar and refuses to invent one", function()
        local x = leaf({ 1, 2, 3 })
        local y = x * 2
        expect_error(function() y:backward() end, "backward: a gradient can be created implicitly only for a one-element output; this one has shape (3)")
        expect_error(function() y:backward(T({ 1, 2 })) end, "backward: grad: expected shape (3) (the output's), got (2)")
        y:backward(T({ 1, 0, -1 }))
        assert.tensor_near(x.grad, { 2, 0, -2 })
    end)

    it("refuses a tensor that does not require grad", function()
        local c = T({ 1 })
        expect_error(function() c:backward() end, "backward: this tensor does not require grad")
    end)

    it("frees the graph after backward unless retain_graph is set", function()
        local x = leaf({ 1, 2 })
        local loss = x:exp():sum()
        loss:backward({ retain_graph = true })
        loss:backward()
        local e = cc.no_grad(function() return x:exp() end)
        assert.tensor_near(x.grad, cc.no_grad(function() return e * 2 end))
        expect_error(function() loss:backward() end, "backward through a graph that was already freed")
        expect_error(function() loss:backward() end, "call backward(grad, {retain_graph = true}) the first time")
    end)

    it("routes gradients only to the outputs of split that reach the loss", function()
        local x = leaf({ 1, 2, 3, 4, 5 })
        local parts = x:split(2)
        local loss = (parts[1] * 2):sum() + parts[3]:sum()
        loss:backward()
        assert.tensor_near(x.grad, { 2, 2, 0, 0, 1 })
    end)

    it("keeps a non-leaf gradient with retain_grad", function()
        local x = leaf({ 1, 2 })
        local y = (x * 3):retain_grad()
        local loss = (y * y):sum()
        loss:backward()
        assert.tensor_near(y.grad, { 6, 12 })
        assert.tensor_near(x.grad, { 18, 36 })
    end)
end)

describe("no_grad and detach #cuda", function()
    it("no_grad records nothing, returns fn's results and restores the mode", function()
        local x = leaf({ 1, 2 })
        local a, b = cc.no_grad(function() return x * 2, 7 end)
        assert.is_nil(a.requires_grad)
        assert.equal(7, b)
        assert.is_true(cc.is_grad_enabled())
        assert.is_true((x * 2).requires_grad)
    end)

    it("restores recording when fn raises, and passes the error on unchanged", function()
        local x = leaf({ 1, 2 })
        local ok, err = pcall(cc.no_grad, function() error("boom") end)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("boom", 1, true))
        assert.is_true(cc.is_grad_enabled())
        assert.is_true((x * 2).requires_grad)
        expect_error(function() cc.no_grad(function() return x + "a" end) end, "add: b: expected a tensor or a number, got \"a\"")
        assert.is_true(cc.is_grad_enabled())
    end)

    it("nests, and enable_grad turns recording back on inside", function()
        local x = leaf({ 1 })
        cc.no_grad(function()
            cc.no_grad(function() end)
            assert.is_false(cc.is_grad_enabled())
            local y = cc.enable_grad(function() return x * 2 end)
            assert.is_true(y.requires_grad)
        end)
        assert.is_true(cc.is_grad_enabled())
    end)

    it("detach shares storage and stops gradients", function()
        local x = leaf({ 1, 2 })
        local d = x:detach()
        assert.is_true(d:same_storage(x))
        assert.is_nil(d.requires_grad)
        local loss = (x * d):sum()   -- d is a constant: d/dx = d
        loss:backward()
        assert.tensor_near(x.grad, { 1, 2 })
    end)

    it("cc.zero_grad walks lists and name tables", function()
        local a, b = leaf({ 1 }), leaf({ 2 })
        local l = (a * b):sum()
        l:backward()
        cc.zero_grad({ w = a, layers = { b } })
        assert.tensor_near(a.grad, { 0 })
        assert.tensor_near(b.grad, { 0 })
    end)
end)

describe("graph errors name the op and the input #cuda", function()
    it("an op with no backward rule fails at backward time", function()
        local x = leaf({ 1, 2 })
        local out = cc.no_grad(function() return x * 1 end)
        cc.autograd.record("my_op", { "input" }, { x }, { out }, nil)
        local loss = out:sum()
        expect_error(function() loss:backward() end, "backward: op 'my_op' has no backward rule for its input 'input' (argument 1)")
    end)

    it("a rule that returns the wrong shape is caught", function()
        local x = leaf({ 1, 2 })
        local out = cc.no_grad(function() return x * 1 end)
        cc.autograd.record("bad_shape", { "x" }, { x }, { out }, function() return T({ 1, 2, 3 }) end)
        expect_error(function() out:sum():backward() end, "backward: op 'bad_shape' returned a gradient of shape (3) for its input 'x' of shape (2)")
    end)

    it("an in-place change of a saved tensor fails at backward time", function()
        local x = leaf({ 1, 2 })
        local y = x:exp()                           -- saves x
        cc.no_grad(function() x:add_(1) end)
        local loss = y:sum()
        expect_error(function() loss:backward() end, "backward: the tensor 'x' that op 'exp' saved for its gradient was modified in place after the op ran")
        local a = leaf({ 1, 2 })
        local s = a:softmax(1)                      -- saves its output
        cc.no_grad(function() s:mul_(2) end)
        expect_error(function() s:sum():backward() end, "the tensor 'out' that op 'softmax' saved")
    end)

    it("in-place ops on tensors that require grad need no_grad", function()
        local x = leaf({ 1, 2 })
        expect_error(function() x:add_(1) end, "add_: self: in-place change of a tensor that requires grad")
        expect_error(function() x:fill_(0) end, "fill_: self: in-place change of a tensor that requires grad")
        local y2 = x * 2
        expect_error(function() y2:mul_(3) end, "mul_: self: in-place change of a tensor that requires grad")
        cc.no_grad(function() x:sub_(T({ 1, 1 })):div_(2) end)
        assert.tensor_near(x, { 0, 0.5 })
    end)

    it("ops that only need shapes save nothing, so later in-place changes are fine", function()
        local x = leaf({ 1, 2 })
        local y = (x + 1) * 2
        cc.no_grad(function() x:fill_(5) end)
        y:sum():backward()
        assert.tensor_near(x.grad, { 2, 2 })
    end)
end)

describe("differentiable causal conv #cuda", function()
    local function R(...) return cc.randn({ ... }, { dtype = "f64", device = TEST_DEVICE }) end
    -- tiny shapes, hundreds of calls: one thread keeps OpenMP barriers out of the run time
    local threads
    setup(function() threads = cc.get_num_threads(); cc.set_num_threads(1) end)
    teardown(function() cc.set_num_threads(threads) end)

    it("gradients for x, weight, bias, initial_states and through final_states (channel-last)", function()
        local B, D, L, W = 2, 3, 6, 4
        local x = R(B, L, D):transpose(2, 3):requires_grad_()
        local w, b, s0 = R(D, W):requires_grad_(), R(D):requires_grad_(), R(B, W - 1, D):transpose(2, 3):requires_grad_()
        local ok, rep = cc.gradcheck(function(xx, ww, bb, ss)
            return cc.causal_conv1d(xx, ww, bb, { activation = "silu", initial_states = ss, return_final_states = true })
        end, { x, w, b, s0 }, { names = { "x", "weight", "bias", "initial_states" } })
        assert(ok, tostring(rep))
    end)

    it("gradients with seq_idx and padding tokens (channel-first, no bias)", function()
        local seq = cc.tensor({ { 0, 0, 1, 1, 1, -1 } }, { dtype = "i32", device = TEST_DEVICE })
        local ok, rep = cc.gradcheck(function(xx, ww)
            return cc.causal_conv1d(xx, ww, nil, { seq_idx = seq })
        end, { R(1, 2, 6):requires_grad_(), R(2, 3):requires_grad_() })
        assert(ok, tostring(rep))
    end)

    it("gradients of the varlen form with initial and final states", function()
        local cu = cc.tensor({ 0, 3, 4, 8 }, { dtype = "i32", device = TEST_DEVICE })
        local ok, rep = cc.gradcheck(function(xx, ww, bb, ss)
            return cc.causal_conv1d_varlen(xx, ww, bb, cu, { activation = "silu", initial_states = ss, return_final_states = true })
        end, { R(8, 2):requires_grad_(), R(2, 3):requires_grad_(), R(2):requires_grad_(), R(3, 2, 2):requires_grad_() })
        assert(ok, tostring(rep))
    end)

    it("a loss of the final states alone still reaches x", function()
        local x, w = R(1, 2, 5):requires_grad_(), R(2, 3)
        local _, final = cc.causal_conv1d(x, w, nil, { return_final_states = true })
        final:sum():backward()
        -- the final states are the last W-1 = 2 inputs: gradient 1 there, 0 elsewhere
        assert.tensor_near(x.grad, { { { 0, 0, 0, 1, 1 }, { 0, 0, 0, 1, 1 } } })
    end)
end)
