/* Racecheck and initcheck of shared memory.
 *
 * Static __shared__ arrays are thread-local variables in the emulation, so they lie in the
 * thread-local segment of the module that defines the kernel: at each launch that segment, on the
 * launching thread, becomes the static region. threadIdx and the other built-ins may live there
 * too and are skipped.
 * Dynamic shared memory is the block's buffer (view.dyn_lo .. dyn_hi).
 *
 * Every byte has a cell: the last writer (thread, barrier interval, its warp's release count,
 * site) and the readers of the current interval (first reader, the lanes of its warp that read,
 * or "several warps"). Two accesses of different threads, at least one a write, are ordered when
 * a __syncthreads was released between them (the block's epoch moved on) or, within one warp, a
 * warp release (__syncwarp, shuffle, vote) that both took part in came after the first access.
 * Cells belong to one block: a cell stamped with another block's serial is fresh (unwritten).
 */
#include "check.h"

#include <dlfcn.h>
#include <link.h>

#include <map>
#include <vector>

namespace cc_emu {
namespace check {
namespace {

enum : uint8_t { WRITTEN = 1, R_VALID = 2, R_MULTIWARP = 4 };

struct Cell {
    uint32_t serial;
    uint32_t w_epoch, w_gen;   /* the last write's barrier interval and its warp's release count */
    uint32_t r_epoch, r_gen;   /* the readers' interval; the latest reader's release count */
    uint32_t r_lanes;          /* lanes of r_thread's warp that read in r_epoch */
    uint16_t w_thread, r_thread, w_site, r_site;
    uint8_t flags;
};

struct Region {
    uintptr_t lo = 0, hi = 0;
    std::string module;        /* empty: dynamic shared memory */
    std::vector<Cell> cells;
};

bool any_instrumented = false;
Region dynamic_region;
Region static_region;                               /* the running kernel's module */
std::map<std::string, std::vector<Cell>> parked;    /* other modules' cells, kept between launches */
uintptr_t builtin_lo[4], builtin_hi[4];

struct Lookup {
    uintptr_t base;
    uintptr_t lo, hi;
};

int find_tls(struct dl_phdr_info *info, size_t, void *data)
{
    Lookup *l = (Lookup *)data;
    if ((uintptr_t)info->dlpi_addr != l->base || !info->dlpi_tls_data) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            l->lo = (uintptr_t)info->dlpi_tls_data;
            l->hi = l->lo + info->dlpi_phdr[i].p_memsz;
        }
    return 1;
}

/* Whether the running thread of the block is ordered after access (thread a, interval, release count). */
bool ordered(int a, uint32_t a_epoch, uint32_t a_gen, int t)
{
    if (a_epoch != view.epoch) return true;
    if ((a >> 5) != (t >> 5)) return false;
    int w = t >> 5;
    uint32_t now = view.warp_gen[w], both = (1u << (a & 31)) | (1u << (t & 31));
    if (now - a_gen > (uint32_t)kRing) return true;   /* further back than remembered: assume ordered */
    for (uint32_t r = a_gen + 1; r != now + 1; r++)
        if ((view.ring[w * kRing + r % kRing] & both) == both) return true;
    return false;
}

std::string name_of(const Region &r, uintptr_t a)
{
    if (r.module.empty()) return "(dynamic) + " + std::to_string(a - r.lo);
    return tls_symbol(r.module, a - r.lo) + " (static)";
}

void hazard(const char *kind, const Region &r, uintptr_t a, size_t bytes, bool write, int other, uint16_t other_site,
            bool other_write, uintptr_t pc)
{
    std::string name = name_of(r, a), me = thread_str(view.cur), them = other >= 0 ? thread_str(other) : "threads of several warps";
    std::string summary = std::string(kind) + " hazard on shared memory " + name + ": thread " + me + (write ? " writes" : " reads") +
                          " at " + where(pc) + ", thread " + them + (other_write ? " wrote" : " read") + " it at " +
                          site_where(other_site) + " with no barrier between";
    std::string details = "    " + std::string(write ? "write" : "read ") + " of " + std::to_string(bytes) + " bytes at " + name +
                          " by thread " + me + " at " + where(pc) + "\n    " + (other_write ? "write" : "read ") + " by thread " +
                          them + " at " + site_where(other_site) +
                          "\n    in the same barrier interval: no __syncthreads() (nor, within a warp, __syncwarp() or a "
                          "shuffle both took part in) orders them\n";
    finding("racecheck", summary, details);
}

void uninitialised(const Region &r, uintptr_t a, size_t bytes, uintptr_t pc)
{
    std::string name = name_of(r, a);
    finding("initcheck",
            "thread " + thread_str(view.cur) + " reads shared memory " + name + " at " + where(pc) +
                ", which no thread of this block wrote",
            "    read of " + std::to_string(bytes) + " bytes at " + name + " by thread " + thread_str(view.cur) + " at " + where(pc) +
                "\n    shared memory starts undefined in every block: write it before reading\n");
}

/* Checks and records one access of [a, a + bytes) inside region r. */
void check_region(Region &r, uintptr_t a, size_t bytes, bool write, bool atomic, uintptr_t pc)
{
    size_t off = a - r.lo, end = off + bytes;
    if (end > r.hi - r.lo) end = r.hi - r.lo;
    if (r.cells.size() < end) r.cells.resize(r.hi - r.lo);
    int t = view.cur, lane = t & 31;
    uint32_t g = view.warp_gen[t >> 5];
    uint16_t me = 0;
    for (size_t o = off; o < end && view.on; o++) {
        Cell &c = r.cells[o];
        if (c.serial != view.serial) {
            c = Cell();
            c.serial = view.serial;
        }
        bool readers_now = (c.flags & R_VALID) && c.r_epoch == view.epoch;
        if (!write) {
            if (view.init && !(c.flags & WRITTEN)) { uninitialised(r, a, bytes, pc); return; }
            if (atomic || !view.race) continue;
            if ((c.flags & WRITTEN) && c.w_thread != t && !ordered(c.w_thread, c.w_epoch, c.w_gen, t)) {
                hazard("RAW", r, a, bytes, false, c.w_thread, c.w_site, true, pc);
                return;
            }
            if (!me) me = site(pc);
            if (readers_now && (c.r_thread >> 5) != (t >> 5)) c.flags |= R_MULTIWARP;
            else if (readers_now) {
                c.r_lanes |= 1u << lane;
                c.r_gen = g;
            } else {
                c.r_epoch = view.epoch;
                c.r_gen = g;
                c.r_thread = (uint16_t)t;
                c.r_site = me;
                c.r_lanes = 1u << lane;
                c.flags = (uint8_t)((c.flags | R_VALID) & ~R_MULTIWARP);
            }
            continue;
        }
        if (atomic || !view.race) {   /* atomics are exempt from the race checks */
            c.flags |= WRITTEN;
            continue;
        }
        if ((c.flags & WRITTEN) && c.w_thread != t && !ordered(c.w_thread, c.w_epoch, c.w_gen, t)) {
            hazard("WAW", r, a, bytes, true, c.w_thread, c.w_site, true, pc);
            return;
        }
        if (readers_now) {
            int rw = c.r_thread >> 5;
            if (c.flags & R_MULTIWARP) { hazard("WAR", r, a, bytes, true, c.r_thread != t ? c.r_thread : -1, c.r_site, false, pc); return; }
            if (rw != (t >> 5)) { hazard("WAR", r, a, bytes, true, c.r_thread, c.r_site, false, pc); return; }
            uint32_t others = c.r_lanes & ~(1u << lane);
            for (int l = 0; l < 32; l++)
                if (((others >> l) & 1u) && !ordered(rw * 32 + l, c.r_epoch, c.r_gen, t)) {
                    hazard("WAR", r, a, bytes, true, rw * 32 + l, c.r_site, false, pc);
                    return;
                }
        }
        if (!me) me = site(pc);
        c.flags = WRITTEN;
        c.w_epoch = view.epoch;
        c.w_gen = g;
        c.w_thread = (uint16_t)t;
        c.w_site = me;
    }
}

}  /* namespace */

bool instrumented() { return any_instrumented; }
void set_instrumented() { any_instrumented = true; }

void shared_launch(const void *kernel)
{
    Dl_info info;
    Lookup l = {0, 0, 0};
    std::string path;
    if (dladdr(kernel, &info)) {
        l.base = (uintptr_t)info.dli_fbase;
        path = info.dli_fname && info.dli_fname[0] ? info.dli_fname : "/proc/self/exe";
        dl_iterate_phdr(find_tls, &l);
    }
    if (path != static_region.module) {   /* cells follow their module */
        if (!static_region.module.empty()) parked[static_region.module].swap(static_region.cells);
        static_region.module = path;
        static_region.cells.clear();
        auto it = parked.find(path);
        if (it != parked.end()) static_region.cells.swap(it->second);
    }
    static_region.lo = l.lo;
    static_region.hi = l.hi;
    const void *b[4] = {&threadIdx, &blockIdx, &blockDim, &gridDim};
    const size_t n[4] = {sizeof threadIdx, sizeof blockIdx, sizeof blockDim, sizeof gridDim};
    for (int i = 0; i < 4; i++) {
        builtin_lo[i] = (uintptr_t)b[i];
        builtin_hi[i] = builtin_lo[i] + n[i];
    }
}

bool shared_access(uintptr_t a, size_t bytes, bool write, bool atomic, uintptr_t pc)
{
    if (a >= view.dyn_lo && a < view.dyn_hi) {
        dynamic_region.lo = view.dyn_lo;
        dynamic_region.hi = view.dyn_hi;
        check_region(dynamic_region, a, bytes, write, atomic, pc);
        return true;
    }
    if (a < static_region.lo || a >= static_region.hi) return false;
    for (int i = 0; i < 4; i++)
        if (a >= builtin_lo[i] && a < builtin_hi[i]) return true;   /* threadIdx and co: not shared memory */
    check_region(static_region, a, bytes, write, atomic, pc);
    return true;
}

}  /* namespace check */
}  /* namespace cc_emu */
