/* Reports of the checking modes: access sites, source lines (dladdr + addr2line on the -g build),
 * kernel and static __shared__ names (readelf's TLS symbols), and the finding itself. Only runs
 * when something is reported, so it may be slow; results are cached. */
#include "check.h"

#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

namespace cc_emu {
namespace check {
namespace {

struct SiteSlot {
    uintptr_t pc;
    uint16_t id;
};
SiteSlot site_cache[4096];
std::vector<uintptr_t> sites(1, 0);   /* id -> pc; id 0 is "unknown" */

std::string run(const std::string &cmd)
{
    std::string out;
    FILE *f = popen(cmd.c_str(), "r");
    if (!f) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
    return out;
}

std::vector<std::string> lines(const std::string &s)
{
    std::vector<std::string> v;
    size_t start = 0;
    while (start < s.size()) {
        size_t end = s.find('\n', start);
        if (end == std::string::npos) end = s.size();
        v.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return v;
}

/* The module holding code address pc and pc's address as addr2line wants it. */
bool locate(uintptr_t pc, std::string &module, uintptr_t &rel)
{
    Dl_info info;
    if (!dladdr((void *)pc, &info) || !info.dli_fname) return false;
    module = info.dli_fname[0] ? info.dli_fname : "/proc/self/exe";
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)info.dli_fbase;
    rel = eh->e_type == ET_EXEC ? pc : pc - (uintptr_t)info.dli_fbase;
    return true;
}

std::string shorten(const std::string &path)
{
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
        size_t n = strlen(cwd);
        if (path.compare(0, n, cwd) == 0 && path.size() > n && path[n] == '/') return path.substr(n + 1);
    }
    return path;
}

/* addr2line -f -i: function and file:line pairs, innermost inlined frame first. */
std::vector<std::pair<std::string, std::string>> frames(uintptr_t pc)
{
    std::vector<std::pair<std::string, std::string>> v;
    std::string module;
    uintptr_t rel;
    if (!locate(pc, module, rel)) return v;
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "addr2line -C -f -i -e '%s' 0x%llx 2>/dev/null", module.c_str(), (unsigned long long)rel);
    std::vector<std::string> l = lines(run(cmd));
    for (size_t i = 0; i + 1 < l.size(); i += 2) {
        std::string file = l[i + 1];
        size_t d = file.find(" (discriminator");
        if (d != std::string::npos) file.resize(d);
        v.push_back({l[i], shorten(file)});
    }
    return v;
}

}  /* namespace */

uint16_t site(uintptr_t pc)
{
    SiteSlot &s = site_cache[(pc >> 1) & 4095];
    if (s.pc == pc) return s.id;
    uint16_t id = 0;
    for (size_t i = 1; i < sites.size(); i++)
        if (sites[i] == pc) { id = (uint16_t)i; break; }
    if (!id && sites.size() < 65535) {
        id = (uint16_t)sites.size();
        sites.push_back(pc);
    }
    s.pc = pc;
    s.id = id;
    return id;
}

std::string where(uintptr_t pc)
{
    static std::mutex mutex;   /* failed blocks of a parallel launch may report at once */
    std::lock_guard<std::mutex> lock(mutex);
    static std::map<uintptr_t, std::string> cache;
    auto it = cache.find(pc);
    if (it != cache.end()) return it->second;
    std::string r;
    int kept = 0;
    for (auto &f : frames(pc - 1)) {   /* pc is a return address: the call is the byte before */
        if (f.second.find("cuda_emu.h:") != std::string::npos) continue;   /* the emulation's own wrappers */
        if (f.second.compare(0, 2, "??") == 0) continue;                      /* no debug information */
        if (kept == 3) break;
        r += (kept++ ? " <- " : "") + f.second;
    }
    if (r.empty()) {
        char buf[64];
        snprintf(buf, sizeof buf, "pc %p (no line: build with -g)", (void *)pc);
        r = buf;
    }
    cache[pc] = r;
    return r;
}

std::string site_where(uint16_t id)
{
    return id && id < sites.size() ? where(sites[id]) : std::string("an unknown line");
}

std::string kernel_name(const void *kernel)
{
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    static std::map<const void *, std::string> cache;
    auto it = cache.find(kernel);
    if (it != cache.end()) return it->second;
    std::vector<std::pair<std::string, std::string>> f = frames((uintptr_t)kernel);
    std::string name = f.empty() || f.back().first == "??" ? "(unknown kernel)" : f.back().first;
    cache[kernel] = name;
    return name;
}

std::string thread_str(int linear)
{
    unsigned x = view.block_dim.x, y = view.block_dim.y;
    char buf[64];
    snprintf(buf, sizeof buf, "(%u, %u, %u)", (unsigned)linear % x, ((unsigned)linear / x) % y, (unsigned)linear / (x * y));
    return buf;
}

std::string block_str(uint32_t linear)
{
    unsigned x = view.grid_dim.x, y = view.grid_dim.y;
    char buf[64];
    snprintf(buf, sizeof buf, "(%u, %u, %u)", linear % x, (linear / x) % y, linear / (x * y));
    return buf;
}

std::string tls_symbol(const std::string &module, uintptr_t offset)
{
    static std::map<std::string, std::vector<std::string>> symtabs;
    auto it = symtabs.find(module);
    if (it == symtabs.end()) it = symtabs.emplace(module, lines(run("readelf -sW -C '" + module + "' 2>/dev/null"))).first;
    for (const std::string &l : it->second) {
        unsigned long long value, size;
        char type[16];
        int name_at = 0;
        if (sscanf(l.c_str(), " %*u: %llx %llu %15s %*s %*s %*s %n", &value, &size, type, &name_at) < 3 || !name_at) continue;
        if (strcmp(type, "TLS") || offset < value || offset >= value + (size ? size : 1)) continue;
        char buf[64];
        snprintf(buf, sizeof buf, " + %llu", (unsigned long long)(offset - value));
        return "'" + l.substr((size_t)name_at) + "'" + buf;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "static __shared__ data at offset %llu", (unsigned long long)offset);
    return buf;
}

void finding(const char *checker, const std::string &summary, const std::string &details)
{
    fprintf(stderr, "========= cc_emu %s: %s\n    kernel %s, launch %u, block %s\n%s", checker, summary.c_str(),
            kernel_name(view.kernel).c_str(), view.launch, block_str(view.block_linear).c_str(), details.c_str());
    fflush(stderr);
    view.on = false;   /* one finding per block: the block stops here */
    fail_block(std::string(checker) + ": " + summary);
}

}  /* namespace check */
}  /* namespace cc_emu */
