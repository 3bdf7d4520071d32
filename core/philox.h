/* Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the
   mapping from its output words to uniform and normal values, shared by core/random.c and any
   CUDA kernel that wants the same numbers.

   Stream layout (cc_tensor_rand / cc_tensor_randn): key = {seed low, seed high}; block b uses the
   counter {b low, b high, 0, 0}. A call of n values starts at block `offset` (the global offset,
   which then advances by the blocks used) and value i takes:
     f32 (and f16/bf16 through f32): block offset + i/4, word i%4 (randn: words 0,1 -> values 0,1
       and words 2,3 -> values 2,3 of the block, by Box-Muller);
     f64: block offset + i/2, words 2*(i%2) and 2*(i%2)+1 (randn: words 0,1 and 2,3 give the two
       uniforms u1, u2 of one Box-Muller pair -> values 0 and 1 of the block).
   Uniform: low + (high - low) * u with u = cc_u01_f32(word) or cc_u01_f64(lo word, hi word),
   computed in double and kept below high. Normal: mean + std * z from cc_box_muller(u1, u2), with
   u1 = ((w >> 8) + 1) * 2^-24 for f32 and u1 = 1 - cc_u01_f64(w0, w1) for f64 (both in (0, 1]).
   So a value depends only on (seed, offset, i): never on the thread count. */
#ifndef CC_PHILOX_H
#define CC_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifndef CC_HD
#if defined(__CUDACC__)
#define CC_HD __host__ __device__ __forceinline__
#else
#define CC_HD static inline
#endif
#endif

CC_HD void cc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {                                   /* Weyl sequence key schedule */
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The four words of block b of the stream of seed. */
CC_HD void cc_philox_block(uint64_t seed, uint64_t b, uint32_t out[4])
{
    const uint32_t ctr[4] = { (uint32_t)b, (uint32_t)(b >> 32), 0, 0 };
    const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    cc_philox4x32_10(ctr, key, out);
}

/* [0, 1) with 24 random bits (exact in f32) and with 53 random bits (exact in f64). */
CC_HD float cc_u01_f32(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }
CC_HD double cc_u01_f64(uint32_t lo, uint32_t hi)
{
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

/* Box-Muller; u1 in (0, 1] so the log is finite. */
CC_HD void cc_box_muller(double u1, double u2, double *z0, double *z1)
{
    double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586 * u2;
    *z0 = r * cos(t);
    *z1 = r * sin(t);
}

#endif
