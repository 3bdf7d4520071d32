-- cc.optim: optimizers (SGD, Adam, AdamW) with PyTorch's semantics, parameter groups,
-- state_dict / load_state_dict, gradient clipping and learning-rate schedules.
--
--   opt = cc.optim.AdamW(params, {lr = 1e-3, betas = {0.9, 0.95}, eps = 1e-8, weight_decay = 0.1})
--   opt = cc.optim.Adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0})
--   opt = cc.optim.SGD(params, {lr = 0.1, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0})
--   loss:backward(); opt:step(); opt:zero_grad()
--
-- params: an array of tensors, or an array of parameter groups
--   { {params = {w1, w2}, weight_decay = 0}, {params = {w3}, lr = 1e-4} }
-- whose options override the defaults given to the constructor (PyTorch's rule). Each parameter
-- is a float leaf tensor and appears once. opt.param_groups holds the groups as the optimizer
-- uses them ({params = {...}, lr = ..., ...}): change a group's lr (or any option) between steps,
-- as schedules do; step() checks every option again.
--
-- opt:step([closure])   updates every parameter whose .grad is not nil (the others are skipped)
--     under cc.no_grad; closure, when given, is called first with grad recording on and its
--     result returned (PyTorch's closure form). Everything (options, every grad's shape, dtype
--     and device) is checked before the first parameter changes.
--     Adam / AdamW: one fused C call per parameter (cc_adam_step: core/optim.c, the rule in
--     kernels/optim.h): moments exp_avg, exp_avg_sq in f32 (f64 for f64 parameters),
--     bias corrections 1 - beta^step, denom = sqrt(v) / sqrt(1 - beta2^step) + eps; Adam's
--     weight_decay is L2 (grad + wd * param), AdamW's is decoupled (param * (1 - lr * wd)).
--     SGD: PyTorch's rule with a few in-place tensor ops per parameter (momentum buffer in the
--     parameter's dtype; the first step copies the gradient into it; nesterov needs
--     momentum > 0 and dampening 0).
-- opt:zero_grad([{set_to_none = true}])  zeroes every .grad in place (cc.zero_grad's rule), or
--     drops them.
-- opt:state_dict()  { state = { [i] = {step, exp_avg, exp_avg_sq} or {momentum_buffer} },
--     param_groups = { {lr, betas, eps, weight_decay, params = {i, ...}}, ... } }, with i the
--     1-based position of a parameter counted over the groups in order (PyTorch counts from 0).
--     The tensors are COPIES (clones) of the live state: stepping on does not change a saved
--     dict. Positions that never stepped have no entry.
-- opt:load_state_dict(sd)  restores the state and every group's options (the parameters stay):
--     group count and group sizes must match, every state tensor must have its parameter's
--     shape; state tensors are copied (converted to the moment dtype and the parameter's device).
--     Nothing changes when any of it fails.
-- opt.state  the live per-parameter state, keyed by the parameter tensor.
--
-- cc.optim.no_decay_groups(named_params, weight_decay) -> { {params = decayed, weight_decay = wd},
--     {params = not_decayed, weight_decay = 0} }. named_params: an ordered array of {name, tensor}
--     (Module:named_parameters()). Not decayed (Mamba's rule): names whose last part is A_log or
--     D, names ending in ".bias", names containing "norm" or "embedding", and tensors marked
--     t._no_weight_decay = true (mamba_ssm's tag). A tensor listed twice (tied weights) goes
--     where its first name puts it.
-- cc.optim.clip_grad_norm_(params, max_norm [, norm_type = 2]) -> total norm (a Lua number): the
--     norm of all the grads together, computed in f64 (norm_type a positive number or math.huge);
--     when max_norm / (total + 1e-6) < 1 every grad is scaled by it in place (PyTorch's
--     clamp(coef, max = 1)). params: a tensor or an array of tensors; nil grads are skipped.
-- Schedules: functions step -> multiplier of the base lr.
--   cc.optim.schedule.constant()                                  1 always
--   cc.optim.schedule.warmup_cosine{warmup = W, total = T, min_ratio = 0}
--       s / W for s < W (linear from 0), then min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2
--       with p = (s - W) / (T - W), and min_ratio from s >= T on.
--   sched = cc.optim.LRScheduler(opt, fn): remembers each group's lr as its base lr and sets
--       lr = base * fn(0) at once; sched:step() advances the count s and sets lr = base * fn(s)
--       (call it after opt:step(), as in PyTorch, so update s + 1 runs with fn(s); with warmup the
--       very first update has lr 0, as with LambdaLR and Hugging Face's cosine schedule).
--       sched:get_last_lr(), sched:state_dict() -> {last_step, base_lrs}, sched:load_state_dict(sd).
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local Tensor = require("causalconv.tensor").Tensor
require "causalconv.ops"   -- the tensor arithmetic SGD and clip_grad_norm_ use (x:mul_, x + y, ...)
local C, check, raise = F.C, F.check, F.raise
local fmt = string.format
local show, shape_of, shape_str, same_shape, is_tensor = args.show, args.shape_of, args.shape_str, args.same_shape,
    args.is_tensor

local M = { schedule = {} }

------------------------------------------------------------------------------------------------
-- option values

local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- where: "" for the constructor's defaults, "params[2]." for a group's own value
local function want(fname, where, key, v, ok, what)
    if not ok then raise(fmt("%s: %s%s: expected %s, got %s", fname, where, key, what, show(v))) end
end

local CHECKS = {
    lr = function(f, w, v) want(f, w, "lr", v, finite(v) and v >= 0, "a number >= 0") end,
    momentum = function(f, w, v) want(f, w, "momentum", v, finite(v) and v >= 0, "a number >= 0") end,
    dampening = function(f, w, v) want(f, w, "dampening", v, finite(v), "a finite number") end,
    weight_decay = function(f, w, v) want(f, w, "weight_decay", v, finite(v) and v >= 0, "a number >= 0") end,
    eps = function(f, w, v) want(f, w, "eps", v, finite(v) and v > 0, "a number > 0") end,
    nesterov = function(f, w, v) want(f, w, "nesterov", v, type(v) == "boolean", "a boolean") end,
    betas = function(f, w, v)
        local ok = type(v) == "table" and not is_tensor(v) and #v == 2
        for i = 1, 2 do ok = ok and finite(v[i]) and v[i] >= 0 and v[i] < 1 end
        if not ok and type(v) == "table" and not is_tensor(v) then
            local parts = {}
            for i = 1, math.max(#v, 1) do parts[i] = show(v[i]) end
            v = "{" .. table.concat(parts, ", ") .. "}"
            raise(fmt("%s: %sbetas: expected {beta1, beta2} with 0 <= beta < 1, got %s", f, w, v))
        end
        want(f, w, "betas", v, ok, "{beta1, beta2} with 0 <= beta < 1")
    end,
}

------------------------------------------------------------------------------------------------
-- the optimizer kinds

local KINDS = {
    SGD = {
        keys = { "lr", "momentum", "dampening", "nesterov", "weight_decay" },
        defaults = { momentum = 0, dampening = 0, nesterov = false, weight_decay = 0 },   -- lr: required
        state_keys = { momentum_buffer = true },
    },
    Adam = {
        keys = { "lr", "betas", "eps", "weight_decay" },
        defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
        state_keys = { step = true, exp_avg = true, exp_avg_sq = true },
        adam = true, decoupled = 0,
    },
    AdamW = {
        keys = { "lr", "betas", "eps", "weight_decay" },
        defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.01 },
        state_keys = { step = true, exp_avg = true, exp_avg_sq = true },
        adam = true, decoupled = 1,
    },
}
for _, kind in pairs(KINDS) do
    local spec, gspec = {}, { { "params", "list" } }
    for i, k in ipairs(kind.keys) do
        local t = k == "nesterov" and "boolean" or k == "betas" and "list" or "number"
        spec[i] = { k, t }
        gspec[i + 1] = { k, t }
    end
    kind.spec, kind.group_spec = spec, gspec
end

local function copy_value(v)
    if type(v) == "table" then return { v[1], v[2] } end   -- betas
    return v
end

-- one group's options, each checked; where names the group in messages
local function check_options(fname, kind, g, where)
    for _, k in ipairs(kind.keys) do
        if g[k] == nil then
            raise(fmt("%s: %s%s: expected %s, got nil%s", fname, where, k, k == "lr" and "a number >= 0" or "a value",
                fname == "SGD" and k == "lr" and " (SGD has no default learning rate)" or ""))
        end
        CHECKS[k](fname, where, g[k])
    end
    if kind == KINDS.SGD and g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
        raise(fmt("%s: %snesterov: needs momentum > 0 and dampening = 0, got momentum %s and dampening %s", fname,
            where, show(g.momentum), show(g.dampening)))
    end
end

------------------------------------------------------------------------------------------------
-- the shared methods

local Optimizer = {}
Optimizer.__index = Optimizer

local function params_in_order(self)
    local list = {}
    for _, g in ipairs(self.param_groups) do
        for _, p in ipairs(g.params) do list[#list + 1] = p end
    end
    return list
end

local function moment_dtype(p) return p._h.dtype == C.CC_F64 and C.CC_F64 or C.CC_F32 end

local function zeros_for(p, dtype)
    local h = p._h
    local t = Tensor.from_c(C.cc_tensor_empty, h.ndim, h.shape, dtype, h.device, h.device_index)
    check(C.cc_tensor_fill(t._h, 0))
    return t
end

local function clone(t) return Tensor.from_c(C.cc_tensor_clone, t._h) end

-- Every option and every gradient, before anything changes.
local function check_step(self)
    local fname = self.kind_name
    local pos = 0
    for gi, g in ipairs(self.param_groups) do
        check_options(fname, self.kind, g, #self.param_groups > 1 and fmt("param_groups[%d].", gi) or "")
        for _, p in ipairs(g.params) do
            pos = pos + 1
            local grad = rawget(p, "grad")
            if grad ~= nil then
                local where = fmt("params[%d].grad", pos)
                if not is_tensor(grad) then
                    raise(fmt("%s: %s: expected a causalconv.Tensor or nil, got %s", fname, where, show(grad)))
                end
                if not same_shape(shape_of(grad), shape_of(p)) then
                    raise(fmt("%s: %s: expected shape %s (the parameter's), got %s", fname, where,
                        shape_str(shape_of(p)), show(grad)))
                end
                args.same_dtype(fname, fmt("params[%d]", pos), p, where, grad)
                args.same_device(fname, fmt("params[%d]", pos), p, where, grad)
            end
        end
    end
end

function Optimizer:step(closure)
    local loss
    if closure ~= nil then
        if type(closure) ~= "function" then
            raise(fmt("%s:step: closure: expected a function or nil, got %s", self.kind_name, show(closure)))
        end
        loss = tape.enable_grad(closure)
    end
    check_step(self)
    tape.no_grad(self.update, self)
    return loss
end

local ZERO_GRAD_OPTS = { { "set_to_none", "boolean" } }

function Optimizer:zero_grad(opts)
    args.options("zero_grad", opts, ZERO_GRAD_OPTS)
    for _, p in ipairs(params_in_order(self)) do p:zero_grad(opts) end
end

function Optimizer:state_dict()
    local state, groups, index = {}, {}, {}
    local pos = 0
    for gi, g in ipairs(self.param_groups) do
        local saved = { params = {} }
        for _, k in ipairs(self.kind.keys) do saved[k] = copy_value(g[k]) end
        for i, p in ipairs(g.params) do
            pos = pos + 1
            saved.params[i] = pos
            index[p] = pos
        end
        groups[gi] = saved
    end
    -- positions in order, not pairs(self.state): LuaJIT 2.1.0-beta3's bug #827 can end a
    -- compiled pairs() loop that runs another pairs() loop early
    for _, p in ipairs(params_in_order(self)) do
        local st = self.state[p]
        if st then
            local s = {}
            for k, v in pairs(st) do s[k] = is_tensor(v) and clone(v) or v end
            state[index[p]] = s
        end
    end
    return { state = state, param_groups = groups }
end

-- a state tensor for parameter p from a saved one: p's shape, converted to dtype and p's device, a copy
local function restore_tensor(fname, where, v, p, dtype)
    if not is_tensor(v) or args.is_int_dtype(v._h.dtype) then
        raise(fmt("%s: %s: expected a float tensor of shape %s, got %s", fname, where, shape_str(shape_of(p)), show(v)))
    end
    if not same_shape(shape_of(v), shape_of(p)) then
        raise(fmt("%s: %s: expected shape %s (the parameter's), got %s", fname, where, shape_str(shape_of(p)), show(v)))
    end
    local h = p._h
    local t = Tensor.from_c(C.cc_tensor_empty, h.ndim, h.shape, dtype, h.device, h.device_index)
    check(C.cc_tensor_copy(t._h, v._h))
    return t
end

function Optimizer:load_state_dict(sd)
    local fname = self.kind_name .. ":load_state_dict"
    local kind = self.kind
    if type(sd) ~= "table" or is_tensor(sd) then
        raise(fmt("%s: sd: expected a table {state = ..., param_groups = ...}, got %s", fname, show(sd)))
    end
    args.options(fname, sd, { { "state", "list" }, { "param_groups", "list" } }, "sd")
    local groups, state = sd.param_groups, sd.state
    if groups == nil or state == nil then
        raise(fmt("%s: sd: expected both state and param_groups, got %s and %s", fname, show(state), show(groups)))
    end
    if #groups ~= #self.param_groups then
        raise(fmt("%s: sd.param_groups: expected %d groups (the optimizer's), got %d", fname, #self.param_groups, #groups))
    end
    -- saved position -> parameter, in order (PyTorch's id map)
    local by_pos, new_options = {}, {}
    for gi, g in ipairs(groups) do
        local where = fmt("sd.param_groups[%d]", gi)
        if type(g) ~= "table" or is_tensor(g) then raise(fmt("%s: %s: expected a table, got %s", fname, where, show(g))) end
        args.options(fname, g, kind.group_spec, where)
        local mine = self.param_groups[gi].params
        if type(g.params) ~= "table" or #g.params ~= #mine then
            raise(fmt("%s: %s.params: expected %d positions (the group's parameter count), got %s", fname, where, #mine,
                type(g.params) == "table" and tostring(#g.params) or show(g.params)))
        end
        for i, id in ipairs(g.params) do
            if not args.is_integer(id) or by_pos[id] ~= nil then
                raise(fmt("%s: %s.params[%d]: expected a position not used before, got %s", fname, where, i, show(id)))
            end
            by_pos[id] = mine[i]
        end
        local o = {}
        for _, k in ipairs(kind.keys) do o[k] = copy_value(g[k]) end
        check_options(fname, kind, o, where .. ".")
        new_options[gi] = o
    end
    local new_state = {}
    local ids = {}   -- collected first: no pairs() inside pairs() (LuaJIT bug #827, see state_dict)
    for id in pairs(state) do ids[#ids + 1] = id end
    for _, id in ipairs(ids) do
        local st = state[id]
        local where = fmt("sd.state[%s]", show(id))
        local p = by_pos[id]
        if p == nil then raise(fmt("%s: %s: no parameter has this position in sd.param_groups", fname, where)) end
        if type(st) ~= "table" or is_tensor(st) then raise(fmt("%s: %s: expected a table, got %s", fname, where, show(st))) end
        local s = {}
        for k, v in pairs(st) do
            if not kind.state_keys[k] then
                raise(fmt("%s: %s: unknown entry %s for %s (expected %s)", fname, where, show(k), self.kind_name,
                    kind.adam and "step, exp_avg, exp_avg_sq" or "momentum_buffer"))
            end
            if k == "step" then
                if not args.is_integer(v) or v < 1 then
                    raise(fmt("%s: %s.step: expected a positive integer, got %s", fname, where, show(v)))
                end
                s.step = v
            else
                s[k] = restore_tensor(fname, where .. "." .. k, v, p, kind.adam and moment_dtype(p) or p._h.dtype)
            end
        end
        if kind.adam and (s.step == nil or s.exp_avg == nil or s.exp_avg_sq == nil) then
            raise(fmt("%s: %s: expected step, exp_avg and exp_avg_sq", fname, where))
        end
        new_state[p] = s
    end
    -- everything passed: commit
    self.state = new_state
    for gi, o in ipairs(new_options) do
        for k, v in pairs(o) do self.param_groups[gi][k] = v end
    end
end

function Optimizer:__tostring()
    local n = #params_in_order(self)
    return fmt("causalconv.optim.%s (%d group%s, %d parameter%s)", self.kind_name, #self.param_groups,
        #self.param_groups == 1 and "" or "s", n, n == 1 and "" or "s")
end

------------------------------------------------------------------------------------------------
-- the updates (run under no_grad, after check_step)

local function adam_update(self)
    local decoupled = self.kind.decoupled
    for _, g in ipairs(self.param_groups) do
        local lr, b1, b2, eps, wd = g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay
        for _, p in ipairs(g.params) do
            local grad = rawget(p, "grad")
            if grad ~= nil then
                local st = self.state[p]
                if st == nil then
                    local md = moment_dtype(p)
                    st = { step = 0, exp_avg = zeros_for(p, md), exp_avg_sq = zeros_for(p, md) }
                    self.state[p] = st
                end
                local step = st.step + 1
                if C.cc_tensor_is_contiguous(grad._h) == 0 then grad = Tensor.from_c(C.cc_tensor_contiguous, grad._h) end
                local target = p
                if C.cc_tensor_is_contiguous(p._h) == 0 then target = clone(p) end   -- contiguous copy, written back
                args.check_as(C.cc_adam_step(target._h, st.exp_avg._h, st.exp_avg_sq._h, grad._h, lr, b1, b2, eps, wd,
                    step, decoupled), "adam_step", self.kind_name)
                if target ~= p then check(C.cc_tensor_copy(p._h, target._h)) end
                st.step = step
            end
        end
    end
end

local function sgd_update(self)
    for _, g in ipairs(self.param_groups) do
        local lr, momentum, dampening, nesterov, wd = g.lr, g.momentum, g.dampening, g.nesterov, g.weight_decay
        for _, p in ipairs(g.params) do
            local d_p = rawget(p, "grad")
            if d_p ~= nil then
                if wd ~= 0 then d_p = d_p + p * wd end
                if momentum ~= 0 then
                    local st = self.state[p]
                    local buf = st and st.momentum_buffer
                    if buf == nil then
                        buf = clone(d_p)
                        self.state[p] = { momentum_buffer = buf }
                    else
                        buf:mul_(momentum)
                        buf:add_(dampening == 0 and d_p or d_p * (1 - dampening))
                    end
                    if nesterov then d_p = d_p + buf * momentum else d_p = buf end
                end
                p:add_(d_p * -lr)
            end
        end
    end
end

------------------------------------------------------------------------------------------------
-- constructors

local function is_group(v) return type(v) == "table" and not is_tensor(v) end

local function make(kind_name, params, opts)
    local kind = KINDS[kind_name]
    local fname = kind_name
    opts = args.options(fname, opts, kind.spec)
    local defaults = {}
    for _, k in ipairs(kind.keys) do
        local v = opts[k]
        if v == nil then v = kind.defaults[k] end
        if v ~= nil then CHECKS[k](fname, "", v) end
        defaults[k] = copy_value(v)
    end
    if type(params) ~= "table" or is_tensor(params) then
        raise(fmt("%s: params: expected an array of tensors or of parameter groups {params = {...}, ...}, got %s",
            fname, show(params)))
    end
    if #params == 0 then raise(fmt("%s: params: got an empty parameter list", fname)) end
    local raw_groups
    if is_tensor(params[1]) then
        raw_groups = { { params = params } }
    elseif is_group(params[1]) and params[1].params ~= nil then
        raw_groups = params
    else
        raise(fmt("%s: params[1]: expected a tensor or a parameter group {params = {...}, ...}, got %s%s", fname,
            show(params[1]), is_group(params[1]) and is_tensor(params[1][2])
            and " (a {name, tensor} pair: pass the tensors, or cc.optim.no_decay_groups(named_params, wd))" or ""))
    end
    local seen, groups = {}, {}
    for gi, rg in ipairs(raw_groups) do
        local gwhere = raw_groups == params and fmt("params[%d]", gi) or nil
        if gwhere then
            if not is_group(rg) then
                raise(fmt("%s: %s: expected a parameter group {params = {...}, ...}, got %s", fname, gwhere, show(rg)))
            end
            args.options(fname, rg, kind.group_spec, gwhere)
            if type(rg.params) ~= "table" then
                raise(fmt("%s: %s.params: expected an array of tensors, got %s", fname, gwhere, show(rg.params)))
            end
        end
        local g = { params = {} }
        for i, p in ipairs(rg.params) do
            local where = gwhere and fmt("%s.params[%d]", gwhere, i) or fmt("params[%d]", i)
            args.float_tensor(fname, where, p)
            if rawget(p, "_node") ~= nil then
                raise(fmt("%s: %s: expected a leaf tensor (a parameter), got the output of op '%s'", fname, where,
                    rawget(p, "_node").op))
            end
            if seen[p] then
                raise(fmt("%s: %s: this tensor is already %s; each parameter may appear once", fname, where, seen[p]))
            end
            seen[p] = where
            g.params[i] = p
        end
        for _, k in ipairs(kind.keys) do
            local v = rg[k]
            if v == nil then v = defaults[k] end
            g[k] = copy_value(v)
        end
        check_options(fname, kind, g, gwhere and gwhere .. "." or "")
        groups[gi] = g
    end
    local self = setmetatable({
        kind_name = kind_name, kind = kind, defaults = defaults, param_groups = groups, state = {},
        update = kind.adam and adam_update or sgd_update,
    }, Optimizer)
    return self
end

function M.SGD(params, opts) return make("SGD", params, opts) end
function M.Adam(params, opts) return make("Adam", params, opts) end
function M.AdamW(params, opts) return make("AdamW", params, opts) end

------------------------------------------------------------------------------------------------
-- no_decay_groups

local function no_decay(name, t)
    if rawget(t, "_no_weight_decay") == true then return true end
    local last = name:match("([^%.]+)$") or name
    return last == "A_log" or last == "D" or name == "bias" or name:sub(-5) == ".bias"
        or name:find("norm", 1, true) ~= nil or name:find("embedding", 1, true) ~= nil
end

function M.no_decay_groups(named_params, weight_decay)
    local fname = "no_decay_groups"
    if type(named_params) ~= "table" or is_tensor(named_params) then
        raise(fmt("%s: named_params: expected an array of {name, tensor} pairs, got %s", fname, show(named_params)))
    end
    if not finite(weight_decay) or weight_decay < 0 then
        raise(fmt("%s: weight_decay: expected a number >= 0, got %s", fname, show(weight_decay)))
    end
    local decay, keep, seen = {}, {}, {}
    for i, entry in ipairs(named_params) do
        if type(entry) ~= "table" or is_tensor(entry) or type(entry[1]) ~= "string" or not is_tensor(entry[2]) then
            raise(fmt("%s: named_params[%d]: expected a {name, tensor} pair, got %s", fname, i, show(entry)))
        end
        local name, t = entry[1], entry[2]
        if not seen[t] then
            seen[t] = true
            local list = no_decay(name, t) and keep or decay
            list[#list + 1] = t
        end
    end
    return { { params = decay, weight_decay = weight_decay }, { params = keep, weight_decay = 0 } }
end

------------------------------------------------------------------------------------------------
-- clip_grad_norm_

function M.clip_grad_norm_(params, max_norm, norm_type)
    local fname = "clip_grad_norm_"
    if is_tensor(params) then params = { params } end
    if type(params) ~= "table" then
        raise(fmt("%s: params: expected a tensor or an array of tensors, got %s", fname, show(params)))
    end
    if type(max_norm) ~= "number" or max_norm ~= max_norm or max_norm < 0 then
        raise(fmt("%s: max_norm: expected a number >= 0, got %s", fname, show(max_norm)))
    end
    norm_type = norm_type == nil and 2 or norm_type
    if type(norm_type) ~= "number" or not (norm_type > 0) then
        raise(fmt("%s: norm_type: expected a number > 0 (math.huge for the max norm), got %s", fname, show(norm_type)))
    end
    local grads = {}
    for i, p in ipairs(params) do
        args.tensor(fname, fmt("params[%d]", i), p)
        local g = rawget(p, "grad")
        if g ~= nil and g:numel() > 0 then grads[#grads + 1] = g end
    end
    if #grads == 0 then return 0 end
    return tape.no_grad(function()
        local total = 0
        for _, g in ipairs(grads) do
            local g64 = g:to("f64")
            if norm_type == math.huge then
                total = math.max(total, g64:abs():max():item())
            elseif norm_type == 2 then
                total = total + (g64 * g64):sum():item()
            elseif norm_type == 1 then
                total = total + g64:abs():sum():item()
            else
                total = total + (g64:abs() ^ norm_type):sum():item()
            end
        end
        if norm_type == 2 then total = math.sqrt(total)
        elseif norm_type ~= math.huge and norm_type ~= 1 then total = total ^ (1 / norm_type) end
        local coef = max_norm / (total + 1e-6)
        if not (coef >= 1) then
            for _, g in ipairs(grads) do g:mul_(coef) end
        end
        return total
    end)
end

------------------------------------------------------------------------------------------------
-- schedules

local S = M.schedule

function S.constant(...)
    if select("#", ...) > 0 then raise("schedule.constant: expected no arguments, got " .. select("#", ...)) end
    return function() return 1 end
end

local COSINE_OPTS = { { "warmup", "count" }, { "total", "count" }, { "min_ratio", "number" } }

function S.warmup_cosine(opts)
    local fname = "schedule.warmup_cosine"
    if opts == nil then raise(fmt("%s: opts: expected {warmup = W, total = T [, min_ratio = 0]}, got nil", fname)) end
    opts = args.options(fname, opts, COSINE_OPTS)
    local warmup, total, min_ratio = opts.warmup, opts.total, opts.min_ratio or 0
    if warmup == nil then raise(fmt("%s: warmup: expected a non-negative integer, got nil", fname)) end
    if total == nil or total <= warmup then
        raise(fmt("%s: total: expected an integer > warmup (%d), got %s", fname, warmup, show(total)))
    end
    if not (min_ratio >= 0 and min_ratio <= 1) then
        raise(fmt("%s: min_ratio: expected a number in [0, 1], got %s", fname, show(min_ratio)))
    end
    local pi, cos = math.pi, math.cos
    return function(s)
        if not finite(s) or s < 0 then raise(fmt("%s: step: expected a number >= 0, got %s", fname, show(s))) end
        if s < warmup then return s / warmup end
        if s >= total then return min_ratio end
        local f = 0.5 * (1 + cos(pi * (s - warmup) / (total - warmup)))
        return f * (1 - min_ratio) + min_ratio
    end
end

local Scheduler = {}
Scheduler.__index = Scheduler

local function apply(self)
    local m = self.fn(self.last_step)
    if not finite(m) or m < 0 then
        raise(fmt("LRScheduler: fn(%d) returned %s, expected a number >= 0", self.last_step, show(m)))
    end
    local groups = self.optimizer.param_groups
    if #groups ~= #self.base_lrs then
        raise(fmt("LRScheduler: the optimizer has %d parameter groups, the scheduler %d base lrs", #groups, #self.base_lrs))
    end
    for i, g in ipairs(groups) do g.lr = self.base_lrs[i] * m end
end

function M.LRScheduler(opt, fn)
    if getmetatable(opt) ~= Optimizer then
        raise("LRScheduler: opt: expected a cc.optim optimizer, got " .. show(opt))
    end
    if type(fn) ~= "function" then
        raise("LRScheduler: fn: expected a function step -> multiplier (cc.optim.schedule.*), got " .. show(fn))
    end
    local base = {}
    for i, g in ipairs(opt.param_groups) do base[i] = g.lr end
    local self = setmetatable({ optimizer = opt, fn = fn, base_lrs = base, last_step = 0 }, Scheduler)
    apply(self)
    return self
end

function Scheduler:step()
    self.last_step = self.last_step + 1
    apply(self)
end

function Scheduler:get_last_lr()
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do lrs[i] = g.lr end
    return lrs
end

function Scheduler:state_dict()
    local base = {}
    for i, v in ipairs(self.base_lrs) do base[i] = v end
    return { last_step = self.last_step, base_lrs = base }
end

function Scheduler:load_state_dict(sd)
    local fname = "LRScheduler:load_state_dict"
    if type(sd) ~= "table" or is_tensor(sd) then raise(fmt("%s: sd: expected a table, got %s", fname, show(sd))) end
    args.options(fname, sd, { { "last_step", "count" }, { "base_lrs", "list" } }, "sd")
    local groups = #self.optimizer.param_groups
    if sd.last_step == nil then raise(fmt("%s: sd.last_step: expected a non-negative integer, got nil", fname)) end
    if type(sd.base_lrs) ~= "table" or #sd.base_lrs ~= groups then
        raise(fmt("%s: sd.base_lrs: expected %d numbers (one per parameter group), got %s", fname, groups, show(sd.base_lrs)))
    end
    local base = {}
    for i = 1, groups do
        local v = sd.base_lrs[i]
        if not finite(v) or v < 0 then raise(fmt("%s: sd.base_lrs[%d]: expected a number >= 0, got %s", fname, i, show(v))) end
        base[i] = v
    end
    local prev_step, prev_base = self.last_step, self.base_lrs
    self.last_step, self.base_lrs = sd.last_step, base
    local ok, err = pcall(apply, self)
    if not ok then
        self.last_step, self.base_lrs = prev_step, prev_base
        error(err, 0)
    end
end

return { optim = M }
