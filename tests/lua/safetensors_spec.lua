-- safetensors checkpoints (lua/causalconv/safetensors.lua): round trips for every dtype and
-- shape, the writer's bytes against a hand-built file, hand-built files (written byte by byte
-- here, independent of the writer) loading with the right values, malformed files failing with
-- the file's name and the problem, bad arguments, and atomic saves.
local cc = require "causalconv"
local cjson = require "cjson"

local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("*a")
    p:close()
    return out
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

local function read_bytes(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function write_bytes(path, s)
    local f = assert(io.open(path, "wb"))
    assert(f:write(s))
    assert(f:close())
    return path
end

-- "0000c03f 000000c0" -> the bytes
local function hex(s)
    return (s:gsub("%s", ""):gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

-- n as 8 little-endian bytes, built here (not with the module's writer)
local function u64(n)
    local b = {}
    for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
    return table.concat(b)
end

-- a file: header size, the header text as given, the data bytes
local function st_bytes(header, data) return u64(#header) .. header .. (data or "") end

local nfile = 0
local function file_with(bytes)
    nfile = nfile + 1
    return write_bytes(string.format("%s/case%d.safetensors", dir, nfile), bytes)
end

-- the directory's entries (to see that no temporary file is left)
local function listing(d) return sh("ls -A '" .. d .. "'") end

-- the JSON header of a file, decoded
local function header_of(path)
    local s = read_bytes(path)
    local n = 0
    for i = 8, 1, -1 do n = n * 256 + s:byte(i) end
    return cjson.decode(s:sub(9, 8 + n)), n, s
end

local DTYPES = { "f32", "f64", "f16", "bf16", "i32", "i64" }

local function sample(shape, dtype)
    local t = cc.randn(shape, { dtype = "f64" }):mul(50)
    return t:to(dtype)
end

describe("safetensors", function()
    describe("round trips", function()
        it("keeps every dtype and shape (0-d, zero-size, up to 8 dims) bit for bit", function()
            local shapes = { {}, { 0 }, { 3, 0, 2 }, { 1 }, { 7 }, { 2, 3, 4 }, { 1, 2, 1, 2, 1, 2, 1, 2 } }
            local tensors, k = {}, 0
            for _, dtype in ipairs(DTYPES) do
                for _, shape in ipairs(shapes) do
                    k = k + 1
                    tensors[dtype .. "_" .. k] = sample(shape, dtype)
                end
            end
            local path = dir .. "/all.safetensors"
            cc.save_safetensors(tensors, path)
            local back, meta = cc.load_safetensors(path)
            assert.same({}, meta)
            local n = 0
            for name, t in pairs(tensors) do
                n = n + 1
                assert.is_true(cc.is_tensor(back[name]), name)
                assert.are.equal("cpu", back[name]:device())
                assert.is_true(back[name]:is_contiguous())
                assert.tensor_equal(back[name], t)
            end
            local m = 0
            for _ in pairs(back) do m = m + 1 end
            assert.are.equal(n, m)
            -- the data starts 8-byte aligned, as Hugging Face's writer leaves it
            local _, hn = header_of(path)
            assert.are.equal(0, (8 + hn) % 8)
        end)

        it("saves non-contiguous and expanded tensors as their values", function()
            local base = cc.randn(4, 5, 6)
            local tensors = {
                tr = base:transpose(1, 3),
                nar = base:narrow(2, 2, 3),
                sel = base:select(3, 4),
                exp = cc.randn(3, 1):expand(3, 4),
                exp0 = cc.tensor(2.5):expand(2, 2),
            }
            local path = dir .. "/views.safetensors"
            cc.save_safetensors(tensors, path)
            local back = cc.load_safetensors(path)
            for name, t in pairs(tensors) do assert.tensor_equal(back[name], t:contiguous()) end
            local h = header_of(path)
            assert.same({ 3, 4 }, h.exp.shape)
            assert.are.equal(48, h.exp.data_offsets[2] - h.exp.data_offsets[1])
        end)

        it("saves tensors that require grad and leaves their graph alone", function()
            local w = cc.randn(3, 2, { dtype = "f64", requires_grad = true })
            local y = w * 2
            local path = dir .. "/grad.safetensors"
            cc.save_safetensors({ w = w, y = y }, path)
            local back = cc.load_safetensors(path)
            assert.tensor_equal(back.w, w:detach())
            assert.tensor_equal(back.y, y:detach())
            assert.is_nil(w.grad)
        end)

        it("keeps metadata (string -> string), and gives an empty table without it", function()
            local path = dir .. "/meta.safetensors"
            local meta = { format = "pt", note = 'quotes " and \\ and\nnewline\t\1 and ünïcödé', [""] = "" }
            cc.save_safetensors({ x = cc.ones(2) }, path, meta)
            local back, m = cc.load_safetensors(path)
            assert.same(meta, m)
            assert.tensor_equal(back.x, cc.ones(2))
            cc.save_safetensors({}, path, { only = "metadata" })
            back, m = cc.load_safetensors(path)
            assert.same({}, back)
            assert.same({ only = "metadata" }, m)
            cc.save_safetensors({}, path)
            back, m = cc.load_safetensors(path)
            assert.same({}, back)
            assert.same({}, m)
        end)

        it("packs a list of {name, tensor} pairs in the order given, a name -> tensor table by name", function()
            local a, b, c = cc.ones(2), cc.zeros(3, { dtype = "f64" }), cc.arange(0, 4)
            local path = dir .. "/order.safetensors"
            cc.save_safetensors({ { "z", a }, { "a", b }, { "m", c } }, path)
            local h, n, s = header_of(path)
            assert.same({ 0, 8 }, h.z.data_offsets)
            assert.same({ 8, 32 }, h.a.data_offsets)
            assert.same({ 32, 32 + 4 * c:element_size() }, h.m.data_offsets)
            local text = s:sub(9, 8 + n)
            assert.is_true(text:find('"z"', 1, true) < text:find('"a"', 1, true))
            assert.is_true(text:find('"a"', 1, true) < text:find('"m"', 1, true))
            local back = cc.load_safetensors(path)
            assert.tensor_equal(back.z, a)
            assert.tensor_equal(back.a, b)
            assert.tensor_equal(back.m, c)

            cc.save_safetensors({ z = a, a = b, m = c }, path)
            h = header_of(path)
            assert.same({ 0, 24 }, h.a.data_offsets)
            assert.same({ 24, 24 + 4 * c:element_size() }, h.m.data_offsets)
            assert.are.equal(h.m.data_offsets[2], h.z.data_offsets[1])
        end)

        it("writes exactly the bytes Hugging Face's writer does for a small case", function()
            local path = dir .. "/exact.safetensors"
            cc.save_safetensors({ w = cc.tensor({ 1.5, -2 }, { dtype = "f32" }) }, path, { k = "v" })
            local expected = "\80\0\0\0\0\0\0\0"   -- 80: 79 bytes of JSON + 1 space
                .. '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} '
                .. hex("0000c03f 000000c0")
            assert.are.equal(expected, read_bytes(path))
        end)

        it("loads with opts.device and opts.names", function()
            local path = dir .. "/opts.safetensors"
            cc.save_safetensors({ a = cc.ones(2), b = cc.zeros(3) }, path)
            local back = cc.load_safetensors(path, { device = "cpu", names = { "b" } })
            assert.is_nil(back.a)
            assert.tensor_equal(back.b, cc.zeros(3))
            assert.same({}, (cc.load_safetensors(path, { names = {} })))
        end)
    end)

    describe("on TEST_DEVICE #cuda", function()
        it("saves device tensors (views too) and loads onto the device with opts.device", function()
            local host = { a = cc.randn(3, 4), h = cc.randn(2, 5):half(), l = cc.arange(0, 6):long() }
            local dev = {}
            for k, v in pairs(host) do dev[k] = v:to(TEST_DEVICE) end
            dev.t = dev.a:transpose(1, 2)
            local path = dir .. "/device.safetensors"
            cc.save_safetensors(dev, path)
            local back = cc.load_safetensors(path)
            for k, v in pairs(dev) do
                assert.are.equal("cpu", back[k]:device())
                assert.tensor_equal(back[k], v:to("cpu"):contiguous())
            end
            local on = cc.load_safetensors(path, { device = TEST_DEVICE, names = { "t", "h" } })
            assert.are.equal(dev.t:device(), on.t:device())
            assert.tensor_equal(on.t:to("cpu"), dev.t:to("cpu"):contiguous())
            assert.tensor_equal(on.h:to("cpu"), host.h)
        end)
    end)

    describe("hand-built files", function()
        it("load with the right values for every dtype, in any key order, unpadded, unaligned", function()
            -- F16 (3) first so the F32 after it starts at byte 6: unaligned data is fine
            local header = '{ "h": {"shape": [3], "dtype": "F16", "data_offsets": [0, 6]},\n'
                .. ' "f": {"data_offsets": [6, 14], "dtype": "F32", "shape": [2, 1]},\n'
                .. ' "d": {"dtype": "F64", "shape": [], "data_offsets": [14, 22]},\n'
                .. ' "__metadata__": {"who": "hand"},\n'
                .. ' "b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [22, 26]},\n'
                .. ' "i": {"dtype": "I32", "shape": [2], "data_offsets": [26, 34]},\n'
                .. ' "l": {"dtype": "I64", "shape": [2], "data_offsets": [34, 50]},\n'
                .. ' "e": {"dtype": "F32", "shape": [2, 0], "data_offsets": [50, 50]} }'
            local data = hex("003c 00c0 ff7b") .. hex("0000c03f 000000c0") .. hex("9a9999999999b93f")
                .. hex("803f 60c0") .. hex("ffffffff ffffff7f") .. hex("0300000000010000 fbffffffffffffff")
            assert.are.equal(50, #data)
            local t, m = cc.load_safetensors(file_with(st_bytes(header, data)))
            assert.same({ who = "hand" }, m)
            assert.are.equal("f16", t.h:dtype())
            assert.same({ 1, -2, 65504 }, t.h:totable())
            assert.same({ { 1.5 }, { -2 } }, t.f:totable())
            assert.are.equal("f64", t.d:dtype())
            assert.same({}, t.d:size())
            assert.are.equal(0.1, t.d:item())
            assert.are.equal("bf16", t.b:dtype())
            assert.same({ { 1, -3.5 } }, t.b:totable())
            assert.same({ -1, 2 ^ 31 - 1 }, t.i:totable())
            assert.are.equal("i64", t.l:dtype())
            assert.same({ 2 ^ 40 + 3, -5 }, t.l:totable())
            assert.same({ 2, 0 }, t.e:size())
        end)

        it("skip tensors of other Hugging Face dtypes with opts.names", function()
            local header = '{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"x":{"dtype":"I32","shape":[1],"data_offsets":[3,7]}}'
            local path = file_with(st_bytes(header, "abc" .. hex("07000000")))
            local t = cc.load_safetensors(path, { names = { "x" } })
            assert.same({ 7 }, t.x:totable())
            assert.is_nil(t.u)
            local err = expect_error(function() cc.load_safetensors(path) end, 'tensor "u" has dtype U8, which causalconv does not support')
            assert.truthy(err:find(path, 1, true))
        end)
    end)

    describe("malformed files fail naming the file and the problem", function()
        local function F32(name, shape, b, e)
            return string.format('"%s":{"dtype":"F32","shape":[%s],"data_offsets":[%d,%d]}', name, shape, b, e)
        end
        local valid = st_bytes("{" .. F32("a", "2", 0, 8) .. "}", hex("0000803f 00000040"))
        local cases = {
            { "an empty file", "", "the file is 0 bytes, too short" },
            { "a 5-byte file", "\1\0\0\0\0", "the file is 5 bytes, too short" },
            { "an absurd header size", u64(2 ^ 40) .. "{}", "larger than the 100000000-byte limit" },
            { "an all-ones header size", ("\255"):rep(8) .. "{}", "larger than the 100000000-byte limit" },
            { "a header size past the end", u64(100) .. "{}", "the header size 100 goes beyond the end of the file (10 bytes" },
            { "an empty header", u64(0), "the header is empty" },
            { "a header that is not an object", st_bytes("[1, 2]"), "the header is not a JSON object" },
            { "a header that is not JSON", st_bytes("{abc"), "the header is not valid JSON" },
            { "a header with trailing garbage", st_bytes("{} x"), "the header is not valid JSON" },
            { "a header with NaN", st_bytes('{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}'), "the header is not valid JSON" },
            { "a header nested too deep", st_bytes('{"a":' .. ("["):rep(100) .. ("]"):rep(100) .. "}"), "the header is not valid JSON" },
            { "a header that is not UTF-8", st_bytes('{"\255":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'), "the header is not valid UTF-8 (byte 3" },
            { "an entry that is not an object", st_bytes('{"a":3}'), 'tensor "a": expected an object' },
            { "an entry that is a list", st_bytes('{"a":[1]}'), 'tensor "a": expected an object' },
            { "an unknown key", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"extra":1}}'), 'tensor "a": unknown key "extra"' },
            { "a missing key", st_bytes('{"a":{"dtype":"F32","data_offsets":[0,0]}}'), 'tensor "a": missing shape' },
            { "an unknown dtype", st_bytes('{"a":{"dtype":"F33","shape":[0],"data_offsets":[0,0]}}'), 'tensor "a": unknown dtype "F33"' },
            { "a dtype that is not a string", st_bytes('{"a":{"dtype":1,"shape":[0],"data_offsets":[0,0]}}'), 'tensor "a": dtype: expected a string' },
            { "a shape that is not a list", st_bytes('{"a":{"dtype":"F32","shape":3,"data_offsets":[0,0]}}'), 'tensor "a": shape: expected a list of non-negative integers' },
            { "a negative size", st_bytes('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'), "got the number -1 at position 1" },
            { "a fractional size", st_bytes('{"a":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,0]}}'), "got the number 1.5 at position 2" },
            { "a size of 2^53", st_bytes('{"a":{"dtype":"F32","shape":[9007199254740992],"data_offsets":[0,0]}}'), "at position 1" },
            { "a size that is a string", st_bytes('{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,0]}}'), 'got the string "2" at position 1' },
            { "9 dims", st_bytes('{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}', "abcd"), "shape has 9 dims" },
            { "a zero-size shape whose sizes overflow", st_bytes('{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}'), 'tensor "a": shape (0, 4294967296, 4294967296)' },
            { "one data offset", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}}'), "data_offsets: expected two non-negative integers [begin, end], got a list of 1 value" },
            { "three data offsets", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0,0]}}'), "data_offsets: expected two non-negative integers [begin, end], got a list of 3 values" },
            { "a negative offset", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":[-4,0]}}'), "data_offsets: expected two non-negative integers [begin, end], got the number -4 and the number 0" },
            { "an offset that is a string", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,"0"]}}'), 'got the number 0 and the string "0"' },
            { "data_offsets that are not a list", st_bytes('{"a":{"dtype":"F32","shape":[0],"data_offsets":5}}'), "data_offsets: expected two non-negative integers [begin, end], got the number 5" },
            { "begin after end", st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', "abcd"), "data_offsets [4, 0]: begin is after end" },
            { "an end past the data", st_bytes("{" .. F32("a", "2", 0, 8) .. "}", "abcd"), "data_offsets [0, 8] go beyond the end of the data section (4 bytes" },
            { "a size mismatch", st_bytes("{" .. F32("a", "2", 0, 4) .. "}", "abcd"), "data_offsets [0, 4] hold 4 bytes, but F32 (2) needs 8" },
            { "overlapping tensors", st_bytes("{" .. F32("a", "2", 0, 8) .. "," .. F32("b", "2", 4, 12) .. "}", ("x"):rep(12)), 'tensor "b": data_offsets [4, 12] overlap tensor "a" (data_offsets [0, 8])' },
            { "identical tensors", st_bytes("{" .. F32("a", "2", 0, 8) .. "," .. F32("b", "2", 0, 8) .. "}", ("x"):rep(8)), "overlap" },
            { "a hole", st_bytes("{" .. F32("a", "1", 0, 4) .. "," .. F32("b", "1", 8, 12) .. "}", ("x"):rep(12)), "leave a hole: bytes 4 to 8" },
            { "a hole at the start", st_bytes("{" .. F32("a", "1", 4, 8) .. "}", ("x"):rep(8)), "leave a hole: bytes 0 to 4" },
            { "trailing bytes", st_bytes("{" .. F32("a", "1", 0, 4) .. "}", ("x"):rep(8)), "4 trailing bytes" },
            { "metadata that is not an object", st_bytes('{"__metadata__":"x"}'), "__metadata__: expected an object of string -> string" },
            { "metadata that is a list", st_bytes('{"__metadata__":["x"]}'), "__metadata__: expected an object of string -> string" },
            { "a metadata value that is not a string", st_bytes('{"__metadata__":{"k":1}}'), '__metadata__: "k": expected a string value, got the number 1' },
            { "a null metadata value", st_bytes('{"__metadata__":{"k":null}}'), '__metadata__: "k": expected a string value, got null' },
            { "a truncated file", valid:sub(1, -2), "go beyond the end of the data section (7 bytes; truncated file?)" },
            { "a file truncated in the header", valid:sub(1, 20), "goes beyond the end of the file" },
        }
        for _, case in ipairs(cases) do
            it("rejects " .. case[1], function()
                local path = file_with(case[2])
                local err = expect_error(function() cc.load_safetensors(path) end, case[3])
                assert.truthy(err:find("load_safetensors: " .. path .. ": ", 1, true), err)
            end)
        end

        it("loads the untouched file those cases were cut from", function()
            assert.same({ 1, 2 }, cc.load_safetensors(file_with(valid)).a:totable())
        end)

        it("names a file it cannot open or read", function()
            local missing = dir .. "/no/such.safetensors"
            expect_error(function() cc.load_safetensors(missing) end, "load_safetensors: " .. missing .. ": cannot open the file (No such file")
            expect_error(function() cc.load_safetensors(dir) end, "load_safetensors: " .. dir .. ": cannot read the file")
        end)
    end)

    describe("bad arguments", function()
        local t = cc.ones(2)
        local p = dir .. "/args.safetensors"
        it("to save_safetensors name the argument, what was expected and what came", function()
            expect_error(function() cc.save_safetensors(5, p) end, "save_safetensors: tensors: expected a table of name -> tensor or a list of {name, tensor} pairs, got 5")
            expect_error(function() cc.save_safetensors(t, p) end, "save_safetensors: tensors: expected a table of name -> tensor or a list of {name, tensor} pairs, got a tensor")
            expect_error(function() cc.save_safetensors({ a = 3 }, p) end, 'save_safetensors: tensors: "a": expected a causalconv.Tensor, got 3')
            expect_error(function() cc.save_safetensors({ [""] = t }, p) end, "save_safetensors: tensors: \"\": expected a non-empty name")
            expect_error(function() cc.save_safetensors({ __metadata__ = t }, p) end, 'save_safetensors: tensors: "__metadata__": "__metadata__" is reserved')
            expect_error(function() cc.save_safetensors({ ["\255"] = t }, p) end, "expected a UTF-8 name")
            expect_error(function() cc.save_safetensors({ [true] = t }, p) end, "save_safetensors: tensors: expected a list of {name, tensor} pairs (keys 1..n), got the key true")
            expect_error(function() cc.save_safetensors({ a = t, { "b", t } }, p) end, "got a table with both")
            expect_error(function() cc.save_safetensors({ { "a" } }, p) end, "save_safetensors: tensors: pair 1: expected a {name, tensor} pair, got a table")
            expect_error(function() cc.save_safetensors({ t }, p) end, "save_safetensors: tensors: pair 1: expected a {name, tensor} pair, got a tensor")
            expect_error(function() cc.save_safetensors({ { 1, t } }, p) end, "save_safetensors: tensors: pair 1: expected a string name, got 1")
            expect_error(function() cc.save_safetensors({ { "a", 2 } }, p) end, 'save_safetensors: tensors: pair 1 ("a"): expected a causalconv.Tensor, got 2')
            expect_error(function() cc.save_safetensors({ { "a", t }, { "b", t }, { "a", t } }, p) end, 'save_safetensors: tensors: pair 3: the name "a" is used twice (pairs 1 and 3)')
            expect_error(function() cc.save_safetensors({ { "__metadata__", t } }, p) end, "is reserved for the metadata")
            expect_error(function() cc.save_safetensors({ a = t }, 3) end, "save_safetensors: path: expected a non-empty string, got 3")
            expect_error(function() cc.save_safetensors({ a = t }, p, "x") end, 'save_safetensors: metadata: expected a table of string -> string or nil, got "x"')
            expect_error(function() cc.save_safetensors({ a = t }, p, { [1] = "x" }) end, "save_safetensors: metadata: expected string keys, got the key 1")
            expect_error(function() cc.save_safetensors({ a = t }, p, { k = 1 }) end, 'save_safetensors: metadata: "k": expected a string value, got 1')
            expect_error(function() cc.save_safetensors({ a = t }, p, { k = "\192\128" }) end, 'save_safetensors: metadata: "k": expected UTF-8 text')
            assert.is_nil(io.open(p, "rb"))
        end)

        it("to load_safetensors name the argument", function()
            cc.save_safetensors({ a = t }, p)
            expect_error(function() cc.load_safetensors(nil) end, "load_safetensors: path: expected a non-empty string, got nil")
            expect_error(function() cc.load_safetensors(p, { dtype = "f32" }) end, 'load_safetensors: opts: unknown option "dtype" (valid options: device, names)')
            expect_error(function() cc.load_safetensors(p, { device = "gpu" }) end, "load_safetensors: device: expected")
            expect_error(function() cc.load_safetensors(p, { names = "a" }) end, "load_safetensors: names: expected a table")
            expect_error(function() cc.load_safetensors(p, { names = { 1 } }) end, "load_safetensors: names: expected a list of strings, got 1 at position 1")
            expect_error(function() cc.load_safetensors(p, { names = { "a", "b" } }) end, "load_safetensors: " .. p .. ': names: no tensor named "b" in the file')
        end)
    end)

    it("needs lua-cjson only to load: require and save work without it", function()
        local script = dir .. "/nocjson.lua"
        local path = dir .. "/nocjson.safetensors"
        write_bytes(script, string.format([[
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "/nowhere/?.so"
local cc = require "causalconv"
cc.save_safetensors({ a = cc.ones(2) }, %q)
local ok, err = pcall(cc.load_safetensors, %q)
print(ok, err)]], path, path))
        local lib = os.getenv("CAUSALCONV_LIB") or cc.libpath
        local out = sh(string.format("CAUSALCONV_LIB='%s' luajit '%s'", lib, script))
        assert.truthy(out:find("false\t.*load_safetensors: needs lua%-cjson"), out)
        assert.are.equal(8 + 56 + 8, #read_bytes(path))   -- size, {"a":{...F32 [2]...}} (56 bytes), 2 floats
    end)

    describe("atomic saves", function()
        local function setup(name)
            local d = dir .. "/" .. name
            os.execute("mkdir -p '" .. d .. "'")
            local path = d .. "/ckpt.safetensors"
            cc.save_safetensors({ old = cc.ones(3) }, path)
            return d, path, read_bytes(path)
        end

        it("replace the file in one step", function()
            local d, path = setup("replace")
            cc.save_safetensors({ new = cc.zeros(2) }, path)
            local back = cc.load_safetensors(path)
            assert.is_nil(back.old)
            assert.tensor_equal(back.new, cc.zeros(2))
            assert.are.equal("ckpt.safetensors\n", listing(d))
        end)

        it("leave the old file and no temporary file when the rename fails", function()
            local d = dir .. "/rename"
            os.execute("mkdir -p '" .. d .. "/target.safetensors'")
            local path = d .. "/target.safetensors"
            expect_error(function() cc.save_safetensors({ a = cc.ones(2) }, path) end, "save_safetensors: " .. path .. ": renaming")
            assert.are.equal("target.safetensors\n", listing(d))
        end)

        it("fail naming the path when its directory does not exist", function()
            local path = dir .. "/missing/ckpt.safetensors"
            expect_error(function() cc.save_safetensors({ a = cc.ones(2) }, path) end, "save_safetensors: " .. path .. ": cannot create the temporary file")
        end)

        it("leave the old file and no temporary file when an error comes after writing started", function()
            local d, path, before = setup("late")
            local Tensor = cc.Tensor
            local orig = rawget(Tensor, "contiguous")
            local calls = 0
            -- the second tensor's copy fails, after the first tensor's bytes went to the temporary file
            Tensor.contiguous = function(self)
                calls = calls + 1
                if calls == 2 then error("contiguous: simulated failure", 0) end
                return orig(self)
            end
            local ok, err = pcall(cc.save_safetensors, { { "a", cc.ones(4) }, { "b", cc.ones(4) } }, path)
            Tensor.contiguous = orig
            assert.is_false(ok)
            assert.are.equal("contiguous: simulated failure", err)
            assert.are.equal(2, calls)
            assert.are.equal(before, read_bytes(path))
            assert.are.equal("ckpt.safetensors\n", listing(d))
        end)

        it("leave the old file when an argument is bad", function()
            local d, path, before = setup("badarg")
            expect_error(function() cc.save_safetensors({ a = cc.ones(2), b = "x" }, path) end, 'save_safetensors: tensors: "b"')
            expect_error(function() cc.save_safetensors({ a = cc.ones(2) }, path, { k = false }) end, 'save_safetensors: metadata: "k"')
            assert.are.equal(before, read_bytes(path))
            assert.are.equal("ckpt.safetensors\n", listing(d))
        end)
    end)
end)
