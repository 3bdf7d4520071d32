-- The autograd engine: recording switch, graph nodes, the backward walk.
--
-- Design (see also autograd.lua, which installs the user-facing API on cc):
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
--     several outputs the g_k of outputs that did not reach the loss are nil.
--   * Gradients accumulate with add (never overwrite) into leaf.grad, in the leaf's dtype and
--     device. Backward runs with recording off (no double backward).
--   * After backward the nodes it walked are freed (saved tensors dropped) unless
--     retain_graph = true; walking a freed node is an error with a hint.
local cffi = require "causalconv.ffi"
local C, raise = cffi.C, cffi.raise

local M = {}

local enabled = true
local next_id = 0

function M.is_enabled() return enabled end

-- Returns the previous state.
function M.set_enabled(on)
    local prev = enabled
    enabled = on and true or false
    return prev
end

-- Does t take part in the graph (a leaf that requires grad, or the output of a recorded op)?
local function tracked(t)
    return type(t) == "table" and rawget(t, "requires_grad") == true
end
M.tracked = tracked

-- True when recording is on and any argument is a tensor that requires grad.
function M.needs_grad(...)
    if not enabled then return false end
    for i = 1, select("#", ...) do
        if tracked((select(i, ...))) then return true end
    end
    return false
end

-- Shape of a tensor handle as a Lua array.
local function shape_of(t)
    local h = t._h
    local s = {}
    for i = 0, h.ndim - 1 do s[i + 1] = tonumber(h.shape[i]) end
    return s
end
M.shape_of = shape_of

local function shape_str(s)
    return "(" .. table.concat(s, ", ") .. ")"
end
M.shape_str = shape_str

-- Records one node. names: input names (their count is the input count; inputs may hold nil
-- or non-tensors at any position); outputs: the differentiable outputs, in the order the rule
-- receives their gradients; saved: name -> tensor kept for the rule; backward: the rule, or nil
-- when the op has none (backward then fails if a gradient reaches it).
-- Returns the node, or nil when nothing was recorded.
function M.record(op, names, inputs, outputs, backward, saved)
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
            }
        else
            needs[i] = false
        end
    end
    if not any then return nil end
    next_id = next_id + 1
    local node = {
        id = next_id, op = op, names = names, edges = edges, needs = needs,
        n_out = #outputs, backward = backward, saved = saved or {}, versions = {},
    }
    for name, t in pairs(node.saved) do
        node.versions[name] = tonumber(C.cc_tensor_version(t._h))
    end
    for k, out in ipairs(outputs) do
        out._node = node
        out._out_index = k
        out.requires_grad = true
    end
    return node
end

local function check_saved(node)
    for name, t in pairs(node.saved) do
        local now = tonumber(C.cc_tensor_version(t._h))
        if now ~= node.versions[name] then
            raise(string.format("backward: the tensor '%s' that op '%s' saved for its gradient was modified "
                .. "in place after the op ran (version %d, now %d): clone it before changing it in place, "
                .. "or change it before the op", name, node.op, tonumber(node.versions[name]), tonumber(now)))
        end
    end
end

local function free_node(node)
    node.freed = true
    node.saved = nil
    node.versions = nil
    node.backward = nil
end

-- The ops the engine needs (add, clone, conversions, ones); ops.lua provides them.
local T
function M.bind_tensor_ops(ops) T = ops end

local function same_shape(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
end

-- g converted to the dtype/device of the edge (or leaf).
local function conform(g, dtype, device)
    local h = g._h
    if tonumber(h.dtype) ~= dtype or tonumber(h.device) ~= device then
        return T.convert(g, dtype, device)
    end
    return g
end

-- leaf.grad += g (the first contribution is copied so that .grad never aliases a tensor of
-- the graph).
local function accumulate_leaf(leaf, g)
    local h = leaf._h
    g = conform(g, tonumber(h.dtype), tonumber(h.device))
    local old = rawget(leaf, "grad")
    if old == nil then
        leaf.grad = T.clone(g)
    else
        T.add_into(old, g)
    end
end

local function walk(root_node, root_index, grad, retain)
    -- collect the reachable nodes
    local nodes, seen, stack = {}, { [root_node] = true }, { root_node }
    while #stack > 0 do
        local n = table.remove(stack)
        nodes[#nodes + 1] = n
        if n.freed then
            raise(string.format("backward through a graph that was already freed (op '%s' dropped its saved "
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
                        raise(string.format("backward: op '%s' has no backward rule for its input '%s' "
                            .. "(argument %d), which requires grad: detach that input or compute it "
                            .. "inside cc.no_grad", node.op, node.names[i], i))
                    end
                    if not same_shape(shape_of(g), e.shape) then
                        raise(string.format("backward: op '%s' returned a gradient of shape %s for its input "
                            .. "'%s' of shape %s", node.op, shape_str(shape_of(g)), node.names[i],
                            shape_str(e.shape)))
                    end
                    if e.leaf then
                        accumulate_leaf(e.leaf, g)
                    else
                        g = conform(g, e.dtype, e.device)
                        local p = pending[e.node]
                        if not p then p = {}; pending[e.node] = p end
                        local old = p[e.index]
                        p[e.index] = old and T.add(old, g) or g
                    end
                end
            end
        end
        if not retain then free_node(node) end
    end
end

-- root:backward(grad, opts)
function M.backward(root, grad, opts)
    if not tracked(root) then
        raise("backward: this tensor does not require grad: none of the inputs of the ops that made it "
            .. "had requires_grad = true (call x:requires_grad_() on the leaves, outside cc.no_grad)")
    end
    local retain = opts ~= nil and opts.retain_graph == true
    local rshape = shape_of(root)
    if grad == nil then
        if tonumber(C.cc_tensor_numel(root._h)) ~= 1 then
            raise("backward: a gradient can be created implicitly only for a one-element output; this one has "
                .. "shape " .. shape_str(rshape) .. ": pass one, t:backward(grad)")
        end
        grad = T.ones_like(root)
    else
        if type(grad) ~= "table" or grad._h == nil then
            raise("backward: grad: expected a tensor of shape " .. shape_str(rshape) .. ", got " .. type(grad))
        end
        if not same_shape(shape_of(grad), rshape) then
            raise("backward: grad: expected shape " .. shape_str(rshape) .. " (the output's), got "
                .. shape_str(shape_of(grad)))
        end
        grad = conform(grad, tonumber(root._h.dtype), tonumber(root._h.device))
    end
    local node = rawget(root, "_node")
    if node == nil then
        accumulate_leaf(root, grad)
        return
    end
    local prev = enabled
    enabled = false
    local ok, err = pcall(walk, node, rawget(root, "_out_index"), grad, retain)
    enabled = prev
    if not ok then
        if type(err) == "string" and not err:find("^[^\n]-:%d+: ") then raise(err) end
        error(err, 0)
    end
end

-- Non-leaf tensors keep their gradient in .grad during backward when asked.
function M.retain_grad(t)
    local node = rawget(t, "_node")
    if node then
        node.retained = node.retained or {}
        node.retained[rawget(t, "_out_index")] = t
    end
end

return M
