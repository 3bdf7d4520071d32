-- cc.nn.Mamba (mamba_ssm's Mamba-1 mixer) and cc.nn.MambaLM (MambaLMHeadModel with Mamba-1
-- mixers and no MLP), with mamba_ssm's parameter names, shapes and initialisation
-- (../shared/reference/mamba_block.md §1, §4), its decode path (§3), generate, and safetensors
-- checkpoints that carry mamba_ssm's MambaConfig as metadata. Adds Mamba, MambaLM and load to
-- cc.nn (nn.lua).
--
--   m = cc.nn.Mamba{d_model, d_state = 16, d_conv = 4, expand = 2, dt_rank = "auto", dt_min = 0.001,
--                   dt_max = 0.1, dt_init_floor = 1e-4, dt_scale = 1, conv_bias = true, bias = false,
--                   lti = false, dtype, device}
--   y = m(hs [, {cache = c}])      hs (Bt, L, d) -> (Bt, L, d); with a cache, a prefill that fills it
--   c = m:allocate_inference_cache(Bt)   {conv_state = (Bt, Di, K), ssm_state = (Bt, Di, N)}
--   y = m:step(hs_t, c)            hs_t (Bt, 1, d) -> (Bt, 1, d), updating c
--   lm = cc.nn.MambaLM{d_model, n_layer, vocab_size, d_state, d_conv, expand, dt_rank,
--                      pad_vocab_size_multiple = 8, tie_embeddings = true, norm_epsilon = 1e-5,
--                      lti = false, dtype, device}
--   logits = lm(tokens [, {caches = cs}])   tokens (Bt, L) i64, 0-based -> (Bt, L, padded vocab)
--   cs = lm:allocate_inference_cache(Bt); logits = lm:step(tokens_t, cs)   tokens_t (Bt) -> (Bt, V)
--   out = lm:generate(prompt, {max_new_tokens, greedy, temperature, top_k, seed})
--   lm:save(path [, metadata]); lm, metadata = cc.nn.load(path [, {device =}])
--
-- lti = true is the ablation of the Mamba paper's Table 1: δ, B and C stop depending on the
-- input (δ = softplus(dt_bias), B and C learned (Di, N) constants), which makes the mixer a
-- gated LTI SSM (S4D-like). Its parameters are then in_proj, conv1d, B, C, dt_bias, A_log, D,
-- out_proj, and the checkpoint says lti in ssm_cfg (mamba_ssm cannot load it).
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local tensor = require "causalconv.tensor"
local ops = require "causalconv.ops"
local conv = require "causalconv.conv"
local scan = require "causalconv.scan"
local nn = require("causalconv.nn").nn
local raise = F.raise
local fmt = string.format
local show = args.show
local Module, init = nn.Module, nn.init
local ctor, required, options = nn.ctor_options, nn.required, nn.options

-- ---- the mixer ----------------------------------------------------------------------------------

local Mamba = Module:extend("Mamba")
nn.Mamba = Mamba

local MAMBA_OPTS = {
    { "d_model", "positive" }, { "d_state", "positive" }, { "d_conv", "positive" }, { "expand", "positive" },
    { "dt_rank", "positive" }, { "dt_min", "number" }, { "dt_max", "number" }, { "dt_init_floor", "number" },
    { "dt_scale", "number" }, { "conv_bias", "boolean" }, { "bias", "boolean" }, { "lti", "boolean" },
    { "dtype", "dtype" }, { "device", "device" },
}

-- dt_rank = "auto" is ceil(d_model / 16); the rest of the table is checked by args.options
local function mixer_options(fname, opts)
    if type(opts) ~= "table" then raise(fmt("%s: expected a table of options like %s{d_model = 64}, got %s", fname, fname, show(opts))) end
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    if o.dt_rank == "auto" then o.dt_rank = nil end
    o = options(fname, o, MAMBA_OPTS)
    o.dt_rank = o.dt_rank or math.ceil(required(fname, o, "d_model") / 16)
    if o.dtype and o.dtype ~= "f32" and o.dtype ~= "f64" then
        raise(fmt("%s: dtype: expected f32 or f64 (the scan keeps A, D and the dt bias in f32 or f64), got %s", fname, o.dtype))
    end
    local dt_min, dt_max = o.dt_min or 0.001, o.dt_max or 0.1
    if not (dt_min > 0 and dt_min <= dt_max) then
        raise(fmt("%s: dt_min, dt_max: expected 0 < dt_min <= dt_max, got %s, %s", fname, show(dt_min), show(dt_max)))
    end
    return o
end

-- b_dt[c] = softplus^-1(dt_c) with dt_c log-uniform in [dt_min, dt_max], clamped at the floor
local function dt_bias_values(Di, dt_min, dt_max, floor_)
    local u = tensor.rand(Di, { dtype = "f64" }):totable()
    local lo, hi = math.log(dt_min), math.log(dt_max)
    local out = {}
    for c = 1, Di do
        local dt = math.max(math.exp(u[c] * (hi - lo) + lo), floor_)
        -- log(e^dt - 1) = dt + log(1 - e^-dt); 1 - e^-dt computed without cancellation for small dt
        local one_minus = dt < 1e-5 and dt * (1 - dt / 2) or 1 - math.exp(-dt)
        out[c] = dt + math.log(one_minus)
    end
    return out
end

function Mamba:init(opts)
    local o = mixer_options("Mamba", opts)
    local d, N, K, E, R = o.d_model, o.d_state or 16, o.d_conv or 4, o.expand or 2, o.dt_rank
    local Di = E * d
    self.d_model, self.d_state, self.d_conv, self.expand, self.dt_rank, self.d_inner = d, N, K, E, R, Di
    self.lti = o.lti == true
    local c = ctor(o)
    self:add_module("in_proj", nn.Linear { in_features = d, out_features = 2 * Di, bias = o.bias == true, dtype = o.dtype, device = o.device })
    self:add_module("conv1d", nn.CausalConv1d { channels = Di, kernel_size = K, bias = o.conv_bias ~= false,
                                                activation = "silu", dtype = o.dtype, device = o.device })
    local dt_bias = tensor.tensor(dt_bias_values(Di, o.dt_min or 0.001, o.dt_max or 0.1, o.dt_init_floor or 1e-4), c)
    if self.lti then
        init.ones_(self:register_parameter("B", tensor.empty(Di, N, c)))
        init.normal_(self:register_parameter("C", tensor.empty(Di, N, c)), 0, 1 / math.sqrt(N))
        self:register_parameter("dt_bias", dt_bias)
    else
        self:add_module("x_proj", nn.Linear { in_features = Di, out_features = R + 2 * N, bias = false, dtype = o.dtype, device = o.device })
        self:add_module("dt_proj", nn.Linear { in_features = R, out_features = Di, dtype = o.dtype, device = o.device })
        local s = (o.dt_scale or 1) / math.sqrt(R)
        init.uniform_(self.dt_proj.weight, -s, s)
        tape.no_grad(function() self.dt_proj.bias:copy_(dt_bias) end)
    end
    -- S4D-Real: A[c, n] = -(n + 1)
    local a_log = {}
    for ch = 1, Di do
        local row = {}
        for n = 1, N do row[n] = math.log(n) end
        a_log[ch] = row
    end
    self:register_parameter("A_log", tensor.tensor(a_log, c))
    init.ones_(self:register_parameter("D", tensor.empty(Di, c)))
    self:add_module("out_proj", nn.Linear { in_features = Di, out_features = d, bias = o.bias == true, dtype = o.dtype, device = o.device })
    -- the block's config, for checkpoints
    self.config = { d_state = N, d_conv = K, expand = E, dt_rank = R, lti = self.lti or nil }
end

function Mamba:describe()
    return fmt("Mamba(d_model %d, d_inner %d, d_state %d, d_conv %d, dt_rank %d%s)", self.d_model, self.d_inner,
        self.d_state, self.d_conv, self.dt_rank, self.lti and ", LTI ablation" or "")
end

function Mamba:conv_weight() return self.conv1d.weight:view(self.d_inner, self.d_conv) end
function Mamba:dt_bias_param() return self.lti and self.dt_bias or self.dt_proj.bias end

local FORWARD_OPTS = { { "cache", "list" } }

local function check_hs(fname, m, hs, L)
    args.float_tensor(fname, "hs", hs)
    if hs:dim() ~= 3 or hs:size(3) ~= m.d_model or (L and hs:size(2) ~= L) then
        raise(fmt("%s: hs: expected shape (Bt, %s, %d), got %s", fname, L and tostring(L) or "L", m.d_model, show(hs)))
    end
end

local function check_cache(fname, m, cache, Bt)
    if type(cache) ~= "table" or not args.is_tensor(cache.conv_state) or not args.is_tensor(cache.ssm_state) then
        raise(fmt("%s: cache: expected {conv_state =, ssm_state =} from allocate_inference_cache, got %s", fname, show(cache)))
    end
    local cs, ss = cache.conv_state, cache.ssm_state
    if cs:dim() ~= 3 or cs:size(1) ~= Bt or cs:size(2) ~= m.d_inner or cs:size(3) ~= m.d_conv then
        raise(fmt("%s: cache.conv_state: expected shape (%d, %d, %d), got %s", fname, Bt, m.d_inner, m.d_conv, show(cs)))
    end
    if ss:dim() ~= 3 or ss:size(1) ~= Bt or ss:size(2) ~= m.d_inner or ss:size(3) ~= m.d_state then
        raise(fmt("%s: cache.ssm_state: expected shape (%d, %d, %d), got %s", fname, Bt, m.d_inner, m.d_state, show(ss)))
    end
end

-- hs (Bt, L, d) -> (Bt, L, d). Every (Bt, Di, L) tensor below is a channel-last view of a
-- (Bt, L, Di) buffer, so the projections read and write them without copies.
function Mamba:forward(hs, opts)
    opts = args.options("Mamba:forward", opts, FORWARD_OPTS)
    check_hs("Mamba:forward", self, hs)
    local Bt, L = hs:size(1), hs:size(2)
    local Di, N, R = self.d_inner, self.d_state, self.dt_rank
    local xz = self.in_proj(hs)                                   -- (Bt, L, 2Di)
    local x = xz:narrow(3, 1, Di):transpose(2, 3)                 -- (Bt, Di, L)
    local z = xz:narrow(3, Di + 1, Di):transpose(2, 3)
    local xc = self.conv1d(x)                                     -- conv + silu, (Bt, Di, L)
    local A = ops.neg(ops.exp(self.A_log))                        -- (Di, N)
    local delta, B, C
    if self.lti then
        delta = tensor.zeros(1, 1, 1, ctor { dtype = hs:dtype(), device = hs:device() }):expand(Bt, Di, L)
        B, C = self.B, self.C
    else
        local x_dbl = self.x_proj(xc:transpose(2, 3))             -- (Bt, L, R + 2N)
        delta = ops.linear(x_dbl:narrow(3, 1, R), self.dt_proj.weight):transpose(2, 3)   -- (Bt, Di, L)
        B = x_dbl:narrow(3, R + 1, N):transpose(2, 3)             -- (Bt, N, L)
        C = x_dbl:narrow(3, R + N + 1, N):transpose(2, 3)
    end
    local cache = opts.cache
    if cache then check_cache("Mamba:forward", self, cache, Bt) end
    local y, last = scan.selective_scan(xc, delta, A, B, C, {
        D = self.D, z = z, delta_bias = self:dt_bias_param(), delta_softplus = true, return_last_state = cache ~= nil })
    if cache then
        tape.no_grad(function()
            local K = self.d_conv
            cache.conv_state:zero_()
            local n = math.min(L, K)
            if n > 0 then cache.conv_state:narrow(3, K - n + 1, n):copy_(x:narrow(3, L - n + 1, n)) end
            cache.ssm_state:copy_(last)
        end)
    end
    return self.out_proj(y:transpose(2, 3))                       -- (Bt, L, d)
end

function Mamba:allocate_inference_cache(batch)
    args.integer("Mamba:allocate_inference_cache", "batch", batch, 1)
    local w = self.out_proj.weight
    local o = { dtype = w:dtype(), device = w:device() }
    local state_dtype = w:dtype() == "f64" and "f64" or "f32"
    return { conv_state = tensor.zeros(batch, self.d_inner, self.d_conv, o),
             ssm_state = tensor.zeros(batch, self.d_inner, self.d_state, { dtype = state_dtype, device = w:device() }) }
end

-- one token: hs_t (Bt, 1, d) -> (Bt, 1, d), updating cache in place (constant work per token)
function Mamba:step(hs_t, cache)
    check_hs("Mamba:step", self, hs_t, 1)
    local Bt = hs_t:size(1)
    check_cache("Mamba:step", self, cache, Bt)
    local Di, N, R = self.d_inner, self.d_state, self.dt_rank
    local xz = self.in_proj(hs_t:squeeze(2))                      -- (Bt, 2Di)
    local x, z = xz:narrow(2, 1, Di), xz:narrow(2, Di + 1, Di)
    local xc = conv.causal_conv1d_update(x, cache.conv_state, self:conv_weight(), self.conv1d.bias, { activation = "silu" })
    local A = ops.neg(ops.exp(self.A_log))
    local dt, B, C
    if self.lti then
        dt = tensor.zeros(1, 1, ctor { dtype = hs_t:dtype(), device = hs_t:device() }):expand(Bt, Di)
        B = self.B:unsqueeze(1):expand(Bt, Di, N)                 -- (Bt, G = Di, N)
        C = self.C:unsqueeze(1):expand(Bt, Di, N)
    else
        local x_db = self.x_proj(xc)                              -- (Bt, R + 2N)
        dt = ops.linear(x_db:narrow(2, 1, R), self.dt_proj.weight)
        B, C = x_db:narrow(2, R + 1, N), x_db:narrow(2, R + N + 1, N)
    end
    local y = scan.selective_state_update(cache.ssm_state, xc, dt, A, B, C, {
        D = self.D, z = z, dt_bias = self:dt_bias_param(), dt_softplus = true })
    return self.out_proj(y):unsqueeze(2)
end

-- ---- the LM -------------------------------------------------------------------------------------

local Block = Module:extend("Block")
nn.Block = Block

-- pre-norm residual block: residual = h + residual; h = mixer(norm(residual))
function Block:init(o)
    self:add_module("norm", nn.RMSNorm { dim = o.d_model, eps = o.norm_epsilon, dtype = o.dtype, device = o.device })
    self:add_module("mixer", Mamba(o.mixer))
end

function Block:forward(h, residual, cache)
    residual = residual and ops.add(h, residual) or h
    return self.mixer(self.norm(residual), cache and { cache = cache } or nil), residual
end

function Block:step(h, residual, cache)
    residual = residual and ops.add(h, residual) or h
    return self.mixer:step(self.norm(residual), cache), residual
end

local Backbone = Module:extend("MixerModel")

function Backbone:init(o)
    self:add_module("embedding", nn.Embedding { num_embeddings = o.padded_vocab, embedding_dim = o.d_model, dtype = o.dtype, device = o.device })
    local layers = {}
    for i = 1, o.n_layer do layers[i] = Block(o) end
    self:add_module("layers", nn.ModuleList(layers))
    self:add_module("norm_f", nn.RMSNorm { dim = o.d_model, eps = o.norm_epsilon, dtype = o.dtype, device = o.device })
end

local MambaLM = Module:extend("MambaLM")
nn.MambaLM = MambaLM

local LM_OPTS = {
    { "d_model", "positive" }, { "n_layer", "positive" }, { "vocab_size", "positive" }, { "d_state", "positive" },
    { "d_conv", "positive" }, { "expand", "positive" }, { "dt_rank", "positive" }, { "pad_vocab_size_multiple", "positive" },
    { "tie_embeddings", "boolean" }, { "norm_epsilon", "number" }, { "lti", "boolean" }, { "dtype", "dtype" },
    { "device", "device" },
}

function MambaLM:init(opts)
    if type(opts) ~= "table" then raise("MambaLM: expected a table of options like MambaLM{d_model = 64, n_layer = 2, vocab_size = 16}, got " .. show(opts)) end
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    if o.dt_rank == "auto" then o.dt_rank = nil end
    o = options("MambaLM", o, LM_OPTS)
    local d = required("MambaLM", o, "d_model")
    required("MambaLM", o, "n_layer")
    local V = required("MambaLM", o, "vocab_size")
    local mult = o.pad_vocab_size_multiple or 8
    o.padded_vocab = math.ceil(V / mult) * mult
    o.norm_epsilon = o.norm_epsilon or 1e-5
    o.mixer = { d_model = d, d_state = o.d_state, d_conv = o.d_conv, expand = o.expand, dt_rank = o.dt_rank,
                lti = o.lti, dtype = o.dtype, device = o.device }
    self.d_model, self.n_layer, self.vocab_size, self.padded_vocab = d, o.n_layer, V, o.padded_vocab
    self.tie_embeddings = o.tie_embeddings ~= false
    self:add_module("backbone", Backbone(o))
    if not self.tie_embeddings then
        self:add_module("lm_head", nn.Linear { in_features = d, out_features = o.padded_vocab, bias = false, dtype = o.dtype, device = o.device })
    end
    -- mamba_ssm's _init_weights: embedding N(0, 0.02^2); out_proj re-drawn, then / sqrt(n_layer)
    init.normal_(self.backbone.embedding.weight, 0, 0.02)
    for i = 1, o.n_layer do
        local w = self.backbone.layers[i].mixer.out_proj.weight
        init.kaiming_uniform_(w, { a = math.sqrt(5) })
        tape.no_grad(function() w:mul_(1 / math.sqrt(o.n_layer)) end)
    end
    local mixer = self.backbone.layers[1].mixer
    self.config = {
        d_model = d, d_intermediate = 0, n_layer = o.n_layer, vocab_size = V,
        -- no "layer": mamba_ssm 2.x defaults it to Mamba1 and 1.x rejects the key
        ssm_cfg = { d_state = mixer.d_state, d_conv = mixer.d_conv, expand = mixer.expand,
                    dt_rank = mixer.dt_rank, lti = mixer.lti or nil },
        rms_norm = true, residual_in_fp32 = true, fused_add_norm = true,
        pad_vocab_size_multiple = mult, tie_embeddings = self.tie_embeddings,
        -- MambaConfig has no such field (mamba_ssm fixes 1e-5): written only when it differs
        norm_epsilon = o.norm_epsilon ~= 1e-5 and o.norm_epsilon or nil,
    }
end

function MambaLM:describe()
    return fmt("MambaLM(d_model %d, n_layer %d, vocab %d padded to %d%s)", self.d_model, self.n_layer, self.vocab_size,
        self.padded_vocab, self.tie_embeddings and ", tied embedding" or "")
end

function MambaLM:head_weight() return self.tie_embeddings and self.backbone.embedding.weight or self.lm_head.weight end

local function check_tokens(fname, tokens, dims)
    args.tensor(fname, "tokens", tokens)
    if tokens:is_floating_point() or tokens:dim() ~= #dims then
        raise(fmt("%s: tokens: expected an i64 or i32 tensor of shape %s of 0-based token ids, got %s", fname,
            "(" .. table.concat(dims, ", ") .. ")", show(tokens)))
    end
end

local LM_FORWARD_OPTS = { { "caches", "list" } }

-- tokens (Bt, L) -> logits (Bt, L, padded vocab); with caches (allocate_inference_cache), a
-- prefill that leaves every layer's states in them
function MambaLM:forward(tokens, opts)
    opts = args.options("MambaLM:forward", opts, LM_FORWARD_OPTS)
    check_tokens("MambaLM:forward", tokens, { "Bt", "L" })
    local caches = opts.caches
    if caches and #caches ~= self.n_layer then
        raise(fmt("MambaLM:forward: caches: expected %d layer caches (allocate_inference_cache), got %s", self.n_layer, show(caches)))
    end
    local bb = self.backbone
    local h, residual = bb.embedding(tokens), nil
    for i = 1, self.n_layer do h, residual = bb.layers[i](h, residual, caches and caches[i]) end
    h = bb.norm_f(ops.add(h, residual))
    return ops.linear(h, self:head_weight())
end

function MambaLM:allocate_inference_cache(batch)
    local caches = {}
    for i = 1, self.n_layer do caches[i] = self.backbone.layers[i].mixer:allocate_inference_cache(batch) end
    return caches
end

-- tokens_t (Bt) -> logits (Bt, padded vocab), advancing caches by one position
function MambaLM:step(tokens_t, caches)
    check_tokens("MambaLM:step", tokens_t, { "Bt" })
    if type(caches) ~= "table" or #caches ~= self.n_layer then
        raise(fmt("MambaLM:step: caches: expected %d layer caches (allocate_inference_cache), got %s", self.n_layer, show(caches)))
    end
    local bb = self.backbone
    local h, residual = bb.embedding(tokens_t:unsqueeze(2)), nil   -- (Bt, 1, d)
    for i = 1, self.n_layer do h, residual = bb.layers[i]:step(h, residual, caches[i]) end
    h = bb.norm_f(ops.add(h, residual))
    return ops.linear(h:squeeze(2), self:head_weight())
end

local GENERATE_OPTS = { { "max_new_tokens", "count" }, { "greedy", "boolean" }, { "temperature", "number" },
                        { "top_k", "count" }, { "seed", "count" } }

-- one token per row of logits (Bt, V): temperature-scaled softmax over the top_k largest
local function sample_rows(logits, temperature, top_k, gen)
    local rows = logits:to("f64"):totable()
    local u = gen:rand(#rows, { dtype = "f64" }):totable()
    local out = {}
    for b, row in ipairs(rows) do
        local order = {}
        for v = 1, #row do order[v] = v end
        table.sort(order, function(i, j) return row[i] > row[j] end)
        local k = (top_k > 0 and top_k < #row) and top_k or #row
        local mx, total, w = row[order[1]], 0, {}
        for r = 1, k do w[r] = math.exp((row[order[r]] - mx) / temperature); total = total + w[r] end
        local target, acc, pick = u[b] * total, 0, order[k]
        for r = 1, k do
            acc = acc + w[r]
            if target < acc then pick = order[r]; break end
        end
        out[b] = pick - 1
    end
    return out
end

-- prompt (Bt, P) -> (Bt, P + max_new_tokens) i64: a prefill, then one step per new token,
-- choosing among the first vocab_size logits (the padding rows are never picked)
function MambaLM:generate(prompt, opts)
    opts = args.options("generate", opts, GENERATE_OPTS)
    check_tokens("generate", prompt, { "Bt", "P" })
    if prompt:size(2) < 1 then raise("generate: prompt: expected at least one token per row, got " .. show(prompt)) end
    local n = opts.max_new_tokens
    if n == nil then raise("generate: max_new_tokens: expected a non-negative integer, got nil") end
    local sampling = opts.greedy == false or (opts.greedy == nil and (opts.temperature ~= nil or opts.top_k ~= nil))
    local temperature = opts.temperature or 1
    if sampling and not (temperature > 0) then raise("generate: temperature: expected a number > 0, got " .. show(temperature)) end
    local gen = sampling and require("causalconv.random").Generator(opts.seed or 0)
    local Bt = prompt:size(1)
    local V = self.vocab_size
    return tape.no_grad(function()
        local caches = self:allocate_inference_cache(Bt)
        local logits = self:forward(prompt:to("i64"), { caches = caches })
        local last = logits:select(2, -1):narrow(2, 1, V)          -- (Bt, V)
        local pieces = { prompt:to("i64") }
        for _ = 1, n do
            local next_tok
            if sampling then
                next_tok = tensor.tensor(sample_rows(last, temperature, opts.top_k or 0, gen), { dtype = "i64", device = prompt:device() })
            else
                local _, idx = ops.max(last, 2)
                next_tok = idx
            end
            pieces[#pieces + 1] = next_tok:view(Bt, 1)
            last = self:step(next_tok, caches):narrow(2, 1, V)
        end
        return ops.cat(pieces, 2)
    end)
end

-- ---- checkpoints --------------------------------------------------------------------------------

local function cjson() return require("cjson").new() end

-- weights (named_parameters order) plus metadata; MambaLM adds its MambaConfig as "config"
function Module:save(path, metadata)
    local st = require "causalconv.safetensors"
    local meta = {}
    if metadata ~= nil then
        if type(metadata) ~= "table" then raise("save: metadata: expected a table of string -> string, got " .. show(metadata)) end
        for k, v in pairs(metadata) do meta[k] = v end
    end
    if self.config then meta.config = cjson().encode(self.config) end
    -- what Hugging Face's loaders look for in a PyTorch-convention file
    meta.format = meta.format or "pt"
    st.save_safetensors(self:named_parameters(), path, meta)
end

local LOAD_OPTS = { { "device", "device" } }

-- a MambaLM from a checkpoint written by save (or by mamba_ssm with a MambaConfig "config")
function nn.load(path, opts)
    opts = args.options("nn.load", opts, LOAD_OPTS)
    local st = require "causalconv.safetensors"
    local tensors, meta = st.load_safetensors(path)
    if type(meta.config) ~= "string" then
        raise(fmt("nn.load: %s: expected metadata \"config\" (the JSON of a MambaConfig), found none", path))
    end
    local ok, cfg = pcall(cjson().decode, meta.config)
    if not ok or type(cfg) ~= "table" then raise(fmt("nn.load: %s: metadata \"config\" is not a JSON object", path)) end
    local ssm = type(cfg.ssm_cfg) == "table" and cfg.ssm_cfg or {}
    if ssm.layer ~= nil and ssm.layer ~= "Mamba1" then
        raise(fmt("nn.load: %s: ssm_cfg.layer: expected Mamba1, got %s", path, show(ssm.layer)))
    end
    if (cfg.d_intermediate or 0) ~= 0 then raise(fmt("nn.load: %s: d_intermediate: expected 0 (no MLP), got %s", path, show(cfg.d_intermediate))) end
    local emb = tensors["backbone.embedding.weight"]
    if not emb then raise(fmt("nn.load: %s: no tensor backbone.embedding.weight", path)) end
    local lm = MambaLM {
        d_model = cfg.d_model, n_layer = cfg.n_layer, vocab_size = cfg.vocab_size, d_state = ssm.d_state,
        d_conv = ssm.d_conv, expand = ssm.expand, dt_rank = ssm.dt_rank, lti = ssm.lti,
        pad_vocab_size_multiple = cfg.pad_vocab_size_multiple, tie_embeddings = cfg.tie_embeddings,
        norm_epsilon = cfg.norm_epsilon, dtype = emb:dtype(),
    }
    if lm.tie_embeddings and tensors["lm_head.weight"] then tensors["lm_head.weight"] = nil end
    lm:load_state_dict(tensors)
    if opts.device then lm:to(opts.device) end
    return lm, meta
end

return {}
