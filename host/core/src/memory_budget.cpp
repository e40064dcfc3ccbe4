#include "neurite/core/memory_budget.h"

#include "neurite/core/error.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

namespace neurite::memory {

namespace {

constexpr size_t kAlignment = 64;

std::atomic<uint64_t> g_limit{0};
std::atomic<uint64_t> g_tensors{0};
std::atomic<uint64_t> g_lua{0};

} // namespace

void set_limit(uint64_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }
uint64_t limit() { return g_limit.load(std::memory_order_relaxed); }
uint64_t tensor_bytes() { return g_tensors.load(std::memory_order_relaxed); }
uint64_t lua_bytes() { return g_lua.load(std::memory_order_relaxed); }

std::shared_ptr<float> tensor_storage(size_t bytes)
{
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (bytes == 0)
        bytes = kAlignment;
    const uint64_t cap = limit();
    if (cap && tensor_bytes() + lua_bytes() + bytes > cap)
        throw Error("out of memory: a tensor of " + size_text(bytes) + " would pass " + limit_text());
    void *p = std::aligned_alloc(kAlignment, bytes);
    if (!p)
        return nullptr;
    g_tensors.fetch_add(bytes, std::memory_order_relaxed);
    return std::shared_ptr<float>(static_cast<float *>(p), [bytes](float *q) {
        std::free(q);
        g_tensors.fetch_sub(bytes, std::memory_order_relaxed);
    });
}

bool charge_lua(uint64_t more, uint64_t ceiling)
{
    if (ceiling && tensor_bytes() + lua_bytes() + more > ceiling)
        return false;
    g_lua.fetch_add(more, std::memory_order_relaxed);
    return true;
}

void uncharge_lua(uint64_t fewer) { g_lua.fetch_sub(fewer, std::memory_order_relaxed); }

std::string size_text(uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = static_cast<double>(bytes);
    int unit = 0;
    while (v >= 1024 && unit < 6) {
        v /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 || v >= 100 ? "%.0f" : "%.1f", v);
    std::string number = text;
    if (number.size() > 2 && number.compare(number.size() - 2, 2, ".0") == 0)
        number.resize(number.size() - 2); // "64 MiB", not "64.0 MiB"
    return number + " " + units[unit];
}

std::string limit_text()
{
    return "the memory limit of " + size_text(limit()) + " (in use: Lua " + size_text(lua_bytes()) + ", tensors " +
           size_text(tensor_bytes()) + ")";
}

uint64_t physical_memory()
{
    // sysconf(_SC_PHYS_PAGES) is a system call: asked once, not per tensor.
    static const uint64_t bytes = [] {
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long page = sysconf(_SC_PAGESIZE);
        return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : uint64_t(0);
    }();
    return bytes;
}

} // namespace neurite::memory
