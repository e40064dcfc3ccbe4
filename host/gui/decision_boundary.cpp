#include "decision_boundary.h"

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
    QImage image = cells_image.scaled(size, size, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    if (!data.inputs)
        return image;
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    for (int64_t i = 0; 2 * i + 1 < data.inputs->numel(); ++i) {
        const double x = (data.inputs->data()[2 * i] - domain.left()) / domain.width() * size;
        const double y = (domain.bottom() - data.inputs->data()[2 * i + 1]) / domain.height() * size;
        const int cls = data.labels && i < data.labels->numel() ? static_cast<int>((*data.labels)[i]) : 0;
        p.setPen(QPen(Qt::black, 1));
        p.setBrush(class_colour(cls));
        p.drawEllipse(QPointF(x, y), 4, 4);
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
