#pragma once

// Which plugin call is in progress, so that a crash inside a plugin can be
// reported with the culprit's name ("crashed with SIGSEGV in plugin
// libneurite-bad.so, entry BadLayer, forward (batch 4)").
//
// Recording a call costs two stores on entry and two on exit: the frame
// lives on the caller's stack and points at strings that outlive the call
// (the registry's Entry, string literals), so nothing is copied or
// allocated, and a signal handler can read it without locks.
#include "neurite/core/registry.h"

#include <atomic>
#include <cstdint>

namespace neurite {

struct PluginCallFrame {
    const char *library = nullptr; // the library file (Entry::origin); null for Lua-defined entries
    const char *entry = nullptr;   // the entry's name, or null (the entry point)
    const char *call = nullptr;    // "forward", "create", "step", ...
    int64_t batch = -1;            // the input's first dimension, -1 when none
    const PluginCallFrame *outer = nullptr;
};

namespace detail {
// The innermost call of this thread. initial-exec: reading it from a signal
// handler must not allocate (dynamic TLS could).
extern thread_local const PluginCallFrame *t_plugin_call __attribute__((tls_model("initial-exec")));
// The innermost call of whichever thread entered or left one last: a crash
// in a plugin's worker thread (OpenMP) is reported with the call that
// started the work.
extern std::atomic<const PluginCallFrame *> g_last_plugin_call;
} // namespace detail

// Marks a call into a plugin for the length of a scope:
//     PluginCall call(*m_entry, "forward", src.shape()[0]);
class PluginCall {
public:
    PluginCall(const Entry &entry, const char *call, int64_t batch = -1) noexcept
        : PluginCall(entry.native ? entry.origin.c_str() : nullptr, entry.name.c_str(), call, batch)
    {}
    PluginCall(const char *library, const char *entry, const char *call, int64_t batch = -1) noexcept
    {
        m_frame.library = library;
        m_frame.entry = entry;
        m_frame.call = call;
        m_frame.batch = batch;
        m_frame.outer = detail::t_plugin_call;
        detail::t_plugin_call = &m_frame;
        detail::g_last_plugin_call.store(&m_frame, std::memory_order_relaxed);
    }
    ~PluginCall()
    {
        detail::t_plugin_call = m_frame.outer;
        detail::g_last_plugin_call.store(m_frame.outer, std::memory_order_relaxed);
    }
    PluginCall(const PluginCall &) = delete;
    PluginCall &operator=(const PluginCall &) = delete;

private:
    PluginCallFrame m_frame;
};

// The call in progress on this thread, else the last one any thread entered
// (null when none is): what a crash report names.
inline const PluginCallFrame *plugin_call_in_progress() noexcept
{
    if (const PluginCallFrame *mine = detail::t_plugin_call)
        return mine;
    return detail::g_last_plugin_call.load(std::memory_order_relaxed);
}

} // namespace neurite
