#include "interrupts.h"

#include "binding.h"
#include "memory_limit.h"
#include "sandbox.h"

#include "neurite/core/crash_report.h"
#include "neurite/core/plugin_call.h"

#include <dnnl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

namespace neurite::lua {

namespace {

using Clock = std::chrono::steady_clock;

// A cancel request that the script has not noticed after this long means
// it is stuck in C code (longer while a plugin call or train.fit's step is
// under way: see RunSupervisor).
constexpr double kStuckSeconds = 1.0;

// Rows of C per dnnl_sgemm call: enough for oneDNN's blocking to stay
// efficient, few enough that one block takes a fraction of a second.
constexpr int64_t kMinBlockRows = 256;
// Below this many multiply-adds a product is one call: it ends soon anyway.
constexpr double kSplitWork = 2e8;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Raises the cancel's error at `level` (0 in the hook: the running Lua
// function; 1 in a binding: its caller), unless code that stops by itself
// at step boundaries (train.fit) still has its grace period. A script that
// caught the error and is still running a grace period later is stopped
// for good: the hook then fires on every instruction until the error
// reaches the top.
void deliver_interrupt(lua_State *L, detail::SessionState &s, int level)
{
    s.cancel_noticed.store(true);
    const auto now = Clock::now();
    const double grace = s.options.interrupt_grace_seconds;
    if (!s.cancel_seen) {
        s.cancel_seen = true;
        s.cancel_time = now;
    }
    if (s.cooperative > 0 && seconds(now - s.cancel_time) < grace)
        return; // train.fit stops at its next step boundary by itself
    if (!s.interrupted) {
        s.interrupted = true;
        s.interrupt_time = now;
    } else if (seconds(now - s.interrupt_time) < grace) {
        return;
    } else {
        lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1);
    }
    luaL_where(L, level);
    if (s.cancel_reason == detail::SessionState::CancelReason::TimeLimit)
        lua_pushstring(L, time_limit_text(s.options.time_limit_seconds).c_str());
    else
        lua_pushliteral(L, "interrupted");
    lua_concat(L, 2);
    lua_error(L);
}

void check_pending(lua_State *L, detail::SessionState &s, int level)
{
    if (s.exiting)
        raise_exit(L); // C code (a Lua layer's protected call) caught os.exit
    if (s.over_memory)
        raise_memory_limit(L, level);
    if (s.context.cancel_requested())
        deliver_interrupt(L, s, level);
}

} // namespace

std::string time_limit_text(double limit)
{
    char text[64];
    std::snprintf(text, sizeof text, "time limit of %g s exceeded", limit);
    return text;
}

void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    detail::SessionState &s = detail::session(L);
    // Where Lua code runs now: all that a refused allocation (which
    // unwinds without a traceback) can name later.
    if (lua_getinfo(L, "Sl", ar)) {
        std::strncpy(s.last_source, ar->short_src, sizeof s.last_source - 1);
        s.last_line = ar->currentline;
    }
    check_pending(L, s, 0);
}

void check_interrupt(lua_State *L)
{
    detail::SessionState &s = detail::session(L);
    if (s.exiting || s.over_memory || s.context.cancel_requested())
        check_pending(L, s, 1);
}

void cancellable_sgemm(lua_State *L, char transa, char transb, int64_t m, int64_t n, int64_t k, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    int64_t rows = m;
    if (work > kSplitWork)
        rows = std::max<int64_t>(kMinBlockRows, static_cast<int64_t>(kSplitWork / (double(n) * double(k))));
    for (int64_t first = 0; first < m; first += rows) {
        check_interrupt(L);
        const int64_t count = std::min(rows, m - first);
        // Row `first` of op(A): a row of A, or a column of A stored transposed.
        const float *a_rows = transa == 'N' ? a + first * lda : a + first;
        if (dnnl_sgemm(transa, transb, count, n, k, 1.0f, a_rows, lda, b, ldb, 0.0f, c + first * ldc, ldc) !=
            dnnl_success)
            raise(L, "t:matmul: oneDNN's sgemm failed for a product of " + std::to_string(m) + "×" +
                         std::to_string(k) + " and " + std::to_string(k) + "×" + std::to_string(n));
    }
}

// ---- the supervisor

struct RunSupervisor::Thread {
    Thread(detail::SessionState &session, StuckHandler handler) : s(session), stuck(std::move(handler)) {}

    detail::SessionState &s;
    StuckHandler stuck;
    std::mutex mutex;
    std::condition_variable wake;
    bool stop = false;
    std::thread thread;

    // The call the script is stuck in, as the stuck message names it.
    static std::string stuck_in()
    {
        if (const PluginCallFrame *frame = plugin_call_in_progress()) {
            char call[256];
            crash::describe_call(call, sizeof call, *frame, true);
            return call;
        }
        return "a C function that cannot be interrupted (such as string.find or string.rep on a long text)";
    }

    void run()
    {
        const auto start = Clock::now();
        const double limit = s.options.time_limit_seconds;
        std::optional<Clock::time_point> cancel_at;
        bool reported = false;
        std::unique_lock lock(mutex);
        while (!wake.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop; })) {
            const auto now = Clock::now();
            if (limit > 0 && seconds(now - start) >= limit && !s.context.cancel_requested()) {
                s.cancel_reason = detail::SessionState::CancelReason::TimeLimit;
                s.context.request_cancel();
            }
            if (!s.context.cancel_requested()) {
                cancel_at.reset();
                continue;
            }
            if (!cancel_at)
                cancel_at = now;
            if (s.cancel_noticed || reported || !stuck)
                continue;
            // A plugin's long call or a train.fit step may notice later by
            // itself: they get the grace period train.fit has.
            const bool busy = s.cooperative > 0 || plugin_call_in_progress() != nullptr;
            const double allowed = busy ? std::max(kStuckSeconds, s.options.interrupt_grace_seconds) : kStuckSeconds;
            const double waited = seconds(now - *cancel_at);
            if (waited < allowed)
                continue;
            reported = true;
            const bool time_limit = s.cancel_reason == detail::SessionState::CancelReason::TimeLimit;
            char waited_text[32];
            std::snprintf(waited_text, sizeof waited_text, "%.1f", waited);
            stuck((time_limit ? time_limit_text(limit) : std::string("interrupted")) + ", but the script did not " +
                      "stop within " + waited_text + " s: it is inside " + stuck_in() +
                      "; stopped without cleanup",
                  time_limit);
        }
    }
};

RunSupervisor::RunSupervisor(detail::SessionState &session, StuckHandler stuck)
{
    if (!stuck && session.options.time_limit_seconds <= 0)
        return; // nothing to watch
    m_thread = std::make_unique<Thread>(session, std::move(stuck));
    m_thread->thread = std::thread([t = m_thread.get()] { t->run(); });
}

RunSupervisor::~RunSupervisor()
{
    if (!m_thread)
        return;
    {
        std::lock_guard lock(m_thread->mutex);
        m_thread->stop = true;
    }
    m_thread->wake.notify_one();
    m_thread->thread.join();
}

} // namespace neurite::lua
