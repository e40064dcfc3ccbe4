#include "terminal_progress.h"

#include <algorithm>
#include <cmath>

#include <sys/ioctl.h>
#include <unistd.h>

namespace neurite::cli {

namespace {

// A person does not see more than ~10 redraws a second; more only costs time.
constexpr double kRedrawSeconds = 0.1;

} // namespace

std::string format_duration(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return "--:--";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

std::string format_rate(double per_second)
{
    char buf[32];
    if (!std::isfinite(per_second) || per_second <= 0)
        return "-/s";
    if (per_second >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2fM/s", per_second / 1e6);
    else if (per_second >= 1e4)
        std::snprintf(buf, sizeof buf, "%.1fk/s", per_second / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f/s", per_second);
    return buf;
}

TerminalProgress::TerminalProgress(std::FILE *out, bool interactive, bool quiet)
    : m_out(out), m_interactive(interactive), m_quiet(quiet)
{
}

int TerminalProgress::columns() const
{
    winsize ws{};
    if (ioctl(fileno(m_out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

void TerminalProgress::clear()
{
    if (!m_bar_shown)
        return;
    std::fputs("\r\033[K", m_out);
    m_bar_shown = false;
}

void TerminalProgress::handle(const MonitorEvent &event)
{
    if (m_quiet)
        return;
    switch (event.type) {
    case MonitorEvent::Type::Progress:
        if (m_interactive)
            draw(event);
        break;
    case MonitorEvent::Type::Text:
        clear();
        std::fputs(event.text.c_str(), m_out);
        std::fputc('\n', m_out);
        std::fflush(m_out);
        break;
    case MonitorEvent::Type::RunEnd:
        clear();
        std::fflush(m_out);
        break;
    default: break;
    }
}

void TerminalProgress::draw(const MonitorEvent &event)
{
    const auto now = std::chrono::steady_clock::now();
    const double done = event.value, total = event.total;
    // A new label or a counter that went back starts a new bar (next epoch).
    if (event.name != m_label || done < m_start_done) {
        m_label = event.name;
        m_start_done = done;
        m_start = now;
        m_last_draw = {};
    }
    const bool finished = total > 0 && done >= total;
    if (finished) {
        clear();
        return;
    }
    if (std::chrono::duration<double>(now - m_last_draw).count() < kRedrawSeconds)
        return;
    m_last_draw = now;
    const double elapsed = std::chrono::duration<double>(now - m_start).count();
    const double rate = elapsed > 0 ? (done - m_start_done) / elapsed : 0;
    const double eta = rate > 0 ? (total - done) / rate : NAN;
    char counts[64];
    std::snprintf(counts, sizeof counts, "%.0f/%.0f", done, total);
    const std::string tail = std::string(" ") + counts + "  " + format_rate(rate) + "  ETA " +
                             format_duration(eta);
    const std::string head = m_label.empty() ? std::string() : m_label + " ";
    const int width = std::max(10, columns() - 1 - static_cast<int>(head.size() + tail.size()) - 2);
    const double fraction = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<size_t>(width) + 2, '.');
    bar.front() = '[';
    bar.back() = ']';
    std::fill_n(bar.begin() + 1, filled, '#');
    std::fprintf(m_out, "\r%s%s%s\033[K", head.c_str(), bar.c_str(), tail.c_str());
    std::fflush(m_out);
    m_bar_shown = true;
}

} // namespace neurite::cli
