-- cc.nn: modules in the PyTorch manner. A module holds named parameters and named child
-- modules, both in the order they were added, so named_parameters() and state_dict() give
-- PyTorch's dotted names ("backbone.layers.0.mixer.in_proj.weight") in PyTorch's order.
--
--   m(x, ...) = m:forward(x, ...)
--   m:parameters()             array of the parameter tensors (leaves with requires_grad)
--   m:named_parameters()       array of {name, tensor} pairs, in registration order
--   m:state_dict()             name -> the parameter tensors themselves (so .grad is reachable)
--   m:load_state_dict(t, {strict = true})   copies values in; on any missing, unexpected,
--                              mis-shaped or mis-typed entry it raises, naming all of them, and
--                              changes nothing
--   m:train() / m:eval()       sets m.training on the whole tree
--   m:to(dtype or device or {dtype =, device =})   converts every parameter in place (the
--                              tensor objects stay the same, so an optimizer keeps working)
--   m:zero_grad()              drops every parameter's .grad
--   m:num_parameters()         the number of scalars
--   tostring(m)                the module tree with parameter counts
--
-- Modules: Linear, Embedding, RMSNorm, CausalConv1d, ModuleList (children named 0, 1, ...; m[1]
-- is child "0") and Mamba / MambaLM (mamba.lua). Initialisers, in place under no_grad, drawing
-- from the global stream (cc.manual_seed): cc.nn.init.uniform_(t, a, b), normal_(t, mean, std),
-- zero_(t), ones_(t), constant_(t, v), kaiming_uniform_(t, {a = sqrt(5)}) (PyTorch's default
-- for Linear and Conv1d weights: U(+-1/sqrt(fan_in)) with a = sqrt(5)).
--
-- A new module type: local M = cc.nn.Module:extend("Name"); function M:init(opts) ... end;
-- function M:forward(x) ... end. init registers parameters with self:register_parameter(name, t)
-- and children with self:add_module(name, m).
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tape = require "causalconv.tape"
local tensor = require "causalconv.tensor"
local ops = require "causalconv.ops"
local conv = require "causalconv.conv"
local raise = F.raise
local fmt = string.format
local show, shape_of, shape_str, same_shape = args.show, args.shape_of, args.shape_str, args.same_shape
local is_tensor = args.is_tensor

local nn = { init = {} }

-- ---- initialisers -------------------------------------------------------------------------------

local function fill_from(fname, t, src)
    args.float_tensor(fname, "t", t)
    tape.no_grad(function() t:copy_(src) end)
    return t
end

local function draw_like(t, fn, a, b)
    local sizes = t:size()
    local r = fn(sizes, { dtype = t:dtype() == "f64" and "f64" or "f32", device = t:device() })
    return ops.add(ops.mul(r, b), a)
end

function nn.init.uniform_(t, a, b)
    a, b = a or 0, b or 1
    args.number("uniform_", "a", a)
    args.number("uniform_", "b", b)
    if not (a <= b) then raise(fmt("uniform_: expected a <= b, got a %s, b %s", show(a), show(b))) end
    return fill_from("uniform_", t, draw_like(t, tensor.rand, a, b - a))
end

function nn.init.normal_(t, mean, std)
    mean, std = mean or 0, std or 1
    args.number("normal_", "mean", mean)
    args.number("normal_", "std", std)
    if not (std >= 0) then raise("normal_: std: expected a number >= 0, got " .. show(std)) end
    return fill_from("normal_", t, draw_like(t, tensor.randn, mean, std))
end

function nn.init.constant_(t, v)
    args.number("constant_", "v", v)
    args.float_tensor("constant_", "t", t)
    tape.no_grad(function() t:fill_(v) end)
    return t
end
function nn.init.zero_(t) return nn.init.constant_(t, 0) end
function nn.init.ones_(t) return nn.init.constant_(t, 1) end

-- fan_in as PyTorch counts it: size(2) * (the product of the sizes after it)
local function fan_in(fname, t)
    args.float_tensor(fname, "t", t)
    if t:dim() < 2 then raise(fmt("%s: t: expected at least 2 dims (fan_in is size(2) * ...), got %s", fname, show(t))) end
    local n = 1
    for d = 2, t:dim() do n = n * t:size(d) end
    return n
end

local KAIMING_OPTS = { { "a", "number" } }

function nn.init.kaiming_uniform_(t, opts)
    opts = args.options("kaiming_uniform_", opts, KAIMING_OPTS)
    local a = opts.a or 0
    local gain = math.sqrt(2 / (1 + a * a))
    local bound = gain * math.sqrt(3 / fan_in("kaiming_uniform_", t))
    return nn.init.uniform_(t, -bound, bound)
end

-- ---- Module -------------------------------------------------------------------------------------

local Module = { __name = "Module" }
Module.__index = Module
nn.Module = Module

-- A subclass: instances are made by calling it, Class(opts), which runs init(opts).
function Module:extend(name)
    local cls = setmetatable({ __name = name }, { __index = self, __call = function(c, ...) return c.new(c, ...) end })
    cls.__index = cls
    cls.__call = function(m, ...) return m:forward(...) end
    cls.__tostring = Module.__tostring
    return cls
end

function Module.new(cls, ...)
    local m = setmetatable({ _param_names = {}, _module_names = {}, _params = {}, _modules = {}, training = true }, cls)
    m:init(...)
    return m
end

function Module:init() end

function Module:forward()
    raise(fmt("%s:forward: this module type defines no forward", self.__name))
end

function Module:register_parameter(name, t)
    if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
        raise("register_parameter: name: expected a non-empty string without dots, got " .. show(name))
    end
    args.float_tensor("register_parameter", name, t)
    if self._params[name] or self._modules[name] then raise("register_parameter: " .. name .. " is already registered") end
    if not t:is_leaf() then t = t:detach() end
    t:requires_grad_(true)
    self._param_names[#self._param_names + 1] = name
    self._params[name] = t
    self[name] = t
    return t
end

function Module:add_module(name, m)
    if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
        raise("add_module: name: expected a non-empty string without dots, got " .. show(name))
    end
    if getmetatable(m) == nil or not m._params then raise("add_module: " .. name .. ": expected a cc.nn module, got " .. show(m)) end
    if self._params[name] or self._modules[name] then raise("add_module: " .. name .. " is already registered") end
    self._module_names[#self._module_names + 1] = name
    self._modules[name] = m
    self[name] = m
    return m
end

-- calls fn(prefix, module) for every module of the tree, parents before children
local function walk(m, prefix, fn)
    fn(prefix, m)
    for _, name in ipairs(m._module_names) do walk(m._modules[name], prefix .. name .. ".", fn) end
end

function Module:named_parameters()
    local out = {}
    walk(self, "", function(prefix, m)
        for _, name in ipairs(m._param_names) do out[#out + 1] = { prefix .. name, m._params[name] } end
    end)
    return out
end

function Module:parameters()
    local out = {}
    for i, np in ipairs(self:named_parameters()) do out[i] = np[2] end
    return out
end

function Module:num_parameters()
    local n = 0
    for _, p in ipairs(self:parameters()) do n = n + p:numel() end
    return n
end

function Module:state_dict()
    local out = {}
    for _, np in ipairs(self:named_parameters()) do out[np[1]] = np[2] end
    return out
end

local LOAD_OPTS = { { "strict", "boolean" } }

function Module:load_state_dict(t, opts)
    if type(t) ~= "table" or is_tensor(t) then
        raise("load_state_dict: state_dict: expected a table of name -> tensor, got " .. show(t))
    end
    opts = args.options("load_state_dict", opts, LOAD_OPTS)
    local strict = opts.strict ~= false
    local problems, known = {}, {}
    for _, np in ipairs(self:named_parameters()) do
        local name, p = np[1], np[2]
        known[name] = true
        local v = t[name]
        if v == nil then
            if strict then problems[#problems + 1] = "missing " .. name end
        elseif not is_tensor(v) then
            problems[#problems + 1] = fmt("%s: expected a tensor, got %s", name, show(v))
        elseif not same_shape(shape_of(v), shape_of(p)) then
            problems[#problems + 1] = fmt("%s: expected shape %s, got %s", name, shape_str(shape_of(p)), shape_str(shape_of(v)))
        elseif v:dtype() ~= p:dtype() then
            problems[#problems + 1] = fmt("%s: expected dtype %s, got %s", name, p:dtype(), v:dtype())
        end
    end
    if strict then
        local extra = {}
        for name in pairs(t) do if not known[name] then extra[#extra + 1] = tostring(name) end end
        table.sort(extra)
        for _, name in ipairs(extra) do problems[#problems + 1] = "unexpected " .. name end
    end
    if #problems > 0 then
        raise(fmt("load_state_dict: %d problem%s, nothing was loaded: %s", #problems, #problems == 1 and "" or "s",
            table.concat(problems, "; ")))
    end
    tape.no_grad(function()
        for _, np in ipairs(self:named_parameters()) do
            local v = t[np[1]]
            if v ~= nil then np[2]:copy_(v) end
        end
    end)
    return self
end

function Module:train(on)
    if on == nil then on = true end
    walk(self, "", function(_, m) m.training = on end)
    return self
end

function Module:eval() return self:train(false) end

function Module:zero_grad()
    for _, p in ipairs(self:parameters()) do p.grad = nil end
end

-- in place: each parameter table keeps its identity and takes the converted storage
function Module:to(a)
    local params = self:parameters()
    local converted = {}
    for i, p in ipairs(params) do converted[i] = p:detach():to(a) end
    for i, p in ipairs(params) do
        if converted[i]._h ~= p._h then
            p._h = converted[i]._h
            p.grad = nil
        end
    end
    return self
end

-- a one-line description of the module itself (without its children)
function Module:describe() return self.__name end

local function commas(n)
    local s = tostring(n)
    repeat local k; s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2") until k == 0
    return s
end

function Module:__tostring()
    local lines = {}
    local function visit(m, name, indent)
        local head = name and (name .. ": ") or ""
        lines[#lines + 1] = fmt("%s%s%s  (%s parameters)", indent, head, m:describe(), commas(m:num_parameters()))
        for _, child in ipairs(m._module_names) do visit(m._modules[child], child, indent .. "  ") end
    end
    visit(self, nil, "")
    return table.concat(lines, "\n")
end

-- ---- option tables shared by the layers ---------------------------------------------------------

-- {dtype =, device =} for the constructors; nil entries keep the defaults (f32, cpu)
local function ctor(opts) return { dtype = opts.dtype, device = opts.device } end
nn.ctor_options = ctor

local function required(fname, opts, name)
    local v = opts[name]
    if v == nil then raise(fmt("%s: %s: expected a positive integer, got nil", fname, name)) end
    return v
end
nn.required = required

local function options(fname, opts, spec)
    if opts == nil then raise(fmt("%s: expected a table of options like %s{...}, got nil", fname, fname)) end
    return args.options(fname, opts, spec)
end
nn.options = options

-- ---- layers -------------------------------------------------------------------------------------

local Linear = Module:extend("Linear")
nn.Linear = Linear
local LINEAR_OPTS = { { "in_features", "positive" }, { "out_features", "positive" }, { "bias", "boolean" },
                      { "dtype", "dtype" }, { "device", "device" } }

-- cc.nn.Linear{in_features, out_features, bias = true}: weight (out, in), PyTorch's init
function Linear:init(opts)
    opts = options("Linear", opts, LINEAR_OPTS)
    local nin, nout = required("Linear", opts, "in_features"), required("Linear", opts, "out_features")
    self.in_features, self.out_features = nin, nout
    local w = self:register_parameter("weight", tensor.empty(nout, nin, ctor(opts)))
    nn.init.kaiming_uniform_(w, { a = math.sqrt(5) })
    if opts.bias ~= false then
        local b = self:register_parameter("bias", tensor.empty(nout, ctor(opts)))
        local bound = 1 / math.sqrt(nin)
        nn.init.uniform_(b, -bound, bound)
    end
end

function Linear:forward(x) return ops.linear(x, self.weight, self.bias) end
function Linear:describe() return fmt("Linear(%d -> %d%s)", self.in_features, self.out_features, self.bias and "" or ", no bias") end

local Embedding = Module:extend("Embedding")
nn.Embedding = Embedding
local EMBEDDING_OPTS = { { "num_embeddings", "positive" }, { "embedding_dim", "positive" },
                         { "dtype", "dtype" }, { "device", "device" } }

-- cc.nn.Embedding{num_embeddings, embedding_dim}: weight (V, d) ~ N(0, 1) as in PyTorch
function Embedding:init(opts)
    opts = options("Embedding", opts, EMBEDDING_OPTS)
    self.num_embeddings = required("Embedding", opts, "num_embeddings")
    self.embedding_dim = required("Embedding", opts, "embedding_dim")
    nn.init.normal_(self:register_parameter("weight", tensor.empty(self.num_embeddings, self.embedding_dim, ctor(opts))))
end

function Embedding:forward(ids) return ops.embedding(self.weight, ids) end
function Embedding:describe() return fmt("Embedding(%d, %d)", self.num_embeddings, self.embedding_dim) end

local RMSNorm = Module:extend("RMSNorm")
nn.RMSNorm = RMSNorm
local RMSNORM_OPTS = { { "dim", "positive" }, { "eps", "number" }, { "dtype", "dtype" }, { "device", "device" } }

-- cc.nn.RMSNorm{dim, eps = 1e-5}: weight (dim) = 1
function RMSNorm:init(opts)
    opts = options("RMSNorm", opts, RMSNORM_OPTS)
    self.dim = required("RMSNorm", opts, "dim")
    self.eps = opts.eps or 1e-5
    nn.init.ones_(self:register_parameter("weight", tensor.empty(self.dim, ctor(opts))))
end

function RMSNorm:forward(x) return ops.rms_norm(x, self.weight, self.eps) end
function RMSNorm:describe() return fmt("RMSNorm(%d, eps %g)", self.dim, self.eps) end

local CausalConv1d = Module:extend("CausalConv1d")
nn.CausalConv1d = CausalConv1d
local CONV_OPTS = { { "channels", "positive" }, { "kernel_size", "positive" }, { "bias", "boolean" },
                    { "activation", "activation" }, { "dtype", "dtype" }, { "device", "device" } }

-- cc.nn.CausalConv1d{channels, kernel_size, bias = true, activation = nil | "silu"}: depthwise,
-- weight (D, 1, W) as PyTorch's Conv1d(groups = D) stores it, w[:, 0, W-1] on the current sample
function CausalConv1d:init(opts)
    opts = options("CausalConv1d", opts, CONV_OPTS)
    local D, W = required("CausalConv1d", opts, "channels"), required("CausalConv1d", opts, "kernel_size")
    self.channels, self.kernel_size, self.activation = D, W, opts.activation
    local w = self:register_parameter("weight", tensor.empty(D, 1, W, ctor(opts)))
    nn.init.kaiming_uniform_(w, { a = math.sqrt(5) })
    if opts.bias ~= false then
        local bound = 1 / math.sqrt(W)
        nn.init.uniform_(self:register_parameter("bias", tensor.empty(D, ctor(opts))), -bound, bound)
    end
end

-- x (B, D, L) in either layout -> (B, D, L)
function CausalConv1d:forward(x, opts)
    local o = { activation = self.activation }
    if opts then for k, v in pairs(opts) do o[k] = v end end
    return conv.causal_conv1d(x, self.weight:view(self.channels, self.kernel_size), self.bias, o)
end

function CausalConv1d:describe()
    return fmt("CausalConv1d(%d, kernel %d%s)", self.channels, self.kernel_size, self.activation and ", " .. self.activation or "")
end

local ModuleList = Module:extend("ModuleList")
nn.ModuleList = ModuleList

-- cc.nn.ModuleList{m1, m2, ...}: children named "0", "1", ... as in PyTorch; list[i] is child i-1
function ModuleList:init(list)
    if type(list) ~= "table" then raise("ModuleList: expected a list of modules, got " .. show(list)) end
    for i, m in ipairs(list) do
        self:add_module(tostring(i - 1), m)
        rawset(self, i, m)
    end
    self.n = #list
end

function ModuleList:describe() return fmt("ModuleList(%d)", self.n) end

-- x:uniform_(a, b) and x:normal_(mean, std): the initialisers above as tensor methods (in
-- place, under no_grad, from the global stream; defaults U(0, 1) and N(0, 1))
tensor.Tensor.add_method("uniform_", function(self, a, b) return nn.init.uniform_(self, a, b) end)
tensor.Tensor.add_method("normal_", function(self, mean, std) return nn.init.normal_(self, mean, std) end)

return { nn = nn }
