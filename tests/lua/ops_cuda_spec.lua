-- The tensor-op C functions on TEST_DEVICE against the CPU reference kernels
-- (cc_set_reference_kernels(1)) on the same values and the same views: every op and backward,
-- strided and expanded inputs, f64/f32 and some f16/bf16. Calls the C API directly, so the
-- kernels are tested apart from the Lua ops layer.
local cc = require "causalconv"
local ffi, C = cc.ffi, cc.C

-- the op codes, from the cdef'd enums of the header
local U = {}
for _, name in ipairs({ "NEG", "EXP", "LOG", "SQRT", "RSQRT", "ABS", "SIGMOID", "SILU", "SOFTPLUS", "TANH", "RELU",
                        "POW_SCALAR", "ADD_SCALAR", "MUL_SCALAR", "RPOW_SCALAR", "RDIV_SCALAR" }) do
    U[name] = C["CC_UNARY_" .. name]
end
local BINARY = { C.CC_BINARY_ADD, C.CC_BINARY_SUB, C.CC_BINARY_MUL, C.CC_BINARY_DIV }
local POSITIVE = { [U.LOG] = true, [U.SQRT] = true, [U.RSQRT] = true, [U.POW_SCALAR] = true, [U.RDIV_SCALAR] = true }
local TOL = require("tolerance").ops_cuda

local function ok(status)
    assert(tonumber(status) == 0, ffi.string(C.cc_last_error()))
end

-- values made on the cpu once; :pair() gives the cpu tensor and a device copy
local function uniform(sizes, dtype, lo, hi)   -- uniform [lo, hi), default [-2, 2)
    local t = cc.empty(sizes, { dtype = "f64" })
    ok(C.cc_tensor_rand(t._h, lo or -2, hi or 2))
    return t:to({ dtype = dtype })
end
local function pair(t) return { cpu = t, dev = t:to({ device = TEST_DEVICE }) } end
local function map(p, f) return { cpu = f(p.cpu), dev = f(p.dev) } end
local function empty(sizes, dtype)
    return { cpu = cc.empty(sizes, { dtype = dtype }), dev = cc.empty(sizes, { dtype = dtype, device = TEST_DEVICE }) }
end
local function index(values, dtype) return pair(cc.tensor(values, { dtype = dtype or "i64" })) end

-- runs call(side) on the cpu (reference kernels) and on the device
local function both(call)
    C.cc_set_reference_kernels(1)
    local okc, err = pcall(call, "cpu")
    C.cc_set_reference_kernels(0)
    assert(okc, err)
    call("dev")
end

local function near(p, dtype)
    local tol = TOL[dtype or p.cpu:dtype()]
    assert.tensor_near(p.dev, p.cpu, tol.atol, tol.rtol)
end

describe("tensor-op kernels against the cpu reference #cuda", function()
    it("unary forward and backward, every op, strided input", function()
        for _, dt in ipairs({ "f64", "f32", "bf16" }) do
            for name, op in pairs(U) do
                local lo, hi = -4, 4
                if POSITIVE[op] then lo, hi = 0.25, 3 end
                if op == U.SOFTPLUS then lo, hi = -25, 25 end
                local x = map(pair(uniform({ 7, 33 }, dt, lo, hi)), function(t) return t:t() end)
                local dout = pair(uniform({ 33, 7 }, dt))
                local out, dx = empty({ 33, 7 }, dt), empty({ 33, 7 }, dt)
                both(function(s)
                    ok(C.cc_unary_forward(out[s]._h, x[s]._h, op, 1.7))
                    ok(C.cc_unary_backward(dx[s]._h, x[s]._h, dout[s]._h, op, 1.7))
                end)
                near(out); near(dx)
            end
        end
    end)

    it("binary ops with an expanded operand, and in place", function()
        for _, dt in ipairs({ "f64", "f32", "f16" }) do
            for _, op in ipairs(BINARY) do
                local a = map(pair(uniform({ 5, 4, 3 }, dt)), function(t) return t:permute(3, 1, 2):contiguous():permute(2, 3, 1) end)
                local b = map(pair(uniform({ 1, 4, 1 }, dt, 0.5, 2)), function(t) return t:expand(5, 4, 3) end)
                local out = empty({ 5, 4, 3 }, dt)
                both(function(s)
                    ok(C.cc_binary_forward(out[s]._h, a[s]._h, b[s]._h, op))
                    ok(C.cc_binary_forward(a[s]._h, a[s]._h, b[s]._h, op))
                end)
                near(out); near(a)
            end
        end
    end)

    it("sum_to over leading, inner and all dims, short and long reductions", function()
        for _, dt in ipairs({ "f64", "f32" }) do
            local x = map(pair(uniform({ 40, 30, 6 }, dt)), function(t) return t:transpose(1, 3) end)   -- (6, 30, 40)
            for _, sizes in ipairs({ { 30, 1 }, { 40 }, {}, { 6, 1, 40 }, { 1, 1, 1 }, { 6, 30, 40 } }) do
                local out = empty(sizes, dt)
                both(function(s) ok(C.cc_sum_to(out[s]._h, x[s]._h, 0.25)) end)
                near(out)
            end
        end
    end)

    it("max_dim: first max wins, NaN is the max", function()
        local v = {}
        for i = 1, 4 do v[i] = {} for j = 1, 300 do v[i][j] = (j * 7919 % 31) - 15 end end
        v[2][100] = 0 / 0
        v[3][250] = 99; v[3][260] = 99
        for _, dt in ipairs({ "f64", "f32" }) do
            local x = pair(cc.tensor(v, { dtype = dt }))
            for dim = 0, 1 do
                local sizes = { 4, 300 }
                sizes[dim + 1] = 1
                local values, indices = empty(sizes, dt), empty(sizes, "i64")
                both(function(s) ok(C.cc_max_dim(values[s]._h, indices[s]._h, x[s]._h, dim)) end)
                near(values)
                assert.tensor_equal(indices.dev:cpu(), indices.cpu)
            end
        end
    end)

    it("softmax and log_softmax, forward and backward, along any dim", function()
        for _, dt in ipairs({ "f64", "f32", "bf16" }) do
            for lg = 0, 1 do
                for dim = 0, 2 do
                    local x = map(pair(uniform({ 3, 300, 5 }, dt, -20, 20)), function(t) return t:transpose(1, 2) end)
                    local dout = pair(uniform({ 300, 3, 5 }, dt))
                    local out, dx = empty({ 300, 3, 5 }, dt), empty({ 300, 3, 5 }, dt)
                    both(function(s)
                        ok(C.cc_softmax_forward(out[s]._h, x[s]._h, dim, lg))
                        ok(C.cc_softmax_backward(dx[s]._h, out[s]._h, dout[s]._h, dim, lg))
                    end)
                    near(out); near(dx)
                end
            end
        end
    end)

    it("matmul: batched, expanded batch, transposed operands and out, half types", function()
        for _, dt in ipairs({ "f64", "f32", "f16", "bf16" }) do
            for layout = 0, 3 do
                local a = pair(uniform({ 2, 3, 5, 7 }, dt))
                if layout % 2 == 1 then a = map(pair(uniform({ 2, 3, 7, 5 }, dt)), function(t) return t:transpose(3, 4) end) end
                local b = map(pair(uniform({ 3, 1, 7, 4 }, dt)), function(t) return t:transpose(1, 2):expand(2, 3, 7, 4) end)
                local out = empty({ 2, 3, 5, 4 }, dt)
                if layout >= 2 then
                    out = map(empty({ 2, 3, 4, 5 }, dt), function(t) return t:transpose(3, 4) end)
                end
                both(function(s) ok(C.cc_matmul(out[s]._h, a[s]._h, b[s]._h)) end)
                near(out)
            end
        end
    end)

    it("index_select and index_add with duplicate indices", function()
        for _, dt in ipairs({ "f64", "f32" }) do
            for _, idt in ipairs({ "i32", "i64" }) do
                for dim = 0, 2 do
                    local idx = index({ 2, 0, 3, 2, 2, 1 }, idt)
                    local x = map(pair(uniform({ 4, 5, 6 }, dt)), function(t) return t:transpose(1, 3):contiguous():transpose(1, 3) end)
                    local sizes = { 4, 5, 6 }
                    sizes[dim + 1] = 6
                    local out = empty(sizes, dt)
                    local acc = pair(uniform({ 4, 5, 6 }, dt))
                    both(function(s)
                        ok(C.cc_index_select(out[s]._h, x[s]._h, dim, idx[s]._h))
                        ok(C.cc_index_add(acc[s]._h, dim, idx[s]._h, out[s]._h))
                    end)
                    near(out); near(acc)
                end
            end
        end
    end)

    it("index values out of range are an error before anything is written", function()
        local idx = index({ 0, 4, 1 })
        local x = pair(uniform({ 3, 4 }, "f32"))
        local out = map(empty({ 3, 3 }, "f32"), function(t) t:fill_(7); return t end)
        local st = C.cc_index_select(out.dev._h, x.dev._h, 1, idx.dev._h)
        assert.are.equal(1, tonumber(st))
        assert.matches("index_select: index: expected values in [0, 4) (0-based), got 4 at position 1", ffi.string(C.cc_last_error()), 1, true)
        assert.tensor_equal(out.dev:cpu(), out.cpu)
    end)

    it("cross entropy forward and backward with ignored rows", function()
        for _, dt in ipairs({ "f64", "f32", "f16" }) do
            for _, idt in ipairs({ "i32", "i64" }) do
                local logits = map(pair(uniform({ 300, 9 }, dt, -6, 6)), function(t) return t:t():contiguous():t() end)
                local tv = {}
                for i = 1, 300 do tv[i] = i % 7 == 0 and -100 or (i * 37) % 300 % 9 end
                local target = index(tv, idt)
                local loss, dlogits = empty({}, dt), empty({ 300, 9 }, dt)
                local dloss = pair(cc.tensor({ 0.75 }, { dtype = dt }))
                both(function(s)
                    ok(C.cc_cross_entropy_forward(loss[s]._h, logits[s]._h, target[s]._h, -100))
                    ok(C.cc_cross_entropy_backward(dlogits[s]._h, logits[s]._h, target[s]._h, dloss[s]._h, -100))
                end)
                near(loss); near(dlogits)
            end
        end
        local logits, target = pair(uniform({ 4, 3 }, "f32")), index({ 5, 5, 5, 5 })
        local loss = empty({ 1 }, "f32")
        ok(C.cc_cross_entropy_forward(loss.dev._h, logits.dev._h, target.dev._h, 5))
        assert.tensor_equal(loss.dev:cpu(), cc.tensor({ 0 }, { dtype = "f32" }))
    end)

    it("rms_norm forward and backward, with and without weight", function()
        for _, dt in ipairs({ "f64", "f32", "bf16" }) do
            local rdt = dt == "f64" and "f64" or "f32"
            for _, with_w in ipairs({ true, false }) do
                local x = map(pair(uniform({ 5, 40, 300 }, dt)), function(t) return t:transpose(1, 2) end)   -- (40, 5, 300)
                local w = with_w and pair(uniform({ 300 }, dt, 0.5, 1.5)) or { cpu = nil, dev = nil }
                local dout = pair(uniform({ 40, 5, 300 }, dt))
                local out, rstd, dx, dw = empty({ 40, 5, 300 }, dt), empty({ 40, 5 }, rdt), empty({ 40, 5, 300 }, dt), empty({ 300 }, dt)
                both(function(s)
                    local wh = w[s] and w[s]._h or nil
                    ok(C.cc_rms_norm_forward(out[s]._h, rstd[s]._h, x[s]._h, wh, 1e-5))
                    ok(C.cc_rms_norm_backward(dx[s]._h, dw[s]._h, x[s]._h, wh, rstd[s]._h, dout[s]._h))
                end)
                near(out); near(rstd, dt); near(dx)
                local tol = TOL[dt]
                assert.tensor_near(dw.dev, dw.cpu, tol.atol * 100, tol.rtol * 10)   -- sums of 200 rows
            end
        end
    end)
end)
