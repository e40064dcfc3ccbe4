#pragma once

#include <QList>
#include <QPointF>
#include <QString>

#include <cstdint>
#include <mutex>
#include <vector>

namespace neurite::gui {

// One scalar a run reported: at a step, within an epoch.
struct MetricPoint {
    double step = 0;
    double epoch = 0;
    double value = 0;
};

enum class XAxis { Step, Epoch };

// The points of one metric of one run, and how they are drawn: smoothed by
// an exponential moving average with bias correction (as TensorBoard does),
// then decimated to the min and max of each pixel column so that 100,000
// steps draw as a few hundred points without losing a spike.
class MetricSeries {
public:
    void append(const MetricPoint &p);
    int64_t size() const { return static_cast<int64_t>(m_points.size()); }
    const std::vector<MetricPoint> &points() const { return m_points; }

    // weight in [0, 1): 0 draws the raw values.
    void set_smoothing(double weight);
    double smoothing() const { return m_weight; }
    // Smoothed value of point i (the raw value when the weight is 0).
    double smoothed(int64_t i) const;

    double x_of(int64_t i, XAxis axis) const
    {
        return axis == XAxis::Step ? m_points[static_cast<size_t>(i)].step
                                   : m_points[static_cast<size_t>(i)].epoch;
    }

    // At most 2 points per column over [x0, x1]; log_y drops values <= 0.
    // The smoothed values, or with raw the values as reported.
    QList<QPointF> render(XAxis axis, double x0, double x1, int columns, bool log_y, bool raw = false) const;

    // More than one point in some epoch: a per-step series (a batch's loss),
    // which smoothing is for. Values reported once an epoch are drawn as
    // they are: smoothing them would shift them away from the truth.
    bool per_step() const { return size() > m_epochs; }

    // Bounds of the smoothed values (positive ones only with log_y); false if none.
    bool y_range(double &lo, double &hi, bool log_y) const;
    bool x_range(XAxis axis, double &lo, double &hi) const;

private:
    void extend_smoothing() const;
    QList<QPointF> decimate(const std::vector<double> &ys, XAxis axis, double x0, double x1, int columns,
                            bool log_y) const;

    std::vector<MetricPoint> m_points;
    int64_t m_epochs = 0;        // distinct epochs the points fall in
    double m_last_epoch_id = -1; // the epoch of the last point, rounded up
    double m_weight = 0;
    // Smoothed values, computed incrementally as points arrive.
    mutable std::vector<double> m_smoothed;
    mutable double m_ema = 0;
};

// A named event crossing from a training thread to the UI thread.
struct MetricEvent {
    QString run;
    QString name;
    MetricPoint point;
};

// Fixed-capacity ring between the training thread (push, never blocks on
// the UI) and the UI timer (drain). When the UI falls behind by more than
// the capacity, the oldest events are dropped and counted.
class MetricRing {
public:
    explicit MetricRing(size_t capacity = 1 << 16);
    void push(MetricEvent event);
    // Moves everything queued into out (appending), in arrival order.
    void drain(std::vector<MetricEvent> &out);
    uint64_t dropped() const;

private:
    mutable std::mutex m_mutex;
    std::vector<MetricEvent> m_slots;
    size_t m_head = 0; // next to read
    size_t m_count = 0;
    uint64_t m_dropped = 0;
};

} // namespace neurite::gui
