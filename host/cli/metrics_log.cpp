#include "metrics_log.h"

#include "neurite/core/error.h"

#include <cmath>
#include <cstdio>

namespace neurite::cli {

namespace {

bool ends_with(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string number(double v, bool json)
{
    if (!std::isfinite(v))
        return json ? "null" : (std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

// CSV fields are quoted only when they need it.
std::string csv_field(const std::string &s)
{
    if (s.find_first_of(",\"\n") == std::string::npos)
        return s;
    std::string out = "\"";
    for (char c : s)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

} // namespace

std::string json_string(const std::string &s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

MetricsLog::MetricsLog(const std::string &path) : m_path(path)
{
    if (ends_with(path, ".jsonl"))
        m_json = true;
    else if (!ends_with(path, ".csv"))
        throw Error("--log " + path + ": the file name must end in .csv or .jsonl");
    m_out.open(path, std::ios::out | std::ios::trunc);
    if (!m_out)
        throw Error("--log " + path + ": cannot open the file for writing");
    if (!m_json)
        m_out << "run,step,epoch,name,value,time\n";
}

void MetricsLog::handle(const MonitorEvent &e)
{
    if (e.type == MonitorEvent::Type::RunEnd) {
        m_out.flush();
        return;
    }
    if (e.type != MonitorEvent::Type::Scalar)
        return;
    if (m_json)
        m_out << "{\"run\":" << json_string(e.run) << ",\"step\":" << e.step
              << ",\"epoch\":" << e.epoch << ",\"name\":" << json_string(e.name)
              << ",\"value\":" << number(e.value, true) << ",\"time\":" << number(e.time, true)
              << "}\n";
    else
        m_out << csv_field(e.run) << ',' << e.step << ',' << e.epoch << ',' << csv_field(e.name)
              << ',' << number(e.value, false) << ',' << number(e.time, false) << '\n';
}

void MetricsLog::flush()
{
    m_out.flush();
    if (!m_out)
        throw Error("--log " + m_path + ": writing failed (disk full?)");
}

} // namespace neurite::cli
