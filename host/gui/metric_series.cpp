#include "metric_series.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace neurite::gui {

void MetricSeries::append(const MetricPoint &p)
{
    // A batch's point at epoch 2.25 belongs to epoch 3, as the epoch's own
    // value at 3 does: (e - 1, e] is epoch e.
    const double epoch_id = std::ceil(p.epoch - 1e-9);
    if (m_points.empty() || epoch_id != m_last_epoch_id)
        ++m_epochs;
    m_last_epoch_id = epoch_id;
    m_points.push_back(p);
}

void MetricSeries::set_smoothing(double weight)
{
    weight = std::clamp(weight, 0.0, 0.999);
    if (weight == m_weight)
        return;
    m_weight = weight;
    m_smoothed.clear();
    m_ema = 0;
}

void MetricSeries::extend_smoothing() const
{
    // TensorBoard's debiased EMA: the running average starts at 0, so early
    // values are divided by 1 - w^n to undo the pull towards 0.
    for (size_t i = m_smoothed.size(); i < m_points.size(); ++i) {
        const double v = m_points[i].value;
        if (m_weight == 0 || !std::isfinite(v)) {
            m_smoothed.push_back(v);
            continue;
        }
        m_ema = m_ema * m_weight + (1 - m_weight) * v;
        const double debias = 1 - std::pow(m_weight, static_cast<double>(i + 1));
        m_smoothed.push_back(m_ema / debias);
    }
}

double MetricSeries::smoothed(int64_t i) const
{
    extend_smoothing();
    return m_smoothed[static_cast<size_t>(i)];
}

QList<QPointF> MetricSeries::render(XAxis axis, double x0, double x1, int columns, bool log_y, bool raw) const
{
    extend_smoothing();
    if (raw) { // decimated the same way, from the reported values
        std::vector<double> values(m_points.size());
        for (size_t i = 0; i < m_points.size(); ++i)
            values[i] = m_points[i].value;
        return decimate(values, axis, x0, x1, columns, log_y);
    }
    return decimate(m_smoothed, axis, x0, x1, columns, log_y);
}

QList<QPointF> MetricSeries::decimate(const std::vector<double> &ys, XAxis axis, double x0, double x1,
                                      int columns, bool log_y) const
{
    QList<QPointF> out;
    if (m_points.empty() || columns < 1 || !(x1 > x0)) {
        for (size_t i = 0; i < m_points.size(); ++i)
            if (!log_y || ys[i] > 0)
                out.append(QPointF(x_of(static_cast<int64_t>(i), axis), ys[i]));
        return out;
    }
    const double width = (x1 - x0) / columns;
    int column = -1;
    int64_t min_i = -1, max_i = -1;
    auto flush = [&] {
        if (min_i < 0)
            return;
        // Keep the order in which the extremes occurred, so the line is honest.
        const int64_t first = std::min(min_i, max_i), second = std::max(min_i, max_i);
        out.append(QPointF(x_of(first, axis), ys[static_cast<size_t>(first)]));
        if (second != first)
            out.append(QPointF(x_of(second, axis), ys[static_cast<size_t>(second)]));
        min_i = max_i = -1;
    };
    for (size_t i = 0; i < m_points.size(); ++i) {
        const double x = x_of(static_cast<int64_t>(i), axis);
        const double y = ys[i];
        if (x < x0 || x > x1 || !std::isfinite(y) || (log_y && y <= 0))
            continue;
        const int c = std::min(columns - 1, static_cast<int>((x - x0) / width));
        if (c != column) {
            flush();
            column = c;
        }
        const auto si = static_cast<int64_t>(i);
        if (min_i < 0 || y < ys[static_cast<size_t>(min_i)])
            min_i = si;
        if (max_i < 0 || y > ys[static_cast<size_t>(max_i)])
            max_i = si;
    }
    flush();
    return out;
}

bool MetricSeries::y_range(double &lo, double &hi, bool log_y) const
{
    extend_smoothing();
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (double y : m_smoothed) {
        if (!std::isfinite(y) || (log_y && y <= 0))
            continue;
        lo = std::min(lo, y);
        hi = std::max(hi, y);
    }
    return lo <= hi;
}

bool MetricSeries::x_range(XAxis axis, double &lo, double &hi) const
{
    if (m_points.empty())
        return false;
    lo = x_of(0, axis);
    hi = x_of(size() - 1, axis);
    if (lo > hi)
        std::swap(lo, hi);
    return true;
}

MetricRing::MetricRing(size_t capacity) : m_slots(std::max<size_t>(capacity, 1)) {}

void MetricRing::push(MetricEvent event)
{
    std::lock_guard lock(m_mutex);
    if (m_count == m_slots.size()) { // full: the oldest goes
        m_head = (m_head + 1) % m_slots.size();
        --m_count;
        ++m_dropped;
    }
    m_slots[(m_head + m_count) % m_slots.size()] = std::move(event);
    ++m_count;
}

void MetricRing::drain(std::vector<MetricEvent> &out)
{
    std::lock_guard lock(m_mutex);
    for (; m_count > 0; --m_count) {
        out.push_back(std::move(m_slots[m_head]));
        m_head = (m_head + 1) % m_slots.size();
    }
}

uint64_t MetricRing::dropped() const
{
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

} // namespace neurite::gui
