-- causalconv: `local cc = require "causalconv"`.
-- Assembles the `cc` table: the FFI binding, then each submodule present on disk in a fixed
-- order. A submodule returns install(cc), which adds functions to cc and methods to cc.Tensor.
-- A missing submodule is skipped; a broken one raises.
local F = require "causalconv.ffi"
local ffi, C, raise = F.ffi, F.C, F.raise

local cc = {}
cc.version = "0.1.0"
cc.ffi = ffi
cc.C = C
cc.libpath = F.libpath

local MODULES = { "tensor", "cuda", "ops", "conv", "autograd", "gradcheck", "bench" }
cc.modules = {}
for _, name in ipairs(MODULES) do
    local modname = "causalconv." .. name
    if package.searchpath(modname, package.path) then
        require(modname)(cc)
        cc.modules[#cc.modules + 1] = name
    end
end

local function show(v) return cc._show and cc._show(v) or tostring(v) end

-- Seeds the Philox generator every random op draws from (cpu and cuda alike).
function cc.manual_seed(seed)
    if type(seed) == "number" then
        if seed < 0 or seed ~= math.floor(seed) or seed >= 2 ^ 64 then
            raise("manual_seed: seed: expected a non-negative integer, got " .. show(seed))
        end
    elseif not (ffi.istype("uint64_t", seed) or (ffi.istype("int64_t", seed) and seed >= 0)) then
        raise("manual_seed: seed: expected a non-negative integer, got " .. show(seed))
    end
    C.cc_manual_seed(seed)
end

-- The last seed set (a Lua number when it fits exactly, else uint64 cdata).
function cc.initial_seed()
    local s = C.cc_initial_seed()
    if s < 2 ^ 53 then return tonumber(s) end
    return s
end

function cc.set_num_threads(n)
    if type(n) ~= "number" or n < 1 or n > 1024 or n ~= math.floor(n) then
        raise("set_num_threads: n: expected an integer from 1 to 1024, got " .. show(n))
    end
    F.check(C.cc_set_num_threads(n))
end

function cc.get_num_threads() return C.cc_get_num_threads() end

-- On: cpu ops run the plain scalar reference kernels (the test oracle).
function cc.set_reference_kernels(on) C.cc_set_reference_kernels(on and 1 or 0) end
function cc.get_reference_kernels() return C.cc_get_reference_kernels() ~= 0 end

-- Reads a .npy file (f32 f64 f16 i32 i64, C or Fortran order) into a cpu tensor.
function cc.load_npy(path)
    if type(path) ~= "string" then raise("load_npy: path: expected a string, got " .. show(path)) end
    return cc._new_storage(C.cc_npy_load, path)
end

function cc.save_npy(t, path)
    if not cc.is_tensor(t) then raise("save_npy: t: expected a causalconv.Tensor, got " .. show(t)) end
    return t:save_npy(path)
end

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
REPL      _ is the last result; reload() re-reads the Lua modules; `rlwrap make repl` adds line editing]]

-- Prints a short guide, then the functions other modules added.
function cc.help()
    print(string.format(HELP, cc.version))
    local core = {
        tensor = true, zeros = true, ones = true, empty = true, full = true, arange = true, rand = true,
        randn = true, zeros_like = true, ones_like = true, empty_like = true, full_like = true,
        rand_like = true, randn_like = true, load_npy = true, save_npy = true, manual_seed = true,
        initial_seed = true, set_num_threads = true, get_num_threads = true, help = true,
        is_tensor = true, set_reference_kernels = true, get_reference_kernels = true,
    }
    local more = {}
    for k, v in pairs(cc) do
        if not core[k] and k:sub(1, 1) ~= "_" then
            if type(v) == "function" then
                more[#more + 1] = "cc." .. k
            elseif type(v) == "table" and k ~= "Tensor" and k ~= "C" and k ~= "ffi" and k ~= "modules" then
                more[#more + 1] = "cc." .. k .. ".*"
            end
        end
    end
    if #more > 0 then
        table.sort(more)
        local lines, line = {}, "More      "
        for _, name in ipairs(more) do
            if #line + #name + 1 > 96 then lines[#lines + 1] = line; line = "          " end
            line = line .. name .. " "
        end
        lines[#lines + 1] = line
        print(table.concat(lines, "\n"))
    end
end

return cc
