#pragma once

// What the bindings share with the runtime: reached from any lua_State of the
// session through the state's extra space (lua_getextraspace), so a binding
// costs one pointer load to find its context and registry.
#include "neurite/lua/runtime.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/data/read_check.h"
#include "neurite/core/monitor.h"
#include "neurite/core/registry.h"

#include <lua.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace neurite::lua {

struct LuaDefinition;

namespace detail {

struct SessionState {
    explicit SessionState(const RuntimeOptions &opts) : options(opts), rng(opts.seed) {}

    RuntimeOptions options;
    ComputeContext context;
    Registry registry;
    Monitor monitor;
    lua_State *L = nullptr;
    // The thread (coroutine) of the binding call in progress: Lua-defined
    // layers called back from C++ run their Lua functions on it.
    lua_State *active = nullptr;
    std::thread::id owner_thread = std::this_thread::get_id();

    std::mt19937_64 rng;
    LuaRuntime::PrintSink print;

    // Cancel handling (see the hook in runtime.cpp).
    bool cancel_seen = false;
    std::chrono::steady_clock::time_point cancel_time;
    std::chrono::steady_clock::time_point interrupt_time;
    int cooperative = 0;
    bool interrupted = false;
    int exit_code = -1; // set by os.exit
    // os.exit was called: every pcall on the way up passes the exit on, and
    // the hook raises it again if C code swallowed it.
    bool exiting = false;
    // What a sandboxed script may read (empty outside the sandbox).
    data::ReadCheck read_check;

    std::string error_message; // the raw message the message handler saw

    std::vector<std::weak_ptr<LuaDefinition>> definitions;

    lua_State *current() const { return active ? active : L; }

    // Each new layer's initialisation seed comes from the session's
    // generator, so tensor.seed(n) (like torch.manual_seed) also fixes the
    // initial weights of the layers created after it.
    uint64_t next_seed() { return rng(); }
};

inline SessionState &session(lua_State *L)
{
    return **static_cast<SessionState **>(lua_getextraspace(L));
}

// Marks L as the running thread for callbacks from C++ into Lua, for the
// length of one binding call.
class ActiveScope {
public:
    explicit ActiveScope(lua_State *L) : m_state(session(L)), m_previous(m_state.active)
    {
        m_state.active = L;
    }
    ~ActiveScope() { m_state.active = m_previous; }
    ActiveScope(const ActiveScope &) = delete;
    ActiveScope &operator=(const ActiveScope &) = delete;

private:
    SessionState &m_state;
    lua_State *m_previous;
};

} // namespace detail
} // namespace neurite::lua
