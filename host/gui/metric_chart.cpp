#include "metric_chart.h"
#include "save_location.h"

#include "neurite/core/chart_rules.h"

#include <QCategoryAxis>
#include <QChart>
#include <QContextMenuEvent>
#include <QCursor>
#include <QDir>
#include <QFileDialog>
#include <QInputDialog>
#include <QLegend>
#include <QLineSeries>
#include <QMenu>
#include <QPainter>
#include <QPixmap>
#include <QToolTip>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

// A log chart draws log10 of its values on a linear axis (see m_y_log).
QList<QPointF> on_axis(QList<QPointF> points, bool log_y)
{
    if (log_y) // render kept only positive values
        for (QPointF &p : points)
            p.setY(std::log10(p.y()));
    return points;
}

} // namespace

// The view is made with its chart: QChartView(parent) would make a default
// chart that setChart then releases, unowned (ASan's leak of the window).
MetricChart::MetricChart(const QString &title, QWidget *parent)
    : QChartView(new QChart, parent), m_title(title), m_x(new QValueAxis(this)), m_y_linear(new QValueAxis(this)),
      m_y_log(new QCategoryAxis(this)) // parented: the axis not in the chart is ours to free
{
    QChart *c = chart();
    c->setTitle(title);
    c->setAnimationOptions(QChart::NoAnimation);
    // The runs list is the legend of every chart: a legend per chart elided
    // its names to "fa…" in a narrow panel.
    c->legend()->hide();
    c->setMargins(QMargins(4, 4, 4, 4));
    m_x->setLabelFormat("%g");
    m_y_linear->setLabelFormat("%.3g");
    m_y_log->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
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

QLineSeries *MetricChart::line_for(const Line &line)
{
    const QString key = line.run + '\n' + line.name;
    if (QLineSeries *s = m_lines.value(key)) {
        restyle(s, m_raw_lines.value(key), line);
        return s;
    }
    const bool validation = charts::is_validation(line.name.toStdString());
    if (validation)
        chart()->setTitle(m_title + tr(" (dashed: validation)"));
    // The values as reported, faint behind the smoothed line (TensorBoard's
    // way); added first, so it is drawn first.
    auto *raw = new QLineSeries;
    raw->setVisible(false);
    chart()->addSeries(raw);
    raw->attachAxis(m_x);
    raw->attachAxis(m_log ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear);
    m_raw_lines.insert(key, raw);
    auto *s = new QLineSeries;
    connect(s, &QLineSeries::hovered, this, [this, s](const QPointF &point, bool entered) {
        if (entered)
            show_value(s, point);
        else
            QToolTip::hideText();
    });
    chart()->addSeries(s);
    s->attachAxis(m_x);
    s->attachAxis(m_log ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear);
    m_lines.insert(key, s);
    restyle(s, raw, line);
    return s;
}

void MetricChart::restyle(QLineSeries *s, QLineSeries *raw, const Line &line)
{
    // The chart's own metric is named by its run alone (the hover's text).
    const QString name = line.name == m_title ? line.label : line.name + " (" + line.label + ")";
    if (s->name() != name)
        s->setName(name);
    const Qt::PenStyle style = charts::is_validation(line.name.toStdString()) ? Qt::DashLine : Qt::SolidLine;
    const QPen now = s->pen();
    if (now.color() == line.colour && now.style() == style && now.widthF() == 1)
        return;
    // One pixel wide: Qt draws it with its fast line stroker, where wider
    // aliased pens go through the polygon stroker at several times the cost.
    s->setPen(QPen(line.colour, 1, style));
    QColor faint = line.colour;
    faint.setAlpha(70);
    raw->setPen(QPen(faint, 1, style));
}

QColor MetricChart::line_colour(const QString &run, const QString &name) const
{
    QLineSeries *s = m_lines.value(run + '\n' + name);
    return s ? s->pen().color() : QColor();
}

QString MetricChart::line_name(const QString &run, const QString &name) const
{
    QLineSeries *s = m_lines.value(run + '\n' + name);
    return s ? s->name() : QString();
}

void MetricChart::remove_run(const QString &run)
{
    const QString prefix = run + '\n';
    for (QHash<QString, QLineSeries *> *lines : {&m_lines, &m_raw_lines})
        for (auto it = lines->begin(); it != lines->end();) {
            if (it.key().startsWith(prefix)) {
                chart()->removeSeries(it.value());
                delete it.value();
                it = lines->erase(it);
            } else {
                ++it;
            }
        }
}

void MetricChart::use_log_axis(bool log_y)
{
    if (log_y == m_log)
        return;
    QAbstractAxis *old_axis = m_log ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear;
    QAbstractAxis *new_axis = log_y ? static_cast<QAbstractAxis *>(m_y_log) : m_y_linear;
    const QList<QAbstractSeries *> all = chart()->series();
    for (QAbstractSeries *s : all)
        s->detachAxis(old_axis);
    // removeAxis leaves the axis without a parent (the chart releases it):
    // the view owns the axis the chart does not show, until it is shown again.
    chart()->removeAxis(old_axis);
    old_axis->setParent(this);
    chart()->addAxis(new_axis, Qt::AlignLeft);
    for (QAbstractSeries *s : all)
        s->attachAxis(new_axis);
    m_log = log_y;
}

void MetricChart::draw(const QList<Line> &lines, XAxis axis, bool log_y)
{
    use_log_axis(log_y);
    m_x_kind = axis;
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
    for (const Line &l : lines) {
        QLineSeries *s = line_for(l);
        const bool smoothed = l.series->smoothing() > 0;
        QLineSeries *raw = m_raw_lines.value(l.run + '\n' + l.name);
        if (smoothed)
            raw->replace(on_axis(l.series->render(axis, x0, x1, cols, log_y, true), log_y));
        raw->setVisible(smoothed);
        s->replace(on_axis(l.series->render(axis, x0, x1, cols, log_y), log_y));
        s->setVisible(true);
        shown.insert(l.run + '\n' + l.name);
    }
    for (auto it = m_lines.cbegin(); it != m_lines.cend(); ++it) {
        if (!shown.contains(it.key()) && it.value()->isVisible()) {
            it.value()->setVisible(false);
            m_raw_lines.value(it.key())->setVisible(false);
        }
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
        set_log_axis(y0, y1);
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
        return m_log_range;
    return {m_y_linear->min(), m_y_linear->max(), m_y_linear->tickCount()};
}

int MetricChart::drawn_points(const QString &run, const QString &name, bool raw) const
{
    QLineSeries *s = (raw ? m_raw_lines : m_lines).value(run + '\n' + name);
    return s && s->isVisible() ? static_cast<int>(s->count()) : 0;
}

void MetricChart::set_log_axis(double y0, double y1)
{
    const AxisRange range = charts::log_value_axis(y0, y1);
    if (range == m_log_range)
        return;
    m_log_range = range;
    for (const QString &label : m_y_log->categoriesLabels())
        m_y_log->remove(label);
    const std::vector<double> ticks =
        charts::log_ticks(range, charts::max_ticks(chart()->plotArea().height(), charts::kPixelsPerValueLabel));
    const std::vector<std::string> labels = charts::tick_labels(ticks);
    m_y_log->setStartValue(std::log10(range.lo));
    for (size_t i = 0; i < ticks.size(); ++i)
        m_y_log->append(QString::fromStdString(labels[i]), std::log10(ticks[i]));
    m_y_log->setRange(std::log10(range.lo), std::log10(range.hi));
}

void MetricChart::show_value(const QLineSeries *line, const QPointF &point)
{
    const double value = m_log ? std::pow(10.0, point.y()) : point.y();
    const QString where = m_x_kind == XAxis::Step ? tr("step %1").arg(point.x(), 0, 'f', 0)
                                                  : tr("epoch %1").arg(point.x(), 0, 'g', 4);
    QToolTip::showText(QCursor::pos(), tr("%1\n%2: %3").arg(line->name(), where).arg(value, 0, 'g', 5), this);
}

bool MetricChart::export_png(const QString &path, double scale) const
{
    // Drawn again at `scale` times the pixels, not a screenshot magnified:
    // lines and text stay sharp in a paper or a slide.
    QPixmap image(size() * scale);
    image.setDevicePixelRatio(scale);
    image.fill(Qt::white);
    QPainter painter(&image);
    const_cast<MetricChart *>(this)->render(&painter);
    painter.end();
    return image.save(path, "PNG");
}

QString MetricChart::ask_png_path(QWidget *parent, const QString &name, double &scale)
{
    const QString path = QFileDialog::getSaveFileName(parent, tr("Export chart"), save_location(name + ".png"),
                                                      tr("PNG images (*.png)"));
    if (path.isEmpty())
        return path;
    QStringList sizes;
    for (int k = 1; k <= 4; ++k)
        sizes << tr("%1× (%2 × %3 px)").arg(k).arg(parent->width() * k).arg(parent->height() * k);
    bool ok = false;
    const QString chosen = QInputDialog::getItem(parent, tr("Export chart"), tr("Resolution:"), sizes, 1, false, &ok);
    if (!ok)
        return {};
    scale = sizes.indexOf(chosen) + 1;
    return path;
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
        double scale = 2;
        const QString path = ask_png_path(this, m_title, scale);
        if (path.isEmpty())
            return;
        if (export_png(path, scale))
            emit exported(tr("Saved the %1 chart to %2 (%3 × %4 px)")
                              .arg(m_title, QDir::toNativeSeparators(path))
                              .arg(int(width() * scale))
                              .arg(int(height() * scale)));
        else
            emit exported(tr("Could not write %1").arg(QDir::toNativeSeparators(path)));
    } else if (chosen == csv) {
        emit export_csv_requested(m_title);
    }
}

} // namespace neurite::gui
