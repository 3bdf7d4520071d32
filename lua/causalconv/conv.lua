-- Causal depthwise conv1d ops (semantics: the rule block of core/causal_conv1d.c, and the README).
-- Each function checks what is cheap here (argument types, option names and types, ranks needed
-- to size the outputs, every tensor on x's device), allocates the outputs it was not given, and
-- makes one C call; the C layer validates everything else. Errors blame the caller's line.
-- causal_conv1d and causal_conv1d_varlen record their backward here (cc.autograd.record), so
-- with requires_grad inputs loss:backward() reaches x, weight, bias and initial_states, also
-- through the final states; a decode update records a node with no rule (a gradient reaching
-- it is an error naming the input).
--
--   out [, final] = cc.causal_conv1d(x, weight, bias, opts)
--       x (B, D, L) in either layout, weight (D, W), bias (D) or nil.
--       opts: activation (nil | "silu" | "swish"), seq_idx (B, L) i32, initial_states (B, D, W-1),
--             return_final_states, final_states_out (written in place, implies returning it),
--             out (pre-allocated output).
--   dx, dweight, dbias, dinitial = cc.causal_conv1d_backward(x, weight, bias, dout, opts)
--       opts: activation, seq_idx, initial_states, dfinal_states, dx (pre-allocated, any strides),
--             return_dinitial_states (default: true when initial_states is given). dbias is nil
--             without bias. Every backend's backward is deterministic: identical results run to run.
--   out = cc.causal_conv1d_update(x, conv_state, weight, bias, opts)
--       x (B, D) or (B, D, S); conv_state (B or pool, D, state_len) updated in place.
--       opts: activation, cache_seqlens (B) i32, conv_state_indices (B) i32, out.
--   out [, final] = cc.causal_conv1d_varlen(x, weight, bias, cu_seqlens, opts)
--       x (T, D) packed, cu_seqlens (N+1) i32/i64 from 0 to T.
--       opts: activation, initial_states (N, D, W-1), return_final_states, final_states_out, out.
--   dx, dweight, dbias, dinitial = cc.causal_conv1d_varlen_backward(x, weight, bias, dout, cu_seqlens, opts)
--       opts: activation, initial_states, dfinal_states, dx, return_dinitial_states.
--   states = cc.causal_conv1d_varlen_states(x, cu_seqlens, state_len [, opts])
--       states (N, D, state_len); opts: dtype (default x's), out.
-- Outputs follow x's layout: a channel-last x, (B, L, D) viewed as (B, D, L), gets channel-last
-- outputs and states (B, W-1, D) viewed as (B, D, W-1).
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local Tensor = require("causalconv.tensor").Tensor
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise
local autograd = tape.autograd
local fmt = string.format
local show = args.show

local M = {}

local function act_code(v) return v == nil and C.CC_ACT_NONE or C.CC_ACT_SILU end

local function h(t) return t and t._h or nil end

-- x's device for every tensor the user gave (named as the user named them), before any output
-- is allocated on it.
-- named: name, tensor, name, tensor, ... (tensors may be nil)
-- channel-last: channels closer in memory than positions (x (B, D, L))
local function channel_last3(x) return x._h.stride[1] < x._h.stride[2] end

local empty = Tensor.empty_on

-- (B, D, L)-shaped empty tensor in x's layout (cl: channel-last).
local function empty_bdl(x, B, D, L, dtype, cl)
    if cl then return empty(dtype, x, B, L, D):transpose(2, 3) end
    return empty(dtype, x, B, D, L)
end

-- packed (T, D)-shaped empty tensor in x's layout
local function empty_td(x, dtype)
    local xh = x._h
    local T, D = tonumber(xh.shape[0]), tonumber(xh.shape[1])
    if xh.stride[0] < xh.stride[1] then return empty(dtype, x, D, T):t() end
    return empty(dtype, x, T, D)
end

local function weight_width(fname, weight)
    args.rank(fname, "weight", weight, 2, "(D, W)")
    return weight:size(2)
end

-- a gradient the conv backward can read: no stride-0 (expanded) dims, x's layout kept
local function dense(g)
    if g == nil then return nil end
    local gh = g._h
    for d = 0, gh.ndim - 1 do
        if gh.stride[d] == 0 and gh.shape[d] > 1 then return Tensor.from_c(C.cc_tensor_clone, gh) end
    end
    return g
end

local zeros_like = Tensor.zeros_of

------------------------------------------------------------------------------------------------
-- dense forward and backward

local FWD_OPTS = {
    { "activation", "activation" }, { "seq_idx", "tensor" }, { "initial_states", "tensor" },
    { "return_final_states", "boolean" }, { "final_states_out", "tensor" }, { "out", "tensor" },
}
local BWD_OPTS = {
    { "activation", "activation" }, { "seq_idx", "tensor" }, { "initial_states", "tensor" },
    { "dfinal_states", "tensor" }, { "dx", "tensor" }, { "return_dinitial_states", "boolean" },
}

-- dweight, dbias and (when wanted) dinitial_states for the backward calls.
local function grad_outputs(x, weight, bias, init, dfinal, want, R, D, W, cl)
    local dweight = empty(weight._h.dtype, x, D, W)
    local dbias = bias and empty(bias._h.dtype, x, D) or nil
    if want == nil then want = init ~= nil end
    local dinit
    if want then
        local sd = (init and init._h.dtype) or (dfinal and dfinal._h.dtype) or x._h.dtype
        dinit = empty_bdl(x, R, D, math.max(W - 1, 0), sd, cl)
    end
    return dweight, dbias, dinit
end

local function conv_backward(fname, x, weight, bias, dout, opts)
    local seq_idx, init, dfinal, dx = opts.seq_idx, opts.initial_states, opts.dfinal_states, opts.dx
    args.rank(fname, "x", x, 3, "(B, D, L)")
    local W = weight_width(fname, weight)
    local B, D, L = x:size(1), x:size(2), x:size(3)
    local cl = channel_last3(x)
    dx = dx or empty_bdl(x, B, D, L, x._h.dtype, cl)
    local dweight, dbias, dinit = grad_outputs(x, weight, bias, init, dfinal, opts.return_dinitial_states, B, D, W, cl)
    check(C.cc_causal_conv1d_backward(dx._h, dweight._h, h(dbias), h(dinit), x._h, weight._h, h(bias), dout._h,
                                      h(seq_idx), h(init), h(dfinal), act_code(opts.activation)))
    return dx, dweight, dbias, dinit
end

function M.causal_conv1d_backward(x, weight, bias, dout, opts)
    local fname = "causal_conv1d_backward"
    args.tensor(fname, "x", x)
    args.tensor(fname, "weight", weight)
    args.optional(fname, "bias", bias, args.bias_hint(fname, 5))
    args.tensor(fname, "dout", dout)
    opts = args.options(fname, opts, BWD_OPTS)
    return conv_backward(fname, x, weight, bias, dout, opts)
end

-- records the conv node: inputs x, weight, bias, initial_states; outputs out and final states.
-- backward(gout, gfinal, want_dinit) runs the conv backward kernel once for all inputs.
local function record_conv(op, x, weight, bias, init, out, final, saved, backward)
    autograd.record(op, { "x", "weight", "bias", "initial_states" }, { x, weight, bias, init }, { out, final },
        function(ctx, gout, gfinal)
            return backward(ctx.saved, dense(gout) or zeros_like(out), dense(gfinal), ctx.needs[4])
        end, saved)
end

function M.causal_conv1d(x, weight, bias, opts)
    local fname = "causal_conv1d"
    args.tensor(fname, "x", x)
    args.tensor(fname, "weight", weight)
    args.optional(fname, "bias", bias, args.bias_hint(fname, 4))
    opts = args.options(fname, opts, FWD_OPTS)
    local seq_idx, init, final, out = opts.seq_idx, opts.initial_states, opts.final_states_out, opts.out
    args.rank(fname, "x", x, 3, "(B, D, L)")
    local W = weight_width(fname, weight)
    local B, D, L = x:size(1), x:size(2), x:size(3)
    local cl = channel_last3(x)
    local act = opts.activation
    out = out or empty_bdl(x, B, D, L, x._h.dtype, cl)
    if not final and opts.return_final_states then
        final = empty_bdl(x, B, D, math.max(W - 1, 0), init and init._h.dtype or x._h.dtype, cl)
    end
    args.check_as(C.cc_causal_conv1d_forward(out._h, h(final), x._h, weight._h, h(bias), h(seq_idx), h(init),
                                             act_code(act)),
                  "causal_conv1d_forward", fname, opts.final_states_out and "final_states", "final_states_out")
    if autograd.needs_grad(x, weight, bias, init) then
        record_conv(fname, x, weight, bias, init, out, final,
            { x = x, weight = weight, bias = bias, initial_states = init, seq_idx = seq_idx },
            function(s, dout, dfinal, want_dinit)
                return conv_backward(fname, s.x, s.weight, s.bias, dout, {
                    activation = act, seq_idx = s.seq_idx, initial_states = s.initial_states,
                    dfinal_states = dfinal, return_dinitial_states = want_dinit })
            end)
    end
    if final then return out, final end
    return out
end

------------------------------------------------------------------------------------------------
-- decode update

local UPDATE_OPTS = {
    { "activation", "activation" }, { "cache_seqlens", "tensor" }, { "conv_state_indices", "tensor" },
    { "out", "tensor" },
}

function M.causal_conv1d_update(x, conv_state, weight, bias, opts)
    local fname = "causal_conv1d_update"
    args.tensor(fname, "x", x)
    args.tensor(fname, "conv_state", conv_state)
    args.tensor(fname, "weight", weight)
    args.optional(fname, "bias", bias, args.bias_hint(fname, 5))
    opts = args.options(fname, opts, UPDATE_OPTS)
    local cache_seqlens, indices, out = opts.cache_seqlens, opts.conv_state_indices, opts.out
    local squeeze = x:dim() == 2
    if not squeeze then args.rank(fname, "x", x, 3, "(B, D) or (B, D, S)") end
    local x3 = squeeze and x:unsqueeze(3) or x
    if out == nil then
        out = squeeze and empty(x._h.dtype, x, x:size(1), x:size(2))
            or empty_bdl(x, x:size(1), x:size(2), x:size(3), x._h.dtype, channel_last3(x))
    end
    if out:dim() ~= x:dim() then
        raise(fmt("%s: out: expected the shape of x %s, got %s", fname, show(x), show(out)))
    end
    local out3 = squeeze and out:unsqueeze(3) or out
    check(C.cc_causal_conv1d_update(out3._h, conv_state._h, x3._h, weight._h, h(bias), h(cache_seqlens),
                                    h(indices), act_code(opts.activation)))
    -- no backward: a gradient that reaches a decode step is an error naming the input
    autograd.record(fname, { "x", "conv_state", "weight", "bias" }, { x, conv_state, weight, bias }, { out }, nil)
    return out
end

------------------------------------------------------------------------------------------------
-- packed variable-length sequences

-- cu_seqlens as a contiguous 1-d index tensor (the C layer reads it with stride 1).
local function cu_arg(fname, cu)
    args.tensor(fname, "cu_seqlens", cu)
    args.rank(fname, "cu_seqlens", cu, 1, "(N+1)")
    if C.cc_tensor_is_contiguous(cu._h) ~= 0 then return cu end
    return Tensor.from_c(C.cc_tensor_contiguous, cu._h)
end

local function nseq(cu) return math.max(tonumber(cu._h.shape[0]) - 1, 0) end

local VARLEN_OPTS = {
    { "activation", "activation" }, { "initial_states", "tensor" }, { "return_final_states", "boolean" },
    { "final_states_out", "tensor" }, { "out", "tensor" },
}
local VARLEN_BWD_OPTS = {
    { "activation", "activation" }, { "initial_states", "tensor" }, { "dfinal_states", "tensor" },
    { "dx", "tensor" }, { "return_dinitial_states", "boolean" },
}

local function varlen_backward(fname, x, weight, bias, dout, cu, opts)
    local init, dfinal, dx = opts.initial_states, opts.dfinal_states, opts.dx
    args.rank(fname, "x", x, 2, "(T, D)")
    local W = weight_width(fname, weight)
    dx = dx or empty_td(x, x._h.dtype)
    local dweight, dbias, dinit = grad_outputs(x, weight, bias, init, dfinal, opts.return_dinitial_states, nseq(cu),
                                               x:size(2), W, true)
    check(C.cc_causal_conv1d_varlen_backward(dx._h, dweight._h, h(dbias), h(dinit), x._h, weight._h, h(bias),
                                             dout._h, cu._h, h(init), h(dfinal), act_code(opts.activation)))
    return dx, dweight, dbias, dinit
end

function M.causal_conv1d_varlen_backward(x, weight, bias, dout, cu_seqlens, opts)
    local fname = "causal_conv1d_varlen_backward"
    args.tensor(fname, "x", x)
    args.tensor(fname, "weight", weight)
    args.optional(fname, "bias", bias, args.bias_hint(fname, 6))
    args.tensor(fname, "dout", dout)
    local cu = cu_arg(fname, cu_seqlens)
    opts = args.options(fname, opts, VARLEN_BWD_OPTS)
    return varlen_backward(fname, x, weight, bias, dout, cu, opts)
end

function M.causal_conv1d_varlen(x, weight, bias, cu_seqlens, opts)
    local fname = "causal_conv1d_varlen"
    args.tensor(fname, "x", x)
    args.tensor(fname, "weight", weight)
    args.optional(fname, "bias", bias, args.bias_hint(fname, 5))
    local cu = cu_arg(fname, cu_seqlens)
    opts = args.options(fname, opts, VARLEN_OPTS)
    local init, final, out = opts.initial_states, opts.final_states_out, opts.out
    args.rank(fname, "x", x, 2, "(T, D)")
    local W = weight_width(fname, weight)
    local act = opts.activation
    out = out or empty_td(x, x._h.dtype)
    if not final and opts.return_final_states then
        final = empty_bdl(x, nseq(cu), x:size(2), math.max(W - 1, 0), init and init._h.dtype or x._h.dtype, true)
    end
    args.check_as(C.cc_causal_conv1d_varlen_forward(out._h, h(final), x._h, weight._h, h(bias), cu._h, h(init),
                                                    act_code(act)),
                  "causal_conv1d_varlen_forward", fname, opts.final_states_out and "final_states", "final_states_out")
    if autograd.needs_grad(x, weight, bias, init) then
        record_conv(fname, x, weight, bias, init, out, final,
            { x = x, weight = weight, bias = bias, initial_states = init, cu_seqlens = cu },
            function(s, dout, dfinal, want_dinit)
                return varlen_backward(fname, s.x, s.weight, s.bias, dout, s.cu_seqlens, {
                    activation = act, initial_states = s.initial_states, dfinal_states = dfinal,
                    return_dinitial_states = want_dinit })
            end)
    end
    if final then return out, final end
    return out
end

local STATES_OPTS = { { "dtype", "dtype" }, { "out", "tensor" } }

function M.causal_conv1d_varlen_states(x, cu_seqlens, state_len, opts)
    local fname = "causal_conv1d_varlen_states"
    args.tensor(fname, "x", x)
    local cu = cu_arg(fname, cu_seqlens)
    args.integer(fname, "state_len", state_len, 0)
    opts = args.options(fname, opts, STATES_OPTS)
    local out = opts.out
    args.rank(fname, "x", x, 2, "(T, D)")
    if out == nil then
        local dtype = opts.dtype and args.dtype(fname, opts.dtype) or x._h.dtype
        if nseq(cu) * x:size(2) * state_len >= 2 ^ 63 then
            raise(fmt("%s: state_len: %s makes a (%d, %d, %s) output, more elements than an int64 can count",
                      fname, show(state_len), nseq(cu), x:size(2), show(state_len)))
        end
        out = empty_bdl(x, nseq(cu), x:size(2), state_len, dtype, true)
    end
    args.check_as(C.cc_causal_conv1d_varlen_states(out._h, x._h, cu._h), "causal_conv1d_varlen_states", fname,
                  opts.out and "states", "out")
    return out
end

return M
