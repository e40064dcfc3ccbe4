#pragma once

#include "metric_series.h"
#include "stored_run.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QHash>
#include <QMap>
#include <QSet>
#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QFileSystemWatcher;
class QGridLayout;
class QSlider;
class QSplitter;
class QTabWidget;
class QTimer;
class QLabel;

namespace neurite::gui {

class MetricChart;
class RunsList;
class SweepTable;

// Live training curves: one chart per metric (training and validation of a
// metric share a chart: "loss" and "val_loss"), several runs overlaid. The
// runs list above the charts is their one legend (a run has one colour in
// every chart) and holds the run store's record of each run; past runs are
// read from the store at start, their curves lazily; train.sweep's variants
// are ranked in the sweep table. Events arrive from any thread through a ring buffer; a timer
// drains it and redraws at most 20 times a second, so a fast run never
// floods the UI thread. The timer also keeps the UI thread within a CPU
// budget: on two cores every millisecond it computes stalls both training
// threads (they meet at each barrier), so costly redraws come less often.
class TrainingMonitor : public QWidget {
    Q_OBJECT

public:
    explicit TrainingMonitor(QWidget *parent = nullptr);
    ~TrainingMonitor() override;

    // Thread-safe; never blocks on the UI.
    void post(const QString &run, const QString &name, const MetricPoint &point);

    // Drains the ring and redraws now (tests; the timer does it otherwise).
    void refresh();
    // Points lost because the ring was full when they arrived.
    uint64_t dropped_points() const;

    static constexpr int kMinRedrawMs = 50;    // 20 redraws a second at most
    static constexpr int kMaxRedrawMs = 1000;  // still live when redraws are slow
    static constexpr double kUiCpuBudget = 0.025; // of one core, while data flows
    // The wait before the next redraw when the UI thread used `ui_cpu_ms`
    // of CPU since the last one.
    static int redraw_interval_ms(double ui_cpu_ms);
    // The calling thread's CPU time: what it took from the machine, whether
    // or not it was preempted meanwhile.
    static double thread_cpu_ms();
    int current_redraw_interval_ms() const;

    // Run keys in order of arrival: a live run's name as the kernel posts
    // it, or a stored run's folder name (run id).
    QStringList runs() const;
    QStringList charts() const; // the metric groups shown
    void set_run_visible(const QString &run, bool visible);
    bool run_visible(const QString &run) const;
    QString run_name(const QString &run) const; // as the runs list and the charts show it
    QColor run_colour(const QString &run) const;
    QString run_dir(const QString &run) const; // its folder in the run store, or empty
    // The line drawn for (run, name) in its chart: its colour and hover name.
    QColor line_colour(const QString &run, const QString &name) const;
    QString line_name(const QString &run, const QString &name) const;

    // The run store (docs/run-store.md): where the window's kernel keeps runs.
    // Watched while the window is open: runs stored by another process (a
    // neurite-run in a terminal) join the list without a restart.
    void set_runs_dir(const QString &dir);
    const QString &runs_dir() const { return m_runs_dir; }
    // Lists the store's runs (at the window's start): their records at once,
    // their curves when drawn; only the newest kShownAtStart are ticked.
    int load_store();
    static constexpr int kShownAtStart = 10;
    // Reads the curves of ticked stored runs not read yet, for up to
    // budget_ms (< 0: all, waiting for the reads in flight too); true when
    // none is left to read. The window reads them on the thread pool.
    bool load_pending_curves(int budget_ms = -1);
    int curve_reads_in_flight() const { return static_cast<int>(m_curve_reads.size()); }
    // After a run of the window: links the runs it drew to the folders the
    // kernel wrote (their hyperparameters and final metrics fill the list).
    void sync_store();
    // A run of the window's kernel begins: run folders made from now on are
    // its runs (linked to their rows when their first points arrive), not
    // another process's.
    void begin_live();
    // Reads what changed in the store: a new folder is linked to the live
    // run it belongs to (its hyperparameter columns fill as train.fit
    // starts) or listed as another process's run; a running run's run.json
    // is read again. The store's watcher calls it, after kScanDelayMs.
    void scan_store();
    static constexpr int kScanDelayMs = 150;
    // A live run's final-metric columns follow its curves this often.
    static constexpr int kLiveMetricsMs = 400;
    // Rename and delete act on the charts, the list and the run's folder;
    // false with `error` when refused (a run still going on) or failing.
    bool rename_run(const QString &run, const QString &name, QString *error = nullptr);
    bool delete_run(const QString &run, QString *error = nullptr);
    RunsList *runs_list() const { return m_runs_list; }
    SweepTable *sweep_table() const { return m_sweep_table; }
    QTabWidget *runs_tabs() const { return m_run_tabs; }
    void set_x_axis(XAxis axis);
    void set_smoothing(double weight);
    void set_log_y(bool on);
    const MetricSeries *series(const QString &run, const QString &name) const;
    // Points currently drawn for (run, name) in its chart.
    // raw: those of the faint unsmoothed line behind a smoothed series.
    int drawn_points(const QString &run, const QString &name, bool raw = false) const;

    // At `scale` times the chart's size on screen.
    bool export_png(const QString &chart, const QString &path, double scale = 2) const;
    bool export_csv(const QString &chart, const QString &path) const;
    void clear();

    // Charts per row at this width: 1 to 4, each at least kMinChartWidth.
    static constexpr int kMinChartWidth = 420;
    static int columns_for(int width);
    int columns() const { return m_columns; }

signals:
    void run_added(const QString &run);
    // "Open the script of this run": its copy in the run's folder.
    void open_script_requested(const QString &path);

protected:
    void showEvent(QShowEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    struct Key {
        QString run, name;
        bool operator==(const Key &o) const { return run == o.run && name == o.name; }
    };
    friend size_t qHash(const Key &k, size_t seed) { return qHash(k.run, seed) ^ qHash(k.name, seed); }

    struct RunState {
        QString name;
        QColor colour;
        bool visible = true;
        bool curves_pending = false; // a stored run whose metrics.jsonl is not read yet
        int curves_generation = 0;   // a read begun before the last mark_curves_pending is stale
        bool active = false;         // posted by the run going on (no rename or delete)
        bool has_record = false;
        StoredRun record;
    };
    RunState &add_run(const QString &key, const QString &name, bool visible);
    void add_stored_run(const StoredRun &run, bool visible);
    void load_curves(const QString &key);
    static void mark_curves_pending(RunState &state);
    using StoredCurves = std::vector<std::pair<QString, std::vector<MetricPoint>>>;
    void apply_curves(const QString &key, StoredCurves curves);
    // Reads ticked stored runs' metrics.jsonl on the thread pool, one at a
    // time (25-35 ms each for a 10-epoch Fashion-MNIST run): the window
    // stays responsive while a long history loads.
    void start_curve_reads();
    void finish_curve_read(const QString &key, QFutureWatcher<StoredCurves> *watcher, int generation);
    // Watches the runs folder (its parent while it does not exist) and the
    // folders of runs not ended yet (run.json is replaced in them).
    void watch_store(const QStringList &run_folders);
    // Links a folder to a live run of the window; false when none is its.
    bool link_live_run(const StoredRun &stored);
    void update_live_metrics();
    void update_sweeps();
    // Sizes the runs panel to its rows (up to kRowsShown), until the user
    // drags the border.
    void fit_runs_panel();
    static constexpr int kRowsShown = 8;
    void ask_rename(const QString &run);
    void ask_delete(const QString &run);

    static QString group_of(const QString &name);
    // A sentence under the controls for a while (where an export went).
    void say(const QString &message);
    MetricChart *chart_for(const QString &group);
    // Redraws every chart, or only those named in `only`.
    void redraw(const QSet<QString> *only = nullptr);
    // Moves the ring's points into their series and marks their charts.
    void drain();

    MetricRing m_ring;
    std::vector<MetricEvent> m_drained;
    QHash<Key, MetricSeries> m_series;
    QMap<QString, MetricChart *> m_charts;
    QList<MetricChart *> m_chart_order; // as they were made: their places in the grid
    int m_columns = 2;
    QStringList m_runs;
    QHash<QString, RunState> m_run_state;
    int m_colours_used = 0;
    QString m_runs_dir;
    QDateTime m_live_since; // live runs link only to folders made since
    bool m_live = false;    // a run of the window's kernel is going on
    QFileSystemWatcher *m_watcher;
    QHash<QString, QFutureWatcher<StoredCurves> *> m_curve_reads; // run key: its read in flight
    QTimer *m_scan_timer; // gathers a burst of changes into one scan
    QElapsedTimer m_live_metrics_clock;
    XAxis m_axis = XAxis::Step;
    double m_smoothing = 0.6;
    bool m_log_y = false;
    QSet<QString> m_dirty_charts;
    double m_last_tick_cpu_ms = 0;

    QTimer *m_timer;       // redraws, spaced by the CPU budget
    QTimer *m_drain_timer; // empties the ring 20 times a second
    QComboBox *m_axis_box;
    QSlider *m_smoothing_slider;
    QLabel *m_smoothing_label;
    QCheckBox *m_log_box;
    QTabWidget *m_run_tabs;
    QSplitter *m_split;
    bool m_split_moved = false;
    RunsList *m_runs_list;
    SweepTable *m_sweep_table;
    QGridLayout *m_grid;
    QLabel *m_status;
    QTimer *m_status_timer;
};

} // namespace neurite::gui
