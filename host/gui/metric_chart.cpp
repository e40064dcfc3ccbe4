#include "metric_chart.h"

#include "neurite/core/chart_rules.h"

#include <QChart>
#include <QContextMenuEvent>
#include <QFileDialog>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMenu>
#include <QValueAxis>

#include <algorithm>

namespace neurite::gui {

namespace {

// Distinct hues for runs; validation curves reuse their run's colour dashed.
QColor run_colour(int index)
{
    static const QColor palette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
                                     QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75),
                                     QColor(227, 119, 194), QColor(127, 127, 127)};
    return palette[index % 8];
}

} // namespace

// The view is made with its chart: QChartView(parent) would make a default
// chart that setChart then releases, unowned (ASan's leak of the window).
MetricChart::MetricChart(const QString &title, QWidget *parent)
    : QChartView(new QChart, parent), m_title(title), m_x(new QValueAxis(this)), m_y_linear(new QValueAxis(this)),
      m_y_log(new QLogValueAxis(this)) // parented: the axis not in the chart is ours to free
{
    QChart *c = chart();
    c->setTitle(title);
    c->setAnimationOptions(QChart::NoAnimation);
    c->legend()->setAlignment(Qt::AlignBottom);
    c->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries); // a dashed line for validation
    c->setMargins(QMargins(4, 4, 4, 4));
    m_x->setLabelFormat("%g");
    m_y_linear->setLabelFormat("%.3g");
    m_y_log->setLabelFormat("%.2g");
    m_y_log->setBase(10);
    c->addAxis(m_x, Qt::AlignBottom);
    c->addAxis(m_y_linear, Qt::AlignLeft);
    // No antialiasing: a live chart repaints up to 20 times a second while
    // training wants every core, and aliased lines cost a fraction to draw.
    setMinimumSize(220, 180);
}

int MetricChart::columns() const
{
    const int w = static_cast<int>(chart()->plotArea().width());
    return w > 10 ? w : 400;
}

QLineSeries *MetricChart::line_for(const QString &run, const QString &name, int run_index)
{
    const QString key = run + '\n' + name;
    if (QLineSeries *s = m_lines.value(key))
        return s;
    auto *s = new QLineSeries;
    // The chart's own metric is named by its run alone; another metric on it
    // ("val_loss" on "loss") comes first, as a narrow legend elides the end.
    s->setName(name == m_title ? run : name + " (" + run + ")");
    // One pixel wide: Qt draws it with its fast line stroker, where wider
    // aliased pens go through the polygon stroker at several times the cost.
    QPen pen(run_colour(run_index), 1);
    if (charts::is_validation(name.toStdString())) {
        pen.setStyle(Qt::DashLine);
        // The legend lists runs (one colour each); the title says what a dash
        // means, so six entries do not crowd a small chart to nothing.
        m_validation_lines.insert(s);
        chart()->setTitle(m_title + tr(" (dashed: validation)"));
    }
    m_legend_stale = true;
    s->setPen(pen);
    chart()->addSeries(s);
    s->attachAxis(m_x);
    s->attachAxis(m_log ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear);
    m_lines.insert(key, s);
    return s;
}

void MetricChart::use_log_axis(bool log_y)
{
    if (log_y == m_log)
        return;
    QAbstractAxis *old_axis = m_log ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear;
    QAbstractAxis *new_axis = log_y ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear;
    for (QLineSeries *s : std::as_const(m_lines))
        s->detachAxis(old_axis);
    // removeAxis leaves the axis without a parent (the chart releases it):
    // the view owns the axis the chart does not show, until it is shown again.
    chart()->removeAxis(old_axis);
    old_axis->setParent(this);
    chart()->addAxis(new_axis, Qt::AlignLeft);
    for (QLineSeries *s : std::as_const(m_lines))
        s->attachAxis(new_axis);
    m_log = log_y;
}

void MetricChart::draw(const QList<Line> &lines, XAxis axis, bool log_y)
{
    use_log_axis(log_y);
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    bool have_x = false, have_y = false;
    for (const Line &l : lines) {
        double lo, hi;
        if (l.series->x_range(axis, lo, hi)) {
            x0 = have_x ? std::min(x0, lo) : lo;
            x1 = have_x ? std::max(x1, hi) : hi;
            have_x = true;
        }
        if (l.series->y_range(lo, hi, log_y)) {
            y0 = have_y ? std::min(y0, lo) : lo;
            y1 = have_y ? std::max(y1, hi) : hi;
            have_y = true;
        }
    }
    if (!have_x || x1 <= x0)
        x1 = x0 + 1;
    if (!have_y) { // the shared rules draw "no values" as their empty axis
        y0 = 1;
        y1 = 0;
    }
    QSet<QString> shown;
    const int cols = columns();
    bool visibility_changed = false;
    for (const Line &l : lines) {
        QLineSeries *s = line_for(l.run, l.name, l.run_index);
        s->replace(l.series->render(axis, x0, x1, cols, log_y));
        visibility_changed |= !s->isVisible();
        s->setVisible(true);
        shown.insert(l.run + '\n' + l.name);
    }
    for (auto it = m_lines.cbegin(); it != m_lines.cend(); ++it) {
        if (!shown.contains(it.key()) && it.value()->isVisible()) {
            it.value()->setVisible(false);
            visibility_changed = true;
        }
    }
    // Hidden runs leave the legend too.
    if (visibility_changed || m_legend_stale) {
        for (QLegendMarker *m : chart()->legend()->markers())
            m->setVisible(m->series()->isVisible() &&
                          !m_validation_lines.contains(static_cast<QLineSeries *>(m->series())));
        m_legend_stale = false;
    }
    set_axes(x0, x1, y0, y1, log_y);
}

void MetricChart::set_axes(double x0, double x1, double y0, double y1, bool log_y)
{
    const QRectF plot = chart()->plotArea();
    const AxisRange x_range = charts::step_axis(x0, x1, charts::max_ticks(plot.width(), charts::kPixelsPerStepLabel));
    if (x_range != x_axis_range()) {
        m_x->setRange(x_range.lo, x_range.hi);
        m_x->setTickCount(x_range.ticks);
    }
    if (log_y) {
        const AxisRange y_range = charts::log_value_axis(y0, y1);
        if (y_range.lo != m_y_log->min() || y_range.hi != m_y_log->max())
            m_y_log->setRange(y_range.lo, y_range.hi);
    } else {
        const AxisRange y_range =
            charts::value_axis(y0, y1, charts::max_ticks(plot.height(), charts::kPixelsPerValueLabel));
        if (y_range != y_axis_range()) {
            m_y_linear->setRange(y_range.lo, y_range.hi);
            m_y_linear->setTickCount(y_range.ticks);
        }
    }
}

MetricChart::AxisRange MetricChart::x_axis_range() const
{
    return {m_x->min(), m_x->max(), m_x->tickCount()};
}

MetricChart::AxisRange MetricChart::y_axis_range() const
{
    if (m_log)
        return {m_y_log->min(), m_y_log->max(), 0};
    return {m_y_linear->min(), m_y_linear->max(), m_y_linear->tickCount()};
}

int MetricChart::drawn_points(const QString &run, const QString &name) const
{
    QLineSeries *s = m_lines.value(run + '\n' + name);
    return s && s->isVisible() ? static_cast<int>(s->count()) : 0;
}

bool MetricChart::export_png(const QString &path) const
{
    return const_cast<MetricChart *>(this)->grab().save(path, "PNG");
}

void MetricChart::resizeEvent(QResizeEvent *event)
{
    QChartView::resizeEvent(event);
    emit needs_redraw(m_title);
}

void MetricChart::contextMenuEvent(QContextMenuEvent *event)
{
    QMenu menu(this);
    QAction *png = menu.addAction(tr("Export chart as PNG…"));
    QAction *csv = menu.addAction(tr("Export data as CSV…"));
    QAction *chosen = menu.exec(event->globalPos());
    if (chosen == png) {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export chart"), m_title + ".png",
                                                          tr("PNG images (*.png)"));
        if (!path.isEmpty())
            export_png(path);
    } else if (chosen == csv) {
        emit export_csv_requested(m_title);
    }
}

} // namespace neurite::gui
