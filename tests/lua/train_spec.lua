-- Training sanity (mamba_block.md §5.3): a known causal FIR filter recovered by one CausalConv1d,
-- an LTI SSM teacher fitted by a student scan, one LM batch overfitted; and the synthetic task
-- generators (experiments/tasks.lua) checked against the rules they implement.
local cc = require "causalconv"
local tasks = require "tasks"

local F64 = { dtype = "f64" }

describe("training sanity", function()
    it("recovers a known causal FIR filter with one CausalConv1d (orientation and gradients)", function()
        cc.manual_seed(1)
        local h = { { 0.5, -0.3, 0.2, 0.1 }, { -0.2, 0.4, 0.0, 0.3 } }
        local beta = { 0.25, -0.5 }
        local x = cc.randn(8, 2, 64, F64)
        local X = x:totable()
        local y = {}
        for b = 1, 8 do
            y[b] = {}
            for c = 1, 2 do
                y[b][c] = {}
                for t = 1, 64 do
                    local s = beta[c]
                    for j = 0, 3 do if t - j >= 1 then s = s + h[c][j + 1] * X[b][c][t - j] end end
                    y[b][c][t] = s
                end
            end
        end
        y = cc.tensor(y, F64)
        local conv = cc.nn.CausalConv1d { channels = 2, kernel_size = 4, dtype = "f64" }
        local opt = cc.optim.Adam(conv:parameters(), { lr = 1e-2 })
        local loss
        for _ = 1, 400 do
            loss = cc.mse_loss(conv(x), y)
            opt:zero_grad()
            loss:backward()
            opt:step()
        end
        assert.is_true(loss:item() < 1e-6, "loss " .. loss:item())
        local w = conv.weight:totable()
        for c = 1, 2 do
            for j = 0, 3 do assert.near(h[c][j + 1], w[c][1][4 - j], 1e-3) end   -- w[c, 0, K-1-j] = h_j
        end
        assert.tensor_near(conv.bias, beta, 1e-3)
    end)

    it("fits an LTI SSM teacher: A_log, delta_bias, constant B, C and D of a student scan", function()
        cc.manual_seed(2)
        local Bt, Di, N, L = 4, 3, 4, 48
        local u = cc.randn(Bt, Di, L, F64)
        local zeros = cc.zeros(Bt, Di, L, F64)
        local function run(p)
            return cc.selective_scan(u, zeros, -p.A_log:exp(), p.B, p.C, { D = p.D, delta_bias = p.delta_bias, delta_softplus = true })
        end
        local teacher = {
            A_log = cc.tensor({ { 0, 0.5, 1, 1.5 }, { 0.2, 0.4, 0.6, 0.8 }, { -0.5, 0, 0.5, 1 } }, F64),
            B = cc.tensor({ { 1, 0.5, -0.5, 0.2 }, { 0.3, 1, 0.1, -0.4 }, { -1, 0.2, 0.8, 0.5 } }, F64),
            C = cc.tensor({ { 0.4, -0.6, 1, 0.3 }, { 1, 0.2, -0.3, 0.5 }, { 0.1, 0.9, 0.4, -0.7 } }, F64),
            D = cc.tensor({ 0.5, -0.2, 1 }, F64),
            delta_bias = cc.tensor({ -1, 0, 0.5 }, F64),
        }
        local target = run(teacher)
        local student = {
            A_log = cc.zeros(Di, N, F64):requires_grad_(), B = (cc.randn(Di, N, F64) * 0.5):requires_grad_(),
            C = (cc.randn(Di, N, F64) * 0.5):requires_grad_(), D = cc.zeros(Di, F64):requires_grad_(),
            delta_bias = cc.zeros(Di, F64):requires_grad_(),
        }
        local params = { student.A_log, student.B, student.C, student.D, student.delta_bias }
        local opt = cc.optim.Adam(params, { lr = 2e-2 })
        local first, loss
        for i = 1, 600 do
            loss = cc.mse_loss(run(student), target)
            if i == 1 then first = loss:item() end
            opt:zero_grad()
            loss:backward()
            opt:step()
        end
        assert.is_true(loss:item() < first * 1e-3, string.format("loss %g -> %g", first, loss:item()))
    end)

    it("overfits one LM batch of selective copying", function()
        cc.manual_seed(3)
        local task = tasks.new("selective_copying", { vocab = 8, n_data = 3, n_noise = 6 })
        local b = task:batch(cc.Generator(4), 8)
        local lm = cc.nn.MambaLM { d_model = 16, n_layer = 1, vocab_size = 8, d_state = 4 }
        local opt = cc.optim.AdamW(lm:parameters(), { lr = 1e-2, weight_decay = 0 })
        local loss
        for _ = 1, 150 do
            local logits = lm(b.tokens):narrow(2, b.first, b.count):narrow(3, 1, 8):reshape(-1, 8)
            loss = cc.cross_entropy(logits, b.targets:reshape(-1))
            opt:zero_grad()
            loss:backward()
            opt:step()
        end
        assert.is_true(loss:item() < 0.05, "loss " .. loss:item())
    end)
end)

describe("synthetic tasks (experiments/tasks.lua)", function()
    it("selective copying: noise 0, data in 1..V-2 in order at distinct early positions, markers last", function()
        local task = tasks.new("selective_copying", { vocab = 10, n_data = 4, n_noise = 12 })
        assert.equal(20, task.seq_len)
        local b = task:batch(cc.Generator(1), 50)
        assert.same({ 50, 20 }, b.tokens:size())
        assert.equal(17, b.first)
        assert.equal(4, b.count)
        local pos_hist = {}
        for i, row in ipairs(b.tokens:totable()) do
            local data = {}
            for t = 1, 16 do
                if row[t] ~= 0 then
                    assert.is_true(row[t] >= 1 and row[t] <= 8)
                    data[#data + 1] = row[t]
                    pos_hist[t] = (pos_hist[t] or 0) + 1
                end
            end
            for t = 17, 20 do assert.equal(9, row[t]) end
            assert.same(b.targets:totable()[i], data)
        end
        assert.is_true(pos_hist[1] ~= nil and pos_hist[16] ~= nil)   -- every early position is used
        assert.same(b.tokens:totable(), task:batch(cc.Generator(1), 50).tokens:totable())
        assert.equal(6 + 8, task:batch(cc.Generator(1), 2, { n_noise = 6 }).tokens:size(2))
    end)

    it("induction heads: symbols 1..V-2, the marker at p and at the end, target x[p+1]", function()
        local task = tasks.new("induction_heads", { vocab = 8, seq_len = 16 })
        local b = task:batch(cc.Generator(2), 100)
        assert.equal(16, b.first)
        for i, row in ipairs(b.tokens:totable()) do
            local marks = {}
            for t = 1, 16 do
                if row[t] == 7 then marks[#marks + 1] = t else assert.is_true(row[t] >= 1 and row[t] <= 6) end
            end
            assert.equal(2, #marks)
            assert.equal(16, marks[2])
            assert.is_true(marks[1] <= 14)
            assert.equal(row[marks[1] + 1], b.targets:totable()[i][1])
        end
        assert.equal(64, task:batch(cc.Generator(2), 1, { seq_len = 64 }).tokens:size(2))
    end)
end)
