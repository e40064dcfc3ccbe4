#include "metrics_log.h"

#include "neurite/core/error.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>
#include <cstdio>

namespace neurite::cli {

namespace {

bool ends_with(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// CSV: "nan", "inf" and "-inf" as C's strtod, Python's float() and
// pandas read them back.
std::string number(double v)
{
    if (!std::isfinite(v))
        return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
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

// JSON has no NaN or infinity: such a value is written as null, and
// "non_finite" says which it was, so a diverging run is not mistaken for a
// missing value.
std::string json_line(const MonitorEvent &e)
{
    QJsonObject o{{"run", QString::fromStdString(e.run)},
                  {"step", static_cast<qint64>(e.step)},
                  {"epoch", static_cast<qint64>(e.epoch)},
                  {"name", QString::fromStdString(e.name)},
                  {"value", std::isfinite(e.value) ? QJsonValue(e.value) : QJsonValue(QJsonValue::Null)},
                  {"time", e.time}};
    if (!std::isfinite(e.value))
        o.insert("non_finite", QString::fromStdString(number(e.value)));
    return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString() + '\n';
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
    if (m_json) {
        m_out << json_line(e);
    } else {
        m_out << csv_field(e.run) << ',' << e.step << ',' << e.epoch << ',' << csv_field(e.name) << ','
              << number(e.value) << ',' << number(e.time) << '\n';
    }
}

void MetricsLog::flush()
{
    m_out.flush();
    if (!m_out)
        throw Error("--log " + m_path + ": writing failed (disk full?)");
}

} // namespace neurite::cli
