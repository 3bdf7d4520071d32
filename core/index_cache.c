/* Index tensors already checked: a few entries, most recent first. Only CUDA tensors are entered
   (a CPU check reads memory in place and costs less than keeping this honest would). What it
   cannot see: a write to the storage that bypasses the library (through x:data_ptr() and the FFI,
   or another process): such a tensor keeps its old verdict. */
#include <pthread.h>
#include <string.h>
#include "internal.h"

#define INDEX_CACHE_SIZE 8

typedef struct {
    uint64_t serial;
    int64_t version, offset, n, stride, bound0, bound1;
    int dtype, kind;
} index_key;

static index_key cache[INDEX_CACHE_SIZE];
static int cache_used;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The key of t's values as the 1-d view (n elements, stride) an index argument is. */
static void key_fill(const cc_tensor *t, int64_t n, int64_t stride, int kind, int64_t bound0, int64_t bound1, index_key *k)
{
    memset(k, 0, sizeof *k);
    k->serial = t->storage->serial;
    k->version = cc_tensor_version(t);
    k->offset = t->offset;
    k->n = n;
    k->stride = n > 1 ? stride : 1;   /* one element: any stride reads the same value */
    k->bound0 = bound0;
    k->bound1 = bound1;
    k->dtype = t->dtype;
    k->kind = kind;
}

static int key_of(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1, index_key *k)
{
    if (!t || !t->storage || t->device != CC_CUDA || t->ndim != 1) return 0;
    key_fill(t, t->shape[0], t->stride[0], kind, bound0, bound1, k);
    return 1;
}

static void insert(const index_key *k)
{
    pthread_mutex_lock(&cache_lock);
    int n = cache_used < INDEX_CACHE_SIZE ? cache_used + 1 : INDEX_CACHE_SIZE;
    memmove(&cache[1], &cache[0], (size_t)(n - 1) * sizeof cache[0]);
    cache[0] = *k;
    cache_used = n;
    pthread_mutex_unlock(&cache_lock);
}

/* An entry answers a check of k: the same key, or for ranges one no wider than k's. */
static int answers(const index_key *e, const index_key *k)
{
    if (k->kind != CC_INDEX_RANGE) return memcmp(e, k, sizeof *k) == 0;
    index_key widened = *e;
    widened.bound0 = k->bound0;
    return e->bound0 <= k->bound0 && memcmp(&widened, k, sizeof *k) == 0;
}

int cc_index_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1)
{
    index_key k;
    if (!key_of(t, kind, bound0, bound1, &k)) return 0;
    int hit = 0;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_used && !hit; i++) hit = answers(&cache[i], &k);
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void cc_index_mark_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1)
{
    index_key k;
    if (!key_of(t, kind, bound0, bound1, &k)) return;
    insert(&k);
}

void cc_index_mark_range(const cc_tensor *t, int64_t hi)
{
    if (!t || !t->storage || t->device != CC_CUDA || !cc_tensor_is_contiguous(t)) return;
    index_key k;
    key_fill(t, cc_tensor_numel(t), 1, CC_INDEX_RANGE, hi, 0, &k);
    insert(&k);
}
