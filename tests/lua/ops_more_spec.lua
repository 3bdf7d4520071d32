-- The tensor API a PyTorch or Torch7 user reaches for in the first hour (issue 11): losses that
-- refuse mismatched shapes, the warning for .grad of a non-leaf, argument messages (a table
-- where bias goes, in-place changes), comparisons, where, clamp, min, stack, allclose, gelu,
-- randint, uniform_ / normal_ and layer_norm. Values are checked against plain Lua computed
-- from totable() values, gradients against hand-derived rules and cc.gradcheck (f64).
local cc = require "causalconv"

local function T(values, dtype) return cc.tensor(values, { dtype = dtype or "f64", device = TEST_DEVICE }) end
local function randn(...) return cc.randn({ ... }, { dtype = "f64", device = TEST_DEVICE }) end
local function leaf(values) return T(values):requires_grad_() end

local function map2(a, b, f)
    if type(a) == "number" then return f(a, b) end
    local r = {}
    for i = 1, #a do r[i] = map2(a[i], type(b) == "table" and b[i] or b, f) end
    return r
end
local function map(a, f) return map2(a, nil, function(u) return f(u) end) end

-- erf by its Taylor series (plenty for |z| <= 3 in f64)
local function erf(z)
    local sum, term = 0, z
    for n = 0, 100 do
        sum = sum + term / (2 * n + 1)
        term = -term * z * z / (n + 1)
    end
    return 2 / math.sqrt(math.pi) * sum
end
local function gelu(v) return 0.5 * v * (1 + erf(v / math.sqrt(2))) end

-- collects what is written to io.stderr while fn runs
local function stderr_of(fn)
    local real, buf = io.stderr, {}
    io.stderr = { write = function(_, ...) for _, s in ipairs { ... } do buf[#buf + 1] = s end end }
    local ok, err = pcall(fn)
    io.stderr = real
    if not ok then error(err, 0) end
    return table.concat(buf)
end

describe("losses refuse shapes that differ #cuda", function()
    it("mse_loss (3, 1) vs (3) is an error naming mse_loss, not a broadcast", function()
        local a, b = T({ { 1 }, { 2 }, { 3 } }), T({ 1, 2, 4 })
        expect_error(function() local _ = cc.mse_loss(a, b) end,
            "mse_loss: a (3, 1) and b (3) must have the same shape (mse_loss does not broadcast)")
        expect_error(function() local _ = a:mse_loss(b) end, "mse_loss: a (3, 1) and b (3) must have the same shape")
        expect_error(function() local _ = cc.mse_loss(T({ 1, 2 }), T({ 1 })) end, "mse_loss: a (2) and b (1)")
    end)

    it("mse_loss errors name the loss, never sub", function()
        local a = T({ 1, 2, 3 })
        local e1 = expect_error(function() local _ = cc.mse_loss(a, 0) end, "mse_loss: b: expected a causalconv.Tensor")
        local e2 = expect_error(function() local _ = cc.mse_loss(a, T({ 1, 2, 3 }, "f32")) end, "mse_loss: b: expected dtype f64")
        assert.is_nil(e1:find("sub", 1, true))
        assert.is_nil(e2:find("sub", 1, true))
    end)

    it("mse_loss of equal shapes is the mean squared difference", function()
        local av, bv = { { 1, -2 }, { 0.5, 3 } }, { { 0, 1 }, { 2, 3 } }
        local s = 0
        for i = 1, 2 do for j = 1, 2 do s = s + (av[i][j] - bv[i][j]) ^ 2 end end
        assert.tensor_near(cc.mse_loss(T(av), T(bv)), s / 4)
    end)

    it("cross_entropy refuses a target whose shape is not (N)", function()
        local logits = randn(3, 4)
        expect_error(function() local _ = cc.cross_entropy(logits, T({ { 0 }, { 1 }, { 2 } }, "i64")) end,
            "cross_entropy: target: expected an i32 or i64 tensor of shape (3)")
        expect_error(function() local _ = cc.cross_entropy(logits, T({ 0, 1 }, "i64")) end, "cross_entropy: target:")
    end)
end)

describe(".grad of a non-leaf tensor", function()
    it("warns once per tensor on stderr, naming the variable and the fix", function()
        local w = cc.randn(3, { requires_grad = true }) * 0.1
        local g
        local err = stderr_of(function() g = w.grad end)
        assert.is_nil(g)
        assert.truthy(err:find("w.grad of a non-leaf tensor is not kept: call w:retain_grad() first, or read the leaf's .grad", 1, true), err)
        assert.truthy(err:find("ops_more_spec.lua:%d+: warning: "), err)
        assert.truthy(err:find("output of op 'mul'", 1, true), err)
        assert.equal("", stderr_of(function() g = w.grad end))
        local v = w + 1
        assert.truthy(stderr_of(function() g = v.grad end):find("v.grad of a non-leaf", 1, true))
    end)

    it("stays quiet for leaves, for tensors outside the graph and after retain_grad()", function()
        local x = cc.randn(3, { requires_grad = true })
        local plain = cc.randn(3) * 2
        local nograd = cc.no_grad(function() return x * 2 end)
        local y = x * 3
        y:retain_grad()
        assert.equal("", stderr_of(function()
            assert.is_nil(x.grad)
            assert.is_nil(plain.grad)
            assert.is_nil(nograd.grad)
            assert.is_nil(y.grad)
        end))
        y:sum():backward()
        assert.equal("", stderr_of(function()
            assert.tensor_near(y.grad, { 1, 1, 1 })
            assert.tensor_near(x.grad, { 3, 3, 3 })
        end))
    end)

    it("goes to the real stderr of a script", function()
        local lib = os.getenv("CAUSALCONV_LIB")
        local script = "package.path='./lua/?.lua;./lua/?/init.lua;'..package.path "
            .. "local cc=require'causalconv' local h=cc.randn(2,{requires_grad=true}):exp() local _=h.grad _=h.grad"
        local p = io.popen((lib and ("CAUSALCONV_LIB='" .. lib .. "' ") or "") .. "luajit -e \"" .. script .. "\" 2>&1 >/dev/null")
        local out = p:read("*a")
        p:close()
        local _, count = out:gsub("h.grad of a non%-leaf tensor is not kept", "")
        assert.equal(1, count, out)
        assert.truthy(out:find("output of op 'exp'", 1, true), out)
    end)
end)

describe("argument messages", function()
    it("a table where bias goes says to pass nil and where options go", function()
        local x, w = randn(2, 3, 5), randn(3, 4)
        expect_error(function() local _ = cc.causal_conv1d(x, w, { activation = "silu" }) end,
            "causal_conv1d: bias: expected a causalconv.Tensor or nil, got a table (pass nil for no bias; options go 4th)")
        expect_error(function() local _ = cc.causal_conv1d_update(randn(2, 3), randn(2, 3, 3), w, {}) end,
            "causal_conv1d_update: bias: expected a causalconv.Tensor or nil, got a table (pass nil for no bias; options go 5th)")
        expect_error(function() local _ = cc.linear(randn(2, 4), randn(3, 4), { bias = false }) end,
            "linear: bias: expected a causalconv.Tensor or nil, got a table (pass nil for no bias; linear takes no options)")
        expect_error(function() local _ = cc.causal_conv1d(x, w, "silu") end,
            'causal_conv1d: bias: expected a causalconv.Tensor or nil, got "silu"')
    end)

    it("in-place changes of a tensor that requires grad name the op, then self, then the tensor", function()
        local x = cc.zeros(3, { requires_grad = true })
        local msg = expect_error(function() x:add_(1) end,
            "add_: self: in-place change of a tensor that requires grad (a tensor (3) f32 cpu): do it inside cc.no_grad(...)")
        assert.is_nil(msg:find("grad a tensor", 1, true))
        expect_error(function() x:mul_(2) end, "mul_: self: in-place change of a tensor that requires grad (a tensor (3)")
        expect_error(function() x:fill_(2) end, "fill_: self: in-place change of a tensor that requires grad (a tensor (3)")
        expect_error(function() x:zero_() end, "zero_: self: in-place change of a tensor that requires grad (a tensor (3)")
        expect_error(function() x:copy_(cc.ones(3)) end, "copy_: self: in-place change of a tensor that requires grad")
    end)
end)

describe("comparisons #cuda", function()
    local av = { { 1, 2, 3 }, { 3, 2, 1 } }
    local bv = { 2, 2, 2.5 }
    local REF = {
        gt = function(u, v) return u > v end, lt = function(u, v) return u < v end,
        ge = function(u, v) return u >= v end, le = function(u, v) return u <= v end,
        eq = function(u, v) return u == v end, ne = function(u, v) return u ~= v end,
    }
    local function as01(f) return function(u, v) return f(u, v) and 1 or 0 end end

    it("tensor-tensor with broadcasting and tensor-number on either side give i32 0/1", function()
        for name, f in pairs(REF) do
            local r = cc[name](T(av), T(bv))
            assert.equal("i32", r:dtype())
            assert.equal(TEST_DEVICE, r:device():match("^%a+"))
            assert.same(map2(av, { bv, bv }, as01(f)), r:totable())
            assert.same(map2(av, { bv, bv }, as01(f)), T(av)[name](T(av), T(bv)):totable())
            assert.same(map(av, function(u) return f(u, 2) and 1 or 0 end), T(av)[name](T(av), 2):totable())
            assert.same(map(av, function(u) return f(2, u) and 1 or 0 end), cc[name](2, T(av)):totable())
        end
    end)

    it("compares integer and mixed dtypes exactly, and f32 against a number in f32", function()
        local big = 2 ^ 40 + 1
        local i = T({ big, 5, -7 }, "i64")
        assert.same({ 0, 1, 0 }, i:eq(T({ big - 1, 5, 7 }, "i64")):totable())
        assert.same({ 1, 0, 1 }, i:gt(T({ 5, 5, -8 }, "i32")):totable())
        assert.same({ 1, 0, 1 }, i:ne(T({ 2, 5, 7 }, "f32")):totable())
        assert.same({ 0, 1, 1 }, i:le(5):totable())
        -- 0.1 rounded to f32 equals the f32 element 0.1, as in PyTorch
        assert.same({ 1, 0 }, T({ 0.1, 0.2 }, "f32"):eq(0.1):totable())
        assert.same({ 1, 1 }, T({ 0.5, 2 }, "f16"):ge(T({ 0.5, 1 }, "f16")):totable())
    end)

    it("the cpu reference kernels agree", function()
        for name, f in pairs(REF) do
            local r = with_kernels(true, function() return cc[name](T(av), T(bv)) end)
            assert.same(map2(av, { bv, bv }, as01(f)), r:totable())
        end
    end)

    it("nan compares unequal to everything", function()
        local x = T({ 0 / 0, 1 })
        assert.same({ 0, 0 }, x:eq(0 / 0):totable())
        assert.same({ 1, 1 }, x:ne(0 / 0):totable())
        assert.same({ 0, 1 }, x:ge(1):totable())
        assert.same({ 0, 0 }, x:lt(1):totable())
    end)

    it("is not recorded, and names the op in errors", function()
        local x = leaf({ 1, 2 })
        assert.is_false(x:gt(1).requires_grad == true)
        expect_error(function() local _ = cc.gt(x, "1") end, "gt: b: expected a tensor or a number")
        expect_error(function() local _ = cc.lt(T({ 1, 2 }), T({ 1, 2, 3 })) end, "lt: shapes (2) and (3) do not broadcast")
    end)
end)

describe("where #cuda", function()
    it("picks a where cond is nonzero, else b, with broadcasting and numbers", function()
        local cv = { { 1 }, { 0 } }
        local av, bv = { { 1, 2, 3 }, { 4, 5, 6 } }, { -1, -2, -3 }
        local ref = {}
        for i = 1, 2 do
            ref[i] = {}
            for j = 1, 3 do ref[i][j] = cv[i][1] ~= 0 and av[i][j] or bv[j] end
        end
        assert.tensor_equal(cc.where(T(cv, "i32"), T(av), T(bv)), T(ref))
        assert.tensor_equal(cc.where(T(cv, "i64"), T(av), T(bv)), T(ref))
        assert.tensor_equal(cc.where(T({ 0.5, 0, -2 }), T({ 1, 2, 3 }), 9), T({ 1, 9, 3 }))
        assert.tensor_equal(cc.where(T({ 0, 1 }, "i32"), 7, T({ 1, 2 }, "f32")), T({ 1, 7 }, "f32"))
        assert.tensor_equal(cc.where(T(1, "i32"), T(2), 3), T(2))
    end)

    it("keeps inf and nan of the branch not taken out of the result", function()
        local x = T({ -1, 2, 0, 3 })
        local r = cc.where(x:gt(0), x, -1 / 0)
        assert.tensor_equal(r, T({ -1 / 0, 2, -1 / 0, 3 }))
        assert.tensor_equal(cc.where(x:gt(0), 1 / x:abs():sqrt(), 0), T({ 0, 1 / math.sqrt(2), 0, 1 / math.sqrt(3) }))
        assert.tensor_equal(cc.where(T({ 1, 0 }, "i32"), T({ 5, 6 }), T({ 0 / 0, 0 / 0 })):narrow(1, 1, 1), T({ 5 }))
    end)

    it("sends the gradient to a where cond holds and to b elsewhere (summed over b's broadcast)", function()
        local cond = T({ { 1, 0, 1 }, { 0, 0, 1 } }, "i32")
        local a, b = leaf({ { 1, 2, 3 }, { 4, 5, 6 } }), leaf({ 10 })
        local wv = { { 1, 2, 3 }, { 4, 5, 6 } }
        local y = cc.where(cond, a, b)
        assert.tensor_equal(y, T({ { 1, 10, 3 }, { 10, 10, 6 } }))
        cc.sum(y * T(wv)):backward()
        assert.tensor_near(a.grad, { { 1, 0, 3 }, { 0, 0, 6 } })
        assert.tensor_near(b.grad, { 2 + 4 + 5 })
        local ok, rep = cc.gradcheck(function(u, v) return cc.where(cond, u, v) end, { leaf(randn(2, 3):totable()), leaf(randn(3):totable()) })
        assert.is_true(ok, tostring(rep))
    end)

    it("checks its arguments", function()
        expect_error(function() local _ = cc.where({ 1 }, T({ 1 }), T({ 2 })) end, "where: cond: expected a causalconv.Tensor")
        expect_error(function() local _ = cc.where(T({ 1 }), T({ 1 }), T({ 2 }, "f32")) end, "where: b: expected dtype f64")
        expect_error(function() local _ = cc.where(T({ 1 }), 1, 2) end, "where: expected at least one tensor operand")
        expect_error(function() local _ = cc.where(T({ 1, 0 }), T({ 1, 2, 3 }), 0) end, "where: shapes (2) and (3) do not broadcast")
    end)
end)

describe("clamp #cuda", function()
    local xv = { -2, -0.5, 0, 0.5, 1, 3 }

    it("limits to [min, max], either bound nil, min > max gives max", function()
        local x = T(xv)
        assert.tensor_equal(cc.clamp(x, -0.5, 1), T(map(xv, function(v) return math.min(math.max(v, -0.5), 1) end)))
        assert.tensor_equal(x:clamp(0), T(map(xv, function(v) return math.max(v, 0) end)))
        assert.tensor_equal(x:clamp(nil, 0.5), T(map(xv, function(v) return math.min(v, 0.5) end)))
        assert.tensor_equal(x:clamp(2, 1), T(map(xv, function() return 1 end)))
        local n = T({ 0 / 0, 5 }):clamp(0, 1):totable()
        assert.is_true(n[1] ~= n[1])
        assert.equal(1, n[2])
    end)

    it("has gradient 1 inside (bounds included) and 0 outside", function()
        local x = leaf(xv)
        cc.clamp(x, -0.5, 1):sum():backward()
        assert.tensor_near(x.grad, { 0, 1, 1, 1, 1, 0 })
        local y = leaf(xv)
        cc.sum(y:clamp(nil, 0) * 2):backward()
        assert.tensor_near(y.grad, { 2, 2, 2, 0, 0, 0 })
    end)

    it("needs at least one bound", function()
        expect_error(function() local _ = cc.clamp(T(xv)) end, "clamp: expected a min or a max bound")
        expect_error(function() local _ = cc.clamp(T(xv), "0") end, "clamp: min: expected a number")
    end)
end)

describe("min #cuda", function()
    local xv = { { 3, -1, 4, -1 }, { 5, 9, -2, 6 }, { 0, 0, 7, 1 } }

    it("over everything and over a dim, with 0-based indices of the first minimum", function()
        local x = T(xv)
        local v, i = x:min()
        assert.equal(-2, v:item())
        assert.equal(6, i:item())
        local vals, idx = cc.min(x, 2)
        assert.tensor_equal(vals, T({ -1, -2, 0 }))
        assert.same({ 1, 2, 0 }, idx:totable())
        assert.equal("i64", idx:dtype())
        local kv, ki = x:min(1, true)
        assert.same({ { 0, -1, -2, -1 } }, kv:totable())
        assert.same({ { 2, 0, 1, 0 } }, ki:totable())
    end)

    it("sends the gradient to the position of the minimum", function()
        local x = leaf(xv)
        local vals = x:min(2)
        cc.sum(vals * T({ 1, 2, 3 })):backward()
        assert.tensor_near(x.grad, { { 0, 1, 0, 0 }, { 0, 0, 2, 0 }, { 3, 0, 0, 0 } })
        expect_error(function() local _ = cc.min(T({})) end, "min: x: expected at least one element")
        expect_error(function() local _ = cc.min(T(xv), 3) end, "min: dim 3 out of range")
    end)
end)

describe("stack #cuda", function()
    it("joins along a new dim (1, 2, -1) and splits the gradient back", function()
        local av, bv = { { 1, 2, 3 }, { 4, 5, 6 } }, { { 7, 8, 9 }, { 10, 11, 12 } }
        local a, b = leaf(av), leaf(bv)
        assert.same({ av, bv }, cc.stack({ a, b }):totable())
        local s2 = cc.stack({ a, b }, 2)
        assert.same({ 2, 2, 3 }, s2:size())
        assert.same({ { av[1], bv[1] }, { av[2], bv[2] } }, s2:totable())
        local s3 = cc.stack({ a, b }, -1)
        assert.same({ 2, 3, 2 }, s3:size())
        assert.same({ 3, 9 }, s3:totable()[1][3])
        cc.sum(s2 * T({ 1, 2 }):view(1, 2, 1)):backward()
        assert.tensor_near(a.grad, map(av, function() return 1 end))
        assert.tensor_near(b.grad, map(bv, function() return 2 end))
    end)

    it("needs one shape", function()
        expect_error(function() local _ = cc.stack({ T({ 1, 2 }), T({ 1, 2, 3 }) }) end,
            "stack: tensors[2]: expected shape (2) (the shape of tensors[1])")
        expect_error(function() local _ = cc.stack({}) end, "stack: tensors: expected a non-empty list")
        expect_error(function() local _ = cc.stack({ T({ 1 }) }, 3) end, "stack: dim 3 out of range")
    end)
end)

describe("allclose #cuda", function()
    it("is |a - b| <= atol + rtol * |b| everywhere, as a boolean", function()
        local a = T({ 1, 100, -3 })
        assert.is_true(cc.allclose(a, a))
        assert.is_true(cc.allclose(a, T({ 1 + 5e-6, 100 + 9e-4, -3 })))
        assert.is_false(cc.allclose(a, T({ 1, 100 + 2e-3, -3 })))
        assert.is_true(a:allclose(T({ 1.05, 100, -3 }), 0, 0.06))
        assert.is_false(a:allclose(T({ 1.05, 100, -3 }), 0, 0.04))
        assert.is_true(cc.allclose(T({ { 2 }, { 2 } }), T({ 2, 2, 2 }, "f32")))
        assert.is_true(cc.allclose(T({ 1 / 0, -1 / 0 }), T({ 1 / 0, -1 / 0 })))
        assert.is_false(cc.allclose(T({ 1 / 0 }), T({ -1 / 0 })))
        assert.is_false(cc.allclose(T({ 0 / 0 }), T({ 0 / 0 })))
        assert.is_true(cc.allclose(T({ 3, 4 }, "i64"), T({ 3, 4 })))
        assert.is_true(cc.allclose(T({}), T({})))
    end)
end)

describe("gelu #cuda", function()
    it("is PyTorch's exact erf form, in f64 and f32", function()
        local xv = { -4, -2.5, -1, -0.3, 0, 0.2, 1, 1.7, 3, 4 }
        assert.tensor_near(T(xv):gelu(), map(xv, gelu), 1e-12, 1e-12)
        assert.tensor_near(cc.gelu(T(xv, "f32")), map(xv, gelu))
        assert.tensor_near(with_kernels(true, function() return T(xv):gelu() end), map(xv, gelu), 1e-12, 1e-12)
        assert.tensor_near(with_kernels(true, function() return T(xv, "bf16"):gelu() end), map(xv, gelu))
    end)

    it("has the gradient Phi(x) + x phi(x)", function()
        local xv = { -2, -0.5, 0, 0.7, 2.5 }
        local x = leaf(xv)
        x:gelu():sum():backward()
        local ref = map(xv, function(v)
            return 0.5 * (1 + erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
        end)
        assert.tensor_near(x.grad, ref, 1e-12, 1e-12)
        local ok, rep = cc.gradcheck(function(u) return u:gelu() end, { leaf(randn(3, 4):totable()) })
        assert.is_true(ok, tostring(rep))
    end)
end)

describe("randint #cuda", function()
    local dev = { device = TEST_DEVICE }

    it("is low + floor(u * (high - low)) of the global stream's f64 uniforms, i64 by default", function()
        cc.manual_seed(7)
        local u = cc.rand(4, 5, { dtype = "f64", device = TEST_DEVICE }):totable()
        cc.manual_seed(7)
        local r = cc.randint(-3, 4, 4, 5, dev)
        assert.equal("i64", r:dtype())
        assert.same({ 4, 5 }, r:size())
        assert.same(map(u, function(v) return -3 + math.floor(v * 7) end), r:totable())
        cc.manual_seed(7)
        assert.tensor_equal(cc.randint(-3, 4, { 4, 5 }, dev), r)
    end)

    it("covers [low, high) evenly, in any dtype", function()
        cc.manual_seed(3)
        local v = cc.randint(10, 14, 4000, { device = TEST_DEVICE, dtype = "i32" })
        assert.equal("i32", v:dtype())
        local counts = {}
        for _, k in ipairs(v:totable()) do counts[k] = (counts[k] or 0) + 1 end
        for k = 10, 13 do assert.truthy(counts[k] > 850 and counts[k] < 1150, tostring(counts[k])) end
        for k in pairs(counts) do assert.truthy(k >= 10 and k <= 13) end
        local f = cc.randint(0, 3, 50, { device = TEST_DEVICE, dtype = "f32" })
        assert.equal("f32", f:dtype())
        for _, k in ipairs(f:totable()) do assert.truthy(k == 0 or k == 1 or k == 2) end
    end)

    it("checks its bounds", function()
        expect_error(function() local _ = cc.randint(3, 3, 2) end, "randint: expected low < high, got low 3, high 3")
        expect_error(function() local _ = cc.randint(0.5, 3, 2) end, "randint: low: expected an integer")
        expect_error(function() local _ = cc.randint(0, 2 ^ 40, 2, { dtype = "i32" }) end, "does not fit i32")
        expect_error(function() local _ = cc.randint(0, 2, 2, { dtype = "i64", requires_grad = true }) end,
            "randint: requires_grad: only float tensors")
    end)
end)

describe("uniform_ and normal_ methods #cuda", function()
    it("are cc.nn.init's initialisers: same draws, in place, returning self", function()
        local x = cc.zeros(200, 50, { device = TEST_DEVICE })
        cc.manual_seed(11)
        assert.equal(x, x:uniform_(-2, 3))
        local ref = cc.zeros(200, 50, { device = TEST_DEVICE })
        cc.manual_seed(11)
        cc.nn.init.uniform_(ref, -2, 3)
        assert.tensor_equal(x, ref)
        local v = x:totable()
        local lo, hi, sum = math.huge, -math.huge, 0
        for i = 1, 200 do for j = 1, 50 do
            lo, hi, sum = math.min(lo, v[i][j]), math.max(hi, v[i][j]), sum + v[i][j]
        end end
        assert.truthy(lo >= -2 and hi < 3)
        assert.truthy(math.abs(sum / 10000 - 0.5) < 0.05)
        x:normal_(5, 0.5)
        v = x:totable()
        local s1, s2 = 0, 0
        for i = 1, 200 do for j = 1, 50 do s1 = s1 + v[i][j]; s2 = s2 + v[i][j] ^ 2 end end
        local mean = s1 / 10000
        assert.truthy(math.abs(mean - 5) < 0.03, tostring(mean))
        assert.truthy(math.abs(math.sqrt(s2 / 10000 - mean ^ 2) - 0.5) < 0.03)
        local w = cc.zeros(3, { requires_grad = true, device = TEST_DEVICE }):normal_()
        assert.is_true(w.requires_grad)
        expect_error(function() local _ = x:uniform_(3, 2) end, "uniform_: expected a <= b")
    end)
end)
describe("layer_norm #cuda", function()
    local xv = { { 1, 2, 4, 7 }, { -1, 0, 0.5, 3 }, { 2, 2, 2, 2.5 } }
    local wv, bv = { 1, 0.5, -2, 3 }, { 0, 1, 0.25, -1 }

    local function naive(eps, w, b)
        local out = {}
        for i, row in ipairs(xv) do
            local m, v = 0, 0
            for _, u in ipairs(row) do m = m + u / #row end
            for _, u in ipairs(row) do v = v + (u - m) ^ 2 / #row end
            out[i] = {}
            for j, u in ipairs(row) do
                out[i][j] = (u - m) / math.sqrt(v + eps) * (w and w[j] or 1) + (b and b[j] or 0)
            end
        end
        return out
    end

    it("normalizes the last dim with the biased variance, then weight and bias", function()
        assert.tensor_near(cc.layer_norm(T(xv), 4), naive(1e-5), 1e-12, 1e-10)
        assert.tensor_near(T(xv):layer_norm({ 4 }, T(wv), T(bv), 1e-3), naive(1e-3, wv, bv), 1e-12, 1e-10)
        assert.tensor_near(cc.layer_norm(T(xv, "f32"), 4, T(wv, "f32"), nil), naive(1e-5, wv), 1e-4, 1e-4)
        local x3 = T({ xv, xv })
        assert.tensor_near(cc.layer_norm(x3, 4, nil, T(bv)), { naive(1e-5, nil, bv), naive(1e-5, nil, bv) }, 1e-12, 1e-10)
    end)

    it("has gradients for x, weight and bias", function()
        local ok, rep = cc.gradcheck(function(x, w, b) return cc.layer_norm(x, 4, w, b) end,
            { leaf(randn(3, 4):totable()), leaf(wv), leaf(bv) })
        assert.is_true(ok, tostring(rep))
    end)

    it("checks normalized_shape, weight and bias", function()
        expect_error(function() local _ = cc.layer_norm(T(xv), 3) end,
            "layer_norm: normalized_shape: expected 4 or {4} (x's last dim; only the last dim is normalized), got 3")
        expect_error(function() local _ = cc.layer_norm(T(xv), { 3, 4 }) end, "got (3, 4)")
        expect_error(function() local _ = cc.layer_norm(T(xv), 4, T({ 1, 2 })) end, "layer_norm: weight: expected shape (4)")
        expect_error(function() local _ = cc.layer_norm(T(xv), 4, nil, { eps = 1 }) end,
            "layer_norm: bias: expected a causalconv.Tensor or nil, got a table (pass nil for no bias; eps goes 5th)")
    end)
end)
