-- Train a small Mamba LM on a synthetic task of the Mamba paper (§4.1): selective copying or
-- induction heads. Fresh batches every step from a seeded generator, a fixed validation set from
-- another seed, AdamW with a no-decay group, warmup, gradient clipping; logs, plots, checkpoints
-- that resume exactly. The same script runs on cpu and cuda.
--
--   luajit experiments/mamba_block.lua --help
--   luajit experiments/mamba_block.lua --task selective_copying --log sc.csv --plot sc.png
--   luajit experiments/mamba_block.lua --task induction_heads --eval-lengths 64,256,1024,4096
--
-- The last line is: result: task=<task> steps=<n> accuracy=<validation accuracy> seconds=<s>
local script_dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
package.path = script_dir .. "../lua/?.lua;" .. script_dir .. "../lua/?/init.lua;"
    .. script_dir .. "?.lua;" .. package.path
local util = require "bench_util"
local tasks = require "tasks"

local usage = [[
usage: luajit experiments/mamba_block.lua [options]
 task
  --task NAME            selective_copying (default) or induction_heads
  --vocab V              vocabulary incl. the noise/no-op token 0 and the marker V-1 (16)
  --n_data M --n_noise L selective copying: M data tokens among L noise tokens (8, 48): T = L + 2M
  --seq_len T            induction heads: training length (64)
  --eval-lengths LIST    induction heads: also report accuracy at these lengths (e.g. 64,256,1024,4096)
  --ablation lti         delta, B, C input-independent (the LTI negative control)
 model
  --d_model D --n_layer N --d_state S   (64, 2, 16); expand 2, d_conv 4, tied embedding
  --dtype f32|f64        (f32)   --device cpu|cuda (cpu)   --threads N (the library's default)
 training
  --steps N (see below)  --batch B (32)   --lr LR (see below)  --warmup N (steps of linear warmup)
  --schedule constant|cosine    after warmup: keep --lr, or decay it to 0 at --steps (cosine)
  --weight_decay W (see below; never on A_log, D, biases, norms, embedding)   --clip C (1.0; 0 = off)
  --curriculum N0        selective copying: n_noise grows linearly from N0 to --n_noise over the
                         first --curriculum_steps steps (1000)
  --seed S (0)           model init (cc.manual_seed(S)), training data Generator(S), validation
                         data Generator(S + 1)
  --eval_every N (100)   --val_size N (1000 sequences)   --stop_acc A (stop when validation >= A)
 output
  --log FILE.csv         one row per step (validation accuracy on eval steps)
  --plot FILE.png        loss and accuracy curves (gnuplot)
  --save PATH            model weights + metadata config and task (cc.nn.load, mamba_ssm names);
                         the optimizer, step and RNG states go next to it, PATH's stem + .train.safetensors
  --save_every N         also save every N steps (so an interrupted run can be resumed)
  --resume PATH          continue a run saved with --save: same model, optimizer, step, data
                         stream and options (those given again override; with the same --steps
                         and schedule the loss curve continues exactly)
  --quiet                no progress bar or periodic lines
Defaults per task (a recipe that reaches >= 95% well within 15 minutes on 2 CPU cores; README
"Synthetic tasks"): AdamW betas (0.9, 0.999), --batch 32 --warmup 100 --schedule cosine,
  selective_copying: --steps 3000 --lr 3e-3 --weight_decay 0.1 (no curriculum: one from n_noise 8
                     learned no faster)
  induction_heads:   --steps 3000 --lr 1e-3 --weight_decay 0 (extrapolates to 1024; 3e-3 with
                     decay 0.1 learns as fast but keeps only ~50% at 1024)
]]

local SPEC = {
    help = "flag", task = "string", vocab = "number", n_data = "number", n_noise = "real", seq_len = "number",
    ["eval-lengths"] = "string", ablation = "string", d_model = "number", n_layer = "number", d_state = "number",
    dtype = "string", device = "string", threads = "number", steps = "number", batch = "number", lr = "real",
    warmup = "real", schedule = "string", weight_decay = "real", clip = "real", curriculum = "real", curriculum_steps = "number", seed = "real",
    eval_every = "number", val_size = "number", stop_acc = "real", log = "string", plot = "string", save = "string", save_every = "number",
    resume = "string", quiet = "flag",
}

local DEFAULTS = {
    selective_copying = { steps = 3000, lr = 3e-3, warmup = 100, batch = 32, schedule = "cosine" },
    induction_heads = { steps = 3000, lr = 1e-3, warmup = 100, batch = 32, schedule = "cosine", weight_decay = 0 },
}
local COMMON = { vocab = 16, n_data = 8, n_noise = 48, seq_len = 64, d_model = 64, n_layer = 2, d_state = 16,
                 dtype = "f32", device = "cpu", schedule = "constant", weight_decay = 0.1, clip = 1.0, seed = 0,
                 eval_every = 100, val_size = 1000, curriculum_steps = 1000 }
-- what a checkpoint fixes: a resumed run may not change these
local MODEL_KEYS = { "task", "vocab", "n_data", "n_noise", "seq_len", "ablation", "d_model", "n_layer", "d_state", "dtype" }

local cli = util.parse_args(arg, SPEC, usage)
if cli.help then io.write(usage); os.exit(0) end

util.pin_threads()   -- before the library loads (bench_util.lua says why)
local cc = require "causalconv"
local cjson = require("cjson").new()

-- ---- options ------------------------------------------------------------------------------------

local function train_path(path) return (path:gsub("%.safetensors$", "")) .. ".train.safetensors" end

local resume_state, resume_tensors
if cli.resume then
    local ok, t, meta = pcall(cc.load_safetensors, train_path(cli.resume))
    if not ok then util.die("--resume: cannot read the training state: " .. tostring(t)) end
    resume_tensors, resume_state = t, cjson.decode(meta.train_state or "null")
    if type(resume_state) ~= "table" then util.die("--resume: " .. train_path(cli.resume) .. " has no train_state metadata") end
end

local opt = {}
do
    local saved = resume_state and resume_state.options or {}
    local name = cli.task or saved.task or "selective_copying"
    if not DEFAULTS[name] then util.die("--task: expected selective_copying or induction_heads, got " .. name, 2) end
    for k, v in pairs(COMMON) do opt[k] = v end
    for k, v in pairs(DEFAULTS[name]) do opt[k] = v end
    for k, v in pairs(saved) do opt[k] = v end
    for _, k in ipairs(MODEL_KEYS) do
        if resume_state and cli[k] ~= nil and cli[k] ~= saved[k] then
            util.die(string.format("--%s: the checkpoint was trained with %s, got %s (model and task options come from --resume)",
                k, tostring(saved[k]), tostring(cli[k])), 2)
        end
    end
    for k, v in pairs(cli) do opt[k] = v end
    opt.task = name
    opt.resume, opt.help = nil, nil
end
if opt.ablation ~= nil and opt.ablation ~= "lti" then util.die("--ablation: expected lti, got " .. opt.ablation, 2) end
if opt.dtype ~= "f32" and opt.dtype ~= "f64" then util.die("--dtype: expected f32 or f64, got " .. opt.dtype, 2) end
if opt.schedule ~= "constant" and opt.schedule ~= "cosine" then util.die("--schedule: expected constant or cosine, got " .. opt.schedule, 2) end
if opt.seed < 0 or opt.seed ~= math.floor(opt.seed) then util.die("--seed: expected a non-negative integer", 2) end
if not (opt.lr > 0) then util.die("--lr: expected a number > 0", 2) end
local eval_lengths = {}
if opt["eval-lengths"] then
    for v in opt["eval-lengths"]:gmatch("[^,]+") do
        local n = tonumber(v)
        if not n or n < 3 or n ~= math.floor(n) then util.die("--eval-lengths: expected lengths >= 3 like 64,256,1024, got " .. opt["eval-lengths"], 2) end
        eval_lengths[#eval_lengths + 1] = n
    end
    if opt.task ~= "induction_heads" then util.die("--eval-lengths: only for --task induction_heads", 2) end
end
if opt.threads then cc.set_num_threads(opt.threads) end
local device = util.select_device(cc, opt.device)

local task = tasks.new(opt.task, opt)
local V = task.vocab

-- ---- model, optimizer, data ---------------------------------------------------------------------

cc.manual_seed(opt.seed)
local model = cc.nn.MambaLM { d_model = opt.d_model, n_layer = opt.n_layer, vocab_size = V, d_state = opt.d_state,
                              lti = opt.ablation == "lti", dtype = opt.dtype, device = device }
local groups = cc.optim.no_decay_groups(model:named_parameters(), opt.weight_decay)
local optimizer = cc.optim.AdamW(groups, { lr = opt.lr, betas = { 0.9, 0.999 }, weight_decay = opt.weight_decay })
local train_gen = cc.Generator(opt.seed)

local function lr_at(step)
    local warm = opt.warmup > 0 and math.min(1, step / opt.warmup) or 1
    if opt.schedule == "cosine" and step > opt.warmup then
        local p = (step - opt.warmup) / math.max(1, opt.steps - opt.warmup)
        return opt.lr * 0.5 * (1 + math.cos(math.pi * math.min(1, p)))
    end
    return opt.lr * warm
end

-- selective copying's curriculum: n_noise at a step
local function n_noise_at(step)
    if opt.task ~= "selective_copying" or not opt.curriculum then return task.n_noise or 0 end
    local p = math.min(1, (step - 1) / opt.curriculum_steps)
    return math.floor(opt.curriculum + p * (task.n_noise - opt.curriculum) + 0.5)
end

local first_step = 1
if resume_state then
    local weights = cc.load_safetensors(cli.resume)
    model:load_state_dict(weights)
    local osd = resume_state.optimizer
    -- (no pairs() inside pairs(): LuaJIT 2.1.0-beta3's bug #827 can end the outer loop early)
    for i = 1, table.maxn(osd.state) do
        local st = osd.state[i]
        for _, k in ipairs({ "exp_avg", "exp_avg_sq", "momentum_buffer" }) do
            if type(st[k]) == "string" then st[k] = resume_tensors[st[k]]:to(device) end
        end
    end
    optimizer:load_state_dict(osd)
    train_gen:set_state(resume_state.train_gen)
    cc.set_rng_state(resume_state.global_rng)
    first_step = resume_state.step + 1
end

local function on_device(b)
    if device ~= "cpu" then b.tokens, b.targets = b.tokens:to(device), b.targets:to(device) end
    return b
end

-- logits at the predicting positions -> loss, (correct, count)
local function evaluate(b)
    local logits = model(b.tokens)
    local sel = logits:narrow(2, b.first, b.count):narrow(3, 1, V):reshape(-1, V)
    local target = b.targets:reshape(-1)
    local loss = cc.cross_entropy(sel, target)
    local _, pred = cc.max(sel, 2)
    local p, t = pred:totable(), target:totable()
    local correct = 0
    for i = 1, #p do if p[i] == t[i] then correct = correct + 1 end end
    return loss, correct, #p
end

-- a fixed validation set (at a length: overrides), evaluated in batches
local VAL_BATCH = 250
local function validation_set(overrides, n)
    local gen = cc.Generator(opt.seed + 1)
    local set = {}
    local left = n
    while left > 0 do
        local bt = math.min(VAL_BATCH, left)
        set[#set + 1] = on_device(task:batch(gen, bt, overrides))
        left = left - bt
    end
    return set
end

local function accuracy_on(set)
    return cc.no_grad(function()
        model:eval()
        local right, total = 0, 0
        for _, b in ipairs(set) do
            local _, c, n = evaluate(b)
            right, total = right + c, total + n
        end
        model:train()
        return right / total
    end)
end
local val_set = validation_set(nil, opt.val_size)

-- ---- checkpoints --------------------------------------------------------------------------------

local function save(path, step)
    model:save(path, { task = task.json })
    local sd = optimizer:state_dict()
    local tensors = {}
    for i = 1, table.maxn(sd.state) do
        local st = sd.state[i]
        for _, k in ipairs({ "exp_avg", "exp_avg_sq", "momentum_buffer" }) do
            if st and cc.is_tensor(st[k]) then
                local name = string.format("optim.%d.%s", i, k)
                tensors[#tensors + 1] = { name, st[k] }
                st[k] = name
            end
        end
    end
    local state = { step = step, train_gen = train_gen:get_state(), global_rng = cc.get_rng_state(), optimizer = sd, options = opt }
    cc.save_safetensors(tensors, train_path(path), { train_state = cjson.encode(state) })
end

-- ---- the run ------------------------------------------------------------------------------------

local log
if opt.log then
    log = assert(io.open(opt.log, resume_state and "a" or "w"))
    if not resume_state then log:write("step,loss,train_acc,val_acc,lr,seq_len,tokens_per_s,seconds\n") end
end

local params = model:parameters()
local t_start = cc.bench.now()
local seconds_before = resume_state and resume_state.seconds or 0
local machine = cc.bench.machine(device)
if not opt.quiet then
    io.write(cc.bench.describe(machine), "\n")
    io.write(string.format("# %s, %s parameters, task %s (T = %d, chance %.3f), %d steps, batch %d, lr %g\n",
        model:describe(), model:num_parameters(), task.json, task.seq_len, task.chance, opt.steps, opt.batch, opt.lr))
end
local bar = (not opt.quiet) and cc.bench.progress(opt.steps - first_step + 1) or nil
local history, val_acc, reached = {}, nil, nil
local last_step = first_step - 1
local window_t, window_tokens = cc.bench.now(), 0
for step = first_step, opt.steps do
    local n_noise = n_noise_at(step)
    local b = on_device(task:batch(train_gen, opt.batch, { n_noise = n_noise }))
    local loss, correct, count = evaluate(b)
    optimizer:zero_grad()
    loss:backward()
    if opt.clip > 0 then cc.optim.clip_grad_norm_(params, opt.clip) end
    local lr = lr_at(step)
    for _, g in ipairs(optimizer.param_groups) do g.lr = lr end
    optimizer:step()
    local loss_v = loss:item()
    window_tokens = window_tokens + b.tokens:numel()
    local now = cc.bench.now()
    local tps = window_tokens / math.max(1e-9, now - window_t)
    if step % 20 == 0 then window_t, window_tokens = now, 0 end
    val_acc = nil
    if step % opt.eval_every == 0 or step == opt.steps then
        val_acc = accuracy_on(val_set)
        if val_acc >= 0.95 and not reached then reached = { step = step, seconds = seconds_before + now - t_start } end
    end
    local seconds = seconds_before + now - t_start
    if log then
        log:write(string.format("%d,%.6f,%.4f,%s,%.6g,%d,%.0f,%.2f\n", step, loss_v, correct / count,
            val_acc and string.format("%.4f", val_acc) or "", lr, b.tokens:size(2), tps, seconds))
        log:flush()
    end
    history[#history + 1] = { step = step, loss = loss_v, acc = correct / count, val = val_acc }
    if bar then
        local label = string.format("step %d loss %.4f acc %.3f%s %.0f tok/s", step, loss_v, correct / count,
            val_acc and string.format(" val %.3f", val_acc) or "", tps)
        if val_acc then bar:print(label) end
        bar:step(label)
    end
    last_step = step
    if opt.save and opt.save_every and step % opt.save_every == 0 and step < opt.steps then
        local ok, err = pcall(save, opt.save, step)
        if not ok then util.die("--save: " .. tostring(err)) end
    end
    if val_acc and opt.stop_acc and val_acc >= opt.stop_acc then break end
end
if bar then bar:finish() end
local seconds = seconds_before + cc.bench.now() - t_start
if log then log:close() end
local final_acc = val_acc or accuracy_on(val_set)

if opt.save then
    local ok, err = pcall(save, opt.save, last_step)
    if not ok then util.die("--save: " .. tostring(err)) end
    print("saved " .. opt.save .. " and " .. train_path(opt.save))
end
if reached then print(string.format("reached 95%% validation accuracy at step %d (%.1f s)", reached.step, reached.seconds)) end
for _, T in ipairs(eval_lengths) do
    local n = T <= 256 and opt.val_size or math.max(64, math.floor(opt.val_size * 256 / T))
    local acc = accuracy_on(validation_set({ seq_len = T }, n))
    print(string.format("eval: seq_len=%d accuracy=%.4f (%d sequences)", T, acc, n))
end

if opt.plot then
    local plot = require "train_plot"
    -- a resumed run plots the whole curve from its log
    if opt.log and resume_state then history = plot.read_log(opt.log) end
    local ok, err = plot.plot(opt.plot, history, string.format("%s, %s", task.json, model:describe()))
    if not ok then io.stderr:write("--plot: ", err, "\n") end
end
print(string.format("result: task=%s steps=%d accuracy=%.4f seconds=%.1f", opt.task, last_step, final_acc, seconds))
