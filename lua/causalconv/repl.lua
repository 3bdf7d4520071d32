-- The causalconv REPL: `make repl` (or `luajit lua/causalconv/repl.lua` from anywhere).
--   - `cc` is bound; expressions print without `=` (tensors pretty-printed, tables shallowly);
--   - `_` holds the last result; multi-line input continues with ">> " until the chunk is complete;
--   - errors print their message and the loop goes on; `exit` or Ctrl-D quits;
--   - reload() re-requires the Lua modules after editing them (the loaded C library stays; old
--     tensors keep the methods they were made with).
-- Each line is its own chunk, so use globals (`x = ...`), not locals, to keep values around.
-- With input from a pipe the lines are echoed after the prompt, so a transcript reads like a session.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local lua_dir = here:gsub("causalconv[/\\]$", "")
if lua_dir == "" then lua_dir = "../" end
package.path = lua_dir .. "?.lua;" .. lua_dir .. "?/init.lua;" .. package.path

local ffi = require "ffi"
cc = require "causalconv"

pcall(ffi.cdef, "int isatty(int fd);")
local interactive = ffi.C.isatty(0) ~= 0

local fmt = string.format

local function cuda_status()
    local C = cc.C
    local ok, line = pcall(function()
        if C.cc_cuda_is_built() == 0 then return "cuda: not built" end
        if C.cc_cuda_is_emulated() ~= 0 then return "cuda: emulated on the cpu" end
        if C.cc_cuda_is_available() == 0 then return "cuda: built, no device" end
        local buf = ffi.new("char[128]")
        local name = C.cc_cuda_device_name(buf, 128) == 0 and ffi.string(buf) or "?"
        return fmt("cuda: %d device(s), %s", C.cc_cuda_device_count(), name)
    end)
    return ok and line or "cuda: unknown"
end

local MAX_ITEMS = 16

local function short(v)
    local tv = type(v)
    if cc.is_tensor(v) then return fmt("<Tensor %s %s %s>", v:dtype(), v:device(), table.concat(v:size(), "x")) end
    if tv == "string" then return fmt("%q", v) end
    if tv == "table" then
        local m = getmetatable(v)
        if m and m.__tostring then return tostring(v) end
        return "{...}"
    end
    return tostring(v)
end

-- One level of a table: array part, then the other keys sorted.
local function shallow(t)
    local m = getmetatable(t)
    if m and m.__tostring then return tostring(t) end
    local parts, n = {}, #t
    for i = 1, math.min(n, MAX_ITEMS) do parts[#parts + 1] = short(t[i]) end
    if n > MAX_ITEMS then parts[#parts + 1] = fmt("... (%d items)", n) end
    local keys = {}
    for k in pairs(t) do
        if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for i = 1, math.min(#keys, MAX_ITEMS) do
        local k = keys[i]
        local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or "[" .. short(k) .. "]"
        parts[#parts + 1] = ks .. " = " .. short(t[k])
    end
    if #keys > MAX_ITEMS then parts[#parts + 1] = fmt("... (%d more keys)", #keys - MAX_ITEMS) end
    return "{" .. table.concat(parts, ", ") .. "}"
end

local function show(v)
    if cc.is_tensor(v) then return tostring(v) end
    if type(v) == "table" then return shallow(v) end
    if type(v) == "string" then return fmt("%q", v) end
    return tostring(v)
end

local function print_results(n, ...)
    if n == 0 then return end
    _ = (...)
    local strs, multiline = {}, false
    for i = 1, n do
        local ok, s = pcall(show, (select(i, ...)))
        strs[i] = ok and s or "<cannot print: " .. tostring(s) .. ">"
        if strs[i]:find("\n") then multiline = true end
    end
    print(table.concat(strs, multiline and "\n" or "\t"))
end

local function on_error(e)
    if type(e) ~= "string" then e = show(e) end
    return e
end

local function pack(...) return { n = select("#", ...), ... } end

local function run(fn)
    local res = pack(xpcall(fn, on_error))
    if not res[1] then
        print(res[2])
        return
    end
    print_results(res.n - 1, unpack(res, 2, res.n))
end

-- True when the chunk failed only because it ended too early.
local function incomplete(err) return err ~= nil and err:find("<eof>'?$") ~= nil end

function reload()
    for name in pairs(package.loaded) do
        if name == "causalconv" or (name:match("^causalconv%.") and name ~= "causalconv.ffi") then
            package.loaded[name] = nil
        end
    end
    cc = require "causalconv"
    return "reloaded causalconv (" .. table.concat(cc.modules, ", ") .. ")"
end

print(fmt("causalconv %s (%s, %s) | cpu: %d threads | %s | cc.help() for help, exit or Ctrl-D to quit",
          cc.version, jit.version, cc.libpath:match("[^/]*/[^/]*$") or cc.libpath,
          cc.get_num_threads(), cuda_status()))

local buffer
while true do
    io.write(buffer and ">> " or "cc> ")
    io.flush()
    local line = io.read("*l")
    if not line then
        io.write("\n")
        break
    end
    if not interactive then io.write(line, "\n") end
    if not buffer and (line == "exit" or line == "quit" or line == "exit()" or line == "os.exit()") then break end
    buffer = buffer and buffer .. "\n" .. line or line
    local fn, err1 = load("return " .. buffer, "=stdin")
    local err2
    if not fn then fn, err2 = load(buffer, "=stdin") end
    if fn then
        buffer = nil
        run(fn)
    elseif not (incomplete(err1) or incomplete(err2)) then
        buffer = nil
        print(err2)
    end
end
