/* A tiny test runner. Each tests/c/test_*.c file defines groups with TEST_GROUP(name) { ... };
   they register themselves at load time, so main.c never lists them. CHECK counts every check
   and prints the failing ones with file:line. */
#ifndef CC_TEST_H
#define CC_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "causalconv.h"

extern long cc_test_passed, cc_test_failed;
void cc_test_register(const char *name, void (*fn)(void));

#define TEST_GROUP(name)                                                             \
    static void test_##name(void);                                                   \
    __attribute__((constructor)) static void register_##name(void)                   \
    { cc_test_register(#name, test_##name); }                                        \
    static void test_##name(void)

/* Only the first failures of a group are printed, so a broken loop cannot flood the log. */
void cc_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define CHECK(cond) do {                                                             \
    if (cond) cc_test_passed++;                                                      \
    else cc_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                       \
} while (0)

#define CHECK_MSG(cond, ...) do {                                                    \
    if (cond) cc_test_passed++;                                                      \
    else cc_test_fail(__FILE__, __LINE__, __VA_ARGS__);                              \
} while (0)

#define CHECK_OK(expr) do {                                                          \
    cc_status st_ = (expr);                                                          \
    if (st_ == CC_OK) cc_test_passed++;                                              \
    else cc_test_fail(__FILE__, __LINE__, "%s returned %d: %s", #expr, (int)st_, cc_last_error()); \
} while (0)

/* expr fails with status code and a message containing the substring want. */
#define CHECK_ERR(expr, code, want) do {                                             \
    cc_clear_error();                                                                \
    cc_status st_ = (expr);                                                          \
    if (st_ == (code) && strstr(cc_last_error(), (want))) cc_test_passed++;          \
    else cc_test_fail(__FILE__, __LINE__, "%s: expected status %d with \"%s\", got %d: \"%s\"", \
                      #expr, (int)(code), (want), (int)st_, cc_last_error());        \
} while (0)

#define CHECK_EQ_I(a, b) do {                                                        \
    long long a_ = (long long)(a), b_ = (long long)(b);                              \
    if (a_ == b_) cc_test_passed++;                                                  \
    else cc_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
} while (0)

/* 1 when a and b have one shape and equal values (read as doubles; NaN matches NaN). */
int cc_test_same_values(const cc_tensor *a, const cc_tensor *b);

/* A 1..8-d shape literal: SHAPE(2, 3) */
#define SHAPE(...) ((const int64_t[]){ __VA_ARGS__ })

#endif
