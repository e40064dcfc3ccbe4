#include "memory_limit.h"

#include "binding.h"

#include "neurite/core/memory_budget.h"

#include <cstdlib>

namespace neurite::lua {

namespace {

// How far past the limit Lua may go while the hook is on its way: an eighth
// of the limit, and at least 16 MiB.
uint64_t hard_ceiling(uint64_t limit) { return limit + std::max<uint64_t>(limit / 8, uint64_t(16) << 20); }

uint64_t in_use() { return memory::lua_bytes() + memory::tensor_bytes(); }

// The name of the C function at level 0 ("zeros"), or "".
std::string running_function(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name)
        return ar.name;
    return {};
}

} // namespace

void *session_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    auto *s = static_cast<detail::SessionState *>(ud);
    const size_t held = ptr ? old_size : 0; // without ptr, old_size is a type tag
    if (new_size == 0) {
        std::free(ptr);
        memory::uncharge_lua(held);
        return nullptr;
    }
    if (new_size <= held) {
        void *p = std::realloc(ptr, new_size);
        if (p)
            memory::uncharge_lua(held - new_size);
        return p;
    }
    const uint64_t more = new_size - held;
    const uint64_t limit = memory::limit();
    if (!memory::charge_lua(more, limit ? hard_ceiling(limit) : 0)) {
        s->refused_allocation = new_size;
        return nullptr;
    }
    void *p = std::realloc(ptr, new_size);
    if (!p) {
        memory::uncharge_lua(more);
        s->refused_allocation = new_size;
        return nullptr;
    }
    if (limit && in_use() > limit)
        s->over_memory = true;
    return p;
}

void raise_memory_limit(lua_State *L, int level)
{
    detail::SessionState &s = detail::session(L);
    s.over_memory = false; // raised once per crossing; a script that caught it and goes on meets it again
    // Garbage may be all that is over the limit (a script that caught the
    // error and dropped what it built): collected, the run goes on.
    lua_gc(L, LUA_GCCOLLECT);
    if (in_use() <= memory::limit()) {
        s.over_memory = false;
        return;
    }
    luaL_where(L, level);
    lua_pushstring(L, ("out of memory: the script passed " + memory::limit_text()).c_str());
    lua_concat(L, 2);
    lua_error(L);
    std::terminate(); // lua_error does not return
}

void check_tensor_allocation(lua_State *L, const Shape &shape)
{
    double bytes = sizeof(float);
    for (int64_t d : shape)
        bytes *= static_cast<double>(d);
    const uint64_t limit = memory::limit();
    const uint64_t machine = memory::physical_memory();
    std::string more_than;
    if (limit && static_cast<double>(in_use()) + bytes > static_cast<double>(limit))
        more_than = "more than fits under " + memory::limit_text();
    else if (machine && bytes > static_cast<double>(machine))
        more_than = "more than this machine's memory (" + memory::size_text(machine) + ")";
    if (more_than.empty())
        return;
    const std::string fn = running_function(L);
    const uint64_t shown = bytes >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(bytes);
    raise(L, (fn.empty() ? std::string() : fn + ": ") + "out of memory: a tensor of shape " + shape.to_string() +
                 " needs " + memory::size_text(shown) + ", " + more_than);
}

std::string refused_allocation_message(const detail::SessionState &s)
{
    std::string message = "out of memory: ";
    const uint64_t limit = memory::limit();
    if (limit && s.refused_allocation)
        message += "an allocation of " + memory::size_text(s.refused_allocation) + " would pass " +
                   memory::limit_text();
    else if (s.refused_allocation)
        message += "the system refused an allocation of " + memory::size_text(s.refused_allocation);
    else
        message += "Lua could not allocate memory";
    if (s.last_line > 0)
        message += std::string(" (the script was last seen running ") + s.last_source + ":" +
                   std::to_string(s.last_line) + ")";
    return message;
}

} // namespace neurite::lua
