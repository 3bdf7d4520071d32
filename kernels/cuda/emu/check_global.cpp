/* Device memory under the checking modes.
 *
 * Racecheck between blocks: a cell per byte (kept in lazily allocated 4 KiB pages of cells, for
 * any address kernel code touches outside its stack and shared memory) holds the launch and block
 * of the last write and of the reads (one reader block, or "several"). A plain access that meets a
 * write of another block in the same launch, or a write that meets another block's read, is a
 * hazard: blocks of one launch are not ordered. Atomics are exempt and leave no trace. Within one
 * block, global memory is not checked (threads of a block are ordered only by barriers, and the
 * shared-memory checker is the one that models them).
 *
 * Initcheck: every cudaMalloc allocation keeps a bit per byte, cleared when the allocation (or a
 * cached block of the library's allocator) is handed out fresh, set by kernel writes, copies,
 * memsets, cuBLAS and cuRAND; a kernel read of a clear bit is a finding.
 */
#include "check.h"

#include <stdio.h>
#include <string.h>

#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace cc_emu {
namespace check {
namespace {

const uint32_t kMany = 0xffffffffu;

struct Cell {
    uint32_t w_launch, w_block, r_launch, r_block;   /* r_block kMany: read by several blocks */
    uint16_t w_thread, r_thread, w_site, r_site;
};

const size_t kPage = 4096;
std::unordered_map<uintptr_t, Cell *> pages;   /* page number -> kPage cells */
struct PageSlot {
    uintptr_t page = ~(uintptr_t)0;
    Cell *cells = nullptr;
};
PageSlot page_cache[16];   /* kernels stream through a few arrays at once */

struct Alloc {
    size_t bytes;
    std::vector<uint8_t> written;   /* a bit per byte (initcheck only) */
};
std::mutex alloc_mutex;   /* allocation bookkeeping from host threads; the hooks run while no host call can */
std::map<uintptr_t, Alloc> allocs;
struct AllocSlot {
    uintptr_t lo = 1, hi = 0;
    Alloc *alloc = nullptr;
};
AllocSlot alloc_cache[8];
unsigned alloc_next = 0;

void forget_caches()
{
    for (PageSlot &p : page_cache) p = PageSlot();
    for (AllocSlot &a : alloc_cache) a = AllocSlot();
}

Cell *cells_of(uintptr_t page)
{
    PageSlot &slot = page_cache[page & 15];
    if (slot.page == page) return slot.cells;
    Cell *&c = pages[page];
    if (!c) c = new Cell[kPage]();
    slot.page = page;
    slot.cells = c;
    return c;
}

Alloc *alloc_of(uintptr_t a, uintptr_t *base)
{
    for (AllocSlot &s : alloc_cache)
        if (a >= s.lo && a < s.hi) {
            *base = s.lo;
            return s.alloc;
        }
    /* a miss caches the allocation, or the gap between allocations that holds a */
    AllocSlot &s = alloc_cache[alloc_next++ & 7];
    auto next = allocs.upper_bound(a);
    s.hi = next == allocs.end() ? ~(uintptr_t)0 : next->first;
    s.lo = 0;
    s.alloc = nullptr;
    if (next != allocs.begin()) {
        auto it = std::prev(next);
        uintptr_t end = it->first + it->second.bytes;
        if (a < end) {
            s.lo = it->first;
            s.hi = end;
            s.alloc = &it->second;
        } else {
            s.lo = end;
        }
    }
    *base = s.lo;
    return s.alloc;
}

void set_written(Alloc &al, size_t off, size_t n, bool value)
{
    if (al.written.empty()) return;
    size_t end = off + n < al.bytes ? off + n : al.bytes, i = off;
    for (; i < end && (i & 7); i++) al.written[i >> 3] = (uint8_t)(value ? al.written[i >> 3] | (1u << (i & 7)) : al.written[i >> 3] & ~(1u << (i & 7)));
    size_t whole = (end - i) / 8;   /* whole bytes of the bitmap at once */
    memset(al.written.data() + (i >> 3), value ? 0xff : 0, whole);
    for (i += whole * 8; i < end; i++) al.written[i >> 3] = (uint8_t)(value ? al.written[i >> 3] | (1u << (i & 7)) : al.written[i >> 3] & ~(1u << (i & 7)));
}

std::string name_of(uintptr_t a)
{
    uintptr_t base;
    char buf[96];
    if (alloc_of(a, &base)) snprintf(buf, sizeof buf, "%p (device allocation %p + %zu)", (void *)a, (void *)base, (size_t)(a - base));
    else snprintf(buf, sizeof buf, "%p", (void *)a);
    return buf;
}

void hazard(const char *kind, uintptr_t a, size_t bytes, bool write, uint32_t other_block, uint16_t other_thread,
            uint16_t other_site, bool other_write, uintptr_t pc)
{
    std::string me = "block " + block_str(view.block_linear) + " thread " + thread_str(view.cur);
    std::string them = other_block == kMany ? std::string("several other blocks") :
                       "block " + block_str(other_block) + " thread " + thread_str(other_thread);
    std::string name = name_of(a);
    std::string summary = std::string(kind) + " hazard between blocks on device memory " + name + ": " + me +
                          (write ? " writes" : " reads") + " at " + where(pc) + ", " + them + (other_write ? " wrote" : " read") +
                          " it at " + site_where(other_site) + " in the same launch";
    std::string details = "    " + std::string(write ? "write" : "read ") + " of " + std::to_string(bytes) + " bytes at " + name +
                          " by " + me + " at " + where(pc) + "\n    " + (other_write ? "write" : "read ") + " by " + them + " at " +
                          site_where(other_site) +
                          "\n    blocks of one launch run in no fixed order: only atomics may share an element between them\n";
    finding("racecheck", summary, details);
}

void race(uintptr_t a, size_t bytes, bool write, uintptr_t pc)
{
    uint32_t L = view.launch, B = view.block_linear;
    uint16_t me = 0;
    Cell *cells = cells_of(a / kPage);
    for (size_t i = 0; i < bytes && view.on; i++) {
        uintptr_t x = a + i;
        if (i && x % kPage == 0) cells = cells_of(x / kPage);
        Cell &c = cells[x % kPage];
        bool wrote_here = c.w_launch == L, read_here = c.r_launch == L;
        if (wrote_here && c.w_block != B) {
            hazard(write ? "WAW" : "RAW", x, bytes, write, c.w_block, c.w_thread, c.w_site, true, pc);
            return;
        }
        if (write && read_here && c.r_block != B) {
            hazard("WAR", x, bytes, true, c.r_block, c.r_thread, c.r_site, false, pc);
            return;
        }
        if (!me) me = site(pc);
        if (write) {
            c.w_launch = L;
            c.w_block = B;
            c.w_thread = (uint16_t)view.cur;
            c.w_site = me;
        } else if (!read_here) {
            c.r_launch = L;
            c.r_block = B;
            c.r_thread = (uint16_t)view.cur;
            c.r_site = me;
        } else if (c.r_block != B) {
            c.r_block = kMany;
        }
    }
}

void init(uintptr_t a, size_t bytes, bool write, uintptr_t pc)
{
    uintptr_t base;
    Alloc *al = alloc_of(a, &base);
    if (!al || al->written.empty()) return;
    size_t off = a - base;
    if (write) {
        set_written(*al, off, bytes, true);
        return;
    }
    for (size_t i = off; i < off + bytes && i < al->bytes; i++)
        if (!((al->written[i >> 3] >> (i & 7)) & 1u)) {
            std::string name = name_of(a + (i - off));
            finding("initcheck",
                    "block " + block_str(view.block_linear) + " thread " + thread_str(view.cur) + " reads device memory " + name +
                        " at " + where(pc) + ", which nothing wrote since it was allocated",
                    "    read of " + std::to_string(bytes) + " bytes at " + name + " by thread " + thread_str(view.cur) + " at " +
                        where(pc) + "\n    the allocation (cudaMalloc, or a block the caching allocator handed out) is poisoned "
                        "with 0xff bytes until written\n");
            return;
        }
}

}  /* namespace */

void access(const void *addr, size_t bytes, bool write, bool atomic, uintptr_t pc)
{
    uintptr_t a = (uintptr_t)addr;
    if (a >= view.stack_lo && a < view.stack_hi) return;   /* the thread's own stack */
    view.busy = true;
    if (!shared_access(a, bytes, write, atomic, pc)) {
        if (view.init) init(a, bytes, write, pc);
        if (view.on && view.race && !atomic) race(a, bytes, write, pc);
    }
    view.busy = false;
}

void device_alloc(void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lock(alloc_mutex);
    Alloc &al = allocs[(uintptr_t)p];
    al.bytes = bytes;
    if (config().init) al.written.assign((bytes + 7) / 8, 0);
    forget_caches();
}

void device_free(void *p)
{
    std::lock_guard<std::mutex> lock(alloc_mutex);
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return;
    uintptr_t lo = it->first, hi = lo + it->second.bytes;
    for (uintptr_t page = (lo + kPage - 1) / kPage; (page + 1) * kPage <= hi; page++) {
        auto pg = pages.find(page);
        if (pg == pages.end()) continue;
        delete[] pg->second;
        pages.erase(pg);
    }
    allocs.erase(it);
    forget_caches();
}

}  /* namespace check */

void memory_fresh(void *p, size_t bytes)
{

    if (!check::config().init) return;
    memset(p, 0xff, bytes);
    std::lock_guard<std::mutex> lock(check::alloc_mutex);
    uintptr_t base;
    check::Alloc *al = check::alloc_of((uintptr_t)p, &base);
    if (al) check::set_written(*al, (uintptr_t)p - base, bytes, false);
}

void memory_written(const void *p, size_t bytes)
{
    if (!check::config().init || !bytes) return;
    std::lock_guard<std::mutex> lock(check::alloc_mutex);
    uintptr_t base;
    check::Alloc *al = check::alloc_of((uintptr_t)p, &base);
    if (al) check::set_written(*al, (uintptr_t)p - base, bytes, true);
}

}  /* namespace cc_emu */
