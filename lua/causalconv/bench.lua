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
--   cc.bench.scan_roof(elements)         the selective scan's compute roof for that many
--                                        element-states (the forward's exp + FMAs, registers only)
--   cc.bench.conv_roof(elements, opts)   the conv's compute roof for that many elements (the
--                                        fast kernels' row loops on rows kept in L1)
--   cc.bench.rotation_sets(bytes, dev)   input sets to rotate so inputs are not cache-resident
--   cc.bench.gbps(bytes, ms)             bytes / ms in GB/s (1e9 bytes)
--   cc.bench.progress(n, opts)           a one-line progress bar (only on a terminal)
--   cc.bench.machine(device)             what ran the numbers: date, CPU or GPU, threads, library
--   cc.bench.describe(m)                 that as "# " header lines; cc.bench.load(): load averages
--   cc.bench.isatty(fd)                  whether fd (1 = stdout) is a terminal
--
-- Timing options (opts): device ("cpu" | "cuda"; default "cpu"), warmup (calls before timing,
-- default 3), reps (samples, default 10; ["repeat"] is the same option under its older name, a Lua
-- keyword), min_sample_ms (each sample repeats the call
-- until it lasts about this long, default 1 ms, so microsecond ops are not timer noise).
-- fn(k) receives a running call counter k (1, 2, ...) so a caller can rotate input buffers.
-- On cpu a sample is read from the host clock; on cuda it is a device-event timer around the
-- calls (cc.cuda.timer), after a cc.cuda.synchronize() that drains earlier work.
-- The conv cases, the table rows and the gnuplot driver of the experiments live in
-- experiments/bench_util.lua.
local ffi = require "ffi"
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local T = require "causalconv.tensor"
local cuda = require("causalconv.cuda").cuda

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

local bench = {}
do
    bench.now = now
    bench.isatty = isatty
    bench.stats = stats
    bench.gbps = gbps

    -- reps is repeat under a name that is not a Lua keyword: {reps = 10} needs no ["repeat"]
    local TIME_OPTS = { { "device", "device" }, { "warmup", "count" }, { "reps", "positive" },
                        { "repeat", "positive" }, { "min_sample_ms", "number" } }
    local COPY_OPTS = { { "device", "device" }, { "dtype", "dtype" }, { "sets", "positive" } }
    local PROGRESS_OPTS = { { "stream", "file" }, { "force", "boolean" } }

    local function on_cuda(opts)
        return opts.device ~= nil and opts.device:match("^cuda") ~= nil
    end

    -- One sample: `inner` calls of fn, in ms per call.
    local function sample(fn, inner, counter, dev_cuda)
        if dev_cuda then
            local t = cuda.timer()
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
        if type(fns) ~= "table" then F.raise("bench.compare: fns: expected a table of functions, got " .. args.show(fns)) end
        for k, fn in pairs(fns) do
            if type(fn) ~= "function" then
                F.raise("bench.compare: fns[" .. args.show(k) .. "]: expected a function, got " .. args.show(fn))
            end
        end
        opts = args.options("bench.compare", opts, TIME_OPTS)
        local dev_cuda = on_cuda(opts)
        local warmup = opts.warmup or 3
        if opts.reps and opts["repeat"] and opts.reps ~= opts["repeat"] then
            F.raise("bench.compare: reps and repeat are the same option; got reps = " .. opts.reps
                .. " and repeat = " .. opts["repeat"])
        end
        local nrep = opts.reps or opts["repeat"] or 10
        local min_sample_ms = opts.min_sample_ms or 1
        local keys = {}
        for k in pairs(fns) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b)
            if type(a) == type(b) then return a < b end
            return type(a) < type(b)
        end)

        local counters, inner, samples = {}, {}, {}
        if dev_cuda then cuda.synchronize() end
        for _, k in ipairs(keys) do
            counters[k] = { 0 }
            for _ = 1, warmup do sample(fns[k], 1, counters[k], dev_cuda) end
            -- Calibrate: enough calls per sample to last min_sample_ms.
            local one = sample(fns[k], 1, counters[k], dev_cuda)
            inner[k] = math.max(1, math.min(10000, math.ceil(min_sample_ms / math.max(one, 1e-6))))
            samples[k] = {}
        end
        for r = 1, nrep do
            local first, last, step = 1, #keys, 1
            if r % 2 == 0 then first, last, step = #keys, 1, -1 end
            for i = first, last, step do
                local k = keys[i]
                samples[k][r] = sample(fns[k], inner[k], counters[k], dev_cuda)
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
        if type(fn) ~= "function" then F.raise("bench.time: fn: expected a function, got " .. args.show(fn)) end
        args.options("bench.time", opts, TIME_OPTS)
        return bench.compare({ fn }, opts)[1]
    end

    -- A plain tensor copy moving nbytes in all (nbytes/2 read, nbytes/2 written), on opts.device,
    -- rotating over opts.sets source/destination pairs. Returns fn, bytes actually moved, and
    -- the tensors {src = {...}, dst = {...}}.
    function bench.copy(nbytes, opts)
        args.number("bench.copy", "nbytes", nbytes)
        opts = args.options("bench.copy", opts, COPY_OPTS)
        local dtype = opts.dtype or "f32"
        local esize = args.dtype_bytes(args.DTYPE_CODE[dtype])
        local n = math.max(1, math.floor(nbytes / 2 / esize))
        local topts = { dtype = dtype, device = opts.device or "cpu" }
        local src, dst = {}, {}
        for s = 1, opts.sets or 1 do
            src[s] = T.randn(n, topts)
            dst[s] = T.empty(n, topts)
            dst[s]:copy_(src[s])   -- touch every page before timing
        end
        local nsets = #src
        local function fn(k)
            local s = (k - 1) % nsets + 1
            dst[s]:copy_(src[s])
        end
        return fn, 2 * n * esize, { src = src, dst = dst }
    end

    -- The selective scan's compute roof for a call of `elements` element-states: fn runs the
    -- forward's arithmetic for that many on registers only (every CPU thread); returns fn,
    -- elements. The roof is a CPU figure: on cuda it is an error.
    function bench.scan_roof(elements, opts)
        args.number("bench.scan_roof", "elements", elements)
        opts = args.options("bench.scan_roof", opts, { { "device", "device" } })
        if on_cuda(opts) then F.raise("bench.scan_roof: device: the compute roof is measured on cpu only") end
        local checksum = ffi.new("double[1]")
        return function() F.check(F.C.cc_selective_scan_roof(elements, checksum)) end, elements
    end

    -- The conv's compute roof for a call of `elements` elements (B*D*L): fn runs the fast CPU
    -- kernels' row arithmetic (opts: width, default 4; activation nil | "silu"; backward, width 4
    -- only) on rows kept in L1 (every CPU thread); returns fn, elements. A CPU figure: on cuda
    -- it is an error.
    local CONV_ROOF_OPTS = { { "device", "device" }, { "width", "positive" }, { "activation", "activation" },
        { "backward", "boolean" } }
    function bench.conv_roof(elements, opts)
        args.number("bench.conv_roof", "elements", elements)
        opts = args.options("bench.conv_roof", opts, CONV_ROOF_OPTS)
        if on_cuda(opts) then F.raise("bench.conv_roof: device: the compute roof is measured on cpu only") end
        local checksum = ffi.new("double[1]")
        local width, act = opts.width or 4, opts.activation and F.C.CC_ACT_SILU or F.C.CC_ACT_NONE
        local backward = opts.backward and 1 or 0
        return function() F.check(F.C.cc_causal_conv1d_roof(elements, width, act, backward, checksum)) end, elements
    end

    -- memcpy of nbytes/2 bytes (nbytes moved) on one thread: a sanity check for the copy baseline.
    function bench.memcpy(nbytes)
        args.number("bench.memcpy", "nbytes", nbytes)
        local n = math.max(1, math.floor(nbytes / 2))
        local src, dst = ffi.new("uint8_t[?]", n), ffi.new("uint8_t[?]", n)
        ffi.fill(src, n, 1)
        return function() ffi.C.cc_bench_memcpy(dst, src, n) end, 2 * n
    end

    -- A one-line progress bar on opts.stream (default stdout). Drawn only when that stream is a
    -- terminal (opts.force draws it anyway), so logs and pipes get the results and nothing else. bar:print(line) prints a
    -- result line above the bar; bar:finish() erases the bar, leaving the cursor on a clean line.
    function bench.progress(n, opts)
        args.integer("bench.progress", "n", n, 0)
        opts = args.options("bench.progress", opts, PROGRESS_OPTS)
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

    -- ---- input rotation ----

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
        m.threads = T.get_num_threads()
        m.lib = realpath(F.libpath)
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
            m.emulated = cuda.is_emulated()
            if cuda.is_available() then m.gpu = cuda.device_name() end
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

return { bench = bench }
