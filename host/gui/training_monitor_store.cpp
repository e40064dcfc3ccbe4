// The monitor and the run store while the window is open: the live runs'
// records (their hyperparameters as train.fit starts, their final metrics
// as they train) and runs other processes store meanwhile.
#include "training_monitor.h"

#include "metric_chart.h"
#include "runs_list.h"

#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QTimer>

#include <algorithm>

namespace neurite::gui {

namespace {

constexpr int kLinkSlackSecs = 2; // run.json's start time against the window's clock

bool is_running(const StoredRun &run) { return run.status == "running"; }

} // namespace

void TrainingMonitor::set_runs_dir(const QString &dir)
{
    m_runs_dir = dir;
    watch_store({});
}

void TrainingMonitor::begin_live()
{
    m_live = true;
    m_live_since = QDateTime::currentDateTimeUtc();
}

void TrainingMonitor::watch_store(const QStringList &run_folders)
{
    QStringList wanted = run_folders;
    if (!m_runs_dir.isEmpty()) {
        const QFileInfo root(m_runs_dir);
        // Not made yet (the first run makes it): its parent says when it is.
        if (root.isDir())
            wanted << root.absoluteFilePath();
        else if (QFileInfo(root.absolutePath()).isDir())
            wanted << root.absolutePath();
    }
    const QStringList watched = m_watcher->directories();
    QStringList gone, added;
    for (const QString &dir : watched)
        if (!wanted.contains(dir))
            gone << dir;
    for (const QString &dir : std::as_const(wanted))
        if (!watched.contains(dir) && !added.contains(dir))
            added << dir;
    if (!gone.isEmpty())
        m_watcher->removePaths(gone);
    if (!added.isEmpty())
        m_watcher->addPaths(added);
}

bool TrainingMonitor::link_live_run(const StoredRun &stored)
{
    if (stored.started < m_live_since.addSecs(-kLinkSlackSecs))
        return false;
    for (const QString &run : std::as_const(m_runs)) {
        RunState &s = m_run_state[run];
        if (s.active && !s.has_record && s.name == stored.name) {
            s.has_record = true;
            s.record = stored;
            m_runs_list->set_record(run, stored);
            return true;
        }
    }
    return false;
}

void TrainingMonitor::scan_store()
{
    QHash<QString, QString> by_dir; // folder: run key
    for (auto it = m_run_state.cbegin(); it != m_run_state.cend(); ++it)
        if (it->has_record)
            by_dir.insert(it->record.dir, it.key());
    QStringList watched; // folders whose run.json is still to come or to change
    bool listed = false;
    const QDir root(m_runs_dir);
    const QStringList entries =
        m_runs_dir.isEmpty() ? QStringList() : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QString &entry : entries) {
        const QString dir = QDir(root.filePath(entry)).absolutePath();
        const QString key = by_dir.value(dir);
        if (!key.isEmpty() && !is_running(m_run_state[key].record))
            continue; // ended: its record is final
        StoredRun stored;
        if (!read_stored_run(dir, stored)) {
            watched << dir; // made a moment ago: run.json comes next
            continue;
        }
        if (is_running(stored))
            watched << dir;
        if (!key.isEmpty()) {
            RunState &state = m_run_state[key];
            if (!state.active && !is_running(stored) && !state.curves_pending) {
                // Another process's run ended: its curves read again, whole.
                for (auto s = m_series.begin(); s != m_series.end();)
                    s = s.key().run == key ? m_series.erase(s) : std::next(s);
                for (MetricChart *c : std::as_const(m_charts))
                    c->remove_run(key);
                mark_curves_pending(state);
            }
            if (state.active && is_running(stored)) // run.json has them only from the end: the curves' until then
                stored.final_metrics = state.record.final_metrics;
            state.record = stored;
            state.name = stored.name;
            m_runs_list->set_record(key, stored);
            continue;
        }
        if (link_live_run(stored))
            continue;
        // The kernel's run before its first points arrive: linked when they
        // do, listed as a stored run if they never do.
        if (m_live && stored.started >= m_live_since.addSecs(-kLinkSlackSecs)) {
            watched << dir;
            continue;
        }
        add_stored_run(stored, true);
        listed = true;
    }
    if (listed)
        fit_runs_panel();
    update_sweeps();
    watch_store(watched);
}

void TrainingMonitor::sync_store()
{
    m_live = false;
    scan_store();
    for (auto it = m_run_state.begin(); it != m_run_state.end(); ++it) {
        if (it->active && !it->has_record) { // the store is off: the last values, from the curves
            QList<std::pair<QString, double>> last;
            for (auto s = m_series.cbegin(); s != m_series.cend(); ++s)
                if (s.key().run == it.key() && s.value().size() > 0)
                    last.append({s.key().name, s.value().points().back().value});
            std::sort(last.begin(), last.end());
            m_runs_list->set_final_metrics(it.key(), last, tr("ended"));
        }
        it->active = false;
    }
}

void TrainingMonitor::update_live_metrics()
{
    if (m_live_metrics_clock.isValid() && m_live_metrics_clock.elapsed() < kLiveMetricsMs)
        return;
    m_live_metrics_clock.start();
    QHash<QString, QList<std::pair<QString, double>>> last; // run key: its metrics' last values
    for (auto s = m_series.cbegin(); s != m_series.cend(); ++s) {
        auto state = m_run_state.constFind(s.key().run);
        if (state != m_run_state.cend() && state->active && s.value().size() > 0)
            last[s.key().run].append({s.key().name, s.value().points().back().value});
    }
    for (auto it = last.begin(); it != last.end(); ++it) {
        std::sort(it->begin(), it->end());
        RunState &state = m_run_state[it.key()];
        if (state.has_record) { // run.json has them only from the run's end
            state.record.final_metrics = *it;
            m_runs_list->set_record(it.key(), state.record);
        } else {
            m_runs_list->set_final_metrics(it.key(), *it, tr("running"));
        }
    }
}

} // namespace neurite::gui
