-- Shape sweep of the causal conv1d ops: time, GB/s of compulsory traffic, and that bandwidth as a
-- share of a plain tensor copy of the same bytes, measured in the same run, interleaved with the op.
--
--   luajit experiments/sweep.lua [options]          (or: make sweep ARGS="...")
--   luajit experiments/sweep.lua --help
--
-- Edit `cases` below to sweep your own shapes, or give them as flags (--B 8 --D 1024 --L 256,1024
-- --W 2-8 --dtype f32,bf16 --layout cf,cl --op fwd,bwd: the cross product of the values replaces
-- the table). Fields: op ("fwd", "bwd", "update", "varlen";
-- the selective scan's "scan", "scan_bwd", "state_update"),
-- B, D, L, W, dtype ("f32", "bf16", "f16", "f64"; x, weight and bias), layout ("cf" channel-first
-- (B, D, L) buffer, "cl" channel-last (B, L, D) buffer viewed as (B, D, L), "cf>cl" / "cl>cf" the
-- mixed layouts: x in the first, out in the second; bwd: x and dx in the first, dout in the
-- second), device (default: --device), act ("silu" default, or "none"), bias (false: none),
-- seq_idx (fwd, bwd: that many equal segments per row).
--   update: L is S, the new tokens per call; state_len (default W - 1) is the conv_state length.
--   varlen: B sequences of unequal lengths packed into L tokens in all (x is (L, D)).
-- Bytes counted (compulsory traffic): fwd and varlen read x, write out; bwd reads x and dout,
-- writes dx; update reads x, reads and writes conv_state, writes out. Every op adds its weight and
-- bias reads (and dweight, dbias writes for bwd).
-- The scan cases: B is Bt, D is Di, N the state size; D, z, delta_bias and softplus on, one group
-- of variable B/C. scan and scan_bwd are compute bound: they report element-states per second
-- (Bt * Di * L * N per call) next to the compute roof, a register-only micro-kernel doing the
-- forward's exp and FMAs per element-state on every thread, interleaved with the op like the copy.
-- On cuda they stand next to the device copy of their compulsory bytes (forward: u, delta, z, B, C
-- read, out written; backward: those and dout read, du, ddelta, dz, dB, dC written).
-- state_update counts x, dt, z, out, the state read and written, B, C, A, D and dt_bias.
local cases = {
    -- the target shape: f32, W=4, SiLU, B=8 D=1024 L=2048, both layouts, forward and backward
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl" },
    -- one sequence; a long one
    { op = "fwd", B = 1, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf" },
    { op = "fwd", B = 1, D = 512, L = 8192, W = 4, dtype = "f32", layout = "cf" },
    { op = "bwd", B = 1, D = 512, L = 8192, W = 4, dtype = "f32", layout = "cl" },
    -- other widths, no activation
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 2, dtype = "f32", layout = "cf", act = "none" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 8, dtype = "f32", layout = "cl" },
    -- the unrolled W = 2 and 3 taps of both layouts (their own kernel paths)
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 3, dtype = "f32", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 3, dtype = "f32", layout = "cl" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 2, dtype = "f32", layout = "cl", act = "none" },
    -- the widths' ends, no bias, seq_idx
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 1, dtype = "f32", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 16, dtype = "f32", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 16, dtype = "f32", layout = "cl" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf", bias = false },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf", seq_idx = 4 },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl", seq_idx = 4 },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl", seq_idx = 4 },
    -- the mixed layouts: channel-first x with channel-last out (what a (B, L, D) consumer wants,
    -- and ggml_ssm_conv's layout without bias and activation), and the reverse
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf>cl" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf>cl", act = "none", bias = false },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl>cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "bf16", layout = "cf>cl" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cf>cl" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f32", layout = "cl>cf" },
    -- bf16 and f16 (computed in f32)
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "bf16", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "bf16", layout = "cl" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "bf16", layout = "cl" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f16", layout = "cf" },
    { op = "fwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f16", layout = "cl" },
    { op = "bwd", B = 8, D = 1024, L = 2048, W = 4, dtype = "f16", layout = "cl" },
    -- decode: one and four new tokens per call
    { op = "update", B = 16, D = 2048, L = 1, W = 4, dtype = "f32" },
    { op = "update", B = 16, D = 2048, L = 4, W = 4, dtype = "f32", state_len = 8 },
    -- packed variable-length sequences
    { op = "varlen", B = 8, D = 1024, L = 16384, W = 4, dtype = "f32" },
    -- the selective scan (B is Bt, D is Di): the target shape, forward and backward, then bf16,
    -- channel-last u, a long sequence, and the decode step
    { op = "scan", B = 4, D = 512, N = 16, L = 1024, dtype = "f32" },
    { op = "scan_bwd", B = 4, D = 512, N = 16, L = 1024, dtype = "f32" },
    { op = "scan", B = 4, D = 512, N = 16, L = 1024, dtype = "bf16" },
    { op = "scan", B = 4, D = 512, N = 16, L = 1024, dtype = "f32", layout = "cl" },
    { op = "scan", B = 1, D = 1024, N = 16, L = 4096, dtype = "f32" },
    { op = "scan_bwd", B = 1, D = 1024, N = 16, L = 4096, dtype = "f32" },
    { op = "state_update", B = 64, D = 2048, N = 16, dtype = "f32" },
}

local script_dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
package.path = script_dir .. "../lua/?.lua;" .. script_dir .. "../lua/?/init.lua;"
    .. script_dir .. "?.lua;" .. package.path
local util = require("bench_util")

local usage = [[
usage: luajit experiments/sweep.lua [options]
  --device cpu|cuda   device for cases that name none (default cpu). With cuda and no GPU it
                      stops ("no CUDA device available"), unless the library is the CPU emulation
                      (CAUSALCONV_LIB=build/emu/libcausalconv.so): then it runs small shapes,
                      labelled EMULATED (not meaningful for speed)
  --op OPS            only these ops, comma separated (fwd,bwd,update,varlen,scan,scan_bwd,
                      state_update)
  --dtype DTYPES      only these dtypes (f32,f64,f16,bf16)
  --layout LAYOUTS    only these layouts (cf,cl,cf>cl,cl>cf; X>Y: x in X, out (bwd: dout) in Y)
  --case PATTERN      only cases whose name matches this Lua pattern
Shapes from flags instead of the case table (any of --B --D --L --W --N replaces the table with
the cross product of the values given; --op (default fwd), --dtype (f32), --layout (cf) and
--act then supply values rather than filter; unset sizes are the target shape's B 8, D 1024,
L 2048, W 4, N 16). Values: comma lists and inclusive ranges, e.g. --L 256,1024,4096 --W 2-8
  --B LIST --D LIST --L LIST --W LIST --N LIST
                      batch, channels, length (update: new tokens S; varlen: total tokens),
                      width, scan state size (scan ops; B is Bt and D is Di there)
  --act silu|none     activation of the flag-made conv cases (default silu)
  --quick             3 samples after 1 warm-up call (a smoke run)
  --repeat N          samples per case (default 11); the median is reported
  --warmup N          calls before timing (default 3)
  --threads N         OpenMP threads (default: the library's, i.e. OMP_NUM_THREADS or all cores)
  --no-pin            do not set OMP_PROC_BIND=close / OMP_PLACES=cores (set unless already set)
  --csv FILE          also write every number to FILE (CSV: a header row, then one row per case;
                      the machine lines go to FILE.meta.txt)
  --plot FILE         bar chart of GB/s per case next to the copy GB/s, p25-p75 error bars
                      (needs gnuplot): SVG when FILE ends in .svg, PNG otherwise
  --help              this text
Environment: CAUSALCONV_LIB selects the library (default build/libcausalconv.so).]]

local opts = util.parse_args(arg, {
    device = "string", op = "string", dtype = "string", layout = "string", case = "string",
    quick = "flag", ["repeat"] = "number", warmup = "number", threads = "number",
    ["no-pin"] = "flag", csv = "string", plot = "string", help = "flag",
    B = "string", D = "string", L = "string", W = "string", N = "string", act = "string",
}, usage)
if opts.help then print(usage); os.exit(0) end

-- Check every value before the library loads, so a typo costs no warm-up.
local OPS = { "fwd", "bwd", "update", "varlen", "scan", "scan_bwd", "state_update" }
local list_op = opts.op and util.list("op", opts.op, OPS)
local list_dtype = opts.dtype and util.list("dtype", opts.dtype, { "f32", "f64", "f16", "bf16" })
local list_layout = opts.layout and util.list("layout", opts.layout, { "cf", "cl", "cf>cl", "cl>cf" })
local list_act = opts.act and util.list("act", opts.act, { "silu", "none" })
if opts.case then util.check_pattern("case", opts.case) end
local sizes, from_flags = {}, false
for _, k in ipairs({ "B", "D", "L", "W", "N" }) do
    if opts[k] then sizes[k] = util.int_list(k, opts[k]); from_flags = true end
end
if list_act and not from_flags then util.die("--act: only with shape flags (--B --D --L --W --N)", 2) end
if from_flags then
    -- the cross product of the flags' values replaces the case table
    local DEFAULT = { B = { 8 }, D = { 1024 }, L = { 2048 }, W = { 4 }, N = { 16 } }
    for k, v in pairs(DEFAULT) do sizes[k] = sizes[k] or v end
    local function is_scan(c) return c.op == "scan" or c.op == "scan_bwd" or c.op == "state_update" end
    cases = util.cross({
        { "op", list_op or { "fwd" } }, { "dtype", list_dtype or { "f32" } }, { "layout", list_layout or { "cf" } },
        { "act", list_act or { "silu" } }, { "B", sizes.B }, { "D", sizes.D },
        { "L", function(c) return c.op == "state_update" and { false } or sizes.L end },
        { "W", function(c) return is_scan(c) and { 4 } or sizes.W end },
        { "N", function(c) return is_scan(c) and sizes.N or { false } end },
    })
    for _, c in ipairs(cases) do c.L, c.N = c.L or nil, c.N or nil end   -- false: the op has no such size
    list_op, list_dtype, list_layout = nil, nil, nil   -- values, not filters
end
opts.device = opts.device or "cpu"
if opts.device ~= "cpu" and not opts.device:match("^cuda") then
    util.die("--device: expected cpu or cuda, got " .. opts.device, 2)
end

if not opts["no-pin"] then util.pin_threads() end
local cc = require("causalconv")
local device, emulated = util.select_device(cc, opts.device)
if opts.threads then cc.set_num_threads(opts.threads) end
if cc.manual_seed then cc.manual_seed(20240601) end

local nrep = opts["repeat"] or (opts.quick and 3 or 11)
local warmup = opts.warmup or (opts.quick and 1 or 3)

local function set_of(list)
    if not list then return nil end
    local s = {}
    for _, v in ipairs(list) do s[v] = true end
    return s
end
local want_op, want_dtype, want_layout = set_of(list_op), set_of(list_dtype), set_of(list_layout)

-- Select, fill in defaults, shrink for the emulation, name (the same name once: flag-made cases of
-- ops without a layout repeat).
local run, seen = {}, {}
for _, c0 in ipairs(cases) do
    local c = {}
    for k, v in pairs(c0) do c[k] = v end
    c.W = c.W or 4
    c.dtype = c.dtype or "f32"
    c.act = c.act or "silu"
    c.device = c.device or device
    if c.op == "varlen" then c.layout = "cl" end
    if c.op == "update" or c.op == "state_update" then c.layout = "cf" end
    c.layout = c.layout or "cf"
    if emulated then c.B, c.D, c.L = math.min(c.B, 2), math.min(c.D, 64), c.L and math.min(c.L, 256) end
    c.name = util.case_name(c)
    if opts.case then util.check_pattern("case", opts.case, { c.name }) end
    if (not want_op or want_op[c.op]) and (not want_dtype or want_dtype[c.dtype])
        and (not want_layout or want_layout[c.layout])
        and (not opts.case or c.name:find(opts.case)) and not seen[c.name] then
        run[#run + 1] = c
        seen[c.name] = true
    end
end
if #run == 0 then util.die("no case matches the filters (--op, --dtype, --layout, --case)", 2) end

local m = cc.bench.machine(device)
print("# causalconv shape sweep" .. (emulated and " -- EMULATED CUDA: not meaningful for speed" or ""))
print(cc.bench.describe(m))
print(string.format("# timing:  median of %d samples after %d warm-up calls; spread = IQR / median;"
    .. " op and copy interleaved", nrep, warmup))
print("# bytes:   fwd/varlen x+out, bwd x+dout+dx, update x+out+2*state; plus weight, bias (and grads)")
print("# copy:    dst:copy_(src) moving the same bytes (read + write), same device, same run;"
    .. " % copy = median over samples of op GB/s / the adjacent copy sample's GB/s")
if device == "cpu" then
    local fn, bytes = cc.bench.memcpy(64 * 2 ^ 20)
    local s = cc.bench.time(fn, { warmup = 2, ["repeat"] = 5 })
    print(string.format("# memcpy:  %.1f GB/s (64 MiB, 1 thread; a sanity check of the copy baseline)",
        cc.bench.gbps(bytes, s.median)))
end

-- Memory-bound cases first (against the copy), then the compute-bound scan (against the roof).
local by_bytes, by_elements = {}, {}
for _, c in ipairs(run) do
    local list = (c.op == "scan" or c.op == "scan_bwd") and c.device == "cpu" and by_elements or by_bytes
    list[#list + 1] = c
end
run = {}
for _, c in ipairs(by_bytes) do run[#run + 1] = c end
for _, c in ipairs(by_elements) do run[#run + 1] = c end
if device == "cpu" then
    print("# roof:    conv rows also stand next to their compute roof (cc.bench.conv_roof: the fast kernels'"
        .. " row arithmetic, L1-resident rows, all threads) as GB/s of their bytes; % bound = GB/s / the lower"
        .. " of copy and roof")
end
if #by_elements > 0 then
    print("# roof:    scan rows count element-states (Bt*Di*L*N) per second, G/s, against the compute roof"
        .. " (cc.bench.scan_roof: the forward's exp + 2 FMA per element-state in registers, all threads)")
end

local copy_columns = {
    { "case", -44 }, { "ms", 9, "%.3f" }, { "spread", 6, "%.0f%%" }, { "GB/s", 7, "%.2f" },
    { "copy GB/s", 9, "%.2f" }, { "% copy", 6, "%.0f%%" }, { "roof GB/s", 9, "%.2f" }, { "% bound", 7, "%.0f%%" },
}
local roof_columns = {
    { "case", -44 }, { "ms", 9, "%.3f" }, { "spread", 6, "%.0f%%" }, { "Gel/s", 7, "%.2f" },
    { "roof Gel/s", 10, "%.2f" }, { "% roof", 6, "%.0f%%" },
}
local columns

-- The CPU conv rows' second limit: the fast kernels' row arithmetic on L1-resident rows
-- (cc.bench.conv_roof) for the case's element count, as the GB/s its bytes would move at that
-- speed. Measured once per (forward or backward, width, activation); the backward roof has W = 4.
local conv_roofs = {}
local function conv_roof_rate(c, bytes)
    local conv_op = c.op == "fwd" or c.op == "varlen" or (c.op == "bwd" and c.W == 4)
    if c.device ~= "cpu" or not conv_op then return nil end
    local key = string.format("%s %d %s", c.op == "bwd" and "bwd" or "fwd", c.W, c.act)
    if not conv_roofs[key] then
        local n = 2 ^ 24
        local fn = cc.bench.conv_roof(n, { width = c.W, activation = c.act == "silu" and "silu" or nil,
            backward = c.op == "bwd" })
        conv_roofs[key] = n / (cc.bench.time(fn, { warmup = 2, ["repeat"] = nrep }).median * 1e-3)
    end
    local elements = c.op == "varlen" and c.L * c.D or c.B * c.D * c.L
    return conv_roofs[key] * bytes / elements / 1e9
end

local results = {}
local bar = cc.bench.progress(#run)
for i, c in ipairs(run) do
    bar:start(c.name)
    local bench_case = util.case(c)
    local per_roof = bench_case.elements ~= nil and c.device == "cpu"
    if columns ~= (per_roof and roof_columns or copy_columns) then
        columns = per_roof and roof_columns or copy_columns
        bar:print(util.row(columns, nil))
    end
    local limit_fn, limit_amount
    if per_roof then
        limit_fn, limit_amount = cc.bench.scan_roof(bench_case.elements, { device = c.device })
    else
        limit_fn, limit_amount = cc.bench.copy(bench_case.bytes, { device = c.device, sets = bench_case.sets })
    end
    local st = cc.bench.compare({ op = bench_case.fn, limit = limit_fn },
        { device = c.device, warmup = warmup, ["repeat"] = nrep })
    local amount = per_roof and bench_case.elements or bench_case.bytes
    local r = {
        case = c, ms = st.op.median, min = st.op.min, max = st.op.max, spread = st.op.spread,
        unit = per_roof and "Gel/s" or "GB/s", limit_name = per_roof and "roof" or "copy",
        rate = cc.bench.gbps(amount, st.op.median),
        limit_rate = cc.bench.gbps(limit_amount, st.limit.median),
        limit_spread = st.limit.spread, amount = amount, inner = st.op.inner,
        -- the plot's error bars: the rates at the p75 and p25 times
        rate_lo = cc.bench.gbps(amount, st.op.p75), rate_hi = cc.bench.gbps(amount, st.op.p25),
        limit_lo = cc.bench.gbps(limit_amount, st.limit.p75), limit_hi = cc.bench.gbps(limit_amount, st.limit.p25),
    }
    -- Each op sample against the limit sample taken next to it, then the median of those ratios.
    r.pct = 100 * (amount / limit_amount) * cc.bench.ratio(st.limit, st.op).median
    if not per_roof then
        r.roof_rate = conv_roof_rate(c, bench_case.bytes)
        r.pct_bound = r.roof_rate and 100 * r.rate / math.min(r.limit_rate, r.roof_rate)
    end
    results[i] = r
    bench_case = nil
    collectgarbage()
    bar:print(util.row(columns, { c.name, r.ms, 100 * r.spread, r.rate, r.limit_rate, r.pct, r.roof_rate or "-",
        r.pct_bound or "-" }))
    bar:step()
end
bar:finish()
print("# load average at the end: " .. cc.bench.load())
if emulated then print("# EMULATED: the CUDA kernels ran on the CPU emulation; these times say nothing about a GPU") end

if opts.csv then
    local f = assert(io.open(opts.csv, "w"))
    -- only the header row and the data rows: the machine goes to the sidecar <csv>.meta.txt
    local meta = util.write_meta(opts.csv, "# causalconv shape sweep: " .. opts.csv
        .. (emulated and " -- EMULATED CUDA: not meaningful for speed" or "") .. "\n" .. cc.bench.describe(m)
        .. string.format("\n# timing:  median of %d samples after %d warm-up calls; spread = IQR / median", nrep, warmup)
        .. "\n# command: luajit experiments/sweep.lua " .. table.concat(arg, " "))
    -- amount is bytes (unit GB/s, limit copy) or element-states (unit Gel/s, limit roof)
    -- roof_rate, pct_bound: the CPU conv rows' compute roof in GB/s and the rate as % of the lower
    -- of copy and roof (empty for other rows)
    f:write("case,op,B,D,L,W,N,dtype,layout,device,act,ms_median,ms_min,ms_max,spread,amount,unit,rate,",
        "limit,limit_rate,limit_spread,pct_limit,calls_per_sample,samples,threads,roof_rate,pct_bound\n")
    for _, r in ipairs(results) do
        local c = r.case
        f:write(string.format("%s,%s,%d,%d,%d,%d,%d,%s,%s,%s,%s,%.6f,%.6f,%.6f,%.4f,%d,%s,%.4f,%s,%.4f,%.4f,%.2f,%d,%d,%d,%s,%s\n",
            c.name, c.op, c.B, c.D, c.L or 1, c.W, c.N or 0, c.dtype, c.layout, c.device, c.act, r.ms, r.min, r.max,
            r.spread, r.amount, r.unit, r.rate, r.limit_name, r.limit_rate, r.limit_spread, r.pct, r.inner, nrep,
            m.threads, r.roof_rate and string.format("%.4f", r.roof_rate) or "",
            r.pct_bound and string.format("%.2f", r.pct_bound) or ""))
    end
    f:close()
    print("# csv:     " .. opts.csv .. " (machine: " .. meta .. ")")
end

if opts.plot then
    for _, r in ipairs(results) do r.name = r.case.name end
    local ok, err = util.plot(opts.plot, results,
        string.format("causalconv %s, %s, %d threads, %s", device,
            emulated and "EMULATED" or (m.gpu or m.cpu), m.threads, m.date:sub(1, 10)))
    if ok then print("# plot:    " .. opts.plot) else io.stderr:write("sweep: --plot: ", err, "\n") end
end
