#include "decision_boundary.h"

#include "neurite/core/chart_rules.h"
#include "neurite/core/error.h"
#include "neurite/core/sequential.h"

#include <QPainter>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

QColor class_colour(int c)
{
    static const QColor palette[] = {QColor(214, 39, 40), QColor(31, 119, 180), QColor(44, 160, 44),
                                     QColor(255, 127, 14), QColor(148, 103, 189), QColor(140, 86, 75)};
    return palette[c % 6];
}

// Blends a class colour towards white by (1 - confidence).
QColor tint(const QColor &c, double confidence)
{
    const double k = 0.25 + 0.55 * std::clamp(confidence, 0.0, 1.0);
    return QColor::fromRgbF(1 - k * (1 - c.redF()), 1 - k * (1 - c.greenF()), 1 - k * (1 - c.blueF()));
}

// The square plot inside its picture: room on the left for the y labels and
// below for the x labels, in a font that grows with the picture.
struct AxisFrame {
    QSize image;
    QRect plot;
    QFont font;
};

AxisFrame axis_frame(int size)
{
    AxisFrame f;
    f.font.setPixelSize(std::clamp(size / 28, 11, 22));
    QImage probe(1, 1, QImage::Format_RGB32);
    const QFontMetrics metrics(f.font, &probe);
    const int left = metrics.horizontalAdvance("-00.0") + metrics.height() + 10; // labels, the axis name
    const int bottom = 2 * metrics.height() + 8;
    const int gap = metrics.height() / 2;
    f.plot = QRect(left, gap, size, size);
    f.image = QSize(left + size + gap, gap + size + bottom);
    return f;
}

void draw_axes(QPainter &p, const AxisFrame &f, const QRectF &domain)
{
    p.setFont(f.font);
    p.setRenderHint(QPainter::TextAntialiasing);
    const QFontMetrics metrics(f.font, p.device());
    const QRect &plot = f.plot;
    p.setPen(QColor(90, 90, 90));
    p.drawRect(plot.adjusted(0, 0, -1, -1));
    const int tick = std::max(4, metrics.height() / 3);
    const int max_ticks = charts::max_ticks(plot.width(), metrics.horizontalAdvance("-00.0") * 1.6);
    const charts::AxisRange xs = charts::nice_range(domain.left(), domain.right(), max_ticks);
    const charts::AxisRange ys = charts::nice_range(domain.top(), domain.bottom(), max_ticks);
    // nice_range may round outwards: only the ticks inside the domain.
    auto ticks = [](const charts::AxisRange &r) {
        std::vector<double> v;
        for (int i = 0; i < r.ticks; ++i)
            v.push_back(r.lo + (r.hi - r.lo) * i / std::max(1, r.ticks - 1));
        return v;
    };
    for (double x : ticks(xs)) {
        if (x < domain.left() || x > domain.right())
            continue;
        const int px = plot.left() + int(std::lround((x - domain.left()) / domain.width() * plot.width()));
        p.drawLine(px, plot.bottom(), px, plot.bottom() + tick);
        p.drawText(QRect(px - 40, plot.bottom() + tick, 80, metrics.height()), Qt::AlignHCenter | Qt::AlignTop,
                   QString::number(x, 'g', 3));
    }
    for (double y : ticks(ys)) {
        if (y < domain.top() || y > domain.bottom())
            continue;
        const int py = plot.top() + int(std::lround((domain.bottom() - y) / domain.height() * plot.height()));
        p.drawLine(plot.left() - tick, py, plot.left(), py);
        p.drawText(QRect(0, py - metrics.height() / 2, plot.left() - tick - 2, metrics.height()),
                   Qt::AlignRight | Qt::AlignVCenter, QString::number(y, 'g', 3));
    }
    p.drawText(QRect(plot.left(), plot.bottom() + tick + metrics.height(), plot.width(), metrics.height() + 4),
               Qt::AlignHCenter | Qt::AlignTop, "x1");
    p.save();
    p.translate(metrics.height() / 2 + 2, plot.center().y());
    p.rotate(-90);
    p.drawText(QRect(-plot.height() / 2, -metrics.height() / 2, plot.height(), metrics.height()), Qt::AlignCenter, "x2");
    p.restore();
}

} // namespace

QRectF boundary_domain(const Tensor &inputs)
{
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (inputs.numel() >= 2) {
        x0 = x1 = inputs[0];
        y0 = y1 = inputs[1];
        for (int64_t i = 0; i + 1 < inputs.numel(); i += 2) {
            x0 = std::min<double>(x0, inputs[i]);
            x1 = std::max<double>(x1, inputs[i]);
            y0 = std::min<double>(y0, inputs[i + 1]);
            y1 = std::max<double>(y1, inputs[i + 1]);
        }
    }
    const double span = std::max({x1 - x0, y1 - y0, 1e-6});
    const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, half = span * 0.75;
    return QRectF(cx - half, cy - half, 2 * half, 2 * half);
}

QImage render_decision_boundary(Model &model, const BoundaryData &data, const QRectF &domain, int size,
                                int cells)
{
    cells = std::max(cells, 2);
    Tensor grid(Shape{int64_t(cells) * cells, 2});
    for (int r = 0; r < cells; ++r)
        for (int c = 0; c < cells; ++c) {
            const int64_t i = int64_t(r) * cells + c;
            grid[2 * i] = static_cast<float>(domain.left() + domain.width() * (c + 0.5) / cells);
            // Row 0 is the top of the picture: the largest y.
            grid[2 * i + 1] = static_cast<float>(domain.bottom() - domain.height() * (r + 0.5) / cells);
        }
    const EvalMode eval_mode(model);
    const Tensor &out = model.forward(grid);
    if (out.dim() != 2 || out.size(0) != grid.size(0))
        throw Error("decision boundary: the model maps 2 inputs to " + out.shape().to_string() +
                    "; expected one row per point");
    const int64_t k = out.size(1);

    QImage cells_image(cells, cells, QImage::Format_RGB32);
    for (int r = 0; r < cells; ++r)
        for (int c = 0; c < cells; ++c) {
            const float *row = out.data() + (int64_t(r) * cells + c) * k;
            int cls = 0;
            double confidence = 0;
            if (k == 1) { // one output: a probability or a score around 0.5
                const double p = std::clamp<double>(row[0], 0.0, 1.0);
                cls = p >= 0.5 ? 1 : 0;
                confidence = std::fabs(p - 0.5) * 2;
            } else {
                cls = static_cast<int>(std::max_element(row, row + k) - row);
                // softmax margin between the best and the runner-up
                double sum = 0;
                for (int64_t j = 0; j < k; ++j)
                    sum += std::exp(row[j] - row[cls]);
                confidence = (1 / sum - 1.0 / k) / (1 - 1.0 / k);
            }
            cells_image.setPixelColor(c, r, tint(class_colour(cls), confidence));
        }
    // The map is square (one unit of x as long as one of y), with an axis
    // below and one on the left.
    const AxisFrame frame = axis_frame(size);
    QImage image(frame.image, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    p.drawImage(frame.plot, cells_image.scaled(size, size, Qt::IgnoreAspectRatio, Qt::SmoothTransformation));
    draw_axes(p, frame, domain);
    if (!data.inputs)
        return image;
    p.setRenderHint(QPainter::Antialiasing);
    p.setClipRect(frame.plot);
    const double dot = std::max(4.0, size / 80.0);
    for (int64_t i = 0; 2 * i + 1 < data.inputs->numel(); ++i) {
        const double x = frame.plot.left() + (data.inputs->data()[2 * i] - domain.left()) / domain.width() * size;
        const double y = frame.plot.top() + (domain.bottom() - data.inputs->data()[2 * i + 1]) / domain.height() * size;
        const int cls = data.labels && i < data.labels->numel() ? static_cast<int>((*data.labels)[i]) : 0;
        p.setPen(QPen(Qt::black, 1));
        p.setBrush(class_colour(cls));
        p.drawEllipse(QPointF(x, y), dot, dot);
    }
    return image;
}

QImage render_function_fit(Model &model, const Tensor &inputs, const Tensor &targets, int width, int height)
{
    constexpr int kPoints = 240, kMargin = 12;
    const int64_t n = std::min(inputs.numel(), targets.numel());
    if (n < 1)
        throw Error("function fit: no samples to draw");
    const auto [x_lo_it, x_hi_it] = std::minmax_element(inputs.data(), inputs.data() + n);
    const double pad = std::max<double>((*x_hi_it - *x_lo_it) * 0.05, 1e-6);
    const double x0 = *x_lo_it - pad, x1 = *x_hi_it + pad;
    Tensor grid(Shape{kPoints, 1});
    for (int i = 0; i < kPoints; ++i)
        grid[i] = static_cast<float>(x0 + (x1 - x0) * i / (kPoints - 1));
    const EvalMode eval_mode(model);
    const Tensor &out = model.forward(grid);
    if (out.numel() != kPoints)
        throw Error("function fit: the model maps 1 input to " + out.shape().to_string() +
                    "; expected one value per point");
    double y0 = *std::min_element(targets.data(), targets.data() + n);
    double y1 = *std::max_element(targets.data(), targets.data() + n);
    for (int i = 0; i < kPoints; ++i)
        if (std::isfinite(out[i])) {
            y0 = std::min<double>(y0, out[i]);
            y1 = std::max<double>(y1, out[i]);
        }
    const double y_pad = std::max((y1 - y0) * 0.08, 1e-6);
    y0 -= y_pad;
    y1 += y_pad;
    const QRectF plot(kMargin, kMargin, width - 2 * kMargin, height - 2 * kMargin);
    auto to_pixel = [&](double x, double y) {
        return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                       plot.bottom() - (y - y0) / (y1 - y0) * plot.height());
    };
    QImage image(width, height, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(QColor(200, 200, 200));
    p.drawRect(plot);
    if (y0 < 0 && y1 > 0)
        p.drawLine(to_pixel(x0, 0), to_pixel(x1, 0));
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(150, 150, 150));
    for (int64_t i = 0; i < n; ++i)
        p.drawEllipse(to_pixel(inputs[i], targets[i]), 2.5, 2.5);
    QPolygonF curve;
    for (int i = 0; i < kPoints; ++i)
        if (std::isfinite(out[i]))
            curve << to_pixel(grid[i], out[i]);
    p.setPen(QPen(class_colour(1), 2));
    p.setBrush(Qt::NoBrush);
    p.drawPolyline(curve);
    return image;
}

} // namespace neurite::gui
