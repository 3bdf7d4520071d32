/* Runs every registered test group; the last line is "N passed, N failed". */
#include <stdarg.h>
#include <stdlib.h>
#include "test.h"

#define MAX_GROUPS 256
#define MAX_PRINTED 20   /* failures printed per group */

long cc_test_passed, cc_test_failed;
static long group_failed;
static struct { const char *name; void (*fn)(void); } groups[MAX_GROUPS];
static int ngroups;

void cc_test_register(const char *name, void (*fn)(void))
{
    if (ngroups < MAX_GROUPS) {
        groups[ngroups].name = name;
        groups[ngroups++].fn = fn;
    }
}

void cc_test_fail(const char *file, int line, const char *fmt, ...)
{
    cc_test_failed++;
    if (group_failed++ >= MAX_PRINTED) return;
    va_list ap;
    va_start(ap, fmt);
    printf("  FAIL %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);   /* visible even if a later check crashes */
    va_end(ap);
}

int cc_test_same_values(const cc_tensor *a, const cc_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    int64_t n = cc_tensor_numel(a), idx[8] = { 0 };
    for (int64_t k = 0; k < n; k++) {
        double x, y;
        int64_t rem = k;
        for (int i = a->ndim - 1; i >= 0; i--) { idx[i] = rem % a->shape[i]; rem /= a->shape[i]; }
        if (cc_tensor_get(a, idx, &x) != CC_OK || cc_tensor_get(b, idx, &y) != CC_OK) return 0;
        if (!(x == y || (x != x && y != y))) return 0;
    }
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    /* constructors run in link order; sort so the output is stable */
    qsort(groups, (size_t)ngroups, sizeof groups[0], by_name);
    for (int i = 0; i < ngroups; i++) {
        if (argc > 1 && !strstr(groups[i].name, argv[1])) continue;   /* optional filter */
        long p0 = cc_test_passed, f0 = cc_test_failed;
        group_failed = 0;
        groups[i].fn();
        if (group_failed > MAX_PRINTED) printf("  ... %ld more failures\n", group_failed - MAX_PRINTED);
        printf("%-24s %6ld passed, %ld failed\n", groups[i].name, cc_test_passed - p0, cc_test_failed - f0);
        fflush(stdout);
    }
    printf("%ld passed, %ld failed\n", cc_test_passed, cc_test_failed);
    return cc_test_failed ? 1 : 0;
}
