/* .npy round trips, files written by hand (Fortran order, version 2.0, numpy-style headers),
   and every kind of bad file. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"

static char dir[64];

/* name inside the test directory, into buf (128 bytes) */
static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 128, "%s/%s", dir, name);
    return buf;
}

/* Writes magic + version + header (padded to 64 like numpy) + data bytes. */
static void write_npy(const char *path, int major, const char *header, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    size_t n = strlen(header), pre = major == 1 ? 10 : 12;
    size_t total = (pre + n + 1 + 63) / 64 * 64, hlen = total - pre;
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(major, f);
    fputc(0, f);
    unsigned char lb[4] = { (unsigned char)hlen, (unsigned char)(hlen >> 8), 0, 0 };
    fwrite(lb, 1, major == 1 ? 2 : 4, f);
    fwrite(header, 1, n, f);
    for (size_t i = n; i < hlen - 1; i++) fputc(' ', f);
    fputc('\n', f);
    if (bytes) fwrite(data, 1, bytes, f);
    fclose(f);
}

static void write_raw(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, bytes, f);
    fclose(f);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void make_dir(void)
{
    if (dir[0]) return;
    strcpy(dir, "/tmp/cc_test_npy_XXXXXX");
    if (!mkdtemp(dir)) strcpy(dir, "/tmp");
}

static void remove_dir(void)
{
    rmdir(dir);
    dir[0] = '\0';
}

/* every element of a equals the one of b (as doubles) */
static int same_values(const cc_tensor *a, const cc_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    int64_t n = cc_tensor_numel(a), idx[8] = { 0 };
    for (int64_t k = 0; k < n; k++) {
        double x, y;
        int64_t rem = k;
        for (int i = a->ndim - 1; i >= 0; i--) { idx[i] = rem % a->shape[i]; rem /= a->shape[i]; }
        cc_tensor_get(a, idx, &x);
        cc_tensor_get(b, idx, &y);
        if (x != y) return 0;
    }
    return 1;
}

TEST_GROUP(npy_round_trip)
{
    make_dir();
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    char path[128], other[128];
    tmp_path(path, "rt.npy");
    for (int dt = CC_F32; dt <= CC_I64; dt++) {
        cc_tensor *base, *x, *y;
        CHECK_OK(cc_tensor_empty(&base, 3, SHAPE(4, 3, 5), dt, CC_CPU, 0));
        cc_tensor *flat;
        CHECK_OK(cc_tensor_view(&flat, base, 1, SHAPE(60)));
        CHECK_OK(cc_tensor_arange(flat, -30.5, 1.25));
        cc_tensor_free(flat);
        CHECK_OK(cc_tensor_permute(&x, base, 3, (const int[]){ 2, 0, 1 }));   /* saved from a non-contiguous view */
        CHECK_OK(cc_npy_save(x, path));
        CHECK(!file_exists(tmp_path(other, "rt.npy.tmp")));
        CHECK_OK(cc_npy_load(&y, path));
        CHECK_EQ_I(y->dtype, dt == CC_BF16 ? CC_F32 : dt);
        CHECK(cc_tensor_is_contiguous(y));
        CHECK_MSG(same_values(x, y), "round trip of %s", cc_dtype_name(dt));
        cc_tensor_free(y);
        cc_tensor_free(x);
        cc_tensor_free(base);
    }
    /* 0-d, 1-d and empty shapes, and the header text */
    cc_tensor *z, *y;
    CHECK_OK(cc_tensor_empty(&z, 0, NULL, CC_F64, CC_CPU, 0));
    CHECK_OK(cc_tensor_fill(z, 2.5));
    CHECK_OK(cc_npy_save(z, path));
    CHECK_OK(cc_npy_load(&y, path));
    CHECK(y->ndim == 0 && same_values(y, z));
    cc_tensor_free(y);
    cc_tensor_free(z);
    FILE *f = fopen(path, "rb");
    char head[129] = { 0 };
    CHECK(fread(head, 1, 128, f) == 128);
    fclose(f);
    CHECK(strstr(head + 10, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }") == head + 10);
    CHECK(head[8] == 118 && head[9] == 0 && head[127] == '\n');   /* 10 + 118 = 128: data 64-aligned */
    CHECK_OK(cc_tensor_empty(&z, 1, SHAPE(7), CC_I32, CC_CPU, 0));
    CHECK_OK(cc_tensor_arange(z, 0, 3));
    CHECK_OK(cc_npy_save(z, path));
    f = fopen(path, "rb");
    CHECK(fread(head, 1, 128, f) == 128);
    fclose(f);
    CHECK(strstr(head + 10, "'shape': (7,), }") != NULL);
    cc_tensor_free(z);
    CHECK_OK(cc_tensor_empty(&z, 3, SHAPE(2, 0, 3), CC_F16, CC_CPU, 0));
    CHECK_OK(cc_npy_save(z, path));
    CHECK_OK(cc_npy_load(&y, path));
    CHECK(y->ndim == 3 && y->shape[1] == 0 && y->shape[2] == 3 && y->dtype == CC_F16);
    cc_tensor_free(y);
    cc_tensor_free(z);
    unlink(path);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
    remove_dir();
}

TEST_GROUP(npy_foreign_files)
{
    make_dir();
    char path[128];
    tmp_path(path, "foreign.npy");
    cc_tensor *y;
    double v;
    /* Fortran order: element (i, j) at i + 2 * j */
    float fdata[6] = { 0, 1, 2, 3, 4, 5 };
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", fdata, sizeof fdata);
    CHECK_OK(cc_npy_load(&y, path));
    CHECK(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3);
    CHECK_OK(cc_tensor_get(y, (int64_t[]){ 1, 2 }, &v));
    CHECK(v == 5);
    CHECK_OK(cc_tensor_get(y, (int64_t[]){ 0, 1 }, &v));
    CHECK(v == 2);
    cc_tensor_free(y);
    /* version 2.0, '=' byte order, Python 2 long sizes */
    int64_t idata[4] = { -1, 1LL << 60, 3, 4 };
    write_npy(path, 2, "{\"descr\": \"=i8\", \"fortran_order\": False, \"shape\": (2L, 2L)}", idata, sizeof idata);
    CHECK_OK(cc_npy_load(&y, path));
    CHECK(y && y->dtype == CC_I64 && ((int64_t *)cc_tensor_data(y))[1] == 1LL << 60);
    cc_tensor_free(y);
    uint16_t hdata[2] = { 0x3c00, 0xc000 };
    write_npy(path, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", hdata, sizeof hdata);
    CHECK_OK(cc_npy_load(&y, path));
    CHECK_OK(cc_tensor_get(y, (int64_t[]){ 1 }, &v));
    CHECK(v == -2 && y->dtype == CC_F16);
    cc_tensor_free(y);
    unlink(path);
    remove_dir();
}

TEST_GROUP(npy_bad_files)
{
    make_dir();
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    char path[128], other[128];
    tmp_path(path, "bad.npy");
    cc_tensor *y = (cc_tensor *)1;
    float data[6] = { 0 };
    CHECK_ERR(cc_npy_load(&y, tmp_path(other, "missing.npy")), CC_ERR_IO, "cannot open");
    CHECK(y == NULL);
    write_raw(path, "\x93NUMPZ\x01\x00", 8);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "not a .npy file (wrong magic)");
    write_raw(path, "\x93NUM", 4);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "wrong magic");
    write_raw(path, "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4'", 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "truncated header");
    write_raw(path, "\x93NUMPY\x07\x00\x40\x00", 10);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "unsupported .npy version 7.0");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data, 20);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "truncated data: shape (2, 3) of '<f4' needs 24 bytes, the file has 20");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", data, 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "shape (5,) of '<f4' needs 20 bytes of data, the file has 24");
    write_npy(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", data, 6);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "unsupported dtype '|u1'");
    write_npy(path, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", data, 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "unsupported dtype '<c8'");
    write_npy(path, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", data, 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "big-endian");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", data, 4);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "more than 8 dims");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", data, 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "bad 'shape'");
    write_npy(path, 1, "{'descr': '<f4', 'shape': (6,), }", data, 24);
    CHECK_ERR(cc_npy_load(&y, path), CC_ERR_IO, "no 'fortran_order'");
    CHECK(y == NULL);
    unlink(path);

    /* a failed save leaves neither the file nor its temporary behind */
    cc_tensor *x;
    CHECK_OK(cc_tensor_empty(&x, 1, SHAPE(3), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_fill(x, 1));
    CHECK_ERR(cc_npy_save(x, "/nonexistent_dir_cc/x.npy"), CC_ERR_IO, "cannot open '/nonexistent_dir_cc/x.npy.tmp' for writing");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/adir", dir);                 /* rename onto a directory fails */
    if (mkdir(sub, 0700) == 0) {
        CHECK_ERR(cc_npy_save(x, sub), CC_ERR_IO, "cannot write");
        char t[140];
        snprintf(t, sizeof t, "%s.tmp", sub);
        CHECK(!file_exists(t));
        rmdir(sub);
    }
    CHECK_ERR(cc_npy_save(NULL, path), CC_ERR_ARGUMENT, "npy_save: x");
    cc_tensor_free(x);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
    remove_dir();
}
