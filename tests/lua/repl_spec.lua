-- The REPL, driven non-interactively: lines piped into `luajit lua/causalconv/repl.lua`.
local cc = require "causalconv"

local function lib_path()
    local p = os.getenv("CAUSALCONV_LIB") or cc.libpath
    if p:sub(1, 1) ~= "/" then p = io.popen("pwd"):read("*l") .. "/" .. p end
    return p
end

-- Runs the REPL on the given input lines; returns its whole output.
local function repl(lines)
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local p = io.popen(string.format("CAUSALCONV_LIB='%s' timeout 60 luajit lua/causalconv/repl.lua < '%s' 2>&1", lib_path(), input))
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

    it("runs the session from the report", function()
        local out = repl({ "x = cc.randn(2,3,4)", "x:transpose(2,3):contiguous()", 'x:to("bf16")' })
        contains(out, "[causalconv.Tensor f32 cpu of size 2x4x3]")
        contains(out, "[causalconv.Tensor bf16 cpu of size 2x3x4]")
        contains(out, "(2,.,.) =")
    end)
end)
