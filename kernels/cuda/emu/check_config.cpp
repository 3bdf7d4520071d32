/* CC_EMU_CHECK and CC_EMU_ORDER, read once. An unknown value is not ignored: it is kept as an
 * error that every launch fails with (and is printed once), so a typo cannot turn checking off. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

namespace cc_emu {
namespace check {
namespace {

void parse_check(Config &c, const char *v)
{
    std::string s(v);
    if (s.empty()) return;   /* set but empty: no checks, as when unset */
    size_t start = 0;
    while (start <= s.size()) {
        size_t end = s.find(',', start);
        if (end == std::string::npos) end = s.size();
        std::string item = s.substr(start, end - start);
        if (item == "race") c.race = true;
        else if (item == "sync") c.sync = true;
        else if (item == "init") c.init = true;
        else if (item == "all") c.race = c.sync = c.init = true;
        else {
            c.error = "CC_EMU_CHECK=" + s + ": unknown mode '" + item + "' (a comma list of race, sync, init, or all; empty for none)";
            return;
        }
        start = end + 1;
    }
}

void parse_order(Config &c, const char *v)
{
    std::string s(v);
    if (s == "forward" || s.empty()) c.order = ORDER_FORWARD;
    else if (s == "reverse") c.order = ORDER_REVERSE;
    else if (s == "random") {
        c.order = ORDER_RANDOM;
        c.seed = (uint64_t)time(nullptr) * 1000003u ^ (uint64_t)getpid();
        fprintf(stderr, "cc_emu: CC_EMU_ORDER=random:%llu (set it to rerun this order)\n", (unsigned long long)c.seed);
    } else if (s.compare(0, 7, "random:") == 0 && s.size() > 7 && strspn(s.c_str() + 7, "0123456789") == s.size() - 7) {
        c.order = ORDER_RANDOM;
        c.seed = strtoull(s.c_str() + 7, nullptr, 10);
    } else {
        c.error = "CC_EMU_ORDER=" + s + ": unknown order (forward, reverse, random or random:SEED)";
    }
}

Config load()
{
    Config c;
    const char *check = getenv("CC_EMU_CHECK"), *order = getenv("CC_EMU_ORDER");
    if (check) parse_check(c, check);
    if (order && c.error.empty()) parse_order(c, order);
    if (!c.error.empty()) fprintf(stderr, "cc_emu: %s: every kernel launch fails\n", c.error.c_str());
    return c;
}

}  /* namespace */

const Config &config()
{
    static const Config c = load();
    return c;
}

void permutation(std::vector<uint32_t> &out, uint32_t n, uint64_t key)
{
    out.resize(n);
    const Config &c = config();
    for (uint32_t i = 0; i < n; i++) out[i] = c.order == ORDER_REVERSE ? n - 1 - i : i;
    if (c.order != ORDER_RANDOM) return;
    uint64_t x = c.seed ^ (key * 0x9e3779b97f4a7c15ull);
    for (uint32_t i = n; i > 1; i--) {   /* Fisher-Yates with splitmix64 */
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        uint32_t j = (uint32_t)(z % i);
        uint32_t tmp = out[i - 1];
        out[i - 1] = out[j];
        out[j] = tmp;
    }
}

}  /* namespace check */
}  /* namespace cc_emu */
