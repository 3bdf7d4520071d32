-- A plain-Lua float64 oracle for the selective scan ops, written from the rule block at the top
-- of core/selective_scan.c (and mamba_block.md sections 2 and 3). It shares no code with
-- kernels/: plain loops over nested Lua tables (1-based), one (b, c) row at a time, sequential
-- in t. Tensors are read only through :totable() (M.from_tensors).
--
--   p = M.from_tensors(u, delta, A, B, C, opts)   opts: D, z, delta_bias, delta_softplus,
--       initial_state, seq_idx (tensors or nil, any dtype/device/strides; values as stored)
--   out, last_state, y = M.scan(p)                 nested tables (Bt, Di, L), (Bt, Di, N), y un-gated
--   g = M.scan_backward(p, dout, dlast_state)      dout (Bt, Di, L) table, dlast_state table or nil;
--       g.du, g.ddelta, g.dA, g.dB, g.dC (the kind of B / C), g.dD, g.dz, g.ddelta_bias (nil
--       without D, z, delta_bias), g.dinitial_state (always: the gradient reaching h[-1])
--   out, state_after = M.state_update(q)           q: state, x, dt, A, B, C, D, z, dt_bias,
--       dt_softplus, state_batch_indices (tables, or tensors: they are read with :totable())
--   M.kinds(seq_idx_row, L) -> list of "step" | "reset" | "pad"
--   M.softplus(v), M.log1p(x), M.sigmoid(v)
local M = {}

local exp, log = math.exp, math.log

-- log(1 + x) to a few ulps (the u = 1 + x trick), for softplus of very negative v
function M.log1p(x)
    local u = 1 + x
    if u == 1 then return x end
    return log(u) * x / (u - 1)
end

function M.sigmoid(v) return 1 / (1 + exp(-v)) end

-- PyTorch's softplus: log1p(exp(v)) for v <= 20, v above
function M.softplus(v)
    if v > 20 then return v end
    return M.log1p(exp(v))
end

local function zeros(...)
    local dims = { ... }
    local function build(k)
        local t = {}
        for i = 1, dims[k] do t[i] = (k == #dims) and 0 or build(k + 1) end
        return t
    end
    return build(1)
end
M.zeros = zeros

local function deep_copy(t)
    if type(t) ~= "table" then return t end
    local c = {}
    for k, v in pairs(t) do c[k] = deep_copy(v) end
    return c
end
M.copy = deep_copy

-- the token kinds of one seq_idx row: the running segment starts as row[1] and follows the last
-- non-padding token; id < 0 is padding; another id starts a new segment (reset)
function M.kinds(row, L)
    local k = {}
    if not row then
        for t = 1, L do k[t] = "step" end
        return k
    end
    local seg = row[1]
    for t = 1, L do
        local s = row[t]
        if s < 0 then k[t] = "pad"
        elseif s ~= seg then k[t] = "reset"; seg = s
        else k[t] = "step" end
    end
    return k
end

local function tab(t) if t == nil then return nil end return t:totable() end

-- B or C as a getter (b, c, n, t) -> value plus its kind and group count
local function bc_reader(M_, kind, Di, G)
    if kind == "const" then return function(_, c, n, _) return M_[c][n] end end
    if kind == "var" then return function(b, _, n, t) return M_[b][n][t] end end
    local per = Di / G
    return function(b, c, n, t) return M_[b][math.floor((c - 1) / per) + 1][n][t] end
end

-- the index of dB / dC a (b, c, n, t) term accumulates into, as a setter
local function bc_adder(G_, kind, Di, G)
    if kind == "const" then return function(_, c, n, _, v) G_[c][n] = G_[c][n] + v end end
    if kind == "var" then return function(b, _, n, t, v) G_[b][n][t] = G_[b][n][t] + v end end
    local per = Di / G
    return function(b, c, n, t, v)
        local g = math.floor((c - 1) / per) + 1
        G_[b][g][n][t] = G_[b][g][n][t] + v
    end
end

local function bc_zeros(kind, Bt, Di, N, L, G)
    if kind == "const" then return zeros(Di, N) end
    if kind == "var" then return zeros(Bt, N, L) end
    return zeros(Bt, G, N, L)
end

local function kind_of(t)
    local d = t:dim()
    if d == 2 then return "const", nil end
    if d == 3 then return "var", 1 end
    return "grouped", t:size(2)
end

function M.from_tensors(u, delta, A, B, C, opts)
    opts = opts or {}
    local s = u:size()
    local p = {
        Bt = s[1], Di = s[2], L = s[3], N = A:size(2),
        u = tab(u), delta = tab(delta), A = tab(A), B = tab(B), C = tab(C),
        D = tab(opts.D), z = tab(opts.z), delta_bias = tab(opts.delta_bias),
        delta_softplus = opts.delta_softplus, initial_state = tab(opts.initial_state),
        seq_idx = tab(opts.seq_idx),
    }
    p.Bkind, p.BG = kind_of(B)
    p.Ckind, p.CG = kind_of(C)
    return p
end

-- per row (b, c): v, dt, kinds, the states h[t][n] (after token t) and hp[t][n] (the state the
-- token started from: 0 for a reset, h unchanged across padding), y[t]
local function row_forward(p, b, c, Bget, Cget)
    local L, N = p.L, p.N
    local kinds = M.kinds(p.seq_idx and p.seq_idx[b], L)
    local v, dt, h, hp, y, dA = {}, {}, {}, {}, {}, {}
    local cur = {}
    for n = 1, N do cur[n] = p.initial_state and p.initial_state[b][c][n] or 0 end
    local h0 = {}
    for n = 1, N do h0[n] = cur[n] end
    local bias = p.delta_bias and p.delta_bias[c] or 0
    local Dc = p.D and p.D[c] or 0
    for t = 1, L do
        v[t] = p.delta[b][c][t] + bias
        dt[t] = p.delta_softplus and M.softplus(v[t]) or v[t]
        local k = kinds[t]
        hp[t], h[t], dA[t] = {}, {}, {}
        if k == "pad" then
            for n = 1, N do hp[t][n] = cur[n]; h[t][n] = cur[n]; dA[t][n] = 1 end
            y[t] = 0
        else
            local ut = p.u[b][c][t]
            local acc = 0
            for n = 1, N do
                local prev = (k == "reset") and 0 or cur[n]
                local a = exp(dt[t] * p.A[c][n])
                local hn = a * prev + dt[t] * Bget(b, c, n, t) * ut
                hp[t][n], h[t][n], dA[t][n] = prev, hn, a
                cur[n] = hn
                acc = acc + Cget(b, c, n, t) * hn
            end
            y[t] = acc + Dc * ut
        end
    end
    return { kinds = kinds, v = v, dt = dt, h = h, hp = hp, y = y, dA = dA, last = cur, h0 = h0 }
end

local function silu(z) return z * M.sigmoid(z) end

function M.scan(p)
    local Bt, Di, L, N = p.Bt, p.Di, p.L, p.N
    local Bget = bc_reader(p.B, p.Bkind, Di, p.BG)
    local Cget = bc_reader(p.C, p.Ckind, Di, p.CG)
    local out, last, ys = zeros(Bt, Di, L), zeros(Bt, Di, N), zeros(Bt, Di, L)
    for b = 1, Bt do
        for c = 1, Di do
            local r = row_forward(p, b, c, Bget, Cget)
            for t = 1, L do
                ys[b][c][t] = r.y[t]
                if r.kinds[t] == "pad" then out[b][c][t] = 0
                elseif p.z then out[b][c][t] = r.y[t] * silu(p.z[b][c][t])
                else out[b][c][t] = r.y[t] end
            end
            for n = 1, N do last[b][c][n] = r.last[n] end
        end
    end
    return out, last, ys
end

-- the backward: the reverse recurrence of the rule block, with h from row_forward
function M.scan_backward(p, dout, dlast)
    local Bt, Di, L, N = p.Bt, p.Di, p.L, p.N
    local Bget = bc_reader(p.B, p.Bkind, Di, p.BG)
    local Cget = bc_reader(p.C, p.Ckind, Di, p.CG)
    local g = {
        du = zeros(Bt, Di, L), ddelta = zeros(Bt, Di, L), dA = zeros(Di, N),
        dB = bc_zeros(p.Bkind, Bt, Di, N, L, p.BG), dC = bc_zeros(p.Ckind, Bt, Di, N, L, p.CG),
        dD = p.D and zeros(Di) or nil, dz = p.z and zeros(Bt, Di, L) or nil,
        ddelta_bias = p.delta_bias and zeros(Di) or nil, dinitial_state = zeros(Bt, Di, N),
    }
    local addB = bc_adder(g.dB, p.Bkind, Di, p.BG)
    local addC = bc_adder(g.dC, p.Ckind, Di, p.CG)
    for b = 1, Bt do
        for c = 1, Di do
            local r = row_forward(p, b, c, Bget, Cget)
            local lam = {}
            for n = 1, N do lam[n] = dlast and dlast[b][c][n] or 0 end
            local Dc = p.D and p.D[c] or 0
            for t = L, 1, -1 do
                if r.kinds[t] ~= "pad" then
                    local gt = dout[b][c][t]
                    local gy = gt
                    if p.z then
                        local z = p.z[b][c][t]
                        local s = M.sigmoid(z)
                        g.dz[b][c][t] = gt * r.y[t] * s * (1 + z * (1 - s))
                        gy = gt * z * s
                    end
                    local ut, dtt = p.u[b][c][t], r.dt[t]
                    local du, ddt = Dc * gy, 0
                    for n = 1, N do
                        local Bv, Cv = Bget(b, c, n, t), Cget(b, c, n, t)
                        lam[n] = lam[n] + gy * Cv
                        local l, hp, a = lam[n], r.hp[t][n], r.dA[t][n]
                        du = du + l * dtt * Bv
                        ddt = ddt + l * (p.A[c][n] * a * hp + Bv * ut)
                        g.dA[c][n] = g.dA[c][n] + l * hp * a * dtt
                        addB(b, c, n, t, l * dtt * ut)
                        addC(b, c, n, t, gy * r.h[t][n])
                        -- to the state this token started from: dA for a step, nothing for a reset
                        lam[n] = (r.kinds[t] == "reset") and 0 or l * a
                    end
                    local dd = ddt
                    if p.delta_softplus and r.v[t] <= 20 then dd = ddt * M.sigmoid(r.v[t]) end
                    g.du[b][c][t] = du
                    g.ddelta[b][c][t] = dd
                    if g.dD then g.dD[c] = g.dD[c] + gy * ut end
                    if g.ddelta_bias then g.ddelta_bias[c] = g.ddelta_bias[c] + dd end
                end
            end
            for n = 1, N do g.dinitial_state[b][c][n] = lam[n] end
        end
    end
    return g
end

-- selective_state_update: one token per row, on a copy of the state pool
function M.state_update(q)
    local function T(v) if type(v) == "table" and v.totable then return v:totable() end return v end
    local state, x, dt, A, B, C = T(q.state), T(q.x), T(q.dt), T(q.A), T(q.B), T(q.C)
    local D, z, bias, idx = T(q.D), T(q.z), T(q.dt_bias), T(q.state_batch_indices)
    local Bt, Di, N = #x, #x[1], #A[1]
    local new = deep_copy(state)
    local out = zeros(Bt, Di)
    local function reader(Mt)
        if type(Mt[1][1]) == "number" then return function(b, _, n) return Mt[b][n] end end
        local per = Di / #Mt[1]
        return function(b, c, n) return Mt[b][math.floor((c - 1) / per) + 1][n] end
    end
    local Bget, Cget = reader(B), reader(C)
    for b = 1, Bt do
        local i = idx and idx[b] or (b - 1)   -- 0-based state row
        if i >= 0 then
            local s = new[i + 1]
            for c = 1, Di do
                local d = dt[b][c] + (bias and bias[c] or 0)
                if q.dt_softplus then d = M.softplus(d) end
                local acc = 0
                for n = 1, N do
                    s[c][n] = s[c][n] * exp(d * A[c][n]) + d * Bget(b, c, n) * x[b][c]
                    acc = acc + s[c][n] * Cget(b, c, n)
                end
                local o = acc + (D and D[c] or 0) * x[b][c]
                if z then o = o * silu(z[b][c]) end
                out[b][c] = o
            end
        end
    end
    return out, new
end

return M
