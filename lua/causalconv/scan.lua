-- Selective scan ops, Mamba's SSM (semantics: the rule block of core/selective_scan.c, and the
-- README). As in conv.lua, each function checks what is cheap here (argument and option types,
-- the ranks needed to size outputs), allocates the outputs it was not given and makes one C call;
-- the C layer validates everything else. selective_scan records its backward, so with
-- requires_grad inputs loss:backward() reaches u, delta, A, B, C, D, z, delta_bias and
-- initial_state, also through last_state; a state update records a node with no rule.
--
--   out [, last_state] = cc.selective_scan(u, delta, A, B, C, opts)
--       u, delta (Bt, Di, L), any strides; A (Di, N); B, C (Bt, N, L), (Bt, G, N, L) or (Di, N).
--       opts: D (Di), z (Bt, Di, L), delta_bias (Di), delta_softplus, return_last_state,
--             initial_state (Bt, Di, N), seq_idx (Bt, L) i32, out.
--   du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state =
--       cc.selective_scan_backward(u, delta, A, B, C, dout, opts)
--       opts: the forward's (D, z, delta_bias, delta_softplus, initial_state, seq_idx), dlast_state
--             (Bt, Di, N), return_dinitial_state (default: true when initial_state is given).
--       dD, dz, ddelta_bias are nil without D, z, delta_bias. Deterministic: identical results run
--       to run and for any thread count.
--   out = cc.selective_state_update(state, x, dt, A, B, C, opts)
--       state (Bt or pool, Di, N) updated in place; x, dt (Bt, Di); B, C (Bt, N) or (Bt, G, N).
--       opts: D, z (Bt, Di), dt_bias (Di), dt_softplus, state_batch_indices (Bt) i32, out.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local Tensor = require("causalconv.tensor").Tensor
local ffi, C, check = F.ffi, F.C, F.check
local autograd = tape.autograd

local M = {}

local function h(t) return t and t._h or nil end
local function flag(v) return v and 1 or 0 end

local empty = Tensor.empty_on
local shape_buf = ffi.new("int64_t[8]")

-- an empty tensor shaped like t, in t's dtype, contiguous
local function empty_like(t)
    local th = t._h
    for d = 0, th.ndim - 1 do shape_buf[d] = th.shape[d] end
    return Tensor.from_c(C.cc_tensor_empty, th.ndim, shape_buf, th.dtype, th.device, th.device_index)
end

-- (Bt, Di, L) output in u's layout: a channel-last u (a (Bt, L, Di) buffer) gets a channel-last out
local function empty_bdl(u, dtype)
    local uh = u._h
    local Bt, Di, L = tonumber(uh.shape[0]), tonumber(uh.shape[1]), tonumber(uh.shape[2])
    if uh.stride[1] < uh.stride[2] then return empty(dtype, u, Bt, L, Di):transpose(2, 3) end
    return empty(dtype, u, Bt, Di, L)
end

-- f32, or f64 for f64 u: last_state's dtype
local function state_dtype(u) return u._h.dtype == C.CC_F64 and C.CC_F64 or C.CC_F32 end

local zeros_like = Tensor.zeros_of

local SCAN_OPTS = {
    { "D", "tensor" }, { "z", "tensor" }, { "delta_bias", "tensor" }, { "delta_softplus", "boolean" },
    { "return_last_state", "boolean" }, { "initial_state", "tensor" }, { "seq_idx", "tensor" },
    { "out", "tensor" },
}
local BWD_OPTS = {
    { "D", "tensor" }, { "z", "tensor" }, { "delta_bias", "tensor" }, { "delta_softplus", "boolean" },
    { "initial_state", "tensor" }, { "seq_idx", "tensor" }, { "dlast_state", "tensor" },
    { "return_dinitial_state", "boolean" },
}

local function check_inputs(fname, u, delta, A, B, C_)
    args.tensor(fname, "u", u)
    args.tensor(fname, "delta", delta)
    args.tensor(fname, "A", A)
    args.tensor(fname, "B", B)
    args.tensor(fname, "C", C_)
    args.rank(fname, "u", u, 3, "(Bt, Di, L)")
    args.rank(fname, "A", A, 2, "(Di, N)")
end

local function scan_backward(u, delta, A, B, C_, dout, opts)
    local D, z, bias, init = opts.D, opts.z, opts.delta_bias, opts.initial_state
    local du, ddelta, dA = empty_like(u), empty_like(delta), empty_like(A)
    local dB, dC = empty_like(B), empty_like(C_)
    local dD = D and empty_like(D) or nil
    local dz = z and empty_like(z) or nil
    local dbias = bias and empty_like(bias) or nil
    local want = opts.return_dinitial_state
    if want == nil then want = init ~= nil end
    local dinit
    if want then
        local Bt, Di, N = u:size(1), u:size(2), A:size(2)
        dinit = init and empty_like(init) or empty(state_dtype(u), u, Bt, Di, N)
    end
    check(C.cc_selective_scan_backward(du._h, ddelta._h, dA._h, dB._h, dC._h, h(dD), h(dz), h(dbias), h(dinit),
                                       u._h, delta._h, A._h, B._h, C_._h, h(D), h(z), h(bias), h(init),
                                       h(opts.seq_idx), dout._h, h(opts.dlast_state), flag(opts.delta_softplus)))
    return du, ddelta, dA, dB, dC, dD, dz, dbias, dinit
end

function M.selective_scan_backward(u, delta, A, B, C_, dout, opts)
    local fname = "selective_scan_backward"
    check_inputs(fname, u, delta, A, B, C_)
    args.tensor(fname, "dout", dout)
    opts = args.options(fname, opts, BWD_OPTS)
    return scan_backward(u, delta, A, B, C_, dout, opts)
end

local INPUT_NAMES = { "u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state" }

function M.selective_scan(u, delta, A, B, C_, opts)
    local fname = "selective_scan"
    check_inputs(fname, u, delta, A, B, C_)
    opts = args.options(fname, opts, SCAN_OPTS)
    local D, z, bias, init, seq_idx = opts.D, opts.z, opts.delta_bias, opts.initial_state, opts.seq_idx
    local out = opts.out or empty_bdl(u, u._h.dtype)
    local last
    if opts.return_last_state then last = empty(state_dtype(u), u, u:size(1), u:size(2), A:size(2)) end
    args.check_as(C.cc_selective_scan_forward(out._h, h(last), u._h, delta._h, A._h, B._h, C_._h, h(D), h(z),
                                              h(bias), h(init), h(seq_idx), flag(opts.delta_softplus)),
                  "selective_scan_forward", fname)
    if autograd.needs_grad(u, delta, A, B, C_, D, z, bias, init) then
        local softplus = opts.delta_softplus
        autograd.record(fname, INPUT_NAMES, { u, delta, A, B, C_, D, z, bias, init }, { out, last },
            function(ctx, gout, glast)
                local s = ctx.saved
                return scan_backward(s.u, s.delta, s.A, s.B, s.C, gout or zeros_like(out), {
                    D = s.D, z = s.z, delta_bias = s.delta_bias, delta_softplus = softplus,
                    initial_state = s.initial_state, seq_idx = s.seq_idx, dlast_state = glast,
                    return_dinitial_state = ctx.needs[9] })
            end,
            { u = u, delta = delta, A = A, B = B, C = C_, D = D, z = z, delta_bias = bias, initial_state = init,
              seq_idx = seq_idx })
    end
    if last then return out, last end
    return out
end

local UPDATE_OPTS = {
    { "D", "tensor" }, { "z", "tensor" }, { "dt_bias", "tensor" }, { "dt_softplus", "boolean" },
    { "state_batch_indices", "tensor" }, { "out", "tensor" },
}

function M.selective_state_update(state, x, dt, A, B, C_, opts)
    local fname = "selective_state_update"
    args.tensor(fname, "state", state)
    args.tensor(fname, "x", x)
    args.tensor(fname, "dt", dt)
    args.tensor(fname, "A", A)
    args.tensor(fname, "B", B)
    args.tensor(fname, "C", C_)
    opts = args.options(fname, opts, UPDATE_OPTS)
    args.rank(fname, "x", x, 2, "(Bt, Di)")
    autograd.check_inplace(fname, state, "state")
    local out = opts.out or empty_like(x)
    check(C.cc_selective_state_update(out._h, state._h, x._h, dt._h, A._h, B._h, C_._h, h(opts.D), h(opts.z),
                                      h(opts.dt_bias), h(opts.state_batch_indices), flag(opts.dt_softplus)))
    -- no backward: a gradient that reaches a decode step is an error naming the input
    autograd.record(fname, { "x", "dt", "A", "B", "C", "D", "z", "dt_bias" },
                    { x, dt, A, B, C_, opts.D, opts.z, opts.dt_bias }, { out }, nil)
    return out
end

return M
