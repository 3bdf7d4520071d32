-- cc.help(): a short guide, then every other function the modules export; cc.help(fn) and
-- cc.help("name"): one function's page from help_docs.lua (the one source of the text), also for
-- the functions of cc.nn, cc.optim, cc.bench, cc.cuda and cc.autograd ("nn.Linear", cc.bench.time).
local HELP = [[
causalconv %s -- dims and positions are 1-based, negative dims count from the end.
Tensors   cc.tensor({{1, 2}, {3, 4}}), cc.zeros(2, 3), cc.ones({2, 3}), cc.empty(...),
          cc.full({2, 3}, 7.5), cc.arange(n) / cc.arange(start, stop[, step]),
          cc.rand(...), cc.randn(...); options last: {dtype = "f32"|"f64"|"f16"|"bf16"|"i32"|"i64",
          device = "cpu"|"cuda"}. Also cc.zeros_like(x), cc.randn_like(x), ...
Inspect   x:size([d]) x:dim() x:numel() x:stride([d]) x:dtype() x:device() x:is_contiguous()
          x[{i, j}] (read/write one element), x:item(), x:totable(), print(x)
Views     x:transpose(d1, d2) x:t() x:permute(...) x:narrow(dim, start, len) x:select(dim, i)
          x:view(...) x:reshape(...) x:expand(...) x:unsqueeze(d) x:squeeze([d])
Copies    x:contiguous() x:clone() x:to("f64" | "cuda" | {dtype=, device=}) x:cuda() x:cpu()
          x:copy_(y) x:fill_(v) x:zero_()
Files     cc.load_npy(path), cc.save_npy(x, path) / x:save_npy(path)
Random    cc.manual_seed(s), cc.initial_seed(); threads: cc.set_num_threads(n), cc.get_num_threads()
REPL      _ is the last result; reload() re-reads the Lua modules (old tensors keep working);
          `a = 1; a + 1` prints 2; Tab completes cc. names and x: methods; history in
          ~/.causalconv_history ($CAUSALCONV_HISTORY); cc.set_printoptions({linewidth = n})]]

-- the names the guide above already covers
local CORE = {
    tensor = true, zeros = true, ones = true, empty = true, full = true, arange = true, rand = true,
    randn = true, zeros_like = true, ones_like = true, empty_like = true, full_like = true,
    rand_like = true, randn_like = true, load_npy = true, save_npy = true, manual_seed = true,
    initial_seed = true, set_num_threads = true, get_num_threads = true, help = true,
    is_tensor = true, set_reference_kernels = true, get_reference_kernels = true,
    set_printoptions = true, get_printoptions = true,
    transpose = true, t = true, permute = true, narrow = true, select = true, view = true, reshape = true,
    expand = true, unsqueeze = true, squeeze = true, contiguous = true, clone = true,
}
local NOT_LISTED = { Tensor = true, C = true, ffi = true, modules = true }

local M = {}

local DOCS = require "causalconv.help_docs"

local function indent(text, pad) return (text:gsub("\n", "\n" .. pad)) end

-- The page of one function: signature, shapes, options with defaults, a two-line example.
local function page(name, d)
    local pad = "           "
    return table.concat({
        d.sig,
        "  shapes   " .. indent(d.shapes, pad),
        "  options  " .. indent(d.opts, pad),
        "  example  " .. indent(d.ex, pad),
    }, "\n")
end

local function general()
    local cc = require "causalconv"   -- the assembled table (loaded after this module)
    print(string.format(HELP, cc.version))
    local more = {}
    for k, v in pairs(cc) do
        if not CORE[k] and not NOT_LISTED[k] then
            if type(v) == "function" then
                more[#more + 1] = "cc." .. k
            elseif type(v) == "table" then
                more[#more + 1] = "cc." .. k .. ".*"
            end
        end
    end
    table.sort(more)
    local lines, line = {}, "More      "
    for _, name in ipairs(more) do
        if #line + #name + 1 > 96 then lines[#lines + 1] = line; line = "          " end
        line = line .. name .. " "
    end
    lines[#lines + 1] = line
    lines[#lines + 1] = "Help      cc.help(cc.causal_conv1d) or cc.help(\"causal_conv1d\"): one function's signature, shapes,"
    lines[#lines + 1] = "          options and an example; the namespaces too: cc.help(\"nn.Linear\"), cc.help(cc.optim.AdamW),"
    lines[#lines + 1] = "          cc.help(\"nn.Module:forward\"), cc.help(cc.bench.time); tensor methods: cc.help(\"x:size\")"
    print(table.concat(lines, "\n"))
end

-- The namespaces with pages keyed by their path after cc. ("nn.Linear", "bench.time"); a
-- method of a class (a table with __name or a __call metamethod) is "nn.MambaLM:step".
local NAMESPACES = { "nn", "optim", "bench", "cuda", "autograd" }

-- visit(key, value) for every function and class reachable in the namespaces (keys starting
-- with "__" are not followed).
local function walk_namespaces(cc, visit)
    local seen = {}
    local function walk(t, path, in_class)
        if seen[t] then return end
        seen[t] = true
        for k, v in pairs(t) do
            if type(k) == "string" and k:sub(1, 2) ~= "__" then
                local key = in_class and (path .. ":" .. k) or (path .. "." .. k)
                if type(v) == "function" then
                    if visit(key, v) then return true end
                elseif type(v) == "table" and not cc.is_tensor(v) then
                    local mt = getmetatable(v)
                    local is_class = rawget(v, "__name") ~= nil or (type(mt) == "table" and rawget(mt, "__call") ~= nil)
                    if is_class and visit(key, v) then return true end
                    if walk(v, key, is_class) then return true end
                end
            end
        end
    end
    for _, ns in ipairs(NAMESPACES) do
        if type(cc[ns]) == "table" and walk(cc[ns], ns, false) then return end
    end
end

-- The page key for a namespace key: itself, or for a Module type's init / forward / describe
-- (methods every module has) the nn.Module page.
local function resolve(cc, key)
    if DOCS[key] then return key end
    local cls, m = key:match("^nn%.([%w_]+)[:.]([%w_]+)$")
    if cls and DOCS["nn." .. cls .. ":" .. m] then return "nn." .. cls .. ":" .. m end
    if cls and type(cc.nn) == "table" and type(cc.nn[cls]) == "table" and DOCS["nn.Module:" .. m] then
        return "nn.Module:" .. m
    end
    local ns, c2, m2 = key:match("^(%a+)%.([%w_]+)%.([%w_]+)$")   -- "optim.LRScheduler.step"
    if ns and DOCS[ns .. "." .. c2 .. ":" .. m2] then return ns .. "." .. c2 .. ":" .. m2 end
    return nil
end

-- The page of Tensor method or helper k: cc.k's when it is also a function there (x:sum), else
-- "Tensor:k" (x:size) or "Tensor.k" (Tensor.add_method).
local function tensor_key(k)
    if DOCS[k] then return k end
    if DOCS["Tensor:" .. k] then return "Tensor:" .. k end
    if DOCS["Tensor." .. k] then return "Tensor." .. k end
    return k
end

-- cc.help(): the guide and the list of functions; cc.help(fn) / cc.help("name") (also "cc.name",
-- "x:name" for any tensor method): that function's page. The namespaces too:
-- cc.help(cc.nn.Linear), cc.help("nn.Linear"), cc.help("optim.AdamW"), cc.help("nn.Module:forward").
function M.help(what)
    if what == nil then return general() end
    local cc = require "causalconv"
    local name
    if type(what) == "function" or type(what) == "table" then
        for k, v in pairs(cc) do if v == what and type(v) == "function" then name = k; break end end
        if not name and type(what) == "function" then
            for k, v in pairs(cc.Tensor) do if v == what then name = tensor_key(k); break end end
        end
        if not name then
            walk_namespaces(cc, function(key, v)
                if v == what then name = resolve(cc, key) or key; return true end
            end)
        end
    elseif type(what) == "string" then
        local plain = what:gsub("^cc%.", "")
        name = resolve(cc, plain)
        if not name then name = tensor_key((plain:gsub("^[%a_][%w_]*[:.]", ""))) end
    end
    local d = name and DOCS[name]
    if not d then
        local shown = type(what) == "string" and string.format("%q", what) or tostring(what)
        print("cc.help: no page for " .. shown .. " (cc.help() lists the functions)")
        return
    end
    print(page(name, d))
end

return M
