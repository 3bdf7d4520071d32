-- Autograd, user side: requires_grad / grad / backward on tensors, cc.no_grad, detach,
-- zero_grad, retain_grad, and the differentiable causal conv ops (the conv module's functions
-- wrapped so that they record their backward). The engine itself is lua/causalconv/tape.lua:
-- nodes linked to their inputs, walked in reverse creation order (= reverse topological order)
-- from the tensor backward is called on.
--
--   x = cc.randn(3, 4, {dtype = "f64", requires_grad = true})
--   loss = (x * x):sum()
--   loss:backward()            -- x.grad == 2 * x; a second backward adds to it
--   cc.no_grad(function() x:sub_(0.1 * x.grad) end)
--   x:zero_grad()
--
-- Custom ops: compute the output with recording off, then
--   cc.autograd.record(op, input_names, inputs, outputs, backward, saved)
-- where backward(ctx, g_1, ...) returns one gradient per input (ctx.saved: the saved tensors,
-- ctx.needs[i]: whether input i wants one). See tape.lua for the full contract.
local cffi = require "causalconv.ffi"
local tape = require "causalconv.tape"
local ffi, C, check, raise = cffi.ffi, cffi.C, cffi.check, cffi.raise

return function(cc)
    local Tensor = cc.Tensor
    local show = cc._show
    local box = ffi.new("cc_tensor*[1]")

    cc.autograd = {
        record = tape.record,
        needs_grad = tape.needs_grad,
        is_enabled = tape.is_enabled,
    }

    function cc.is_grad_enabled() return tape.is_enabled() end

    -- Returns the previous state.
    function cc.set_grad_enabled(on) return tape.set_enabled(on) end

    local function with_grad_mode(name, on, fn, ...)
        if type(fn) ~= "function" then
            raise(string.format("%s: fn: expected a function, got %s", name, show(fn)))
        end
        local prev = tape.set_enabled(on)
        local res = { pcall(fn, ...) }
        tape.set_enabled(prev)
        if not res[1] then error(res[2], 0) end
        return unpack(res, 2, table.maxn(res))
    end

    -- Runs fn(...) with recording off (restored afterwards, also when fn raises); returns fn's results.
    function cc.no_grad(fn, ...) return with_grad_mode("no_grad", false, fn, ...) end
    function cc.enable_grad(fn, ...) return with_grad_mode("enable_grad", true, fn, ...) end

    function Tensor:requires_grad_(flag)
        if flag == nil then flag = true end
        if type(flag) ~= "boolean" then
            raise("requires_grad_: flag: expected a boolean, got " .. show(flag))
        end
        if rawget(self, "_node") ~= nil then
            if not flag then
                raise("requires_grad_: this tensor is the output of op '" .. rawget(self, "_node").op
                    .. "', not a leaf: use t:detach() to get a tensor outside the graph")
            end
            return self
        end
        if flag and not cc._is_float(self._h.dtype) then
            raise("requires_grad_: only float tensors (f32, f64, f16, bf16) can require grad, got " .. show(self))
        end
        rawset(self, "requires_grad", flag)
        return self
    end

    -- self:backward([grad][, {retain_graph = true}]); grad defaults to 1 for one-element tensors.
    function Tensor:backward(grad, opts)
        if opts == nil and type(grad) == "table" and not cc.is_tensor(grad) then grad, opts = nil, grad end
        tape.backward(self, grad, opts)
    end

    function Tensor:is_leaf() return rawget(self, "_node") == nil end

    -- Keeps this non-leaf tensor's gradient in .grad during the next backward.
    function Tensor:retain_grad()
        if not tape.tracked(self) then
            raise("retain_grad: this tensor does not require grad, so it gets no gradient")
        end
        tape.retain_grad(self)
        return self
    end

    -- A new tensor on the same storage, outside the graph (requires_grad false).
    function Tensor:detach()
        check(C.cc_tensor_alias(box, self._h))
        return Tensor.wrap(box[0])
    end

    -- Zeroes .grad in place (keeps the buffer); {set_to_none = true} drops it instead.
    function Tensor:zero_grad(opts)
        local g = rawget(self, "grad")
        if g ~= nil then
            if opts and opts.set_to_none then
                rawset(self, "grad", nil)
            else
                check(C.cc_tensor_fill(g._h, 0))
            end
        end
        return self
    end

    -- params: a list or a name -> tensor table (nested tables are walked).
    function cc.zero_grad(params, opts)
        if type(params) ~= "table" then
            raise("zero_grad: params: expected a tensor or a table of tensors, got " .. show(params))
        end
        if cc.is_tensor(params) then params:zero_grad(opts) return end
        for _, p in pairs(params) do
            if type(p) == "table" then cc.zero_grad(p, opts) end
        end
    end

    -- ---- causal conv: the conv module's functions, recorded ----------------------------------
    -- The backward calls the conv backward kernel once for all inputs; the gradient of
    -- final_states (when they reached the loss) goes in as dfinal_states.

    -- a gradient the conv backward can read: no stride-0 (expanded) dims, x's layout kept
    local function dense(g)
        if g == nil then return nil end
        local h = g._h
        for d = 0, h.ndim - 1 do
            if h.stride[d] == 0 and h.shape[d] > 1 then return g:clone() end
        end
        return g
    end

    local function zeros_like(t)
        local z = t:clone()
        check(C.cc_tensor_fill(z._h, 0))
        return z
    end

    local function conv_node(op, raw_backward, outs, x, weight, bias, init, saved_extra, opts)
        local saved = { x = x, weight = weight, bias = bias, initial_states = init }
        for k, v in pairs(saved_extra) do saved[k] = v end
        tape.record(op, { "x", "weight", "bias", "initial_states" }, { x, weight, bias, init }, outs,
            function(ctx, gout, gfinal)
                local s = ctx.saved
                return raw_backward(s, dense(gout) or zeros_like(outs[1]), dense(gfinal), opts.activation, ctx.needs[4])
            end, saved)
    end

    local raw_conv = cc.causal_conv1d
    local raw_conv_backward = cc.causal_conv1d_backward
    if raw_conv then
        function cc.causal_conv1d(x, weight, bias, opts)
            local init = opts and opts.initial_states
            if not tape.needs_grad(x, weight, bias, init) then return raw_conv(x, weight, bias, opts) end
            local out, final = raw_conv(x, weight, bias, opts)
            conv_node("causal_conv1d", function(s, dout, dfinal, act, want_dinit)
                return raw_conv_backward(s.x, s.weight, s.bias, dout, {
                    activation = act, seq_idx = s.seq_idx, initial_states = s.initial_states,
                    dfinal_states = dfinal, return_dinitial_states = want_dinit })
            end, { out, final }, x, weight, bias, init, { seq_idx = opts.seq_idx }, opts)
            if final then return out, final end
            return out
        end
    end

    local raw_varlen = cc.causal_conv1d_varlen
    local raw_varlen_backward = cc.causal_conv1d_varlen_backward
    if raw_varlen then
        function cc.causal_conv1d_varlen(x, weight, bias, cu_seqlens, opts)
            local init = opts and opts.initial_states
            if not tape.needs_grad(x, weight, bias, init) then return raw_varlen(x, weight, bias, cu_seqlens, opts) end
            local out, final = raw_varlen(x, weight, bias, cu_seqlens, opts)
            conv_node("causal_conv1d_varlen", function(s, dout, dfinal, act, want_dinit)
                return raw_varlen_backward(s.x, s.weight, s.bias, dout, s.cu_seqlens, {
                    activation = act, initial_states = s.initial_states, dfinal_states = dfinal,
                    return_dinitial_states = want_dinit })
            end, { out, final }, x, weight, bias, init, { cu_seqlens = cu_seqlens }, opts)
            if final then return out, final end
            return out
        end
    end

    -- decode steps have no backward: a gradient that reaches one is an error naming the input
    local raw_update = cc.causal_conv1d_update
    if raw_update then
        function cc.causal_conv1d_update(x, conv_state, weight, bias, opts)
            local out = raw_update(x, conv_state, weight, bias, opts)
            tape.record("causal_conv1d_update", { "x", "conv_state", "weight", "bias" },
                { x, conv_state, weight, bias }, { out }, nil)
            return out
        end
    end
end
