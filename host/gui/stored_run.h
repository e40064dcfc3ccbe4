#pragma once

#include "metric_series.h"

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QVariant>

#include <utility>
#include <vector>

namespace neurite::gui {

// One run of the run store (runs/<id>/run.json, docs/run-store.md) as the
// window lists it: what ran, with which hyperparameters, how it ended.
struct StoredRun {
    QString id;  // the folder's name
    QString dir; // absolute
    QString name;
    QString status; // running, finished, stopped, failed
    QString message;
    QString script_path;
    QString script_copy; // absolute path of the copy in the folder, empty if none
    QDateTime started;
    // The columns of the runs list: hyperparameters flattened to scalars
    // (optimizer type and lr, batch size, epochs, a sweep's configuration),
    // in the order of hyperparameter_order(), and every final metric.
    QList<std::pair<QString, QVariant>> hyperparameters;
    QList<std::pair<QString, double>> final_metrics;
    QString optimizer_text; // the optimizer's full description, for a tooltip
    // A variant of train.sweep: the sweep's name, the metric it ranks by and
    // "min" or "max", and the value it reached (NaN when it has none).
    QString sweep, sweep_metric, sweep_mode;
    int variant = 0;
    double sweep_value = 0;
    bool is_variant() const { return !sweep.isEmpty(); }
};

// Reads <dir>/run.json; false with `error` naming the file when it cannot.
bool read_stored_run(const QString &dir, StoredRun &run, QString *error = nullptr);
// Every run folder under runs_dir with a readable run.json, oldest first.
QList<StoredRun> list_stored_runs(const QString &runs_dir);

// The scalars of <dir>/metrics.jsonl, per metric name, in logged order.
// Points logged several times in one epoch (a batch's loss) get fractional
// epochs, as the live charts place them: the j-th of k in epoch e at
// e - 1 + j / k.
std::vector<std::pair<QString, std::vector<MetricPoint>>> read_stored_metrics(const QString &dir);

// Sets run.json's "name" (written whole with QSaveFile, the other fields kept).
bool rename_stored_run(const QString &dir, const QString &name, QString *error = nullptr);
// Removes the run's folder and everything in it.
bool delete_stored_run(const QString &dir, QString *error = nullptr);

} // namespace neurite::gui
