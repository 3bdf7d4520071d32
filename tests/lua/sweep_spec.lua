-- experiments/sweep.lua as a user runs it: shapes from flags (lists, ranges, the cross product
-- replacing the case table), unknown values refused with the valid ones, bad Lua patterns in
-- --case (and gradcheck.lua's --filter) as one line, --plot as SVG or PNG by the extension, the
-- CSV readable by numpy as it is (machine lines in <file>.meta.txt), and the --device cuda error
-- in the REPL banner's words. Tiny shapes: the whole file takes a few seconds.
local cc = require "causalconv"
local util = require "bench_util"   -- experiments/bench_util.lua (on .busted's lpath)

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- output (stdout and stderr), exit status
local function run(script, flags)
    local p = io.popen("luajit " .. script .. " " .. flags .. " 2>&1; echo \"exit status $?\"")
    local out = p:read("*a")
    p:close()
    local status = tonumber(out:match("exit status (%d+)\n$"))
    return (out:gsub("exit status %d+\n$", "")), status
end
local function sweep(flags) return run("experiments/sweep.lua", flags) end

local TINY = "--quick --warmup 1 --repeat 2 --threads 1 --B 1 --D 64 --L 64 "

-- the case names of the result rows, in order
local function rows(out)
    local names = {}
    for line in out:gmatch("[^\n]+") do
        local name = line:match("^((%a[%w_]*) .-)%s%s+%d+%.%d+%s")
        if name then names[#names + 1] = name end
    end
    return names
end

local function read(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s
end

local function has_gnuplot_terminal(name)
    local p = io.popen("gnuplot -e 'set terminal' 2>&1")
    local terms = p and p:read("*a") or ""
    if p then p:close() end
    return terms:match("%f[%w]" .. name .. "%f[%W]") ~= nil
end

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. sh_quote(dir))

describe("experiments/sweep.lua shape flags", function()
    it("runs one tiny case from --B --D --L --op", function()
        local out, status = sweep("--quick --B 1 --D 64 --L 64 --op fwd")
        assert.are.equal(0, status, out)
        assert.are.same({ "fwd f32 cf B1 D64 L64 W4 silu" }, rows(out))
    end)

    it("takes comma lists and ranges, and runs their cross product instead of the case table", function()
        local out, status = sweep(TINY .. "--L 64,128 --W 2-3 --op fwd,bwd --layout cf,cl --dtype f32,bf16")
        assert.are.equal(0, status, out)
        local names = rows(out)
        assert.are.equal(2 * 2 * 2 * 2 * 2, #names, out)
        assert.are.equal("fwd f32 cf B1 D64 L64 W2 silu", names[1])
        local seen = {}
        for _, n in ipairs(names) do seen[n] = true end
        assert.is_true(seen["bwd bf16 cl B1 D64 L128 W3 silu"], out)
        assert.is_nil(out:match("B8 D1024"), "the case table's shapes must not run")
    end)

    it("takes the mixed layouts (x in one, out in the other) for fwd and bwd", function()
        local out, status = sweep(TINY .. "--op fwd,bwd --layout 'cf>cl,cl>cf'")
        assert.are.equal(0, status, out)
        assert.are.same({ "fwd f32 cf>cl B1 D64 L64 W4 silu", "fwd f32 cl>cf B1 D64 L64 W4 silu",
            "bwd f32 cf>cl B1 D64 L64 W4 silu", "bwd f32 cl>cf B1 D64 L64 W4 silu" }, rows(out))
    end)

    it("makes each op's own case once (update, varlen, the scan with --N), --act none", function()
        local out, status = sweep(TINY .. "--op update,varlen,scan,state_update --N 4 --layout cf,cl --act none")
        assert.are.equal(0, status, out)
        assert.are.same({ "update f32 B1 D64 S64 W4 state3", "varlen f32 N1 T64 D64 W4",
            "state_update f32 Bt1 Di64 N4", "scan f32 cf Bt1 Di64 N4 L64", "scan f32 cl Bt1 Di64 N4 L64" }, rows(out))
    end)

    it("refuses unknown values, listing the valid ones", function()
        local cases = {
            { "--dtype f8", "--dtype: unknown value f8 (valid: f32, f64, f16, bf16)" },
            { "--layout cf,rowmajor", "--layout: unknown value rowmajor (valid: cf, cl, cf>cl, cl>cf)" },
            { "--op fwd,conv", "--op: unknown value conv (valid: fwd, bwd, update, varlen, scan, scan_bwd, state_update)" },
            { "--B 1 --act gelu", "--act: unknown value gelu (valid: silu, none)" },
            { "--W 2-x", "--W: expected positive integers or ranges (e.g. 256,1024 or 2-8), got 2-x" },
            { "--W 0", "--W: expected positive integers or ranges" },
            { "--L 8-4", "--L: bad range 8-4" },
            { "--L 1-100000", "--L: range 1-100000 has 100000 values (at most 256)" },
        }
        for _, c in ipairs(cases) do
            local out, status = sweep(c[1])
            assert.are.equal(2, status, c[1] .. ": " .. out)
            assert.matches(c[2], out, 1, true)
            assert.are.equal(1, select(2, out:gsub("\n", "")), c[1] .. ": one line, got " .. out)
        end
    end)

    it("filters the case table with --op / --dtype / --layout when no shape flag is given", function()
        local out, status = sweep("--quick --op update --dtype f64")
        assert.are.equal(2, status, out)
        assert.matches("no case matches the filters", out, 1, true)
    end)
end)

describe("bad Lua patterns", function()
    it("sweep.lua --case: one line naming the pattern, no traceback", function()
        local out, status = sweep("--case '(fwd'")
        assert.are.equal(2, status, out)
        assert.matches('--case: bad Lua pattern "(fwd": unfinished capture', out, 1, true)
        assert.is_nil(out:match("traceback"), out)
        assert.are.equal(1, select(2, out:gsub("\n", "")), out)
    end)

    it("gradcheck.lua --filter: one line naming the pattern, no traceback", function()
        local out, status = run("experiments/gradcheck.lua", "--quick --filter '[conv'")
        assert.are.equal(2, status, out)
        assert.matches("--filter: bad Lua pattern \"[conv\": malformed pattern (missing ']')", out, 1, true)
        assert.is_nil(out:match("traceback"), out)
        assert.are.equal(1, select(2, out:gsub("\n", "")), out)
        -- an error Lua sees only on a subject that matches far enough: found before any case runs
        out, status = run("experiments/gradcheck.lua", "--quick --filter '(conv'")
        assert.are.equal(2, status, out)
        assert.are.equal('--filter: bad Lua pattern "(conv": unfinished capture (escape magic characters ( ) . % + - * ? [ ^ $ with %)\n', out)
    end)

    it("util.check_pattern passes a good pattern through", function()
        assert.are.equal("^fwd %a+", util.check_pattern("case", "^fwd %a+"))
    end)
end)

describe("sweep.lua --plot and --csv", function()
    it("writes SVG for a .svg name and PNG otherwise", function()
        if not has_gnuplot_terminal("svg") then pending("gnuplot with the svg terminal is not installed") return end
        local svg, png = dir .. "/bars.svg", dir .. "/bars.png"
        local out, status = sweep(TINY .. "--W 2,4 --plot " .. sh_quote(svg))
        assert.are.equal(0, status, out)
        local text = assert(read(svg), "no " .. svg .. ":\n" .. out)
        assert.are.equal("<?xml", text:sub(1, 5))
        assert.truthy(text:find("<svg", 1, true))
        assert.truthy(text:find("fwd f32 cf B1 D64 L64 W2 silu", 1, true))
        if has_gnuplot_terminal("png") or has_gnuplot_terminal("pngcairo") then
            out, status = sweep(TINY .. "--plot " .. sh_quote(png))
            assert.are.equal(0, status, out)
            assert.are.equal("\137PNG\r\n\26\n", assert(read(png), out):sub(1, 8))
        end
    end)

    it("draws p25-p75 error bars from the results", function()
        local rows_written
        local real = util.gnuplot
        util.gnuplot = function(path, size, data_rows, script)
            rows_written = data_rows
            return true, table.concat(script("DATA"), "\n")
        end
        local ok, script = util.plot("x.svg", { { name = "a", rate = 2, limit_rate = 4, pct = 50,
            rate_lo = 1.5, rate_hi = 2.5, limit_lo = 3, limit_hi = 5 } }, "t")
        util.gnuplot = real
        assert.is_true(ok)
        assert.are.same({ 0, "a", "2.0000", "4.0000", "50.0", "1.5000", "2.5000", "3.0000", "5.0000" }, rows_written[1])
        assert.matches("set style histogram errorbars", script, 1, true)
        assert.matches("using 3:6:7:xtic(2)", script, 1, true)
        assert.matches("using 4:8:9", script, 1, true)
    end)

    it("writes a CSV of a header row and data rows, the machine lines in <file>.meta.txt", function()
        local csv = dir .. "/sweep.csv"
        local out, status = sweep(TINY .. "--W 2,4 --csv " .. sh_quote(csv))
        assert.are.equal(0, status, out)
        local text = assert(read(csv), out)
        local lines = {}
        for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
        assert.are.equal(3, #lines, text)
        assert.matches("^case,op,B,D,L,W,N,dtype,layout,device,act,ms_median,", lines[1])
        assert.matches("^fwd f32 cf B1 D64 L64 W2 silu,fwd,1,64,64,2,", lines[2])
        assert.is_nil(text:find("#", 1, true), "no comment lines in the CSV")
        local meta = assert(read(csv .. ".meta.txt"), "no sidecar")
        assert.matches("# date:", meta, 1, true)
        assert.matches("# library: ", meta, 1, true)
        assert.matches("# command: luajit experiments/sweep.lua", meta, 1, true)
        assert.matches(csv .. ".meta.txt", out, 1, true)
    end)

    it("numpy.genfromtxt(path, delimiter=\",\", names=True) reads the sweep CSV and the training log", function()
        local py = "/usr/bin/python3"
        if not os.execute(py .. " -c 'import numpy' >/dev/null 2>&1") then
            pending("needs /usr/bin/python3 with numpy (apt-get install python3-numpy)") return
        end
        local csv, log = dir .. "/np.csv", dir .. "/train.csv"
        local out, status = sweep(TINY .. "--W 2,3,4 --csv " .. sh_quote(csv))
        assert.are.equal(0, status, out)
        out, status = run("experiments/mamba_block.lua", "--task induction_heads --vocab 8 --seq_len 16 --d_model 16"
            .. " --n_layer 1 --d_state 4 --batch 8 --val_size 40 --eval_every 5 --warmup 4 --schedule constant"
            .. " --quiet --steps 6 --log " .. sh_quote(log))
        assert.are.equal(0, status, out)
        local p = io.popen(py .. " -c " .. sh_quote([[
import sys, numpy
a = numpy.genfromtxt(sys.argv[1], delimiter=",", names=True)
print("sweep", a.shape[0], a.dtype.names[0], a.dtype.names[11], ",".join("%g" % w for w in a["W"]), int((a["ms_median"] > 0).sum()))
b = numpy.genfromtxt(sys.argv[2], delimiter=",", names=True)
print("log", b.shape[0], ",".join(b.dtype.names), int(b["step"][-1]))
]]) .. " " .. sh_quote(csv) .. " " .. sh_quote(log) .. " 2>&1")
        local got = p:read("*a")
        p:close()
        assert.matches("sweep 3 case ms_median 2,3,4 3\n", got, 1, true)
        assert.matches("log 6 step,loss,train_acc,val_acc,lr,seq_len,tokens_per_s,seconds 6\n", got, 1, true)
    end)
end)

describe("--device cuda without a GPU", function()
    it("says so in the REPL banner's words", function()
        local status_words = util.cuda_status(cc)
        assert.truthy(({ ["cuda: not built"] = true, ["cuda: built, no device"] = true,
            ["cuda: emulated on the cpu"] = true, ["cuda: available"] = true })[status_words], status_words)
        -- the banner (lua/causalconv/repl.lua) has the same words
        local repl = assert(read("lua/causalconv/repl.lua"))
        for _, w in ipairs({ "cuda: not built", "cuda: built, no device", "cuda: emulated on the cpu" }) do
            assert.truthy(repl:find('"' .. w .. '"', 1, true), "repl.lua no longer says " .. w)
        end
        if status_words == "cuda: emulated on the cpu" or status_words == "cuda: available" then
            pending("a CUDA device (real or emulated) is there: no missing-device error to see") return
        end
        local out, status = sweep("--device cuda --quick")
        assert.are.equal(1, status, out)
        assert.matches("--device cuda: no GPU to run on (" .. status_words .. "; library ", out, 1, true)
        out, status = run("experiments/gradcheck.lua", "--device cuda --quick")
        assert.are.equal(2, status, out)
        assert.matches("--device cuda: no GPU to run on (" .. status_words .. "; library ", out, 1, true)
    end)

    it("words each state of the library", function()
        local function fake(built, emulated, available)
            return { cuda = { is_built = function() return built end, is_emulated = function() return emulated end,
                is_available = function() return available end } }
        end
        assert.are.equal("cuda: not built", util.cuda_status(fake(false, false, false)))
        assert.are.equal("cuda: built, no device", util.cuda_status(fake(true, false, false)))
        assert.are.equal("cuda: emulated on the cpu", util.cuda_status(fake(true, true, true)))
        assert.are.equal("cuda: available", util.cuda_status(fake(true, false, true)))
    end)
end)
