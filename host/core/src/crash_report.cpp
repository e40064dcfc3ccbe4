#include "neurite/core/crash_report.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <sys/wait.h>
#include <unistd.h>

namespace neurite {

namespace detail {
thread_local const PluginCallFrame *t_plugin_call = nullptr;
std::atomic<const PluginCallFrame *> g_last_plugin_call{nullptr};
} // namespace detail

namespace crash {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

const char *g_program = nullptr;
std::atomic<int> g_report_fd{-1};
// A stack overflow leaves no stack for the handler: it runs on this one.
alignas(16) char g_alternate_stack[64 * 1024];

// Appends to a fixed buffer without allocating; what does not fit is cut.
class Line {
public:
    Line(char *buf, size_t size) : m_buf(buf), m_size(size) { terminate(); }
    Line &text(const char *s)
    {
        for (; s && *s && m_length + 1 < m_size; ++s)
            m_buf[m_length++] = *s;
        terminate();
        return *this;
    }
    Line &number(int64_t v)
    {
        char digits[24];
        int n = 0;
        const bool negative = v < 0;
        uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        do {
            digits[n++] = static_cast<char>('0' + u % 10);
            u /= 10;
        } while (u && n < 23);
        if (negative)
            text("-");
        while (n > 0 && m_length + 1 < m_size)
            m_buf[m_length++] = digits[--n];
        terminate();
        return *this;
    }
    size_t length() const { return m_length; }

private:
    void terminate()
    {
        if (m_size)
            m_buf[m_length < m_size ? m_length : m_size - 1] = '\0';
    }
    char *m_buf;
    size_t m_size;
    size_t m_length = 0;
};

const char *base_name(const char *path)
{
    const char *slash = std::strrchr(path, '/'); // async-signal-safe in practice: a plain scan
    return slash ? slash + 1 : path;
}

void write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        const ssize_t n = write(fd, data, size);
        if (n <= 0)
            return;
        data += n;
        size -= static_cast<size_t>(n);
    }
}

void on_crash(int sig)
{
    const int saved_errno = errno;
    const PluginCallFrame *frame = plugin_call_in_progress();
    char call[256];
    char line[512];
    if (g_program) {
        Line out(line, sizeof line);
        out.text(g_program).text(": crashed with ").text(signal_name(sig));
        if (frame) {
            describe_call(call, sizeof call, *frame, true);
            out.text(" in ").text(call);
        } else {
            out.text(" outside any plugin call");
        }
        out.text("\n");
        write_all(STDERR_FILENO, line, out.length());
    }

    if (const int fd = g_report_fd.load(); fd >= 0) {
        Line report(line, sizeof line);
        report.text("crashed with ").text(signal_name(sig));
        if (frame) {
            describe_call(call, sizeof call, *frame, false);
            report.text(" in ").text(call);
        }
        report.text("\n");
        write_all(fd, line, report.length());
    }
    errno = saved_errno;
    // SA_RESETHAND restored the default action: the signal, raised again,
    // ends the process once this handler returns (also for a signal that
    // kill(1) sent, which returning alone would ignore).
    raise(sig);
}

} // namespace

const char *signal_name(int sig) noexcept
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGXCPU: return "SIGXCPU";
    default: break;
    }
    static char unknown[24];
    Line(unknown, sizeof unknown).text("signal ").number(sig);
    return unknown;
}

size_t describe_call(char *buf, size_t size, const PluginCallFrame &frame, bool with_plugin) noexcept
{
    Line out(buf, size);
    if (with_plugin) {
        if (frame.library)
            out.text("plugin ").text(base_name(frame.library)).text(", ");
        if (frame.entry)
            out.text("entry ").text(frame.entry).text(", ");
    }
    out.text(frame.call ? frame.call : "a call");
    if (frame.batch >= 0)
        out.text(" (batch ").number(frame.batch).text(")");
    return out.length();
}

void install_handlers(const char *program)
{
    g_program = program;
    stack_t stack{};
    stack.ss_sp = g_alternate_stack;
    stack.ss_size = sizeof g_alternate_stack;
    sigaltstack(&stack, nullptr);
    struct sigaction sa {};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : kSignals)
        sigaction(sig, &sa, nullptr);
}

void set_report_fd(int fd) { g_report_fd.store(fd); }

void unblock_signals()
{
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

std::string process_ending(int wait_status)
{
    if (WIFSIGNALED(wait_status))
        return std::string("was killed by ") + signal_name(WTERMSIG(wait_status));
    if (WIFEXITED(wait_status))
        return "ended with exit code " + std::to_string(WEXITSTATUS(wait_status));
    return "ended";
}

} // namespace crash
} // namespace neurite
