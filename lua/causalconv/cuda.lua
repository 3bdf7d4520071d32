-- cc.cuda: the CUDA device from Lua.
--   cc.cuda.is_built()       compiled with CUDA (real or emulated)
--   cc.cuda.is_emulated()    kernels run on the CPU emulation (the test build)
--   cc.cuda.is_available()   a device can be used now (false, quietly, on a machine without GPU)
--   cc.cuda.device_count()
--   cc.cuda.device_name()    e.g. "NVIDIA H100 80GB HBM3", "causalconv CPU emulation"
--   cc.cuda.synchronize()    waits for every queued kernel and copy; raises their errors
--   cc.cuda.memory_stats()   {allocated =, reserved =, peak_allocated =, num_allocs =,
--                            device_to_host_copies =} (bytes; counts)
--   cc.cuda.reset_peak_memory_stats()   peak_allocated starts again from allocated
--                            (allocated: live tensors; reserved: that plus the allocator's cache;
--                            num_allocs: cudaMalloc calls so far; device_to_host_copies: copies
--                            to the host so far, each a wait for the device)
--   cc.cuda.empty_cache()    returns the cached blocks to the driver
--   cc.cuda.timer()          starts a device-event timer: `local t = cc.cuda.timer(); ...;
--                            local ms = t:stop()` (stop waits for the work queued in between)
local F = require "causalconv.ffi"
local ffi, C, check, raise = F.ffi, F.C, F.check, F.raise

local Timer = {}
Timer.__index = Timer

-- Milliseconds of device time since the timer started; a timer stops once.
function Timer:stop()
    if self._h == nil then raise("cuda timer: stop: this timer was already stopped") end
    local h = ffi.gc(self._h, nil)   -- stop frees the C timer itself
    self._h = nil
    local ms = ffi.new("double[1]")
    check(C.cc_cuda_timer_stop(h, ms))
    return ms[0]
end

local function timer_free(h)
    C.cc_cuda_timer_stop(h, nil)
end

local cuda = {}

function cuda.is_built() return C.cc_cuda_is_built() ~= 0 end
function cuda.is_emulated() return C.cc_cuda_is_emulated() ~= 0 end
function cuda.is_available() return C.cc_cuda_is_available() ~= 0 end
function cuda.device_count() return tonumber(C.cc_cuda_device_count()) end

function cuda.device_name()
    local buf = ffi.new("char[256]")
    check(C.cc_cuda_device_name(buf, 256))
    return ffi.string(buf)
end

function cuda.synchronize() check(C.cc_cuda_synchronize()) end

function cuda.memory_stats()
    local v = ffi.new("int64_t[4]")
    check(C.cc_cuda_memory_stats(v, v + 1, v + 2, v + 3))
    return {
        allocated = tonumber(v[0]), reserved = tonumber(v[1]),
        peak_allocated = tonumber(v[2]), num_allocs = tonumber(v[3]),
        device_to_host_copies = tonumber(C.cc_cuda_device_to_host_copies()),
    }
end

-- peak_allocated starts again from what is allocated now (to measure one call's peak)
function cuda.reset_peak_memory_stats() check(C.cc_cuda_reset_peak_memory_stats()) end

function cuda.empty_cache()
    -- tensors Lua no longer references still hold blocks until they are collected
    collectgarbage()
    check(C.cc_cuda_empty_cache())
end

function cuda.timer()
    local p = ffi.new("void*[1]")
    check(C.cc_cuda_timer_start(p))
    return setmetatable({ _h = ffi.gc(p[0], timer_free) }, Timer)
end

return { cuda = cuda }
