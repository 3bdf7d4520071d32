-- A plain-Lua oracle of the causal depthwise conv1d, written from the README's rule list
-- ("Causal conv1d" / "Semantics"), sharing nothing with kernels/: f64 loops over the nested Lua
-- tables that `t:totable()` returns. Tables are 1-based; the comments speak of 0-based positions
-- as the README does (position p lives at index p + 1).
--
--   out, final               = N.forward(x, w, b, o)            x[b][c][t] (B, D, L)
--   dx, dw, db, dinit        = N.backward(x, w, b, dout, o)
--       o: silu, seq_idx[b][t], init[b][c][j] (B, D, W-1), dfinal[b][c][j] (backward)
--       w[c][k] (D, W), b[c] or nil. final and dinit are always returned (B, D, W-1); db is nil
--       without b.
--   out, new_state           = N.update(x, state, w, b, o)      x[b][c][s] (B, D, S), state (P, D, SL)
--       o: silu, cache_seqlens[b], indices[b]. state is not modified: new_state is a copy.
--   out, final               = N.varlen(x, w, b, cu, o)         x[t][c] (T, D), cu = {0, ..., T}
--   dx, dw, db, dinit        = N.varlen_backward(x, w, b, dout, cu, o)
--       o: silu, init[n][c][j], dfinal[n][c][j]
--   states                   = N.varlen_states(x, cu, SL)       (N, D, SL)
local N = {}

local function zeros(...)
    local dims = { ... }
    local function build(i)
        local t = {}
        for k = 1, dims[i] do t[k] = i == #dims and 0 or build(i + 1) end
        return t
    end
    return build(1)
end

-- act = identity or SiLU: silu(v) = v / (1 + exp(-v)); its derivative s * (1 + v * (1 - s)).
local function act(v, silu) return silu and v / (1 + math.exp(-v)) or v end
local function dact(v, silu)
    if not silu then return 1 end
    local s = 1 / (1 + math.exp(-v))
    return s * (1 + v * (1 - s))
end

-- One row (b, c) of the dense rules. xr[t] (L values), wr[k] (W), bias (number or 0),
-- seg (function p -> segment id), initr[j] (W-1 values) or nil.
-- Returns out[t], final[j] and, when g is given, the gradients (dxr, dwr, dbias, dinitr).
local function row(xr, wr, bias, seg, initr, silu, g, dfinr)
    local L, W = #xr, #wr
    local ext = W - 1
    -- Extended input: xe[p] = x[p] for p >= 0; initial_states[ext + p] (or 0) for -ext <= p < 0.
    local function xe(p)
        if p >= 0 then return xr[p + 1] end
        return initr and initr[ext + p + 1] or 0
    end
    -- out[t] = act(bias + sum_k w[k] * xe[t - ext + k]), the taps p = t - ext + k counted only when
    -- seg(p) == seg(t); a padding token (seg(t) < 0) outputs exactly 0 (no bias).
    local out, pre = {}, {}
    for t = 0, L - 1 do
        if seg(t) < 0 then
            out[t + 1] = 0
        else
            local s = bias
            for k = 0, W - 1 do
                local p = t - ext + k
                if seg(p) == seg(t) then s = s + wr[k + 1] * xe(p) end
            end
            pre[t + 1] = s
            out[t + 1] = act(s, silu)
        end
    end
    -- Final states: final[j] = xe[L - ext + j], the last W-1 entries of concat(init or zeros, x)
    -- (L < W-1 included); 0 where that position is outside the last token's segment, and all 0
    -- when the last token is padding.
    local final, keeps = {}, {}
    for j = 0, ext - 1 do
        local p = L - ext + j
        keeps[j + 1] = seg(L - 1) >= 0 and seg(p) == seg(L - 1)
        final[j + 1] = keeps[j + 1] and xe(p) or 0
    end
    if not g then return out, final end

    -- Backward: the adjoint of the loops above. gz[t] = dout[t] * act'(pre[t]), 0 for padding
    -- tokens (they neither give nor get gradient); every counted tap (t, k) gives
    -- w[k] * gz[t] to dxe[p] and gz[t] * xe[p] to dw[k]; dbias = sum gz.
    local dxe = {}                                   -- dxe[p + ext + 1] for -ext <= p < L
    for i = 1, L + ext do dxe[i] = 0 end
    local dwr, dbias = {}, 0
    for k = 1, W do dwr[k] = 0 end
    for t = 0, L - 1 do
        if seg(t) >= 0 then
            local gz = g[t + 1] * dact(pre[t + 1], silu)
            dbias = dbias + gz
            for k = 0, W - 1 do
                local p = t - ext + k
                if seg(p) == seg(t) then
                    dxe[p + ext + 1] = dxe[p + ext + 1] + wr[k + 1] * gz
                    dwr[k + 1] = dwr[k + 1] + gz * xe(p)
                end
            end
        end
    end
    -- dfinal flows back to the position each kept final entry was copied from.
    if dfinr then
        for j = 0, ext - 1 do
            local p = L - ext + j
            if keeps[j + 1] then dxe[p + ext + 1] = dxe[p + ext + 1] + dfinr[j + 1] end
        end
    end
    -- dx[p] = dxe[p] for p >= 0; dinitial_states[ext + p] = dxe[p] for p < 0.
    local dxr, dinitr = {}, {}
    for p = 0, L - 1 do dxr[p + 1] = dxe[p + ext + 1] end
    for j = 0, ext - 1 do dinitr[j + 1] = dxe[j + 1] end
    return out, final, dxr, dwr, dbias, dinitr
end

-- seq_idx segments of batch row b: seg(p) = seq_idx[b][p] for p >= 0, seq_idx[b][0] for p < 0
-- (initial states feed the first token's segment); every position is segment 0 without seq_idx
-- (and in an empty row, L = 0, whose final states are then its initial states, as in Dao's rule).
local function segments(seq_idx, b)
    if not seq_idx or #seq_idx[b] == 0 then return function() return 0 end end
    local s = seq_idx[b]
    return function(p) return s[math.max(p, 0) + 1] end
end

-- Runs every (b, c) row; with dout, also the backward (dweight / dbias summed over b).
local function dense(x, w, b, dout, o)
    local B, D, W = #x, #w, #w[1]
    local out, final, dx, dinit = {}, {}, {}, {}
    local dw, db = zeros(D, W), b and zeros(D) or nil
    for bb = 1, B do
        out[bb], final[bb], dx[bb], dinit[bb] = {}, {}, {}, {}
        local seg = segments(o.seq_idx, bb)
        for c = 1, D do
            local r = { row(x[bb][c], w[c], b and b[c] or 0, seg, o.init and o.init[bb][c], o.silu,
                            dout and dout[bb][c], o.dfinal and o.dfinal[bb][c]) }
            out[bb][c], final[bb][c] = r[1], r[2]
            if dout then
                dx[bb][c], dinit[bb][c] = r[3], r[6]
                for k = 1, W do dw[c][k] = dw[c][k] + r[4][k] end
                if db then db[c] = db[c] + r[5] end
            end
        end
    end
    return out, final, dx, dw, db, dinit
end

function N.forward(x, w, b, o)
    local out, final = dense(x, w, b, nil, o or {})
    return out, final
end

function N.backward(x, w, b, dout, o)
    local _, _, dx, dw, db, dinit = dense(x, w, b, dout, o or {})
    return dx, dw, db, dinit
end

-- Decode update, per batch row b: state row i = indices[b] (i = b without indices); i < 0 is a
-- padding row: output 0, no state touched. With SL = state_len and ext = W-1, the history h is
-- the ext entries before the new tokens, read before any write: state[SL-ext .. SL-1], or with
-- cache_seqlens (circular buffer) state[(r - ext + j) mod SL], r = ((len mod SL) + SL) mod SL.
-- out[s] = act(bias + sum_k w[k] * v[s + k]), v = concat(h, x). New state: without
-- cache_seqlens the last SL entries of concat(state, x); with it x[s] goes to slot (r + s) mod SL
-- in order s = 0..S-1 (later tokens win).
function N.update(x, state, w, b, o)
    o = o or {}
    local B, D, S, W = #x, #x[1], #x[1][1], #w[1]
    local ext = W - 1
    local new = {}                                        -- a copy of the state
    for i = 1, #state do
        new[i] = {}
        for c = 1, D do
            new[i][c] = {}
            for j = 1, #state[i][c] do new[i][c][j] = state[i][c][j] end
        end
    end
    local out = zeros(B, D, S)
    for bb = 1, B do
        local i = o.indices and o.indices[bb] or bb - 1   -- 0-based state row
        if i >= 0 then
            for c = 1, D do
                local st = state[i + 1][c]                  -- the old state, read before any write
                local SL = #st
                local r = o.cache_seqlens and ((o.cache_seqlens[bb] % SL) + SL) % SL
                local v = {}
                for j = 0, ext - 1 do
                    local slot = r and (r - ext + j) % SL or SL - ext + j
                    v[j + 1] = st[slot + 1]
                end
                for s = 1, S do v[ext + s] = x[bb][c][s] end
                for s = 0, S - 1 do
                    local sum = b and b[c] or 0
                    for k = 0, W - 1 do sum = sum + w[c][k + 1] * v[s + k + 1] end
                    out[bb][c][s + 1] = act(sum, o.silu)
                end
                local ns = new[i + 1][c]
                if r then
                    for s = 0, S - 1 do ns[(r + s) % SL + 1] = x[bb][c][s + 1] end
                else
                    local all = {}                          -- concat(state, x), keep the last SL
                    for j = 1, SL do all[j] = st[j] end
                    for s = 1, S do all[SL + s] = x[bb][c][s] end
                    for j = 1, SL do ns[j] = all[#all - SL + j] end
                end
            end
        end
    end
    return out, new
end

-- Varlen: x (T, D) packs N sequences, sequence n = tokens cu[n] .. cu[n+1]-1; each is one dense
-- row (B = 1, no seq_idx) with its own initial / final / dinitial / dfinal states.
local function sequence(x, cu, n)                          -- (1, D, len) table of sequence n
    local D = #x[1]
    local r = { {} }
    for c = 1, D do
        r[1][c] = {}
        for t = cu[n] + 1, cu[n + 1] do r[1][c][#r[1][c] + 1] = x[t][c] end
    end
    return r
end

local function one(s, n) return s and { s[n] } end

local function varlen(x, w, b, dout, cu, o)
    local T, D, W, nseq = #x, #x[1], #w[1], #cu - 1
    local out, dx, final, dinit = zeros(T, D), zeros(T, D), {}, {}
    local dw, db = zeros(D, W), b and zeros(D) or nil
    for n = 1, nseq do
        local xs = sequence(x, cu, n)
        local ro = { silu = o.silu, init = one(o.init, n), dfinal = one(o.dfinal, n) }
        local so, sf = N.forward(xs, w, b, ro)
        final[n] = sf[1]
        local sdx, sdw, sdb, sdi
        if dout then
            sdx, sdw, sdb, sdi = N.backward(xs, w, b, sequence(dout, cu, n), ro)
            dinit[n] = sdi[1]
            for c = 1, D do
                for k = 1, W do dw[c][k] = dw[c][k] + sdw[c][k] end
                if db then db[c] = db[c] + sdb[c] end
            end
        end
        for c = 1, D do
            for j = 1, cu[n + 1] - cu[n] do
                out[cu[n] + j][c] = so[1][c][j]
                if dout then dx[cu[n] + j][c] = sdx[1][c][j] end
            end
        end
    end
    return out, final, dx, dw, db, dinit
end

function N.varlen(x, w, b, cu, o)
    local out, final = varlen(x, w, b, nil, cu, o or {})
    return out, final
end

function N.varlen_backward(x, w, b, dout, cu, o)
    local _, _, dx, dw, db, dinit = varlen(x, w, b, dout, cu, o or {})
    return dx, dw, db, dinit
end

-- varlen_states: states[n][c][j] = x[end_n - SL + j][c] for the last min(len_n, SL) slots, 0 before
-- (never a neighbour's tokens).
function N.varlen_states(x, cu, SL)
    local D, nseq = #x[1], #cu - 1
    local states = zeros(nseq, D, SL)
    for n = 1, nseq do
        for c = 1, D do
            for j = 0, SL - 1 do
                local t = cu[n + 1] - SL + j                -- 0-based token
                if t >= cu[n] then states[n][c][j + 1] = x[t + 1][c] end
            end
        end
    end
    return states
end

return N
