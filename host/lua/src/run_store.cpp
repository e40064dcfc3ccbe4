#include "run_store.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace neurite::lua {

namespace fs = std::filesystem;

struct RunStore::Run {
    std::string monitor_id; // the monitor's run id ("xor-2")
    std::string id;         // the directory's name
    fs::path dir;
    bool open = false;
    bool written = false; // has a directory
    bool failed_to_write = false;
    QJsonObject hyperparameters;
    QJsonArray checkpoints;
    std::map<std::string, double> last;
    std::string started, ended;
    double started_clock = 0;
    int64_t step = 0, epoch = 0;
    std::string status = "running", message;
    std::ofstream metrics;
    std::string pending; // lines of metrics.jsonl not yet written
};

namespace {

constexpr size_t kMetricsBuffer = 64 * 1024;

std::string now_iso()
{
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toStdString();
}

// A run's name as part of a directory name: letters, digits, '-', '_' and '.'.
std::string file_name_part(const std::string &name)
{
    std::string out;
    for (char c : name) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_' || c == '.';
        out += plain ? c : '_';
    }
    if (out.size() > 60)
        out.resize(60);
    return out.empty() || out[0] == '.' ? "run" + out : out;
}

// Seconds with 6 decimals, from whole microseconds: the fixed-precision
// to_chars of a double costs as much as the rest of a metrics line.
void append_seconds(std::string &out, double seconds)
{
    const int64_t micros = std::llround(std::max(0.0, seconds) * 1e6);
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, micros / 1000000).ptr);
    const int64_t fraction = micros % 1000000;
    char *end = std::to_chars(digits, digits + sizeof digits, fraction).ptr;
    out += '.';
    out.append(static_cast<size_t>(6 - (end - digits)), '0');
    out.append(digits, end);
}

QString qs(const std::string &s) { return QString::fromStdString(s); }

// JSON has no NaN or infinity: null, as --log's .jsonl writes them.
QJsonValue json_number(double v) { return std::isfinite(v) ? QJsonValue(v) : QJsonValue(QJsonValue::Null); }

} // namespace

RunStore::RunStore(std::string dir, uint64_t seed, WriteCheck check, Warn warn)
    : m_dir(std::move(dir)), m_seed(seed), m_check(std::move(check)), m_warn(std::move(warn)),
      m_current(std::make_unique<Run>()), m_run(*m_current)
{
    // Absolute, so that monitor.run_dir and a sweep's run_dir name the
    // folder whatever the script does with the working directory.
    std::error_code ec;
    if (!m_dir.empty())
        m_dir = fs::absolute(m_dir, ec).lexically_normal().string();
}

const std::map<std::string, double> &RunStore::final_metrics() const { return m_run.last; }

RunStore::~RunStore()
{
    if (m_run.open)
        end(false, m_run.started_clock);
}

void RunStore::set_script(const std::string &path, const std::vector<std::string> &args, const std::string *text)
{
    std::error_code ec;
    m_script_path = fs::absolute(path, ec).lexically_normal().string();
    m_args = args;
    m_script_text.clear();
    if (m_dir.empty())
        return;
    if (text) {
        m_script_text = *text;
        return;
    }
    // Read when the script starts: an edit during the run must not change
    // the copy that says what ran.
    std::ifstream in(path, std::ios::binary);
    std::ostringstream file_text;
    file_text << in.rdbuf();
    m_script_text = file_text.str();
}

std::string RunStore::run_dir() const
{
    return m_run.open && m_run.written ? m_run.dir.string() : std::string();
}

void RunStore::handle(const MonitorEvent &e)
{
    switch (e.type) {
    case MonitorEvent::Type::RunBegin: begin(e.run, e.time); return;
    case MonitorEvent::Type::RunEnd:
        if (m_run.open && e.run == m_run.monitor_id) {
            m_run.step = e.step;
            m_run.epoch = e.epoch;
            end(e.value != 0, e.time);
        }
        return;
    case MonitorEvent::Type::Scalar:
        // Events outside begin_run belong to a run the monitor named on the fly.
        if (!m_run.open || e.run != m_run.monitor_id)
            begin(e.run, e.time);
        m_run.last[e.name] = e.value;
        m_run.step = std::max(m_run.step, e.step);
        m_run.epoch = std::max(m_run.epoch, e.epoch);
        append_scalar(e);
        return;
    default: return;
    }
}

void RunStore::begin(const std::string &monitor_id, double clock)
{
    if (m_run.open)
        end(true, clock);
    m_run = Run{};
    m_run.monitor_id = monitor_id;
    m_run.open = true;
    m_run.started = now_iso();
    m_run.started_clock = clock;
}

void RunStore::end(bool completed, double clock)
{
    (void)clock;
    if (m_run.status == "running")
        m_run.status = completed ? "finished" : "stopped";
    m_run.ended = now_iso();
    m_run.open = false;
    // A run that kept nothing (the script's own run before train.sweep or a
    // named train.fit began theirs) leaves no directory, unless it failed.
    if (m_run.written || m_run.status != "finished")
        write_run_json();
    flush_metrics();
    if (m_run.metrics.is_open())
        m_run.metrics.close();
}

std::string RunStore::unique_id(const std::string &name)
{
    const std::string time = QDateTime::currentDateTimeUtc().toString("yyyyMMdd-HHmmss").toStdString();
    return time + "-" + std::to_string(++m_counter) + "-" + file_name_part(name);
}

bool RunStore::materialise()
{
    if (m_run.written || m_dir.empty() || m_run.failed_to_write)
        return m_run.written;
    m_run.failed_to_write = true; // until it worked: one warning per run
    std::error_code ec;
    fs::create_directories(m_dir, ec);
    if (ec) {
        m_warn("run store: cannot create " + m_dir + ": " + ec.message());
        return false;
    }
    // Another process (a --sweep-parallel worker, a second neurite-run)
    // may take the same second and counter: creating the directory is the
    // test, so two runs never share one.
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const std::string id = unique_id(m_run.monitor_id);
        const fs::path dir = fs::path(m_dir) / id;
        if (m_check) {
            if (const std::string refusal = m_check(dir.string()); !refusal.empty()) {
                m_warn(refusal);
                return false;
            }
        }
        if (!fs::create_directory(dir, ec)) {
            if (ec) {
                m_warn("run store: cannot create " + dir.string() + ": " + ec.message());
                return false;
            }
            continue; // taken
        }
        m_run.id = id;
        m_run.dir = dir;
        break;
    }
    if (m_run.dir.empty())
        return false;
    m_run.metrics.open(m_run.dir / "metrics.jsonl", std::ios::out | std::ios::trunc);
    if (!m_script_text.empty() || !m_script_path.empty()) {
        std::ofstream copy(m_run.dir / fs::path(m_script_path).filename(), std::ios::binary);
        copy << m_script_text;
    }
    m_run.written = true;
    m_run.failed_to_write = false;
    write_run_json();
    return true;
}

void RunStore::append_scalar(const MonitorEvent &e)
{
    if (!m_run.written && !materialise())
        return;
    // One short line per scalar, formatted by hand into a buffer that goes
    // to the file 64 KiB at a time: on a small model a step takes tens of
    // microseconds, and the line must cost a small part of that.
    auto quoted = m_quoted_names.find(e.name);
    if (quoted == m_quoted_names.end()) { // a run logs a few names, each many times
        const QByteArray list = QJsonDocument(QJsonArray{qs(e.name)}).toJson(QJsonDocument::Compact);
        // ["..."]: the quoted, escaped string is between the brackets.
        quoted = m_quoted_names.emplace(e.name, std::string(list.constData() + 1, list.size() - 2)).first;
    }
    std::string &out = m_run.pending;
    char number[64];
    out += "{\"step\":";
    out.append(number, std::to_chars(number, number + sizeof number, e.step).ptr);
    out += ",\"epoch\":";
    out.append(number, std::to_chars(number, number + sizeof number, e.epoch).ptr);
    out += ",\"name\":";
    out += quoted->second;
    out += ",\"value\":";
    if (std::isfinite(e.value)) // the shortest text that reads back as the same double
        out.append(number, std::to_chars(number, number + sizeof number, e.value).ptr);
    else
        out += std::isnan(e.value) ? "null,\"non_finite\":\"nan\"" : e.value > 0 ? "null,\"non_finite\":\"inf\""
                                                                              : "null,\"non_finite\":\"-inf\"";
    out += ",\"time\":";
    append_seconds(out, e.time);
    out += "}\n";
    if (out.size() >= kMetricsBuffer)
        flush_metrics();
}

void RunStore::flush_metrics()
{
    if (m_run.pending.empty() || !m_run.metrics.is_open())
        return;
    m_run.metrics.write(m_run.pending.data(), static_cast<std::streamsize>(m_run.pending.size()));
    m_run.metrics.flush();
    m_run.pending.clear();
}

void RunStore::merge_hyperparameters(const QJsonObject &values)
{
    for (auto it = values.begin(); it != values.end(); ++it)
        m_run.hyperparameters.insert(it.key(), it.value());
    if (m_run.open)
        save();
}

void RunStore::add_checkpoint(const std::string &path)
{
    if (!m_run.open)
        return;
    std::error_code ec;
    m_run.checkpoints.append(QJsonObject{{"path", qs(fs::absolute(path, ec).lexically_normal().string())},
                                         {"step", static_cast<qint64>(m_run.step)},
                                         {"epoch", static_cast<qint64>(m_run.epoch)},
                                         {"time", qs(now_iso())}});
    save();
}

void RunStore::set_outcome(const std::string &status, const std::string &message)
{
    if (!m_run.open && (m_run.monitor_id.empty() || m_run.status == "finished"))
        return; // no run, or the last one completed before the script failed
    m_run.status = status;
    m_run.message = message;
    if (!m_run.open)
        write_run_json(); // rewrites the ended run with its reason
}

void RunStore::save()
{
    if (m_run.written)
        write_run_json();
    else
        materialise(); // which writes run.json
}

void RunStore::write_run_json()
{
    if (!m_run.written && !materialise())
        return;
    QJsonObject metrics;
    for (const auto &[name, value] : m_run.last)
        metrics.insert(qs(name), json_number(value));
    QJsonArray arguments;
    for (const std::string &a : m_args)
        arguments.append(qs(a));
    QJsonObject run{{"format", 1},
                    {"id", qs(m_run.id)},
                    {"name", qs(m_run.monitor_id)},
                    {"script", QJsonObject{{"path", qs(m_script_path)},
                                           {"copy", qs(fs::path(m_script_path).filename().string())},
                                           {"arguments", arguments}}},
                    {"seed", qs(std::to_string(m_seed))}, // exact: a 64-bit seed does not fit a double
                    {"hyperparameters", m_run.hyperparameters},
                    {"started", qs(m_run.started)},
                    {"ended", m_run.ended.empty() ? QJsonValue(QJsonValue::Null) : QJsonValue(qs(m_run.ended))},
                    {"final_metrics", metrics},
                    {"steps", static_cast<qint64>(m_run.step)},
                    {"epochs", static_cast<qint64>(m_run.epoch)},
                    {"status", qs(m_run.status)},
                    {"checkpoints", m_run.checkpoints},
                    {"metrics_file", "metrics.jsonl"}};
    if (!m_run.message.empty())
        run.insert("message", qs(m_run.message));
    flush_metrics(); // run.json never names scalars metrics.jsonl lacks
    QSaveFile file(QString::fromStdString((m_run.dir / "run.json").string()));
    if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(run).toJson()) < 0 || !file.commit())
        m_warn("run store: cannot write " + (m_run.dir / "run.json").string() + ": " +
               file.errorString().toStdString());
}

} // namespace neurite::lua
