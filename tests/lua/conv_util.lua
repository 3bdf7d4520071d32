-- Shared by the conv specs: inputs on the cpu with a twin on TEST_DEVICE (same values, same
-- strides), the reference oracle, Dao's tolerance table and a few plain-Lua helpers.
local cc = require "causalconv"
local assert = require "luassert"

local U = {}

-- tolerances come from tests/lua/tolerance.lua: per x dtype (Dao's table) and for dweight / dbias
local TOL = require "tolerance"
U.TOL = TOL.conv
U.WTOL = TOL.conv_weight_grad

function U.near(actual, expected, tol, what)
    if expected == nil then
        assert(actual == nil, (what or "value") .. ": expected nil")
        return
    end
    assert(actual ~= nil, (what or "value") .. ": got nil")
    assert.tensor_near(actual, expected, tol.atol, tol.rtol)
end

-- Runs fn with the CPU reference kernels on (helpers.lua's with_kernels).
function U.ref(fn, ...) return with_kernels(true, fn, ...) end

-- The same view taken of a cpu buffer and of its copy on TEST_DEVICE.
local function twin(buf, view)
    return view(buf), view(buf:to(TEST_DEVICE))
end

-- x (B, D, L) as a view into a bigger buffer (channel offset 13, 37 spare channels), like Dao's
-- tests: channel-first (B, D+37, L) or channel-last (B, L, D+37) viewed as (B, D, L).
function U.bdl(B, D, L, dtype, channel_last, scale)
    local o = { dtype = dtype }
    if channel_last then
        local buf = cc.randn(B, L, D + 37, o)
        if scale then buf = (buf * scale):to(dtype) end
        return twin(buf, function(b) return b:narrow(3, 14, D):transpose(2, 3) end)
    end
    local buf = cc.randn(B, D + 37, L, o)
    if scale then buf = (buf * scale):to(dtype) end
    return twin(buf, function(b) return b:narrow(2, 14, D) end)
end

-- A plain contiguous random tensor and its device twin.
function U.randn(sizes, dtype)
    local t = cc.randn(sizes, { dtype = dtype or "f32" })
    return t, t:to(TEST_DEVICE)
end

-- An integer tensor from a Lua list, and its device twin.
function U.ints(list, dtype)
    local t = cc.tensor(list, { dtype = dtype or "i32" })
    return t, t:to(TEST_DEVICE)
end

-- seq_idx (B, L): each row split into nseg random segments with ids 0, 1, ... (seeded by the
-- caller through math.random); with pad, the last pad tokens of each row get id -1.
function U.seq_idx(B, L, nseg, pad)
    local rows = {}
    for b = 1, B do
        local cuts = {}
        for _ = 2, nseg do cuts[#cuts + 1] = math.random(1, math.max(1, L - 1)) end
        table.sort(cuts)
        local row, id, ci = {}, 0, 1
        for t = 1, L do
            while cuts[ci] and t > cuts[ci] do id = id + 1; ci = ci + 1 end
            row[t] = (pad and t > L - pad) and -1 or id
        end
        rows[b] = row
    end
    return U.ints(rows)
end

-- Random cu_seqlens for N sequences of total length T (some may be empty when allow_empty).
function U.cu_seqlens(N, T, allow_empty)
    local cuts = {}
    for _ = 1, N - 1 do cuts[#cuts + 1] = math.random(allow_empty and 0 or 1, T - (allow_empty and 0 or 1)) end
    table.sort(cuts)
    local cu = { 0 }
    for _, c in ipairs(cuts) do cu[#cu + 1] = c end
    cu[#cu + 1] = T
    if not allow_empty then
        for i = 2, #cu do if cu[i] <= cu[i - 1] then cu[i] = cu[i - 1] + 1 end end
        cu[#cu] = T
    end
    return cu
end

-- Deterministic sample of a grid: every `step`-th combination of the axes (a table of lists),
-- starting at `first`; yields tables {axis = value}.
function U.sample(axes, names, step, first)
    local sizes, total = {}, 1
    for i, name in ipairs(names) do sizes[i] = #axes[name]; total = total * sizes[i] end
    local cases = {}
    for k = first or 0, total - 1, step do
        local c, r = {}, k
        for i = #names, 1, -1 do
            c[names[i]] = axes[names[i]][r % sizes[i] + 1]
            r = math.floor(r / sizes[i])
        end
        cases[#cases + 1] = c
    end
    return cases
end

function U.case_name(c, names)
    local parts = {}
    for _, n in ipairs(names) do parts[#parts + 1] = n .. "=" .. tostring(c[n]) end
    return table.concat(parts, " ")
end

-- Lua-side copy of a tensor as nested tables (f64 values).
function U.values(t)
    return t:to({ dtype = "f64", device = "cpu" }):totable()
end

return U
