-- The causalconv REPL: `make repl` (or `luajit lua/causalconv/repl.lua` from anywhere).
--   - `cc` is bound; expressions print without `=` (tensors pretty-printed, tables shallowly);
--     `stmt; stmt; expr` on one line runs the statements and prints the expression;
--   - `_` holds the last result; multi-line input continues with ">> " until the chunk is complete;
--   - errors print their message and the loop goes on; `exit` or Ctrl-D quits;
--   - reload() re-requires the Lua modules after editing them (the loaded C library stays;
--     tensors made before it keep working: tensor.lua keeps its metatable across reloads);
--   - in a terminal: line editing, history and tab completion (`cc.` names, `x:` methods) through
--     GNU readline (libreadline.so.8) loaded by the FFI; history in $CAUSALCONV_HISTORY, else
--     ~/.causalconv_history; without readline a one-line note and plain input.
--     CAUSALCONV_READLINE=off (or another library name/path) chooses what is loaded;
--   - tensors print at the terminal's width (ioctl TIOCGWINSZ, else $COLUMNS, else 80).
-- Each input is its own chunk: a leading `local x = ...` is run as `x = ...` (a global; a note
-- says so once), so the value is still there on the next line.
-- With input from a pipe the lines are echoed after the prompt, so a transcript reads like a session.
-- As a module (`require "causalconv.repl"`) it runs nothing and returns
--   {complete = function(text [, env]) -> sorted candidates, compile = function(chunk) -> fn, err, incomplete}
-- (compile's fn runs with the JIT off for it and the functions it defines: see Ctrl-C below).
local as_module = (...) == "causalconv.repl"
if not as_module then
    local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
    local lua_dir = here:gsub("causalconv[/\\]$", "")
    if lua_dir == "" then lua_dir = "../" end
    package.path = lua_dir .. "?.lua;" .. lua_dir .. "?/init.lua;" .. package.path
end

local ffi = require "ffi"
local cc_module = require "causalconv"
local function CC() return rawget(_G, "cc") or cc_module end

local fmt = string.format
local M = {}

pcall(ffi.cdef, [[
int isatty(int fd);
struct cc_repl_winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; };
int ioctl(int fd, unsigned long request, ...);
void *malloc(size_t size);
void free(void *p);
char *strdup(const char *s);
struct cc_repl_pollfd { int fd; short events; short revents; };
int poll(struct cc_repl_pollfd *fds, unsigned long nfds, int timeout);
]])

------------------------------------------------------------------------------------------------
-- Ctrl-C: core/repl_signal.c counts SIGINTs (Lua cannot run in a signal handler); a debug hook
-- takes them while code runs (error "interrupted"), the input loop at the prompt. Libraries
-- built before that file existed have no such functions: then Ctrl-C keeps its default action.
-- JIT-compiled code runs no hooks, so M.compile turns the JIT off for each input chunk and the
-- functions it defines (jit.off(fn, true)): loops typed at the prompt stay interruptible, library
-- code they call keeps the JIT: a compiled loop there stops at its next causalconv call, whose
-- status check (ffi.lua) reads the same count. Only a compiled loop that calls none runs on: the
-- second Ctrl-C says so (repl_signal.c) and the third quits.

local interrupt = { installed = false }
function interrupt.take() return false end
function interrupt.install(C)
    local ok, fn = pcall(function() return C.cc_repl_install_sigint end)
    if not ok or fn == nil or fn() ~= 0 then return false end
    interrupt.installed = true
    interrupt.take = function() return C.cc_repl_take_interrupt() ~= 0 end
    return true
end
local HOOK_COUNT = 10000
local function interrupt_hook()
    if interrupt.take() then error("interrupted (Ctrl-C)", 0) end
end

------------------------------------------------------------------------------------------------
-- completion

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
                   "until", "while" }
-- Tensor class fields that are not methods of a tensor (the extension API of tensor.lua)
local NOT_METHODS = { wrap = true, from_c = true, view_from_c = true, add_method = true, mt = true,
                      empty_on = true, zeros_of = true }

-- The keys a value offers after `.` (fields) or `:` (methods).
local function keys_of(v, sep)
    local out, seen = {}, {}
    local function add(k, val)
        if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k] then
            if sep == ":" and type(val) ~= "function" then return end
            seen[k] = true
            out[#out + 1] = k
        end
    end
    local cc = CC()
    if cc.is_tensor(v) then
        for k, val in pairs(v) do if k:sub(1, 1) ~= "_" then add(k, val) end end
        for k, val in pairs(cc.Tensor) do
            if not NOT_METHODS[k] and type(val) == "function" then add(k, val) end
        end
        return out
    end
    local depth, t = 0, v
    while t ~= nil and depth < 8 do
        if type(t) == "table" then for k, val in pairs(t) do add(k, val) end end
        local m = getmetatable(t)
        local idx = type(m) == "table" and rawget(m, "__index") or nil
        if type(idx) ~= "table" or idx == t then break end
        t, depth = idx, depth + 1
    end
    if type(v) == "string" then for k, val in pairs(string) do add(k, val) end end
    return out
end

-- Completions of `text` (the word before the cursor, e.g. "cc.causal_c", "x:na", "pri") as
-- whole words, sorted; env defaults to the globals.
function M.complete(text, env)
    env = env or _G
    local out = {}
    local head, sep, partial = text:match("^(.-)([.:])([%w_]*)$")
    if head then
        -- only plain name chains (a.b.c) are looked into: nothing is called while completing
        if head == "" or head:find("^%.") or head:find("%.$") or head:find("%.%.") then return out end
        for part in head:gmatch("[^.]+") do
            if not part:match("^[%a_][%w_]*$") then return out end
        end
    end
    if head then
        local v = env
        for part in head:gmatch("[^.]+") do
            if type(v) ~= "table" then return out end
            local ok, nv = pcall(function() return v[part] end)
            if not ok then return out end
            v = nv
        end
        if v == nil then return out end
        for _, k in ipairs(keys_of(v, sep)) do
            if k:sub(1, #partial) == partial then out[#out + 1] = head .. sep .. k end
        end
    else
        local seen = {}
        for k in pairs(env) do
            if type(k) == "string" and k:sub(1, #text) == text and k:match("^[%a_][%w_]*$") then
                seen[k] = true
                out[#out + 1] = k
            end
        end
        if env ~= _G then
            for k in pairs(_G) do
                if type(k) == "string" and not seen[k] and k:sub(1, #text) == text then out[#out + 1] = k end
            end
        end
        for _, k in ipairs(KEYWORDS) do
            if k:sub(1, #text) == text and not seen[k] then out[#out + 1] = k end
        end
    end
    table.sort(out)
    return out
end

------------------------------------------------------------------------------------------------
-- compiling an input chunk

-- True when the chunk failed only because it ended too early.
local function incomplete(err) return err ~= nil and err:find("<eof>'?$") ~= nil end

local function load_text(s) return load(s, "=stdin", "t") end

-- `stmts; expr`: the last `;` after which the rest is an expression and before which the text is
-- a whole chunk. Both halves must compile on their own, so a `;` inside a string, a table
-- constructor or a block is never taken.
local function split_last_expression(buffer)
    local pos = #buffer
    while true do
        local p = nil
        for i = pos, 1, -1 do if buffer:sub(i, i) == ";" then p = i; break end end
        if not p then return nil end
        local before, after = buffer:sub(1, p), buffer:sub(p + 1)
        if after:find("%S") and load_text("return " .. after) and load_text(before) then
            local fn = load_text(before .. " return " .. after)
            if fn then return fn end
        end
        pos = p - 1
    end
end

local local_noted = false
local function rewrite_local(buffer)
    local ws, rest = buffer:match("^(%s*)local%s+function%s+(.*)$")
    if ws then return ws .. "function " .. rest, true end
    local names, value
    ws, names, value = buffer:match("^(%s*)local%s+([%a_][%w_%s,]-)%s*(=[^=].*)$")
    if ws and (names .. ","):gsub("%s*[%a_][%w_]*%s*,", "") == "" then
        return ws .. names .. " " .. value, true
    end
    return buffer, false
end

local function compile_text(src)
    local fn, err1 = load_text("return " .. src)
    if fn then return fn, nil, false end
    fn = split_last_expression(src)
    if fn then return fn, nil, false end
    local err2
    fn, err2 = load_text(src)
    if fn then return fn, nil, false end
    if err2 and err2:find("binary chunk", 1, true) or src:find("\27", 1, true) then
        err2 = "stdin: the line holds terminal escape sequences (arrow keys?): line editing needs GNU readline (libreadline8)"
        return nil, err2, false
    end
    return nil, err2, incomplete(err1) or incomplete(err2)
end

-- fn, nil, false, was_local | nil, err, incomplete: `= e` is `return e`; a leading `local` is
-- dropped (was_local = true) so the names outlive the chunk.
-- The chunk and every function it defines run interpreted (jit.off(fn, true)), so the Ctrl-C
-- hook fires in loops typed at the prompt.
function M.compile(buffer)
    local src = buffer
    if src:sub(1, 1) == "=" then src = "return " .. src:sub(2) end
    local rewritten, was_local = rewrite_local(src)
    local fn, err, more = compile_text(rewritten)
    if fn then jit.off(fn, true); return fn, nil, false, was_local end
    if was_local and not more then
        local f2 = compile_text(src)
        if f2 then jit.off(f2, true); return f2, nil, false end
    end
    return nil, err, more
end

------------------------------------------------------------------------------------------------
-- printing results

local MAX_ITEMS = 16

local function short(v)
    local cc = CC()
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
    if CC().is_tensor(v) then return tostring(v) end
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
    if interrupt.installed then
        interrupt.take()   -- a Ctrl-C pressed at a plain prompt does not stop the next command
        debug.sethook(interrupt_hook, "", HOOK_COUNT)
    end
    local res = pack(xpcall(fn, on_error))
    if interrupt.installed then debug.sethook() end
    if not res[1] then
        print(res[2])
        return
    end
    print_results(res.n - 1, unpack(res, 2, res.n))
end

-- The terminal's width: ioctl(TIOCGWINSZ) on stdout, else $COLUMNS, else nil.
local winsize = ffi.new("struct cc_repl_winsize")
local function terminal_width()
    local ok, cols = pcall(function()
        if ffi.C.ioctl(1, 0x5413, winsize) == 0 and winsize.ws_col > 0 then return winsize.ws_col end
    end)
    if ok and cols then return tonumber(cols) end
    local env = tonumber(os.getenv("COLUMNS") or "")
    if env and env >= 10 then return math.floor(env) end
    return nil
end

------------------------------------------------------------------------------------------------
-- input: GNU readline through the FFI, else io.read

local function history_path()
    local p = os.getenv("CAUSALCONV_HISTORY")
    if p and p ~= "" then return p end
    local home = os.getenv("HOME")
    if home and home ~= "" then return home .. "/.causalconv_history" end
    return nil
end

local HISTORY_LINES = 1000

-- Returns a reader {read = function(prompt) -> line | nil} or nil and why.
local function readline_reader()
    local want = os.getenv("CAUSALCONV_READLINE")
    if want == "off" or want == "0" then return nil, "CAUSALCONV_READLINE=off" end
    local ok, err = pcall(ffi.cdef, [[
        char *readline(const char *prompt);
        void using_history(void);
        void add_history(const char *line);
        int read_history(const char *filename);
        int append_history(int n, const char *filename);
        int history_truncate_file(const char *filename, int lines);
        typedef char **cc_rl_completion_func(const char *text, int start, int end);
        extern cc_rl_completion_func *rl_attempted_completion_function;
        extern const char *rl_basic_word_break_characters;
        extern const char *rl_readline_name;
        extern int rl_attempted_completion_over;
        extern int rl_completion_append_character;
        typedef void cc_rl_line_handler(char *line);
        void rl_callback_handler_install(const char *prompt, cc_rl_line_handler *handler);
        void rl_callback_read_char(void);
        void rl_callback_handler_remove(void);
        void rl_callback_sigcleanup(void);
        void rl_free_line_state(void);
        void rl_cleanup_after_signal(void);
        extern int rl_catch_signals;
    ]])
    if not ok and not tostring(err):find("redefine") then return nil, tostring(err) end
    local names = (want and want ~= "") and { want } or { "libreadline.so.8", "readline" }
    local rl, tried = nil, {}
    for _, name in ipairs(names) do
        local okl, lib = pcall(ffi.load, name)
        if okl then rl = lib; break end
        tried[#tried + 1] = name
    end
    if not rl then return nil, "cannot load " .. table.concat(tried, " or ") end

    local anchors = {}
    local function cstr(s) local b = ffi.new("char[?]", #s + 1, s); anchors[#anchors + 1] = b; return b end
    rl.rl_readline_name = cstr("causalconv")
    rl.rl_basic_word_break_characters = cstr(" \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#")
    local completion = ffi.cast("cc_rl_completion_func*", function(text, start, stop)
        rl.rl_attempted_completion_over = 1
        rl.rl_completion_append_character = 0
        local ok2, list = pcall(M.complete, ffi.string(text))
        if not ok2 or #list == 0 then return nil end
        local common = list[1]
        for i = 2, #list do
            local j = 0
            while j < #common and common:sub(j + 1, j + 1) == list[i]:sub(j + 1, j + 1) do j = j + 1 end
            common = common:sub(1, j)
        end
        local arr = ffi.cast("char**", ffi.C.malloc(ffi.sizeof("char*") * (#list + 2)))
        arr[0] = ffi.C.strdup(common)
        local n = (#list == 1) and 0 or #list
        for i = 1, n do arr[i] = ffi.C.strdup(list[i]) end
        arr[n + 1] = nil
        return arr
    end)
    anchors[#anchors + 1] = completion
    rl.rl_attempted_completion_function = completion

    rl.using_history()
    local hist = history_path()
    if hist then
        local f = io.open(hist, "a")   -- append_history needs an existing file
        if f then
            f:close()
            rl.history_truncate_file(hist, HISTORY_LINES)
            rl.read_history(hist)
        else
            hist = nil
        end
    end
    local last
    local function remember(line)
        if line:find("%S") and line ~= last then
            rl.add_history(line)
            last = line
            if hist then rl.append_history(1, hist) end
        end
    end
    local read
    if not interrupt.installed then
        read = function(prompt)
            local p = rl.readline(prompt)
            if p == nil then return nil end
            local line = ffi.string(p)
            ffi.C.free(p)
            remember(line)
            return line
        end
    else
        -- readline's callback interface: poll() stdin (waking every 100 ms to see a Ctrl-C that
        -- the signal handler counted), so Ctrl-C at the prompt drops the line and goes on
        rl.rl_catch_signals = 0
        local done, result = false, nil
        local handler = ffi.cast("cc_rl_line_handler*", function(p)
            if p ~= nil then
                result = ffi.string(p)
                ffi.C.free(p)
            end
            done = true
            rl.rl_callback_handler_remove()
        end)
        anchors[#anchors + 1] = handler
        local pfd = ffi.new("struct cc_repl_pollfd[1]")
        pfd[0].fd, pfd[0].events = 0, 1   -- POLLIN
        read = function(prompt)
            done, result = false, nil
            rl.rl_callback_handler_install(prompt, handler)
            while not done do
                local r = ffi.C.poll(pfd, 1, 100)
                if interrupt.take() then
                    rl.rl_free_line_state()
                    rl.rl_callback_sigcleanup()
                    rl.rl_cleanup_after_signal()
                    rl.rl_callback_handler_remove()
                    io.write("\n")
                    io.flush()
                    return false
                end
                if r > 0 then rl.rl_callback_read_char() end
            end
            if result then remember(result) end
            return result
        end
    end
    jit.off(read)   -- readline calls back into Lua (completion, the line): keep this call interpreted
    return { read = read, anchors = anchors, history = hist }
end

------------------------------------------------------------------------------------------------
-- the loop

local function cuda_status(cc)
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

function M.main()
    cc = cc_module
    local interactive = ffi.C.isatty(0) ~= 0
    interrupt.install(cc.C)

    function reload()
        for name in pairs(package.loaded) do
            if name == "causalconv" or (name:match("^causalconv%.") and name ~= "causalconv.ffi"
                                        and name ~= "causalconv.repl") then
                package.loaded[name] = nil
            end
        end
        cc = require "causalconv"
        return "reloaded causalconv (" .. table.concat(cc.modules, ", ") .. ")"
    end

    print(fmt("causalconv %s (%s, %s) | cpu: %d threads | %s | cc.help() for help, exit or Ctrl-D to quit",
              cc.version, jit.version, cc.libpath:match("[^/]*/[^/]*$") or cc.libpath,
              cc.get_num_threads(), cuda_status(cc)))

    local read
    if interactive then
        local reader, why = readline_reader()
        if reader then
            read = reader.read
        else
            print("note: no line editing, history or completion (GNU readline: " .. why .. "; apt-get install libreadline8)")
        end
    end
    if not read then
        read = function(prompt)
            io.write(prompt)
            io.flush()
            local line = io.read("*l")
            if line and not interactive then io.write(line, "\n") end
            return line
        end
    end

    local buffer
    while true do
        local line = read(buffer and ">> " or "cc> ")
        if line == false then   -- Ctrl-C at the prompt: the line (and a started chunk) is dropped
            buffer = nil
        elseif not line then
            io.write("\n")
            break
        elseif not buffer and (line == "exit" or line == "quit" or line == "exit()" or line == "os.exit()") then
            break
        else
            buffer = buffer and buffer .. "\n" .. line or line
        end
        local fn, err, more, was_local
        if buffer then fn, err, more, was_local = M.compile(buffer) end
        if not buffer then
            -- nothing to run
        elseif fn then
            buffer = nil
            if was_local and not local_noted then
                local_noted = true
                print("note: a leading `local` runs as a global assignment here (each input is its own chunk)")
            end
            local width = terminal_width()
            if width and cc.set_printoptions then pcall(cc.set_printoptions, { linewidth = width }) end
            run(fn)
        elseif not more then
            buffer = nil
            print(err)
        end
    end
end

if not as_module then M.main() end

return M
