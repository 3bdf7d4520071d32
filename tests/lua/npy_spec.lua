-- .npy files checked against NumPy itself (/usr/bin/python3): what we save NumPy reads back
-- with the same values, and what NumPy writes (C and Fortran order, every dtype NumPy shares
-- with us) we load with the same values. Bad files give errors naming the file and the problem.
local cc = require "causalconv"

local PYTHON = "/usr/bin/python3"

-- Output and success of a shell command (LuaJIT's popen close does not report the status).
local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1; echo \"__rc=$?\"")
    local out = p:read("*a")
    p:close()
    local rc = tonumber(out:match("__rc=(%d+)%s*$"))
    return out:gsub("__rc=%d+%s*$", ""), rc == 0
end

local have_numpy = select(2, sh(PYTHON .. " -c 'import numpy'"))

-- without NumPy the tests that need it show up as pending
local it_numpy = have_numpy and it or pending

local dir = sh("mktemp -d"):gsub("%s+$", "")

local function python(code)
    local f = assert(io.open(dir .. "/script.py", "w"))
    f:write("import numpy as np, sys\n", code, "\n")
    f:close()
    local out, ok = sh(PYTHON .. " " .. dir .. "/script.py")
    assert(ok, "python failed:\n" .. out)
    return out
end

-- NumPy's view of a file: "dtype|shape|v1 v2 ..." (values in C order, repr'd exactly).
local function numpy_read(path)
    local out = python(string.format([[
a = np.load(%q)
print(a.dtype.str + "|" + ",".join(str(s) for s in a.shape) + "|" + " ".join(repr(float(v)) for v in a.ravel()))]], path))
    local dtype, shape, values = out:match("^(.-)|(.-)|(.-)%s*$")
    local s, v = {}, {}
    for n in shape:gmatch("%d+") do s[#s + 1] = tonumber(n) end
    for n in values:gmatch("%S+") do v[#v + 1] = tonumber(n) end
    return dtype, s, v
end

local function flat(t)
    local out = {}
    local function walk(x)
        if type(x) == "table" then for _, y in ipairs(x) do walk(y) end else out[#out + 1] = x end
    end
    walk(t)
    return out
end

teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

describe("npy", function()
    local NUMPY_DTYPE = { f32 = "<f4", f64 = "<f8", f16 = "<f2", i32 = "<i4", i64 = "<i8" }

    it_numpy("saves files NumPy reads with the same values", function()
        local float_values = { { { 0.5, -1.25, 3 }, { 1e-3, 2 ^ 10, -7 } } }
        local int_values = { { { 5, -1, 3 }, { 0, 2 ^ 30, -7 } } }
        for dtype, descr in pairs(NUMPY_DTYPE) do
            local x = cc.tensor(dtype:sub(1, 1) == "i" and int_values or float_values, { dtype = dtype })
            local path = dir .. "/" .. dtype .. ".npy"
            x:save_npy(path)
            local got_dtype, shape, v = numpy_read(path)
            assert.equal(descr, got_dtype)
            assert.same({ 1, 2, 3 }, shape)
            assert.same(flat(x:totable()), v)
        end
    end)

    it_numpy("saves non-contiguous views in their logical order, bf16 as exact f32", function()
        local x = cc.arange(6, { dtype = "f64" }):view(2, 3):t()
        local path = dir .. "/t.npy"
        cc.save_npy(x, path)
        local dtype, shape, v = numpy_read(path)
        assert.equal("<f8", dtype)
        assert.same({ 3, 2 }, shape)
        assert.same({ 0, 3, 1, 4, 2, 5 }, v)
        local b = cc.tensor({ 1 / 3, 100.5 }, { dtype = "bf16" })
        b:save_npy(path)
        dtype, shape, v = numpy_read(path)
        assert.equal("<f4", dtype)
        assert.same({ 0.333984375, 100.5 }, v)
    end)

    it_numpy("loads NumPy files in C and Fortran order for every shared dtype", function()
        python(string.format([[
for dt in ["f4", "f8", "f2", "i4", "i8"]:
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype("<" + dt)
    np.save(%q + "/c_" + dt + ".npy", a)
    np.save(%q + "/f_" + dt + ".npy", np.asfortranarray(a))
np.save(%q + "/scalar.npy", np.array(2.5))
np.save(%q + "/empty.npy", np.zeros((0, 3), dtype="<f4"))
np.save(%q + "/halves.npy", np.array([1/3, 65504, -2**-24], dtype="<f2"))]], dir, dir, dir, dir, dir))
        local expected = {}
        for i = 1, 2 do
            expected[i] = {}
            for j = 1, 3 do
                expected[i][j] = {}
                for k = 1, 4 do expected[i][j][k] = (i - 1) * 12 + (j - 1) * 4 + (k - 1) - 5 end
            end
        end
        local DT = { f4 = "f32", f8 = "f64", f2 = "f16", i4 = "i32", i8 = "i64" }
        for np_dt, dtype in pairs(DT) do
            for _, order in ipairs({ "c", "f" }) do
                local x = cc.load_npy(dir .. "/" .. order .. "_" .. np_dt .. ".npy")
                assert.equal(dtype, x:dtype())
                assert.equal("cpu", x:device())
                assert.same({ 2, 3, 4 }, x:size())
                assert.same(expected, x:totable())
            end
        end
        local s = cc.load_npy(dir .. "/scalar.npy")
        assert.equal(0, s:dim())
        assert.equal(2.5, s:item())
        assert.same({ 0, 3 }, cc.load_npy(dir .. "/empty.npy"):size())
        assert.same({ 0.333251953125, 65504, -2 ^ -24 }, cc.load_npy(dir .. "/halves.npy"):totable())
    end)

    it("round-trips through its own files bit for bit", function()
        cc.manual_seed(3)
        for _, dtype in ipairs({ "f32", "f64", "f16", "i32", "i64" }) do
            local x = dtype:sub(1, 1) == "i" and cc.arange(-20, 20, 3, { dtype = dtype }):view(7, 2)
                      or cc.randn(3, 5, 2, { dtype = dtype })
            local path = dir .. "/rt_" .. dtype .. ".npy"
            x:save_npy(path)
            assert.tensor_equal(cc.load_npy(path), x)
        end
    end)

    it("gives clear errors for bad files", function()
        local missing = dir .. "/no_such_file.npy"
        expect_error(function() cc.load_npy(missing) end, "npy_load: cannot open '" .. missing .. "'")
        local garbage = dir .. "/garbage.npy"
        local f = assert(io.open(garbage, "wb"))
        f:write("this is not an npy file at all")
        f:close()
        expect_error(function() cc.load_npy(garbage) end, "npy_load: '" .. garbage .. "' is not a .npy file")
        expect_error(function() cc.load_npy(42) end, "load_npy: path: expected a string, got 42")
        expect_error(function() cc.save_npy("x", "p.npy") end, 'save_npy: t: expected a causalconv.Tensor, got "x"')
        expect_error(function() cc.zeros(2):save_npy(dir .. "/no_dir/x.npy") end, "npy_save: cannot open")
    end)

    it_numpy("gives clear errors for files NumPy writes that we do not read", function()
        python(string.format([[
np.save(%q + "/u8.npy", np.arange(4, dtype="u1"))
np.save(%q + "/be.npy", np.arange(4, dtype=">f4"))
np.save(%q + "/c64.npy", np.zeros(2, dtype="<c8"))
raw = open(%q + "/c_f8.npy", "rb").read()
open(%q + "/short.npy", "wb").write(raw[:len(raw) - 8])]], dir, dir, dir, dir, dir))
        expect_error(function() cc.load_npy(dir .. "/u8.npy") end, "unsupported dtype '|u1' (supported: <f4 <f8 <f2 <i4 <i8)")
        expect_error(function() cc.load_npy(dir .. "/be.npy") end, "big-endian data ('>f4') is not supported")
        expect_error(function() cc.load_npy(dir .. "/c64.npy") end, "unsupported dtype '<c8'")
        expect_error(function() cc.load_npy(dir .. "/short.npy") end, "truncated data")
    end)
end)
