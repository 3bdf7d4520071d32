-- Differentiable tensor ops: forward values against references computed in Lua from
-- totable() values (broadcasting, scalars on either side, non-contiguous inputs), argument
-- errors, and every backward against central differences (cc.gradcheck, f64).
local cc = require "causalconv"

local function T(values, dtype) return cc.tensor(values, { dtype = dtype or "f64", device = TEST_DEVICE }) end
local function I(values) return cc.tensor(values, { dtype = "i64", device = TEST_DEVICE }) end
local function randn(...) return cc.randn({ ... }, { dtype = "f64", device = TEST_DEVICE }) end

-- nested-table map over one or two same-shape tables
local function map(a, f)
    if type(a) == "number" then return f(a) end
    local r = {}
    for i = 1, #a do r[i] = map(a[i], f) end
    return r
end
local function map2(a, b, f)
    if type(a) == "number" then return f(a, b) end
    local r = {}
    for i = 1, #a do r[i] = map2(a[i], b[i], f) end
    return r
end

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end

describe("elementwise ops #cuda", function()
    local xv = { { -2.5, -0.3, 0.2 }, { 0.7, 1.5, 3.0 } }
    local pv = { { 0.5, 1.25, 2.0 }, { 3.5, 0.1, 7.0 } }

    it("unary ops match the Lua math functions", function()
        local x, p = T(xv), T(pv)
        assert.tensor_near(cc.neg(x), map(xv, function(v) return -v end))
        assert.tensor_near(x:exp(), map(xv, math.exp))
        assert.tensor_near(p:log(), map(pv, math.log))
        assert.tensor_near(p:sqrt(), map(pv, math.sqrt))
        assert.tensor_near(p:rsqrt(), map(pv, function(v) return 1 / math.sqrt(v) end))
        assert.tensor_near(x:abs(), map(xv, math.abs))
        assert.tensor_near(x:sigmoid(), map(xv, sigmoid))
        assert.tensor_near(x:silu(), map(xv, function(v) return v * sigmoid(v) end))
        assert.tensor_near(x:tanh(), map(xv, math.tanh))
        assert.tensor_near(x:relu(), map(xv, function(v) return math.max(v, 0) end))
        assert.tensor_near(x ^ 3, map(xv, function(v) return v ^ 3 end))
        assert.tensor_near(p ^ 0.5, map(pv, math.sqrt))
        assert.tensor_near(2 ^ x, map(xv, function(v) return 2 ^ v end))
    end)

    it("softplus is log(1 + exp(x)) and x itself above the threshold 20", function()
        local v = { -30, -1, 0, 2, 19.5, 20.5, 40 }
        local ref = map(v, function(a) return a > 20 and a or math.log(1 + math.exp(a)) end)
        assert.tensor_near(T(v):softplus(), ref, 1e-12, 1e-12)
    end)

    it("numbers on either side of + - * / and unary minus", function()
        local x = T(xv)
        assert.tensor_near(x + 1, map(xv, function(v) return v + 1 end))
        assert.tensor_near(1 + x, map(xv, function(v) return v + 1 end))
        assert.tensor_near(x - 1, map(xv, function(v) return v - 1 end))
        assert.tensor_near(2 - x, map(xv, function(v) return 2 - v end))
        assert.tensor_near(2 * x, map(xv, function(v) return 2 * v end))
        assert.tensor_near(x * 3, map(xv, function(v) return 3 * v end))
        assert.tensor_near(x / 4, map(xv, function(v) return v / 4 end))
        assert.tensor_near(1 / x, map(xv, function(v) return 1 / v end))
        assert.tensor_near(-x, map(xv, function(v) return -v end))
    end)

    it("tensor + - * / tensor, same shape and non-contiguous", function()
        local a, b = T(xv), T(pv)
        assert.tensor_near(a + b, map2(xv, pv, function(u, v) return u + v end))
        assert.tensor_near(a - b, map2(xv, pv, function(u, v) return u - v end))
        assert.tensor_near(a * b, map2(xv, pv, function(u, v) return u * v end))
        assert.tensor_near(a / b, map2(xv, pv, function(u, v) return u / v end))
        -- transposed operands: (3, 2) views of (2, 3) buffers
        local at, bt = a:t(), b:t()
        assert.is_false(at:is_contiguous())
        local ref = {}
        for i = 1, 3 do ref[i] = {} for j = 1, 2 do ref[i][j] = xv[j][i] * pv[j][i] end end
        assert.tensor_near(at * bt, ref)
        assert.is_true((at * bt):is_contiguous())
    end)

    it("broadcasts like PyTorch: (2,1,3) op (4,1) -> (2,4,3)", function()
        local av = { { { 1, 2, 3 } }, { { 4, 5, 6 } } }
        local bv = { { 10 }, { 20 }, { 30 }, { 40 } }
        local a, b = T(av), T(bv)
        local ref_add, ref_div = {}, {}
        for i = 1, 2 do
            ref_add[i], ref_div[i] = {}, {}
            for j = 1, 4 do
                ref_add[i][j], ref_div[i][j] = {}, {}
                for k = 1, 3 do
                    ref_add[i][j][k] = av[i][1][k] + bv[j][1]
                    ref_div[i][j][k] = bv[j][1] / av[i][1][k]
                end
            end
        end
        assert.tensor_near(a + b, ref_add)
        assert.tensor_near(b / a, ref_div)
        assert.same({ 2, 4, 3 }, (a * b):size())
        assert.same({ 3 }, (T({ 1, 2, 3 }) - T({ 5 })):size())
        assert.same({}, (T(2) * T(3)):size())
    end)

    it("rejects operands that do not broadcast, mixed dtypes and bad arguments", function()
        local a = T({ { 1, 2, 3 } })
        expect_error(function() local _ = a + T({ 1, 2 }) end, "add: shapes (1, 3) and (2) do not broadcast")
        expect_error(function() local _ = a * T({ 1, 2, 3 }, "f32") end, "mul: b: expected dtype f64 (the dtype of a), got a tensor (3) f32")
        expect_error(function() local _ = a - "x" end, "sub: b: expected a tensor or a number, got \"x\"")
        expect_error(function() local _ = a ^ a end, "pow: expected a number exponent")
        expect_error(function() local _ = cc.exp(I({ 1, 2 })) end, "exp: x: expected a float tensor")
    end)
end)

describe("reductions #cuda", function()
    local v = { { { 1, -2, 3, 0.5 }, { 4, 5, -6, 2 }, { 0, 1, 1, 7 } }, { { -1, 2, 2, 2 }, { 3, 3, -3, 9 }, { 8, -8, 0, 1 } } }
    local function ref_sum(dims)   -- dims: set of 1-based dims to reduce, keepdim shape
        local out = {}
        for i = 1, dims[1] and 1 or 2 do
            out[i] = {}
            for j = 1, dims[2] and 1 or 3 do
                out[i][j] = {}
                for k = 1, dims[3] and 1 or 4 do
                    local s = 0
                    for a = 1, 2 do for b = 1, 3 do for c = 1, 4 do
                        if (dims[1] or a == i) and (dims[2] or b == j) and (dims[3] or c == k) then s = s + v[a][b][c] end
                    end end end
                    out[i][j][k] = s
                end
            end
        end
        return out
    end

    it("sum and mean over all, one dim, several dims, keepdim", function()
        local x = T(v)
        local total = ref_sum({ true, true, true })[1][1][1]
        assert.equal(0, x:sum():dim())
        assert.near(total, x:sum():item(), 1e-12)
        assert.near(total / 24, x:mean():item(), 1e-12)
        local s2 = ref_sum({ false, true, false })
        assert.tensor_near(x:sum(2, true), s2)
        assert.tensor_near(x:sum(-2), { { s2[1][1][1], s2[1][1][2], s2[1][1][3], s2[1][1][4] },
                                        { s2[2][1][1], s2[2][1][2], s2[2][1][3], s2[2][1][4] } })
        local s13 = ref_sum({ true, false, true })
        assert.tensor_near(x:sum({ 1, 3 }, true), s13)
        assert.tensor_near(x:mean({ 1, 3 }), { s13[1][1][1] / 8, s13[1][2][1] / 8, s13[1][3][1] / 8 })
        -- a non-contiguous input: the transposed view sums the same numbers
        assert.tensor_near(x:transpose(1, 3):sum({ 1, 3 }), { s13[1][1][1], s13[1][2][1], s13[1][3][1] })
    end)

    it("max along a dim returns values and 0-based i64 indices", function()
        local x = T({ { 1, 7, 3 }, { 9, -1, 9.5 } })
        local values, idx = x:max(2)
        assert.tensor_near(values, { 7, 9.5 })
        assert.equal("i64", idx:dtype())
        assert.same({ 1, 2 }, idx:totable())
        local v1, i1 = x:max(1, true)
        assert.tensor_near(v1, { { 9, 7, 9.5 } })
        assert.same({ { 1, 0, 1 } }, i1:totable())
        local vall, iall = x:max()
        assert.equal(9.5, vall:item())
        assert.equal(5, iall:item())
        local vt, it_ = x:t():max(2)   -- non-contiguous rows
        assert.tensor_near(vt, { 9, 7, 9.5 })
        assert.same({ 1, 0, 1 }, it_:totable())
    end)

    it("softmax and log_softmax over a dim", function()
        local xv = { { 1, 2, 3 }, { -1, 0, 5 } }
        local function ref(dim, log)
            local out = map(xv, function() return 0 end)
            for i = 1, 2 do for j = 1, 3 do
                local s = 0
                if dim == 2 then for k = 1, 3 do s = s + math.exp(xv[i][k]) end
                else for k = 1, 2 do s = s + math.exp(xv[k][j]) end end
                out[i][j] = log and xv[i][j] - math.log(s) or math.exp(xv[i][j]) / s
            end end
            return out
        end
        local x = T(xv)
        assert.tensor_near(x:softmax(-1), ref(2, false))
        assert.tensor_near(x:softmax(1), ref(1, false))
        assert.tensor_near(x:log_softmax(2), ref(2, true))
        assert.tensor_near(x:t():log_softmax(2):t(), ref(1, true))
    end)

    it("rejects bad dims with 1-based messages", function()
        local x = T({ { 1, 2 } })
        expect_error(function() local _ = x:sum(3) end, "sum: dim 3 out of range for a 2-d tensor (expected 1..2 or -2..-1)")
        expect_error(function() local _ = x:softmax(0) end, "softmax: dim 0 out of range for a 2-d tensor (expected 1..2 or -2..-1; dims are 1-based)")
    end)
end)

describe("matmul and linear #cuda", function()
    local function ref_mm(a, b)
        local out = {}
        for i = 1, #a do
            out[i] = {}
            for j = 1, #b[1] do
                local s = 0
                for k = 1, #b do s = s + a[i][k] * b[k][j] end
                out[i][j] = s
            end
        end
        return out
    end
    local av = { { 1, 2, 3 }, { 4, 5, 6 } }
    local bv = { { 1, -1 }, { 0.5, 2 }, { -3, 1 } }

    it("2-d, non-contiguous, 1-d operands", function()
        local a, b = T(av), T(bv)
        assert.tensor_near(a:matmul(b), ref_mm(av, bv))
        assert.tensor_near(b:t():matmul(a:t()), { { ref_mm(av, bv)[1][1], ref_mm(av, bv)[2][1] },
                                                 { ref_mm(av, bv)[1][2], ref_mm(av, bv)[2][2] } })
        local v = T({ 1, 2 })
        assert.tensor_near(v:matmul(a), { 9, 12, 15 })
        assert.tensor_near(a:matmul(T({ 1, 0, -1 })), { -2, -2 })
        assert.same({}, T({ 1, 2 }):matmul(T({ 3, 4 })):size())
    end)

    it("batch dims broadcast: (2,1,2,3) @ (3,3,2) -> (2,3,2,2)", function()
        local a, b = randn(2, 1, 2, 3), randn(3, 3, 2)
        local out = a:matmul(b)
        assert.same({ 2, 3, 2, 2 }, out:size())
        local at, bt = a:totable(), b:totable()
        for i = 1, 2 do for j = 1, 3 do
            assert.tensor_near(out:select(1, i):select(1, j), ref_mm(at[i][1], bt[j]))
        end end
    end)

    it("linear is x @ W^T + b over any leading dims", function()
        local x, w, b = randn(2, 3, 4), randn(5, 4), randn(5)
        local y = cc.linear(x, w, b)
        assert.same({ 2, 3, 5 }, y:size())
        local xt, wt, bt = x:totable(), w:totable(), b:totable()
        local ref = {}
        for i = 1, 2 do
            ref[i] = {}
            for j = 1, 3 do
                ref[i][j] = {}
                for o = 1, 5 do
                    local s = bt[o]
                    for k = 1, 4 do s = s + xt[i][j][k] * wt[o][k] end
                    ref[i][j][o] = s
                end
            end
        end
        assert.tensor_near(y, ref)
    end)

    it("large products split over threads: the naive product's values, bitwise the same for 1 and 2 threads", function()
        if TEST_DEVICE ~= "cpu" then return end
        local before = cc.get_num_threads()
        -- by rows of out (M large), by columns (M small), transposed operands, batched
        local cases = {
            { randn(300, 70), randn(70, 90) }, { randn(5, 600), randn(600, 400) },
            { randn(70, 300):t(), randn(90, 70):t() }, { randn(2, 160, 64), randn(2, 64, 48) },
        }
        for _, dtype in ipairs({ "f64", "f32" }) do
            for _, c in ipairs(cases) do
                local x, y = c[1]:to(dtype), c[2]:to(dtype)
                cc.set_num_threads(1)
                local one = x:matmul(y)
                cc.set_num_threads(2)
                local two = x:matmul(y)
                cc.set_num_threads(before)
                assert.tensor_equal(two, one)
                assert.tensor_near(one, with_kernels(true, function() return c[1]:matmul(c[2]) end), 1e-4, 1e-4)
            end
        end
    end)

    it("rejects mismatched inner sizes", function()
        expect_error(function() local _ = T(av):matmul(T(av)) end, "matmul: sizes do not match: a (2, 3) has K = 3, b (2, 3) has K = 2")
        expect_error(function() local _ = cc.linear(T(av), T(bv)) end, "linear: weight: expected shape (out, 3) to match x (2, 3), got a tensor (3, 2)")
    end)
end)

describe("cat, split, chunk, indexing #cuda", function()
    it("cat along a dim, split by size or sizes, chunk", function()
        local a, b = T({ { 1, 2 }, { 3, 4 } }), T({ { 5 }, { 6 } })
        assert.tensor_near(cc.cat({ a, b }, 2), { { 1, 2, 5 }, { 3, 4, 6 } })
        assert.tensor_near(cc.cat({ a, a:t() }, 1), { { 1, 2 }, { 3, 4 }, { 1, 3 }, { 2, 4 } })
        local x = T({ 1, 2, 3, 4, 5 })
        local p = x:split(2)
        assert.equal(3, #p)
        assert.same({ 5 }, p[3]:totable())
        local q = x:split({ 1, 4 }, 1)
        assert.same({ 2, 3, 4, 5 }, q[2]:totable())
        local c = x:chunk(2)
        assert.same({ 1, 2, 3 }, c[1]:totable())
        assert.same({ 4, 5 }, c[2]:totable())
        expect_error(function() local _ = cc.cat({ a, T({ 1, 2, 3 }) }, 1) end, "cat: tensors[2]: expected shape (*, 2)")
        expect_error(function() local _ = x:split({ 1, 2 }) end, "split: size: expected sizes summing to 5")
    end)

    it("index_select and embedding read 0-based ids", function()
        local w = T({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
        assert.tensor_near(w:index_select(1, I({ 2, 0, 2 })), { { 5, 6 }, { 1, 2 }, { 5, 6 } })
        assert.tensor_near(w:index_select(2, I({ 1 })), { { 2 }, { 4 }, { 6 } })
        local e = cc.embedding(w, I({ { 0, 1 }, { 2, 2 } }))
        assert.same({ 2, 2, 2 }, e:size())
        assert.tensor_near(e, { { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 5, 6 } } })
        expect_error(function() local _ = w:index_select(1, T({ 0 })) end, "index_select: index: expected a 1-D i32 or i64 tensor")
    end)
end)

describe("losses and rms_norm #cuda", function()
    it("cross_entropy is the mean over non-ignored rows of -log_softmax[target]", function()
        local zv = { { 1, 2, 0.5 }, { -1, 0, 3 }, { 2, 2, 2 }, { 0, 1, 0 } }
        local tv = { 2, 0, -100, 1 }
        local s, n = 0, 0
        for i = 1, 4 do
            if tv[i] ~= -100 then
                local lse = 0
                for j = 1, 3 do lse = lse + math.exp(zv[i][j]) end
                s = s - (zv[i][tv[i] + 1] - math.log(lse))
                n = n + 1
            end
        end
        local loss = cc.cross_entropy(T(zv), I(tv))
        assert.equal(0, loss:dim())
        assert.near(s / n, loss:item(), 1e-12)
        local loss2 = cc.cross_entropy(T(zv), I({ 2, 0, 7, 1 }), { ignore_index = 7 })
        assert.near(s / n, loss2:item(), 1e-12)
    end)

    it("mse_loss and rms_norm", function()
        local a, b = T({ 1, 2, 3 }), T({ 1, 0, 6 })
        assert.near((0 + 4 + 9) / 3, cc.mse_loss(a, b):item(), 1e-12)
        local xv = { { 1, 2, 3, 4 }, { -1, 0.5, 0, 2 } }
        local wv = { 1, 0.5, 2, -1 }
        local ref = {}
        for i = 1, 2 do
            local ms = 0
            for j = 1, 4 do ms = ms + xv[i][j] ^ 2 / 4 end
            ref[i] = {}
            for j = 1, 4 do ref[i][j] = xv[i][j] / math.sqrt(ms + 1e-5) * wv[j] end
        end
        assert.tensor_near(cc.rms_norm(T(xv), T(wv), 1e-5), ref)
        assert.tensor_near(T(xv):rms_norm(nil, 1e-5) * T(wv), ref)
    end)
end)

describe("views record gradients", function()
    it("keep their forward behaviour and argument errors", function()
        local x = randn(2, 3):requires_grad_()
        assert.same({ 3, 2 }, x:t():size())
        assert.same({ 6 }, x:view(-1):size())
        assert.is_true(x:contiguous() == x)   -- already contiguous: the tensor itself, no node
        assert.is_true(x:is_leaf())
        expect_error(function() local _ = x:narrow(2, 0, 1) end, "narrow: start 0 out of range")
    end)
end)

-- every backward against central differences, on small f64 inputs (some broadcast, some
-- non-contiguous)
describe("gradients #cuda", function()
    local function leaf(...) return randn(...):requires_grad_() end
    local function strided(a, b) return randn(b, a):t():requires_grad_() end   -- (a, b), non-contiguous
    local function positive(n) return cc.no_grad(function() return randn(n):abs() + 0.5 end):requires_grad_() end

    local cases = {
        { "add/sub broadcast", function(a, b) return a + b - 2 * b end, function() return { leaf(3, 1, 2), leaf(2) } end },
        { "mul/div broadcast", function(a, b) return a * b / (b * b + 1) end, function() return { leaf(2, 3), leaf(3, 1, 3) } end },
        { "scalar forms", function(x) return 1 - x, 3 / (x * x + 1), x / 2, 2 ^ x, x ^ 3 end, function() return { leaf(2, 2) } end },
        { "unary ops", function(x, p)
            return x:exp(), p:log(), p:sqrt(), p:rsqrt(), x:sigmoid(), x:silu(), x:softplus(), x:tanh(), (x * 3):abs() + (x * 3):relu()
        end, function() return { strided(2, 3), positive(3) } end },
        { "sum/mean dims", function(x) return x:sum(), x:sum(2), x:mean({ 1, 3 }, true) end, function() return { leaf(2, 3, 2) } end },
        { "max", function(x) return (x:max(1)), (x:max()) end, function() return { strided(3, 4) } end },
        { "softmax/log_softmax", function(x) return x:softmax(1), x:log_softmax(-1) end, function() return { strided(3, 4) } end },
        { "matmul batched + 1-d", function(a, b, v) return a:matmul(b), b:matmul(v) end,
          function() return { leaf(2, 2, 3), strided(3, 2), leaf(2) } end },
        { "linear", function(x, w, b) return cc.linear(x, w, b) end, function() return { leaf(2, 2, 3), leaf(4, 3), leaf(4) } end },
        { "cat/split/chunk", function(a, b)
            local c = cc.cat({ a, b }, 1)
            local p = c:split(2, 1)
            return p[1] * p[2], c:chunk(2, 2)[2]
        end, function() return { leaf(1, 4), strided(3, 4) } end },
        { "views", function(x)
            return x:transpose(1, 2):reshape(6), x:permute(2, 1):narrow(1, 2, 2), x:select(2, -1), x:unsqueeze(1):expand(2, 2, 3),
                x:view(3, 2):squeeze()
        end, function() return { leaf(2, 3) } end },
        { "index_select/embedding", function(w) return w:index_select(2, I({ 1, 1, 0 })), cc.embedding(w, I({ { 2, 0 } })) end,
          function() return { leaf(3, 2) } end },
        { "cross_entropy/mse/rms_norm", function(z, y, w)
            return cc.cross_entropy(z, I({ 0, 2, -100 })), cc.mse_loss(z, y), cc.rms_norm(z, w, 1e-5)
        end, function() return { strided(3, 3), leaf(3, 3), leaf(3) } end },
    }
    for _, c in ipairs(cases) do
        it(c[1], function()
            local ok, report = cc.gradcheck(c[2], c[3]())
            assert(ok, tostring(report))
        end)
    end
end)
