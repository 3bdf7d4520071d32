-- causalconv against PyTorch's depthwise conv1d, in one run (make bench, ARGS="..." for options).
--
-- For each shape, forward and backward of the causal conv (W=4, f32, SiLU, x (B, D, L)
-- contiguous) are timed here in Lua through the user-facing calls (cc.causal_conv1d,
-- cc.causal_conv1d_backward; both allocate their outputs, as PyTorch does), interleaved with a
-- plain tensor copy of the same bytes and with the call writing into a pre-allocated output
-- (out= ms); then experiments/bench_torch.py times PyTorch on the
-- same shape with the same thread count and the same timing rule:
--   forward  silu(F.conv1d(x, w[:, None, :], b, padding=W-1, groups=D)[..., :L])
--   backward torch.autograd.grad of that with respect to x, w, b
-- Then (--op scan, or all: the default) the selective scan (Mamba's SSM), f32, with D, z,
-- delta_bias, delta_softplus, one-group variable B/C (Bt, N, L), all contiguous: ours through
-- cc.selective_scan and, for forward + backward, cc.selective_scan followed by
-- cc.selective_scan_backward (which recomputes the states), against the two ways a PyTorch user
-- writes the scan without mamba_ssm's kernels (bench_torch.py --op scan): the sequential loop of
-- mamba_ssm's selective_scan_ref ("seq") and a work-efficient parallel scan over L on
-- (Bt, Di, L, N) tensors ("pscan"); forward without a graph, forward + backward through torch
-- autograd w.r.t. u, delta, A, B, C, D, z, delta_bias. The speed-up is against the faster of the
-- two. PyTorch's scan calls take seconds, so the scan uses fewer samples (--scan-repeat).
-- Without PyTorch it says so and exits 0.
local shapes = {
    { B = 1, D = 1024, L = 2048 },
    { B = 8, D = 1024, L = 2048 },
    { B = 1, D = 512, L = 8192 },
    { B = 8, D = 512, L = 8192 },
}
local W = 4
local scan_shapes = {
    { Bt = 4, Di = 512, N = 16, L = 1024 },    -- the target: a small Mamba layer's training batch
    { Bt = 1, Di = 64, N = 16, L = 4096 },     -- few channels, long: the parallel scan's best case
}   -- PyTorch's seq loop takes ~10 s per forward + backward at the target: keep make bench ~3 min

local script_dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
package.path = script_dir .. "../lua/?.lua;" .. script_dir .. "../lua/?/init.lua;"
    .. script_dir .. "?.lua;" .. package.path
local util = require("bench_util")

local usage = [[
usage: luajit experiments/bench_torch.lua [options]
  --op conv|scan|all  which comparison (default all: the conv, then the selective scan)
  --device cpu|cuda   cpu (default): PyTorch CPU; cuda: PyTorch cuDNN on the GPU vs ours
  --threads N         threads for both libraries (default: the library's default)
  --repeat N          samples per measurement (default 11); medians are reported
  --warmup N          calls before timing (default 3)
  --scan-repeat N     samples per scan measurement (default 3; --quick 2); PyTorch's scan gets
                      no warm-up call beyond the calibration call (each call takes seconds)
  --quick             3 samples after 1 warm-up call
  --python PATH       the Python with torch (default /usr/bin/python3)
  --no-pin            do not set OMP_PROC_BIND=close / OMP_PLACES=cores (set unless already set)
  --csv FILE          also write the numbers to FILE (CSV: a header row and data rows; the
                      machine lines go to FILE.meta.txt; the scan's to FILE_scan.csv with --op all)
  --help              this text
Environment: CAUSALCONV_LIB selects the library (default build/libcausalconv.so).]]

local opts = util.parse_args(arg, {
    device = "string", threads = "number", ["repeat"] = "number", warmup = "number",
    quick = "flag", python = "string", ["no-pin"] = "flag", csv = "string", help = "flag",
    op = "string", ["scan-repeat"] = "number",
}, usage)
if opts.help then print(usage); os.exit(0) end
opts.op = opts.op or "all"
if opts.op ~= "conv" and opts.op ~= "scan" and opts.op ~= "all" then
    util.die("--op: expected conv, scan or all, got " .. opts.op, 2)
end
opts.device = opts.device or "cpu"
if opts.device ~= "cpu" and not opts.device:match("^cuda") then
    util.die("--device: expected cpu or cuda, got " .. opts.device, 2)
end
local python = opts.python or "/usr/bin/python3"
local nrep = opts["repeat"] or (opts.quick and 3 or 11)
local warmup = opts.warmup or (opts.quick and 1 or 3)
local scan_nrep = opts["scan-repeat"] or (opts.quick and 2 or 3)

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- PyTorch first: without it there is nothing to compare, and nothing else needs doing.
do
    local probe = io.popen(shell_quote(python) .. " -c 'import torch' 2>&1")
    local msg = probe and probe:read("*a") or "cannot run " .. python
    if probe then probe:close() end
    if msg:match("%S") then
        print("PyTorch not installed (apt-get install python3-torch): skipping the comparison")
        os.exit(0)
    end
end

if not opts["no-pin"] then util.pin_threads() end
local cc = require("causalconv")
local device, emulated = util.select_device(cc, opts.device)
if emulated then
    util.die("the library is the CUDA emulation: a speed comparison with PyTorch on a GPU needs a real one", 1)
end
if opts.threads then cc.set_num_threads(opts.threads) end
if cc.manual_seed then cc.manual_seed(20240601) end
local m = cc.bench.machine(device)

-- Time PyTorch on one shape; returns { fwd = {median=, ...}, bwd = ... } and the '#' lines.
local function torch_times(s)
    local cmd = string.format("%s %s --shapes %dx%dx%d --W %d --device %s --threads %d --repeat %d --warmup %d 2>&1",
        shell_quote(python), shell_quote(script_dir .. "bench_torch.py"), s.B, s.D, s.L, W, device,
        m.threads, nrep, warmup)
    local p = assert(io.popen(cmd))
    local res, notes, all = {}, {}, {}
    for line in p:lines() do
        all[#all + 1] = line
        local op, med, mn, mx, spread, inner =
            line:match("^RESULT (%a+) %d+ %d+ %d+ %d+ (%S+) (%S+) (%S+) (%S+) (%d+)")
        if op then
            res[op] = { median = tonumber(med), min = tonumber(mn), max = tonumber(mx),
                        spread = tonumber(spread), inner = tonumber(inner) }
        elseif line:match("^#") then
            notes[#notes + 1] = line
        end
    end
    p:close()
    if not (res.fwd and res.bwd) then
        util.die("bench_torch.py gave no results:\n" .. table.concat(all, "\n"), 1)
    end
    return res, notes
end

-- causalconv through the allocating user-facing calls, inputs rotated like bench_util.case.
local function ours(s, op)
    local esize = 4
    local B, D, L = s.B, s.D, s.L
    local topts = { dtype = "f32", device = device }
    local nbytes = (op == "fwd" and 2 or 3) * B * D * L * esize
    local sets = cc.bench.rotation_sets(nbytes, device)
    local weight, bias = cc.randn(D, W, topts), cc.randn(D, topts)
    local o = { activation = "silu" }
    local xs, douts = {}, {}
    for i = 1, sets do
        xs[i] = cc.randn(B, D, L, topts)
        if op == "bwd" then douts[i] = cc.randn(B, D, L, topts) end
    end
    -- The same call writing into a pre-allocated output (opts out= / dx=): the kernel without
    -- the allocation and first-touch page faults of a fresh output.
    local given = { activation = "silu" }
    if op == "fwd" then given.out = cc.empty(B, D, L, topts) else given.dx = cc.empty(B, D, L, topts) end
    local fn, fn_given
    if op == "fwd" then
        fn = function(k) cc.causal_conv1d(xs[(k - 1) % sets + 1], weight, bias, o) end
        fn_given = function(k) cc.causal_conv1d(xs[(k - 1) % sets + 1], weight, bias, given) end
    else
        fn = function(k)
            local i = (k - 1) % sets + 1
            cc.causal_conv1d_backward(xs[i], weight, bias, douts[i], o)
        end
        fn_given = function(k)
            local i = (k - 1) % sets + 1
            cc.causal_conv1d_backward(xs[i], weight, bias, douts[i], given)
        end
    end
    local copy_fn, copy_bytes = cc.bench.copy(nbytes, { device = device, sets = sets })
    local st = cc.bench.compare({ op = fn, given = fn_given, copy = copy_fn },
        { device = device, warmup = warmup, ["repeat"] = nrep })
    return st.op, st.given, cc.bench.gbps(nbytes, st.op.median), cc.bench.gbps(copy_bytes, st.copy.median),
        100 * (nbytes / copy_bytes) * cc.bench.ratio(st.copy, st.op).median
end

local function run_conv()
    print("# causalconv vs PyTorch: causal depthwise conv1d, W=4, f32, SiLU, x (B, D, L) contiguous")
    print(cc.bench.describe(m))
    print(string.format("# timing:  median of %d samples after %d warm-up calls, each library in its own process,"
        .. " same thread count; both allocate outputs per call (out= ms: ours into a pre-allocated output)",
        nrep, warmup))
    print("# bytes:   fwd x+out, bwd x+dout+dx; copy GB/s = dst:copy_(src) moving the same bytes, same run;"
        .. " % copy = median of per-sample ratios")

    local columns = {
        { "shape", -18 }, { "op", -3 }, { "ours ms", 9, "%.3f" }, { "spread", 6, "%.0f%%" }, { "out= ms", 9, "%.3f" },
        { "torch ms", 9, "%.3f" }, { "spread", 6, "%.0f%%" }, { "speed-up", 8, "%.2fx" },
        { "ours GB/s", 9, "%.2f" }, { "copy GB/s", 9, "%.2f" }, { "% copy", 6, "%.0f%%" },
    }
    local rows = {}
    local torch_notes
    local bar = cc.bench.progress(#shapes * 2)
    local out_lines = { util.row(columns, nil) }
    bar:print(out_lines[1])
    for _, s in ipairs(shapes) do
        local name = string.format("B%d D%d L%d", s.B, s.D, s.L)
        bar:start(name .. " causalconv")
        local mine = {}
        for _, op in ipairs({ "fwd", "bwd" }) do
            local st, given, g, cg, pct = ours(s, op)
            mine[op] = { st = st, given = given, gbps = g, copy = cg, pct = pct }
            collectgarbage()
        end
        bar:step(name .. " torch")
        local t, notes = torch_times(s)
        torch_notes = torch_notes or notes
        for _, op in ipairs({ "fwd", "bwd" }) do
            local r = {
                shape = name, op = op, ms = mine[op].st.median, spread = mine[op].st.spread,
                given_ms = mine[op].given.median,
                torch_ms = t[op].median, torch_spread = t[op].spread, gbps = mine[op].gbps,
                copy_gbps = mine[op].copy,
            }
            r.speedup = r.torch_ms / r.ms
            r.pct = mine[op].pct
            rows[#rows + 1] = r
            bar:print(util.row(columns, { r.shape, op, r.ms, 100 * r.spread, r.given_ms, r.torch_ms,
                100 * r.torch_spread, r.speedup, r.gbps, r.copy_gbps, r.pct }))
        end
        bar:step()
    end
    bar:finish()
    for _, line in ipairs(torch_notes or {}) do print(line) end
    print("# load average at the end: " .. cc.bench.load())

    if opts.csv then
        local f = assert(io.open(opts.csv, "w"))
        -- the header row and the data rows only: the machine goes to <csv>.meta.txt
        util.write_meta(opts.csv, "# bench_torch conv: " .. opts.csv .. "\n" .. cc.bench.describe(m))
        f:write("shape,op,ours_ms,ours_spread,ours_out_ms,torch_ms,torch_spread,speedup,ours_gbps,copy_gbps,pct_copy\n")
        for _, r in ipairs(rows) do
            f:write(string.format("%s,%s,%.6f,%.4f,%.6f,%.6f,%.4f,%.3f,%.4f,%.4f,%.2f\n", r.shape, r.op, r.ms,
                r.spread, r.given_ms, r.torch_ms, r.torch_spread, r.speedup, r.gbps, r.copy_gbps, r.pct))
        end
        f:close()
        print("# csv:     " .. opts.csv .. " (machine: " .. opts.csv .. ".meta.txt)")
    end
end

-- ---- selective scan ----

-- PyTorch's scan on one shape: { seq = { fwd = stats, fwdbwd = stats }, pscan = ... } and the
-- '#' lines.
local function torch_scan_times(s)
    local cmd = string.format("%s %s --op scan --shapes %dx%dx%dx%d --device %s --threads %d --repeat %d"
        .. " --warmup 0 2>&1", shell_quote(python), shell_quote(script_dir .. "bench_torch.py"), s.Bt, s.Di, s.N,
        s.L, device, m.threads, scan_nrep)
    local p = assert(io.popen(cmd))
    local res, notes, all = { seq = {}, pscan = {} }, {}, {}
    for line in p:lines() do
        all[#all + 1] = line
        local variant, op, med, mn, mx, spread, inner =
            line:match("^RESULT scan (%a+) (%a+) %d+ %d+ %d+ %d+ (%S+) (%S+) (%S+) (%S+) (%d+)")
        if variant and res[variant] then
            res[variant][op] = { median = tonumber(med), min = tonumber(mn), max = tonumber(mx),
                                 spread = tonumber(spread), inner = tonumber(inner) }
        elseif line:match("^#") then
            notes[#notes + 1] = line
        end
    end
    p:close()
    for _, v in ipairs({ "seq", "pscan" }) do
        if not (res[v].fwd and res[v].fwdbwd) then
            util.die("bench_torch.py --op scan gave no results:\n" .. table.concat(all, "\n"), 1)
        end
    end
    return res, notes
end

-- Inputs like bench_torch.py's scan_inputs: A = -(n+1), delta_bias the inverse softplus of a
-- step size log-uniform in [1e-3, 1e-1], delta = 0.1 randn, D = 1.
local function scan_inputs(s)
    local topts = { dtype = "f32", device = device }
    local Bt, Di, N, L = s.Bt, s.Di, s.N, s.L
    local At, Dt, bt = {}, {}, {}
    for c = 1, Di do
        local row = {}
        for n = 1, N do row[n] = -n end
        At[c], Dt[c] = row, 1
        local dt = math.exp(math.random() * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        bt[c] = dt + math.log(-(math.exp(-dt) - 1))
    end
    local t = {
        u = cc.randn(Bt, Di, L, topts), delta = cc.randn(Bt, Di, L, topts) * 0.1,
        A = cc.tensor(At, topts), B = cc.randn(Bt, N, L, topts), C = cc.randn(Bt, N, L, topts),
        D = cc.tensor(Dt, topts), z = cc.randn(Bt, Di, L, topts), delta_bias = cc.tensor(bt, topts),
        dout = cc.randn(Bt, Di, L, topts),
    }
    t.opts = { D = t.D, z = t.z, delta_bias = t.delta_bias, delta_softplus = true }
    return t
end

-- ours: forward (cc.selective_scan), and forward + backward (cc.selective_scan, then
-- cc.selective_scan_backward), inputs rotated like bench_util.case.
local function ours_scan(s)
    local esize = 4
    local nbytes = (4 * s.Bt * s.Di * s.L + 2 * s.Bt * s.N * s.L) * esize   -- as bench_torch.py counts
    local fns = {}
    for _, op in ipairs({ "fwd", "fwdbwd" }) do
        local sets = cc.bench.rotation_sets(nbytes * (op == "fwdbwd" and 2 or 1), device)
        local ins = {}
        for i = 1, sets do ins[i] = scan_inputs(s) end
        if op == "fwd" then
            fns[op] = function(k)
                local t = ins[(k - 1) % sets + 1]
                cc.selective_scan(t.u, t.delta, t.A, t.B, t.C, t.opts)
            end
        else
            fns[op] = function(k)
                local t = ins[(k - 1) % sets + 1]
                cc.selective_scan(t.u, t.delta, t.A, t.B, t.C, t.opts)
                cc.selective_scan_backward(t.u, t.delta, t.A, t.B, t.C, t.dout, t.opts)
            end
        end
    end
    return cc.bench.compare(fns, { device = device, warmup = math.min(warmup, 1), ["repeat"] = scan_nrep })
end

local function run_scan(conv_ran)
    if conv_ran then print("") end
    print("# causalconv vs PyTorch: selective scan, f32, D, z, delta_bias, delta_softplus, B/C (Bt, N, L),"
        .. " inputs contiguous")
    if not conv_ran then print(cc.bench.describe(m)) end
    print(string.format("# timing:  median of %d samples, each library in its own process, %d threads each;"
        .. " ours after %d warm-up call(s), PyTorch's after its calibration call", scan_nrep, m.threads,
        math.min(warmup, 1)))
    print("# torch:   seq = selective_scan_ref's loop over L on (Bt, Di, N, L); pscan = Blelloch scan over L"
        .. " on (Bt, Di, L, N); fwdbwd = forward + autograd.grad w.r.t. all 8 inputs")
    print("# ours:    fwd = cc.selective_scan; fwdbwd = cc.selective_scan + cc.selective_scan_backward;"
        .. " speed-up = the faster PyTorch variant / ours")
    local columns = {
        { "shape", -24 }, { "op", -6 }, { "ours ms", 9, "%.2f" }, { "spread", 6, "%.0f%%" },
        { "seq ms", 9, "%.1f" }, { "pscan ms", 9, "%.1f" }, { "spread", 6, "%.0f%%" }, { "speed-up", 8, "%.2fx" },
        { "Gstate/s", 8, "%.2f" },
    }
    local rows, notes = {}, nil
    local bar = cc.bench.progress(#scan_shapes * 2)
    bar:print(util.row(columns, nil))
    for _, s in ipairs(scan_shapes) do
        local name = string.format("Bt%d Di%d N%d L%d", s.Bt, s.Di, s.N, s.L)
        bar:start(name .. " causalconv")
        local mine = ours_scan(s)
        collectgarbage()
        bar:step(name .. " torch")
        local t, n = torch_scan_times(s)
        notes = notes or n
        for _, op in ipairs({ "fwd", "fwdbwd" }) do
            local best = t.seq[op].median <= t.pscan[op].median and t.seq[op] or t.pscan[op]
            local r = { shape = name, op = op, ms = mine[op].median, spread = mine[op].spread,
                        seq_ms = t.seq[op].median, pscan_ms = t.pscan[op].median, torch_spread = best.spread,
                        best = best == t.seq[op] and "seq" or "pscan" }
            r.speedup = best.median / r.ms
            r.gstates = s.Bt * s.Di * s.N * s.L / (r.ms * 1e-3) / 1e9
            rows[#rows + 1] = r
            bar:print(util.row(columns, { r.shape, op, r.ms, 100 * r.spread, r.seq_ms, r.pscan_ms,
                100 * r.torch_spread, r.speedup, r.gstates }))
        end
        bar:step()
    end
    bar:finish()
    print("# spread: inter-quartile range / median (the second one: the faster PyTorch variant's);"
        .. " Gstate/s: ours, Bt*Di*N*L element-states per second")
    for _, line in ipairs(notes or {}) do print(line) end
    print("# load average at the end: " .. cc.bench.load())

    if opts.csv then
        local path = opts.op == "scan" and opts.csv or (opts.csv:gsub("%.csv$", "") .. "_scan.csv")
        local f = assert(io.open(path, "w"))
        util.write_meta(path, "# bench_torch selective scan: " .. path .. "\n" .. cc.bench.describe(m))
        f:write("shape,op,ours_ms,ours_spread,torch_seq_ms,torch_pscan_ms,torch_best,torch_spread,speedup,"
            .. "ours_gstates\n")
        for _, r in ipairs(rows) do
            f:write(string.format("%s,%s,%.6f,%.4f,%.6f,%.6f,%s,%.4f,%.3f,%.4f\n", r.shape, r.op, r.ms, r.spread,
                r.seq_ms, r.pscan_ms, r.best, r.torch_spread, r.speedup, r.gstates))
        end
        f:close()
        print("# csv:     " .. path .. " (machine: " .. path .. ".meta.txt)")
    end
end

if opts.op ~= "scan" then run_conv() end
if opts.op ~= "conv" then run_scan(opts.op ~= "scan") end
