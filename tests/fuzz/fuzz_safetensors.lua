-- In-process fuzzer of cc.load_safetensors (run from the repository root; tests/fuzz/run_fuzz_safetensors.sh
-- runs it against the ASan + UBSan library). It builds a few seed files, then for SECONDS seconds
-- mutates them (bit flips, byte sets, truncation, appended bytes, header-size edits, edits of
-- the JSON header's numbers, strings and punctuation, with the header size fixed up or not),
-- writes each input to one file and loads it under pcall. Every call must either
--   * return tensors that agree with the file: exactly the header's tensors, each with the
--     header's dtype and shape, numel * itemsize == end - begin, and the bytes at
--     8 + N + begin .. 8 + N + end of the file; the metadata equal to the header's; or
--   * raise a Lua error string that contains "load_safetensors: <path>: ".
-- Anything else (a non-string error, an error without the path, a wrong tensor) is a failure:
-- the input is copied to OUTDIR/failure-<k>.safetensors. A crash kills the process; the input
-- that killed it stays where the fuzzer says at its start (/dev/shm/causalconv-fuzz.*/input.safetensors,
-- or OUTDIR/input.safetensors without /dev/shm). Ends with "1 passed, 0 failed" (or "0 passed, 1 failed").
--
-- Environment: SAFETENSORS_FUZZ_SECONDS (else a third of FUZZ_SECONDS, else 8), FUZZ_SEED
-- (default: the time), FUZZ_OUTDIR (default build/fuzz/safetensors), FUZZ_VERBOSE=1 (list the
-- kinds of error message seen: which checks the mutants reached).
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
local cc = require "causalconv"
local cjson = require "cjson"
local ffi = cc.ffi

local function env_number(name) local v = os.getenv(name); return v and v ~= "" and tonumber(v) or nil end
local SECONDS = env_number("SAFETENSORS_FUZZ_SECONDS")
    or (env_number("FUZZ_SECONDS") and math.max(1, math.ceil(env_number("FUZZ_SECONDS") / 3))) or 8
local SEED = env_number("FUZZ_SEED") or os.time()
local OUTDIR = os.getenv("FUZZ_OUTDIR") or "build/fuzz/safetensors"
os.execute("mkdir -p '" .. OUTDIR .. "'")
-- Inputs are written to a fresh directory on /dev/shm when there is one: creating a file there
-- costs microseconds, on a disk file system up to milliseconds (most of the run).
local function make_workdir()
    local p = io.popen("mktemp -d -p /dev/shm causalconv-fuzz.XXXXXX 2>/dev/null")
    local d = p and p:read("*l")
    if p then p:close() end
    if d and d ~= "" then return d, true end
    return OUTDIR, false
end
local WORKDIR, WORKDIR_TEMP = make_workdir()
local INPUT = WORKDIR .. "/input.safetensors"

math.randomseed(SEED)
local random = math.random
local char, byte, fmt = string.char, string.byte, string.format

local json = cjson.new()   -- the oracle's own decoder
json.decode_invalid_numbers(false)

local function u64(n)
    local b = {}
    for i = 1, 8 do b[i] = char(n % 256); n = math.floor(n / 256) end
    return table.concat(b)
end

local function read_all(path)
    local f = assert(io.open(path, "rb")); local s = f:read("*a"); f:close(); return s
end

local function write_all(path, s)
    local f = assert(io.open(path, "wb")); assert(f:write(s)); assert(f:close())
end

------------------------------------------------------------------------------------------------
-- seeds

local seeds = {}
do
    cc.manual_seed(SEED % 2 ^ 32)
    local tmp = OUTDIR .. "/seed.safetensors"
    local function saved(tensors, meta)
        cc.save_safetensors(tensors, tmp, meta)
        seeds[#seeds + 1] = read_all(tmp)
    end
    saved({ w = cc.randn(2, 3), b = cc.randn(3, { dtype = "f64" }) }, { format = "pt" })
    saved({ { "h", cc.randn(3):half() }, { "x", cc.randn(2, 2):bfloat16() }, { "i", cc.arange(0, 5):int() },
            { "l", cc.arange(0, 3):long() }, { "s", cc.tensor(1.5) }, { "z", cc.zeros(0, 3) } })
    saved({ only = cc.ones(1) })
    saved({}, { k = "v", note = "metadata only" })
    os.remove(tmp)
    local header = '{ "a": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]},\n "b": {"shape": [1, 2], '
        .. '"data_offsets": [3, 11], "dtype": "I32"}, "__metadata__": {"x": "y"} }'
    seeds[#seeds + 1] = u64(#header) .. header .. "abc" .. ("\1\0\0\0\255\255\255\127")
end

------------------------------------------------------------------------------------------------
-- mutations

local function header_len(s)
    if #s < 8 then return nil end
    local n = 0
    for i = 8, 1, -1 do n = n * 256 + byte(s, i) end
    return n
end

local INTERESTING_BYTES = { 0, 255, 127, 128, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x2d, 0x30, 0x31, 0x39,
                            0x20, 0x0a, 0x5c, 0x2e, 0x65, 0xc3, 0xed, 0xf4 }
local NUMBERS = { "0", "1", "-1", "2", "3", "4", "7", "8", "12", "24", "255", "4096", "1.5", "-0", "1e3", "1e400",
                  "9007199254740991", "9007199254740992", "9007199254740993", "18446744073709551615",
                  "4294967296", "-9007199254740992", "0.0", "1E2", "99999999999999999999999" }
local STRINGS = { '"F32"', '"F64"', '"F16"', '"BF16"', '"I32"', '"I64"', '"U8"', '"BOOL"', '"U64"', '"F8_E4M3"',
                  '"XX"', '""', '"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"extra"', '"a"',
                  '"\\u0000"', '"\\ud800"', '"\255"', '"é"' }
local TOKENS = { "null", "true", "false", "[]", "{}", "[0]", "[0,0]", "[1,2,3]", '{"k":"v"}', ",", ":", '"', "[", "]",
                 "{", "}", " ", "\n", "NaN", "-", ("["):rep(20), '"__metadata__":{}', '"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' }

local function pick(t) return t[random(#t)] end

local function set_header_len(s, n)
    if #s < 8 then return s end
    return u64(n) .. s:sub(9)
end

-- the header text and the rest of a file (nil when the header size is not usable)
local function split(s)
    local n = header_len(s)
    if not n or n > #s - 8 then return nil end
    return s:sub(9, 8 + n), s:sub(9 + n)
end

-- an edit of the JSON text; the header size is fixed up afterwards most of the time
local function edit_json(s)
    local h, rest = split(s)
    if not h or #h == 0 then return s end
    local r = random(8)
    if r == 7 then       -- shift one tensor's data_offsets, keeping its size (overlaps, holes)
        local spans = {}
        for a, x, y, b in h:gmatch('()"data_offsets"%s*:%s*%[%s*(%d+)%s*,%s*(%d+)%s*%]()') do
            spans[#spans + 1] = { a, tonumber(x), tonumber(y), b }
        end
        if #spans > 0 then
            local sp = pick(spans)
            local d = pick { -8, -4, -2, -1, 1, 2, 4, 8, random(-64, 64) }
            h = h:sub(1, sp[1] - 1) .. fmt('"data_offsets":[%d,%d]', sp[2] + d, sp[3] + d) .. h:sub(sp[4])
        end
    elseif r == 8 then   -- a string token -> a value of another type
        local spans = {}
        for a, b in h:gmatch('()"[^"]*"()') do spans[#spans + 1] = { a, b } end
        if #spans > 0 then
            local sp = pick(spans)
            h = h:sub(1, sp[1] - 1) .. pick { "null", "1", "true", "[]", "{}", '["x"]', '{"a":"b"}' } .. h:sub(sp[2])
        end
    elseif r == 1 then       -- a number token -> another number
        local spans = {}
        for a, b in h:gmatch("()%-?%d[%d%.eE+%-]*()") do spans[#spans + 1] = { a, b } end
        if #spans > 0 then
            local sp = pick(spans)
            h = h:sub(1, sp[1] - 1) .. pick(NUMBERS) .. h:sub(sp[2])
        end
    elseif r == 2 then   -- a string token -> another string
        local spans = {}
        for a, b in h:gmatch('()"[^"]*"()') do spans[#spans + 1] = { a, b } end
        if #spans > 0 then
            local sp = pick(spans)
            h = h:sub(1, sp[1] - 1) .. pick(STRINGS) .. h:sub(sp[2])
        end
    elseif r == 3 then   -- insert a token
        local at = random(#h + 1)
        h = h:sub(1, at - 1) .. pick(TOKENS) .. h:sub(at)
    elseif r == 4 then   -- delete a span
        local a = random(#h)
        local b = math.min(#h, a + random(0, 12))
        h = h:sub(1, a - 1) .. h:sub(b + 1)
    elseif r == 5 then   -- duplicate a span
        local a = random(#h)
        local b = math.min(#h, a + random(0, 40))
        h = h:sub(1, b) .. h:sub(a, b) .. h:sub(b + 1)
    else                 -- swap two data_offsets / shape lists
        local lists = {}
        for a, b in h:gmatch("()%[[^%[%]]*%]()") do lists[#lists + 1] = { a, b } end
        if #lists >= 2 then
            local i, j = random(#lists), random(#lists)
            if i > j then i, j = j, i end
            if i ~= j then
                local x, y = lists[i], lists[j]
                h = h:sub(1, x[1] - 1) .. h:sub(y[1], y[2] - 1) .. h:sub(x[2], y[1] - 1) .. h:sub(x[1], x[2] - 1)
                    .. h:sub(y[2])
            end
        end
    end
    local n = header_len(s)
    if random(5) > 1 then n = #h end
    return u64(n) .. h .. rest
end

local function mutate_once(s)
    local r = random(14)
    if r <= 3 or r > 10 then return edit_json(s) end
    if r == 4 and #s > 0 then      -- flip bits
        for _ = 1, random(4) do
            local i = random(#s)
            s = s:sub(1, i - 1) .. char(bit.bxor(byte(s, i), bit.lshift(1, random(0, 7)))) .. s:sub(i + 1)
        end
        return s
    end
    if r == 5 and #s > 0 then      -- set a byte
        local i = random(#s)
        return s:sub(1, i - 1) .. char(pick(INTERESTING_BYTES)) .. s:sub(i + 1)
    end
    if r == 6 then                 -- truncate
        return s:sub(1, random(0, #s))
    end
    if r == 7 then                 -- append bytes
        local t = {}
        for i = 1, random(1, 16) do t[i] = char(random(0, 255)) end
        return s .. table.concat(t)
    end
    if r == 8 then                 -- a header size edit
        local n = header_len(s) or 0
        local choices = { n + random(-8, 8), 0, #s, #s - 8, #s - 7, 2 ^ 53, 2 ^ 64 - 1, 100000000, 100000001, random(0, 2 ^ 32) }
        local v = math.max(0, pick(choices))
        return set_header_len(s, v)
    end
    if r == 9 and #s > 8 then      -- a byte of the data section or the header, random value
        local i = random(9, #s)
        return s:sub(1, i - 1) .. char(random(0, 255)) .. s:sub(i + 1)
    end
    return edit_json(edit_json(s))
end

local function mutate(s)
    for _ = 1, random(3) do s = mutate_once(s) end
    return s
end

------------------------------------------------------------------------------------------------
-- the oracle

local ST = { F32 = "f32", F64 = "f64", F16 = "f16", BF16 = "bf16", I32 = "i32", I64 = "i64" }

-- The names of a table, sorted. The oracle never nests pairs() loops: Debian's LuaJIT
-- 2.1.0-beta3 (git 2022-03-20) has LuaJIT bug #827, where a compiled inner pairs() loop can end
-- the outer one early (an earlier version of this oracle, with nested loops, hit it after about
-- 250 000 inputs and reported tensors "missing" that were there).
local function names_of(t)
    local list = {}
    for k in pairs(t) do list[#list + 1] = k end
    table.sort(list, function(a, b) return tostring(a) < tostring(b) end)
    return list
end

local function quoted(list)
    local q = {}
    for i, v in ipairs(list) do q[i] = fmt("%q", tostring(v)) end
    return table.concat(q, " ")
end

-- nil when the result agrees with the file s, else what is wrong
local function check_result(s, tensors, meta)
    if type(tensors) ~= "table" or type(meta) ~= "table" then return "did not return two tables" end
    local n = header_len(s)
    local ok, doc = pcall(json.decode, s:sub(9, 8 + n))
    if not ok or type(doc) ~= "table" then return "loaded a file whose header does not decode: " .. tostring(doc) end
    local base = 8 + n
    local want_meta = doc.__metadata__ or {}
    local mk, wk = names_of(meta), names_of(want_meta)
    if quoted(mk) ~= quoted(wk) then return "metadata keys differ: " .. quoted(mk) .. " for " .. quoted(wk) end
    for _, k in ipairs(mk) do if meta[k] ~= want_meta[k] then return fmt("metadata %q differs", k) end end
    local names = {}
    for _, name in ipairs(names_of(doc)) do if name ~= "__metadata__" then names[#names + 1] = name end end
    local got = names_of(tensors)
    if quoted(got) ~= quoted(names) then return "tensor names differ: loaded " .. quoted(got) .. ", header " .. quoted(names) end
    for _, name in ipairs(names) do
        local e, t = doc[name], tensors[name]
        if not cc.is_tensor(t) then return fmt("tensor %q is not a tensor", name) end
        if t:dtype() ~= ST[e.dtype] then return fmt("tensor %q: dtype %s for %s", name, t:dtype(), tostring(e.dtype)) end
        local size = t:size()
        if #size ~= #e.shape then return fmt("tensor %q: %d dims for %d", name, #size, #e.shape) end
        for i = 1, #size do if size[i] ~= e.shape[i] then return fmt("tensor %q: size %d differs", name, i) end end
        local b, stop = e.data_offsets[1], e.data_offsets[2]
        local nbytes = t:numel() * t:element_size()
        if nbytes ~= stop - b then return fmt("tensor %q: %d bytes for data_offsets [%d, %d]", name, nbytes, b, stop) end
        if base + stop > #s then return fmt("tensor %q: data past the end of the file", name) end
        if not t:is_contiguous() or t:device() ~= "cpu" then return fmt("tensor %q: not a contiguous cpu tensor", name) end
        if nbytes > 0 and ffi.string(t:data_ptr(), nbytes) ~= s:sub(base + b + 1, base + stop) then
            return fmt("tensor %q: bytes differ from the file's", name)
        end
    end
    return nil
end

------------------------------------------------------------------------------------------------
-- the loop

print(fmt("fuzz-safetensors: %s, %d seeds, seed %d, %ds; library %s", "cc.load_safetensors", #seeds, SEED, SECONDS, cc.libpath))
print("fuzz-safetensors: a crash leaves the input that caused it in " .. INPUT)

local prefix = "load_safetensors: " .. INPUT .. ": "
local execs, loaded, rejected, failures = 0, 0, 0, 0
local kinds, nkinds = {}, 0
local pool = {}
for i, s in ipairs(seeds) do pool[i] = s end
local now = cc.bench.now
local t0, c0 = now(), os.clock()
local deadline = t0 + SECONDS
while now() < deadline do
    for _ = 1, 50 do
        local input = mutate(pick(pool))
        write_all(INPUT, input)
        execs = execs + 1
        local ok, tensors, meta = pcall(cc.load_safetensors, INPUT)
        local problem
        if ok then
            loaded = loaded + 1
            problem = check_result(input, tensors, meta)
            -- a loadable mutant is a good seed for more
            if not problem and #pool < 200 then pool[#pool + 1] = input end
        elseif type(tensors) ~= "string" then
            problem = "raised a " .. type(tensors) .. " instead of a string"
        elseif not tensors:find(prefix, 1, true) then
            problem = "error without the file's path: " .. tensors
        else
            rejected = rejected + 1
            local kind = tensors:sub(tensors:find(prefix, 1, true) + #prefix):gsub('"[^"]*"', "S"):gsub("0x%x+", "N")
                :gsub("%d+", "N"):sub(1, 48)
            if not kinds[kind] then kinds[kind] = true; nkinds = nkinds + 1 end
        end
        if problem then
            failures = failures + 1
            local keep = fmt("%s/failure-%d.safetensors", OUTDIR, failures)
            write_all(keep, input)
            print(fmt("fuzz-safetensors: FAILURE %d at execution %d: %s (input kept as %s)", failures, execs, problem, keep))
            if failures >= 10 then break end
        end
    end
    if failures >= 10 then break end
    if execs % 2000 == 0 then collectgarbage() end
end
os.remove(INPUT)
if WORKDIR_TEMP then os.remove(WORKDIR) end
if os.getenv("FUZZ_VERBOSE") == "1" then
    local list = {}
    for k in pairs(kinds) do list[#list + 1] = k end
    table.sort(list)
    for _, k in ipairs(list) do print("  rejected: " .. k) end
end
local wall, cpu = now() - t0, os.clock() - c0
print(fmt("fuzz-safetensors: %d executions in %.1f s (%.0f/s; %.1f s of CPU time): %d loaded and checked, "
          .. "%d rejected with %d distinct kinds of message; %d loadable inputs in the pool",
          execs, wall, execs / wall, cpu, loaded, rejected, nkinds, #pool))
if failures == 0 then
    print("1 passed, 0 failed")
    os.exit(0)
end
print(fmt("fuzz-safetensors: %d failing inputs under %s", failures, OUTDIR))
print("0 passed, 1 failed")
os.exit(1)
