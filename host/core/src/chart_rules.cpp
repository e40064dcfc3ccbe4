#include "neurite/core/chart_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace neurite::charts {

namespace {

constexpr std::string_view kValidationPrefix = "val_";

// A 1, 2 or 5 times a power of ten at or above `x`: round tick steps.
double nice_step(double x)
{
    const double magnitude = std::pow(10.0, std::floor(std::log10(x)));
    const double q = x / magnitude;
    return magnitude * (q <= 1 ? 1 : q <= 2 ? 2 : q <= 5 ? 5 : 10);
}

// Within rounding of a single value: the smoothing of a constant series
// leaves noise in the last digits, which must not become the axis's range.
bool is_constant(double lo, double hi)
{
    return hi - lo <= 1e-6 * std::max(std::fabs(lo), std::fabs(hi));
}

} // namespace

std::string chart_of(std::string_view metric)
{
    if (is_validation(metric) && metric.size() > kValidationPrefix.size())
        metric.remove_prefix(kValidationPrefix.size());
    return std::string(metric);
}

bool is_validation(std::string_view metric)
{
    return metric.substr(0, kValidationPrefix.size()) == kValidationPrefix;
}

AxisRange nice_range(double lo, double hi, int max_ticks)
{
    // The tolerance keeps 0.52 / 0.02 = 25.9999... from widening by a step.
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo))
        return {lo, std::isfinite(lo) ? lo + 1 : 1, 2}; // callers widen degenerate ranges first
    max_ticks = std::max(max_ticks, 2);
    AxisRange r;
    for (double step = nice_step((hi - lo) / (max_ticks - 1));; step = nice_step(step * 1.01)) {
        r = {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, 0};
        r.ticks = static_cast<int>(std::lround((r.hi - r.lo) / step)) + 1;
        if (r.ticks <= max_ticks)
            return r;
    }
}

int max_ticks(double pixels, double pixels_per_label)
{
    return std::clamp(static_cast<int>(pixels / pixels_per_label), 3, 6);
}

AxisRange value_axis(double lo, double hi, int max_ticks)
{
    if (!(lo <= hi)) {
        lo = 0;
        hi = 1;
    } else if (is_constant(lo, hi)) {
        const double mid = (lo + hi) / 2;
        lo = mid == 0 ? 0 : mid - std::fabs(mid) * 0.1;
        hi = mid == 0 ? 1 : mid + std::fabs(mid) * 0.1;
    }
    const double pad = (hi - lo) * 0.05;
    const bool fraction = lo >= 0 && hi <= 1; // an accuracy, a rate: 1.2 would be meaningless
    return nice_range(lo >= 0 ? std::max(0.0, lo - pad) : lo - pad, fraction ? std::min(1.0, hi + pad) : hi + pad,
                      max_ticks);
}

AxisRange step_axis(double lo, double hi, int max_ticks)
{
    if (!(lo <= hi))
        lo = hi = 0;
    return nice_range(lo, hi > lo ? hi : lo + 1, max_ticks);
}

AxisRange log_value_axis(double lo, double hi)
{
    if (!(lo <= hi) || !(lo > 0)) {
        lo = 0.1;
        hi = 1;
    }
    int first = static_cast<int>(std::floor(std::log10(lo)));
    int last = static_cast<int>(std::ceil(std::log10(hi)));
    if (last == first) { // a constant power of ten: the decades either side
        --first;
        ++last;
    }
    return {std::pow(10.0, first), std::pow(10.0, last), last - first + 1};
}

std::vector<double> linear_ticks(const AxisRange &axis)
{
    std::vector<double> ticks;
    if (axis.ticks < 2)
        return ticks;
    const double step = (axis.hi - axis.lo) / (axis.ticks - 1);
    for (int i = 0; i < axis.ticks; ++i) {
        const double t = axis.lo + i * step;
        ticks.push_back(std::fabs(t) < step * 1e-6 ? 0.0 : t); // not 5.55e-17 for 0
    }
    return ticks;
}

std::vector<double> log_ticks(const AxisRange &axis, int max_ticks)
{
    std::vector<double> ticks;
    if (!(axis.lo > 0) || !(axis.hi > axis.lo))
        return ticks;
    const int first = static_cast<int>(std::lround(std::log10(axis.lo)));
    const int last = static_cast<int>(std::lround(std::log10(axis.hi)));
    const int decades = last - first;
    const bool subdivide = decades <= 2;
    const int every = std::max(1, (decades + std::max(max_ticks, 2) - 2) / (std::max(max_ticks, 2) - 1));
    for (int d = first; d <= last; d += every) {
        const double decade = std::pow(10.0, d);
        ticks.push_back(decade);
        if (subdivide && d < last) {
            ticks.push_back(2 * decade);
            ticks.push_back(5 * decade);
        }
    }
    return ticks;
}

namespace {

// x with `digits` significant digits and no exponent when |x| >= 1
// (%.1g writes 250 as 2e+02).
std::string plain(double x, int digits)
{
    char text[48];
    std::snprintf(text, sizeof text, "%.*g", digits, x);
    if (std::fabs(x) >= 1 && std::strchr(text, 'e'))
        std::snprintf(text, sizeof text, "%.0f", x);
    return text;
}

// t with `digits` significant digits, in the style tick_labels describes.
std::string tick_label(double t, int digits)
{
    const double magnitude = std::fabs(t);
    if (t == 0)
        return "0";
    if (magnitude < 1000)
        return plain(t, digits); // below 1e-4 %g itself writes 1e-05
    static const char *const suffixes[] = {"k", "M", "G", "T", "P"};
    int power = 0;
    double scaled = magnitude;
    while (scaled >= 1000 && power < 5) {
        scaled /= 1000;
        ++power;
    }
    return (t < 0 ? "-" : "") + plain(scaled, digits) + suffixes[power - 1];
}

} // namespace

std::vector<std::string> tick_labels(const std::vector<double> &ticks)
{
    std::vector<std::string> labels;
    for (int digits = 1; digits <= 6; ++digits) {
        labels.clear();
        for (double t : ticks)
            labels.push_back(tick_label(t, digits));
        const bool distinct = std::adjacent_find(labels.begin(), labels.end()) == labels.end();
        bool exact = true;
        for (size_t i = 0; i < ticks.size() && exact; ++i) {
            const double shown = std::strtod(labels[i].c_str(), nullptr);
            const double unit = std::fabs(ticks[i]) >= 1000 ? std::pow(1000.0, std::floor(std::log10(std::fabs(ticks[i])) / 3)) : 1;
            exact = std::fabs(shown * unit - ticks[i]) <= 1e-9 * std::max(1.0, std::fabs(ticks[i]));
        }
        if (distinct && exact)
            break;
    }
    return labels;
}

} // namespace neurite::charts
