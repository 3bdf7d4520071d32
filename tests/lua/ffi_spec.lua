-- The loader (lua/causalconv/ffi.lua) and the assembly of cc (init.lua), run in fresh LuaJIT
-- processes: busted memoizes ffi.cdef/ffi.load, so only a separate process shows what a user's
-- script or REPL would see.
local cc = require "causalconv"

local ROOT = io.popen("pwd"):read("*l")

local function lib_path()
    local p = os.getenv("CAUSALCONV_LIB") or cc.libpath
    if p:sub(1, 1) ~= "/" then p = ROOT .. "/" .. p end
    return p
end

-- Runs a Lua snippet in a new luajit with lua_dir on package.path; returns output, success.
local function luajit(code, env, lua_dir)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format("package.path = %q .. '/?.lua;' .. %q .. '/?/init.lua;' .. package.path\n", lua_dir or ROOT .. "/lua", lua_dir or ROOT .. "/lua"))
    f:write(code)
    f:close()
    local p = io.popen(string.format("cd /tmp && %s timeout 60 luajit '%s' 2>&1; echo \"__rc=$?\"", env or "", script))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    local rc = tonumber(out:match("__rc=(%d+)%s*$"))
    return (out:gsub("__rc=%d+%s*$", "")), rc == 0
end

describe("library loading", function()
    it("loads the library named by CAUSALCONV_LIB from any working directory", function()
        local out, ok = luajit('local cc = require "causalconv"; print(cc.libpath, cc.zeros(2, 3):numel())',
                               "CAUSALCONV_LIB='" .. lib_path() .. "'")
        assert.is_true(ok, out)
        assert.equal(lib_path() .. "\t6\n", out)
    end)

    it("lists every path it tried and says to run make", function()
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB=/nonexistent/libcausalconv.so")
        assert.is_false(ok)
        assert.truthy(out:find("cannot load libcausalconv.so; tried:\n  /nonexistent/libcausalconv.so ($CAUSALCONV_LIB): no such file", 1, true), out)
        assert.truthy(out:find("run `make`", 1, true), out)
    end)

    it("searches package.cpath, then the repo's build/ when CAUSALCONV_LIB is unset", function()
        local dir = io.popen("mktemp -d"):read("*l")
        os.execute(string.format("ln -s '%s' '%s/libcausalconv.so'", lib_path(), dir))
        local out, ok = luajit(string.format('package.cpath = "%s/?.so"; print(require("causalconv").libpath)', dir), "env -u CAUSALCONV_LIB")
        assert.is_true(ok, out)
        assert.equal(dir .. "/libcausalconv.so\n", out)
        os.execute("rm -rf '" .. dir .. "'")
        out, ok = luajit('package.cpath = "/nowhere/?.so"; print(require("causalconv").libpath)', "env -u CAUSALCONV_LIB")
        local f = io.open(ROOT .. "/build/libcausalconv.so")
        if f then
            f:close()
            assert.is_true(ok, out)
            assert.equal(ROOT .. "/lua/causalconv/../../build/libcausalconv.so\n", out)
        else
            assert.is_false(ok)
            assert.truthy(out:find("build/libcausalconv.so (repo build dir): no such file", 1, true), out)
            assert.truthy(out:find("package.cpath: no libcausalconv in /nowhere/?.so", 1, true), out)
        end
    end)

    it("survives a full reload of every module (the cdef runs once)", function()
        local out, ok = luajit([[
local cc = require "causalconv"
local x = cc.ones(3)
for name in pairs(package.loaded) do
    if name == "causalconv" or name:match("^causalconv%.") then package.loaded[name] = nil end
end
local cc2 = require "causalconv"
print(cc2 ~= cc, cc2.zeros(2):numel(), x:numel())]], "CAUSALCONV_LIB='" .. lib_path() .. "'")
        assert.is_true(ok, out)
        assert.equal("true\t2\t3\n", out)
    end)
end)

describe("assembly of cc", function()
    local tree

    -- a copy of the binding (every module) and of the headers the loader reads
    before_each(function()
        tree = io.popen("mktemp -d"):read("*l")
        os.execute(string.format("mkdir -p '%s/lua' '%s/core' '%s/kernels' && cp '%s/core/causalconv.h' '%s/core/' && " ..
                                 "cp '%s/kernels/enums.h' '%s/kernels/' && cp -r '%s/lua/causalconv' '%s/lua/'",
                                 tree, tree, tree, ROOT, tree, ROOT, tree, ROOT, tree))
    end)

    after_each(function() os.execute("rm -rf '" .. tree .. "'") end)

    local function write(name, text)
        local f = assert(io.open(tree .. "/lua/causalconv/" .. name, "w"))
        f:write(text)
        f:close()
    end

    it("loads every module, in order, into one table", function()
        local out, ok = luajit('local cc = require "causalconv"; print(table.concat(cc.modules, ","), cc.zeros(2):numel())',
                               "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_true(ok, out)
        assert.equal("tensor,printing,tape,cuda,ops,conv,scan,random,safetensors,nn,mamba,optim,gradcheck,bench,help\t2\n", out)
    end)

    it("raises when a module is missing", function()
        os.remove(tree .. "/lua/causalconv/ops.lua")
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_false(ok)
        assert.truthy(out:find("module 'causalconv.ops' not found", 1, true), out)
    end)

    it("raises when a submodule is there but broken", function()
        write("ops.lua", "return { add = ( }\n")
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_false(ok)
        assert.truthy(out:find("ops.lua:1:", 1, true), out)
    end)

    it("raises when two modules define one name", function()
        write("help.lua", "return { help = function() end, zeros = function() end }\n")
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_false(ok)
        assert.truthy(out:find("cc.zeros is defined by both tensor and help", 1, true), out)
    end)

    it("refuses a module that replaces another's method", function()
        write("help.lua", 'require("causalconv.tensor").Tensor.add_method("view", function() end)\nreturn {}\n')
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_false(ok)
        assert.truthy(out:find("Tensor.add_method: view is already defined", 1, true), out)
    end)

    it("reads the API from the header next to the modules", function()
        os.remove(tree .. "/core/causalconv.h")
        local out, ok = luajit('require "causalconv"', "CAUSALCONV_LIB='" .. lib_path() .. "'", tree .. "/lua")
        assert.is_false(ok)
        assert.truthy(out:find("cannot read the C API header", 1, true), out)
        assert.truthy(out:find("core/causalconv.h", 1, true), out)
    end)
end)

describe("check and raise", function()
    local F = require "causalconv.ffi"

    it("raise C's message at the caller's line, or at an explicit level", function()
        local C = cc.C
        local pout = cc.ffi.new("cc_tensor*[1]")
        local x = cc.zeros(2, 3)
        local st = C.cc_tensor_transpose(pout, x._h, 0, 7)
        assert.is_not.equal(0, st)
        local line = debug.getinfo(1, "l").currentline + 1
        local ok, err = pcall(function() F.check(st) end)
        assert.is_false(ok)
        assert.matches("ffi_spec%.lua:" .. line .. ": transpose: ", err)
        local function wrapper() F.check(st, 2) end
        line = debug.getinfo(1, "l").currentline + 1
        ok, err = pcall(function() wrapper() end)
        assert.matches("ffi_spec%.lua:" .. line .. ": transpose: ", err)
        assert.has_no.errors(function() F.check(0) end)
    end)
end)
