#pragma once

// What the bindings share with the runtime: reached from any lua_State of the
// session through the state's extra space (lua_getextraspace), so a binding
// costs one pointer load to find its context and registry.
#include "neurite/lua/runtime.h"

#include "run_store.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/data/read_check.h"
#include "neurite/core/monitor.h"
#include "neurite/core/registry.h"

#include <lua.hpp>

#include <atomic>
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
    // Subscribed to the monitor for as long as the session lives.
    std::unique_ptr<RunStore> run_store;
    // How many of options.command_line's words come before the script
    // (run_file's interpreter): what a --sweep-parallel worker may change.
    size_t script_interpreter_size = 0;
    lua_State *L = nullptr;
    // The thread (coroutine) of the binding call in progress: Lua-defined
    // layers called back from C++ run their Lua functions on it.
    lua_State *active = nullptr;
    std::thread::id owner_thread = std::this_thread::get_id();

    std::mt19937_64 rng;
    LuaRuntime::PrintSink print;

    // Cancel handling (see the hook in interrupts.cpp).
    bool cancel_seen = false;
    std::chrono::steady_clock::time_point cancel_time;
    std::chrono::steady_clock::time_point interrupt_time;
    std::atomic<int> cooperative{0};
    bool interrupted = false;
    // Set once Lua code (the hook) or a binding's own check has seen the
    // cancel request: until then the script may be stuck in C code, which
    // the run's supervisor watches for.
    std::atomic<bool> cancel_noticed{false};
    // Why the run is being cancelled.
    enum class CancelReason { Interrupt, TimeLimit };
    std::atomic<CancelReason> cancel_reason{CancelReason::Interrupt};

    // --max-memory: Lua's allocations passed the limit (the hook raises the
    // error at the script's line), or one was refused outright (too large
    // to wait for the hook: Lua's own "not enough memory" error follows).
    bool over_memory = false;
    uint64_t refused_allocation = 0;
    // Where Lua code last ran, recorded by the hook: what a refused
    // allocation's message can name.
    char last_source[64] = {};
    int last_line = 0;
    int exit_code = -1; // set by os.exit
    // os.exit was called: every pcall on the way up passes the exit on, and
    // the hook raises it again if C code swallowed it.
    bool exiting = false;
    // What a sandboxed script may read (empty outside the sandbox).
    data::ReadCheck read_check;

    std::string error_message; // the message the message handler saw, at the user's line
    std::vector<TraceFrame> error_frames; // its stack, innermost first

    std::vector<std::weak_ptr<LuaDefinition>> definitions;

    // The metatables of the bindings' userdata types by their registry name
    // (the kTensorMeta pointer, ...), found once: test_userdata compares
    // addresses instead of looking the name up in the registry every call.
    struct KnownMetatable {
        const char *name = nullptr;
        const void *table = nullptr;
    };
    KnownMetatable metatables[8];

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
