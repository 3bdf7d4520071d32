/* Per-thread error messages, and the descriptions of shapes and tensors they are made of. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* Long enough for an op name, two argument names and a couple of shapes. */
#define CC_MSG_LEN 1024

static _Thread_local char cc_msg[CC_MSG_LEN];

cc_status cc_error(cc_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc_msg, sizeof cc_msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *cc_last_error(void) { return cc_msg; }

void cc_clear_error(void) { cc_msg[0] = '\0'; }

/* Appends to buf at *pos, never past len; returns buf. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0) *pos += (size_t)n;
}

static void describe_shape(char *buf, size_t len, size_t *pos, int ndim, const int64_t *shape)
{
    append(buf, len, pos, "(");
    for (int i = 0; i < ndim; i++)
        append(buf, len, pos, i ? ", %lld" : "%lld", (long long)shape[i]);
    append(buf, len, pos, ")");
}

const char *cc_shape_str(char *buf, size_t len, int ndim, const int64_t *v)
{
    size_t pos = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    describe_shape(buf, len, &pos, ndim, v);
    return buf;
}

const char *cc_describe(char *buf, size_t len, const cc_tensor *t)
{
    size_t pos = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    if (!t) {
        append(buf, len, &pos, "nil");
        return buf;
    }
    describe_shape(buf, len, &pos, t->ndim, t->shape);
    append(buf, len, &pos, " %s", cc_dtype_name(t->dtype));
    if (t->device == CC_CUDA) append(buf, len, &pos, " cuda:%d", t->device_index);
    else append(buf, len, &pos, " cpu");
    return buf;
}
