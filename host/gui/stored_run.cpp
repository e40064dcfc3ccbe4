#include "stored_run.h"

#include <QDir>
#include <QFileInfo>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>

#include <algorithm>
#include <cmath>
#include <limits>

namespace neurite::gui {

namespace {

QString where(const QString &dir) { return QDir::toNativeSeparators(dir + "/run.json"); }

bool read_json(const QString &dir, QJsonObject &out, QString *error)
{
    QFile file(dir + "/run.json");
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QObject::tr("cannot read %1: %2").arg(where(dir), file.errorString());
        return false;
    }
    QJsonParseError parse{};
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parse);
    if (!doc.isObject()) {
        if (error)
            *error = QObject::tr("%1 is not a run record: %2 at byte %3")
                         .arg(where(dir), parse.errorString())
                         .arg(parse.offset);
        return false;
    }
    out = doc.object();
    return true;
}

// What train.sweep and the run store add beside a variant's configuration:
// read into their own fields, or left for the tooltip.
bool is_bookkeeping(const QString &key)
{
    static const QStringList keys = {"model", "model_summary", "metrics", "shuffle", "loss", "optimizer",
                                     "sweep", "sweep_metric", "sweep_mode", "sweep_result", "seed"};
    return keys.contains(key);
}

// Optimizer type and learning rate, batch size, epochs and the parameter
// count first (what one compares runs by); a sweep's keys after, by name.
void flatten_hyperparameters(const QJsonObject &h, StoredRun &run)
{
    const QJsonObject optimizer = h.value("optimizer").toObject();
    if (!optimizer.isEmpty()) {
        run.hyperparameters.append({"optimizer", optimizer.value("type").toString()});
        run.optimizer_text = optimizer.value("text").toString();
        const QJsonValue lr = optimizer.value("options").toObject().value("lr");
        if (lr.isDouble())
            run.hyperparameters.append({"lr", lr.toDouble()});
    }
    for (const char *key : {"batch_size", "epochs", "parameters", "variant"})
        if (h.value(key).isDouble())
            run.hyperparameters.append({key, h.value(key).toDouble()});
    for (auto it = h.begin(); it != h.end(); ++it) { // QJsonObject keeps its keys sorted
        if (is_bookkeeping(it.key()) || it.key() == "batch_size" || it.key() == "epochs" ||
            it.key() == "parameters" || it.key() == "variant")
            continue;
        const bool seen = std::any_of(run.hyperparameters.cbegin(), run.hyperparameters.cend(),
                                      [&](const auto &h) { return h.first == it.key(); });
        if (seen) // a sweep's "lr" is the optimizer's too
            continue;
        if (it->isDouble())
            run.hyperparameters.append({it.key(), it->toDouble()});
        else if (it->isString() || it->isBool())
            run.hyperparameters.append({it.key(), it->toVariant()});
    }
}

void read_sweep(const QJsonObject &h, StoredRun &run)
{
    run.sweep = h.value("sweep").toString();
    if (run.sweep.isEmpty())
        return;
    run.variant = h.value("variant").toInt();
    run.sweep_metric = h.value("sweep_metric").toString("loss");
    run.sweep_mode = h.value("sweep_mode").toString(run.sweep_metric.contains("acc") ? "max" : "min");
    run.sweep_value = std::numeric_limits<double>::quiet_NaN();
    if (h.value("sweep_result").isDouble()) {
        run.sweep_value = h.value("sweep_result").toDouble();
        return;
    }
    for (const auto &[name, value] : run.final_metrics)
        if (name == run.sweep_metric)
            run.sweep_value = value;
}

double value_of(const QJsonObject &line)
{
    const QJsonValue v = line.value("value");
    if (v.isDouble())
        return v.toDouble();
    const QString kind = line.value("non_finite").toString();
    if (kind == "inf")
        return std::numeric_limits<double>::infinity();
    if (kind == "-inf")
        return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
}

// The j-th of k points logged in epoch e goes to e - 1 + j / k.
void spread_within_epochs(std::vector<MetricPoint> &points)
{
    size_t begin = 0;
    while (begin < points.size()) {
        size_t end = begin + 1;
        while (end < points.size() && points[end].epoch == points[begin].epoch)
            ++end;
        const double k = static_cast<double>(end - begin), e = points[begin].epoch;
        if (k > 1)
            for (size_t j = begin; j < end; ++j)
                points[j].epoch = e - 1 + static_cast<double>(j - begin + 1) / k;
        begin = end;
    }
}

} // namespace

bool read_stored_run(const QString &dir, StoredRun &run, QString *error)
{
    QJsonObject json;
    if (!read_json(dir, json, error))
        return false;
    run = StoredRun{};
    run.dir = QDir(dir).absolutePath();
    run.id = json.value("id").toString(QFileInfo(dir).fileName());
    run.name = json.value("name").toString(run.id);
    run.status = json.value("status").toString();
    run.message = json.value("message").toString();
    run.started = QDateTime::fromString(json.value("started").toString(), Qt::ISODateWithMs);
    const QJsonObject script = json.value("script").toObject();
    run.script_path = script.value("path").toString();
    const QString copy = script.value("copy").toString();
    if (!copy.isEmpty() && QFile::exists(run.dir + "/" + copy))
        run.script_copy = run.dir + "/" + copy;
    const QJsonObject metrics = json.value("final_metrics").toObject();
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
        run.final_metrics.append(
            {it.key(), it->isDouble() ? it->toDouble() : std::numeric_limits<double>::quiet_NaN()});
    const QJsonObject h = json.value("hyperparameters").toObject();
    flatten_hyperparameters(h, run);
    read_sweep(h, run);
    return true;
}

QList<StoredRun> list_stored_runs(const QString &runs_dir)
{
    QList<StoredRun> runs;
    if (runs_dir.isEmpty())
        return runs;
    const QDir root(runs_dir);
    for (const QString &entry : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        StoredRun run;
        if (read_stored_run(root.filePath(entry), run))
            runs.append(std::move(run));
    }
    // Folder names begin with the UTC start time; runs started in the same
    // second sort by the time in run.json.
    std::stable_sort(runs.begin(), runs.end(),
                     [](const StoredRun &a, const StoredRun &b) { return a.started < b.started; });
    return runs;
}

std::vector<std::pair<QString, std::vector<MetricPoint>>> read_stored_metrics(const QString &dir)
{
    std::vector<std::pair<QString, std::vector<MetricPoint>>> out;
    QFile file(dir + "/metrics.jsonl");
    if (!file.open(QIODevice::ReadOnly))
        return out;
    QHash<QString, size_t> index;
    const QByteArray all = file.readAll();
    qsizetype begin = 0;
    while (begin < all.size()) {
        qsizetype end = all.indexOf('\n', begin);
        if (end < 0)
            end = all.size();
        const QJsonObject line = QJsonDocument::fromJson(all.mid(begin, end - begin)).object();
        begin = end + 1;
        const QString name = line.value("name").toString();
        if (name.isEmpty()) // a line cut short by a crash: the rest still counts
            continue;
        auto it = index.find(name);
        if (it == index.end()) {
            it = index.insert(name, out.size());
            out.push_back({name, {}});
        }
        out[*it].second.push_back(
            {line.value("step").toDouble(), line.value("epoch").toDouble(), value_of(line)});
    }
    for (auto &[name, points] : out)
        spread_within_epochs(points);
    return out;
}

bool rename_stored_run(const QString &dir, const QString &name, QString *error)
{
    QJsonObject json;
    if (!read_json(dir, json, error))
        return false;
    json.insert("name", name);
    QSaveFile file(dir + "/run.json");
    if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(json).toJson()) < 0 || !file.commit()) {
        if (error)
            *error = QObject::tr("cannot write %1: %2").arg(where(dir), file.errorString());
        return false;
    }
    return true;
}

bool delete_stored_run(const QString &dir, QString *error)
{
    if (!QFile::exists(dir + "/run.json")) { // never remove a folder that is not a run's
        if (error)
            *error = QObject::tr("%1 is not a run's folder (no run.json)").arg(QDir::toNativeSeparators(dir));
        return false;
    }
    if (!QDir(dir).removeRecursively()) {
        if (error)
            *error = QObject::tr("cannot remove %1").arg(QDir::toNativeSeparators(dir));
        return false;
    }
    return true;
}

} // namespace neurite::gui
