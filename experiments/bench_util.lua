-- Script plumbing shared by experiments/sweep.lua and experiments/bench_torch.lua: command-line
-- options, thread pinning (must run before the library loads), device selection.
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

-- spec: { name = "flag" | "string" | "number" }. Accepts --name value and --name=value.
function util.parse_args(argv, spec, usage)
    local opts = {}
    local i = 1
    while argv and i <= #argv do
        local a = argv[i]
        local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
        if not name then name = a:match("^%-%-([%w%-]+)$") end
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

-- Returns device, emulated. Exits 1 with "no CUDA device available" when cuda was asked for and
-- neither a GPU nor the CPU emulation is there.
function util.select_device(cc, device)
    if device == "cpu" then return "cpu", false end
    local emulated = cc.cuda ~= nil and cc.cuda.is_emulated()
    if cc.cuda == nil or not (cc.cuda.is_available() or emulated) then
        util.die("no CUDA device available (library " .. tostring(require("causalconv.ffi").libpath) .. ")", 1)
    end
    return device, emulated
end

return util
