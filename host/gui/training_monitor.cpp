#include "training_monitor.h"
#include "save_location.h"

#include "metric_chart.h"
#include "runs_list.h"
#include "sweep_table.h"

#include "neurite/core/chart_rules.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QInputDialog>
#include <QMessageBox>
#include <QMenu>
#include <QPushButton>
#include <QResizeEvent>
#include <QScrollArea>
#include <QSlider>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTextStream>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <QVarLengthArray>
#include <QElapsedTimer>
#include <QFileSystemWatcher>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <tuple>

namespace neurite::gui {

namespace {

constexpr int kSmoothingSteps = 100;

// Smoothing is for per-step series (a batch's loss). An epoch's value and the
// learning rate are drawn as they are: smoothing an epoch's accuracy showed
// 0.89 where the run ended at 0.92, and a schedule's steps would blur.
bool smooths(const QString &name, const MetricSeries &series)
{
    return series.per_step() && name != QLatin1String("lr") && name != QLatin1String("learning_rate");
}

} // namespace

// A colour per run, the same in the runs list and every chart: the ten of
// matplotlib's tab10 first, then hues a golden angle apart.
QColor colour_number(int index)
{
    static const QColor palette[] = {QColor(31, 119, 180),  QColor(255, 127, 14), QColor(44, 160, 44),
                                     QColor(214, 39, 40),   QColor(148, 103, 189), QColor(140, 86, 75),
                                     QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34),
                                     QColor(23, 190, 207)};
    if (index < 10)
        return palette[index];
    const int hue = static_cast<int>(std::fmod(index * 137.508, 360.0));
    return QColor::fromHsv(hue, 200, 170 + (index % 3) * 25);
}

double TrainingMonitor::thread_cpu_ms()
{
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int TrainingMonitor::redraw_interval_ms(double ui_cpu_ms)
{
    return std::clamp(static_cast<int>(ui_cpu_ms / kUiCpuBudget), kMinRedrawMs, kMaxRedrawMs);
}

TrainingMonitor::TrainingMonitor(QWidget *parent)
    : QWidget(parent), m_timer(new QTimer(this)), m_drain_timer(new QTimer(this)), m_axis_box(new QComboBox),
      m_smoothing_slider(new QSlider(Qt::Horizontal)), m_smoothing_label(new QLabel),
      m_log_box(new QCheckBox(tr("Log scale"))), m_run_tabs(new QTabWidget), m_runs_list(new RunsList),
      m_sweep_table(new SweepTable), m_grid(new QGridLayout), m_status(new QLabel), m_status_timer(new QTimer(this))
{
    m_watcher = new QFileSystemWatcher(this);
    m_scan_timer = new QTimer(this);
    m_live_since = QDateTime::currentDateTimeUtc();
    // A folder made or a run.json replaced: one scan after the burst of
    // changes (a QSaveFile writes a temporary file, then renames it).
    m_scan_timer->setSingleShot(true);
    m_scan_timer->setInterval(kScanDelayMs);
    connect(m_scan_timer, &QTimer::timeout, this, &TrainingMonitor::scan_store);
    connect(m_watcher, &QFileSystemWatcher::directoryChanged, m_scan_timer, qOverload<>(&QTimer::start));
    m_axis_box->addItem(tr("Step"));
    m_axis_box->addItem(tr("Epoch"));
    m_smoothing_slider->setRange(0, kSmoothingSteps - 1);
    m_smoothing_slider->setValue(static_cast<int>(m_smoothing * kSmoothingSteps));
    m_smoothing_slider->setToolTip(tr("Exponential moving average with bias correction, of the per-step "
                                      "series (the raw values stay drawn faintly behind)"));
    m_smoothing_slider->setMinimumWidth(100); // a narrow panel squeezed it into a checkbox's size
    m_smoothing_label->setText(QString::number(m_smoothing, 'f', 2));
    m_smoothing_label->setMinimumWidth(32);
    m_run_tabs->addTab(m_runs_list, tr("Runs"));
    m_run_tabs->addTab(m_sweep_table, tr("Sweeps"));
    m_run_tabs->setTabEnabled(1, false);
    m_run_tabs->setTabToolTip(1, tr("train.sweep's variants, best first by the sweep's metric"));

    // One button with a menu keeps the row short enough for a narrow dock.
    auto *export_button = new QToolButton;
    export_button->setText(tr("Export"));
    export_button->setPopupMode(QToolButton::InstantPopup);
    auto *export_menu = new QMenu(export_button);
    QAction *export_png = export_menu->addAction(tr("Every chart as PNG…"));
    QAction *export_csv = export_menu->addAction(tr("Every chart's data as CSV…"));
    export_button->setMenu(export_menu);
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("X:")));
    controls->addWidget(m_axis_box);
    controls->addSpacing(12);
    controls->addWidget(new QLabel(tr("Smoothing:")));
    controls->addWidget(m_smoothing_slider, 1);
    controls->addWidget(m_smoothing_label);
    controls->addSpacing(12);
    controls->addWidget(m_log_box);
    controls->addStretch();
    controls->addWidget(export_button);

    auto *chart_area = new QWidget;
    chart_area->setLayout(m_grid);
    auto *scroll = new QScrollArea;
    scroll->setWidgetResizable(true);
    scroll->setWidget(chart_area);
    scroll->setFrameShape(QFrame::NoFrame);

    m_status->setVisible(false);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status_timer->setSingleShot(true);
    m_status_timer->setInterval(10000);
    connect(m_status_timer, &QTimer::timeout, m_status, &QLabel::hide);

    // The runs over the charts, the border between them draggable.
    m_split = new QSplitter(Qt::Vertical);
    m_split->addWidget(m_run_tabs);
    m_split->addWidget(scroll);
    m_split->setStretchFactor(1, 1);
    m_split->setChildrenCollapsible(false);
    connect(m_split, &QSplitter::splitterMoved, this, [this] { m_split_moved = true; });
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(m_status);
    layout->addWidget(m_split, 1);
    fit_runs_panel();

    connect(m_axis_box, &QComboBox::currentIndexChanged, this,
            [this](int i) { set_x_axis(i == 0 ? XAxis::Step : XAxis::Epoch); });
    connect(m_smoothing_slider, &QSlider::valueChanged, this,
            [this](int v) { set_smoothing(static_cast<double>(v) / kSmoothingSteps); });
    connect(m_log_box, &QCheckBox::toggled, this, &TrainingMonitor::set_log_y);
    connect(m_runs_list, &RunsList::visibility_toggled, this, &TrainingMonitor::set_run_visible);
    connect(m_runs_list, &RunsList::rename_requested, this, &TrainingMonitor::ask_rename);
    connect(m_runs_list, &RunsList::delete_requested, this, &TrainingMonitor::ask_delete);
    connect(m_runs_list, &RunsList::open_script_requested, this, [this](const QString &run) {
        const RunState &state = m_run_state[run];
        if (state.has_record && !state.record.script_copy.isEmpty())
            emit open_script_requested(state.record.script_copy);
    });
    connect(m_sweep_table, &SweepTable::show_only, this, [this](const QStringList &keys) {
        for (const QString &run : std::as_const(m_runs))
            if (m_run_state[run].visible != keys.contains(run))
                set_run_visible(run, keys.contains(run));
    });
    connect(export_png, &QAction::triggered, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(
            this, tr("Export every chart as PNG into"), QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation));
        if (dir.isEmpty())
            return;
        int written = 0;
        for (const QString &c : this->charts())
            written += this->export_png(c, dir + "/" + c + ".png") ? 1 : 0;
        say(tr("Saved %1 of %2 charts as PNG (2× their size on screen) to %3")
                .arg(written)
                .arg(this->charts().size())
                .arg(QDir::toNativeSeparators(dir)));
    });
    connect(export_csv, &QAction::triggered, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(
            this, tr("Export every chart's data as CSV into"), QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation));
        if (!dir.isEmpty())
            for (const QString &c : this->charts())
                this->export_csv(c, dir + "/" + c + ".csv");
    });
    connect(m_timer, &QTimer::timeout, this, &TrainingMonitor::refresh);
    m_last_tick_cpu_ms = thread_cpu_ms();
    m_timer->start(kMinRedrawMs);
    // Draining is cheap and keeps the ring from overflowing while costly
    // redraws are spaced out: a fast run posts 200,000 points a second.
    connect(m_drain_timer, &QTimer::timeout, this, &TrainingMonitor::drain);
    m_drain_timer->start(kMinRedrawMs);
}

uint64_t TrainingMonitor::dropped_points() const { return m_ring.dropped(); }

TrainingMonitor::~TrainingMonitor() = default;

void TrainingMonitor::post(const QString &run, const QString &name, const MetricPoint &point)
{
    m_ring.push({run, name, point});
}

QString TrainingMonitor::group_of(const QString &name)
{
    return QString::fromStdString(charts::chart_of(name.toStdString()));
}

MetricChart *TrainingMonitor::chart_for(const QString &group)
{
    if (MetricChart *c = m_charts.value(group))
        return c;
    auto *c = new MetricChart(group);
    connect(c, &MetricChart::export_csv_requested, this, [this](const QString &chart) {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export data"), save_location(chart + ".csv"),
                                                          tr("CSV files (*.csv)"));
        if (!path.isEmpty())
            export_csv(chart, path);
    });
    connect(c, &MetricChart::needs_redraw, this, [this](const QString &chart) { m_dirty_charts.insert(chart); });
    connect(c, &MetricChart::exported, this, &TrainingMonitor::say);
    // "loss" first, then the others in order of arrival, as many per row as
    // the width holds.
    const int index = static_cast<int>(m_chart_order.size());
    m_grid->addWidget(c, index / m_columns, index % m_columns);
    m_charts.insert(group, c);
    m_chart_order.append(c);
    return c;
}

int TrainingMonitor::columns_for(int width)
{
    return std::clamp(width / kMinChartWidth, 1, 4);
}

void TrainingMonitor::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    const int columns = columns_for(width());
    if (columns == m_columns)
        return;
    m_columns = columns;
    for (MetricChart *c : std::as_const(m_chart_order))
        m_grid->removeWidget(c);
    for (int i = 0; i < m_chart_order.size(); ++i)
        m_grid->addWidget(m_chart_order[i], i / m_columns, i % m_columns);
}

void TrainingMonitor::say(const QString &message)
{
    m_status->setText(message);
    m_status->setVisible(true);
    m_status_timer->start();
}

void TrainingMonitor::refresh()
{
    // What the UI thread spent since the last tick (the last redraw, its
    // paint, anything else) sets the next interval, so redraws stay within
    // the budget however costly they are on this machine.
    const double now = thread_cpu_ms();
    m_timer->setInterval(redraw_interval_ms(now - m_last_tick_cpu_ms));
    m_last_tick_cpu_ms = now;
    drain();
    update_live_metrics();
    // Only the charts that got points: the per-epoch charts stay as they are
    // through the thousands of steps between their points.
    if (!m_dirty_charts.isEmpty())
        redraw(&m_dirty_charts);
}

void TrainingMonitor::drain()
{
    // Ticked stored runs' curves, read on the thread pool.
    start_curve_reads();
    m_drained.clear();
    m_ring.drain(m_drained);
    // Points come in runs of a few names, each posted as the same shared
    // QString (RunWorker interns them): matching the text's address finds
    // the series without hashing. A new series may move the others, so the
    // cache starts again then.
    struct Recent {
        const QChar *run, *name;
        MetricSeries *series;
    };
    QVarLengthArray<Recent, 16> recent;
    for (const MetricEvent &e : m_drained) {
        const QChar *run = e.run.constData(), *name = e.name.constData();
        auto hit = std::find_if(recent.begin(), recent.end(),
                                [&](const Recent &r) { return r.run == run && r.name == name; });
        if (hit == recent.end()) {
            if (!m_run_state.contains(e.run)) {
                add_run(e.run, e.run, true).active = true;
                emit run_added(e.run);
                m_scan_timer->start(); // its folder may be in the store already, waiting for it
            }
            const Key key{e.run, e.name};
            if (!m_series.contains(key))
                recent.clear();
            MetricSeries &s = m_series[key];
            s.set_smoothing(m_smoothing);
            const QString group = group_of(e.name);
            chart_for(group);
            m_dirty_charts.insert(group);
            recent.append({run, name, &s});
            hit = recent.end() - 1;
        }
        hit->series->append(e.point);
    }
}

void TrainingMonitor::redraw(const QSet<QString> *only)
{
    // Charts nobody can see (the dock behind another tab) cost nothing;
    // they stay marked and are drawn when the monitor is shown again.
    if (!isVisible()) {
        if (!only)
            for (auto it = m_charts.cbegin(); it != m_charts.cend(); ++it)
                m_dirty_charts.insert(it.key());
        return;
    }
    QMap<QString, QList<MetricChart::Line>> per_chart;
    for (auto it = m_series.begin(); it != m_series.end(); ++it) {
        const QString group = group_of(it.key().name);
        const RunState &run = m_run_state[it.key().run];
        if (!run.visible || (only && !only->contains(group)))
            continue;
        it.value().set_smoothing(smooths(it.key().name, it.value()) ? m_smoothing : 0);
        per_chart[group].append({it.key().run, it.key().name, &it.value(), run.name, run.colour});
    }
    for (auto it = m_charts.begin(); it != m_charts.end(); ++it) {
        if (only && !only->contains(it.key()))
            continue;
        // Runs in order of arrival, training before validation: the legend
        // then reads the same on every redraw.
        QList<MetricChart::Line> &lines = per_chart[it.key()];
        std::sort(lines.begin(), lines.end(), [this](const MetricChart::Line &a, const MetricChart::Line &b) {
            return std::tuple(m_runs.indexOf(a.run), a.name) < std::tuple(m_runs.indexOf(b.run), b.name);
        });
        it.value()->draw(lines, m_axis, m_log_y);
    }
    m_dirty_charts.clear();
}

void TrainingMonitor::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (!m_dirty_charts.isEmpty())
        QTimer::singleShot(0, this, [this] { redraw(&m_dirty_charts); });
}

QStringList TrainingMonitor::runs() const { return m_runs; }

int TrainingMonitor::current_redraw_interval_ms() const { return m_timer->interval(); }

QStringList TrainingMonitor::charts() const { return m_charts.keys(); }

void TrainingMonitor::set_run_visible(const QString &run, bool visible)
{
    auto it = m_run_state.find(run);
    if (it == m_run_state.end())
        return;
    it->visible = visible;
    m_runs_list->set_visible(run, visible);
    if (visible && it->curves_pending)
        load_curves(run);
    redraw();
}

void TrainingMonitor::set_x_axis(XAxis axis)
{
    m_axis = axis;
    m_axis_box->setCurrentIndex(axis == XAxis::Step ? 0 : 1);
    redraw();
}

void TrainingMonitor::set_smoothing(double weight)
{
    m_smoothing = weight;
    m_smoothing_label->setText(QString::number(weight, 'f', 2));
    const int v = static_cast<int>(weight * kSmoothingSteps + 0.5);
    if (m_smoothing_slider->value() != v)
        m_smoothing_slider->setValue(v);
    redraw();
}

void TrainingMonitor::set_log_y(bool on)
{
    m_log_y = on;
    if (m_log_box->isChecked() != on)
        m_log_box->setChecked(on);
    redraw();
}

const MetricSeries *TrainingMonitor::series(const QString &run, const QString &name) const
{
    auto it = m_series.constFind(Key{run, name});
    return it == m_series.cend() ? nullptr : &it.value();
}

int TrainingMonitor::drawn_points(const QString &run, const QString &name, bool raw) const
{
    MetricChart *c = m_charts.value(group_of(name));
    return c ? c->drawn_points(run, name, raw) : 0;
}

bool TrainingMonitor::export_png(const QString &chart, const QString &path, double scale) const
{
    MetricChart *c = m_charts.value(chart);
    return c && c->export_png(path, scale);
}

bool TrainingMonitor::export_csv(const QString &chart, const QString &path) const
{
    QFile file(path);
    if (!m_charts.contains(chart) || !file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    out << "run,metric,step,epoch,value,smoothed\n";
    for (auto it = m_series.cbegin(); it != m_series.cend(); ++it) {
        if (group_of(it.key().name) != chart)
            continue;
        const MetricSeries &s = it.value();
        for (int64_t i = 0; i < s.size(); ++i) {
            const MetricPoint &p = s.points()[static_cast<size_t>(i)];
            out << it.key().run << ',' << it.key().name << ',' << p.step << ',' << p.epoch << ','
                << QString::number(p.value, 'g', 9) << ',' << QString::number(s.smoothed(i), 'g', 9)
                << '\n';
        }
    }
    return out.status() == QTextStream::Ok;
}

void TrainingMonitor::clear()
{
    std::vector<MetricEvent> discard;
    m_ring.drain(discard);
    m_series.clear();
    for (MetricChart *c : std::as_const(m_charts))
        c->deleteLater();
    m_charts.clear();
    m_chart_order.clear();
    m_dirty_charts.clear();
    // Stored runs stay listed, unticked: their curves are on disk and come
    // back when ticked. Runs known only from their curves leave the list.
    const QStringList runs = m_runs;
    for (const QString &key : runs) {
        RunState &state = m_run_state[key];
        if (state.has_record && !state.active) {
            state.visible = false;
            mark_curves_pending(state);
            m_runs_list->set_visible(key, false);
            continue;
        }
        m_run_state.remove(key);
        m_runs.removeOne(key);
        m_runs_list->remove_run(key);
    }
    fit_runs_panel();
    update_sweeps();
}

} // namespace neurite::gui
