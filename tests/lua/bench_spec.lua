-- cc.bench: statistics against hand-computed values, the timing loop's call pattern, the copy
-- baseline's byte count and data; experiments/bench_util.lua: the conv cases' byte counts and
-- the table rows.
local cc = require "causalconv"
local util = require "bench_util"   -- experiments/bench_util.lua (on .busted's lpath)

describe("cc.bench.stats", function()
    it("gives median, quartiles, min, max and the relative IQR", function()
        local s = cc.bench.stats({ 5, 1, 4, 2, 3 })
        assert.are.equal(3, s.median)
        assert.are.equal(1, s.min)
        assert.are.equal(5, s.max)
        assert.are.equal(2, s.p25)
        assert.are.equal(4, s.p75)
        assert.are.equal(3, s.mean)
        assert.are.equal(5, s.n)
        assert.is_true(math.abs(s.spread - 2 / 3) < 1e-12)
    end)

    it("interpolates the median of an even count and takes one sample", function()
        assert.are.equal(2.5, cc.bench.stats({ 4, 1, 3, 2 }).median)
        local one = cc.bench.stats({ 7 })
        assert.are.equal(7, one.median)
        assert.are.equal(0, one.spread)
    end)
end)

describe("cc.bench.gbps", function()
    it("divides bytes by milliseconds into 1e9 bytes per second", function()
        assert.are.equal(2, cc.bench.gbps(4e6, 2))
    end)
end)

describe("cc.bench.compare", function()
    it("warms up, then interleaves the functions sample by sample, alternating the order", function()
        local log = {}
        local function rec(name)
            return function(k) log[#log + 1] = name .. k end
        end
        local st = cc.bench.compare({ a = rec("a"), b = rec("b") },
            { warmup = 2, ["repeat"] = 3, min_sample_ms = 0 })
        -- warm-up (2 calls) and the calibration call per function, then samples a b, b a, a b
        assert.are.same({ "a1", "a2", "a3", "b1", "b2", "b3", "a4", "b4", "b5", "a5", "a6", "b6" }, log)
        assert.are.equal(3, st.a.n)
        assert.are.equal(1, st.a.inner)
        assert.is_true(st.b.median >= 0)
    end)

    it("repeats a short call within one sample to last min_sample_ms", function()
        local st = cc.bench.time(function() end, { warmup = 1, ["repeat"] = 2, min_sample_ms = 0.5 })
        assert.is_true(st.inner > 1)
        assert.is_true(st.median < 0.5)
    end)

    it("takes reps as the sample count ({reps = 4}: repeat without brackets), equal to [\"repeat\"]", function()
        local calls = 0
        local st = cc.bench.time(function() calls = calls + 1 end, { warmup = 0, reps = 4, min_sample_ms = 0 })
        assert.are.equal(4, st.n)
        assert.are.equal(5, calls)   -- the calibration call, then 4 samples of one call
        local both = cc.bench.compare({ function() end }, { reps = 3, ["repeat"] = 3, min_sample_ms = 0 })
        assert.are.equal(3, both[1].n)
        local ok, err = pcall(cc.bench.time, function() end, { reps = 3, ["repeat"] = 5 })
        assert.is_false(ok)
        assert.matches("reps and repeat are the same option", tostring(err), 1, true)
        ok, err = pcall(cc.bench.time, function() end, { reps = 0 })
        assert.is_false(ok)
        assert.matches("reps: expected a positive integer", tostring(err), 1, true)
    end)
end)

describe("cc.bench.copy", function()
    it("moves the bytes it reports and really copies, one set per call", function()
        local fn, bytes, t = cc.bench.copy(4096, { sets = 2 })
        assert.are.equal(4096, bytes)
        assert.are.equal(512, t.src[1]:numel())
        t.dst[1]:fill_(0)
        t.dst[2]:fill_(0)
        fn(1)
        assert.tensor_equal(t.dst[1], t.src[1])
        assert.tensor_equal(t.dst[2], cc.zeros(512))
        fn(2)
        assert.tensor_equal(t.dst[2], t.src[2])
    end)
end)

describe("bench_util.case", function()
    local function small(op, extra)
        local c = { op = op, B = 2, D = 8, L = 16, W = 4, dtype = "f32", layout = "cf", sets = 1 }
        for k, v in pairs(extra or {}) do c[k] = v end
        return c
    end

    it("counts compulsory bytes per op (f32, weight and bias included)", function()
        local w = (8 * 4 + 8) * 4
        assert.are.equal(2 * 2 * 8 * 16 * 4 + w, util.case(small("fwd")).bytes)
        assert.are.equal(3 * 2 * 8 * 16 * 4 + 2 * w, util.case(small("bwd", { layout = "cl" })).bytes)
        assert.are.equal((2 * 2 * 8 * 1 + 2 * 2 * 8 * 3) * 4 + w,
            util.case(small("update", { L = 1 })).bytes)
        assert.are.equal(2 * 64 * 8 * 4 + w, util.case(small("varlen", { B = 3, L = 64 })).bytes)
        assert.are.equal(2 * 2 * 8 * 16 * 2 + w / 2, util.case(small("fwd", { dtype = "bf16" })).bytes)
    end)

    it("builds a call that runs for every op and layout", function()
        for _, c in ipairs({ small("fwd"), small("fwd", { layout = "cl", act = "none" }), small("bwd"),
                             small("bwd", { layout = "cl" }), small("update", { L = 2, state_len = 5 }),
                             small("varlen", { B = 3, L = 64 }) }) do
            local case = util.case(c)
            case.fn(1)
            case.fn(2)
            assert.are.equal(1, case.sets)
        end
    end)

    it("counts element-states for the scan and bytes for the state update, and runs them", function()
        local scan = util.case(small("scan", { N = 4 }))
        assert.are.equal(2 * 8 * 16 * 4, scan.elements)
        -- u, delta, z, out (2x8x16); B, C (2x4x16); A (8x4), D, delta_bias
        assert.are.equal((4 * 2 * 8 * 16 + 2 * 2 * 4 * 16) * 4 + (8 * 4 + 2 * 8) * 4, scan.bytes)
        scan.fn(1)
        util.case(small("scan_bwd", { N = 3, layout = "cl" })).fn(1)
        local upd = util.case(small("state_update", { N = 4 }))
        -- x, dt, z, out (2x8), B, C (2x4), the state read and written (2x8x4), A (8x4), D, dt_bias
        assert.are.equal((4 * 2 * 8 + 2 * 2 * 4) * 4 + 2 * 2 * 8 * 4 * 4 + (8 * 4 + 2 * 8) * 4, upd.bytes)
        upd.fn(1)
    end)

    it("times the scan's compute roof for a count of element-states", function()
        local fn, n = cc.bench.scan_roof(4096)
        assert.are.equal(4096, n)
        fn()
        assert.has_error(function() cc.bench.scan_roof(-1)() end, "selective_scan_roof: elements: expected a count >= 0, got -1")
    end)

    it("times the conv's compute roof (forward any width, backward width 4) and refuses bad arguments", function()
        for _, o in ipairs({ {}, { width = 1 }, { width = 16, activation = "silu" }, { activation = "silu", backward = true },
                             { backward = true } }) do
            local fn, n = cc.bench.conv_roof(3 * 2048, o)
            assert.are.equal(3 * 2048, n)
            fn()
        end
        cc.bench.conv_roof(0)()
        assert.has_error(function() cc.bench.conv_roof(-1)() end, "causal_conv1d_roof: elements: expected a count >= 0, got -1")
        assert.has_error(function() cc.bench.conv_roof(10, { width = 17 })() end, "causal_conv1d_roof: width: expected 1 .. 16, got 17")
        assert.has_error(function() cc.bench.conv_roof(10, { width = 3, backward = true })() end,
            "causal_conv1d_roof: width: the backward roof has width 4 only, got 3")
        assert.has_error(function() cc.bench.conv_roof(10, { widht = 3 }) end)
        assert.has_error(function() cc.bench.conv_roof(10, { activation = "gelu" }) end)
    end)

    it("conv roof: SiLU costs time, the backward more than the forward (the roof runs the arithmetic)", function()
        local function ms(o)
            local fn = cc.bench.conv_roof(2 ^ 21, o)
            return cc.bench.time(fn, { warmup = 1, ["repeat"] = 5 }).median
        end
        local plain, silu, bwd = ms({}), ms({ activation = "silu" }), ms({ activation = "silu", backward = true })
        assert.is_true(silu > 1.5 * plain, string.format("silu %.3f ms vs none %.3f ms", silu, plain))
        assert.is_true(bwd > silu, string.format("bwd %.3f ms vs fwd %.3f ms", bwd, silu))
    end)

    it("rotates enough sets to leave the cache, within 1..64", function()
        assert.are.equal(64, cc.bench.rotation_sets(1024, "cpu"))
        assert.are.equal(1, cc.bench.rotation_sets(2 ^ 40, "cpu"))
        assert.are.equal(4, cc.bench.rotation_sets(64 * 2 ^ 20, "cuda"))
    end)

    it("names cases after their shape", function()
        assert.are.equal("fwd f32 cf B2 D8 L16 W4 silu", util.case_name(
            { op = "fwd", dtype = "f32", layout = "cf", B = 2, D = 8, L = 16, W = 4, act = "silu" }))
        assert.are.equal("update bf16 B2 D8 S1 W4 state3", util.case_name(
            { op = "update", dtype = "bf16", B = 2, D = 8, L = 1, W = 4, act = "none" }))
    end)

    it("rejects an unknown op", function()
        assert.has_error(function() util.case(small("sideways")) end)
    end)
end)

describe("cc.bench output helpers", function()
    it("aligns table rows", function()
        local cols = { { "case", -6 }, { "ms", 7, "%.2f" } }
        assert.are.equal("case         ms", util.row(cols, nil))
        assert.are.equal("abc        1.50", util.row(cols, { "abc", 1.5 }))
    end)

    it("draws no progress bar when the stream is not a terminal", function()
        local path = os.tmpname()
        local f = assert(io.open(path, "w"))
        local bar = cc.bench.progress(2, { stream = f })
        bar:start("one")
        bar:print("row 1")
        bar:step()
        bar:finish()
        f:close()
        f = assert(io.open(path, "r"))
        local text = f:read("*a")
        f:close()
        os.remove(path)
        assert.are.equal("row 1\n", text)
    end)

    it("describes the machine with the library path and thread count", function()
        local m = cc.bench.machine("cpu")
        assert.are.equal(cc.get_num_threads(), m.threads)
        local text = cc.bench.describe(m)
        assert.is_truthy(text:find("# threads: " .. m.threads, 1, true))
        assert.is_truthy(text:find("# library: ", 1, true))
    end)
end)

describe("cc.bench.ratio", function()
    it("takes the median of sample-by-sample ratios", function()
        local a = cc.bench.stats({ 2, 4, 9 })
        local b = cc.bench.stats({ 1, 4, 3 })
        assert.are.equal(2, cc.bench.ratio(a, b).median)   -- ratios 2, 1, 3
    end)
end)

if TEST_DEVICE ~= "cpu" then
    describe("cc.bench on cuda #cuda", function()
        it("times with the device timer (sweep.lua --device cuda)", function()
            local x = cc.randn(64, { device = TEST_DEVICE })
            local s = cc.bench.time(function() x:fill_(1) end, { device = TEST_DEVICE, warmup = 1, ["repeat"] = 2 })
            assert.is_true(s.median > 0)
        end)
    end)
end
