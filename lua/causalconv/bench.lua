-- cc.bench: timing helpers for experiments (sweep.lua, bench_torch.lua).
--
--   cc.bench.now()                       seconds from CLOCK_MONOTONIC
--   cc.bench.stats(samples)              {median, min, max, mean, p25, p75, spread, n} of numbers
--   cc.bench.time(fn, opts)              stats (ms per call) of fn, after warm-up
--   cc.bench.compare(fns, opts)          the same for several functions, interleaved sample by
--                                        sample, so slow drifts of a shared machine hit them alike
--   cc.bench.ratio(sa, sb)               stats of the sample-by-sample ratio of two compare() results
--   cc.bench.copy(nbytes, opts)          a function doing dst:copy_(src) that moves nbytes (read +
--                                        write), the bandwidth baseline for an op moving nbytes
--   cc.bench.memcpy(nbytes)              the same with one-thread memcpy (host memory)
--   cc.bench.case(c)                     tensors and a call for one conv case (see sweep.lua)
--   cc.bench.rotation_sets(bytes, dev)   input sets to rotate so inputs are not cache-resident
--   cc.bench.row(columns, values)        one aligned table row (values nil: the header)
--   cc.bench.plot(path, results, title)  PNG bar chart of op GB/s vs copy GB/s (gnuplot)
--   cc.bench.gbps(bytes, ms)             bytes / ms in GB/s (1e9 bytes)
--   cc.bench.progress(n, opts)           a one-line progress bar (only on a terminal)
--   cc.bench.machine(device)             what ran the numbers: date, CPU or GPU, threads, library
--   cc.bench.isatty(fd)                  whether fd (1 = stdout) is a terminal
--
-- Timing options (opts): device ("cpu" | "cuda"; default "cpu"), warmup (calls before timing,
-- default 3), ["repeat"] (samples, default 10), min_sample_ms (each sample repeats the call
-- until it lasts about this long, default 1 ms, so microsecond ops are not timer noise).
-- fn(k) receives a running call counter k (1, 2, ...) so a caller can rotate input buffers.
-- On cpu a sample is read from the host clock; on cuda it is a device-event timer around the
-- calls (cc.cuda.timer), after a cc.cuda.synchronize() that drains earlier work.
local ffi = require "ffi"

if not pcall(ffi.typeof, "cc_bench_timespec") then
    -- Redirected names (asm labels) so these never clash with another module's declarations.
    ffi.cdef [[
        typedef struct { long tv_sec; long tv_nsec; } cc_bench_timespec;
        int cc_bench_clock_gettime(int clk, cc_bench_timespec *tp) __asm__("clock_gettime");
        int cc_bench_isatty(int fd) __asm__("isatty");
        void *cc_bench_memcpy(void *dst, const void *src, size_t n) __asm__("memcpy");
        char *cc_bench_realpath(const char *path, char *resolved) __asm__("realpath");
    ]]
end

local CLOCK_MONOTONIC = 1
local ts = ffi.new("cc_bench_timespec")

local function now()
    ffi.C.cc_bench_clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function isatty(fd)
    return ffi.C.cc_bench_isatty(fd or 1) == 1
end

-- Quantile of a sorted list by linear interpolation (q in [0, 1]).
local function quantile(sorted, q)
    local n = #sorted
    if n == 1 then return sorted[1] end
    local pos = 1 + q * (n - 1)
    local lo = math.floor(pos)
    local frac = pos - lo
    if lo >= n then return sorted[n] end
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo])
end

local function stats(samples)
    assert(#samples > 0, "cc.bench.stats: no samples")
    local sorted = {}
    local sum = 0
    for i, v in ipairs(samples) do sorted[i] = v; sum = sum + v end
    table.sort(sorted)
    local s = {
        n = #sorted,
        min = sorted[1],
        max = sorted[#sorted],
        median = quantile(sorted, 0.5),
        p25 = quantile(sorted, 0.25),
        p75 = quantile(sorted, 0.75),
        mean = sum / #sorted,
        samples = samples,
    }
    -- Relative inter-quartile range: robust to the odd sample another process spoilt.
    s.spread = s.median > 0 and (s.p75 - s.p25) / s.median or 0
    return s
end

local function read_file(path)
    local f = io.open(path, "r")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s
end

-- Absolute path with no "..", or the path as given when it cannot be resolved.
local function realpath(path)
    local buf = ffi.new("char[4096]")
    if path and ffi.C.cc_bench_realpath(path, buf) ~= nil then return ffi.string(buf) end
    return path
end

local function gbps(bytes, ms)
    return bytes / (ms * 1e-3) / 1e9
end

local function install(cc)
    local bench = {}
    cc.bench = bench
    bench.now = now
    bench.isatty = isatty
    bench.stats = stats
    bench.gbps = gbps

    local function on_cuda(opts)
        return opts.device ~= nil and opts.device:match("^cuda") ~= nil
    end

    -- One sample: `inner` calls of fn, in ms per call.
    local function sample(fn, inner, counter, cuda)
        if cuda then
            local t = cc.cuda.timer()
            for _ = 1, inner do counter[1] = counter[1] + 1; fn(counter[1]) end
            return t:stop() / inner
        end
        local t0 = now()
        for _ = 1, inner do counter[1] = counter[1] + 1; fn(counter[1]) end
        return (now() - t0) * 1e3 / inner
    end

    -- fns: a list of functions (or {name = fn}). Returns a table of stats keyed like fns, each with
    -- .inner (calls per sample). Sample r runs the functions in turn, in reverse order on even r.
    function bench.compare(fns, opts)
        opts = opts or {}
        local cuda = on_cuda(opts)
        local warmup = opts.warmup or 3
        local nrep = opts["repeat"] or 10
        local min_sample_ms = opts.min_sample_ms or 1
        local keys = {}
        for k in pairs(fns) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b)
            if type(a) == type(b) then return a < b end
            return type(a) < type(b)
        end)

        local counters, inner, samples = {}, {}, {}
        if cuda then cc.cuda.synchronize() end
        for _, k in ipairs(keys) do
            counters[k] = { 0 }
            for _ = 1, warmup do sample(fns[k], 1, counters[k], cuda) end
            -- Calibrate: enough calls per sample to last min_sample_ms.
            local one = sample(fns[k], 1, counters[k], cuda)
            inner[k] = math.max(1, math.min(10000, math.ceil(min_sample_ms / math.max(one, 1e-6))))
            samples[k] = {}
        end
        for r = 1, nrep do
            local first, last, step = 1, #keys, 1
            if r % 2 == 0 then first, last, step = #keys, 1, -1 end
            for i = first, last, step do
                local k = keys[i]
                samples[k][r] = sample(fns[k], inner[k], counters[k], cuda)
            end
        end
        local result = {}
        for _, k in ipairs(keys) do
            result[k] = stats(samples[k])
            result[k].inner = inner[k]
        end
        return result
    end

    -- Stats of a.samples[r] / b.samples[r] over the samples r of one compare() call: paired
    -- samples were taken back to back, so their ratio cancels most of a shared machine's drift.
    function bench.ratio(a, b)
        local r = {}
        for i = 1, math.min(#a.samples, #b.samples) do r[i] = a.samples[i] / b.samples[i] end
        return stats(r)
    end

    function bench.time(fn, opts)
        return bench.compare({ fn }, opts)[1]
    end

    -- A plain tensor copy moving nbytes in all (nbytes/2 read, nbytes/2 written), on opts.device,
    -- rotating over opts.sets source/destination pairs. Returns fn, bytes actually moved, and
    -- the tensors {src = {...}, dst = {...}}.
    function bench.copy(nbytes, opts)
        opts = opts or {}
        local dtype = opts.dtype or "f32"
        local esize = ({ f32 = 4, f64 = 8, f16 = 2, bf16 = 2, i32 = 4, i64 = 8 })[dtype]
        local n = math.max(1, math.floor(nbytes / 2 / esize))
        local topts = { dtype = dtype, device = opts.device or "cpu" }
        local src, dst = {}, {}
        for s = 1, opts.sets or 1 do
            src[s] = cc.randn(n, topts)
            dst[s] = cc.empty(n, topts)
            dst[s]:copy_(src[s])   -- touch every page before timing
        end
        local nsets = #src
        local function fn(k)
            local s = (k - 1) % nsets + 1
            dst[s]:copy_(src[s])
        end
        return fn, 2 * n * esize, { src = src, dst = dst }
    end

    -- memcpy of nbytes/2 bytes (nbytes moved) on one thread: a sanity check for the copy baseline.
    function bench.memcpy(nbytes)
        local n = math.max(1, math.floor(nbytes / 2))
        local src, dst = ffi.new("uint8_t[?]", n), ffi.new("uint8_t[?]", n)
        ffi.fill(src, n, 1)
        return function() ffi.C.cc_bench_memcpy(dst, src, n) end, 2 * n
    end

    -- A one-line progress bar on opts.stream (default stdout). Drawn only when that stream is a
    -- terminal (opts.force draws it anyway), so logs and pipes get the results and nothing else. bar:print(line) prints a
    -- result line above the bar; bar:finish() erases the bar, leaving the cursor on a clean line.
    function bench.progress(n, opts)
        opts = opts or {}
        local out = opts.stream or io.stdout
        local live = opts.force or (out == io.stdout and isatty(1)) or (out == io.stderr and isatty(2))
        local t0 = now()
        local bar = { i = 0, n = n, label = "" }
        local function clock(s)
            s = math.floor(s + 0.5)
            return string.format("%d:%02d", math.floor(s / 60), s % 60)
        end
        local function draw()
            if not live then return end
            local width = 24
            local filled = n > 0 and math.floor(width * bar.i / n) or width
            local elapsed = now() - t0
            local eta = bar.i > 0 and elapsed / bar.i * (n - bar.i) or nil
            out:write(string.format("\r\27[K[%s%s] %d/%d  %s elapsed, ETA %s  %s",
                string.rep("#", filled), string.rep(".", width - filled), bar.i, n,
                clock(elapsed), eta and clock(eta) or "?", bar.label))
            out:flush()
        end
        -- Mark item i (default: the next one) as started, with a label.
        function bar:start(label)
            self.label = label or ""
            draw()
        end
        function bar:step(label)
            self.i = math.min(self.n, self.i + 1)
            if label then self.label = label end
            draw()
        end
        function bar:print(line)
            if live then out:write("\r\27[K") end
            out:write(line, "\n")
            draw()
        end
        function bar:finish()
            if live then out:write("\r\27[K"); out:flush() end
        end
        return bar
    end

    -- ---- cases for the conv ops (experiments/sweep.lua describes the fields) ----

    local ESIZE = { f32 = 4, f64 = 8, f16 = 2, bf16 = 2 }

    function bench.case_name(c)
        local act = c.act == "none" and "" or " " .. c.act
        if c.op == "update" then
            return string.format("update %s B%d D%d S%d W%d state%d%s", c.dtype, c.B, c.D, c.L, c.W,
                c.state_len or c.W - 1, act)
        elseif c.op == "varlen" then
            return string.format("varlen %s N%d T%d D%d W%d%s", c.dtype, c.B, c.L, c.D, c.W, act)
        end
        return string.format("%s %s %s B%d D%d L%d W%d%s", c.op, c.dtype, c.layout, c.B, c.D, c.L, c.W, act)
    end

    local function l3_bytes()
        local s = read_file("/sys/devices/system/cpu/cpu0/cache/index3/size")
        local n, unit = (s or ""):match("(%d+)([KMG]?)")
        if not n then return 32 * 2 ^ 20 end
        return tonumber(n) * ({ [""] = 1, K = 2 ^ 10, M = 2 ^ 20, G = 2 ^ 30 })[unit]
    end

    -- How many input sets to rotate over so that repeated calls do not find their inputs in a
    -- cache: enough to span twice the L3 on cpu, 256 MiB on cuda; at most 64.
    function bench.rotation_sets(bytes, device)
        local target = (device or "cpu"):match("^cuda") and 256 * 2 ^ 20 or 2 * l3_bytes()
        return math.max(1, math.min(64, math.ceil(target / bytes)))
    end

    -- Builds the tensors for case c and returns { fn = function(k) (one call, input set k mod
    -- sets), bytes = compulsory bytes of one call, sets = number of input sets }.
    function bench.case(c)
        local W, act = c.W or 4, c.act or "silu"
        local dtype, device, layout = c.dtype or "f32", c.device or "cpu", c.layout or "cf"
        local B, D, L = c.B, c.D, c.L
        local esize = ESIZE[dtype]
        assert(esize, "cc.bench.case: dtype must be f32, f64, f16 or bf16")
        local topts = { dtype = dtype, device = device }
        local activation = act ~= "none" and act or nil
        local weight = cc.randn(D, W, topts)
        local bias = cc.randn(D, topts)
        local wbytes = (D * W + D) * esize

        local function bdl()   -- (B, D, L) in the case's layout
            if layout == "cl" then return cc.randn(B, L, D, topts):transpose(2, 3) end
            return cc.randn(B, D, L, topts)
        end

        local bytes, make
        if c.op == "fwd" then
            bytes = 2 * B * D * L * esize + wbytes
            make = function()
                local x, out = bdl(), bdl()
                local o = { activation = activation, out = out }
                return function() cc.causal_conv1d(x, weight, bias, o) end
            end
        elseif c.op == "bwd" then
            bytes = 3 * B * D * L * esize + 2 * wbytes
            make = function()
                local x, dout, dx = bdl(), bdl(), bdl()
                local o = { activation = activation, dx = dx }
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
            error("cc.bench.case: op must be fwd, bwd, update or varlen, got " .. tostring(c.op), 2)
        end

        local sets = c.sets or bench.rotation_sets(bytes, device)
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
    function bench.row(columns, values)
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

    -- Bar chart (PNG) of each result's GB/s next to its copy GB/s, with the % of copy above.
    -- results: { {name =, gbps =, copy_gbps =, pct =}, ... }. Returns true or nil, message.
    function bench.plot(path, results, title)
        local probe = io.popen("gnuplot -e 'set terminal' 2>&1")
        if not probe then return nil, "cannot run gnuplot" end
        local terms = probe:read("*a")
        probe:close()
        local terminal
        if terms:match("pngcairo") then
            terminal = "pngcairo size 1280,720 noenhanced font ',10'"
        elseif terms:match("%f[%w]png%f[%W]") then
            terminal = "png size 1280,720 noenhanced"
        else
            return nil, "gnuplot not found or without a png terminal (apt-get install gnuplot-nox)"
        end
        local data = os.tmpname()
        local f = assert(io.open(data, "w"))
        for i, r in ipairs(results) do
            f:write(string.format("%d\t%s\t%.4f\t%.4f\t%.1f\n", i - 1, r.name, r.gbps, r.copy_gbps, r.pct))
        end
        f:close()
        local script = os.tmpname()
        f = assert(io.open(script, "w"))
        f:write(table.concat({
            "set terminal " .. terminal,
            string.format("set output '%s'", path:gsub("'", "''")),
            string.format("set title '%s' noenhanced", (title or ""):gsub("'", "''")),
            "set datafile separator '\t'",
            "set style data histogram",
            "set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.9",
            "set ylabel 'GB/s (compulsory bytes / median time)'",
            "set yrange [0:*]",
            "set xtics rotate by 30 right scale 0 noenhanced",
            "set bmargin 13",
            "set lmargin 22",
            "set key outside top center horizontal",
            "set grid ytics",
            string.format("plot '%s' using 3:xtic(2) title 'op', '' using 4 title 'tensor copy, same bytes', "
                .. "'' using ($1-0.15):3:(sprintf('%%.0f%%%%', $5)) with labels offset 0,0.8 notitle",
                data),
        }, "\n"), "\n")
        f:close()
        local p = io.popen("gnuplot '" .. script .. "' 2>&1")
        local msg = p:read("*a")
        local ok = p:close()
        os.remove(data)
        os.remove(script)
        if not ok or msg:match("error") then return nil, "gnuplot failed: " .. msg end
        return true
    end

    -- A description of what produces the numbers. Fields: date, host, kernel, cpu, cpus, l3,
    -- load, threads, lib, device, gpu (cuda), emulated (cuda), omp_proc_bind.
    function bench.machine(device)
        local m = {}
        m.date = os.date("!%Y-%m-%d %H:%M:%S UTC")
        m.host = (read_file("/proc/sys/kernel/hostname") or "?"):gsub("%s+$", "")
        m.kernel = (read_file("/proc/sys/kernel/osrelease") or "?"):gsub("%s+$", "")
        local cpuinfo = read_file("/proc/cpuinfo") or ""
        m.cpu = cpuinfo:match("model name%s*:%s*([^\n]+)") or "unknown CPU"
        local ncpu = 0
        for _ in cpuinfo:gmatch("\nprocessor%s*:") do ncpu = ncpu + 1 end
        if cpuinfo:match("^processor%s*:") then ncpu = ncpu + 1 end
        m.cpus = ncpu
        m.l3 = (read_file("/sys/devices/system/cpu/cpu0/cache/index3/size") or "?"):gsub("%s+$", "")
        m.load = bench.load()
        m.threads = cc.get_num_threads()
        m.lib = realpath(cc.libpath)
        -- Which sources: the checkout's commit, and when the library file was built.
        local function run(cmd)
            local p = io.popen(cmd .. " 2>/dev/null")
            if not p then return nil end
            local out = p:read("*l")
            p:close()
            return out
        end
        local repo = m.lib:match("^(.*)/[^/]+/[^/]+$") or "."
        m.commit = run("git -C '" .. repo:gsub("'", "'\\''") .. "' rev-parse --short HEAD") or "?"
        m.lib_built = run("date -u -r '" .. m.lib:gsub("'", "'\\''") .. "' '+%Y-%m-%d %H:%M:%S UTC'") or "?"
        m.omp_proc_bind = os.getenv("OMP_PROC_BIND") or "unset"
        m.device = device or "cpu"
        if m.device:match("^cuda") then
            m.emulated = cc.cuda.is_emulated()
            if cc.cuda.is_available() then m.gpu = cc.cuda.device_name() end
        end
        return m
    end

    -- The 1-, 5- and 15-minute load averages, as "a b c".
    function bench.load()
        return (read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?"
    end

    -- The machine as header lines, each prefixed with "# ".
    function bench.describe(m)
        local lines = {
            "# date:    " .. m.date,
            string.format("# host:    %s (Linux %s), load average %s", m.host, m.kernel, m.load),
            string.format("# cpu:     %s, %d logical CPUs, L3 %s", m.cpu, m.cpus, m.l3),
            string.format("# threads: %d (OMP_PROC_BIND=%s)", m.threads, m.omp_proc_bind),
            string.format("# library: %s (built %s; checkout at %s)", tostring(m.lib), m.lib_built, m.commit),
        }
        local load1 = tonumber(m.load:match("^(%S+)"))
        if load1 and m.cpus > 0 and load1 > 0.75 * m.cpus then
            lines[#lines + 1] = string.format("# WARNING: load average %.1f on %d CPUs: other processes compete for"
                .. " the cores and memory; expect noisy, pessimistic numbers", load1, m.cpus)
        end
        if m.device:match("^cuda") then
            local gpu = m.gpu or "none"
            if m.emulated then gpu = gpu .. " -- EMULATED on the CPU: timings are not meaningful for speed" end
            lines[#lines + 1] = "# gpu:     " .. gpu
        end
        return table.concat(lines, "\n")
    end
end

return install
