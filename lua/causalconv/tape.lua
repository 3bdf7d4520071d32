-- The autograd tape: the recording switch, graph nodes, the backward walk, gradient
-- accumulation and the in-place check. The tensor methods built on it (requires_grad_,
-- backward, detach, zero_grad, retain_grad, is_leaf) are in tensor.lua.
--
-- Exported into cc: no_grad, enable_grad, is_grad_enabled, set_grad_enabled, zero_grad and
-- cc.autograd, the mechanism every differentiable op records through (and custom ops too):
--   cc.autograd.record(op, input_names, inputs, outputs, backward, saved)
--   cc.autograd.needs_grad(...)          recording is on and some argument requires grad
--   cc.autograd.requires_grad(t)         t takes part in the graph
--   cc.autograd.is_enabled()
--   cc.autograd.check_inplace(fname, t [, argname])  raises when t may not be changed in place now
--   cc.autograd.backward(t [, grad [, opts]]), cc.autograd.retain_grad(t)
--
-- Design:
--   * Every differentiable op that runs while recording is on and has an input that requires
--     grad creates one node: {id, op, input names, edges to its inputs, saved tensors with the
--     storage version each had when saved, backward rule}. Its outputs point at it
--     (t._node, t._out_index) and get requires_grad = true.
--   * Nodes link to their inputs (a leaf tensor, or another node and the output index), not to
--     a global list, so a graph nobody references is garbage collected with its tensors.
--   * Node ids grow with creation order, and an op's inputs always exist before the op runs, so
--     "descending id" is a reverse topological order: backward collects the nodes reachable
--     from the root and walks them by descending id. That is the linear tape of
--     torch-autograd, restricted to the part of it the root depends on.
--   * A rule is backward(ctx, g_1, ..., g_nout) -> grad_1, ..., grad_nin (one per input, in
--     input order). ctx.saved holds the saved tensors (version-checked), ctx.needs[i] says
--     whether input i wants a gradient. For a node with one output g_1 is never nil; for
--     several outputs the g_k of outputs that did not reach the loss are nil. A node recorded
--     with no rule (nil) fails at backward time when a gradient reaches it.
--   * Gradients accumulate with add (never overwrite) into leaf.grad, in the leaf's dtype and
--     device. Backward runs with recording off (no double backward).
--   * After backward the nodes it walked are freed (saved tensors dropped) unless
--     retain_graph = true; walking a freed node is an error with a hint.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local C, raise, check = F.C, F.raise, F.check
local fmt = string.format
local show, shape_of, shape_str, same_shape = args.show, args.shape_of, args.shape_str, args.same_shape

local A = {}   -- cc.autograd

local enabled = true
local next_id = 0

function A.is_enabled() return enabled end

-- Does t take part in the graph (a leaf that requires grad, or the output of a recorded op)?
local function tracked(t)
    return type(t) == "table" and rawget(t, "requires_grad") == true
end
A.requires_grad = tracked

-- True when recording is on and any argument is a tensor that requires grad.
function A.needs_grad(...)
    if not enabled then return false end
    for i = 1, select("#", ...) do
        if tracked((select(i, ...))) then return true end
    end
    return false
end

-- In-place writes are never recorded; on a tensor that requires grad they are allowed only
-- with recording off (cc.no_grad), where the version counter protects saved tensors.
-- argname (optional) names the argument changed in place.
function A.check_inplace(fname, t, argname)
    if enabled and tracked(t) then
        raise(fmt("%s: %sin-place change of a tensor that requires grad (%s): do it inside cc.no_grad(...) "
            .. "(e.g. a parameter update), or use the out-of-place op", fname, argname and argname .. ": " or "",
            show(t)))
    end
end

-- Records one node. names: input names (their count is the input count; inputs may hold nil
-- or non-tensors at any position); outputs: the differentiable outputs, in the order the rule
-- receives their gradients (nil entries are skipped); saved: name -> tensor kept for the rule;
-- backward: the rule, or nil when the op has none. Returns the node, or nil when nothing was
-- recorded.
function A.record(op, names, inputs, outputs, backward, saved)
    if not enabled then return nil end
    local edges, needs, any = {}, {}, false
    for i = 1, #names do
        local t = inputs[i]
        if tracked(t) then
            any = true
            needs[i] = true
            local h = t._h
            edges[i] = {
                node = rawget(t, "_node"), index = rawget(t, "_out_index"),
                leaf = (rawget(t, "_node") == nil) and t or nil,
                shape = shape_of(t), dtype = tonumber(h.dtype), device = tonumber(h.device),
                device_index = tonumber(h.device_index),
            }
        else
            needs[i] = false
        end
    end
    if not any then return nil end
    next_id = next_id + 1
    local n_out = table.maxn(outputs)
    local node = {
        id = next_id, op = op, names = names, edges = edges, needs = needs,
        n_out = n_out, backward = backward, saved = saved or {}, versions = {},
    }
    for name, t in pairs(node.saved) do
        node.versions[name] = tonumber(C.cc_tensor_version(t._h))
    end
    for k = 1, n_out do
        local out = outputs[k]
        if out ~= nil then
            rawset(out, "_node", node)
            rawset(out, "_out_index", k)
            rawset(out, "requires_grad", true)
        end
    end
    return node
end

local function check_saved(node)
    for name, t in pairs(node.saved) do
        local now = tonumber(C.cc_tensor_version(t._h))
        if now ~= node.versions[name] then
            raise(fmt("backward: the tensor '%s' that op '%s' saved for its gradient was modified "
                .. "in place after the op ran (version %d, now %d): clone it before changing it in place, "
                .. "or change it before the op", name, node.op, node.versions[name], now))
        end
    end
end

local function free_node(node)
    node.freed = true
    node.saved = nil
    node.versions = nil
    node.backward = nil
end

-- ---- the arithmetic the engine needs, as C calls (the tensor class is loaded lazily: it
-- requires this module)

local Tensor
local function class()
    Tensor = Tensor or require("causalconv.tensor").Tensor
    return Tensor
end

-- g converted to the dtype/device of the edge (or leaf).
local function conform(g, dtype, device, index)
    local h = g._h
    if tonumber(h.dtype) ~= dtype or tonumber(h.device) ~= device or tonumber(h.device_index) ~= index then
        return class().from_c(C.cc_tensor_to, h, dtype, device, index)
    end
    return g
end

local function clone(g) return class().from_c(C.cc_tensor_clone, g._h) end

local function add(a, b)
    local h = a._h
    local out = class().from_c(C.cc_tensor_empty, h.ndim, h.shape, h.dtype, h.device, h.device_index)
    check(C.cc_binary_forward(out._h, a._h, b._h, C.CC_BINARY_ADD))
    return out
end

-- leaf.grad += g (the first contribution is copied so that .grad never aliases a tensor of
-- the graph).
local function accumulate_leaf(leaf, g)
    local h = leaf._h
    g = conform(g, tonumber(h.dtype), tonumber(h.device), tonumber(h.device_index))
    local old = rawget(leaf, "grad")
    if old == nil then
        rawset(leaf, "grad", clone(g))
    else
        check(C.cc_binary_forward(old._h, old._h, g._h, C.CC_BINARY_ADD))
    end
end

local function walk(root_node, root_index, grad, retain)
    -- collect the reachable nodes
    local nodes, seen, stack = {}, { [root_node] = true }, { root_node }
    while #stack > 0 do
        local n = table.remove(stack)
        nodes[#nodes + 1] = n
        if n.freed then
            raise(fmt("backward through a graph that was already freed (op '%s' dropped its saved "
                .. "tensors after an earlier backward): call backward(grad, {retain_graph = true}) the first "
                .. "time to walk it again", n.op))
        end
        for i = 1, #n.names do
            local e = n.edges[i]
            if e and e.node and not seen[e.node] then
                seen[e.node] = true
                stack[#stack + 1] = e.node
            end
        end
    end
    table.sort(nodes, function(a, b) return a.id > b.id end)

    local pending = { [root_node] = { [root_index] = grad } }
    for _, node in ipairs(nodes) do
        local gs = pending[node]
        pending[node] = nil
        if gs then
            local retained = node.retained
            if retained then
                for k, t in pairs(retained) do
                    if gs[k] then accumulate_leaf(t, gs[k]) end
                end
            end
            check_saved(node)
            local results
            if node.backward == nil then
                results = {}
            else
                results = { node.backward(node, unpack(gs, 1, node.n_out)) }
            end
            for i = 1, #node.names do
                local e = node.edges[i]
                if e then
                    local g = results[i]
                    if g == nil then
                        raise(fmt("backward: op '%s' has no backward rule for its input '%s' "
                            .. "(argument %d), which requires grad: detach that input or compute it "
                            .. "inside cc.no_grad", node.op, node.names[i], i))
                    end
                    if not same_shape(shape_of(g), e.shape) then
                        raise(fmt("backward: op '%s' returned a gradient of shape %s for its input "
                            .. "'%s' of shape %s", node.op, shape_str(shape_of(g)), node.names[i],
                            shape_str(e.shape)))
                    end
                    if e.leaf then
                        accumulate_leaf(e.leaf, g)
                    else
                        g = conform(g, e.dtype, e.device, e.device_index)
                        local p = pending[e.node]
                        if not p then p = {}; pending[e.node] = p end
                        local old = p[e.index]
                        p[e.index] = old and add(old, g) or g
                    end
                end
            end
        end
        if not retain then free_node(node) end
    end
end

local BACKWARD_OPTS = { { "retain_graph", "boolean" } }

-- root:backward(grad, opts)
function A.backward(root, grad, opts)
    if not tracked(root) then
        raise("backward: this tensor does not require grad: none of the inputs of the ops that made it "
            .. "had requires_grad = true (call x:requires_grad_() on the leaves, outside cc.no_grad)")
    end
    opts = args.options("backward", opts, BACKWARD_OPTS)
    local retain = opts.retain_graph == true
    local rshape = shape_of(root)
    local rh = root._h
    if grad == nil then
        if tonumber(C.cc_tensor_numel(rh)) ~= 1 then
            raise("backward: a gradient can be created implicitly only for a one-element output; this one has "
                .. "shape " .. shape_str(rshape) .. ": pass one, t:backward(grad)")
        end
        grad = class().from_c(C.cc_tensor_empty, rh.ndim, rh.shape, rh.dtype, rh.device, rh.device_index)
        check(C.cc_tensor_fill(grad._h, 1))
    else
        if not args.is_tensor(grad) then
            raise("backward: grad: expected a tensor of shape " .. shape_str(rshape) .. ", got " .. show(grad))
        end
        if not same_shape(shape_of(grad), rshape) then
            raise("backward: grad: expected shape " .. shape_str(rshape) .. " (the output's), got "
                .. shape_str(shape_of(grad)))
        end
        if args.is_int_dtype(grad._h.dtype) then
            raise("backward: grad: expected a float tensor, got " .. show(grad))
        end
        grad = conform(grad, tonumber(rh.dtype), tonumber(rh.device), tonumber(rh.device_index))
    end
    local node = rawget(root, "_node")
    local prev = enabled
    enabled = false
    local ok, err
    if node == nil then
        ok, err = pcall(accumulate_leaf, root, grad)
    else
        ok, err = pcall(walk, node, rawget(root, "_out_index"), grad, retain)
    end
    enabled = prev
    if not ok then
        if type(err) == "string" and not err:find("^[^\n]-:%d+: ") then raise(err) end
        error(err, 0)
    end
end

-- Non-leaf tensors keep their gradient in .grad during backward when asked.
function A.retain_grad(t)
    local node = rawget(t, "_node")
    if node then
        node.retained = node.retained or {}
        node.retained[rawget(t, "_out_index")] = t
    end
end

-- ---- the user-facing switches ------------------------------------------------------------------

local M = { autograd = A }

function M.is_grad_enabled() return enabled end

-- Returns the previous state.
function M.set_grad_enabled(on)
    if type(on) ~= "boolean" then raise("set_grad_enabled: on: expected a boolean, got " .. show(on)) end
    local prev = enabled
    enabled = on
    return prev
end

local function with_grad_mode(name, on, fn, ...)
    if type(fn) ~= "function" then
        raise(fmt("%s: fn: expected a function, got %s", name, show(fn)))
    end
    local prev = enabled
    enabled = on
    local res = { pcall(fn, ...) }
    enabled = prev
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
end

-- Runs fn(...) with recording off (restored afterwards, also when fn raises); returns fn's results.
function M.no_grad(fn, ...) return with_grad_mode("no_grad", false, fn, ...) end
function M.enable_grad(fn, ...) return with_grad_mode("enable_grad", true, fn, ...) end

local ZERO_GRAD_OPTS = { { "set_to_none", "boolean" } }

-- params: a tensor, a list or a name -> tensor table (nested tables are walked).
function M.zero_grad(params, opts)
    if type(params) ~= "table" then
        raise("zero_grad: params: expected a tensor or a table of tensors, got " .. show(params))
    end
    args.options("zero_grad", opts, ZERO_GRAD_OPTS)
    local seen = {}
    local function visit(p)
        if seen[p] then return end
        seen[p] = true
        if args.is_tensor(p) then p:zero_grad(opts) return end
        for _, v in pairs(p) do
            if type(v) == "table" then visit(v) end
        end
    end
    visit(params)
end

return M
