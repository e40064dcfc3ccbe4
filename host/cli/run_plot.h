#pragma once

#include "neurite/core/chart_rules.h"
#include "neurite/core/monitor.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace neurite::cli {

// --plot FILE: keeps every scalar of the run and draws them at the end, one
// chart per quantity as the window groups them (neurite/core/chart_rules.h:
// loss with val_loss, batch_loss alone, lr alone, ...), runs overlaid, x by
// step; with --plot-log the values on a log scale.
class RunPlot {
public:
    explicit RunPlot(bool log_scale = false) : m_log_scale(log_scale) {}

    void handle(const MonitorEvent &event);
    // Draws offscreen (QImage + QPainter) and writes the image in the format
    // its suffix names; throws neurite::Error.
    void write(const std::string &path) const;
    // Why `path` cannot take the picture ("" when it can): its suffix must
    // name a format Qt can write. Checked before the run, not after it.
    static std::string path_problem(const std::string &path);

    struct Series {
        std::string run;
        std::string name;
        std::vector<std::pair<double, double>> points; // (step, value)
    };
    // One chart as it is drawn: what it shows and its axes.
    struct Chart {
        std::string title;
        std::vector<const Series *> series;
        charts::AxisRange x, y;
        bool log_y = false; // false on a log plot when the chart has no positive value
        std::vector<double> x_ticks, y_ticks;
    };
    std::vector<Chart> layout() const;
    std::vector<std::string> runs() const; // in order of appearance

private:
    Chart chart(const std::string &title, std::vector<const Series *> members) const;

    bool m_log_scale;
    std::vector<Series> m_series;
    std::map<std::pair<std::string, std::string>, size_t> m_index;
};

} // namespace neurite::cli
