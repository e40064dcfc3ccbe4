// The monitor's runs: their identity (name, colour), the run store's
// records of them, and what the runs list asks (show, rename, delete).
#include "training_monitor.h"

#include "metric_chart.h"
#include "runs_list.h"
#include "sweep_table.h"

#include <QDir>
#include <QElapsedTimer>
#include <QInputDialog>
#include <QMessageBox>
#include <QSplitter>
#include <QTabBar>
#include <QTabWidget>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

QColor colour_number(int index); // training_monitor.cpp

TrainingMonitor::RunState &TrainingMonitor::add_run(const QString &key, const QString &name, bool visible)
{
    m_runs.append(key);
    RunState &state = m_run_state[key];
    state.name = name;
    state.colour = colour_number(m_colours_used++);
    state.visible = visible;
    m_runs_list->add_run(key, name, state.colour, visible);
    fit_runs_panel();
    return state;
}

void TrainingMonitor::add_stored_run(const StoredRun &run, bool visible)
{
    RunState &state = add_run(run.id, run.name, visible);
    state.has_record = true;
    state.record = run;
    mark_curves_pending(state);
    m_runs_list->set_record(run.id, run);
}

int TrainingMonitor::load_store()
{
    const QList<StoredRun> stored = list_stored_runs(m_runs_dir);
    QSet<QString> known;
    for (const RunState &s : std::as_const(m_run_state))
        if (s.has_record)
            known.insert(s.record.dir);
    int added = 0;
    m_runs_list->begin_batch();
    for (int i = 0; i < stored.size(); ++i) {
        if (known.contains(stored[i].dir))
            continue;
        // The newest few ticked: fifty runs' lines in one chart read as none.
        add_stored_run(stored[i], i >= stored.size() - kShownAtStart);
        ++added;
    }
    m_runs_list->end_batch();
    fit_runs_panel();
    update_sweeps();
    QStringList running; // their run.json changes when they end
    for (const StoredRun &run : stored)
        if (run.status == "running")
            running << run.dir;
    watch_store(running);
    return added;
}

void TrainingMonitor::mark_curves_pending(RunState &state)
{
    state.curves_pending = true;
    ++state.curves_generation;
}

void TrainingMonitor::apply_curves(const QString &key, StoredCurves curves)
{
    m_run_state[key].curves_pending = false;
    for (auto &[name, points] : curves) {
        MetricSeries &series = m_series[Key{key, name}];
        for (const MetricPoint &p : points)
            series.append(p);
        const QString group = group_of(name);
        chart_for(group);
        m_dirty_charts.insert(group);
    }
}

void TrainingMonitor::load_curves(const QString &key)
{
    apply_curves(key, read_stored_metrics(m_run_state[key].record.dir));
}

void TrainingMonitor::start_curve_reads()
{
    if (!m_curve_reads.isEmpty())
        return; // one at a time: the other core trains
    for (const QString &key : std::as_const(m_runs)) {
        const RunState &state = m_run_state[key];
        if (!state.curves_pending || !state.visible)
            continue;
        auto *watcher = new QFutureWatcher<StoredCurves>(this);
        const int generation = state.curves_generation;
        connect(watcher, &QFutureWatcherBase::finished, this,
                [this, key, watcher, generation] { finish_curve_read(key, watcher, generation); });
        watcher->setProperty("generation", generation);
        m_curve_reads.insert(key, watcher);
        watcher->setFuture(QtConcurrent::run(read_stored_metrics, state.record.dir));
        return;
    }
}

void TrainingMonitor::finish_curve_read(const QString &key, QFutureWatcher<StoredCurves> *watcher, int generation)
{
    if (m_curve_reads.value(key) != watcher)
        return; // taken by load_pending_curves already
    m_curve_reads.remove(key);
    watcher->deleteLater();
    auto it = m_run_state.find(key);
    // Deleted, read already (ticked meanwhile), or changed since the read began.
    if (it != m_run_state.end() && it->curves_pending && it->curves_generation == generation)
        apply_curves(key, watcher->result());
    start_curve_reads(); // the next at once, not at the next tick
}

bool TrainingMonitor::load_pending_curves(int budget_ms)
{
    QElapsedTimer clock;
    clock.start();
    if (budget_ms < 0) {
        const auto reads = m_curve_reads; // finish_curve_read edits the map
        for (auto it = reads.cbegin(); it != reads.cend(); ++it) {
            it.value()->waitForFinished();
            finish_curve_read(it.key(), it.value(), it.value()->property("generation").toInt());
        }
    }
    bool left = false;
    for (const QString &key : std::as_const(m_runs)) {
        const RunState &state = m_run_state[key];
        if (!state.curves_pending || !state.visible)
            continue;
        if (budget_ms >= 0 && clock.elapsed() >= budget_ms) {
            left = true;
            break;
        }
        load_curves(key);
    }
    return !left;
}

void TrainingMonitor::update_sweeps()
{
    QList<SweepVariant> variants;
    for (const QString &key : std::as_const(m_runs)) {
        const RunState &s = m_run_state[key];
        if (s.has_record && s.record.is_variant())
            variants.append({key, s.colour, s.record});
    }
    std::stable_sort(variants.begin(), variants.end(),
                     [](const SweepVariant &a, const SweepVariant &b) { return a.run.started < b.run.started; });
    const QList<Sweep> sweeps = group_sweeps(variants);
    const bool first = m_sweep_table->sweep_count() == 0;
    m_sweep_table->set_sweeps(sweeps);
    m_run_tabs->setTabEnabled(1, !sweeps.isEmpty());
    if (first && !sweeps.isEmpty() && !m_run_state.isEmpty() && m_run_state[m_runs.last()].record.is_variant())
        m_run_tabs->setCurrentIndex(1); // a sweep just ran: its ranking is what one looks for
}

void TrainingMonitor::fit_runs_panel()
{
    if (m_split_moved)
        return;
    const int rows = std::clamp(m_runs_list->row_count(), 3, kRowsShown);
    const int wanted = m_runs_list->height_for_rows(rows) + m_run_tabs->tabBar()->sizeHint().height() + 8;
    const QList<int> sizes = m_split->sizes();
    const int total = sizes.value(0) + sizes.value(1);
    if (total <= 0) { // not laid out yet: the charts get the rest
        m_split->setSizes({wanted, 10 * wanted});
        return;
    }
    // At most half the panel: the charts are what one watches.
    const int top = std::min(wanted, total / 2);
    m_split->setSizes({top, total - top});
}

bool TrainingMonitor::run_visible(const QString &run) const { return m_run_state.value(run).visible; }

QString TrainingMonitor::run_name(const QString &run) const { return m_run_state.value(run).name; }

QColor TrainingMonitor::run_colour(const QString &run) const { return m_run_state.value(run).colour; }

QString TrainingMonitor::run_dir(const QString &run) const
{
    const RunState s = m_run_state.value(run);
    return s.has_record ? s.record.dir : QString();
}

QColor TrainingMonitor::line_colour(const QString &run, const QString &name) const
{
    MetricChart *c = m_charts.value(group_of(name));
    return c ? c->line_colour(run, name) : QColor();
}

QString TrainingMonitor::line_name(const QString &run, const QString &name) const
{
    MetricChart *c = m_charts.value(group_of(name));
    return c ? c->line_name(run, name) : QString();
}

bool TrainingMonitor::rename_run(const QString &run, const QString &name, QString *error)
{
    auto it = m_run_state.find(run);
    const QString trimmed = name.trimmed();
    if (it == m_run_state.end() || trimmed.isEmpty() || it->active) {
        if (error)
            *error = it != m_run_state.end() && it->active ? tr("%1 is still going on: rename it when it has ended").arg(it->name)
                                                           : tr("a run needs a name");
        return false;
    }
    if (it->has_record && !rename_stored_run(it->record.dir, trimmed, error))
        return false;
    it->name = trimmed;
    it->record.name = trimmed;
    m_runs_list->set_name(run, trimmed);
    redraw();
    update_sweeps();
    return true;
}

bool TrainingMonitor::delete_run(const QString &run, QString *error)
{
    auto it = m_run_state.find(run);
    if (it == m_run_state.end() || it->active) {
        if (error && it != m_run_state.end())
            *error = tr("%1 is still going on: stop it first").arg(it->name);
        return false;
    }
    if (it->has_record && !delete_stored_run(it->record.dir, error))
        return false;
    for (auto s = m_series.begin(); s != m_series.end();)
        s = s.key().run == run ? m_series.erase(s) : std::next(s);
    for (MetricChart *c : std::as_const(m_charts))
        c->remove_run(run);
    m_run_state.erase(it);
    m_runs.removeOne(run);
    m_runs_list->remove_run(run);
    fit_runs_panel();
    redraw();
    update_sweeps();
    return true;
}

void TrainingMonitor::ask_rename(const QString &run)
{
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("Rename run"), tr("Name:"), QLineEdit::Normal,
                                               run_name(run), &ok);
    QString error;
    if (ok && !rename_run(run, name, &error))
        say(tr("Could not rename: %1").arg(error));
}

void TrainingMonitor::ask_delete(const QString &run)
{
    const QString dir = run_dir(run);
    const QString what = dir.isEmpty() ? tr("Its lines leave the charts.")
                                       : tr("Its lines leave the charts, and its folder %1 is removed from the disk.")
                                             .arg(QDir::toNativeSeparators(dir));
    QMessageBox box(QMessageBox::Warning, tr("Delete run"), tr("Delete the run %1?").arg(run_name(run)),
                    QMessageBox::Yes | QMessageBox::Cancel, this);
    box.setObjectName("delete-run");
    box.setInformativeText(what);
    box.setDefaultButton(QMessageBox::Cancel);
    if (box.exec() != QMessageBox::Yes)
        return;
    QString error;
    if (!delete_run(run, &error))
        say(tr("Could not delete: %1").arg(error));
}

} // namespace neurite::gui
