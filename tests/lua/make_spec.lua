-- The Makefile's run targets as a user calls them: every one honours a CAUSALCONV_LIB given on the
-- command line or in the environment (and then builds nothing), targets that build nothing print
-- nothing about nvcc (the note comes with the link of the library), `make run SCRIPT=...` runs a
-- script from anywhere and `make env` prints the line to paste. Dry runs (make -n) into empty
-- build dirs, plus a few real runs of tiny scripts against the library under test.
local cc = require "causalconv"
local util = require "bench_util"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- output (stdout and stderr), exit status of a shell command
local function sh(cmd)
    local p = io.popen("( " .. cmd .. " ) 2>&1; echo \"exit status $?\"")
    local out = p:read("*a")
    p:close()
    local status = tonumber(out:match("exit status (%d+)\n$"))
    return (out:gsub("exit status %d+\n$", "")), status
end

local function lines(text)
    local t = {}
    for l in text:gmatch("[^\n]+") do t[#t + 1] = l end
    return t
end

local REPO = assert(io.popen("pwd")):read("*l")
local LIB = require("causalconv.ffi").libpath           -- the library under test
local ABS_LIB = LIB:sub(1, 1) == "/" and LIB or REPO .. "/" .. LIB
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. sh_quote(tmp))
local EMPTY_BUILD = tmp .. "/build-empty"               -- never built: a target that builds shows it

-- make in the repo, with CAUSALCONV_LIB removed from the environment unless env_lib is given
local function make(args, env_lib)
    local env = env_lib and ("CAUSALCONV_LIB=" .. sh_quote(env_lib)) or "-u CAUSALCONV_LIB"
    return sh("env " .. env .. " make --no-print-directory -C " .. sh_quote(REPO) .. " " .. args)
end

local RUN_TARGETS = {
    gradcheck = "luajit experiments/gradcheck.lua",
    sweep = "luajit experiments/sweep.lua",
    bench = "luajit experiments/bench_torch.lua",
    ["bench-cuda"] = "luajit experiments/sweep.lua --device cuda",
    repl = "luajit lua/causalconv/repl.lua",
}

describe("make with a user-given CAUSALCONV_LIB", function()
    local lib = tmp .. "/elsewhere/libcausalconv.so"      -- need not exist for a dry run
    for target, command in pairs(RUN_TARGETS) do
        it(target .. " uses it (command line or environment) and builds nothing", function()
            for _, how in ipairs({ "command line", "environment" }) do
                local out, status
                if how == "command line" then
                    out, status = make("-n " .. target .. " BUILD=" .. sh_quote(EMPTY_BUILD) .. " CAUSALCONV_LIB=" .. sh_quote(lib))
                else
                    out, status = make("-n " .. target .. " BUILD=" .. sh_quote(EMPTY_BUILD), lib)
                end
                assert.are.equal(0, status, out)
                local l = lines(out)
                assert.are.equal(1, #l, how .. ": one command, nothing built:\n" .. out)
                assert.matches("CAUSALCONV_LIB=" .. lib .. " " .. command, l[1], 1, true)
                assert.is_nil(out:lower():find("nvcc", 1, true), how .. ": " .. out)
            end
        end)
    end

    it("run uses it too", function()
        local out, status = make("-n run SCRIPT=x.lua BUILD=" .. sh_quote(EMPTY_BUILD), lib)
        assert.are.equal(0, status, out)
        assert.matches("CAUSALCONV_LIB='" .. lib .. "' luajit 'x.lua'", out, 1, true)
        assert.is_nil(out:lower():find("nvcc", 1, true), out)
        assert.is_nil(out:find(" -c ", 1, true), out)
    end)
end)

describe("make without CAUSALCONV_LIB", function()
    it("builds $(BUILD)/libcausalconv.so first and runs with it; the nvcc note comes with the link", function()
        local out, status = make("-n repl NVCC= BUILD=" .. sh_quote(EMPTY_BUILD))
        assert.are.equal(0, status, out)
        local l = lines(out)
        local link, note, runline
        for i, line in ipairs(l) do
            if line:find("-o " .. EMPTY_BUILD .. "/libcausalconv.so", 1, true) then link = i end
            if line:find("[causalconv] nvcc not found (or NVCC= given): " .. EMPTY_BUILD .. "/libcausalconv.so is CPU-only", 1, true) then note = i end
            if line:find("CAUSALCONV_LIB=" .. EMPTY_BUILD .. "/libcausalconv.so luajit lua/causalconv/repl.lua", 1, true) then runline = i end
        end
        assert.truthy(link and note and runline, out)
        assert.are.equal(link + 1, note, "the note right after the link:\n" .. out)
        assert.is_true(note < runline)
        local n = 0
        for _ in out:gmatch("nvcc") do n = n + 1 end
        assert.are.equal(1, n, "the note once:\n" .. out)
    end)

    it("an empty CAUSALCONV_LIB= counts as not given", function()
        local out, status = make("-s env CAUSALCONV_LIB= BUILD=" .. sh_quote(EMPTY_BUILD))
        assert.are.equal(0, status, out)
        assert.matches("export CAUSALCONV_LIB='" .. EMPTY_BUILD .. "/libcausalconv.so'", out, 1, true)
    end)

    for _, target in ipairs({ "deps", "clean", "env" }) do
        it("make -n " .. target .. " says nothing about nvcc", function()
            local out, status = make("-n " .. target .. " BUILD=" .. sh_quote(EMPTY_BUILD))
            assert.are.equal(0, status, out)
            assert.is_nil(out:lower():find("nvcc", 1, true), out)
        end)
    end
end)

describe("your own script", function()
    local script = tmp .. "/work/my_script.lua"
    os.execute("mkdir -p " .. sh_quote(tmp .. "/work"))
    local f = assert(io.open(script, "w"))
    f:write([[
local cc = require "causalconv"
local util = require "bench_util"
print("lib " .. require("causalconv.ffi").libpath)
print("args " .. table.concat(arg, "|"))
print("cwd " .. io.popen("pwd"):read("*l"))
print("sum " .. cc.ones(2, 3):sum():item() .. " " .. type(util.row))
]])
    f:close()

    it("make -C <repo> run SCRIPT=... ARGS=... runs it in the caller's directory with the library", function()
        local out, status = sh("cd " .. sh_quote(tmp .. "/work") .. " && CAUSALCONV_LIB=" .. sh_quote(ABS_LIB)
            .. " make -s --no-print-directory -C " .. sh_quote(REPO) .. " run SCRIPT=my_script.lua ARGS='--steps 3 x'")
        assert.are.equal(0, status, out)
        assert.matches("lib " .. ABS_LIB .. "\n", out, 1, true)
        assert.matches("args --steps|3|x\n", out, 1, true)
        assert.matches("cwd " .. tmp .. "/work\n", out, 1, true)
        assert.matches("sum 6 function\n", out, 1, true)
        assert.is_nil(out:lower():find("nvcc", 1, true), out)
    end)

    it("make run without SCRIPT, or with a missing one, says how to call it", function()
        local out, status = make("-s run", ABS_LIB)
        assert.are.equal(2, status, out)
        assert.matches('usage: make run SCRIPT=path/to/script.lua [ARGS="..."]', out, 1, true)
        out, status = make("-s run SCRIPT=no/such/script.lua", ABS_LIB)
        assert.are.equal(2, status, out)
        assert.matches("make run: no such file: no/such/script.lua", out, 1, true)
    end)

    it("eval \"$(make -s env)\" makes a plain `luajit script.lua` work anywhere", function()
        local out, status = sh("cd " .. sh_quote(tmp) .. " && eval \"$(CAUSALCONV_LIB=" .. sh_quote(ABS_LIB)
            .. " make -s --no-print-directory -C " .. sh_quote(REPO) .. " env)\" && cd work && luajit my_script.lua a")
        assert.are.equal(0, status, out)
        assert.matches("lib " .. ABS_LIB .. "\n", out, 1, true)
        assert.matches("args a\n", out, 1, true)
        assert.matches("sum 6 function\n", out, 1, true)
    end)

    it("make repl with the library given starts the REPL on it, saying nothing about nvcc", function()
        local out, status = sh("echo 'print(1 + 1)' | CAUSALCONV_LIB=" .. sh_quote(ABS_LIB)
            .. " make -s --no-print-directory -C " .. sh_quote(REPO) .. " repl")
        assert.are.equal(0, status, out)
        assert.matches("\n2\n", out, 1, true)
        assert.matches(util.cuda_status(cc), out, 1, true)   -- the banner's CUDA words
        assert.is_nil(out:lower():find("nvcc", 1, true), out)
    end)
end)
