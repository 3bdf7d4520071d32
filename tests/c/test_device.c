/* The host block cache of core/device.c: a freed large block serves the next allocation of a
   similar size, live blocks are never handed out twice, and small or far-off sizes get their own. */
#include <stdint.h>
#include <sys/resource.h>
#include "test.h"

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static void *empty_f32(cc_tensor **t, int64_t n)
{
    if (cc_tensor_empty(t, 1, SHAPE(n), CC_F32, CC_CPU, 0) != CC_OK) return NULL;
    return cc_tensor_data(*t);
}

TEST_GROUP(host_block_cache)
{
    const int64_t big = 3 << 20;              /* 12 MiB of f32: cached when freed */
    cc_tensor *a = NULL, *b = NULL, *c = NULL;

    void *pa = empty_f32(&a, big);
    CHECK(pa != NULL);
    CHECK_OK(cc_tensor_fill(a, 1.5));
    cc_tensor_free(a);

    void *pb = empty_f32(&b, big - 1000);     /* within a quarter of the freed block: reused */
    CHECK(pb == pa);
    void *pc = empty_f32(&c, big);            /* the block is in use now: a different one */
    CHECK(pc != NULL && pc != pb);
    /* two live large blocks do not share their low 12 address bits (no 4K aliasing between them) */
    CHECK_MSG(((uintptr_t)pb & 4095) != ((uintptr_t)pc & 4095), "blocks %p and %p share their low 12 bits", pb, pc);
    /* the point of the cache: a reused block is already mapped, a fresh one faults its pages in
       (every 4 KiB page, or each 2 MiB one where transparent huge pages are on) */
    long f0 = minor_faults();
    CHECK_OK(cc_tensor_fill(b, 2.0));
    long f1 = minor_faults();
    CHECK_OK(cc_tensor_fill(c, 3.0));
    long f2 = minor_faults();
    CHECK_MSG(f1 - f0 < 64, "reused block took %ld page faults", f1 - f0);
    CHECK_MSG(f2 - f1 > f1 - f0, "fresh block took %ld page faults, the reused one %ld", f2 - f1, f1 - f0);
    double vb = 0, vc = 0;
    CHECK_OK(cc_tensor_get(b, SHAPE(big - 1001), &vb));
    CHECK_OK(cc_tensor_get(c, SHAPE(0), &vc));
    CHECK(vb == 2.0 && vc == 3.0);
    cc_tensor_free(b);
    cc_tensor_free(c);

    cc_tensor *d = NULL;                      /* twice the size: no cached block fits */
    void *pd = empty_f32(&d, 2 * big);
    CHECK(pd != pa && pd != pc);
    cc_tensor_free(d);

    cc_tensor *e = NULL;                      /* half the size: the cached blocks would waste too much */
    void *pe = empty_f32(&e, big / 2);
    CHECK(pe != pa && pe != pc);
    cc_tensor_free(e);

    cc_tensor *f = NULL, *g = NULL;           /* small blocks are not cached, but still work */
    CHECK(empty_f32(&f, 100) != NULL);
    cc_tensor_free(f);
    CHECK(empty_f32(&g, 100) != NULL);
    cc_tensor_free(g);
}
