#pragma once

#include "metric_series.h"

#include "neurite/core/chart_rules.h"

#include <QChartView>
#include <QColor>
#include <QHash>
#include <QSet>

class QAbstractAxis;
class QLineSeries;
class QCategoryAxis;
class QValueAxis;

namespace neurite::gui {

// One chart of the training monitor: a line per (run, metric), axes ranged by
// hand (QtCharts' automatic ranging walks every point on each change), no
// animations, a log-scale y on request. Hovering a line shows its run, the
// step or epoch and the value there. No legend of its own: the runs list of
// the monitor is the legend of every chart (a run has one colour in all).
class MetricChart : public QChartView {
    Q_OBJECT

public:
    explicit MetricChart(const QString &title, QWidget *parent = nullptr);

    QString title() const { return m_title; }
    // Draws series (already smoothed by the caller's settings) over [x0, x1].
    struct Line {
        QString run; // the monitor's key of the run
        QString name;
        const MetricSeries *series;
        QString label; // the run's name as the runs list shows it
        QColor colour; // the run's swatch in the runs list
    };
    void draw(const QList<Line> &lines, XAxis axis, bool log_y);
    // raw: the faint line of unsmoothed values behind a smoothed one.
    int drawn_points(const QString &run, const QString &name, bool raw = false) const;
    // The plot area's width in pixels: the decimation budget.
    int columns() const;

    // The colour and hover name of the line drawn for (run, name).
    QColor line_colour(const QString &run, const QString &name) const;
    QString line_name(const QString &run, const QString &name) const;
    // Forgets the run's lines (a run deleted from the runs list).
    void remove_run(const QString &run);

    // The chart drawn at `scale` times its size on screen.
    bool export_png(const QString &path, double scale = 2) const;
    // Asks where to save a PNG of a chart (starting in the documents
    // folder) and at which resolution; empty when cancelled.
    static QString ask_png_path(QWidget *parent, const QString &name, double &scale);

    // The axes' ranges follow the rules neurite-run --plot follows too;
    // the window's other charts round their axes the same way.
    using AxisRange = charts::AxisRange;
    static AxisRange nice_range(double lo, double hi, int max_ticks) { return charts::nice_range(lo, hi, max_ticks); }
    AxisRange x_axis_range() const;
    AxisRange y_axis_range() const; // the linear or the log axis, as shown

signals:
    void export_csv_requested(const QString &chart);
    // A sentence saying where an export went (or that it failed).
    void exported(const QString &message);
    // The plot area changed size (ticks and decimation depend on it): the
    // chart wants a redraw.
    void needs_redraw(const QString &chart);

protected:
    void contextMenuEvent(QContextMenuEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    QLineSeries *line_for(const Line &line);
    // Names and colours follow the runs list (a rename, a new colour).
    void restyle(QLineSeries *s, QLineSeries *raw, const Line &line);
    void use_log_axis(bool log_y);
    // Sets the axes only where the rounded range changed: each change
    // re-lays out every tick label, the most costly part of a redraw.
    void set_axes(double x0, double x1, double y0, double y1, bool log_y);
    void set_log_axis(double y0, double y1);
    void show_value(const QLineSeries *line, const QPointF &point);

    QString m_title;
    QHash<QString, QLineSeries *> m_lines;     // "run\nname"
    QHash<QString, QLineSeries *> m_raw_lines; // the same keys: the unsmoothed values
    QValueAxis *m_x;
    QValueAxis *m_y_linear;
    // A log scale drawn as log10 of the values on a linear axis, so that its
    // ticks can fall at 1, 2 and 5 of each decade with labels such as "100k"
    // (QLogValueAxis labels decades only, in printf's style).
    QCategoryAxis *m_y_log;
    AxisRange m_log_range; // in values, not their logarithms
    bool m_log = false;
    XAxis m_x_kind = XAxis::Step;
};

} // namespace neurite::gui
