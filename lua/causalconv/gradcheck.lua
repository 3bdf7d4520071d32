-- cc.gradcheck(fn, inputs[, opts]) -> ok, report
--
-- Compares the gradients autograd computes for fn with central differences, in f64.
--   fn(inputs...)  returns one tensor or several (as multiple values). They are reduced to one
--                  number by a fixed random projection, sum_k sum(out_k * r_k), with each r_k
--                  drawn once (cc.randn, so cc.manual_seed makes a run repeatable).
--   inputs         a list of tensors; those with requires_grad are checked (they must be f64).
--                  Other entries (tensors without requires_grad, numbers, tables) are passed
--                  through unchanged.
--   opts           eps = 1e-6 (the perturbation), atol = 1e-5, rtol = 1e-3 (an element passes
--                  when |analytic - numeric| <= atol + rtol * |numeric|), nondet_tol = 0 (how
--                  far two runs of fn, and of its backward, may differ), names = {"x", ...}
--                  (names for the report, by input position).
-- Steps: fn runs twice (outputs must agree within nondet_tol), backward runs twice (gradients
-- must agree within nondet_tol), then every element of every checked input is moved by +eps
-- and -eps in place (and restored exactly), running fn with recording off each time.
-- report: ok, max_abs, max_rel (over all checked elements), checked (element count), worst =
-- {input = position, name, index = {1-based...}, analytic, numeric, abs, rel}, message (also
-- what tostring(report) gives). Input .grad fields are restored afterwards.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local T = require "causalconv.tensor"
local ops = require "causalconv.ops"
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise
local autograd = tape.autograd
local show, is_tensor = args.show, args.is_tensor

local DEFAULTS = { eps = 1e-6, atol = 1e-5, rtol = 1e-3, nondet_tol = 0 }
local OPTS = { { "eps", "number" }, { "atol", "number" }, { "rtol", "number" }, { "nondet_tol", "number" },
               { "names", "list" } }

local M = {}
do
    local report_mt = { __tostring = function(r) return r.message end }

    local function outputs_of(...)
        local outs = {}
        for i = 1, select("#", ...) do
            local v = select(i, ...)
            if is_tensor(v) and not args.is_int_dtype(v._h.dtype) then outs[#outs + 1] = v end
        end
        return outs
    end

    -- sum_k sum(out_k * r_k) as a 0-d f64 tensor (recorded when recording is on)
    local function project(outs, rs)
        local total
        for k, o in ipairs(outs) do
            local term = ops.sum(ops.mul(o:to("f64"), rs[k]))
            total = total and ops.add(total, term) or term
        end
        return total
    end

    local function max_abs_diff(a, b)
        if a:numel() == 0 then return 0 end
        local d = tape.no_grad(function() return ops.max(ops.abs(ops.sub(a:to("f64"), b:to("f64")))):item() end)
        if d ~= d then return math.huge end
        return d
    end

    local function index_str(idx)
        return "(" .. table.concat(idx, ", ") .. ")"
    end

    function M.gradcheck(fn, inputs, opts)
        if type(fn) ~= "function" then raise("gradcheck: fn: expected a function, got " .. show(fn)) end
        if type(inputs) ~= "table" or is_tensor(inputs) then
            raise("gradcheck: inputs: expected a list of tensors, got " .. show(inputs))
        end
        opts = args.options("gradcheck", opts, OPTS)
        local eps = opts.eps or DEFAULTS.eps
        local atol = opts.atol or DEFAULTS.atol
        local rtol = opts.rtol or DEFAULTS.rtol
        local nondet_tol = opts.nondet_tol or DEFAULTS.nondet_tol
        local names = opts.names or {}
        local n_in = table.maxn(inputs)

        local checked = {}
        for i = 1, n_in do
            local t = inputs[i]
            if is_tensor(t) and autograd.requires_grad(t) then
                if not t:is_leaf() then
                    raise(string.format("gradcheck: inputs[%d]: expected a leaf tensor (made with requires_grad), got the output of op '%s'",
                        i, rawget(t, "_node").op))
                end
                if t:dtype() ~= "f64" then
                    raise(string.format("gradcheck: inputs[%d]: expected an f64 tensor (finite differences in %s are too coarse), got %s: pass x:double():requires_grad_()",
                        i, t:dtype(), show(t)))
                end
                checked[#checked + 1] = i
            end
        end
        if #checked == 0 then
            raise("gradcheck: inputs: no input has requires_grad = true, so there is nothing to check")
        end
        local function label(i)
            return names[i] and string.format("input %d '%s'", i, names[i]) or string.format("input %d", i)
        end

        local function fail(message, fields)
            fields = fields or {}
            fields.ok, fields.message = false, "gradcheck: FAILED: " .. message
            return false, setmetatable(fields, report_mt)
        end

        -- forward twice, recording off
        local outs1 = tape.no_grad(function() return outputs_of(fn(unpack(inputs, 1, n_in))) end)
        if #outs1 == 0 then return fail("fn returned no float tensor") end
        local outs2 = tape.no_grad(function() return outputs_of(fn(unpack(inputs, 1, n_in))) end)
        for k = 1, #outs1 do
            local d = outs2[k] and max_abs_diff(outs1[k], outs2[k]) or math.huge
            if d > nondet_tol then
                return fail(string.format("fn is not deterministic: output %d differs by %.3g between two runs (nondet_tol %g)",
                    k, d, nondet_tol))
            end
        end
        local rs = {}
        for k, o in ipairs(outs1) do
            rs[k] = T.randn(o:size(), { dtype = "f64", device = o:device() })
        end

        -- analytic gradients, twice
        local saved_grads = {}
        for _, i in ipairs(checked) do saved_grads[i] = rawget(inputs[i], "grad") end
        local function analytic()
            for _, i in ipairs(checked) do rawset(inputs[i], "grad", nil) end
            local ok, err = pcall(tape.enable_grad, function()
                local total = project(outputs_of(fn(unpack(inputs, 1, n_in))), rs)
                if autograd.requires_grad(total) then total:backward() end
            end)
            local grads = {}
            for _, i in ipairs(checked) do
                grads[i] = rawget(inputs[i], "grad") or T.zeros(inputs[i]:size(), { dtype = "f64", device = inputs[i]:device() })
                rawset(inputs[i], "grad", saved_grads[i])
            end
            if not ok then error(err, 0) end
            return grads
        end
        local ga = analytic()
        local gb = analytic()
        for _, i in ipairs(checked) do
            local d = max_abs_diff(ga[i], gb[i])
            if d > nondet_tol then
                return fail(string.format("backward is not deterministic: the gradient of %s differs by %.3g between two runs (nondet_tol %g)",
                    label(i), d, nondet_tol))
            end
        end

        -- numeric gradients, element by element
        local function value()
            return tape.no_grad(function()
                return project(outputs_of(fn(unpack(inputs, 1, n_in))), rs):item()
            end)
        end
        local idx = ffi.new("int64_t[8]")
        local val = ffi.new("double[1]")
        local worst, worst_ratio = nil, -1
        local max_abs, max_rel, count = 0, 0, 0
        for _, i in ipairs(checked) do
            local t = inputs[i]
            local h = t._h
            local sizes = t:size()
            local host = ga[i]:to({ dtype = "f64", device = "cpu" })
            local n = t:numel()
            local pos = {}
            for d = 1, #sizes do pos[d] = 1 end
            for _ = 1, n do
                for d = 1, #sizes do idx[d - 1] = pos[d] - 1 end
                check(C.cc_tensor_get(h, idx, val))
                local orig = val[0]
                check(C.cc_tensor_set(h, idx, orig + eps))
                local fp = value()
                check(C.cc_tensor_set(h, idx, orig - eps))
                local fm = value()
                check(C.cc_tensor_set(h, idx, orig))
                local numeric = (fp - fm) / (2 * eps)
                check(C.cc_tensor_get(host._h, idx, val))
                local a = val[0]
                local err = math.abs(a - numeric)
                if err ~= err then err = math.huge end
                local scale = math.max(math.abs(numeric), math.abs(a))
                local rel = err == 0 and 0 or (scale > 0 and err / scale or math.huge)
                if err > max_abs then max_abs = err end
                if rel > max_rel then max_rel = rel end
                local ratio = err / (atol + rtol * math.abs(numeric))
                if ratio > worst_ratio then
                    local at = {}
                    for d = 1, #sizes do at[d] = pos[d] end
                    worst_ratio = ratio
                    worst = { input = i, name = names[i], index = at, analytic = a, numeric = numeric, abs = err, rel = rel }
                end
                count = count + 1
                -- next index, last dim fastest
                local d = #sizes
                while d >= 1 do
                    if pos[d] < sizes[d] then pos[d] = pos[d] + 1 break end
                    pos[d] = 1
                    d = d - 1
                end
            end
        end

        local fields = { max_abs = max_abs, max_rel = max_rel, checked = count, worst = worst }
        if worst and worst_ratio > 1 then
            return fail(string.format("%s at index %s: analytic %.10g, numeric %.10g (abs err %.3g, rel err %.3g; "
                .. "allowed atol %g + rtol %g * |numeric|); max abs err %.3g, max rel err %.3g over %d elements",
                label(worst.input), index_str(worst.index), worst.analytic, worst.numeric, worst.abs, worst.rel,
                atol, rtol, max_abs, max_rel, count), fields)
        end
        fields.ok = true
        fields.message = string.format("gradcheck: ok: max abs err %.3g, max rel err %.3g over %d elements of %d inputs",
            max_abs, max_rel, count, #checked)
        return true, setmetatable(fields, report_mt)
    end
end

return M
