#pragma once

#include "metric_series.h"

#include "neurite/core/chart_rules.h"

#include <QChartView>
#include <QHash>
#include <QSet>

class QAbstractAxis;
class QLineSeries;
class QLogValueAxis;
class QValueAxis;

namespace neurite::gui {

// One chart of the training monitor: a line per (run, metric), axes ranged by
// hand (QtCharts' automatic ranging walks every point on each change), no
// animations, a log-scale y on request.
class MetricChart : public QChartView {
    Q_OBJECT

public:
    explicit MetricChart(const QString &title, QWidget *parent = nullptr);

    QString title() const { return m_title; }
    // Draws series (already smoothed by the caller's settings) over [x0, x1].
    struct Line {
        QString run;
        QString name;
        const MetricSeries *series;
        int run_index;
    };
    void draw(const QList<Line> &lines, XAxis axis, bool log_y);
    int drawn_points(const QString &run, const QString &name) const;
    // The plot area's width in pixels: the decimation budget.
    int columns() const;

    bool export_png(const QString &path) const;

    // The axes' ranges follow the rules neurite-run --plot follows too;
    // the window's other charts round their axes the same way.
    using AxisRange = charts::AxisRange;
    static AxisRange nice_range(double lo, double hi, int max_ticks) { return charts::nice_range(lo, hi, max_ticks); }
    AxisRange x_axis_range() const;
    AxisRange y_axis_range() const; // the linear or the log axis, as shown

signals:
    void export_csv_requested(const QString &chart);
    // The plot area changed size (ticks and decimation depend on it): the
    // chart wants a redraw.
    void needs_redraw(const QString &chart);

protected:
    void contextMenuEvent(QContextMenuEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    QLineSeries *line_for(const QString &run, const QString &name, int run_index);
    void use_log_axis(bool log_y);
    // Sets the axes only where the rounded range changed: each change
    // re-lays out every tick label, the most costly part of a redraw.
    void set_axes(double x0, double x1, double y0, double y1, bool log_y);

    QString m_title;
    QHash<QString, QLineSeries *> m_lines; // "run\nname"
    QValueAxis *m_x;
    QValueAxis *m_y_linear;
    QLogValueAxis *m_y_log;
    bool m_log = false;
    QSet<QLineSeries *> m_validation_lines; // drawn dashed, left out of the legend
    bool m_legend_stale = false;            // a line was added since the legend was set
};

} // namespace neurite::gui
