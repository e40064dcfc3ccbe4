#include "neurite/core/compute_context.h"

#include <neurite/plugin_denormals.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include <omp.h>

namespace neurite {

namespace {

std::atomic<bool> g_flush_denormals{true};
// Bumped by every change of the mode. A thread remembers the generation it
// last brought itself (and its team) to, so that the check before each call
// into a plugin is a thread-local read and a compare. Initial-exec: the
// library is loaded with the program, and the read is then one instruction
// instead of a call to __tls_get_addr.
std::atomic<uint64_t> g_mode_generation{1};
[[gnu::tls_model("initial-exec")]] thread_local uint64_t t_thread_generation = 0;
[[gnu::tls_model("initial-exec")]] thread_local uint64_t t_team_generation = 0;

} // namespace

ComputeContext::ComputeContext()
    : m_engine(dnnl::engine::kind::cpu, 0), m_stream(m_engine)
{
    m_host.struct_size = sizeof(nrt_host);
    m_host.abi_major = NRT_ABI_MAJOR;
    m_host.abi_minor = NRT_ABI_MINOR;
    m_host.engine = reinterpret_cast<struct dnnl_engine *>(m_engine.get());
    m_host.stream = reinterpret_cast<struct dnnl_stream *>(m_stream.get());
    m_host.num_threads = num_threads();
    m_host.context = this;
    m_host.log = [](void *self, int32_t level, const char *message) {
        auto *ctx = static_cast<ComputeContext *>(self);
        if (ctx->m_log)
            ctx->m_log(level, message ? message : "");
        else
            std::fprintf(stderr, "%s: %s\n", level ? "warning" : "info", message ? message : "");
    };
    m_host.cancel_requested = [](void *self) -> int32_t {
        return static_cast<ComputeContext *>(self)->cancel_requested() ? 1 : 0;
    };
    m_host.flush_denormals = [](void *) -> int32_t { return flush_denormals() ? 1 : 0; };
}

void ComputeContext::set_log_handler(std::function<void(int, const std::string &)> handler)
{
    m_log = std::move(handler);
}

void ComputeContext::set_num_threads(int n)
{
    if (n > 0)
        omp_set_num_threads(n);
}

int ComputeContext::num_threads() { return omp_get_max_threads(); }

// omp_set_num_threads changes the calling thread's own setting only (an
// OpenMP internal control variable of its data environment): other threads,
// and the next call, are unaffected once it is restored.
ComputeContext::SerialScope::SerialScope(bool active)
{
    if (!active || omp_in_parallel())
        return;
    m_saved = omp_get_max_threads();
    if (m_saved > 1)
        omp_set_num_threads(1);
    else
        m_saved = 0;
}

ComputeContext::SerialScope::~SerialScope()
{
    if (m_saved > 0)
        omp_set_num_threads(m_saved);
}

void ComputeContext::set_flush_denormals(bool flush)
{
    g_flush_denormals.store(flush, std::memory_order_relaxed);
    g_mode_generation.fetch_add(1, std::memory_order_release);
    // The caller at once, without forking a team (it may be a UI thread);
    // teams at their master's next call into a plugin.
    prepare_thread();
}

bool ComputeContext::flush_denormals() { return g_flush_denormals.load(std::memory_order_relaxed); }

void ComputeContext::prepare_thread()
{
    const uint64_t generation = g_mode_generation.load(std::memory_order_acquire);
    if (t_thread_generation == generation)
        return;
    sdk::set_flush_denormals(flush_denormals());
    t_thread_generation = generation;
}

// libgomp gives each thread that forks a team of its own, kept between
// regions, and does not pass the mode on to workers it already has. One
// region of the current size reaches every worker: a later region of the
// same size gets the same threads, a smaller one ends those it leaves over,
// and a larger one creates the missing ones from this thread, and a new
// thread copies its creator's mode.
void ComputeContext::prepare_team()
{
    const uint64_t generation = g_mode_generation.load(std::memory_order_acquire);
    if (t_team_generation == generation)
        return;
    const bool flush = flush_denormals();
    sdk::set_flush_denormals(flush);
    if (!omp_in_parallel()) {
#pragma omp parallel
        sdk::set_flush_denormals(flush);
    }
    t_thread_generation = t_team_generation = generation;
}

} // namespace neurite
