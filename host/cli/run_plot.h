#pragma once

#include "neurite/core/monitor.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace neurite::cli {

// --plot FILE.png: keeps every scalar of the run and draws them at the end,
// one chart per quantity (loss with val_loss and batch_loss, accuracy with
// val_accuracy, lr, ...), runs overlaid, x by step.
class RunPlot {
public:
    void handle(const MonitorEvent &event);
    // Draws offscreen (QImage + QPainter) and writes a PNG; throws neurite::Error.
    void write(const std::string &path) const;

    struct Series {
        std::string run;
        std::string name;
        std::vector<std::pair<double, double>> points; // (step, value)
    };

private:
    std::vector<Series> m_series;
    std::map<std::pair<std::string, std::string>, size_t> m_index;
};

} // namespace neurite::cli
