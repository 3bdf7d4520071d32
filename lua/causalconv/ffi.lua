-- The one place that talks to LuaJIT's FFI machinery: declares the C API (once per process)
-- and loads the library (once per process), then hands out
--   ffi    LuaJIT's ffi module
--   C      the loaded library namespace (C.cc_tensor_empty, C.CC_F32, ...)
--   check(status [, level])  raise cc_last_error() when status ~= CC_OK (and "interrupted" after
--                            a Ctrl-C in the REPL)
--   raise(msg [, level])     raise msg blaming the user's line
--   libpath                  the file that was loaded
--   profile                  {enabled, calls, seconds, by_name, reset()}: time inside C calls when
--                            $CC_PROFILE_C=1 (see below)
--
-- Blame: with no level, the error points at the first stack frame outside lua/causalconv/*.lua,
-- i.e. the user's script line, however deep inside the binding the check sits. A number level
-- works as in error(): 1 = the function calling check/raise, 2 = its caller, ...
--
-- Declarations: the blocks between the CC_API_BEGIN and CC_API_END lines of kernels/enums.h (the
-- codes) and core/causalconv.h (the functions) go to ffi.cdef as they are, so the API is written
-- down exactly once. The headers are found relative to this file (../../kernels, ../../core).
--
-- Library search order (the first that exists is loaded; a failure lists every path tried):
--   1. $CAUSALCONV_LIB (when set, it is the only candidate: an explicit choice is never
--      silently replaced by another build)
--   2. package.searchpath("libcausalconv", package.cpath)
--   3. <repo>/build/libcausalconv.so, relative to this file
--
-- REPL reloads: init.lua and the other modules may be re-required freely; this module keeps the
-- loaded library and is never cleared by reload helpers. The cdef is guarded by ffi.typeof, so
-- even a forced reload of this file does not redefine the types.
local ffi = require "ffi"

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local repo = here .. "../../"

local function read_api_block(path)
    local f, err = io.open(path, "r")
    if not f then
        error("causalconv: cannot read the C API header " .. path .. " (" .. tostring(err) .. ")", 0)
    end
    local text = f:read("*a")
    f:close()
    local block = text:match("/%* CC_API_BEGIN %*/\n(.-)/%* CC_API_END %*/")
    if not block then
        error("causalconv: " .. path .. " has no CC_API_BEGIN ... CC_API_END block", 0)
    end
    return block
end

if not pcall(ffi.typeof, "cc_tensor") then
    ffi.cdef(read_api_block(repo .. "kernels/enums.h"))
    ffi.cdef(read_api_block(repo .. "core/causalconv.h"))
end

local function file_exists(path)
    local f = io.open(path, "rb")
    if f then f:close() end
    return f ~= nil
end

local function load_library()
    local candidates = {}
    local env = os.getenv("CAUSALCONV_LIB")
    if env and env ~= "" then
        candidates[1] = { path = env, why = "$CAUSALCONV_LIB" }
    else
        local found = package.searchpath("libcausalconv", package.cpath)
        if found then
            candidates[#candidates + 1] = { path = found, why = "package.cpath" }
        end
        candidates[#candidates + 1] = { path = repo .. "build/libcausalconv.so", why = "repo build dir" }
    end
    local tried = {}
    for _, c in ipairs(candidates) do
        if file_exists(c.path) then
            local ok, lib = pcall(ffi.load, c.path)
            if ok then return lib, c.path end
            tried[#tried + 1] = string.format("  %s (%s): %s", c.path, c.why, tostring(lib))
        else
            tried[#tried + 1] = string.format("  %s (%s): no such file", c.path, c.why)
        end
    end
    if not (env and env ~= "") then
        tried[#tried + 1] = "  package.cpath: no libcausalconv in " .. package.cpath
    end
    error("causalconv: cannot load libcausalconv.so; tried:\n" .. table.concat(tried, "\n")
          .. "\nrun `make` in the repository root (or set CAUSALCONV_LIB=/path/to/libcausalconv.so)", 0)
end

local C, libpath = load_library()

-- $CC_PROFILE_C=1 (read once, at load): every C function is reached through a wrapper that adds
-- the wall time spent inside it to profile.seconds (and counts calls), so a script can tell the
-- time in C from the time in Lua (experiments/bench_mamba.lua: the Lua overhead of a training
-- step). The C functions never call back into Lua, so the timed intervals never nest. Off by
-- default: the plain library namespace, no cost.
local profile = { enabled = false, calls = 0, seconds = 0, by_name = {} }
function profile.reset() profile.calls, profile.seconds, profile.by_name = 0, 0, {} end
if os.getenv("CC_PROFILE_C") == "1" then
    if not pcall(ffi.typeof, "cc_ffi_timespec") then
        ffi.cdef [[
            typedef struct { long tv_sec; long tv_nsec; } cc_ffi_timespec;
            int cc_ffi_clock_gettime(int clk, cc_ffi_timespec *tp) __asm__("clock_gettime");
        ]]
    end
    local ts = ffi.new("cc_ffi_timespec")
    local function now()
        ffi.C.cc_ffi_clock_gettime(1, ts)
        return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
    end
    local lib = C
    profile.enabled = true
    C = setmetatable({}, { __index = function(self, name)
        local v = lib[name]
        if type(v) == "cdata" and tostring(ffi.typeof(v)):find("%(") then
            local fn = v
            v = function(...)
                local t0 = now()
                local r = fn(...)
                local dt = now() - t0
                profile.seconds = profile.seconds + dt
                profile.calls = profile.calls + 1
                profile.by_name[name] = (profile.by_name[name] or 0) + dt
                return r
            end
        end
        rawset(self, name, v)
        return v
    end })
end

-- The binding's own files: frames from these are never blamed for an error.
local function is_binding_frame(info)
    return info.source:find("lua[/\\]causalconv[/\\][%w_]+%.lua$") ~= nil
end

-- getinfo level of the first Lua frame outside the binding, counting from user_level's own
-- frame (1). C frames (pcall, ...) are passed over too: when the user's frame was replaced by
-- a tail call (`return x:narrow(...)`), the line that called pcall is the useful one.
local function user_level(first)
    local level = first
    while true do
        local info = debug.getinfo(level, "S")
        if not info then return 1 end
        if info.what ~= "C" and not is_binding_frame(info) then return level end
        level = level + 1
    end
end

local function raise(msg, level)
    if level then error(msg, level + 1) end
    -- user_level is called from raise (its frame 2 = raise's caller); error()'s level counts
    -- from raise, so subtract the one frame user_level adds.
    error(msg, user_level(3) - 1)
end

-- The REPL's Ctrl-C count (core/repl_signal.c), read after every checked C call: JIT-compiled
-- code runs no debug hooks, so this is where a loop inside library code stops. Always 0 outside
-- the REPL (no handler is installed); a library without the symbol gets a flag that stays 0.
local ok_flag, interrupt_flag = pcall(function() return C.cc_repl_interrupt_flag() end)
if not ok_flag then interrupt_flag = ffi.new("int[1]") end

local function check(status, level)
    if status ~= 0 then
        local msg = ffi.string(C.cc_last_error())
        if msg == "" then msg = "causalconv: C call failed with status " .. tonumber(status) end
        if level then error(msg, level + 1) end
        error(msg, user_level(3) - 1)
    end
    if interrupt_flag[0] ~= 0 then
        interrupt_flag[0] = 0
        error("interrupted (Ctrl-C)", 0)
    end
end

return { ffi = ffi, C = C, check = check, raise = raise, libpath = libpath, profile = profile }
