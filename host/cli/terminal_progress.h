#pragma once

#include "neurite/core/monitor.h"

#include <chrono>
#include <cstdio>
#include <string>

namespace neurite::cli {

// The runner's own output from the event stream: a progress bar with rate
// and ETA when stdout is a terminal, and text lines (one per epoch from
// train.fit) always. Under nohup or a batch scheduler, the bar is skipped,
// so the log stays one readable line per epoch.
class TerminalProgress {
public:
    TerminalProgress(std::FILE *out, bool interactive, bool quiet);

    void handle(const MonitorEvent &event);
    // Call before writing anything else to the terminal: removes the bar.
    void clear();

private:
    void draw(const MonitorEvent &event);
    int columns() const;

    std::FILE *m_out;
    bool m_interactive;
    bool m_quiet;
    bool m_bar_shown = false;
    std::string m_label;
    double m_start_done = 0;
    std::chrono::steady_clock::time_point m_start;
    std::chrono::steady_clock::time_point m_last_draw;
};

std::string format_duration(double seconds); // "1:05", "1:02:03"
std::string format_rate(double per_second);  // "950/s", "45.2k/s"

} // namespace neurite::cli
