-- The selective scan never materialises anything of size Bt * Di * N * L: the peak device
-- allocation of a forward and a backward call, read from the caching allocator's counters
-- (cc.cuda.memory_stats, peak reset before the call), stays far below that size. On cuda only
-- (the emulation under `make test-emu`, a GPU under `make test-cuda`): the CPU kernels' scratch is
-- plain malloc, sized per thread (kernels/cpu/selective_scan_bwd.c).
local cc = require "causalconv"

if TEST_DEVICE ~= "cpu" then
    describe("selective scan memory #cuda", function()
        -- Bt=1 Di=128 N=32 L=1024: the materialised state would be 16 MiB in f32, the inputs
        -- and outputs of a call are about 3 MiB.
        local Bt, Di, N, L = 1, 128, 32, 1024
        local full = Bt * Di * N * L * 4
        local dev = { device = TEST_DEVICE }
        local function inputs()
            return {
                u = cc.randn(Bt, Di, L, dev), delta = cc.randn(Bt, Di, L, dev) * 0.5 - 1,
                A = cc.randn(Di, N, dev):abs() * -1, B = cc.randn(Bt, N, L, dev), C = cc.randn(Bt, N, L, dev),
                D = cc.randn(Di, dev), z = cc.randn(Bt, Di, L, dev), bias = cc.randn(Di, dev),
                dout = cc.randn(Bt, Di, L, dev),
            }
        end

        -- peak bytes allocated by fn beyond what was allocated before it; fn's results stay
        -- alive until the reading
        local function peak_of(fn)
            collectgarbage()
            cc.cuda.synchronize()
            cc.cuda.reset_peak_memory_stats()
            local before = cc.cuda.memory_stats().allocated
            local keep = { fn() }
            cc.cuda.synchronize()
            local peak = cc.cuda.memory_stats().peak_allocated - before
            keep = nil
            return peak
        end

        it("a forward with last_state allocates its outputs and little else", function()
            local x = inputs()
            local peak = peak_of(function()
                return cc.selective_scan(x.u, x.delta, x.A, x.B, x.C, { D = x.D, z = x.z, delta_bias = x.bias,
                    delta_softplus = true, return_last_state = true })
            end)
            local outputs = (Bt * Di * L + Bt * Di * N) * 4
            assert.is_true(peak >= outputs, "peak " .. peak .. " below the outputs' " .. outputs)
            assert.is_true(peak <= outputs + full / 16, "forward peak " .. peak .. " bytes, full state " .. full)
        end)

        it("a backward (every gradient) allocates its gradients plus scratch far below the full state", function()
            local x = inputs()
            local peak = peak_of(function()
                return cc.selective_scan_backward(x.u, x.delta, x.A, x.B, x.C, x.dout, { D = x.D, z = x.z,
                    delta_bias = x.bias, delta_softplus = true })
            end)
            -- du, ddelta, dz (Bt, Di, L); dB, dC (Bt, N, L); dA (Di, N); dD, ddelta_bias (Di)
            local grads = (3 * Bt * Di * L + 2 * Bt * N * L + Di * N + 2 * Di) * 4
            assert.is_true(peak >= grads, "peak " .. peak .. " below the gradients' " .. grads)
            assert.is_true(peak <= grads + full / 8, "backward peak " .. peak .. " bytes, full state " .. full)
        end)
    end)
end
