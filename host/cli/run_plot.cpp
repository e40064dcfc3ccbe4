#include "run_plot.h"

#include "neurite/core/error.h"

#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QImageWriter>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

namespace neurite::cli {

namespace {

constexpr int kChartWidth = 640;
constexpr int kChartHeight = 400;
constexpr int kCellMargin = 4;
constexpr int kLeft = 72, kRight = 24, kTop = 36, kBottom = 48;
constexpr int kPlotWidth = kChartWidth - 2 * kCellMargin - kLeft - kRight;
constexpr int kPlotHeight = kChartHeight - 2 * kCellMargin - kTop - kBottom;
constexpr int kJpegQuality = 92; // thin lines on white: the default 75 smears them

const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
                           QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75),
                           QColor(227, 119, 194), QColor(127, 127, 127)};

// Qt's start-up notes (no XDG_RUNTIME_DIR under a scheduler, ...) are not
// the user's business at the end of a run.
void quiet_messages(QtMsgType type, const QMessageLogContext &, const QString &message)
{
    if (type == QtCriticalMsg || type == QtFatalMsg)
        std::fprintf(stderr, "neurite-run: %s\n", qPrintable(message));
}

// Text rendering needs a QGuiApplication; the runner has none until here.
std::unique_ptr<QGuiApplication> ensure_gui()
{
    if (QGuiApplication::instance())
        return nullptr;
    qInstallMessageHandler(quiet_messages);
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "neurite-run";
    static char *argv[] = {name, nullptr};
    return std::make_unique<QGuiApplication>(argc, argv);
}

QByteArray format_of(const std::string &path)
{
    return QFileInfo(QString::fromStdString(path)).suffix().toLower().toLatin1();
}

// Maps data to pixels inside the plot area; a log axis maps log10 of the value.
struct Mapping {
    QRectF area;
    charts::AxisRange x, y;
    bool log_y;

    bool drawable(double v) const { return std::isfinite(v) && (!log_y || v > 0); }
    double px(double v) const { return area.left() + (v - x.lo) / (x.hi - x.lo) * area.width(); }
    double py(double v) const
    {
        if (log_y)
            return area.bottom() - std::log10(v / y.lo) / std::log10(y.hi / y.lo) * area.height();
        return area.bottom() - (v - y.lo) / (y.hi - y.lo) * area.height();
    }
};

// The shared style (chart_rules.h): "100k", "0.05", "1e-05".
std::vector<QString> tick_labels(const std::vector<double> &ticks)
{
    std::vector<QString> labels;
    for (const std::string &label : charts::tick_labels(ticks))
        labels.push_back(QString::fromStdString(label));
    return labels;
}

void draw_grid(QPainter &p, const QRect &cell, const Mapping &m, const RunPlot::Chart &chart)
{
    const std::vector<QString> y_labels = tick_labels(chart.y_ticks), x_labels = tick_labels(chart.x_ticks);
    for (size_t i = 0; i < chart.y_ticks.size(); ++i) {
        const double y = m.py(chart.y_ticks[i]);
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(m.area.left(), y), QPointF(m.area.right(), y));
        p.setPen(Qt::black);
        p.drawText(QRectF(cell.left(), y - 8, kLeft - 6, 16), Qt::AlignRight | Qt::AlignVCenter, y_labels[i]);
    }
    for (size_t i = 0; i < chart.x_ticks.size(); ++i) {
        const double x = m.px(chart.x_ticks[i]);
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(x, m.area.top()), QPointF(x, m.area.bottom()));
        p.setPen(Qt::black);
        p.drawText(QRectF(x - 40, m.area.bottom() + 4, 80, 16), Qt::AlignHCenter | Qt::AlignTop, x_labels[i]);
    }
    p.setPen(Qt::black);
    p.drawRect(m.area);
    p.drawText(QRectF(m.area.left(), m.area.bottom() + 22, m.area.width(), 18), Qt::AlignHCenter, "step");
    QFont font = p.font();
    font.setPixelSize(15);
    font.setBold(true);
    p.setFont(font);
    QString title = QString::fromStdString(chart.title);
    if (chart.log_y)
        title += " (log scale)";
    p.drawText(QRectF(cell.left(), cell.top() + 6, cell.width(), 24), Qt::AlignHCenter, title);
    font.setPixelSize(12);
    font.setBold(false);
    p.setFont(font);
}

void draw_line(QPainter &p, const Mapping &m, const RunPlot::Series &s, const QColor &color)
{
    QPainterPath path;
    bool started = false;
    for (const auto &[x, y] : s.points) {
        if (!m.drawable(y)) { // a gap, not a line to nowhere
            started = false;
            continue;
        }
        if (!started)
            path.moveTo(m.px(x), m.py(y));
        else
            path.lineTo(m.px(x), m.py(y));
        started = true;
    }
    p.setPen(QPen(color, 2.0, charts::is_validation(s.name) ? Qt::DashLine : Qt::SolidLine));
    p.drawPath(path);
    // Few points (one an epoch): mark each, so a single one shows at all.
    if (s.points.size() <= 60) {
        p.setPen(QPen(color, 1.0));
        p.setBrush(color);
        for (const auto &[x, y] : s.points)
            if (m.drawable(y))
                p.drawEllipse(QPointF(m.px(x), m.py(y)), 2.5, 2.5);
        p.setBrush(Qt::NoBrush);
    }
}

// The legend's label for a line: the metric, or with several runs the run
// (and the metric when it is not the chart's own, as "val_loss" on "loss"),
// as the window's legend reads.
QString legend_label(const RunPlot::Series &s, const std::string &chart, bool several_runs)
{
    if (!several_runs)
        return QString::fromStdString(s.name);
    return QString::fromStdString(s.name == chart ? s.run : s.name + " (" + s.run + ")");
}

// How much of the drawn data lies under `box`: points, and points along the
// lines between them every few pixels, so a steep segment counts too.
int data_under(const QRectF &box, const Mapping &m, const std::vector<const RunPlot::Series *> &series)
{
    int hits = 0;
    for (const RunPlot::Series *s : series) {
        QPointF last;
        bool have_last = false;
        for (const auto &[x, y] : s->points) {
            if (!m.drawable(y)) {
                have_last = false;
                continue;
            }
            const QPointF here(m.px(x), m.py(y));
            const int samples = have_last ? std::clamp(static_cast<int>(QLineF(last, here).length() / 4), 1, 200) : 1;
            for (int k = 1; k <= samples; ++k)
                hits += box.contains(have_last ? last + (here - last) * k / samples : here);
            last = here;
            have_last = true;
        }
    }
    return hits;
}

// The legend goes in the corner of the plot area where it hides the least data.
void draw_legend(QPainter &p, const Mapping &m, const RunPlot::Chart &chart, const std::vector<QColor> &colors,
                 bool several_runs)
{
    constexpr qreal kRow = 17, kInset = 6;
    qreal width = 0;
    for (const RunPlot::Series *s : chart.series)
        width = std::max(width, p.fontMetrics().horizontalAdvance(legend_label(*s, chart.title, several_runs)) + 28.0);
    const qreal height = kRow * static_cast<qreal>(chart.series.size());
    const QRectF area = m.area.adjusted(kInset, kInset, -kInset, -kInset);
    const QRectF corners[] = {{area.right() - width, area.top(), width, height},
                              {area.left(), area.top(), width, height},
                              {area.right() - width, area.bottom() - height, width, height},
                              {area.left(), area.bottom() - height, width, height}};
    QRectF box = corners[0];
    int least = data_under(box, m, chart.series);
    for (const QRectF &corner : corners)
        if (const int hits = data_under(corner, m, chart.series); hits < least) {
            least = hits;
            box = corner;
        }
    p.fillRect(box, QColor(255, 255, 255, 170)); // what it covers still shows
    for (size_t i = 0; i < chart.series.size(); ++i) {
        const QRectF row(box.left(), box.top() + kRow * static_cast<qreal>(i), box.width(), kRow);
        p.setPen(QPen(colors[i], 2.0, charts::is_validation(chart.series[i]->name) ? Qt::DashLine : Qt::SolidLine));
        p.drawLine(QPointF(row.left() + 2, row.center().y()), QPointF(row.left() + 16, row.center().y()));
        p.setPen(Qt::black);
        p.drawText(row.adjusted(20, 0, 0, 0), Qt::AlignLeft | Qt::AlignVCenter,
                   legend_label(*chart.series[i], chart.title, several_runs));
    }
}

void draw_chart(QPainter &p, const QRect &cell, const RunPlot::Chart &chart, const std::vector<std::string> &runs)
{
    const bool several_runs = runs.size() > 1;
    p.fillRect(cell, Qt::white);
    const Mapping m{QRectF(cell.left() + kLeft, cell.top() + kTop, cell.width() - kLeft - kRight,
                           cell.height() - kTop - kBottom),
                    chart.x, chart.y, chart.log_y};
    QFont font = p.font();
    font.setPixelSize(12);
    p.setFont(font);
    draw_grid(p, cell, m, chart);

    p.save();
    p.setClipRect(m.area);
    p.setRenderHint(QPainter::Antialiasing);
    std::vector<QColor> colors;
    for (size_t i = 0; i < chart.series.size(); ++i) {
        const RunPlot::Series &s = *chart.series[i];
        // Several runs: one colour per run in every chart (validation dashed).
        const size_t run = static_cast<size_t>(std::find(runs.begin(), runs.end(), s.run) - runs.begin());
        colors.push_back(kPalette[(several_runs ? run : i) % std::size(kPalette)]);
        draw_line(p, m, s, colors.back());
    }
    draw_legend(p, m, chart, colors, several_runs);
    p.restore();
}

} // namespace

void RunPlot::handle(const MonitorEvent &event)
{
    if (event.type != MonitorEvent::Type::Scalar)
        return;
    const auto key = std::make_pair(event.run, event.name);
    auto it = m_index.find(key);
    if (it == m_index.end()) {
        it = m_index.emplace(key, m_series.size()).first;
        m_series.push_back({event.run, event.name, {}});
    }
    m_series[it->second].points.emplace_back(static_cast<double>(event.step), event.value);
}

std::vector<std::string> RunPlot::runs() const
{
    std::vector<std::string> runs;
    for (const Series &s : m_series)
        if (std::find(runs.begin(), runs.end(), s.run) == runs.end())
            runs.push_back(s.run);
    return runs;
}

RunPlot::Chart RunPlot::chart(const std::string &title, std::vector<const Series *> members) const
{
    double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL, positive0 = HUGE_VAL,
           positive1 = -HUGE_VAL;
    for (const Series *s : members)
        for (const auto &[x, y] : s->points) {
            x0 = std::min(x0, x);
            x1 = std::max(x1, x);
            if (!std::isfinite(y))
                continue;
            y0 = std::min(y0, y);
            y1 = std::max(y1, y);
            if (y > 0) {
                positive0 = std::min(positive0, y);
                positive1 = std::max(positive1, y);
            }
        }
    Chart c;
    c.title = title;
    c.series = std::move(members);
    const int x_ticks = charts::max_ticks(kPlotWidth, charts::kPixelsPerStepLabel);
    const int y_ticks = charts::max_ticks(kPlotHeight, charts::kPixelsPerValueLabel);
    c.x = charts::step_axis(x0, x1, x_ticks);
    c.x_ticks = charts::linear_ticks(c.x);
    // A chart with nothing above 0 cannot be drawn on a log scale: it stays linear.
    c.log_y = m_log_scale && positive0 <= positive1;
    c.y = c.log_y ? charts::log_value_axis(positive0, positive1) : charts::value_axis(y0, y1, y_ticks);
    c.y_ticks = c.log_y ? charts::log_ticks(c.y, y_ticks) : charts::linear_ticks(c.y);
    return c;
}

std::vector<RunPlot::Chart> RunPlot::layout() const
{
    std::vector<std::string> titles; // in order of appearance
    for (const Series &s : m_series)
        if (const std::string t = charts::chart_of(s.name); std::find(titles.begin(), titles.end(), t) == titles.end())
            titles.push_back(t);
    std::vector<Chart> out;
    for (const std::string &title : titles) {
        std::vector<const Series *> members;
        for (const Series &s : m_series)
            if (charts::chart_of(s.name) == title)
                members.push_back(&s);
        out.push_back(chart(title, std::move(members)));
    }
    return out;
}

std::string RunPlot::path_problem(const std::string &path)
{
    const QByteArray format = format_of(path);
    const QList<QByteArray> formats = QImageWriter::supportedImageFormats();
    if (!format.isEmpty() && formats.contains(format))
        return {};
    QByteArray known;
    for (const QByteArray &f : formats)
        known += (known.isEmpty() ? "." : ", .") + f;
    return "--plot " + path + ": " +
           (format.isEmpty() ? std::string("the file name has no suffix to say the image format")
                             : "cannot write ." + format.toStdString() + " images") +
           "; name a .png, .jpg or another of: " + known.toStdString();
}

void RunPlot::write(const std::string &path) const
{
    if (const std::string problem = path_problem(path); !problem.empty())
        throw Error(problem);
    const auto app = ensure_gui();
    const std::vector<Chart> drawn = layout();
    const std::vector<std::string> run_names = runs();
    const int cols = drawn.size() > 1 ? 2 : 1;
    const int rows = std::max(1, static_cast<int>((drawn.size() + 1) / static_cast<size_t>(cols)));
    QImage image(cols * kChartWidth, rows * kChartHeight, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    if (drawn.empty())
        p.drawText(image.rect(), Qt::AlignCenter, "The script monitored no scalars.");
    for (size_t i = 0; i < drawn.size(); ++i) {
        const QRect cell(static_cast<int>(i % static_cast<size_t>(cols)) * kChartWidth,
                         static_cast<int>(i / static_cast<size_t>(cols)) * kChartHeight, kChartWidth, kChartHeight);
        draw_chart(p, cell.adjusted(kCellMargin, kCellMargin, -kCellMargin, -kCellMargin), drawn[i], run_names);
    }
    p.end();
    const QByteArray format = format_of(path);
    QImageWriter writer(QString::fromStdString(path), format);
    if (format == "jpg" || format == "jpeg") // PNG reads "quality" as less compression
        writer.setQuality(kJpegQuality);
    if (!writer.write(image))
        throw Error("--plot " + path + ": cannot write the image: " + writer.errorString().toStdString());
}

} // namespace neurite::cli
