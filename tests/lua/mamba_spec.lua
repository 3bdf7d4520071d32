-- cc.nn.Mamba and cc.nn.MambaLM: against the PyTorch reference of mamba_ssm
-- (tests/fixtures/mamba, made by tests/fixtures/make_mamba_fixtures.py), f64 gradient checks of
-- every parameter, prefill + step equal to the full forward, causality, batch independence,
-- mamba_ssm's initialisation, checkpoints and generate.
local cc = require "causalconv"

local F64 = { dtype = "f64" }
local DIR = "tests/fixtures/mamba/"

local function max_abs(a, b) return (a:to("f64") - b:to("f64")):abs():max():item() end

local function tiny_block(o)
    local opts = { d_model = 4, d_state = 3, d_conv = 4, expand = 2, dtype = "f64" }
    for k, v in pairs(o or {}) do opts[k] = v end
    return cc.nn.Mamba(opts)
end

-- move every parameter a little so no symmetry of the init (A = -(n+1), D = 1) hides a bug
local function jitter(m, scale)
    cc.no_grad(function()
        for _, p in ipairs(m:parameters()) do p:add_(cc.randn(p:size(), { dtype = p:dtype() }) * (scale or 0.1)) end
    end)
    return m
end

describe("MambaLM against the PyTorch reference (tests/fixtures/mamba)", function()
    local lm, meta = cc.nn.load(DIR .. "lm.safetensors")
    local tokens = cc.load_npy(DIR .. "tokens.npy")
    local manifest = dofile(DIR .. "manifest.lua")[1]

    it("loads mamba_ssm's names and MambaConfig", function()
        assert.truthy(meta.config:find('"d_model": 16', 1, true))
        local names = {}
        for i, np in ipairs(lm:named_parameters()) do names[i] = np[1] end
        assert.same(manifest.params, names)
        assert.equal(11, lm.vocab_size)
        assert.equal(16, lm.padded_vocab)
    end)

    it("gives the reference's logits, loss and every parameter's gradient (tied embedding included)", function()
        local logits = lm(tokens)
        assert.tensor_near(logits, cc.load_npy(DIR .. "logits.npy"), 1e-12, 1e-10)
        local L = tokens:size(2)
        local loss = cc.cross_entropy(logits:narrow(2, 1, L - 1):reshape(-1, 16), tokens:narrow(2, 2, L - 1):reshape(-1))
        assert.near(cc.load_npy(DIR .. "loss.npy"):item(), loss:item(), 1e-12)
        lm:zero_grad()
        loss:backward()
        for _, np in ipairs(lm:named_parameters()) do
            assert.tensor_near(np[2].grad, cc.load_npy(DIR .. manifest.grads[np[1]]), 1e-12, 1e-9)
        end
    end)

    it("prefill + decode steps give the reference's step logits and states", function()
        local P = manifest.prefill_len or 5
        local caches = lm:allocate_inference_cache(tokens:size(1))
        local got = cc.no_grad(function()
            local out = { lm(tokens:narrow(2, 1, P), { caches = caches }):select(2, -1) }
            for t = P + 1, tokens:size(2) do out[#out + 1] = lm:step(tokens:select(2, t), caches) end
            return out
        end)
        local want = cc.load_npy(DIR .. "step_logits.npy")
        for i, g in ipairs(got) do assert.tensor_near(g, want:select(2, i), 1e-12, 1e-10) end
        for i, st in ipairs(manifest.decode_states) do
            assert.tensor_near(caches[i].conv_state, cc.load_npy(DIR .. st.conv_state), 1e-12)
            assert.tensor_near(caches[i].ssm_state, cc.load_npy(DIR .. st.ssm_state), 1e-12)
        end
    end)
end)

describe("cc.nn.Mamba", function()
    it("has mamba_ssm's parameter names and shapes", function()
        local m = cc.nn.Mamba { d_model = 32 }
        local shapes = {}
        for _, np in ipairs(m:named_parameters()) do shapes[np[1]] = np[2]:size() end
        assert.same({
            A_log = { 64, 16 }, D = { 64 }, ["in_proj.weight"] = { 128, 32 }, ["conv1d.weight"] = { 64, 1, 4 },
            ["conv1d.bias"] = { 64 }, ["x_proj.weight"] = { 2 + 32, 64 }, ["dt_proj.weight"] = { 64, 2 },
            ["dt_proj.bias"] = { 64 }, ["out_proj.weight"] = { 32, 64 },
        }, shapes)
    end)

    it("initialises as mamba_ssm (mamba_block.md 1.2)", function()
        cc.manual_seed(7)
        local d, Di, N, K, R = 64, 128, 16, 4, 4
        local m = cc.nn.Mamba { d_model = d, dtype = "f64" }
        local A = (-m.A_log:exp()):totable()
        for c = 1, Di do for n = 1, N do assert.near(-n, A[c][n], 1e-12) end end
        assert.tensor_equal(m.D, cc.ones(Di, F64))
        local dt = m.dt_proj.bias:softplus()
        local lo, hi = -dt:neg():max():item(), dt:max():item()
        assert.is_true(lo >= 1e-3 * (1 - 1e-9) and hi <= 0.1 * (1 + 1e-9), string.format("dt in [%g, %g]", lo, hi))
        -- log-uniform: about half of the channels below the geometric mean 0.01
        local below = 0
        for _, v in ipairs(dt:totable()) do if v < 0.01 then below = below + 1 end end
        assert.is_true(below > Di * 0.3 and below < Di * 0.7)
        local function within(t, bound)
            local mx = t:abs():max():item()
            assert.is_true(mx <= bound and mx > 0.9 * bound, string.format("max %g, bound %g", mx, bound))
        end
        within(m.in_proj.weight, 1 / math.sqrt(d))
        within(m.x_proj.weight, 1 / math.sqrt(Di))
        within(m.out_proj.weight, 1 / math.sqrt(Di))
        within(m.dt_proj.weight, 1 / math.sqrt(R))
        within(m.conv1d.weight, 1 / math.sqrt(K))
        within(m.conv1d.bias, 1 / math.sqrt(K))
        assert.is_nil(m.in_proj.bias)
    end)

    it("MambaLM: embedding N(0, 0.02^2), out_proj / sqrt(n_layer), norms 1, 66,496 parameters at d 64", function()
        cc.manual_seed(8)
        local lm = cc.nn.MambaLM { d_model = 64, n_layer = 2, vocab_size = 16, dtype = "f64" }
        assert.equal(66496, lm:num_parameters())
        local e = lm.backbone.embedding.weight
        assert.near(0.02, (e ^ 2):mean():item() ^ 0.5, 0.002)
        local w = lm.backbone.layers[2].mixer.out_proj.weight
        local bound = 1 / math.sqrt(128) / math.sqrt(2)
        assert.is_true(w:abs():max():item() <= bound and w:abs():max():item() > 0.9 * bound)
        assert.tensor_equal(lm.backbone.norm_f.weight, cc.ones(64, F64))
        assert.equal(24, cc.nn.MambaLM { d_model = 8, n_layer = 1, vocab_size = 17 }.padded_vocab)
    end)

    it("passes a f64 gradient check of the input and every parameter", function()
        cc.manual_seed(11)
        local m = jitter(tiny_block())
        local hs = cc.randn(2, 7, 4, F64):requires_grad_()
        local inputs, names = { hs }, { "hs" }
        for _, np in ipairs(m:named_parameters()) do inputs[#inputs + 1] = np[2]; names[#names + 1] = np[1] end
        local ok, rep = cc.gradcheck(function() return m(hs) end, inputs, { names = names })
        assert.is_true(ok, tostring(rep))
    end)

    it("LTI ablation: gradient check, and its delta, B, C do not depend on the input", function()
        cc.manual_seed(12)
        local m = jitter(tiny_block { lti = true })
        assert.is_nil(m.x_proj)
        local hs = cc.randn(1, 6, 4, F64):requires_grad_()
        local inputs = { hs }
        for _, p in ipairs(m:parameters()) do inputs[#inputs + 1] = p end
        local ok, rep = cc.gradcheck(function() return m(hs) end, inputs)
        assert.is_true(ok, tostring(rep))
    end)

    local function prefill_then_steps(m, hs, P)
        local Bt, L = hs:size(1), hs:size(2)
        local cache = m:allocate_inference_cache(Bt)
        local outs = {}
        if P > 0 then outs[1] = m(hs:narrow(2, 1, P), { cache = cache }) end
        for t = P + 1, L do outs[#outs + 1] = m:step(hs:narrow(2, t, 1), cache) end
        return cc.cat(outs, 2), cache
    end

    for _, lti in ipairs({ false, true }) do
        it("prefill + steps equals the full forward to 1e-12, states included" .. (lti and " (LTI)" or ""), function()
            cc.manual_seed(13)
            local m = jitter(tiny_block { lti = lti })
            local L = 40
            local hs = cc.randn(3, L, 4, F64)
            cc.no_grad(function()
                local full = m(hs)
                local ref_cache = m:allocate_inference_cache(3)
                m(hs, { cache = ref_cache })
                for _, P in ipairs({ 0, 1, 3, 4, 5, 33 }) do
                    local got, cache = prefill_then_steps(m, hs, P)
                    assert.is_true(max_abs(got, full) <= 1e-12, "prefill " .. P .. ": " .. max_abs(got, full))
                    assert.tensor_near(cache.ssm_state, ref_cache.ssm_state, 1e-12)
                    assert.tensor_near(cache.conv_state, ref_cache.conv_state, 1e-12)
                end
                -- the conv state holds the last K pre-conv inputs, zero-padded on the left for short prefills
                local short = m:allocate_inference_cache(3)
                m(hs:narrow(2, 1, 2), { cache = short })
                assert.tensor_equal(short.conv_state:narrow(3, 1, 2), cc.zeros(3, 8, 2, F64))
            end)
        end)
    end

    it("is causal and batch independent", function()
        cc.manual_seed(14)
        local m = jitter(tiny_block())
        local hs = cc.randn(2, 12, 4, F64)
        cc.no_grad(function()
            local base = m(hs)
            local moved = hs:clone()
            moved[{ 1, 8, 2 }] = 5
            local out = m(moved)
            assert.tensor_equal(out:narrow(2, 1, 7), base:narrow(2, 1, 7))
            assert.is_true(max_abs(out:narrow(2, 8, 1), base:narrow(2, 8, 1)) > 1e-6)
            assert.tensor_near(m(hs:narrow(1, 2, 1)), base:narrow(1, 2, 1), 1e-14)
        end)
        local x = hs:clone():requires_grad_()
        m(x):select(2, 5):sum():backward()
        assert.tensor_equal(x.grad:narrow(2, 6, 7), cc.zeros(2, 7, 4, F64))
    end)

    it("checks its inputs", function()
        local m = tiny_block()
        expect_error(function() m(cc.randn(2, 3, 5, F64)) end, "Mamba:forward: hs: expected shape (Bt, L, 4)")
        expect_error(function() m:step(cc.randn(2, 2, 4, F64), m:allocate_inference_cache(2)) end, "Mamba:step: hs: expected shape (Bt, 1, 4)")
        expect_error(function() m:step(cc.randn(3, 1, 4, F64), m:allocate_inference_cache(2)) end, "Mamba:step: cache.conv_state: expected shape (3, 8, 4)")
        expect_error(function() m(cc.randn(2, 3, 4, F64), { cahce = {} }) end, "unknown option")
    end)
end)

describe("cc.nn.MambaLM", function()
    local function tiny_lm(o)
        local opts = { d_model = 8, n_layer = 2, vocab_size = 10, d_state = 4, dtype = "f64" }
        for k, v in pairs(o or {}) do opts[k] = v end
        return jitter(cc.nn.MambaLM(opts), 0.05)
    end

    it("passes a f64 gradient check of every parameter, the tied embedding included", function()
        cc.manual_seed(21)
        local lm = tiny_lm { n_layer = 1, d_model = 4 }
        local tokens = cc.tensor({ { 1, 5, 9, 2, 2, 0 }, { 3, 3, 7, 1, 8, 4 } }, { dtype = "i64" })
        local ok, rep = cc.gradcheck(function() return lm(tokens) end, lm:parameters())
        assert.is_true(ok, tostring(rep))
    end)

    it("steps give the full forward's logits; generate (greedy) is the argmax of each step", function()
        cc.manual_seed(22)
        local lm = tiny_lm()
        local prompt = cc.tensor({ { 1, 2, 3 }, { 9, 9, 0 } }, { dtype = "i64" })
        local out = lm:generate(prompt, { max_new_tokens = 6 })
        assert.same({ 2, 9 }, out:size())
        assert.same(prompt:totable(), out:narrow(2, 1, 3):totable())
        -- teacher-forced check: the full forward on the generated sequence picks the same tokens
        local logits = cc.no_grad(function() return lm(out) end)
        local _, pick = logits:narrow(2, 3, 6):narrow(3, 1, 10):max(3)
        assert.same(out:narrow(2, 4, 6):totable(), pick:totable())
        local caches = lm:allocate_inference_cache(2)
        cc.no_grad(function()
            lm(out:narrow(2, 1, 1), { caches = caches })
            for t = 2, 9 do
                assert.tensor_near(lm:step(out:select(2, t), caches), logits:select(2, t), 1e-12)
            end
        end)
    end)

    it("samples with temperature and top_k, repeatably for a seed, only among the first vocab_size", function()
        cc.manual_seed(23)
        local lm = tiny_lm { vocab_size = 5 }
        local prompt = cc.tensor({ { 1 }, { 2 }, { 3 }, { 4 } }, { dtype = "i64" })
        local a = lm:generate(prompt, { max_new_tokens = 30, temperature = 2, seed = 5 })
        local b = lm:generate(prompt, { max_new_tokens = 30, temperature = 2, seed = 5 })
        assert.tensor_equal(a, b)
        local seen = {}
        for _, row in ipairs(a:totable()) do for _, v in ipairs(row) do assert.is_true(v >= 0 and v < 5); seen[v] = true end end
        local n = 0
        for _ in pairs(seen) do n = n + 1 end
        assert.is_true(n >= 3)
        local top1 = lm:generate(prompt, { max_new_tokens = 5, top_k = 1, seed = 9 })
        assert.tensor_equal(top1, lm:generate(prompt, { max_new_tokens = 5 }))
        expect_error(function() lm:generate(prompt, { max_new_tokens = 2, temperature = 0 }) end, "generate: temperature: expected a number > 0")
        expect_error(function() lm:generate(prompt, { max_new_tokns = 2 }) end, "generate: opts: unknown option")
        expect_error(function() lm:generate(cc.zeros(2, 3), { max_new_tokens = 2 }) end, "generate: tokens: expected an i64 or i32 tensor")
    end)

    it("save -> cc.nn.load is bitwise, with the MambaConfig and extra metadata", function()
        cc.manual_seed(24)
        local lm = tiny_lm { lti = false }
        local path = os.tmpname()
        lm:save(path, { task = '{"name": "x"}' })
        local back, meta = cc.nn.load(path)
        os.remove(path)
        assert.equal('{"name": "x"}', meta.task)
        local cfg = require("cjson").decode(meta.config)
        assert.same({ d_state = 4, d_conv = 4, expand = 2, dt_rank = 1 }, cfg.ssm_cfg)
        assert.is_nil(cfg.norm_epsilon)
        assert.equal(8, cfg.d_model)
        assert.equal(2, cfg.n_layer)
        assert.equal(10, cfg.vocab_size)
        assert.is_true(cfg.tie_embeddings)
        for _, np in ipairs(lm:named_parameters()) do assert.tensor_equal(back:state_dict()[np[1]], np[2]) end
        local tokens = cc.tensor({ { 1, 2, 3, 4 } }, { dtype = "i64" })
        assert.tensor_equal(back(tokens), lm(tokens))
    end)

    it("an LTI model saves and loads too", function()
        local lm = tiny_lm { lti = true }
        local path = os.tmpname()
        lm:save(path)
        local back = cc.nn.load(path)
        os.remove(path)
        assert.is_true(back.backbone.layers[1].mixer.lti)
        local tokens = cc.tensor({ { 1, 2, 3, 4 } }, { dtype = "i64" })
        assert.tensor_equal(back(tokens), lm(tokens))
    end)

    it("nn.load refuses files without a MambaConfig", function()
        local path = os.tmpname()
        cc.save_safetensors({ w = cc.zeros(2) }, path)
        expect_error(function() cc.nn.load(path) end, "expected metadata \"config\"")
        os.remove(path)
    end)
end)
