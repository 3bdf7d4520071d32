-- The Mamba LM, its optimizer step and its decode on TEST_DEVICE (cuda: the emulation in
-- `make test-emu`, a GPU in `make test-cuda`) against the same model on the cpu.
local cc = require "causalconv"

local DEV = TEST_DEVICE

local function tiny_lm(dtype)
    cc.manual_seed(31)
    local lm = cc.nn.MambaLM { d_model = 8, n_layer = 2, vocab_size = 10, d_state = 4, dtype = dtype }
    cc.no_grad(function()
        for _, p in ipairs(lm:parameters()) do p:add_(cc.randn(p:size(), { dtype = dtype }) * 0.05) end
    end)
    return lm
end

local function copy_to(lm, device)
    local twin = tiny_lm(lm.backbone.embedding.weight:dtype())
    twin:load_state_dict(lm:state_dict())
    return twin:to(device)
end

describe("MambaLM on " .. DEV .. " #cuda", function()
    local tokens = cc.tensor({ { 1, 5, 9, 2, 2, 0, 7, 3 }, { 3, 3, 7, 1, 8, 4, 4, 6 } }, { dtype = "i64" })

    for _, dtype in ipairs({ "f64", "f32" }) do
        local atol = dtype == "f64" and 1e-10 or 1e-4
        it(dtype .. ": forward, every gradient and an AdamW step agree with the cpu", function()
            local cpu = tiny_lm(dtype)
            local dev = copy_to(cpu, DEV)
            assert.equal(DEV:match("^cuda") and "cuda" or "cpu", dev.backbone.embedding.weight:device():match("^%a+"))
            local function step(lm, t)
                local logits = lm(t)
                local loss = cc.cross_entropy(logits:narrow(2, 1, 7):reshape(-1, 16), t:narrow(2, 2, 7):reshape(-1))
                lm:zero_grad()
                loss:backward()
                return logits, loss
            end
            local lc, losc = step(cpu, tokens)
            local ld, losd = step(dev, tokens:to(DEV))
            assert.tensor_near(ld:cpu(), lc, atol, atol)
            assert.near(losc:item(), losd:item(), atol)
            local gd = dev:state_dict()
            for _, np in ipairs(cpu:named_parameters()) do
                assert.tensor_near(gd[np[1]].grad:cpu(), np[2].grad, atol, 1e-3)
            end
            cc.optim.AdamW(cpu:parameters(), { lr = 1e-2 }):step()
            cc.optim.AdamW(dev:parameters(), { lr = 1e-2 }):step()
            for _, np in ipairs(cpu:named_parameters()) do assert.tensor_near(gd[np[1]]:cpu(), np[2], atol, 1e-3) end
        end)
    end

    it("prefill + steps equal the full forward, and greedy generate matches the cpu", function()
        local cpu = tiny_lm("f64")
        local dev = copy_to(cpu, DEV)
        local t = tokens:to(DEV)
        cc.no_grad(function()
            local full = dev(t)
            local caches = dev:allocate_inference_cache(2)
            dev(t:narrow(2, 1, 3), { caches = caches })
            for i = 4, 8 do assert.tensor_near(dev:step(t:select(2, i), caches):cpu(), full:select(2, i):cpu(), 1e-12) end
        end)
        local prompt = tokens:narrow(2, 1, 3)
        assert.tensor_equal(dev:generate(prompt:to(DEV), { max_new_tokens = 6 }):cpu(), cpu:generate(prompt, { max_new_tokens = 6 }))
    end)

    -- Each step's token ids come from max_dim on the device: they are in range by construction,
    -- so the embedding does not copy them to the host to check them (only the prompt is checked).
    it("greedy decode waits for the device once, for the prompt, not at every step", function()
        if DEV == "cpu" then return end
        local dev = copy_to(tiny_lm("f32"), DEV)
        local prompt = tokens:narrow(2, 1, 3):to(DEV)
        local before = cc.cuda.memory_stats().device_to_host_copies
        dev:generate(prompt, { max_new_tokens = 8 })
        assert.are.equal(1, cc.cuda.memory_stats().device_to_host_copies - before)
        -- such indices written in place are checked again: out of range now, refused
        local _, idx = cc.max(cc.randn(4, 10, { device = DEV }), 2)
        local rows = cc.randn(10, 3, { device = DEV })
        local c0 = cc.cuda.memory_stats().device_to_host_copies
        cc.index_select(rows, 1, idx:view(-1))
        assert.are.equal(c0, cc.cuda.memory_stats().device_to_host_copies)
        -- a range as wide as the table's rows is answered; a narrower table is checked on the host
        assert.has_error(function() cc.index_select(cc.randn(5, 3, { device = DEV }), 1, idx:view(-1):fill_(7)) end)
        idx:fill_(11)
        local ok, err = pcall(cc.index_select, rows, 1, idx:view(-1))
        assert.is_false(ok)
        assert.truthy(tostring(err):find("expected values in [0, 10)", 1, true), tostring(err))
    end)
end)
