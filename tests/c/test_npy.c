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
        CHECK_MSG(cc_test_same_values(x, y), "round trip of %s", cc_dtype_name(dt));
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
    CHECK(y->ndim == 0 && cc_test_same_values(y, z));
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
    CHECK_ERR(cc_npy_save(x, "/nonexistent_dir_cc/x.npy"), CC_ERR_IO, "cannot open '/nonexistent_dir_cc/x.npy' for writing");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/adir", dir);                 /* rename onto a directory fails */
    if (mkdir(sub, 0700) == 0) {
        CHECK_ERR(cc_npy_save(x, sub), CC_ERR_IO, "cannot write");
        char t[140];
        snprintf(t, sizeof t, "%s.tmp", sub);
        CHECK(!file_exists(t));
        rmdir(sub);
    }
    CHECK_ERR(cc_npy_save(NULL, path), CC_ERR_ARGUMENT, "x: expected a tensor");
    cc_tensor_free(x);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
    remove_dir();
}

/* ---- malformed files, byte by byte ------------------------------------------------------- */

#include <sys/resource.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define CC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CC_TEST_ASAN 1
#endif
#endif

/* The load fails with code, a message containing want and naming the file ('<path>'), and hands
   back no tensor (*out is NULL). */
#define LOAD_FAILS(path, code, want) do {                                                       \
    cc_tensor *y_ = (cc_tensor *)1;                                                          \
    CHECK_ERR(cc_npy_load(&y_, (path)), (code), (want));                                     \
    char q_[200];                                                                            \
    snprintf(q_, sizeof q_, "'%s'", (path));                                                 \
    CHECK_MSG(strncmp(cc_last_error(), "npy_load: ", 10) == 0 && strstr(cc_last_error(), q_), \
              "the message names the op and the file %s: \"%s\"", q_, cc_last_error());       \
    CHECK_MSG(y_ == NULL, "no tensor handed back (want \"%s\")", (want));                   \
    if (y_ && y_ != (cc_tensor *)1) cc_tensor_free(y_);                                       \
} while (0)

/* magic + version major.minor + a header-length field of lsize bytes holding hlen (whatever the
   text's real length) + the header text as given + ndata zero bytes */
static void write_hdr(const char *path, int major, int minor, int lsize, uint32_t hlen, const char *text, size_t ndata)
{
    FILE *f = fopen(path, "wb");
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(major, f);
    fputc(minor, f);
    unsigned char lb[4] = { (unsigned char)hlen, (unsigned char)(hlen >> 8), (unsigned char)(hlen >> 16), (unsigned char)(hlen >> 24) };
    fwrite(lb, 1, (size_t)lsize, f);
    fwrite(text, 1, strlen(text), f);
    for (size_t i = 0; i < ndata; i++) fputc(0, f);
    fclose(f);
}

/* a well-formed v1 header (padded like numpy) with the given descr and shape text, then ndata bytes */
static const char zero4[4];

static void write_desc(const char *path, const char *descr, const char *shape, size_t ndata)
{
    char h[512];
    snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    static const char zeros[256];
    write_npy(path, 1, h, zeros, ndata);
}

TEST_GROUP(npy_malformed)
{
    make_dir();
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    char path[128], sub[128];
    tmp_path(path, "mal.npy");

    /* empty, shorter than the magic, wrong magic */
    write_raw(path, "", 0);
    LOAD_FAILS(path, CC_ERR_IO, "is empty");
    write_raw(path, "\x93", 1);
    LOAD_FAILS(path, CC_ERR_IO, "not a .npy file (wrong magic)");
    write_raw(path, "\x93NUMPZ\x01\x00\x40\x00", 10);
    LOAD_FAILS(path, CC_ERR_IO, "not a .npy file (wrong magic)");
    write_raw(path, "NUMPY\x93\x01\x00\x40\x00", 10);
    LOAD_FAILS(path, CC_ERR_IO, "not a .npy file (wrong magic)");
    write_raw(path, "PK\x03\x04 this is a zip, an .npz perhaps", 36);
    LOAD_FAILS(path, CC_ERR_IO, "not a .npy file (wrong magic)");
    /* the magic, then nothing or a cut preamble */
    write_raw(path, "\x93NUMPY", 6);
    LOAD_FAILS(path, CC_ERR_IO, "truncated header");
    write_raw(path, "\x93NUMPY\x01\x00\x40", 9);
    LOAD_FAILS(path, CC_ERR_IO, "truncated header");
    write_raw(path, "\x93NUMPY\x02\x00\x40\x00", 10);           /* v2 has a 4-byte length */
    LOAD_FAILS(path, CC_ERR_IO, "truncated header");

    /* versions */
    write_hdr(path, 0, 0, 2, 0, "", 0);
    LOAD_FAILS(path, CC_ERR_IO, "unsupported .npy version 0.0");
    write_hdr(path, 4, 0, 2, 0, "", 0);
    LOAD_FAILS(path, CC_ERR_IO, "unsupported .npy version 4.0");
    write_hdr(path, 255, 255, 2, 0, "", 0);
    LOAD_FAILS(path, CC_ERR_IO, "unsupported .npy version 255.255");

    /* header lengths: longer than the file, absurd, zero */
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n";
    char want[200];
    write_hdr(path, 1, 0, 2, 0xffff, good, 4);
    snprintf(want, sizeof want, "truncated header: 65535 bytes announced, the file has %zu after the preamble", strlen(good) + 4);
    LOAD_FAILS(path, CC_ERR_IO, want);
    write_hdr(path, 2, 0, 4, 0xffffffffu, good, 4);
    LOAD_FAILS(path, CC_ERR_IO, "header length 4294967295 is not plausible");
    write_hdr(path, 3, 0, 4, (1u << 20) + 1, good, 4);
    LOAD_FAILS(path, CC_ERR_IO, "header length 1048577 is not plausible");
    write_hdr(path, 1, 0, 2, 0, "", 0);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'descr' entry");
    write_hdr(path, 1, 0, 2, 13, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 4);   /* cut inside descr */
    LOAD_FAILS(path, CC_ERR_IO, "bad 'descr' entry");
    write_hdr(path, 1, 0, 2, 20, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 4);   /* before fortran_order */
    LOAD_FAILS(path, CC_ERR_IO, "no 'fortran_order'");
    /* a NUL inside the header ends the text the parser sees */
    char raw[128];
    memcpy(raw, "\x93NUMPY\x01\x00", 8);
    raw[8] = (char)strlen(good);
    raw[9] = 0;
    memcpy(raw + 10, good, strlen(good));
    raw[10 + 41] = '\0';                                       /* the quote before shape */
    memset(raw + 10 + strlen(good), 0, 4);
    write_raw(path, raw, 10 + strlen(good) + 4);
    LOAD_FAILS(path, CC_ERR_IO, "no 'shape' tuple");

    /* missing or malformed entries */
    write_npy(path, 1, "{'fortran_order': False, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'descr' entry");
    write_npy(path, 1, "{'descr': '<f4', 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'fortran_order' entry");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'shape' tuple");
    write_npy(path, 1, "{'descr': 5, 'fortran_order': False, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'descr' entry");
    write_npy(path, 1, "{'descr' '<f4', 'fortran_order': False, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'descr' entry");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "bad 'fortran_order' entry");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': false, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "bad 'fortran_order' entry");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'shape' tuple");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': 1, }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "the header has no 'shape' tuple");
    write_npy(path, 1, "{'descr': '<f4567890123456789', 'fortran_order': False, 'shape': (1,), }", zero4, 4);
    LOAD_FAILS(path, CC_ERR_IO, "bad 'descr' entry");

    /* non-numeric or malformed shapes */
    static const char *const bad_shapes[] = {
        "('a',)", "(2.5,)", "(None,)", "(2 3)", "(,)", "(2,,3)", "((2, 3))", "(2, 3", "(0x10,)", "(2, -3)",
        "(1e3,)", "(99999999999999999999,)", "(9223372036854775808,)", "(2; 3)",
    };
    for (size_t i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
        write_desc(path, "<f4", bad_shapes[i], 24);
        LOAD_FAILS(path, CC_ERR_IO, "bad 'shape' entry");
    }
    write_desc(path, "<f4", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", 4);
    LOAD_FAILS(path, CC_ERR_IO, "more than 8 dims");
    write_desc(path, "<f4", "(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)", 0);
    LOAD_FAILS(path, CC_ERR_IO, "more than 8 dims");

    /* dtypes */
    static const char *const bad_descr[] = { "<u4", "|u1", "|b1", "<c16", "f4", "", "<f", "<f16", "<i2", "<M8", "O" };
    for (size_t i = 0; i < sizeof bad_descr / sizeof bad_descr[0]; i++) {
        write_desc(path, bad_descr[i], "(1,)", 8);
        LOAD_FAILS(path, CC_ERR_IO, "unsupported dtype");
    }
    write_desc(path, ">f8", "(1,)", 8);
    LOAD_FAILS(path, CC_ERR_IO, "big-endian data ('>f8') is not supported");
    write_desc(path, ">i4", "(2,)", 8);
    LOAD_FAILS(path, CC_ERR_IO, "big-endian data ('>i4') is not supported");

    /* data shorter or longer than the shape says */
    write_desc(path, "<f4", "(2, 3)", 23);
    LOAD_FAILS(path, CC_ERR_IO, "truncated data: shape (2, 3) of '<f4' needs 24 bytes, the file has 23");
    write_desc(path, "<i8", "(3,)", 0);
    LOAD_FAILS(path, CC_ERR_IO, "truncated data: shape (3,) of '<i8' needs 24 bytes, the file has 0");
    write_desc(path, "<f2", "(0,)", 2);
    LOAD_FAILS(path, CC_ERR_IO, "shape (0,) of '<f2' needs 0 bytes of data, the file has 2");

    /* headers that claim huge sizes: refused before anything is allocated */
    write_desc(path, "<f4", "(3, 1500000000)", 0);                   /* 18 GB from a 128-byte file */
    LOAD_FAILS(path, CC_ERR_IO, "truncated data: shape (3, 1500000000) of '<f4' needs 18000000000 bytes, the file has 0");
    write_desc(path, "<f8", "(1099511627776,)", 16);                 /* 2^40 elements */
    LOAD_FAILS(path, CC_ERR_IO, "truncated data: shape (1099511627776,) of '<f8' needs 8796093022208 bytes, the file has 16");
    write_desc(path, "<f4", "(2305843009213693951,)", 0);            /* 2^63 - 4 bytes: still an int64 */
    LOAD_FAILS(path, CC_ERR_IO, "needs 9223372036854775804 bytes, the file has 0");
    write_desc(path, "<f4", "(2305843009213693952,)", 0);            /* 2^63 bytes */
    LOAD_FAILS(path, CC_ERR_IO, "needs more than 9223372036854775807 bytes (the size overflows int64), the file has 0");
    write_desc(path, "<i4", "(4294967296, 4294967296)", 8);          /* element count overflows */
    LOAD_FAILS(path, CC_ERR_IO, "shape (4294967296, 4294967296) of '<i4' needs more than 9223372036854775807 bytes (the size overflows int64), the file has 8");
    write_desc(path, "<f8", "(9223372036854775807, 9223372036854775807, 9223372036854775807)", 0);
    LOAD_FAILS(path, CC_ERR_IO, "overflows int64");
    /* zero elements, but dims whose product overflows (NumPy refuses such arrays too) */
    write_desc(path, "<f4", "(0, 4294967296, 4294967296)", 0);
    LOAD_FAILS(path, CC_ERR_IO, "shape (0, 4294967296, 4294967296) of '<f4' is too big: the byte size of its non-zero dims overflows int64");
    /* zero elements with big dims that fit: accepted */
    cc_tensor *y = NULL;
    write_desc(path, "<f4", "(0, 1099511627776)", 0);
    CHECK_OK(cc_npy_load(&y, path));
    CHECK(y && y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 1099511627776LL && cc_tensor_numel(y) == 0);
    cc_tensor_free(y);

    /* not a regular .npy file */
    LOAD_FAILS("/dev/null", CC_ERR_IO, "is empty");
    snprintf(sub, sizeof sub, "%s/adir.npy", dir);
    if (mkdir(sub, 0700) == 0) {
        LOAD_FAILS(sub, CC_ERR_IO, "is a directory");
        rmdir(sub);
    }
    LOAD_FAILS(tmp_path(sub, "missing.npy"), CC_ERR_IO, "cannot open");

    unlink(path);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
    remove_dir();
}

/* cc_npy_load(path) in a child whose address space may grow by only `extra` bytes past what it
   maps now. Returns the child's status (-1 when it died), with the message and whether a tensor
   came back. */
static int load_limited(const char *path, long long extra, char *msg, size_t len, int *got)
{
    int fds[2];
    msg[0] = '\0';
    *got = 0;
    if (pipe(fds)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1) _exit(3);
        fclose(f);
        rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)extra;
        struct rlimit rl = { lim, lim };
        if (setrlimit(RLIMIT_AS, &rl)) _exit(4);
        cc_tensor *y = (cc_tensor *)1;
        cc_status st = cc_npy_load(&y, path);
        char buf[1200];
        int n = snprintf(buf, sizeof buf, "%d %d %s", (int)st, y != NULL, cc_last_error());
        if (write(fds[1], buf, (size_t)n) != n) _exit(5);
        _exit(0);
    }
    close(fds[1]);
    char buf[1200];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    int st = -1, off = 0;
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || sscanf(buf, "%d %d %n", &st, got, &off) < 2) return -1;
    snprintf(msg, len, "%s", buf + off);
    return st;
}

TEST_GROUP(npy_memory)
{
#ifdef CC_TEST_ASAN
    printf("  (skipped under AddressSanitizer: it needs an unlimited address space)\n");
#else
    make_dir();
    char path[128], msg[1100], want[300];
    int got = 0;
    tmp_path(path, "mem.npy");
    /* an 18 GB claim in a 128-byte file must not reserve 18 GB: it fails on the size check even
       when the process may not map another 256 MiB */
    write_desc(path, "<f4", "(3, 1500000000)", 0);
    int st = load_limited(path, 256LL << 20, msg, sizeof msg, &got);
    CHECK_MSG(st == CC_ERR_IO && strstr(msg, "needs 18000000000 bytes, the file has 0") && !got,
              "18 GB claim under a 256 MiB limit: status %d, tensor %d: \"%s\"", st, got, msg);
    /* a real 2 GiB file (sparse) under the same limit: out of memory, and the message names the file */
    write_desc(path, "<f4", "(536870912,)", 0);
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseeko(f, 0, SEEK_END) == 0);
    off_t hdr = f ? ftello(f) : 0;
    if (f) {
        CHECK(ftruncate(fileno(f), hdr + ((off_t)2 << 30)) == 0);
        fclose(f);
    }
    st = load_limited(path, 256LL << 20, msg, sizeof msg, &got);
    snprintf(want, sizeof want, "npy_load: '%s': out of memory", path);
    CHECK_MSG(st == CC_ERR_MEMORY && strstr(msg, want) == msg && !got,
              "2 GiB file under a 256 MiB limit: status %d, tensor %d: \"%s\"", st, got, msg);
    unlink(path);

    /* save: every failure names the file */
    cc_tensor *one, *big;
    CHECK_OK(cc_tensor_empty(&one, 1, SHAPE(1), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_fill(one, 1));
    CHECK_OK(cc_tensor_expand(&big, one, 1, SHAPE(1LL << 50)));    /* a 4 PiB dense copy */
    snprintf(want, sizeof want, "npy_save: '%s': out of memory", path);
    CHECK_ERR(cc_npy_save(big, path), CC_ERR_MEMORY, want);
    CHECK(access(path, F_OK) != 0);
    snprintf(want, sizeof want, "npy_save: '%s': x: expected a tensor, got NULL", path);
    CHECK_ERR(cc_npy_save(NULL, path), CC_ERR_ARGUMENT, want);
    snprintf(want, sizeof want, "npy_save: cannot open '/nonexistent_dir_cc/y.npy' for writing: cannot create its temporary '/nonexistent_dir_cc/y.npy.tmp': ");
    CHECK_ERR(cc_npy_save(one, "/nonexistent_dir_cc/y.npy"), CC_ERR_IO, want);
    cc_tensor_free(big);
    cc_tensor_free(one);
    remove_dir();
#endif
}
