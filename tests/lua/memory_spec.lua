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
end)
