/* The calls g++ -fsanitize=thread puts into the instrumented kernel sources, defined here instead
 * of in libtsan (which is never linked): every load and store of kernel code arrives with its
 * address, size and return address, and goes to the memory checkers while a checked block runs.
 * Atomics are carried out here (they are real ones) and are exempt from the race checks. Calls
 * of memcpy, memset and memmove with sizes the compiler does not know are not instrumented: the
 * checking build links with --wrap for them, and the wrappers here check and copy. This file
 * itself must not be instrumented. */
#include "check.h"

#define CC_PC ((uintptr_t)__builtin_return_address(0))

using cc_emu::check::access;
using cc_emu::check::view;

extern "C" {

void __tsan_init() { cc_emu::check::set_instrumented(); }
void __tsan_func_entry(void *) {}
void __tsan_func_exit() {}
void __tsan_vptr_read(void **) {}
void __tsan_vptr_update(void **, void *) {}

#define CC_EMU_RW(n)                                                                           \
    void __tsan_read##n(void *p) { if (view.on) access(p, n, false, false, CC_PC); }           \
    void __tsan_write##n(void *p) { if (view.on) access(p, n, true, false, CC_PC); }           \
    void __tsan_unaligned_read##n(void *p) { if (view.on) access(p, n, false, false, CC_PC); } \
    void __tsan_unaligned_write##n(void *p) { if (view.on) access(p, n, true, false, CC_PC); }
CC_EMU_RW(1)
CC_EMU_RW(2)
CC_EMU_RW(4)
CC_EMU_RW(8)
CC_EMU_RW(16)
#undef CC_EMU_RW

void __tsan_read_range(void *p, unsigned long n) { if (view.on && n) access(p, n, false, false, CC_PC); }
void __tsan_write_range(void *p, unsigned long n) { if (view.on && n) access(p, n, true, false, CC_PC); }

/* tsan's atomic interface: the memory order arguments are ignored (everything is seq_cst). */
#define CC_EMU_ATOMIC(bits, T)                                                                                   \
    T __tsan_atomic##bits##_load(const volatile T *a, int)                                                       \
    {                                                                                                            \
        if (view.on) access((const void *)a, sizeof(T), false, true, CC_PC);                                     \
        return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                             \
    }                                                                                                            \
    void __tsan_atomic##bits##_store(volatile T *a, T v, int)                                                    \
    {                                                                                                            \
        if (view.on) access((const void *)a, sizeof(T), true, true, CC_PC);                                      \
        __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                                \
    }                                                                                                            \
    CC_EMU_RMW(bits, T, exchange, __atomic_exchange_n)                                                           \
    CC_EMU_RMW(bits, T, fetch_add, __atomic_fetch_add)                                                           \
    CC_EMU_RMW(bits, T, fetch_sub, __atomic_fetch_sub)                                                           \
    CC_EMU_RMW(bits, T, fetch_and, __atomic_fetch_and)                                                           \
    CC_EMU_RMW(bits, T, fetch_or, __atomic_fetch_or)                                                             \
    CC_EMU_RMW(bits, T, fetch_xor, __atomic_fetch_xor)                                                           \
    CC_EMU_RMW(bits, T, fetch_nand, __atomic_fetch_nand)                                                         \
    int __tsan_atomic##bits##_compare_exchange_strong(volatile T *a, T *c, T v, int, int)                        \
    {                                                                                                            \
        CC_EMU_RMW_CHECK(a);                                                                                     \
        return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                  \
    }                                                                                                            \
    int __tsan_atomic##bits##_compare_exchange_weak(volatile T *a, T *c, T v, int, int)                          \
    {                                                                                                            \
        CC_EMU_RMW_CHECK(a);                                                                                     \
        return __atomic_compare_exchange_n(a, c, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                   \
    }                                                                                                            \
    T __tsan_atomic##bits##_compare_exchange_val(volatile T *a, T c, T v, int, int)                              \
    {                                                                                                            \
        CC_EMU_RMW_CHECK(a);                                                                                     \
        __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                        \
        return c;                                                                                                \
    }
/* a read-modify-write: the read is checked for initialisation, then the write is recorded */
#define CC_EMU_RMW_CHECK(a)                                                       \
    do {                                                                          \
        if (view.on) access((const void *)(a), sizeof(*(a)), false, true, CC_PC); \
        if (view.on) access((const void *)(a), sizeof(*(a)), true, true, CC_PC);  \
    } while (0)
#define CC_EMU_RMW(bits, T, name, builtin)                 \
    T __tsan_atomic##bits##_##name(volatile T *a, T v, int) \
    {                                                      \
        CC_EMU_RMW_CHECK(a);                               \
        return builtin(a, v, __ATOMIC_SEQ_CST);            \
    }
CC_EMU_ATOMIC(8, uint8_t)
CC_EMU_ATOMIC(16, uint16_t)
CC_EMU_ATOMIC(32, uint32_t)
CC_EMU_ATOMIC(64, uint64_t)
#undef CC_EMU_ATOMIC
#undef CC_EMU_RMW
#undef CC_EMU_RMW_CHECK

/* glibc's checked copies: the same routines, under names --wrap leaves alone */
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dst_len);
void *__memmove_chk(void *dst, const void *src, size_t n, size_t dst_len);
void *__memset_chk(void *dst, int c, size_t n, size_t dst_len);

void *__wrap_memcpy(void *dst, const void *src, size_t n)
{
    if (view.on && !view.busy && n) {
        access(src, n, false, false, CC_PC);
        access(dst, n, true, false, CC_PC);
    }
    return __memcpy_chk(dst, src, n, n);
}

void *__wrap_memmove(void *dst, const void *src, size_t n)
{
    if (view.on && !view.busy && n) {
        access(src, n, false, false, CC_PC);
        access(dst, n, true, false, CC_PC);
    }
    return __memmove_chk(dst, src, n, n);
}

void *__wrap_memset(void *dst, int c, size_t n)
{
    if (view.on && !view.busy && n) access(dst, n, true, false, CC_PC);
    return __memset_chk(dst, c, n, n);
}

void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

}  /* extern "C" */
