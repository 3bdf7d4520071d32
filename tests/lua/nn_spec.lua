-- cc.nn modules: the Module API (names, order, state_dict, load_state_dict, to, train/eval,
-- printing), the layers against naive formulas, and the initialisers' ranges.
local cc = require "causalconv"

local F64 = { dtype = "f64" }

local function max_abs(a, b) return (a:to("f64") - b:to("f64")):abs():max():item() end

describe("cc.nn.Module", function()
    local Two = cc.nn.Module:extend("Two")
    function Two:init(o)
        self:add_module("first", cc.nn.Linear { in_features = 3, out_features = 4, dtype = o and o.dtype })
        self:register_parameter("scale", cc.ones(4, { dtype = o and o.dtype }))
        self:add_module("second", cc.nn.Linear { in_features = 4, out_features = 2, bias = false, dtype = o and o.dtype })
    end
    function Two:forward(x) return self.second(self.first(x) * self.scale) end

    it("names parameters in PyTorch's order: own first, then children in registration order", function()
        local m = Two()
        local names = {}
        for i, np in ipairs(m:named_parameters()) do names[i] = np[1] end
        assert.same({ "scale", "first.weight", "first.bias", "second.weight" }, names)
        assert.equal(4 + 12 + 4 + 8, m:num_parameters())
        local sd = m:state_dict()
        assert.equal(m.first.weight, sd["first.weight"])   -- the tensor itself: .grad is reachable
        assert.is_true(m.scale.requires_grad)
    end)

    it("is callable and trains: gradients reach every parameter", function()
        local m = Two()
        local y = m(cc.randn(5, 3))
        assert.same({ 5, 2 }, y:size())
        y:sum():backward()
        for _, np in ipairs(m:named_parameters()) do assert.is_truthy(np[2].grad, np[1]) end
        m:zero_grad()
        for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
    end)

    it("load_state_dict copies values, and on any problem names every one and changes nothing", function()
        local a, b = Two(), Two()
        b:load_state_dict(a:state_dict())
        for _, np in ipairs(a:named_parameters()) do assert.tensor_equal(b:state_dict()[np[1]], np[2]) end
        local before = b.first.weight:clone()
        local bad = {}
        for k, v in pairs(a:state_dict()) do bad[k] = v end
        bad["first.bias"] = nil
        bad["first.weight"] = cc.zeros(4, 4)
        bad["second.weight"] = cc.zeros(2, 4, F64)
        bad["extra"] = cc.zeros(1)
        local msg = expect_error(function() b:load_state_dict(bad) end, "load_state_dict: 4 problems, nothing was loaded")
        assert.truthy(msg:find("missing first.bias", 1, true))
        assert.truthy(msg:find("first.weight: expected shape (4, 3), got (4, 4)", 1, true))
        assert.truthy(msg:find("second.weight: expected dtype f32, got f64", 1, true))
        assert.truthy(msg:find("unexpected extra", 1, true))
        assert.tensor_equal(b.first.weight, before)
        bad["extra"], bad["second.weight"], bad["first.weight"] = nil, a.second.weight, a.first.weight
        b:load_state_dict(bad, { strict = false })
        assert.tensor_equal(b.first.weight, a.first.weight)
        expect_error(function() b:load_state_dict(bad, { strickt = true }) end, "unknown option")
    end)

    it("to() converts in place: the same parameter tables, new dtype", function()
        local m = Two()
        local w = m.first.weight
        local v = w:to("f64")
        m:to("f64")
        assert.equal(w, m.first.weight)
        assert.equal("f64", w:dtype())
        assert.tensor_equal(w, v)
        assert.equal("f64", m(cc.randn(2, 3, F64)):dtype())
    end)

    it("train() and eval() set training on the whole tree; tostring shows the tree with counts", function()
        local m = Two()
        m:eval()
        assert.is_false(m.first.training)
        m:train()
        assert.is_true(m.second.training)
        local s = tostring(m)
        assert.truthy(s:find("Two  (28 parameters)", 1, true))
        assert.truthy(s:find("  first: Linear(3 -> 4)  (16 parameters)", 1, true))
        assert.truthy(s:find("  second: Linear(4 -> 2, no bias)  (8 parameters)", 1, true))
    end)

    it("rejects unknown and missing options with the module's name", function()
        expect_error(function() cc.nn.Linear { in_features = 3, out_featurs = 2 } end, "Linear: opts: unknown option")
        expect_error(function() cc.nn.Linear { in_features = 3 } end, "Linear: out_features: expected a positive integer, got nil")
        expect_error(function() cc.nn.RMSNorm() end, "RMSNorm: expected a table of options")
        expect_error(function() cc.nn.Mamba { d_model = 8, d_stat = 4 } end, "Mamba: opts: unknown option")
        expect_error(function() cc.nn.Mamba { d_model = 8, dtype = "f16" } end, "Mamba: dtype: expected f32 or f64")
    end)
end)

describe("cc.nn layers against naive formulas", function()
    it("Linear: x W^T + b", function()
        local m = cc.nn.Linear { in_features = 3, out_features = 2, dtype = "f64" }
        local x = cc.randn(4, 3, F64)
        local W, b, X = m.weight:totable(), m.bias:totable(), x:totable()
        local want = {}
        for i = 1, 4 do
            want[i] = {}
            for o = 1, 2 do
                local s = b[o]
                for k = 1, 3 do s = s + X[i][k] * W[o][k] end
                want[i][o] = s
            end
        end
        assert.tensor_near(m(x), want, 1e-12)
    end)

    it("RMSNorm: x / sqrt(mean(x^2) + 1e-5) * w", function()
        local m = cc.nn.RMSNorm { dim = 5, dtype = "f64" }
        cc.no_grad(function() m.weight:copy_(cc.tensor({ 1, 2, 3, 4, 5 }, F64)) end)
        local x = cc.randn(2, 5, F64)
        local X = x:totable()
        local want = {}
        for i = 1, 2 do
            local ms = 0
            for j = 1, 5 do ms = ms + X[i][j] ^ 2 / 5 end
            want[i] = {}
            for j = 1, 5 do want[i][j] = X[i][j] / math.sqrt(ms + 1e-5) * j end
        end
        assert.tensor_near(m(x), want, 1e-12)
    end)

    it("Embedding picks rows (0-based ids)", function()
        local m = cc.nn.Embedding { num_embeddings = 4, embedding_dim = 3, dtype = "f64" }
        local out = m(cc.tensor({ { 3, 0 } }, { dtype = "i64" }))
        assert.tensor_equal(out:select(2, 1):squeeze(1), m.weight:select(1, 4))
        assert.tensor_equal(out:select(2, 2):squeeze(1), m.weight:select(1, 1))
    end)

    it("CausalConv1d: weight (D, 1, W) as PyTorch stores it, w[:, 0, W-1] on the current sample", function()
        local m = cc.nn.CausalConv1d { channels = 2, kernel_size = 3, dtype = "f64" }
        local x = cc.randn(1, 2, 6, F64)
        local W, b, X = m.weight:totable(), m.bias:totable(), x:totable()[1]
        local want = { {} }
        for c = 1, 2 do
            want[1][c] = {}
            for t = 1, 6 do
                local s = b[c]
                for k = 1, 3 do
                    local src = t - 3 + k
                    if src >= 1 then s = s + W[c][1][k] * X[c][src] end
                end
                want[1][c][t] = s
            end
        end
        assert.same({ 2, 1, 3 }, m.weight:size())
        assert.tensor_near(m(x), want, 1e-12)
    end)
end)

describe("cc.nn.init", function()
    it("kaiming_uniform_ with a = sqrt(5) gives U(+-1/sqrt(fan_in)); normal_, uniform_, constant_", function()
        cc.manual_seed(3)
        local w = cc.empty(200, 50)
        cc.nn.init.kaiming_uniform_(w, { a = math.sqrt(5) })
        local bound = 1 / math.sqrt(50)
        assert.is_true(w:abs():max():item() <= bound)
        assert.is_true(w:abs():max():item() > 0.95 * bound)
        assert.near(0, w:mean():item(), 0.01)
        local n = cc.nn.init.normal_(cc.empty(100000, F64), 1, 0.02)
        assert.near(1, n:mean():item(), 1e-3)
        assert.near(0.02, ((n - 1) ^ 2):mean():item() ^ 0.5, 1e-3)
        local u = cc.nn.init.uniform_(cc.empty(1000), -2, -1)
        assert.is_true(u:max():item() < -1 and u:max():item() > -1.01)
        assert.tensor_equal(cc.nn.init.constant_(cc.empty(3), 7), cc.full({ 3 }, 7))
        expect_error(function() cc.nn.init.kaiming_uniform_(cc.empty(3)) end, "kaiming_uniform_: t: expected at least 2 dims")
        expect_error(function() cc.nn.init.uniform_(cc.empty(3), 2, 1) end, "uniform_: expected a <= b")
    end)
end)
