-- The synthetic tasks of the Mamba paper (§4.1; ../shared/reference/mamba_block.md §5), drawn from
-- a cc.Generator so a run's data depends only on its seed.
--
--   task = tasks.new(name, params)   name "selective_copying" (params vocab, n_data, n_noise) or
--                                    "induction_heads" (params vocab, seq_len)
--   b = task:batch(gen, Bt [, overrides])   {tokens = (Bt, T) i64, targets = (Bt, P) i64,
--                                    first = the 1-based position of the first predicting position,
--                                    count = P}: the logits at positions first .. first + P - 1
--                                    predict targets (loss and accuracy there only)
--   task.json                        the task as the checkpoint metadata records it
--   task.chance                      the accuracy of guessing
--
-- Token conventions (vocab V): selective copying: 0 = noise, V - 1 = marker, data tokens
-- uniform in 1 .. V - 2, placed in order at n_data distinct positions drawn uniformly among the
-- first n_noise + n_data; the last n_data positions hold the marker and the i-th marker
-- position predicts the i-th data token. Induction heads: ordinary symbols 1 .. V - 2 uniform at
-- every position; position p uniform in [0, T - 3] and the last position hold V - 1; the target
-- x[p + 1] is predicted at the last position.
local tasks = {}

local Task = {}
Task.__index = Task

local function positive(name, v)
    if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then
        error(string.format("tasks: %s: expected a positive integer, got %s", name, tostring(v)), 3)
    end
    return v
end

function tasks.new(name, p)
    local t = setmetatable({ name = name }, Task)
    t.vocab = positive("vocab", p.vocab or 16)
    if t.vocab < 4 then error("tasks: vocab: expected at least 4 (noise, marker and two symbols), got " .. t.vocab, 2) end
    if name == "selective_copying" then
        t.n_data, t.n_noise = positive("n_data", p.n_data or 8), p.n_noise or 48
        if type(t.n_noise) ~= "number" or t.n_noise < 0 then error("tasks: n_noise: expected a count >= 0", 2) end
        t.seq_len = t.n_noise + 2 * t.n_data
        t.chance = 1 / (t.vocab - 2)
        t.json = string.format('{"name": "selective_copying", "vocab": %d, "n_data": %d, "n_noise": %d}', t.vocab, t.n_data, t.n_noise)
    elseif name == "induction_heads" then
        t.seq_len = positive("seq_len", p.seq_len or 64)
        if t.seq_len < 3 then error("tasks: seq_len: expected at least 3, got " .. t.seq_len, 2) end
        t.chance = 1 / (t.vocab - 2)
        t.json = string.format('{"name": "induction_heads", "vocab": %d, "seq_len": %d}', t.vocab, t.seq_len)
    else
        error("tasks: unknown task " .. tostring(name) .. " (selective_copying or induction_heads)", 2)
    end
    return t
end

-- k distinct values of 0 .. n - 1 in increasing order (a partial Fisher-Yates shuffle)
local function choose_sorted(gen, n, k)
    local u = gen:rand(k, { dtype = "f64" }):totable()
    local pool = {}
    for i = 1, n do pool[i] = i - 1 end
    local out = {}
    for i = 1, k do
        local j = i + math.floor(u[i] * (n - i + 1))
        if j > n then j = n end
        pool[i], pool[j] = pool[j], pool[i]
        out[i] = pool[i]
    end
    table.sort(out)
    return out
end

-- overrides: {n_noise =} or {seq_len =} (evaluation at other lengths, a curriculum)
function Task:batch(gen, Bt, overrides)
    local cc = require "causalconv"
    overrides = overrides or {}
    local V = self.vocab
    local tokens, targets = {}, {}
    local first, count
    if self.name == "selective_copying" then
        local M, Ln = self.n_data, overrides.n_noise or self.n_noise
        local T = Ln + 2 * M
        local data = gen:randint(1, V - 1, Bt * M)
        for b = 1, Bt do
            local row = {}
            for t = 1, T do row[t] = 0 end
            local where = choose_sorted(gen, Ln + M, M)
            local trow = {}
            for i = 1, M do
                local v = data[(b - 1) * M + i]
                row[where[i] + 1] = v
                trow[i] = v
                row[Ln + M + i] = V - 1
            end
            tokens[b], targets[b] = row, trow
        end
        first, count = Ln + M + 1, M
    else
        local T = overrides.seq_len or self.seq_len
        local syms = gen:randint(1, V - 1, Bt * T)
        local pos = gen:randint(0, T - 2, Bt)
        for b = 1, Bt do
            local row = {}
            for t = 1, T do row[t] = syms[(b - 1) * T + t] end
            local p = pos[b]
            row[p + 1] = V - 1
            row[T] = V - 1
            tokens[b], targets[b] = row, { row[p + 2] }
        end
        first, count = T, 1
    end
    return { tokens = cc.tensor(tokens, { dtype = "i64" }), targets = cc.tensor(targets, { dtype = "i64" }),
             first = first, count = count }
end

return tasks
