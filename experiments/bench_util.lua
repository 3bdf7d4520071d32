-- Script plumbing shared by experiments/sweep.lua and experiments/bench_torch.lua: command-line
-- options, thread pinning (must run before the library loads), device selection, the conv cases
-- the sweep times (tensors, call and compulsory bytes of each), table rows and the gnuplot chart.
-- The timing primitives themselves are the library's (cc.bench). This file loads without the
-- library; the functions that need it require it when called.
--   util.case(c)                      tensors and a call for one conv or scan case (see sweep.lua):
--                                     {fn = function(k), bytes = or elements =, sets =}
--   util.case_name(c)                 "fwd f32 cf B8 D1024 L2048 W4 silu"
--   util.row(columns, values)         one aligned table row (values nil: the header)
--   util.cross(axes)                  every combination of named axes' values (the sweep's shape flags)
--   util.plot(path, results, title)   bar chart of op rate vs its limit's, p25-p75 error bars (gnuplot)
--   util.gnuplot(path, size, rows, script)   any chart: rows to a data file, script(data) the commands;
--                                     SVG when path ends in .svg, PNG otherwise
--   util.list(flag, text, valid)      "a,b" -> {"a", "b"}, each checked against the list valid
--   util.int_list(flag, text)         "256,1024" or "2-8" (inclusive range) -> positive integers
--   util.check_pattern(flag, pat)     exits with a one-line error when pat is not a valid Lua pattern
--   util.cuda_status(cc)              the REPL banner's words: "cuda: not built", "cuda: built, no device", ...
--   util.write_meta(csv_path, text)   the machine lines next to a CSV file, in <csv_path>.meta.txt
local ffi = require "ffi"

if not pcall(ffi.typeof, "cc_bench_util_marker") then
    ffi.cdef [[
        typedef struct { int unused; } cc_bench_util_marker;
        int cc_bench_setenv(const char *name, const char *value, int overwrite) __asm__("setenv");
    ]]
end

local util = {}

function util.die(msg, code)
    io.stderr:write((arg and arg[0] or "luajit"), ": ", msg, "\n")
    os.exit(code or 1)
end

-- spec: { name = "flag" | "string" | "number" (a positive integer) | "real" (any number) }.
-- Accepts --name value and --name=value.
function util.parse_args(argv, spec, usage)
    local opts = {}
    local i = 1
    while argv and i <= #argv do
        local a = argv[i]
        local name, value = a:match("^%-%-([%w%-_]+)=(.*)$")
        if not name then name = a:match("^%-%-([%w%-_]+)$") end
        if a == "-h" then name = "help" end
        local kind = name and spec[name]
        if not kind then
            util.die("unknown option " .. a .. "\n" .. usage, 2)
        end
        if kind == "flag" then
            opts[name] = true
        else
            if value == nil then
                i = i + 1
                value = argv[i]
                if value == nil then util.die("option --" .. name .. " needs a value", 2) end
            end
            if kind == "number" then
                local n = tonumber(value)
                if not n or n < 1 or n ~= math.floor(n) then
                    util.die("option --" .. name .. ": expected a positive integer, got " .. value, 2)
                end
                value = n
            elseif kind == "real" then
                local n = tonumber(value)
                if not n then util.die("option --" .. name .. ": expected a number, got " .. value, 2) end
                value = n
            end
            opts[name] = value
        end
        i = i + 1
    end
    return opts
end

-- Pin OpenMP threads to cores (unless the user chose otherwise): on a small shared machine a
-- migrating thread is the largest source of run-to-run spread. Takes effect only when called
-- before the library (and so libgomp) is loaded.
function util.pin_threads()
    ffi.C.cc_bench_setenv("OMP_PROC_BIND", "close", 0)
    ffi.C.cc_bench_setenv("OMP_PLACES", "cores", 0)
end

-- The state of CUDA in the loaded library, in the words of the REPL banner
-- (lua/causalconv/repl.lua): "cuda: not built", "cuda: emulated on the cpu", "cuda: built, no
-- device", or "cuda: available".
function util.cuda_status(cc)
    local cuda = cc.cuda
    if cuda == nil or not cuda.is_built() then return "cuda: not built" end
    if cuda.is_emulated() then return "cuda: emulated on the cpu" end
    if not cuda.is_available() then return "cuda: built, no device" end
    return "cuda: available"
end

-- Returns device, emulated. Exits 1 when cuda was asked for and neither a GPU nor the CPU
-- emulation is there: "--device cuda: no GPU to run on (cuda: built, no device; library ...)".
function util.select_device(cc, device)
    if device == "cpu" then return "cpu", false end
    local status = util.cuda_status(cc)
    if status == "cuda: emulated on the cpu" then return device, true end
    if status ~= "cuda: available" then
        util.die(string.format("--device %s: no GPU to run on (%s; library %s)%s", device, status,
            tostring(require("causalconv.ffi").libpath),
            status == "cuda: not built" and "; build with nvcc on PATH, or use the CPU emulation:"
                .. " CAUSALCONV_LIB=build/emu/libcausalconv.so (make emu)"
            or "; the CPU emulation: CAUSALCONV_LIB=build/emu/libcausalconv.so (make emu)"), 1)
    end
    return device, false
end

-- ---- flag values ----

-- A comma-separated list of names, each one of valid (a list): exits 2 naming the valid ones.
function util.list(flag, text, valid)
    local ok, out = {}, {}
    for _, v in ipairs(valid) do ok[v] = true end
    for v in text:gmatch("[^,%s]+") do
        if not ok[v] then
            util.die(string.format("--%s: unknown value %s (valid: %s)", flag, v, table.concat(valid, ", ")), 2)
        end
        out[#out + 1] = v
    end
    if #out == 0 then util.die("--" .. flag .. ": expected a comma-separated list, got '" .. text .. "'", 2) end
    return out
end

-- Comma-separated positive integers and inclusive ranges: "256,1024,4096", "2-8", "1,4-6".
-- A range may hold at most 256 values.
function util.int_list(flag, text)
    local out = {}
    for item in text:gmatch("[^,%s]+") do
        local a, b = item:match("^(%d+)%-(%d+)$")
        if a then
            a, b = tonumber(a), tonumber(b)
            if a < 1 or b < a then util.die(string.format("--%s: bad range %s (expected lo-hi, 1 <= lo <= hi)", flag, item), 2) end
            if b - a >= 256 then
                util.die(string.format("--%s: range %s has %d values (at most 256): list the values, e.g. 256,1024,4096",
                    flag, item, b - a + 1), 2)
            end
            for v = a, b do out[#out + 1] = v end
        else
            local n = tonumber(item)
            if not n or n < 1 or n ~= math.floor(n) then
                util.die(string.format("--%s: expected positive integers or ranges (e.g. 256,1024 or 2-8), got %s", flag, item), 2)
            end
            out[#out + 1] = n
        end
    end
    if #out == 0 then util.die("--" .. flag .. ": expected a comma-separated list, got '" .. text .. "'", 2) end
    return out
end

-- Exits 2 with one line when pat is not a valid Lua pattern (string.find would raise mid-run).
-- Lua reports some errors only on a subject that gets far enough ("(fwd" on "fwd ..."), so pass
-- the strings it will be matched against as subjects (default: just "").
function util.check_pattern(flag, pat, subjects)
    for _, s in ipairs(subjects or { "" }) do
        local ok, err = pcall(string.find, s, pat)
        if not ok then
            err = tostring(err):gsub("^[^:]*:%d+: ", ""):gsub("^bad argument #2 to '%?'%s*", "")
            util.die(string.format("--%s: bad Lua pattern %q: %s (escape magic characters ( ) . %% + - * ? [ ^ $ with %%)",
                flag, pat, err), 2)
        end
    end
    return pat
end

-- The description of a CSV file (machine lines, timing notes) goes next to it, in
-- <csv_path>.meta.txt, so the CSV itself is a header row and data rows only: numpy.genfromtxt(path,
-- delimiter=",", names=True) and pandas.read_csv(path) read it without options. Returns the path.
function util.write_meta(csv_path, text)
    local path = csv_path .. ".meta.txt"
    local f = assert(io.open(path, "w"))
    f:write(text, text:sub(-1) == "\n" and "" or "\n")
    f:close()
    return path
end

-- Every combination of the axes' values, the first axis outermost: axes = { {name, values}, ... },
-- where values may be a function of the combination so far (an op without some size).
function util.cross(axes)
    local out, combo = {}, {}
    local function go(i)
        if i > #axes then
            local c = {}
            for _, axis in ipairs(axes) do c[axis[1]] = combo[axis[1]] end
            out[#out + 1] = c
            return
        end
        local name, values = axes[i][1], axes[i][2]
        if type(values) == "function" then values = values(combo) end
        for _, v in ipairs(values) do
            combo[name] = v
            go(i + 1)
        end
        combo[name] = nil
    end
    go(1)
    return out
end

-- ---- cases for the conv ops (experiments/sweep.lua describes the fields) ----

local ESIZE = { f32 = 4, f64 = 8, f16 = 2, bf16 = 2 }

function util.case_name(c)
    if c.op == "scan" or c.op == "scan_bwd" then
        return string.format("%s %s %s Bt%d Di%d N%d L%d", c.op, c.dtype, c.layout, c.B, c.D, c.N, c.L)
    elseif c.op == "state_update" then
        return string.format("state_update %s Bt%d Di%d N%d", c.dtype, c.B, c.D, c.N)
    end
    local act = c.act == "none" and "" or " " .. c.act
    if c.op == "update" then
        return string.format("update %s B%d D%d S%d W%d state%d%s", c.dtype, c.B, c.D, c.L, c.W,
            c.state_len or c.W - 1, act)
    elseif c.op == "varlen" then
        return string.format("varlen %s N%d T%d D%d W%d%s", c.dtype, c.B, c.L, c.D, c.W, act)
    end
    local extra = (c.bias == false and " nobias" or "") .. (c.seq_idx and (" seq" .. c.seq_idx) or "")
    return string.format("%s %s %s B%d D%d L%d W%d%s%s", c.op, c.dtype, c.layout, c.B, c.D, c.L, c.W, act, extra)
end

-- A conv case's layout: "cf", "cl", or "X>Y" for x in layout X and out in layout Y (the mixed
-- layouts; the backward's dout then takes Y, its dx X). Returns the x and the out layouts.
function util.layouts(layout)
    local x, out = (layout or "cf"):match("^(%a+)>(%a+)$")
    if x then return x, out end
    return layout or "cf", layout or "cf"
end

-- The selective scan cases: B is Bt, D is Di; every option on (D, z, delta_bias, softplus), one
-- group of variable B and C, A = -(n+1) as Mamba initialises it. Returns the call maker, the
-- compulsory bytes and (scan, scan_bwd) the element-states Bt * Di * L * N. Bytes: the forward reads
-- u, delta, z, B, C and writes out; the backward reads those and dout and writes du, ddelta, dz,
-- dB, dC; state_update reads x, dt, z, B, C, reads and writes the state, writes out; each adds A,
-- D and delta_bias (and their gradients for the backward).
local function scan_case(c, cc)
    local dtype, device = c.dtype or "f32", c.device or "cpu"
    local Bt, Di, L, N = c.B, c.D, c.L, c.N
    local esize = ESIZE[dtype]
    local topts = { dtype = dtype, device = device }
    local popts = { dtype = dtype == "f64" and "f64" or "f32", device = device }
    local A = (cc.arange(1, N + 1, popts):view(1, N):expand(Di, N) * -1):contiguous()
    local Dskip, bias = cc.randn(Di, popts), cc.randn(Di, popts) * 0.5 - 2
    if c.op == "state_update" then
        local bytes = (4 * Bt * Di + 2 * Bt * N) * esize + 2 * Bt * Di * N * ESIZE[popts.dtype]
            + (Di * N + 2 * Di) * ESIZE[popts.dtype]
        return function()
            local state = cc.randn(Bt, Di, N, popts)
            local x, dt, z, out = cc.randn(Bt, Di, topts), cc.randn(Bt, Di, topts), cc.randn(Bt, Di, topts),
                cc.empty(Bt, Di, topts)
            local B, C = cc.randn(Bt, N, topts), cc.randn(Bt, N, topts)
            local o = { D = Dskip, z = z, dt_bias = bias, dt_softplus = true, out = out }
            return function() cc.selective_state_update(state, x, dt, A, B, C, o) end
        end, bytes
    end
    local pbytes = (Di * N + 2 * Di) * ESIZE[popts.dtype]
    local io = c.op == "scan" and (4 * Bt * Di * L + 2 * Bt * N * L) * esize + pbytes
        or (7 * Bt * Di * L + 4 * Bt * N * L) * esize + 2 * pbytes
    local function bdl()
        if c.layout == "cl" then return cc.randn(Bt, L, Di, topts):transpose(2, 3) end
        return cc.randn(Bt, Di, L, topts)
    end
    return function()
        local u, delta, z, out = bdl(), bdl(), bdl(), bdl()
        local B, C = cc.randn(Bt, N, L, topts), cc.randn(Bt, N, L, topts)
        local o = { D = Dskip, z = z, delta_bias = bias, delta_softplus = true }
        if c.op == "scan" then
            o.out = out
            return function() cc.selective_scan(u, delta, A, B, C, o) end
        end
        return function() cc.selective_scan_backward(u, delta, A, B, C, out, o) end
    end, io, Bt * Di * L * N
end

-- Builds the tensors for case c and returns { fn = function(k) (one call, input set k mod
-- sets), bytes = compulsory bytes of one call, elements = element-states (the scan's, which
-- stands next to the compute roof on cpu), sets = number of input sets }.
function util.case(c)
    local cc = require "causalconv"
    if c.op == "scan" or c.op == "scan_bwd" or c.op == "state_update" then
        local make, bytes, elements = scan_case(c, cc)
        local sets = c.sets or cc.bench.rotation_sets(bytes, c.device or "cpu")
        local calls = {}
        for s = 1, sets do calls[s] = make() end
        return { fn = function(k) calls[(k - 1) % sets + 1]() end, bytes = bytes, elements = elements, sets = sets }
    end
    local W, act = c.W or 4, c.act or "silu"
    local dtype, device, layout = c.dtype or "f32", c.device or "cpu", c.layout or "cf"
    local B, D, L = c.B, c.D, c.L
    local esize = ESIZE[dtype]
    assert(esize, "bench_util.case: dtype must be f32, f64, f16 or bf16")
    local topts = { dtype = dtype, device = device }
    local activation = act ~= "none" and act or nil
    local weight = cc.randn(D, W, topts)
    local bias = c.bias ~= false and cc.randn(D, topts) or nil
    local wbytes = (D * W + (bias and D or 0)) * esize
    local x_layout, out_layout = util.layouts(layout)

    local function bdl(which)   -- (B, D, L) in layout which
        if which == "cl" then return cc.randn(B, L, D, topts):transpose(2, 3) end
        return cc.randn(B, D, L, topts)
    end
    -- seq_idx: c.seq_idx equal segments per row (i32 (B, L), read once: its bytes count)
    local seq_idx, sbytes = nil, 0
    if c.seq_idx and (c.op == "fwd" or c.op == "bwd") then
        local per, ids = math.ceil(L / c.seq_idx), {}
        for b = 0, B - 1 do
            for p = 0, L - 1 do ids[b * L + p + 1] = math.floor(p / per) end
        end
        seq_idx = cc.tensor(ids, { dtype = "i32", device = device }):view(B, L)
        sbytes = 4 * B * L
    end

    local bytes, make
    if c.op == "fwd" then
        bytes = 2 * B * D * L * esize + wbytes + sbytes
        make = function()
            local x, out = bdl(x_layout), bdl(out_layout)
            local o = { activation = activation, out = out, seq_idx = seq_idx }
            return function() cc.causal_conv1d(x, weight, bias, o) end
        end
    elseif c.op == "bwd" then
        bytes = 3 * B * D * L * esize + 2 * wbytes + sbytes
        make = function()
            local x, dout, dx = bdl(x_layout), bdl(out_layout), bdl(x_layout)
            local o = { activation = activation, dx = dx, seq_idx = seq_idx }
            return function() cc.causal_conv1d_backward(x, weight, bias, dout, o) end
        end
    elseif c.op == "update" then
        local state_len = c.state_len or W - 1
        bytes = (2 * B * D * L + 2 * B * D * state_len) * esize + wbytes
        make = function()
            local x, out = cc.randn(B, D, L, topts), cc.randn(B, D, L, topts)
            local state = cc.randn(B, D, state_len, topts)
            local o = { activation = activation, out = out }
            return function() cc.causal_conv1d_update(x, state, weight, bias, o) end
        end
    elseif c.op == "varlen" then
        -- B sequences of unequal lengths (ratios 1, 2, 3, ...) packed into L tokens.
        local N, T = B, L
        local cu = { 0 }
        local total = N * (N + 1) / 2
        for n = 1, N do cu[n + 1] = (n == N) and T or math.floor(T * (n * (n + 1) / 2) / total) end
        bytes = 2 * T * D * esize + wbytes
        make = function()
            local x, out = cc.randn(T, D, topts), cc.randn(T, D, topts)
            local cu_seqlens = cc.tensor(cu, { dtype = "i32", device = device })
            local o = { activation = activation, out = out }
            return function() cc.causal_conv1d_varlen(x, weight, bias, cu_seqlens, o) end
        end
    else
        error("bench_util.case: op must be fwd, bwd, update, varlen, scan, scan_bwd or state_update, got " .. tostring(c.op), 2)
    end

    local sets = c.sets or cc.bench.rotation_sets(bytes, device)
    local calls = {}
    for s = 1, sets do calls[s] = make() end
    return {
        fn = function(k) calls[(k - 1) % sets + 1]() end,
        bytes = bytes,
        sets = sets,
    }
end

-- ---- output ----

-- One table row. columns: { {title, width (negative: left-aligned), format}, ... };
-- values nil prints the header.
function util.row(columns, values)
    local parts = {}
    for i, col in ipairs(columns) do
        local title, width, fmt = col[1], col[2], col[3]
        local text = title
        if values then
            local v = values[i]
            text = (fmt and type(v) == "number") and string.format(fmt, v) or tostring(v)
        end
        parts[i] = string.format("%" .. width .. "s", text)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
end

-- Runs gnuplot on an image of size "w,h" at path: SVG when path ends in .svg (any case), PNG
-- otherwise. rows (a list of lists) go to a tab-separated data file, and script(data_path) returns
-- the plot commands after the terminal and output lines. Returns true, or nil and a message.
function util.gnuplot(path, size, rows, script)
    local probe = io.popen("gnuplot -e 'set terminal' 2>&1")
    if not probe then return nil, "cannot run gnuplot" end
    local terms = probe:read("*a")
    probe:close()
    local terminal
    if path:lower():match("%.svg$") then
        if not terms:match("%f[%w]svg%f[%W]") then
            return nil, "gnuplot not found or without an svg terminal (apt-get install gnuplot-nox)"
        end
        terminal = "svg size " .. size .. " noenhanced font 'sans,10' background rgb 'white'"
    elseif terms:match("pngcairo") then
        terminal = "pngcairo size " .. size .. " noenhanced font ',10'"
    elseif terms:match("%f[%w]png%f[%W]") then
        terminal = "png size " .. size .. " noenhanced"
    else
        return nil, "gnuplot not found or without a png terminal (apt-get install gnuplot-nox)"
    end
    local data = os.tmpname()
    local f = assert(io.open(data, "w"))
    for _, r in ipairs(rows) do f:write(table.concat(r, "\t"), "\n") end
    f:close()
    local file = os.tmpname()
    f = assert(io.open(file, "w"))
    f:write("set terminal ", terminal, "\n", string.format("set output '%s'", path:gsub("'", "''")), "\n",
        "set datafile separator '\t'\n", table.concat(script(data), "\n"), "\n")
    f:close()
    local p = io.popen("gnuplot '" .. file .. "' 2>&1")
    local msg = p:read("*a")
    local ok = p:close()
    os.remove(data)
    os.remove(file)
    if not ok or msg:match("error") then return nil, "gnuplot failed: " .. msg end
    return true
end

-- Bar chart (PNG, or SVG for a .svg path) of each result's GB/s next to its copy GB/s, with the %
-- of copy above. results: { {name =, rate =, limit_rate =, pct =, rate_lo =, rate_hi =,
-- limit_lo =, limit_hi =}, ... } (GB/s against the copy, or G element-states/s against the compute
-- roof for scan rows); the _lo / _hi rates (from the p75 / p25 times) are the error bars, each
-- defaulting to the bar's own height. Returns true or nil, message.
function util.plot(path, results, title)
    local rows = {}
    local f4 = function(v) return string.format("%.4f", v) end
    for i, r in ipairs(results) do
        rows[i] = { i - 1, r.name, f4(r.rate), f4(r.limit_rate), string.format("%.1f", r.pct),
            f4(r.rate_lo or r.rate), f4(r.rate_hi or r.rate), f4(r.limit_lo or r.limit_rate), f4(r.limit_hi or r.limit_rate) }
    end
    return util.gnuplot(path, "1280,720", rows, function(data)
        return {
            string.format("set title '%s' noenhanced", (title or ""):gsub("'", "''")),
            "set style data histogram",
            "set style histogram errorbars gap 1 lw 1",
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.9",
            "set ylabel 'GB/s (compulsory bytes / median time; bars: p25-p75); scan rows: G element-states/s'",
            "set yrange [0:*]",
            "set xtics rotate by 30 right scale 0 noenhanced",
            "set bmargin 13",
            "set lmargin 22",
            "set key outside top center horizontal",
            "set grid ytics",
            string.format("plot '%s' using 3:6:7:xtic(2) title 'op', '' using 4:8:9 title 'limit: tensor copy of the same bytes (scan: compute roof)', "
                .. "'' using ($1-0.15):3:(sprintf('%%.0f%%%%', $5)) with labels offset 0,0.8 notitle", data),
        }
    end)
end

return util
