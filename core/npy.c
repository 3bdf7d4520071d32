/* .npy files (NumPy format 1.0; 2.0 and 3.0 are read too). Loads <f4 <f8 <f2 <i4 <i8 in C or
   Fortran order; saves C order. bf16 has no NumPy dtype and is saved as <f4, which is exact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads and writes little-endian data in place"
#endif

static const char MAGIC[6] = { (char)0x93, 'N', 'U', 'M', 'P', 'Y' };
#define MAX_HEADER (1 << 20)    /* real headers are ~100 bytes; refuse absurd lengths */

/* ---- header parsing ---------------------------------------------------------------------- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* The text after "'key':" (either quote style), or NULL. */
static const char *find_value(const char *h, const char *key)
{
    char a[32], b[32];
    snprintf(a, sizeof a, "'%s'", key);
    snprintf(b, sizeof b, "\"%s\"", key);
    const char *p = strstr(h, a);
    if (!p) p = strstr(h, b);
    if (!p) return NULL;
    p = skip_space(p + strlen(a));
    if (*p != ':') return NULL;
    return skip_space(p + 1);
}

typedef struct npy_header {
    char descr[16];
    int fortran;
    int ndim;
    int64_t shape[8];
} npy_header;

static cc_status parse_header(const char *h, const char *path, npy_header *out)
{
    const char *p = find_value(h, "descr");
    if (!p || (*p != '\'' && *p != '"'))
        return cc_error(CC_ERR_IO, "npy_load: '%s': the header has no 'descr' entry", path);
    char quote = *p++;
    size_t n = 0;
    while (p[n] && p[n] != quote && n < sizeof out->descr - 1) n++;
    if (p[n] != quote) return cc_error(CC_ERR_IO, "npy_load: '%s': bad 'descr' entry in the header", path);
    memcpy(out->descr, p, n);
    out->descr[n] = '\0';

    p = find_value(h, "fortran_order");
    if (!p) return cc_error(CC_ERR_IO, "npy_load: '%s': the header has no 'fortran_order' entry", path);
    if (strncmp(p, "True", 4) == 0) out->fortran = 1;
    else if (strncmp(p, "False", 5) == 0) out->fortran = 0;
    else return cc_error(CC_ERR_IO, "npy_load: '%s': bad 'fortran_order' entry in the header", path);

    p = find_value(h, "shape");
    if (!p || *p != '(') return cc_error(CC_ERR_IO, "npy_load: '%s': the header has no 'shape' tuple", path);
    p = skip_space(p + 1);
    out->ndim = 0;
    while (*p != ')') {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0)
            return cc_error(CC_ERR_IO, "npy_load: '%s': bad 'shape' entry in the header", path);
        if (out->ndim == 8)
            return cc_error(CC_ERR_IO, "npy_load: '%s': more than 8 dims (causalconv tensors have at most 8)", path);
        out->shape[out->ndim++] = v;
        p = end;
        if (*p == 'L') p++;                                    /* Python 2 longs */
        p = skip_space(p);
        if (*p == ',') p = skip_space(p + 1);
        else if (*p != ')') return cc_error(CC_ERR_IO, "npy_load: '%s': bad 'shape' entry in the header", path);
    }
    return CC_OK;
}

/* dtype of a descr such as "<f4"; '|' and '=' mean no byte order / native, both fine here. */
static cc_status descr_dtype(const char *descr, const char *path, int *dtype)
{
    static const char *const codes[] = { "f4", "f8", "f2", "", "i4", "i8" };
    char order = descr[0];
    if (order == '>')
        return cc_error(CC_ERR_IO, "npy_load: '%s': big-endian data ('%s') is not supported; save it as little-endian", path, descr);
    if (order == '<' || order == '|' || order == '=') {
        for (int dt = CC_F32; dt <= CC_I64; dt++)
            if (codes[dt][0] && strcmp(descr + 1, codes[dt]) == 0) {
                *dtype = dt;
                return CC_OK;
            }
    }
    return cc_error(CC_ERR_IO, "npy_load: '%s': unsupported dtype '%s' (supported: <f4 <f8 <f2 <i4 <i8)", path, descr);
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t pos = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (pos < len) snprintf(buf + pos, len - pos, ndim == 1 ? ",)" : ")");
}

/* ---- load -------------------------------------------------------------------------------- */

/* Re-raises the message of a failed library call (an allocation, a view) with the op and the
   file in front, so every error of the loader and of save names its file. */
static cc_status with_path(cc_status st, const char *op, const char *path)
{
    char inner[512];
    snprintf(inner, sizeof inner, "%s", cc_last_error());
    return cc_error(st, "%s: '%s': %s", op, path, inner);
}

/* Bytes of data the shape needs: -1 when that overflows int64. *too_big is set when the
   product of the non-zero dims overflows even though a zero dim makes the tensor empty
   (NumPy refuses such arrays as well; their strides would not fit in int64 either). */
static int64_t data_bytes(const npy_header *hd, int64_t elsize, int *too_big)
{
    int64_t bytes = elsize, nonzero = elsize;
    int empty = 0, overflow = 0;
    for (int i = 0; i < hd->ndim; i++) {
        if (hd->shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (__builtin_mul_overflow(nonzero, hd->shape[i], &nonzero)) overflow = 1;
        if (!overflow) bytes = nonzero;
    }
    *too_big = overflow && empty;
    if (empty) return 0;
    return overflow ? -1 : bytes;
}

static cc_status load_from(FILE *f, const char *path, cc_tensor **out)
{
    /* what the file holds, before anything is read or allocated */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) return cc_error(CC_ERR_IO, "npy_load: '%s': cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return cc_error(CC_ERR_IO, "npy_load: '%s' is a directory, not a .npy file", path);
    if (fseeko(f, 0, SEEK_END) != 0) return cc_error(CC_ERR_IO, "npy_load: '%s': cannot seek: %s", path, strerror(errno));
    off_t file_size = ftello(f);
    if (file_size < 0) return cc_error(CC_ERR_IO, "npy_load: '%s': cannot tell its size: %s", path, strerror(errno));
    if (fseeko(f, 0, SEEK_SET) != 0) return cc_error(CC_ERR_IO, "npy_load: '%s': cannot seek: %s", path, strerror(errno));
    if (file_size == 0) return cc_error(CC_ERR_IO, "npy_load: '%s' is empty (0 bytes), not a .npy file", path);

    unsigned char pre[8];
    size_t got = fread(pre, 1, 8, f);
    if (got < 8 && ferror(f)) return cc_error(CC_ERR_IO, "npy_load: '%s': read error: %s", path, strerror(errno));
    if (got < 6 || memcmp(pre, MAGIC, 6) != 0)
        return cc_error(CC_ERR_IO, "npy_load: '%s' is not a .npy file (wrong magic)", path);
    if (got < 8) return cc_error(CC_ERR_IO, "npy_load: '%s': truncated header (the file has %lld bytes)", path, (long long)file_size);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3)
        return cc_error(CC_ERR_IO, "npy_load: '%s': unsupported .npy version %d.%d", path, major, minor);
    unsigned char lb[4] = { 0, 0, 0, 0 };
    size_t lsize = major == 1 ? 2 : 4;
    if (fread(lb, 1, lsize, f) != lsize)
        return cc_error(CC_ERR_IO, "npy_load: '%s': truncated header (the file has %lld bytes)", path, (long long)file_size);
    uint32_t hlen = lb[0] | (uint32_t)lb[1] << 8 | (uint32_t)lb[2] << 16 | (uint32_t)lb[3] << 24;
    if (hlen > MAX_HEADER) return cc_error(CC_ERR_IO, "npy_load: '%s': header length %u is not plausible", path, hlen);
    off_t data_start = (off_t)(8 + lsize) + (off_t)hlen;
    if (data_start > file_size)
        return cc_error(CC_ERR_IO, "npy_load: '%s': truncated header: %u bytes announced, the file has %lld after the preamble",
                        path, hlen, (long long)(file_size - (off_t)(8 + lsize)));
    char *h = malloc(hlen + 1);
    if (!h) return cc_error(CC_ERR_MEMORY, "npy_load: '%s': out of memory for the header (%u bytes)", path, hlen);
    if (fread(h, 1, hlen, f) != hlen) {
        int err = errno;
        free(h);
        return cc_error(CC_ERR_IO, "npy_load: '%s': read error in the header: %s", path, strerror(err));
    }
    h[hlen] = '\0';
    npy_header hd;
    int dtype = 0;
    cc_status st = parse_header(h, path, &hd);
    free(h);
    if (st || (st = descr_dtype(hd.descr, path, &dtype))) return st;

    /* the data must fill the rest of the file exactly; checked before the tensor is allocated,
       so a short file cannot make us reserve what its header claims */
    char s[200];
    shape_text(s, sizeof s, hd.ndim, hd.shape);
    int too_big = 0;
    int64_t need = data_bytes(&hd, cc_dtype_size(dtype), &too_big), have = (int64_t)(file_size - data_start);
    if (too_big)
        return cc_error(CC_ERR_IO, "npy_load: '%s': shape %s of '%s' is too big: the byte size of its non-zero dims overflows int64",
                        path, s, hd.descr);
    if (need < 0)
        return cc_error(CC_ERR_IO, "npy_load: '%s': truncated data: shape %s of '%s' needs more than %lld bytes "
                        "(the size overflows int64), the file has %lld", path, s, hd.descr, (long long)INT64_MAX, (long long)have);
    if (have < need)
        return cc_error(CC_ERR_IO, "npy_load: '%s': truncated data: shape %s of '%s' needs %lld bytes, the file has %lld",
                        path, s, hd.descr, (long long)need, (long long)have);
    if (have > need)
        return cc_error(CC_ERR_IO, "npy_load: '%s': shape %s of '%s' needs %lld bytes of data, the file has %lld",
                        path, s, hd.descr, (long long)need, (long long)have);
    if (fseeko(f, data_start, SEEK_SET) != 0) return cc_error(CC_ERR_IO, "npy_load: '%s': cannot seek: %s", path, strerror(errno));

    /* Fortran order: a C-order tensor of the reversed shape, viewed with its dims reversed */
    int64_t shape[8];
    for (int i = 0; i < hd.ndim; i++) shape[i] = hd.fortran ? hd.shape[hd.ndim - 1 - i] : hd.shape[i];
    cc_tensor *t = NULL;
    if ((st = cc_tensor_empty(&t, hd.ndim, shape, dtype, CC_CPU, 0))) return with_path(st, "npy_load", path);
    if (need > 0 && fread(cc_tensor_data(t), 1, (size_t)need, f) != (size_t)need) {
        int err = errno, short_read = !ferror(f);
        cc_tensor_free(t);
        if (short_read)   /* the file shrank since we measured it */
            return cc_error(CC_ERR_IO, "npy_load: '%s': truncated data: the file ended before %lld bytes of data", path, (long long)need);
        return cc_error(CC_ERR_IO, "npy_load: '%s': read error: %s", path, strerror(err));
    }
    if (hd.fortran && hd.ndim > 1) {
        int dims[8];
        for (int i = 0; i < hd.ndim; i++) dims[i] = hd.ndim - 1 - i;
        cc_tensor *v = NULL;
        st = cc_tensor_permute(&v, t, hd.ndim, dims);
        cc_tensor_free(t);
        if (st) return with_path(st, "npy_load", path);
        t = v;
    }
    *out = t;
    return CC_OK;
}

cc_status cc_npy_load(cc_tensor **out, const char *path)
{
    if (!out) return cc_error(CC_ERR_ARGUMENT, "npy_load: out: expected a handle pointer, got NULL");
    *out = NULL;
    if (!path) return cc_error(CC_ERR_ARGUMENT, "npy_load: path: expected a file name, got NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return cc_error(CC_ERR_IO, "npy_load: cannot open '%s': %s", path, strerror(errno));
    cc_status st = load_from(f, path, out);
    fclose(f);
    return st;
}

/* ---- save -------------------------------------------------------------------------------- */

static cc_status write_file(const cc_tensor *x, const char *path, const char *tmp)
{
    static const char *const descr[] = { "<f4", "<f8", "<f2", "<f4", "<i4", "<i8" };
    char shape[200], header[320];
    shape_text(shape, sizeof shape, x->ndim, x->shape);
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr[x->dtype], shape);
    /* pad with spaces and end with '\n' so the data starts on a 64-byte boundary */
    int total = 10 + n + 1, padded = (total + 63) / 64 * 64;
    memset(header + n, ' ', (size_t)(padded - total));
    header[padded - 10 - 1] = '\n';
    uint16_t hlen = (uint16_t)(padded - 10);
    unsigned char pre[10];
    memcpy(pre, MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    FILE *f = fopen(tmp, "wb");
    if (!f) return cc_error(CC_ERR_IO, "npy_save: cannot open '%s' for writing: cannot create its temporary '%s': %s",
                            path, tmp, strerror(errno));
    size_t bytes = (size_t)(cc_tensor_numel(x) * cc_dtype_size(x->dtype));
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen &&
             (bytes == 0 || fwrite(cc_tensor_data(x), 1, bytes, f) == bytes);
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok) err = errno;
        remove(tmp);
        return cc_error(CC_ERR_IO, "npy_save: cannot write '%s': %s", path, strerror(err));
    }
    return CC_OK;
}

cc_status cc_npy_save(const cc_tensor *x, const char *path)
{
    if (!path) return cc_error(CC_ERR_ARGUMENT, "npy_save: path: expected a file name, got NULL");
    if (!x || !x->storage) return cc_error(CC_ERR_ARGUMENT, "npy_save: '%s': x: expected a tensor, got NULL", path);
    /* a dense host copy in a NumPy dtype (aliases when x already is one) */
    cc_tensor *host = NULL, *dense = NULL;
    cc_status st = cc_tensor_to(&host, x, x->dtype == CC_BF16 ? CC_F32 : x->dtype, CC_CPU, 0);
    if (st == CC_OK) st = cc_tensor_contiguous(&dense, host);
    cc_tensor_free(host);
    if (st) return with_path(st, "npy_save", path);
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp) {
        cc_tensor_free(dense);
        return cc_error(CC_ERR_MEMORY, "npy_save: '%s': out of memory", path);
    }
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    st = write_file(dense, path, tmp);
    free(tmp);
    cc_tensor_free(dense);
    return st;
}
