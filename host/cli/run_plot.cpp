#include "run_plot.h"

#include "neurite/core/error.h"

#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace neurite::cli {

namespace {

constexpr int kChartWidth = 640;
constexpr int kChartHeight = 400;
constexpr int kLeft = 72, kRight = 24, kTop = 36, kBottom = 48;

const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
                           QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75),
                           QColor(227, 119, 194), QColor(127, 127, 127)};

// "val_loss" and "batch_loss" belong on the chart of "loss".
std::string group_of(const std::string &name)
{
    for (const char *prefix : {"val_", "batch_"})
        if (name.rfind(prefix, 0) == 0)
            return name.substr(std::string(prefix).size());
    return name;
}

// 1, 2 or 5 times a power of ten, about range / 5.
double nice_step(double range)
{
    const double raw = range / 5;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * p)
            return m * p;
    return 10 * p;
}

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

void draw_chart(QPainter &p, const QRect &cell, const std::string &title,
                const std::vector<const RunPlot::Series *> &series,
                const std::vector<std::string> &runs)
{
    const bool several_runs = runs.size() > 1;
    p.fillRect(cell, Qt::white);
    const QRect area(cell.left() + kLeft, cell.top() + kTop, cell.width() - kLeft - kRight,
                     cell.height() - kTop - kBottom);
    double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL;
    for (const auto *s : series)
        for (const auto &[x, y] : s->points) {
            if (!std::isfinite(y))
                continue;
            x0 = std::min(x0, x);
            x1 = std::max(x1, x);
            y0 = std::min(y0, y);
            y1 = std::max(y1, y);
        }
    if (x0 > x1) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 == x0) { x0 -= 1; x1 += 1; }
    if (y1 == y0) { y0 -= std::max(1.0, std::fabs(y0) * 0.1); y1 += std::max(1.0, std::fabs(y1) * 0.1); }
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    auto px = [&](double x) { return area.left() + (x - x0) / (x1 - x0) * area.width(); };
    auto py = [&](double y) { return area.bottom() - (y - y0) / (y1 - y0) * area.height(); };

    QFont font = p.font();
    font.setPixelSize(12);
    p.setFont(font);
    p.setPen(QColor(225, 225, 225));
    const double ys = nice_step(y1 - y0), xs = nice_step(x1 - x0);
    for (double y = std::ceil(y0 / ys) * ys; y <= y1; y += ys) {
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(area.left(), py(y)), QPointF(area.right(), py(y)));
        p.setPen(Qt::black);
        p.drawText(QRectF(cell.left(), py(y) - 8, kLeft - 6, 16), Qt::AlignRight | Qt::AlignVCenter,
                   QString::number(std::fabs(y) < ys * 1e-6 ? 0.0 : y, 'g', 4));
    }
    for (double x = std::ceil(x0 / xs) * xs; x <= x1; x += xs) {
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(px(x), area.top()), QPointF(px(x), area.bottom()));
        p.setPen(Qt::black);
        p.drawText(QRectF(px(x) - 40, area.bottom() + 4, 80, 16), Qt::AlignHCenter | Qt::AlignTop,
                   QString::number(x, 'g', 6));
    }
    p.setPen(Qt::black);
    p.drawRect(area);
    p.drawText(QRectF(area.left(), area.bottom() + 22, area.width(), 18), Qt::AlignHCenter, "step");
    font.setPixelSize(15);
    font.setBold(true);
    p.setFont(font);
    p.drawText(QRectF(cell.left(), cell.top() + 6, cell.width(), 24), Qt::AlignHCenter,
               QString::fromStdString(title));
    font.setPixelSize(12);
    font.setBold(false);
    p.setFont(font);

    p.save();
    p.setClipRect(area);
    p.setRenderHint(QPainter::Antialiasing);
    int legend_row = 0;
    for (size_t i = 0; i < series.size(); ++i) {
        const auto &s = *series[i];
        // Several runs: one colour per run in every chart, validation dashed.
        const size_t run = static_cast<size_t>(
            std::find(runs.begin(), runs.end(), s.run) - runs.begin());
        QColor color = kPalette[(several_runs ? run : i) % std::size(kPalette)];
        const bool faint = s.name.rfind("batch_", 0) == 0;
        const bool dashed = several_runs && s.name.rfind("val_", 0) == 0;
        if (faint)
            color.setAlpha(110);
        QPainterPath path;
        bool started = false;
        for (const auto &[x, y] : s.points) {
            if (!std::isfinite(y)) {
                started = false;
                continue;
            }
            if (!started)
                path.moveTo(px(x), py(y));
            else
                path.lineTo(px(x), py(y));
            started = true;
        }
        p.setPen(QPen(color, faint ? 1.0 : 2.0, dashed ? Qt::DashLine : Qt::SolidLine));
        p.drawPath(path);
        p.setPen(QPen(color, 1.0));
        if (!faint && s.points.size() <= 60)
            for (const auto &[x, y] : s.points)
                if (std::isfinite(y))
                    p.drawEllipse(QPointF(px(x), py(y)), 2.5, 2.5);
        // Legend in the top-right corner of the plot area.
        const QString label = QString::fromStdString(several_runs ? s.run + " " + s.name : s.name);
        const qreal width = p.fontMetrics().horizontalAdvance(label) + 28;
        const QRectF row(area.right() - width - 6, area.top() + 6 + legend_row * 17, width, 16);
        p.fillRect(row, QColor(255, 255, 255, 200));
        p.fillRect(QRectF(row.left() + 2, row.top() + 6, 14, 4), color);
        p.setPen(Qt::black);
        p.drawText(row.adjusted(20, 0, 0, 0), Qt::AlignLeft | Qt::AlignVCenter, label);
        ++legend_row;
    }
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

void RunPlot::write(const std::string &path) const
{
    const auto app = ensure_gui();
    std::vector<std::string> groups;
    std::vector<std::string> runs; // in order of appearance
    for (const Series &s : m_series) {
        if (std::find(runs.begin(), runs.end(), s.run) == runs.end())
            runs.push_back(s.run);
        const std::string g = group_of(s.name);
        if (std::find(groups.begin(), groups.end(), g) == groups.end())
            groups.push_back(g);
    }
    const int cols = groups.size() > 1 ? 2 : 1;
    const int rows = std::max(1, static_cast<int>((groups.size() + 1) / static_cast<size_t>(cols)));
    QImage image(cols * kChartWidth, rows * kChartHeight, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    if (groups.empty()) {
        p.drawText(image.rect(), Qt::AlignCenter, "The script monitored no scalars.");
    }
    for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<const Series *> members;
        for (const Series &s : m_series)
            if (group_of(s.name) == groups[g])
                members.push_back(&s);
        const QRect cell(static_cast<int>(g % static_cast<size_t>(cols)) * kChartWidth,
                         static_cast<int>(g / static_cast<size_t>(cols)) * kChartHeight, kChartWidth,
                         kChartHeight);
        draw_chart(p, cell.adjusted(4, 4, -4, -4), groups[g], members, runs);
    }
    p.end();
    if (!image.save(QString::fromStdString(path), "PNG"))
        throw Error("--plot " + path + ": cannot write the PNG file");
}

} // namespace neurite::cli
