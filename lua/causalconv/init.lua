-- causalconv: `local cc = require "causalconv"`.
-- Loads the binding's modules and merges the tables they return into `cc`. Each module is an
-- ordinary module that requires what it uses; a missing or broken module is an error, and so
-- is a name that two modules define. Besides the modules' names, cc holds:
--   cc.version, cc.ffi (LuaJIT's ffi), cc.C (the loaded library), cc.libpath (its file),
--   cc.modules (the names of the modules merged, in load order).
local F = require "causalconv.ffi"

local MODULES = { "tensor", "printing", "tape", "cuda", "ops", "conv", "scan", "random", "safetensors", "nn", "mamba", "optim", "gradcheck", "bench", "help" }

local cc = {
    version = "0.1.0",
    ffi = F.ffi,
    C = F.C,
    libpath = F.libpath,
    modules = {},
}

local from = {}
for k in pairs(cc) do from[k] = "init" end

for _, name in ipairs(MODULES) do
    local mod = require("causalconv." .. name)
    if type(mod) ~= "table" then
        error(string.format("causalconv: module causalconv.%s returned %s, expected a table", name, type(mod)), 0)
    end
    for k, v in pairs(mod) do
        if from[k] then
            error(string.format("causalconv: cc.%s is defined by both %s and %s", tostring(k), from[k], name), 0)
        end
        from[k] = name
        cc[k] = v
    end
    cc.modules[#cc.modules + 1] = name
end

return cc
