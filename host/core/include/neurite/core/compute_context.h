#pragma once

#include <neurite/plugin_abi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include <dnnl.hpp>

namespace neurite {

// One oneDNN CPU engine and in-order stream, and the nrt_host that plugins
// see. Instances created on a context keep a pointer to its nrt_host, so the
// context must outlive them. One context per thread that computes.
class ComputeContext {
public:
    ComputeContext();
    ComputeContext(const ComputeContext &) = delete;
    ComputeContext &operator=(const ComputeContext &) = delete;

    dnnl::engine &engine() { return m_engine; }
    dnnl::stream &stream() { return m_stream; }
    const nrt_host *host() const { return &m_host; }

    // Asks long calls to stop; plugins see it through nrt_host.cancel_requested.
    void request_cancel() { m_cancel.store(true, std::memory_order_relaxed); }
    void clear_cancel() { m_cancel.store(false, std::memory_order_relaxed); }
    bool cancel_requested() const { return m_cancel.load(std::memory_order_relaxed); }

    // Warnings plugins log; the default prints to stderr.
    void set_log_handler(std::function<void(int level, const std::string &)> handler);

    // Threads used by oneDNN and the plugins' OpenMP loops (process-wide).
    static void set_num_threads(int n);
    static int num_threads();

    // Whether the threads that compute flush denormals to zero (FTZ/DAZ; see
    // neurite/plugin_denormals.hpp for why). Process-wide and on by default,
    // as in TensorFlow: a subnormal float is then 0, in the model and in the
    // arithmetic of Lua's numbers in the computing thread. A change applies
    // to the calling thread at once, and to every other compute thread and
    // OpenMP team at its next call into a plugin.
    static void set_flush_denormals(bool flush);
    static bool flush_denormals();
    // Gives the calling thread the mode of set_flush_denormals: for threads
    // that compute without an OpenMP team of their own (the prefetch thread,
    // the window's run thread when a run starts).
    static void prepare_thread();
    // The same for the calling thread and the OpenMP team it forks. The host
    // calls it before every call into a plugin; unless the mode changed since
    // this thread's last call, it is a compare.
    static void prepare_team();

    // Calls into a plugin that touch fewer elements than this (inputs,
    // outputs and parameters together) run on the calling thread alone.
    static constexpr int64_t kSerialElements = int64_t{1} << 14;

    // While alive (and `active`), oneDNN primitives and OpenMP loops that
    // size their team by omp_get_max_threads() run on the calling thread
    // alone. A fork and join costs microseconds, hundreds of them when other
    // processes hold the cores, while a sigmoid over 16 floats takes
    // nanoseconds: small calls are cheaper serial. Teams asked for by an
    // explicit num_threads keep their size.
    class SerialScope {
    public:
        explicit SerialScope(bool active);
        ~SerialScope();
        SerialScope(const SerialScope &) = delete;
        SerialScope &operator=(const SerialScope &) = delete;

    private:
        int m_saved = 0; // the thread's team size before, or 0 when inactive
    };

private:
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    nrt_host m_host{};
    std::atomic<bool> m_cancel{false};
    std::function<void(int, const std::string &)> m_log;
};

} // namespace neurite
