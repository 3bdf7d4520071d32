/* libFuzzer target for the .npy loader (make fuzz, make fuzz-quick; tests/fuzz/run_fuzz.sh).
   Each input is written to an in-memory file (memfd) and loaded through the public API by its
   /proc/self/fd path. A load that fails must leave *out NULL and set a message naming the op and
   the file; a load that succeeds is saved, loaded again and saved again: the reloaded tensor
   must hold the same bytes as the first (in C order), and both saved files must be identical. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "causalconv.h"

static int memfd = -1;
static char mem_path[64];
static char dir[256], save_a[300], save_b[300];

static void setup(void)
{
    memfd = memfd_create("fuzz_npy", 0);
    if (memfd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", memfd);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/cc_fuzz_npy_XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(save_a, sizeof save_a, "%s/a.npy", dir);
    snprintf(save_b, sizeof save_b, "%s/b.npy", dir);
}

static void cleanup(void)
{
    unlink(save_a);
    unlink(save_b);
    rmdir(dir);
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_npy: %s (last error: \"%s\")\n", what, cc_last_error());
    abort();
}

/* the whole file into a malloc'd buffer */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot reopen a saved file");
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int same_shape(const cc_tensor *a, const cc_tensor *b)
{
    if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

static void round_trip(const cc_tensor *t)
{
    if (cc_npy_save(t, save_a) != CC_OK) fail("saving a loaded tensor failed");
    cc_tensor *u = (cc_tensor *)1;
    if (cc_npy_load(&u, save_a) != CC_OK || !u) fail("loading a saved tensor failed");
    if (!same_shape(t, u)) fail("the reloaded tensor has another shape or dtype");
    if (!cc_tensor_is_contiguous(u)) fail("the reloaded tensor is not contiguous");
    cc_tensor *dense = NULL;
    if (cc_tensor_contiguous(&dense, t) != CC_OK) fail("contiguous copy failed");
    size_t bytes = (size_t)(cc_tensor_numel(t) * cc_dtype_size(t->dtype));
    if (bytes && memcmp(cc_tensor_data(dense), cc_tensor_data(u), bytes) != 0) fail("the reloaded bytes differ");
    if (cc_npy_save(u, save_b) != CC_OK) fail("saving the reloaded tensor failed");
    size_t la, lb;
    unsigned char *a = slurp(save_a, &la), *b = slurp(save_b, &lb);
    if (la != lb || memcmp(a, b, la) != 0) fail("saving the reloaded tensor gave another file");
    free(a);
    free(b);
    cc_tensor_free(dense);
    cc_tensor_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        setup();
        atexit(cleanup);
    }
    if (ftruncate(memfd, 0) != 0) fail("ftruncate");
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(memfd, data + done, size - done, (off_t)done);
        if (w <= 0) fail("pwrite");
        done += (size_t)w;
    }
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    cc_tensor *t = (cc_tensor *)1;
    cc_clear_error();
    cc_status st = cc_npy_load(&t, mem_path);
    if (st != CC_OK) {
        char want[96];
        snprintf(want, sizeof want, "'%s'", mem_path);
        if (t != NULL) fail("a failed load handed back a tensor");
        if (strncmp(cc_last_error(), "npy_load: ", 10) != 0 || !strstr(cc_last_error(), want))
            fail("the message of a failed load does not name the op and the file");
        if (st != CC_ERR_IO) fail("a bad file gave a status other than CC_ERR_IO");
    } else {
        if (!t) fail("a successful load handed back NULL");
        if (cc_tensor_numel(t) * cc_dtype_size(t->dtype) > (int64_t)size)
            fail("the tensor is bigger than the file");
        round_trip(t);
        cc_tensor_free(t);
    }
    if (cc_live_storages() != s0 || cc_live_tensors() != t0) fail("tensors or storages leaked");
    return 0;
}
