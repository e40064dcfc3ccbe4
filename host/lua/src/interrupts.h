#pragma once

// Stopping a script: Ctrl-C (a cancel request), --time-limit and
// --max-memory all end a run with an error at the script's line, raised by
// the instruction-count hook or by a long binding's own checks between
// chunks of work (interrupts.cpp, memory_limit.cpp).
#include "session_state.h"

#include <functional>
#include <memory>
#include <string>

struct lua_State;

namespace neurite::lua {

// VM instructions between two runs of the hook: a few tens of
// microseconds, and a negligible cost per step.
inline constexpr int kHookCount = 10000;

// The hook itself: installed on the main state, inherited by coroutines.
void interrupt_hook(lua_State *L, lua_Debug *ar);

// For bindings that run long in C (a large matmul, t:map over a C
// function): raises the pending interrupt, time limit or exit now, as the
// hook would. One atomic load when nothing is pending.
void check_interrupt(lua_State *L);

// dnnl_sgemm (row-major, C = A·B with op = 'N' or 'T') in blocks of rows of
// C, with check_interrupt between blocks: a 6000² product stops within a
// fraction of a second. Raises a Lua error if oneDNN fails.
void cancellable_sgemm(lua_State *L, char transa, char transb, int64_t m, int64_t n, int64_t k, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

// Watches one run from another thread: raises the time limit (as a cancel
// request with its own message), and when a cancel request is not noticed
// within a second (the script is inside C code that nothing can interrupt,
// such as string.find on a long text), calls `stuck` with a sentence saying
// so: the program may end itself then, as nothing else can stop the script.
class RunSupervisor {
public:
    using StuckHandler = std::function<void(const std::string &message, bool time_limit)>;
    RunSupervisor(detail::SessionState &session, StuckHandler stuck);
    ~RunSupervisor();
    RunSupervisor(const RunSupervisor &) = delete;
    RunSupervisor &operator=(const RunSupervisor &) = delete;

private:
    struct Thread;
    std::unique_ptr<Thread> m_thread;
};

// "time limit of 5 s exceeded", for messages.
std::string time_limit_text(double seconds);

} // namespace neurite::lua
