-- Tensors are owned through ffi.gc: dropping them must give every handle and storage back,
-- and a long loop of small tensors must not grow the process. RSS comes from /proc/self/statm.
local cc = require "causalconv"
local C = cc.C

local PAGE = 4096

local function rss_bytes()
    local f = assert(io.open("/proc/self/statm", "r"))
    local _, resident = f:read("*n", "*n")
    f:close()
    return resident * PAGE
end

local function settle()
    collectgarbage("collect")
    collectgarbage("collect")
end

local function live() return tonumber(C.cc_live_tensors()), tonumber(C.cc_live_storages()) end

describe("memory", function()
    it("a million small tensor handles (tensors and views) leave RSS flat and the live counters at baseline", function()
        local function churn(n)
            for i = 1, n do
                local x = cc.zeros(4)
                local v = x:view(2, 2):t()
                if i % 3 == 0 then x:fill_(i) end
                v = nil
            end
        end
        churn(50000)                       -- warm up: the Lua heap and malloc arenas reach size
        settle()
        local t0, s0 = live()
        local rss0 = rss_bytes()
        churn(300000)                      -- 300k tensors + 600k views, ~1M handles in all
        settle()
        local t1, s1 = live()
        local rss1 = rss_bytes()
        assert.equal(t0, t1)
        assert.equal(s0, s1)
        assert.is_true(rss1 - rss0 < 16 * 2 ^ 20,
            string.format("RSS grew by %.1f MiB (%.1f -> %.1f MiB)", (rss1 - rss0) / 2 ^ 20, rss0 / 2 ^ 20, rss1 / 2 ^ 20))
    end)

    it("dropping views of a big tensor frees its storage exactly once, after the last view", function()
        settle()
        local t0, s0 = live()
        local x = cc.zeros(1000, 1000)
        local v = x:narrow(1, 10, 5):t()
        x = nil
        settle()
        local t1, s1 = live()
        assert.equal(t0 + 1, t1)           -- the view alone
        assert.equal(s0 + 1, s1)           -- keeps the storage alive
        assert.equal(0, v[{ 1, 1 }])
        v = nil
        settle()
        t1, s1 = live()
        assert.equal(t0, t1)
        assert.equal(s0, s1)
    end)

    it("big temporaries are collected without an explicit collectgarbage", function()
        settle()
        local rss0 = rss_bytes()
        for _ = 1, 40 do
            cc.empty(4 * 2 ^ 20):fill_(2)   -- 16 MiB each, 640 MiB in all
        end
        local grown = rss_bytes() - rss0
        assert.is_true(grown < 400 * 2 ^ 20, string.format("RSS grew by %.0f MiB", grown / 2 ^ 20))
        settle()
    end)

    -- (lua/causalconv/tensor.lua: a full collection after every 32 MiB of new tensor data, so a
    -- loop's dropped outputs come back while still in cache)
    it("a loop that drops 8 MiB outputs keeps at most 32 MiB of them alive", function()
        local x, w = cc.randn(1, 1024, 2048), cc.randn(1024, 4)
        settle()
        local _, base = live()
        local most = 0
        for _ = 1, 40 do
            cc.causal_conv1d(x, w, nil)
            local _, s = live()
            most = math.max(most, s - base)
        end
        assert.is_true(most >= 1 and most <= 5, "outputs alive at once: " .. most)
        settle()
    end)

    it("takes the collection step from CC_GC_MB, and refuses a bad one", function()
        local lib = os.getenv("CAUSALCONV_LIB") or "build/libcausalconv.so"
        local function run(value)
            local p = io.popen(string.format("CC_GC_MB='%s' CAUSALCONV_LIB='%s' luajit -e 'package.path = \"./lua/?.lua;./lua/?/init.lua;\" .. package.path; " ..
                                             "local cc = require \"causalconv\"; local x, w = cc.randn(1, 256, 1024), cc.randn(256, 4); " ..
                                             "local base = cc.C.cc_live_storages(); local most = 0; for i = 1, 40 do cc.causal_conv1d(x, w, nil); " ..
                                             "most = math.max(most, tonumber(cc.C.cc_live_storages() - base)) end; print(\"most \" .. most)' 2>&1", value, lib))
            local out = p:read("*a")
            p:close()
            return out
        end
        -- 1 MiB outputs: a collection after every 4 of them at CC_GC_MB=4, none in 40 at 64
        local most4, most64 = tonumber(run("4"):match("most (%d+)")), tonumber(run("64"):match("most (%d+)"))
        assert.is_true(most4 <= 5, "CC_GC_MB=4: " .. tostring(most4))
        assert.is_true(most64 >= 40, "CC_GC_MB=64: " .. tostring(most64))
        local bad = run("lots")
        assert.truthy(bad:find('CC_GC_MB: expected a positive number of MiB, got "lots"', 1, true), bad)
    end)
end)
