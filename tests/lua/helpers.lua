-- busted helper (loaded by .busted for every spec file).
--   TEST_DEVICE                      "cpu" or "cuda": the device the #cuda specs create tensors on
--                                    ($CC_TEST_DEVICE, default cpu).
--   assert.tensor_near(actual, expected [, atol [, rtol]])
--       same shape; |a - e| <= atol + rtol * |e| everywhere, compared in f64 on the cpu; NaN
--       matches NaN. expected may be a tensor, a nested table or a number. Default tolerances
--       follow the less precise dtype of the two (tolerance.lua's default table: f64
--       1e-10/1e-8, f32 1e-5/1e-4, f16 1e-3/1e-3, bf16 1e-2/1e-2, integer dtypes 0/0).
--   assert.tensor_equal(actual, expected)
--       same dtype, same shape, bitwise equal values (so -0 ~= 0 and NaN == same NaN).
-- Failure messages give the max abs diff, its 1-based index, both values and the first few
-- mismatches.
--   expect_error(fn, text)            fn() must raise an error whose message contains text
--       (plain) and starts with the calling spec's file:line, i.e. the binding blamed the
--       user's line. Write fn on the same line as the expect_error call. Returns the message.
--   with_kernels(ref, fn, ...)        fn(...)'s results with the CPU reference kernels on (ref true)
--       or the fast ones, the previous setting restored afterwards (also when fn raises).
local assert = require "luassert"
local say = require "say"
local cc = require "causalconv"
local ffi = cc.ffi

TEST_DEVICE = os.getenv("CC_TEST_DEVICE") or "cpu"

local TOL = require "tolerance"   -- the specs' one tolerance table (tests/lua/tolerance.lua)
local MAX_LISTED = 5

local function as_tensor(v)
    if cc.is_tensor(v) then return v end
    return cc.tensor(v, { dtype = "f64" })
end

local function shape_str(t)
    local s = t:size()
    return #s == 0 and "()" or "(" .. table.concat(s, ", ") .. ")"
end

-- 1-based multi-index of flat position k (0-based) in a contiguous tensor of sizes s.
local function index_of(k, s)
    local idx = {}
    for d = #s, 1, -1 do
        idx[d] = k % s[d] + 1
        k = math.floor(k / s[d])
    end
    return "(" .. table.concat(idx, ", ") .. ")"
end

local function host(t, dtype)
    return t:to({ dtype = dtype, device = "cpu" }):contiguous()
end

local function fail(args, msg)
    args[1] = msg
    args.n = 1
    args.nofmt = { true }
    return false
end

local function tensor_near(_, args)
    local actual, expected = args[1], as_tensor(args[2])
    if not cc.is_tensor(actual) then
        return fail(args, "tensor_near: actual: expected a causalconv.Tensor, got " .. type(actual))
    end
    local loose = TOL.loosest(actual:dtype(), expected:dtype())
    local atol = args[3] or TOL.default[loose].atol
    local rtol = args[4] or TOL.default[loose].rtol
    if shape_str(actual) ~= shape_str(expected) then
        return fail(args, string.format("tensor_near: shapes differ: actual %s, expected %s", shape_str(actual), shape_str(expected)))
    end
    local a, e = host(actual, "f64"), host(expected, "f64")
    local pa = ffi.cast("double*", a:data_ptr())
    local pe = ffi.cast("double*", e:data_ptr())
    local sizes = a:size()
    local n = a:numel()
    local worst, worst_k, bad, listed = -1, nil, 0, {}
    for k = 0, n - 1 do
        local x, y = pa[k], pe[k]
        local ok
        if x ~= x or y ~= y then
            ok = (x ~= x) and (y ~= y)
        elseif x == y then
            ok = true
        else
            ok = math.abs(x - y) <= atol + rtol * math.abs(y)
        end
        local diff = (x ~= x or y ~= y) and (ok and 0 or math.huge) or math.abs(x - y)
        if diff > worst then worst, worst_k = diff, k end
        if not ok then
            bad = bad + 1
            if #listed < MAX_LISTED then
                listed[#listed + 1] = string.format("  %s: actual %.9g, expected %.9g", index_of(k, sizes), x, y)
            end
        end
    end
    if bad == 0 then return true end
    local msg = string.format(
        "tensor_near: %d of %d elements differ (atol %g, rtol %g; %s %s vs %s %s)\n" ..
        "max abs diff %.9g at index %s: actual %.9g, expected %.9g\nfirst mismatches:\n%s",
        bad, n, atol, rtol, actual:dtype(), actual:device(), expected:dtype(), expected:device(),
        worst, index_of(worst_k, sizes), pa[worst_k], pe[worst_k], table.concat(listed, "\n"))
    if a._h == nil or e._h == nil then error("unreachable") end   -- keeps the host copies alive
    return fail(args, msg)
end

local BITS = { f64 = "uint64_t*", i64 = "uint64_t*", f32 = "uint32_t*", i32 = "uint32_t*", f16 = "uint16_t*", bf16 = "uint16_t*" }

local function tensor_equal(_, args)
    local actual, expected = args[1], args[2]
    if not cc.is_tensor(actual) or not cc.is_tensor(expected) then
        return fail(args, "tensor_equal: expected two causalconv.Tensors, got " .. type(actual) .. " and " .. type(expected))
    end
    if actual:dtype() ~= expected:dtype() then
        return fail(args, string.format("tensor_equal: dtypes differ: actual %s, expected %s", actual:dtype(), expected:dtype()))
    end
    if shape_str(actual) ~= shape_str(expected) then
        return fail(args, string.format("tensor_equal: shapes differ: actual %s, expected %s", shape_str(actual), shape_str(expected)))
    end
    local dtype = actual:dtype()
    local a, e = host(actual, dtype), host(expected, dtype)
    local ba = ffi.cast(BITS[dtype], a:data_ptr())
    local be = ffi.cast(BITS[dtype], e:data_ptr())
    local sizes = a:size()
    local n = a:numel()
    local bad, first, listed = 0, nil, {}
    local av, ev   -- values, read only for the message
    for k = 0, n - 1 do
        if ba[k] ~= be[k] then
            bad = bad + 1
            first = first or k
            if #listed < MAX_LISTED then listed[#listed + 1] = k end
        end
    end
    if bad == 0 then return true end
    av, ev = host(actual, "f64"), host(expected, "f64")
    local pa, pe = ffi.cast("double*", av:data_ptr()), ffi.cast("double*", ev:data_ptr())
    local worst, worst_k = -1, first
    for k = 0, n - 1 do
        local d = math.abs(pa[k] - pe[k])
        if d > worst then worst, worst_k = d, k end
    end
    local lines = {}
    for _, k in ipairs(listed) do
        lines[#lines + 1] = string.format("  %s: actual %.9g, expected %.9g", index_of(k, sizes), pa[k], pe[k])
    end
    local msg = string.format(
        "tensor_equal: %d of %d elements differ (%s)\nmax abs diff %.9g at index %s: actual %.9g, expected %.9g\nfirst mismatches:\n%s",
        bad, n, dtype, worst, index_of(worst_k, sizes), pa[worst_k], pe[worst_k], table.concat(lines, "\n"))
    if a._h == nil or e._h == nil or av._h == nil or ev._h == nil then error("unreachable") end
    return fail(args, msg)
end

say:set("assertion.tensor_near.positive", "%s")
say:set("assertion.tensor_near.negative", "Expected the tensors not to be near")
say:set("assertion.tensor_equal.positive", "%s")
say:set("assertion.tensor_equal.negative", "Expected the tensors to differ")
assert:register("assertion", "tensor_near", tensor_near, "assertion.tensor_near.positive", "assertion.tensor_near.negative")
assert:register("assertion", "tensor_equal", tensor_equal, "assertion.tensor_equal.positive", "assertion.tensor_equal.negative")

function expect_error(fn, text)
    local caller = debug.getinfo(2, "Sl")
    local ok, err = pcall(fn)
    assert(not ok, "expected an error containing: " .. text)
    err = tostring(err)
    assert(err:find(text, 1, true), "error message\n  " .. err .. "\ndoes not contain\n  " .. text)
    local file, line = err:match("^([^:]+):(%d+): ")
    local spec = caller.short_src:match("[^/]+$")
    assert(file and file:match("[^/]+$") == spec and tonumber(line) == caller.currentline,
           string.format("error should point at %s:%d, got: %s", spec, caller.currentline, err))
    return err
end

function with_kernels(ref, fn, ...)
    local cc = require "causalconv"
    local prev = cc.get_reference_kernels()
    cc.set_reference_kernels(ref)
    local res = { pcall(fn, ...) }
    cc.set_reference_kernels(prev)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
end
