-- The CUDA device from Lua: device queries, host <-> device round trips for every dtype and for
-- strided views, conversions and fills on the device against the cpu kernels, random numbers,
-- the caching allocator's bookkeeping, timers. Runs on TEST_DEVICE: "cuda" under `make test-emu`
-- (the CPU emulation) and `make test-cuda`; with "cpu" only the no-device behaviour is checked.
local cc = require "causalconv"

local DTYPES = { "f32", "f64", "f16", "bf16", "i32", "i64" }
local ON_CUDA = TEST_DEVICE ~= "cpu"

-- (a, b, c) cpu f64 tensor with distinct small integer values, negative ones too.
local function iota(a, b, c)
    return cc.arange(a * b * c, { dtype = "f64" }):view(a, b, c) - (a * b * c) / 2
end

describe("cc.cuda device queries #cuda", function()
    it("reports a consistent device", function()
        assert.is_boolean(cc.cuda.is_built())
        assert.is_boolean(cc.cuda.is_emulated())
        if cc.cuda.is_available() then
            assert.is_true(cc.cuda.is_built())
            assert.is_true(cc.cuda.device_count() >= 1)
            local name = cc.cuda.device_name()
            assert.is_string(name)
            assert.is_true(#name > 0)
            if cc.cuda.is_emulated() then assert.equal("causalconv CPU emulation", name) end
            cc.cuda.synchronize()
        else
            assert.equal(0, cc.cuda.device_count())
        end
    end)

    if not ON_CUDA and not cc.cuda.is_available() then
        it("without a device, cuda tensors and device calls raise a clear error", function()
            local want = cc.cuda.is_built() and "no CUDA device is available: cudaGetDeviceCount returned"
                or "built without CUDA"
            expect_error(function() cc.zeros(2, 3, { device = "cuda" }) end, want)
            expect_error(function() cc.ones(2):to("cuda") end, want)
            expect_error(function() cc.cuda.synchronize() end, cc.cuda.is_built() and "no CUDA device" or "built without CUDA")
            expect_error(function() cc.cuda.timer() end, cc.cuda.is_built() and "no CUDA device" or "built without CUDA")
        end)
    else
        pending("without a device, cuda tensors and device calls raise a clear error (a device is available here)")
    end
end)

describe("host <-> device copies #cuda", function()
    it("round-trips every dtype bit for bit", function()
        for _, dt in ipairs(DTYPES) do
            local x = iota(2, 3, 5):to(dt)
            local y = x:to(TEST_DEVICE)
            assert.equal(TEST_DEVICE, y:device():match("^%a+"))
            assert.equal(dt, y:dtype())
            assert.tensor_equal(y:cpu(), x)
        end
    end)

    it("round-trips strided views, both ways", function()
        local x = iota(4, 3, 6)
        local v = x:transpose(1, 3):narrow(2, 2, 2)            -- (6, 2, 4), no unit stride
        assert.tensor_equal(v:to(TEST_DEVICE):cpu(), v:contiguous())
        local d = x:to(TEST_DEVICE)
        local dv = d:transpose(1, 3):narrow(2, 2, 2)           -- the same view on the device
        assert.tensor_equal(dv:cpu(), v:contiguous())
        assert.tensor_equal(dv:contiguous():cpu(), v:contiguous())
        assert.tensor_equal(d:select(2, 3):cpu(), x:select(2, 3))
    end)

    it("copy_ across devices writes into strided destinations", function()
        local src = iota(3, 4, 5)
        local dst = cc.zeros(5, 4, 3, { dtype = "f64", device = TEST_DEVICE }):permute(3, 2, 1)   -- (3, 4, 5) view
        dst:copy_(src:transpose(1, 2):transpose(1, 2))
        assert.tensor_equal(dst:cpu(), src)
        local back = cc.zeros(3, 4, 5, { dtype = "f64" })
        back:copy_(dst)
        assert.tensor_equal(back, src)
        local half = cc.zeros(3, 2, 5, { dtype = "f32", device = TEST_DEVICE })
        half:copy_(src:narrow(2, 2, 2))                        -- converts f64 -> f32 on the way
        assert.tensor_equal(half:cpu(), src:narrow(2, 2, 2):to("f32"))
    end)
end)

describe("conversions and fills on the device #cuda", function()
    it("converts between every dtype pair as the cpu does", function()
        local x = iota(3, 4, 5) * 0.37                         -- fractions: rounding matters
        for _, from in ipairs(DTYPES) do
            local xs = x:to(from)
            local xd = xs:to(TEST_DEVICE):transpose(1, 3)      -- strided source on the device
            for _, to in ipairs(DTYPES) do
                assert.tensor_equal(xd:to(to):cpu(), xs:transpose(1, 3):to(to))
            end
        end
    end)

    it("fill_, zero_ and arange match the cpu, also on strided views", function()
        for _, dt in ipairs(DTYPES) do
            local d = cc.zeros(7, 9, { dtype = dt, device = TEST_DEVICE })
            local c = cc.zeros(7, 9, { dtype = dt })
            d:narrow(2, 2, 5):fill_(-3.25)
            c:narrow(2, 2, 5):fill_(-3.25)
            d:t():narrow(1, 1, 1):fill_(11)
            c:t():narrow(1, 1, 1):fill_(11)
            assert.tensor_equal(d:cpu(), c)
            d:zero_()
            assert.tensor_equal(d:cpu(), cc.zeros(7, 9, { dtype = dt }))
            local n = dt == "f16" and 1000 or 5000
            assert.tensor_equal(cc.arange(n, { dtype = dt, device = TEST_DEVICE }):cpu(), cc.arange(n, { dtype = dt }))
            assert.tensor_equal(cc.arange(3, 40, 1.5, { dtype = dt, device = TEST_DEVICE }):cpu(),
                                cc.arange(3, 40, 1.5, { dtype = dt }))
        end
    end)
end)

describe("random numbers on the device #cuda", function()
    local function stats(t)
        local x = t:to({ dtype = "f64", device = "cpu" }):contiguous()
        local p = cc.ffi.cast("double*", x:data_ptr())
        local n, s, q, lo, hi = x:numel(), 0, 0, math.huge, -math.huge
        for i = 0, n - 1 do
            local v = p[i]
            s, q = s + v, q + v * v
            if v < lo then lo = v end
            if v > hi then hi = v end
        end
        local mean = s / n
        return mean, math.sqrt(q / n - mean * mean), lo, hi
    end

    it("rand is uniform on [0, 1) and randn standard normal, in f32 and f64", function()
        cc.manual_seed(1234)
        for _, dt in ipairs({ "f32", "f64", "bf16" }) do
            local mean, std, lo, hi = stats(cc.rand(100001, { dtype = dt, device = TEST_DEVICE }))
            assert.is_true(math.abs(mean - 0.5) < 0.01, dt .. " rand mean " .. mean)
            assert.is_true(math.abs(std - math.sqrt(1 / 12)) < 0.01, dt .. " rand std " .. std)
            assert.is_true(lo >= 0 and hi <= 1, dt .. " rand range")
            if dt ~= "bf16" then assert.is_true(hi < 1, dt .. " rand reached 1") end
            mean, std = stats(cc.randn(100001, { dtype = dt, device = TEST_DEVICE }))
            assert.is_true(math.abs(mean) < 0.02, dt .. " randn mean " .. mean)
            assert.is_true(math.abs(std - 1) < 0.02, dt .. " randn std " .. std)
        end
    end)

    it("the same seed gives the same values; later draws give new ones", function()
        for _, dt in ipairs({ "f32", "f64" }) do
            cc.manual_seed(77)
            local a = cc.randn(999, { dtype = dt, device = TEST_DEVICE })
            local b = cc.randn(999, { dtype = dt, device = TEST_DEVICE })
            cc.manual_seed(77)
            local a2 = cc.randn(999, { dtype = dt, device = TEST_DEVICE })
            assert.tensor_equal(a2:cpu(), a:cpu())
            -- the second draw shares (almost) no value with the first; overlapping streams would
            -- share hundreds (f32 normals collide by chance about once in 30 draws of this size)
            local seen, shared = {}, 0
            for _, v in ipairs(a:cpu():totable()) do seen[v] = true end
            for _, v in ipairs(b:cpu():totable()) do if seen[v] then shared = shared + 1 end end
            assert.is_true(shared <= 2, dt .. ": " .. shared .. " values shared")
        end
    end)
end)

if ON_CUDA then
    describe("the caching allocator #cuda", function()
        local function stats()
            return cc.cuda.memory_stats()
        end

        it("reuses freed blocks, counts bytes and cudaMalloc calls, empties its cache", function()
            collectgarbage()
            collectgarbage()
            collectgarbage("stop")   -- no other tensor may be freed between the readings
            local ok, err = pcall(function()
                local s0 = stats()
                local x = cc.empty(1000, { device = TEST_DEVICE })   -- 4000 bytes: one 4096-byte block
                local s1 = stats()
                assert.equal(4096, s1.allocated - s0.allocated)
                assert.is_true(s1.reserved >= s1.allocated)
                assert.is_true(s1.peak_allocated >= s1.allocated)
                x = nil
                collectgarbage()
                local s2 = stats()
                assert.equal(s0.allocated, s2.allocated)
                assert.equal(s1.reserved, s2.reserved)               -- kept in the cache
                local y = cc.empty(1020, { device = TEST_DEVICE })   -- same size class
                local s3 = stats()
                assert.equal(s1.num_allocs, s3.num_allocs)           -- no new cudaMalloc
                assert.equal(s1.allocated, s3.allocated)
                y = nil
                cc.cuda.empty_cache()
                local s4 = stats()
                assert.equal(s0.allocated, s4.allocated)
                assert.equal(s4.allocated, s4.reserved)              -- nothing cached
            end)
            collectgarbage("restart")
            assert(ok, err)
        end)
    end)

    describe("timers #cuda", function()
        it("measure a positive time, once", function()
            local t = cc.cuda.timer()
            local x = cc.randn(10000, { device = TEST_DEVICE })
            local _ = x:to("f64")
            local ms = t:stop()
            assert.is_number(ms)
            assert.is_true(ms > 0)
            expect_error(function() t:stop() end, "already stopped")
        end)
    end)
else
    pending("the caching allocator and timers #cuda: need CC_TEST_DEVICE=cuda (the emulation or a GPU)")
end
