#pragma once

#include "neurite/core/monitor.h"

#include <fstream>
#include <string>

namespace neurite::cli {

// --log FILE: every monitored scalar, one row (.csv) or one JSON object
// (.jsonl) per event, with run, step, epoch, name, value and time. A NaN or
// infinite value is "nan", "inf" or "-inf" in CSV; in JSON, which has no
// such numbers, it is null with "non_finite": "nan", "inf" or "-inf".
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

// One .jsonl line (newline included): {"epoch":1,"name":"loss","run":"xor",
// "step":40,"time":0.25,"value":0.5}, keys in QJsonObject's (sorted) order.
std::string json_line(const MonitorEvent &event);

} // namespace neurite::cli
