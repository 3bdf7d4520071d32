-- The one tolerance table of the specs: |actual - expected| <= atol + rtol * |expected|.
--   default[dtype]      assert.tensor_near's defaults (helpers.lua), by the less precise dtype of the two
--   conv[dtype]         conv results (out, dx, states) by x's dtype: Dao's causal-conv1d table; f64
--                       computes in f64 everywhere
--   conv_weight_grad    dweight / dbias (accumulated in f32, or f64 for f64 x)
--   oracle[dtype]       conv results against an exact reference (the plain-Lua f64 oracle,
--                       PyTorch's f64), by the looser of x's and the result's dtype
--   ops_cuda[dtype]     pointwise/reduction ops on cuda against the cpu (the values ops_cuda_spec.lua uses)
--   scan[dtype][result] selective scan results (out, last_state, du, ddelta, dA, dB, dC, dD, dz,
--                       ddelta_bias, dinitial_state; the state update's out and state use out's) by
--                       the looser of the input's and the result's dtype, against an f64 result on
--                       the same rounded inputs or another kernel
--   loosest(a, b, ...)  the least precise of the dtypes given (f64 < f32 < f16 < bf16; integers exact)
local T = {}

T.default = {
    f64 = { atol = 1e-10, rtol = 1e-8 }, f32 = { atol = 1e-5, rtol = 1e-4 },
    f16 = { atol = 1e-3, rtol = 1e-3 }, bf16 = { atol = 1e-2, rtol = 1e-2 },
    i32 = { atol = 0, rtol = 0 }, i64 = { atol = 0, rtol = 0 },
}

T.conv = {
    f32 = { atol = 1e-3, rtol = 3e-4 },
    f16 = { atol = 5e-3, rtol = 3e-3 },
    bf16 = { atol = 5e-2, rtol = 1e-2 },
    f64 = { atol = 1e-9, rtol = 1e-9 },
}

T.conv_weight_grad = { atol = 1e-3, rtol = 1e-3 }

-- conv results against an exact reference (the plain-Lua f64 oracle, or PyTorch's f64): only the
-- library's own rounding is left, f32 arithmetic then one rounding to the result's dtype
-- (half an ulp: 2^-11 for f16, 2^-8 for bf16), so these are far tighter than Dao's table
T.oracle = {
    f64 = { atol = 1e-12, rtol = 1e-12 },
    f32 = { atol = 2e-5, rtol = 1e-5 },
    f16 = { atol = 2e-5, rtol = 1e-3 },
    bf16 = { atol = 2e-5, rtol = 4e-3 },
}

T.ops_cuda = {
    f64 = { atol = 1e-10, rtol = 1e-9 }, f32 = { atol = 1e-5, rtol = 1e-4 },
    f16 = { atol = 2e-3, rtol = 2e-3 }, bf16 = { atol = 2e-2, rtol = 2e-2 },
}

-- selective scan: f64 computes in f64 everywhere (only the order of the sums differs); f32 is
-- mamba's own fp32 table (mamba_block.md section 6 item 4: test_selective_scan, CUDA vs CPU), the
-- upper bound; f16 / bf16 compute in f32 too and add one rounding of the result to the dtype
-- (relative 2^-11 / 2^-8), still well inside mamba's fp16 (3e-3 / 5e-3) and bf16 (3e-2 / 5e-2) table
do
    local f32 = {
        out = { atol = 2e-3, rtol = 6e-4 }, last_state = { atol = 2e-3, rtol = 6e-4 },
        du = { atol = 4e-3, rtol = 1.2e-3 }, ddelta = { atol = 2e-2, rtol = 3e-3 },
        dA = { atol = 1e-2, rtol = 1e-3 }, dB = { atol = 2e-3, rtol = 6e-4 }, dC = { atol = 2e-3, rtol = 6e-4 },
        dD = { atol = 2e-3, rtol = 1e-3 }, dz = { atol = 2e-3, rtol = 1e-3 },
        ddelta_bias = { atol = 2e-3, rtol = 1e-3 }, dinitial_state = { atol = 4e-3, rtol = 1.2e-3 },
    }
    local function plus_rounding(r)
        local t = {}
        for k, v in pairs(f32) do t[k] = { atol = v.atol, rtol = v.rtol + r } end
        return t
    end
    local f64 = {}
    for k in pairs(f32) do f64[k] = { atol = 1e-12, rtol = 1e-12 } end
    T.scan = { f64 = f64, f32 = f32, f16 = plus_rounding(2 ^ -11), bf16 = plus_rounding(2 ^ -8) }
end

local LOOSENESS = { f64 = 0, i32 = 0, i64 = 0, f32 = 1, f16 = 2, bf16 = 3 }

function T.loosest(...)
    local worst
    for i = 1, select("#", ...) do
        local d = select(i, ...)
        if d and (not worst or LOOSENESS[d] > LOOSENESS[worst]) then worst = d end
    end
    return worst
end

return T
