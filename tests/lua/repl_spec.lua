-- The REPL, driven non-interactively: lines piped into `luajit lua/causalconv/repl.lua`.
local cc = require "causalconv"

local function lib_path()
    local p = os.getenv("CAUSALCONV_LIB") or cc.libpath
    if p:sub(1, 1) ~= "/" then p = io.popen("pwd"):read("*l") .. "/" .. p end
    return p
end

-- Runs the REPL on the given input lines; returns its whole output.
local function repl(lines, env)
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local p = io.popen(string.format("%s CAUSALCONV_LIB='%s' timeout 60 luajit lua/causalconv/repl.lua < '%s' 2>&1", env or "", lib_path(), input))
    local out = p:read("*a")
    p:close()
    os.remove(input)
    return out
end

local function contains(s, text)
    assert(s:find(text, 1, true), "REPL output\n" .. s .. "\ndoes not contain\n" .. text)
end

describe("repl", function()
    it("prints a banner, then expressions without '='", function()
        local out = repl({ "1 + 2", "'abc'", "nil", "x = 5", "x * 2" })
        local banner = out:match("^[^\n]*")
        contains(banner, "causalconv " .. cc.version)
        contains(banner, "threads")
        contains(banner, "cc.help()")
        contains(out, "cc> 1 + 2\n3\n")
        contains(out, "cc> 'abc'\n\"abc\"\n")
        contains(out, "cc> nil\nnil\n")
        contains(out, "cc> x = 5\ncc> x * 2\n10\n")
    end)

    it("pretty-prints tensors, tables shallowly, and several results on one line", function()
        local out = repl({ "cc.arange(6):view(2, 3)", "{1, 2, name = 'w', t = {3}}", "cc.zeros(2, 3):size()", "1, 'two', true" })
        contains(out, " 0  1  2\n 3  4  5\n[causalconv.Tensor f32 cpu of size 2x3]\n")
        contains(out, '{1, 2, name = "w", t = {...}}\n')
        contains(out, "{2, 3}\n")
        contains(out, '1\t"two"\ttrue\n')
    end)

    it("keeps the last result in _", function()
        local out = repl({ "cc.ones(2, 2)", "_:size(1) + 40" })
        contains(out, "cc> _:size(1) + 40\n42\n")
    end)

    it("continues incomplete chunks with a '>>' prompt", function()
        local out = repl({ "s = 0", "for i = 1, 4 do", "  s = s + i", "end", "s", "(1 +", "2)" })
        contains(out, "cc> for i = 1, 4 do\n>>   s = s + i\n>> end\ncc> s\n10\n")
        contains(out, "cc> (1 +\n>> 2)\n3\n")
    end)

    it("prints errors and goes on", function()
        local out = repl({ "x = cc.zeros(2, 3)", "x:narrow(3, 1, 1)", "y = x:select(1, 5)", "x = = 1", "error({})", "7" })
        contains(out, "cc> x:narrow(3, 1, 1)\nnarrow: dim 3 out of range for a 2-d tensor (expected 1..2 or -2..-1)\n")
        contains(out, "cc> y = x:select(1, 5)\nstdin:1: select: index 5 out of range for dim 1 of size 2")
        contains(out, "cc> x = = 1\nstdin:1: unexpected symbol near '='\n")
        contains(out, "cc> error({})\n{}\n")
        contains(out, "cc> 7\n7\n")
    end)

    it("quits on exit and on end of input", function()
        local out = repl({ "1", "exit", "2" })
        contains(out, "cc> 1\n1\ncc> exit\n")
        assert.is_nil(out:find("cc> 2", 1, true))
        out = repl({ "3" })
        assert.truthy(out:find("cc> 3\n3\ncc> \n$"))
    end)

    it("has cc.help() and reload()", function()
        local out = repl({ "cc.help()", "reload()", "cc.zeros(1):numel()" })
        contains(out, "x:narrow(dim, start, len)")
        contains(out, "cc.load_npy(path)")
        contains(out, "reloaded causalconv (tensor")
        contains(out, "cc> cc.zeros(1):numel()\n1\n")
    end)

    it("keeps tensors made before reload() usable", function()
        local out = repl({ "a = cc.randn(2, 2)", "reload()", "reload()", "(a + cc.randn(2, 2)):size()",
                           "cc.is_tensor(a)", "a:sum():dim()", "print(a:t())" })
        contains(out, "cc> (a + cc.randn(2, 2)):size()\n{2, 2}\n")
        contains(out, "cc> cc.is_tensor(a)\ntrue\n")
        contains(out, "cc> a:sum():dim()\n0\n")
        contains(out, "[causalconv.Tensor f32 cpu of size 2x2]")
        assert.is_nil(out:find("already defined", 1, true), out)
    end)

    it("prints the expression after statements on one line", function()
        local out = repl({ "x = cc.zeros(2); x[{1}] = 5; x[{1}]",
                           "cc.manual_seed(42); (cc.ones(2) * 3):sum():item()",
                           "for i = 1, 3 do s = (s or 0) + i; end; s",
                           "t = {1; 2}; #t", 's = "p;q"; s', "f = function() end; g = 1", "=2 * 21" })
        contains(out, "cc> x = cc.zeros(2); x[{1}] = 5; x[{1}]\n5\n")
        contains(out, "cc> cc.manual_seed(42); (cc.ones(2) * 3):sum():item()\n6\n")
        contains(out, "cc> for i = 1, 3 do s = (s or 0) + i; end; s\n6\n")
        contains(out, "cc> t = {1; 2}; #t\n2\n")
        contains(out, 'cc> s = "p;q"; s\n"p;q"\n')
        contains(out, "cc> f = function() end; g = 1\ncc> =2 * 21\n42\n")
    end)

    it("keeps a leading local across lines, with a note once", function()
        local out = repl({ "local y = 7", "y + 1", "local a, b = 1, 2; a + b", "local function f(n) return 2 * n end",
                           "f(4)", "local t = {", "5}", "t[1]", "do local q = 1 end", "q" })
        contains(out, "cc> local y = 7\nnote: a leading `local` runs as a global assignment here")
        contains(out, "cc> y + 1\n8\n")
        contains(out, "cc> local a, b = 1, 2; a + b\n3\n")
        contains(out, "cc> f(4)\n8\n")
        contains(out, "cc> t[1]\n5\n")
        contains(out, "cc> q\nnil\n")
        local _, notes = out:gsub("note: a leading", "")
        assert.equal(1, notes)
    end)

    it("says what an escape sequence in plain input is", function()
        local out = repl({ "\27[A", "1" })
        contains(out, "terminal escape sequences")
        contains(out, "cc> 1\n1\n")
    end)

    it("prints tensors at the width given by $COLUMNS", function()
        local out = repl({ "cc.arange(30):view(1, 30)" }, "COLUMNS=200")
        contains(out, "\n  0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16  17  18  19  20  21  22  23  24  25  26  27  28  29\n")
        out = repl({ "cc.arange(30):view(1, 30)" }, "COLUMNS=")
        contains(out, "Columns 1 to 20")
        out = repl({ "cc.set_printoptions({linewidth = 40}); cc.arange(30):view(1, 30)", "cc.get_printoptions()",
                     "cc.set_printoptions({width = 3})" })
        contains(out, "Columns 1 to 10")
        contains(out, "{linewidth = 40}")
        contains(out, "set_printoptions: unknown option width (known: linewidth)")
    end)

    it("runs the session from the report", function()
        local out = repl({ "x = cc.randn(2,3,4)", "x:transpose(2,3):contiguous()", 'x:to("bf16")' })
        contains(out, "[causalconv.Tensor f32 cpu of size 2x4x3]")
        contains(out, "[causalconv.Tensor bf16 cpu of size 2x3x4]")
        contains(out, "(2,.,.) =")
    end)
end)

-- libraries built before core/repl_signal.c have no Ctrl-C support (the REPL keeps the default)
local has_sigint = pcall(function() return cc.C.cc_repl_install_sigint end)

describe("repl Ctrl-C", function()
    if not has_sigint then
        pending("the library has no cc_repl_install_sigint: rebuild it for the Ctrl-C specs")
        return
    end
    it("interrupts a running loop, and the REPL goes on", function()
        local input, out, libspin = os.tmpname(), os.tmpname(), os.tmpname()
        -- a loop in code loaded from a file, not typed: the JIT compiles it (no hooks run there),
        -- and it stops at the status check of its next causalconv call
        local f = assert(io.open(libspin, "w"))
        f:write("return function(x) for i = 1, 1e12 do x = x + 0 end end\n")
        f:close()
        f = assert(io.open(input, "w"))
        -- a loop calling library code; a pure-Lua loop the JIT would compile (the REPL runs each
        -- chunk and the functions it defines with the JIT off); a loop in a function typed earlier
        f:write("x = cc.ones(2); n = 0\nwhile true do x = x + 0; n = n + 1 end\nn > 0\n" ..
                "for i = 1, 1e12 do local t = {i} end\n'alive'\n" ..
                "function spin() local s = 0; for i = 1, 1e12 do s = s + i end; return s end\nspin()\n'still alive'\n" ..
                "libspin = dofile('" .. libspin .. "')\nlibspin(cc.ones(2))\n'library loop stopped'\n")
        f:close()
        os.execute(string.format("CAUSALCONV_LIB='%s' luajit lua/causalconv/repl.lua < '%s' > '%s' 2>&1 & pid=$!; " ..
                                 "for i in 1 2 3 4; do sleep 1.5; kill -INT $pid 2>/dev/null; done; " ..
                                 -- (a loop that ran on would meet these: the third Ctrl-C quits, nothing hangs)
                                 "sleep 3; kill -INT $pid 2>/dev/null; kill -INT $pid 2>/dev/null; kill -INT $pid 2>/dev/null; wait $pid",
                                 lib_path(), input, out))
        f = assert(io.open(out))
        local text = f:read("*a")
        f:close()
        os.remove(input)
        os.remove(out)
        os.remove(libspin)
        contains(text, "cc> while true do x = x + 0; n = n + 1 end\ninterrupted (Ctrl-C)\n")
        contains(text, "cc> n > 0\ntrue\n")
        -- one Ctrl-C each: the JIT-compiled-code note (second Ctrl-C) never shows
        contains(text, "cc> for i = 1, 1e12 do local t = {i} end\ninterrupted (Ctrl-C)\ncc> 'alive'\n\"alive\"\n")
        contains(text, "cc> spin()\ninterrupted (Ctrl-C)\ncc> 'still alive'\n\"still alive\"\n")
        contains(text, "cc> libspin(cc.ones(2))\ninterrupted (Ctrl-C)\ncc> 'library loop stopped'\n\"library loop stopped\"\n")
        assert.is_nil(text:find("is JIT-compiled and calls no causalconv function", 1, true), text)
        assert.truthy(text:find("cc> \n$"), text)   -- ended at the end of its input, not killed
    end)
end)

-- The status check after every C call takes a pending Ctrl-C (JIT-compiled library loops run no
-- hooks): a SIGINT sent to this process with the REPL's handler installed makes the next checked
-- call raise, once.
describe("Ctrl-C at a C call's status check", function()
    if not pcall(function() return cc.C.cc_repl_interrupt_flag end) then
        pending("the library has no cc_repl_interrupt_flag: rebuild it")
        return
    end
    it("raises 'interrupted' at the next causalconv call, then lets calls run", function()
        local ffi = require "ffi"
        pcall(ffi.cdef, "int kill(int pid, int sig); int getpid(void); void *signal(int sig, void *handler);")
        assert.are.equal(0, cc.C.cc_repl_install_sigint())
        local x = cc.ones(3)
        ffi.C.kill(ffi.C.getpid(), 2)
        local ok, err = pcall(function() return x + 1 end)
        ffi.C.signal(2, nil)   -- SIG_DFL again
        assert.is_false(ok)
        assert.truthy(tostring(err):find("interrupted (Ctrl-C)", 1, true), tostring(err))
        assert.are.equal(6, (x + 1):sum():item())
    end)
end)

-- The README's REPL blocks, line by line through the REPL's compiler, in a scratch directory
-- (the Tensors block writes x.npy).
describe("README REPL blocks", function()
    local R = require "causalconv.repl"
    local ffi = require "ffi"
    pcall(ffi.cdef, "int chdir(const char *path); char *getcwd(char *buf, size_t size);")

    local function readme_inputs()
        local f = assert(io.open("README.md"))
        local text = f:read("*a")
        f:close()
        local blocks = {}
        for _, title in ipairs({ "## A first REPL session", "## Tensors" }) do
            local a = assert(text:find(title, 1, true), title)
            local b = text:find("\n## ", a + 1) or #text
            local body = text:sub(a, b)
            for block in body:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end
            for block in body:gmatch("```\n(.-)```") do   -- a transcript: the cc> lines are input
                local lines = {}
                for line in block:gmatch("[^\n]+") do
                    local input = line:match("^cc> (.*)$")
                    if input then lines[#lines + 1] = input end
                end
                if #lines > 0 then blocks[#blocks + 1] = table.concat(lines, "\n") end
            end
        end
        return blocks
    end

    it("run as written when pasted", function()
        local blocks = readme_inputs()
        assert.truthy(#blocks >= 3)
        local dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p '" .. dir .. "'") == 0)
        local buf = ffi.new("char[4096]")
        local cwd = ffi.string(ffi.C.getcwd(buf, 4096))
        local saved_print = _G.print
        local env_cc = rawget(_G, "cc")
        _G.cc = cc
        _G.print = function() end
        local ok, err = pcall(function()
            assert(ffi.C.chdir(dir) == 0)
            for _, block in ipairs(blocks) do
                local chunk
                for line in (block .. "\n"):gmatch("([^\n]*)\n") do
                    chunk = chunk and chunk .. "\n" .. line or line
                    local fn, e, more = R.compile(chunk)
                    if fn then
                        local okr, er = pcall(fn)
                        assert(okr, "README line\n" .. line .. "\nfails: " .. tostring(er))
                        chunk = nil
                    elseif not more then
                        error("README line\n" .. chunk .. "\ndoes not compile: " .. tostring(e))
                    end
                end
                assert.is_nil(chunk, "README block ends inside a chunk")
            end
        end)
        _G.print = saved_print
        _G.cc = env_cc
        ffi.C.chdir(cwd)
        os.execute("rm -rf '" .. dir .. "'")
        assert(ok, err)
    end)
end)

describe("per-function help", function()
    local R = require "causalconv.repl"
    local DOCS = require "causalconv.help_docs"

    it("has a page for every function cc exports", function()
        local missing = {}
        for k, v in pairs(cc) do
            if type(v) == "function" and not DOCS[k] then missing[#missing + 1] = "cc." .. k end
        end
        table.sort(missing)
        assert(#missing == 0, "no help page (lua/causalconv/help_docs.lua) for " .. table.concat(missing, ", "))
        for name, d in pairs(DOCS) do
            for _, field in ipairs({ "sig", "shapes", "opts", "ex" }) do
                assert(type(d[field]) == "string" and d[field] ~= "", name .. ": no " .. field)
            end
            local method = name:match("^Tensor:(.*)$")
            local expect = method and (":" .. method .. "(") or ("cc." .. name)
            assert.truthy(d.sig:find(expect, 1, true), name .. ": the signature names another function")
            local _, nl = d.ex:gsub("\n", "")
            assert(nl == 1, name .. ": the example is not two lines")
        end
    end)

    -- The namespaces' functions: walk cc.nn, cc.optim, cc.bench, cc.cuda, cc.autograd (keys with
    -- "__" not followed); a class (a table with __name or a __call metamethod) has a page of its
    -- own and its methods are "ns.Class:method" (a Module type's init / forward / describe may use
    -- the nn.Module page). The optimizer and scheduler methods hang off their instances' metatables.
    local NAMESPACES = { "nn", "optim", "bench", "cuda", "autograd" }
    local function namespace_keys()
        local keys, seen = {}, {}
        local function walk(t, path, in_class)
            if seen[t] then return end
            seen[t] = true
            for k, v in pairs(t) do
                if type(k) == "string" and k:sub(1, 2) ~= "__" then
                    local key = in_class and (path .. ":" .. k) or (path .. "." .. k)
                    if type(v) == "function" then
                        keys[#keys + 1] = key
                    elseif type(v) == "table" and not cc.is_tensor(v) then
                        local mt = getmetatable(v)
                        local is_class = rawget(v, "__name") ~= nil or (type(mt) == "table" and rawget(mt, "__call") ~= nil)
                        if is_class then keys[#keys + 1] = key end
                        walk(v, key, is_class)
                    end
                end
            end
        end
        for _, ns in ipairs(NAMESPACES) do walk(cc[ns], ns, false) end
        local w = cc.ones(1):requires_grad_()
        local opt = cc.optim.SGD({ w }, { lr = 0.1 })
        walk(getmetatable(opt), "optim.Optimizer", true)
        walk(getmetatable(cc.optim.LRScheduler(opt, cc.optim.schedule.constant())), "optim.LRScheduler", true)
        return keys
    end
    local function missing_pages()
        local missing = {}
        for _, key in ipairs(namespace_keys()) do
            local cls, m = key:match("^nn%.([%w_]+):([%w_]+)$")
            local inherited = cls and cc.nn.Module[m] ~= nil and DOCS["nn.Module:" .. m]
            if not DOCS[key] and not inherited then missing[#missing + 1] = "cc." .. key end
        end
        table.sort(missing)
        return missing
    end

    it("has a page for every function in cc.nn, cc.optim, cc.bench, cc.cuda and cc.autograd", function()
        local keys = namespace_keys()
        assert.truthy(#keys > 80, "the walk found " .. #keys)
        local missing = missing_pages()
        assert(#missing == 0, "no help page (lua/causalconv/help_docs.lua) for " .. table.concat(missing, ", "))
        -- a function added without a page is caught
        cc.nn.init.no_page_yet_ = function() end
        missing = missing_pages()
        cc.nn.init.no_page_yet_ = nil
        assert.same({ "cc.nn.init.no_page_yet_" }, missing)
        -- and no page names a function that is not there
        local found = {}
        for _, key in ipairs(keys) do found[key] = true end
        for key in pairs(DOCS) do
            if key:find("[.:]") and not key:find("^Tensor[.:]") then
                assert(found[key], "help_docs.lua: a page for cc." .. key .. ", which the walk does not find")
            end
        end
    end)

    -- every tensor method and helper: cc.<name>'s page (x:sum), or "Tensor:name" / "Tensor.name"
    local function tensor_missing()
        local missing = {}
        for k, v in pairs(cc.Tensor) do
            if type(v) == "function" and k:sub(1, 2) ~= "__" and not (DOCS[k] or DOCS["Tensor:" .. k] or DOCS["Tensor." .. k]) then
                missing[#missing + 1] = "x:" .. k
            end
        end
        table.sort(missing)
        return missing
    end
    it("has a page for every tensor method, and none for a method that is not there", function()
        local missing = tensor_missing()
        assert(#missing == 0, "no help page (lua/causalconv/help_docs.lua) for " .. table.concat(missing, ", "))
        cc.Tensor.add_method("no_page_yet_", function() end)
        missing = tensor_missing()
        cc.Tensor.no_page_yet_ = nil
        assert.same({ "x:no_page_yet_" }, missing)
        for key in pairs(DOCS) do
            local m = key:match("^Tensor[.:](.*)$")
            if m then assert(type(cc.Tensor[m]) == "function", "help_docs.lua: a page for " .. key .. ", which cc.Tensor lacks") end
        end
    end)

    -- The README against the pages: every cc.name( and x:method( it shows has a page, and every
    -- option key in a call's last argument (a table literal, for a function whose page takes opts)
    -- is named on that page.
    local function readme_problems(text)
        local problems, seen = {}, {}
        local function problem(p) if not seen[p] then seen[p] = true; problems[#problems + 1] = p end end
        local function page(name)
            if DOCS[name] then return DOCS[name] end
            local ns, cls, m = name:match("^(%a+)%.([%w_]+)%.([%w_]+)$")   -- "optim.LRScheduler.step"
            return ns and DOCS[ns .. "." .. cls .. ":" .. m]
        end
        for m in text:gmatch("[%s%(%[`]x:([%w_]+)%(") do
            if not (DOCS[m] or DOCS["Tensor:" .. m]) then problem("no page for x:" .. m) end
        end
        local pos = 1
        while true do
            local _, e, name = text:find("cc%.([%w_%.]+)%(", pos)
            if not e then break end
            pos = e + 1
            local d = page(name)
            if not d then problem("no page for cc." .. name) else
                -- the call's text up to its closing parenthesis, and where its last argument starts
                local depth, i, last = 1, e + 1, e + 1
                while i <= #text and depth > 0 do
                    local ch = text:sub(i, i)
                    if ch == "(" or ch == "{" then depth = depth + 1
                    elseif ch == ")" or ch == "}" then depth = depth - 1
                    elseif ch == "," and depth == 1 then last = i + 1 end
                    i = i + 1
                end
                local arg = text:sub(last, i - 2):match("^%s*(%b{})%s*$")
                if arg and d.sig:find("opts", 1, true) then
                    local inner, bd = arg:sub(2, -2), 0
                    for j = 1, #inner do
                        local ch = inner:sub(j, j)
                        if ch == "{" or ch == "(" then bd = bd + 1 elseif ch == "}" or ch == ")" then bd = bd - 1
                        elseif bd == 0 and (j == 1 or not inner:sub(j - 1, j - 1):match("[%w_]")) then
                            local k = inner:match("^([%a_][%w_]*)%s*=[^=]", j)
                            if k and not (d.opts .. " " .. d.sig):find("%f[%w_]" .. k .. "%f[^%w_]") then
                                problem("cc." .. name .. ": option " .. k .. " is not on its page")
                            end
                        end
                    end
                end
            end
        end
        table.sort(problems)
        return problems
    end
    it("names in the README only functions with pages, and only the options their pages list", function()
        local f = assert(io.open("README.md"))
        local text = f:read("*a")
        f:close()
        local problems = readme_problems(text)
        assert(#problems == 0, "README.md against lua/causalconv/help_docs.lua:\n" .. table.concat(problems, "\n"))
        -- the check sees a missing page, an option a page lacks, and passes data tables and metadata
        assert.same({ "cc.causal_conv1d: option silu_on is not on its page", "no page for cc.no_such_fn", "no page for x:no_such_method" },
                    readme_problems("y = cc.causal_conv1d(x, w, nil, {silu_on = true, activation = \"silu\"}); cc.no_such_fn(1)\n" ..
                                    "(x:no_such_method(2)); cc.save_safetensors({w = w}, p, {step = \"1\"}); x:size()"))
    end)

    -- (pages of functions not exported yet, written ahead of the code, are not run)
    it("runs every example, line by line as REPL input", function()
        local saved_print = _G.print
        local env_cc = rawget(_G, "cc")
        _G.cc = cc
        _G.print = function() end
        -- the examples change library settings: put them back for the specs that follow
        local settings = { cc.get_printoptions(), cc.get_rng_state(), cc.get_num_threads(),
                           cc.get_reference_kernels(), cc.is_grad_enabled() }
        local ok, err = pcall(function()
            for name, d in pairs(DOCS) do
                if cc[name] ~= nil or name:find("[.:]") then   -- the namespaces' pages all run
                    for line in (d.ex .. "\n"):gmatch("([^\n]*)\n") do
                        local fn, e = R.compile(line)
                        assert(fn, "cc.help " .. name .. ": example line\n" .. line .. "\ndoes not compile: " .. tostring(e))
                        local okr, er = pcall(fn)
                        assert(okr, "cc.help " .. name .. ": example line\n" .. line .. "\nfails: " .. tostring(er))
                    end
                end
            end
        end)
        _G.print = saved_print
        _G.cc = env_cc
        cc.set_printoptions(settings[1]); cc.set_rng_state(settings[2]); cc.set_num_threads(settings[3])
        cc.set_reference_kernels(settings[4]); cc.set_grad_enabled(settings[5])
        assert(ok, err)
    end)

    it("prints one function's page for cc.help(fn) and cc.help(name)", function()
        local out = repl({ "cc.help(cc.causal_conv1d)", 'cc.help("causal_conv1d")', 'cc.help("cc.selective_scan")',
                           'cc.help("x:sum")', "cc.help(cc.Tensor.narrow)", 'cc.help("x:size")', "cc.help(cc.Tensor.copy_)",
                           'cc.help("Tensor.add_method")', 'cc.help("no_such_fn")', "cc.help()" })
        local page = "cc.causal_conv1d(x, weight, bias [, opts]) -> out [, final_states]\n" ..
                     "  shapes   x (B, D, L) in either layout, weight (D, W), bias (D) or nil -> out like x\n" ..
                     "  options  activation (nil | \"silu\" | \"swish\"), seq_idx (B, L) i32 (nil)"
        contains(out, "cc> cc.help(cc.causal_conv1d)\n" .. page)
        contains(out, "cc> cc.help(\"causal_conv1d\")\n" .. page)
        contains(out, "  example  x = cc.randn(2, 3, 16); w = cc.randn(3, 4)\n" ..
                      "           out = cc.causal_conv1d(x, w, nil, {activation = \"silu\"}); out:size()\n")
        contains(out, "cc> cc.help(\"cc.selective_scan\")\ncc.selective_scan(u, delta, A, B, C [, opts])")
        contains(out, "cc> cc.help(\"x:sum\")\ncc.sum(x [, dim [, keepdim]])")
        contains(out, "cc> cc.help(cc.Tensor.narrow)\ncc.narrow(x, dim, start, length)")
        contains(out, "cc> cc.help(\"x:size\")\nx:size([dim]) -> {sizes...}")
        contains(out, "cc> cc.help(cc.Tensor.copy_)\nx:copy_(src) -> x")
        contains(out, "cc> cc.help(\"Tensor.add_method\")\ncc.Tensor.add_method(name, fn)")
        contains(out, 'cc.help: no page for "no_such_fn" (cc.help() lists the functions)')
        contains(out, "x:narrow(dim, start, len)")   -- the general page
        contains(out, "cc.help(cc.causal_conv1d) or cc.help(\"causal_conv1d\")")
    end)
end)

describe("namespace help", function()
    it("prints the pages of cc.nn, cc.optim, cc.bench functions through the REPL", function()
        local out = repl({ 'cc.help("nn.Linear")', "cc.help(cc.nn.Linear)", 'cc.help("optim.AdamW")', "cc.help(cc.optim.AdamW)", "cc.help(cc.bench.time)",
                           'cc.help("cc.nn.Module:forward")', "cc.help(cc.nn.Linear.forward)", "cc.help(cc.nn.MambaLM.generate)",
                           'cc.help("optim.Optimizer:step")', "cc.help(cc.nn.init.uniform_)", 'cc.help("nn.no_such")', "cc.help()" })
        local linear = "cc.nn.Linear{in_features, out_features [, bias]} -> module"
        contains(out, 'cc> cc.help("nn.Linear")\n' .. linear)
        contains(out, "cc> cc.help(cc.nn.Linear)\n" .. linear)
        contains(out, "  example  m = cc.nn.Linear{in_features = 3, out_features = 2}\n           m(cc.randn(4, 3)):size()\n")
        contains(out, 'cc> cc.help("optim.AdamW")\ncc.optim.AdamW(params [, opts])')
        contains(out, "  options  lr (1e-3), betas ({0.9, 0.999}), eps (1e-8), weight_decay (0.01)")
        contains(out, "cc> cc.help(cc.optim.AdamW)\ncc.optim.AdamW(params [, opts])")
        contains(out, "cc> cc.help(cc.bench.time)\ncc.bench.time(fn [, opts])")
        contains(out, 'cc> cc.help("cc.nn.Module:forward")\nm:forward(x, ...)')
        contains(out, "cc> cc.help(cc.nn.Linear.forward)\nm:forward(x, ...)")
        contains(out, "cc> cc.help(cc.nn.MambaLM.generate)\nlm:generate(prompt, opts)")
        contains(out, 'cc> cc.help("optim.Optimizer:step")\nopt:step([closure])')
        contains(out, "cc> cc.help(cc.nn.init.uniform_)\ncc.nn.init.uniform_(t [, a, b])")
        contains(out, 'cc.help: no page for "nn.no_such"')
        contains(out, "x:narrow(dim, start, len)")   -- the overview still prints
        contains(out, "cc.help(\"nn.Linear\"), cc.help(cc.optim.AdamW)")
    end)
end)

describe("repl completion", function()
    local R = require "causalconv.repl"
    it("completes cc. names, tensor methods and globals", function()
        local env = { cc = cc, x = cc.zeros(2), t = { alpha = 1, beta = 2 } }
        local c = R.complete("cc.causal_conv1d_up", env)
        assert.same({ "cc.causal_conv1d_update" }, c)
        c = R.complete("x:nar", env)
        assert.same({ "x:narrow" }, c)
        c = R.complete("x:si", env)
        assert.same({ "x:sigmoid", "x:silu", "x:size" }, c)
        for _, name in ipairs(R.complete("x:", env)) do
            assert.is_nil(({ ["x:wrap"] = 1, ["x:from_c"] = 1, ["x:add_method"] = 1, ["x:mt"] = 1 })[name], name)
        end
        assert.same({ "t.alpha" }, R.complete("t.al", env))
        assert.same({}, R.complete("f().x", env))
        assert.same({}, R.complete("nothing.x", env))
        local g = R.complete("pri", env)
        assert.truthy(g[1] == "print")
        assert.same({ "then" }, R.complete("the", env))
    end)
end)

-- Terminal sessions: the REPL in a tmux pane (a real pty: readline, history, completion).
local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0 end
local has_tmux = have("tmux")

local function sleep(s) os.execute("sleep " .. s) end

local function tty_session(env)
    local sock = os.tmpname()
    os.remove(sock)
    local S = { sock = sock }
    local function tmux(args)
        local p = io.popen(string.format("tmux -S '%s' %s 2>&1", sock, args))
        local out = p:read("*a")
        p:close()
        return out
    end
    function S.keys(...)
        local parts = {}
        for _, k in ipairs({ ... }) do parts[#parts + 1] = "'" .. k:gsub("'", "'\\''") .. "'" end
        tmux("send-keys " .. table.concat(parts, " "))
    end
    function S.literal(text) tmux("send-keys -l '" .. text:gsub("'", "'\\''") .. "'") end
    function S.screen() return (tmux("capture-pane -p -J"):gsub(" +\n", "\n")) end
    -- waits until the screen shows text; returns the screen
    function S.wait(text, seconds)
        local screen
        for _ = 1, (seconds or 20) * 10 do
            screen = S.screen()
            if screen:find(text, 1, true) then return screen end
            sleep(0.1)
        end
        error("terminal never showed\n" .. text .. "\nscreen:\n" .. tostring(screen))
    end
    function S.close() tmux("kill-server") os.remove(sock) end
    tmux(string.format("new-session -d -x 160 -y 50 \"env %s CAUSALCONV_LIB='%s' luajit lua/causalconv/repl.lua\"", env or "", lib_path()))
    S.wait("cc>")
    return S
end

describe("repl in a terminal", function()
    if not has_tmux then
        pending("tmux is not installed: terminal sessions not run")
        return
    end

    it("edits lines, completes, keeps history across sessions, uses the terminal width", function()
        local hist = os.tmpname()
        local env = "CAUSALCONV_HISTORY='" .. hist .. "'"
        local s = tty_session(env)
        local ok, err = pcall(function()
            s.literal("x = cc.arange(40):view(1, 40)")
            s.keys("Enter")
            s.literal("cc.causal_conv1d_up")
            s.keys("Tab")
            s.wait("cc> cc.causal_conv1d_update")
            s.keys("C-u")
            s.literal("x:nar")
            s.keys("Tab")
            s.literal("(2, 1, 3)")
            s.keys("Enter")
            s.wait(" 0  1  2\n[causalconv.Tensor f32 cpu of size 1x3]")
            s.keys("Up", "Up", "Enter")   -- runs the first line again
            s.wait("1x3]\ncc> x = cc.arange(40):view(1, 40)\ncc>")
            s.literal("x")
            s.keys("Enter")
            -- 40 columns fit a 160-column terminal without "Columns a to b"
            local screen = s.wait("[causalconv.Tensor f32 cpu of size 1x40]")
            assert.is_nil(screen:find("Columns", 1, true), screen)
            assert.is_nil(screen:find("incompatible bytecode", 1, true), screen)
            s.literal("1 + 1")
            s.keys("Left", "Left", "BSpace")
            s.literal("*")
            s.keys("Enter")
            s.wait("cc> 1 * 1\n1\n")
            s.keys("C-d")
        end)
        s.close()
        assert(ok, err)
        local f = assert(io.open(hist))
        local text = f:read("*a")
        f:close()
        contains(text, "x = cc.arange(40):view(1, 40)\nx:narrow(2, 1, 3)\n")
        -- a second session starts with that history
        s = tty_session(env)
        ok, err = pcall(function()
            -- history: x = ..., x:narrow(...), x = ..., x, 1 * 1
            s.keys("Up", "Up", "Up", "Up", "Up", "Enter")
            s.wait("cc> x = cc.arange(40):view(1, 40)\ncc>")
            s.keys("Up", "Up", "Up", "Up", "Up", "Enter")
            s.wait("cc> x:narrow(2, 1, 3)\n 0  1  2\n[causalconv.Tensor f32 cpu of size 1x3]")
        end)
        s.close()
        os.remove(hist)
        assert(ok, err)
    end)

    it("Ctrl-C drops the line at the prompt and stops a running loop", function()
        if not has_sigint then
            pending("the library has no cc_repl_install_sigint")
            return
        end
        local s = tty_session("CAUSALCONV_HISTORY=/dev/null")
        local ok, err = pcall(function()
            s.literal("1 +")
            s.keys("C-c")
            s.wait("cc> 1 +\ncc>")
            s.literal("for i = 1, 3 do")
            s.keys("Enter")
            s.wait(">>")
            s.keys("C-c")
            s.literal("x = cc.ones(2); n = 0; while true do x = x + 0; n = n + 1 end")
            s.keys("Enter")
            sleep(1)
            s.keys("C-c")
            s.wait("interrupted (Ctrl-C)")
            s.literal("n > 0")
            s.keys("Enter")
            s.wait("cc> n > 0\ntrue\n")
        end)
        s.close()
        assert(ok, err)
    end)

    it("falls back to plain input with a one-line note without readline", function()
        local s = tty_session("CAUSALCONV_READLINE=libno_such_readline.so")
        local ok, err = pcall(function()
            s.wait("note: no line editing, history or completion (GNU readline: cannot load libno_such_readline.so")
            s.literal("6 * 7")
            s.keys("Enter")
            s.wait("\n42\n")
        end)
        s.close()
        assert(ok, err)
    end)
end)
