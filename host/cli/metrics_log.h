#pragma once

#include "neurite/core/monitor.h"

#include <fstream>
#include <string>

namespace neurite::cli {

// --log FILE: every monitored scalar, one row (.csv) or one JSON object
// (.jsonl) per event, with run, step, epoch, name, value and time.
class MetricsLog {
public:
    // Throws neurite::Error when the file cannot be written or the
    // extension is neither .csv nor .jsonl.
    explicit MetricsLog(const std::string &path);

    void handle(const MonitorEvent &event);
    void flush();

private:
    std::string m_path;
    bool m_json = false;
    std::ofstream m_out;
};

std::string json_string(const std::string &s);

} // namespace neurite::cli
