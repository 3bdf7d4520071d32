-- Causal depthwise conv1d ops (semantics: the rule block of core/causal_conv1d.c, and the README).
-- Each function checks what is cheap here (argument types, option names, ranks needed to size
-- the outputs), allocates the outputs it was not given, and makes one C call; the C layer
-- validates everything else. Errors blame the caller's line.
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
local raise, check = F.raise, F.check
local fmt = string.format

local ACTIVATIONS = { silu = 1, swish = 1 }

return function(cc)
    local show = cc._show
    local is_tensor = cc.is_tensor

    -- Rejects unknown option keys, listing the valid ones.
    local function options(opts, fname, valid)
        if opts == nil then return {} end
        if type(opts) ~= "table" or is_tensor(opts) then
            raise(fmt("%s: opts: expected a table of options or nil, got %s", fname, show(opts)))
        end
        for k in pairs(opts) do
            local ok = false
            for _, v in ipairs(valid) do if v == k then ok = true break end end
            if not ok then
                raise(fmt("%s: opts: unknown option %s (valid options: %s)", fname, show(k), table.concat(valid, ", ")))
            end
        end
        return opts
    end

    local function activation(v, fname)
        if v == nil then return 0 end
        local code = ACTIVATIONS[v]
        if not code then
            raise(fmt('%s: activation: expected nil, "silu" or "swish", got %s', fname, show(v)))
        end
        return code
    end

    local function tensor(v, name, fname)
        if not is_tensor(v) then raise(fmt("%s: %s: expected a causalconv.Tensor, got %s", fname, name, show(v))) end
        return v
    end

    local function optional(v, name, fname)
        if v == nil then return nil end
        return tensor(v, name, fname)
    end

    local function boolean(v, name, fname)
        if v ~= nil and type(v) ~= "boolean" then
            raise(fmt("%s: %s: expected a boolean or nil, got %s", fname, name, show(v)))
        end
        return v
    end

    local function rank(t, name, n, what, fname)
        if t:dim() ~= n then
            raise(fmt("%s: %s: expected %d dims %s, got %s", fname, name, n, what, show(t)))
        end
    end

    local function h(t) return t and t._h or nil end

    -- channel-last: channels closer in memory than positions (x (B, D, L) or packed (T, D))
    local function channel_last3(x) return x:stride(2) < x:stride(3) end

    -- (B, D, L)-shaped empty tensor in x's layout.
    local function empty_bdl(x, B, D, L, dtype, cl)
        local o = { dtype = dtype, device = x:device() }
        if cl then return cc.empty(B, L, D, o):transpose(2, 3) end
        return cc.empty(B, D, L, o)
    end

    local function weight_width(weight, fname)
        rank(weight, "weight", 2, "(D, W)", fname)
        return weight:size(2)
    end

    ------------------------------------------------------------------------------------------

    local FWD_OPTS = { "activation", "seq_idx", "initial_states", "return_final_states", "final_states_out", "out" }

    function cc.causal_conv1d(x, weight, bias, opts)
        local fname = "causal_conv1d"
        tensor(x, "x", fname)
        tensor(weight, "weight", fname)
        optional(bias, "bias", fname)
        opts = options(opts, fname, FWD_OPTS)
        local act = activation(opts.activation, fname)
        local seq_idx = optional(opts.seq_idx, "seq_idx", fname)
        local init = optional(opts.initial_states, "initial_states", fname)
        local final = optional(opts.final_states_out, "final_states_out", fname)
        local out = optional(opts.out, "out", fname)
        boolean(opts.return_final_states, "return_final_states", fname)
        rank(x, "x", 3, "(B, D, L)", fname)
        local W = weight_width(weight, fname)
        local B, D, L = x:size(1), x:size(2), x:size(3)
        local cl = channel_last3(x)
        out = out or empty_bdl(x, B, D, L, x:dtype(), cl)
        if not final and opts.return_final_states then
            final = empty_bdl(x, B, D, math.max(W - 1, 0), init and init:dtype() or x:dtype(), cl)
        end
        check(cc.C.cc_causal_conv1d_forward(out._h, h(final), x._h, weight._h, h(bias), h(seq_idx), h(init), act))
        if final then return out, final end
        return out
    end

    local BWD_OPTS = { "activation", "seq_idx", "initial_states", "dfinal_states", "dx", "return_dinitial_states" }

    -- dweight, dbias and (when wanted) dinitial_states for the backward calls.
    local function grad_outputs(x, weight, bias, init, dfinal, opts, R, D, W, cl, fname)
        local dweight = cc.empty(D, W, { dtype = weight:dtype(), device = x:device() })
        local dbias = bias and cc.empty(D, { dtype = bias:dtype(), device = x:device() }) or nil
        local want = boolean(opts.return_dinitial_states, "return_dinitial_states", fname)
        if want == nil then want = init ~= nil end
        local dinit
        if want then
            local sd = (init and init:dtype()) or (dfinal and dfinal:dtype()) or x:dtype()
            dinit = empty_bdl(x, R, D, W - 1, sd, cl)
        end
        return dweight, dbias, dinit
    end

    function cc.causal_conv1d_backward(x, weight, bias, dout, opts)
        local fname = "causal_conv1d_backward"
        tensor(x, "x", fname)
        tensor(weight, "weight", fname)
        optional(bias, "bias", fname)
        tensor(dout, "dout", fname)
        opts = options(opts, fname, BWD_OPTS)
        local act = activation(opts.activation, fname)
        local seq_idx = optional(opts.seq_idx, "seq_idx", fname)
        local init = optional(opts.initial_states, "initial_states", fname)
        local dfinal = optional(opts.dfinal_states, "dfinal_states", fname)
        local dx = optional(opts.dx, "dx", fname)
        rank(x, "x", 3, "(B, D, L)", fname)
        local W = weight_width(weight, fname)
        local B, D, L = x:size(1), x:size(2), x:size(3)
        local cl = channel_last3(x)
        dx = dx or empty_bdl(x, B, D, L, x:dtype(), cl)
        local dweight, dbias, dinit = grad_outputs(x, weight, bias, init, dfinal, opts, B, D, W, cl, fname)
        check(cc.C.cc_causal_conv1d_backward(dx._h, dweight._h, h(dbias), h(dinit), x._h, weight._h, h(bias), dout._h,
                                             h(seq_idx), h(init), h(dfinal), act))
        return dx, dweight, dbias, dinit
    end

    local UPDATE_OPTS = { "activation", "cache_seqlens", "conv_state_indices", "out" }

    function cc.causal_conv1d_update(x, conv_state, weight, bias, opts)
        local fname = "causal_conv1d_update"
        tensor(x, "x", fname)
        tensor(conv_state, "conv_state", fname)
        tensor(weight, "weight", fname)
        optional(bias, "bias", fname)
        opts = options(opts, fname, UPDATE_OPTS)
        local act = activation(opts.activation, fname)
        local cache_seqlens = optional(opts.cache_seqlens, "cache_seqlens", fname)
        local indices = optional(opts.conv_state_indices, "conv_state_indices", fname)
        local out = optional(opts.out, "out", fname)
        local squeeze = x:dim() == 2
        if not squeeze then rank(x, "x", 3, "(B, D) or (B, D, S)", fname) end
        local x3 = squeeze and x:unsqueeze(3) or x
        if out == nil then
            local o = { dtype = x:dtype(), device = x:device() }
            out = squeeze and cc.empty(x:size(1), x:size(2), o) or empty_bdl(x, x:size(1), x:size(2), x:size(3),
                                                                                  x:dtype(), channel_last3(x))
        end
        if out:dim() ~= x:dim() then
            raise(fmt("%s: out: expected the shape of x %s, got %s", fname, show(x), show(out)))
        end
        local out3 = squeeze and out:unsqueeze(3) or out
        check(cc.C.cc_causal_conv1d_update(out3._h, conv_state._h, x3._h, weight._h, h(bias), h(cache_seqlens),
                                           h(indices), act))
        return out
    end

    -- cu_seqlens as a contiguous 1-d index tensor (the C layer reads it with stride 1).
    local function cu_arg(cu, fname)
        tensor(cu, "cu_seqlens", fname)
        rank(cu, "cu_seqlens", 1, "(N+1)", fname)
        return cu:contiguous()
    end

    -- packed (T, D)-shaped empty tensor in x's layout
    local function empty_td(x, dtype)
        local T, D = x:size(1), x:size(2)
        local o = { dtype = dtype, device = x:device() }
        if x:stride(1) < x:stride(2) then return cc.empty(D, T, o):t() end
        return cc.empty(T, D, o)
    end

    local VARLEN_OPTS = { "activation", "initial_states", "return_final_states", "final_states_out", "out" }

    function cc.causal_conv1d_varlen(x, weight, bias, cu_seqlens, opts)
        local fname = "causal_conv1d_varlen"
        tensor(x, "x", fname)
        tensor(weight, "weight", fname)
        optional(bias, "bias", fname)
        local cu = cu_arg(cu_seqlens, fname)
        opts = options(opts, fname, VARLEN_OPTS)
        local act = activation(opts.activation, fname)
        local init = optional(opts.initial_states, "initial_states", fname)
        local final = optional(opts.final_states_out, "final_states_out", fname)
        local out = optional(opts.out, "out", fname)
        boolean(opts.return_final_states, "return_final_states", fname)
        rank(x, "x", 2, "(T, D)", fname)
        local W = weight_width(weight, fname)
        out = out or empty_td(x, x:dtype())
        if not final and opts.return_final_states then
            final = empty_bdl(x, math.max(cu:size(1) - 1, 0), x:size(2), math.max(W - 1, 0),
                              init and init:dtype() or x:dtype(), true)
        end
        check(cc.C.cc_causal_conv1d_varlen_forward(out._h, h(final), x._h, weight._h, h(bias), cu._h, h(init), act))
        if final then return out, final end
        return out
    end

    local VARLEN_BWD_OPTS = { "activation", "initial_states", "dfinal_states", "dx", "return_dinitial_states" }

    function cc.causal_conv1d_varlen_backward(x, weight, bias, dout, cu_seqlens, opts)
        local fname = "causal_conv1d_varlen_backward"
        tensor(x, "x", fname)
        tensor(weight, "weight", fname)
        optional(bias, "bias", fname)
        tensor(dout, "dout", fname)
        local cu = cu_arg(cu_seqlens, fname)
        opts = options(opts, fname, VARLEN_BWD_OPTS)
        local act = activation(opts.activation, fname)
        local init = optional(opts.initial_states, "initial_states", fname)
        local dfinal = optional(opts.dfinal_states, "dfinal_states", fname)
        local dx = optional(opts.dx, "dx", fname)
        rank(x, "x", 2, "(T, D)", fname)
        local W = weight_width(weight, fname)
        dx = dx or empty_td(x, x:dtype())
        local dweight, dbias, dinit = grad_outputs(x, weight, bias, init, dfinal, opts, math.max(cu:size(1) - 1, 0),
                                                   x:size(2), W, true, fname)
        check(cc.C.cc_causal_conv1d_varlen_backward(dx._h, dweight._h, h(dbias), h(dinit), x._h, weight._h, h(bias),
                                                    dout._h, cu._h, h(init), h(dfinal), act))
        return dx, dweight, dbias, dinit
    end

    local STATES_OPTS = { "dtype", "out" }

    function cc.causal_conv1d_varlen_states(x, cu_seqlens, state_len, opts)
        local fname = "causal_conv1d_varlen_states"
        tensor(x, "x", fname)
        local cu = cu_arg(cu_seqlens, fname)
        if type(state_len) ~= "number" or state_len < 0 or state_len ~= math.floor(state_len) then
            raise(fmt("%s: state_len: expected a non-negative integer, got %s", fname, show(state_len)))
        end
        opts = options(opts, fname, STATES_OPTS)
        local out = optional(opts.out, "out", fname)
        rank(x, "x", 2, "(T, D)", fname)
        if out == nil then
            local dtype = opts.dtype or x:dtype()
            cc._dtype(dtype, fname)
            out = empty_bdl(x, math.max(cu:size(1) - 1, 0), x:size(2), state_len, dtype, true)
        end
        check(cc.C.cc_causal_conv1d_varlen_states(out._h, x._h, cu._h))
        return out
    end
end
