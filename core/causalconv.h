/*
 * causalconv: causal depthwise conv1d kernels (CPU + CUDA) and the tensor core under them.
 *
 * This is the one public header (with kernels/enums.h, the codes core and kernels share). Everything
 * between the CC_API_BEGIN and CC_API_END lines here and in enums.h is plain C declarations with no
 * macros, so the Lua binding hands those blocks to ffi.cdef as they are.
 *
 * Conventions
 *   - Dimension vocabulary: B batch, D channels, L sequence length, W conv width,
 *     T packed tokens (varlen), N sequences (varlen), S new tokens (update).
 *   - Outputs first, then inputs, then options. Optional tensors are NULL.
 *   - Every function that can fail returns cc_status; the message (op, argument, shapes) is kept
 *     per thread: cc_last_error(). Nothing is written to an output before every argument passed.
 *   - Dims and positions are 0-based here; the Lua layer converts from 1-based once.
 *   - Sizes, strides and offsets are int64, strides and offsets counted in elements.
 *   - Functions returning a new handle (cc_tensor **out) hand ownership to the caller, who
 *     releases it with cc_tensor_free. Views share the storage, which is refcounted.
 */
#ifndef CAUSALCONV_H
#define CAUSALCONV_H

#include <stdint.h>
#include "enums.h"   /* kernels/enums.h: status, dtype, device, activation and op codes */

#ifdef __cplusplus
extern "C" {
#endif

/* CC_API_BEGIN */
typedef struct cc_storage cc_storage;

/* A strided view of a refcounted storage. Fields are read-only for users (the Lua binding reads
   them directly); change them only through the functions below. */
typedef struct cc_tensor {
    cc_storage *storage;
    int64_t offset;          /* in elements, from the storage base */
    int32_t ndim;            /* 0..8 */
    int32_t dtype;           /* cc_dtype */
    int32_t device;          /* cc_device */
    int32_t device_index;
    int64_t shape[8];
    int64_t stride[8];       /* in elements; 0 for expanded dims */
} cc_tensor;

/* ---- errors, dtypes, threads ---- */
const char *cc_last_error(void);
void cc_clear_error(void);
const char *cc_dtype_name(int dtype);
int cc_dtype_from_name(const char *name);   /* -1 when unknown */
int64_t cc_dtype_size(int dtype);
cc_status cc_set_num_threads(int n);     /* 1 <= n <= 1024 */
int cc_get_num_threads(void);
/* When on, CPU ops run the plain scalar reference kernels (the test oracle) instead of the fast ones. */
void cc_set_reference_kernels(int on);
int cc_get_reference_kernels(void);

/* ---- half-precision scalar conversions (round to nearest even) ---- */
uint16_t cc_f32_to_f16(float x);
float cc_f16_to_f32(uint16_t h);
uint16_t cc_f32_to_bf16(float x);
float cc_bf16_to_f32(uint16_t h);

/* ---- tensor lifetime ---- */
cc_status cc_tensor_empty(cc_tensor **out, int ndim, const int64_t *shape, int dtype, int device, int device_index);
void cc_tensor_free(cc_tensor *t);
void *cc_tensor_data(const cc_tensor *t);        /* address of element 0 (host or device memory); NULL when empty */
int64_t cc_tensor_numel(const cc_tensor *t);
int cc_tensor_is_contiguous(const cc_tensor *t);
int64_t cc_tensor_storage_bytes(const cc_tensor *t);
int64_t cc_tensor_version(const cc_tensor *t);   /* bumped by every in-place write to the storage */
void cc_tensor_bump_version(cc_tensor *t);
int cc_tensor_same_storage(const cc_tensor *a, const cc_tensor *b);
int64_t cc_live_storages(void);                  /* storages not yet freed (leak checks) */
int64_t cc_live_tensors(void);                   /* tensor handles not yet freed */

/* ---- views: new handle, same storage ---- */
cc_status cc_tensor_alias(cc_tensor **out, const cc_tensor *x);
cc_status cc_tensor_transpose(cc_tensor **out, const cc_tensor *x, int dim0, int dim1);
cc_status cc_tensor_permute(cc_tensor **out, const cc_tensor *x, int ndim, const int *dims);
cc_status cc_tensor_narrow(cc_tensor **out, const cc_tensor *x, int dim, int64_t start, int64_t length);
cc_status cc_tensor_select(cc_tensor **out, const cc_tensor *x, int dim, int64_t index);
cc_status cc_tensor_view(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape);   /* one -1 inferred */
cc_status cc_tensor_expand(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape); /* -1 keeps */
cc_status cc_tensor_unsqueeze(cc_tensor **out, const cc_tensor *x, int dim);
cc_status cc_tensor_squeeze(cc_tensor **out, const cc_tensor *x, int dim);   /* dim -1: every size-1 dim */
/* offset is absolute (elements from the storage base); strides >= 0; the view must stay inside the storage */
cc_status cc_tensor_as_strided(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset);

/* ---- copies and fills (any dtypes, any strides; copy also crosses devices) ---- */
cc_status cc_tensor_copy(cc_tensor *dst, const cc_tensor *src);          /* shapes equal */
cc_status cc_tensor_contiguous(cc_tensor **out, const cc_tensor *x);     /* alias when already contiguous */
cc_status cc_tensor_clone(cc_tensor **out, const cc_tensor *x);
cc_status cc_tensor_to(cc_tensor **out, const cc_tensor *x, int dtype, int device, int device_index); /* alias when nothing changes */
cc_status cc_tensor_fill(cc_tensor *dst, double value);
cc_status cc_tensor_arange(cc_tensor *dst, double start, double step);   /* dst 1-D */
cc_status cc_tensor_get(const cc_tensor *x, const int64_t *index, double *value);
cc_status cc_tensor_set(cc_tensor *x, const int64_t *index, double value);

/* ---- random numbers: Philox 4x32-10, counter based, identical for any thread count ---- */
void cc_manual_seed(uint64_t seed);
uint64_t cc_initial_seed(void);
cc_status cc_tensor_rand(cc_tensor *dst, double low, double high);       /* uniform [low, high) */
cc_status cc_tensor_randn(cc_tensor *dst, double mean, double std);
void cc_get_rng_state(uint64_t *seed, uint64_t *offset);                 /* the global stream */
void cc_set_rng_state(uint64_t seed, uint64_t offset);
/* the same draws from a caller-held stream (seed, *offset); *offset advances by the blocks used */
cc_status cc_generator_rand(cc_tensor *dst, double low, double high, uint64_t seed, uint64_t *offset);
cc_status cc_generator_randn(cc_tensor *dst, double mean, double std, uint64_t seed, uint64_t *offset);

/* ---- .npy files ---- */
cc_status cc_npy_load(cc_tensor **out, const char *path);
cc_status cc_npy_save(const cc_tensor *x, const char *path);

/* ---- causal depthwise conv1d (semantics: README, "Causal conv1d") ----
   x (B, D, L) in either layout, weight (D, W), bias (D), seq_idx (B, L) i32,
   initial_states / final_states (B, D, W-1). */
cc_status cc_causal_conv1d_forward(cc_tensor *out, cc_tensor *final_states,
                                   const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                   const cc_tensor *seq_idx, const cc_tensor *initial_states,
                                   int activation);
/* dx (B, D, L), dweight (D, W), dbias (D), dinitial_states (B, D, W-1); dfinal_states (B, D, W-1) in.
   dweight/dbias are overwritten (accumulated internally in f32, f64 for f64). */
cc_status cc_causal_conv1d_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                    const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                    const cc_tensor *dout, const cc_tensor *seq_idx,
                                    const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                    int activation);
/* x and out (B, D, S); conv_state (B or pool, D, state_len >= W-1) updated in place;
   cache_seqlens (B) i32 makes the state a circular buffer; conv_state_indices (B) i32, < 0 = padding row. */
cc_status cc_causal_conv1d_update(cc_tensor *out, cc_tensor *conv_state,
                                  const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                  const cc_tensor *cache_seqlens, const cc_tensor *conv_state_indices,
                                  int activation);
/* packed: x and out (T, D), cu_seqlens (N+1) i32 or i64, initial_states / final_states (N, D, W-1). */
cc_status cc_causal_conv1d_varlen_forward(cc_tensor *out, cc_tensor *final_states,
                                          const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                          const cc_tensor *cu_seqlens, const cc_tensor *initial_states,
                                          int activation);
cc_status cc_causal_conv1d_varlen_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                           const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                           const cc_tensor *dout, const cc_tensor *cu_seqlens,
                                           const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                           int activation);
/* states (N, D, state_len): the last state_len tokens of each sequence, zeros before its start. */
cc_status cc_causal_conv1d_varlen_states(cc_tensor *states, const cc_tensor *x, const cc_tensor *cu_seqlens);
/* The CPU compute roof of the conv: `elements` elements of the fast kernels' row arithmetic at
   this width and activation (forward, or backward: width 4 only) on L1-resident rows, on every
   thread (benchmarks time it); *checksum keeps the work observable. */
cc_status cc_causal_conv1d_roof(int64_t elements, int64_t width, int activation, int backward, double *checksum);

/* ---- selective scan (semantics: README, "Selective scan"; the rule block of core/selective_scan.c) ----
   u, delta, z, out (Bt, Di, L); A (Di, N) f32/f64; B, C (Bt, N, L), (Bt, G, N, L) or (Di, N);
   D, delta_bias (Di) f32/f64; initial_state (Bt, Di, N) f32/f64; seq_idx (Bt, L) i32;
   last_state (Bt, Di, N) f32 (f64 for f64 u). */
cc_status cc_selective_scan_forward(cc_tensor *out, cc_tensor *last_state,
                                    const cc_tensor *u, const cc_tensor *delta, const cc_tensor *A,
                                    const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                    const cc_tensor *z, const cc_tensor *delta_bias,
                                    const cc_tensor *initial_state, const cc_tensor *seq_idx,
                                    int delta_softplus);
/* Every gradient output may be NULL (not computed); each has its input's shape and dtype (dD needs
   D, dz needs z; ddelta_bias and dinitial_state may be asked for without their input). dout
   (Bt, Di, L) and dlast_state (Bt, Di, N) in, any float dtype. */
cc_status cc_selective_scan_backward(cc_tensor *du, cc_tensor *ddelta, cc_tensor *dA, cc_tensor *dB, cc_tensor *dC,
                                     cc_tensor *dD, cc_tensor *dz, cc_tensor *ddelta_bias, cc_tensor *dinitial_state,
                                     const cc_tensor *u, const cc_tensor *delta, const cc_tensor *A,
                                     const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                     const cc_tensor *z, const cc_tensor *delta_bias,
                                     const cc_tensor *initial_state, const cc_tensor *seq_idx,
                                     const cc_tensor *dout, const cc_tensor *dlast_state, int delta_softplus);
/* Decode: state (Bt or pool, Di, N) updated in place; x, dt, z, out (Bt, Di); B, C (Bt, N) or
   (Bt, G, N); A (Di, N); D, dt_bias (Di); state_batch_indices (Bt) i32, < 0 = padding row. */
cc_status cc_selective_state_update(cc_tensor *out, cc_tensor *state,
                                    const cc_tensor *x, const cc_tensor *dt, const cc_tensor *A,
                                    const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                    const cc_tensor *z, const cc_tensor *dt_bias,
                                    const cc_tensor *state_batch_indices, int dt_softplus);
/* The CPU compute roof of the scan: `elements` element-states of the forward's exp and FMAs on
   registers only, on every thread (benchmarks time it); *checksum keeps the work observable. */
cc_status cc_selective_scan_roof(int64_t elements, double *checksum);

/* ---- tensor ops for autograd (shapes: see core/ops.c). Binary ops take operands already
   expanded to out's shape; reductions sum x into out, whose shape broadcasts to x's. ---- */
cc_status cc_unary_forward(cc_tensor *out, const cc_tensor *x, int op, double scalar);
cc_status cc_unary_backward(cc_tensor *dx, const cc_tensor *x, const cc_tensor *dout, int op, double scalar);
cc_status cc_binary_forward(cc_tensor *out, const cc_tensor *a, const cc_tensor *b, int op);
cc_status cc_sum_to(cc_tensor *out, const cc_tensor *x, double scale);     /* out = scale * sum of x over broadcast dims */
cc_status cc_max_dim(cc_tensor *values, cc_tensor *indices, const cc_tensor *x, int dim);  /* keepdim shapes; indices i64 */
cc_status cc_softmax_forward(cc_tensor *out, const cc_tensor *x, int dim, int log);
cc_status cc_softmax_backward(cc_tensor *dx, const cc_tensor *out, const cc_tensor *dout, int dim, int log);
cc_status cc_matmul(cc_tensor *out, const cc_tensor *a, const cc_tensor *b);   /* (..., M, K) @ (..., K, N), same batch dims */
cc_status cc_index_select(cc_tensor *out, const cc_tensor *x, int dim, const cc_tensor *index);
cc_status cc_index_add(cc_tensor *out, int dim, const cc_tensor *index, const cc_tensor *src);   /* out[..., index[i], ...] += src */
cc_status cc_cross_entropy_forward(cc_tensor *loss, const cc_tensor *logits, const cc_tensor *target, int64_t ignore_index);
cc_status cc_cross_entropy_backward(cc_tensor *dlogits, const cc_tensor *logits, const cc_tensor *target, const cc_tensor *dloss, int64_t ignore_index);
cc_status cc_rms_norm_forward(cc_tensor *out, cc_tensor *rstd, const cc_tensor *x, const cc_tensor *weight, double eps);
cc_status cc_rms_norm_backward(cc_tensor *dx, cc_tensor *dweight, const cc_tensor *x, const cc_tensor *weight, const cc_tensor *rstd, const cc_tensor *dout);

/* ---- optimizers (core/optim.c; the rule: kernels/optim.h) ----
   One fused Adam (decoupled 0: weight_decay is L2, added to the gradient) or AdamW (decoupled 1:
   param *= 1 - lr * weight_decay) update, PyTorch's rule with bias corrections 1 - beta^step.
   param and grad one float dtype; exp_avg, exp_avg_sq f32 (f64 for an f64 param); one shape,
   contiguous, one device. param and the moments are updated in place; step >= 1 counts this update. */
cc_status cc_adam_step(cc_tensor *param, cc_tensor *exp_avg, cc_tensor *exp_avg_sq, const cc_tensor *grad,
                       double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step,
                       int decoupled);

/* ---- CUDA device ---- */
int cc_cuda_is_built(void);         /* compiled with CUDA (real or emulated) */
int cc_cuda_is_emulated(void);      /* kernels run on the CPU emulation (tests) */
int cc_cuda_is_available(void);     /* a device can be used now */
int cc_cuda_device_count(void);
cc_status cc_cuda_synchronize(void);
cc_status cc_cuda_device_name(char *buf, int len);
cc_status cc_cuda_memory_stats(int64_t *allocated, int64_t *reserved, int64_t *peak_allocated, int64_t *num_allocs);
int64_t cc_cuda_device_to_host_copies(void);   /* device-to-host copies so far (each waits for the device) */
cc_status cc_cuda_empty_cache(void);
cc_status cc_cuda_reset_peak_memory_stats(void);   /* peak_allocated starts again from allocated */
cc_status cc_cuda_timer_start(void **timer);                  /* records a start event */
cc_status cc_cuda_timer_stop(void *timer, double *elapsed_ms); /* records the end, waits, frees the timer */
/* ---- REPL Ctrl-C (core/repl_signal.c): SIGINT only counts; the REPL polls ---- */
int cc_repl_install_sigint(void);   /* 0, or -1 when sigaction fails */
int cc_repl_take_interrupt(void);   /* 1 when Ctrl-C was pressed since the last call */
volatile int *cc_repl_interrupt_flag(void);   /* the count cc_repl_take_interrupt takes; stays 0 until installed */
/* CC_API_END */

#ifdef __cplusplus
}
#endif

#endif
