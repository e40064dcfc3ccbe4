#pragma once

#include <string>
#include <string_view>
#include <vector>

// The rules every chart of a run's metrics follows, wherever it is drawn:
// the window's training monitor and neurite-run --plot both call these, so
// a metric lands on the same chart, on the same axis, in both.
namespace neurite::charts {

// The chart a metric is drawn on, named after the metric it shows: a
// validation metric ("val_loss") shares the chart of its training metric
// ("loss"), so the gap between them is visible at a glance; every other
// metric ("batch_loss", "lr", "samples_per_s") has a chart of its own, as
// their scales differ (a per-batch loss is noisier than the epoch's mean).
std::string chart_of(std::string_view metric);

// Validation metrics are drawn dashed, in the colour of their run.
bool is_validation(std::string_view metric);

// An axis from lo to hi with `ticks` evenly spaced ticks, lo and hi included.
struct AxisRange {
    double lo = 0, hi = 0;
    int ticks = 0;
    bool operator==(const AxisRange &) const = default;
};

// [lo, hi] widened to whole steps of 1, 2 or 5 times a power of ten, with at
// most `max_ticks` ticks (QValueAxis::applyNiceNumbers without its overshoot:
// it can give one tick more than asked). Rounding outwards means a growing
// run moves the axis only when it crosses a step.
AxisRange nice_range(double lo, double hi, int max_ticks);

// How many labels fit along `pixels` of axis: 3 to 6.
int max_ticks(double pixels, double pixels_per_label);
constexpr double kPixelsPerStepLabel = 70;  // room for "10000" between ticks
constexpr double kPixelsPerValueLabel = 20; // a line of text

// The value axis of a linear chart whose finite values span [lo, hi]
// (lo > hi: no values yet, drawn as 0 to 1). A constant series (a fixed
// learning rate, within rounding) gets 10% of its value either side, so 0.01
// is drawn on 0.008 to 0.012, not on a range around 0; the others get 5%
// padding. A series that never goes below 0 keeps 0 as the axis's floor, and
// one within [0, 1] (an accuracy) keeps 1 as its ceiling.
AxisRange value_axis(double lo, double hi, int max_ticks);

// The step (or epoch) axis over [lo, hi]: a single step spans [lo, lo + 1].
AxisRange step_axis(double lo, double hi, int max_ticks);

// The value axis of a log chart whose positive values span [lo, hi]
// (lo > hi: none, drawn as 0.1 to 1): whole decades around them, at least
// one. `ticks` counts the decade lines, lo and hi included.
AxisRange log_value_axis(double lo, double hi);

// Where the ticks of an axis fall: every step of a linear axis; on a log
// axis every decade, with 2 and 5 between when it spans at most two decades,
// or every second, third... decade when the decades outnumber `max_ticks`.
std::vector<double> linear_ticks(const AxisRange &axis);
std::vector<double> log_ticks(const AxisRange &axis, int max_ticks);

// The labels of an axis's ticks, in one style for the whole axis: numbers
// from 1000 up with an SI suffix ("2k", "100k", "1.5M"), as TensorBoard
// writes them; tiny ones (below 0.0001) in scientific form ("1e-05"); the
// rest plain ("0.05", "250"); each with as many digits as the ticks need to
// be told apart, at most 6.
std::vector<std::string> tick_labels(const std::vector<double> &ticks);

} // namespace neurite::charts
