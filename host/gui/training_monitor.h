#pragma once

#include "metric_series.h"

#include <QHash>
#include <QMap>
#include <QSet>
#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QGridLayout;
class QListWidget;
class QSlider;
class QTimer;
class QLabel;

namespace neurite::gui {

class MetricChart;

// Live training curves: one chart per metric (training and validation of a
// metric share a chart: "loss" and "val_loss"), several runs overlaid and
// toggled. Events arrive from any thread through a ring buffer; a timer
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

    QStringList runs() const;
    QStringList charts() const; // the metric groups shown
    void set_run_visible(const QString &run, bool visible);
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

protected:
    void showEvent(QShowEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    struct Key {
        QString run, name;
        bool operator==(const Key &o) const { return run == o.run && name == o.name; }
    };
    friend size_t qHash(const Key &k, size_t seed) { return qHash(k.run, seed) ^ qHash(k.name, seed); }

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
    QHash<QString, bool> m_run_visible;
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
    QListWidget *m_run_list;
    QGridLayout *m_grid;
    QLabel *m_status;
    QTimer *m_status_timer;
};

} // namespace neurite::gui
