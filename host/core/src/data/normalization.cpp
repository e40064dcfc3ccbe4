#include "neurite/core/data/normalization.h"

#include "neurite/core/data/dataset.h"
#include "neurite/core/error.h"

#include <cmath>
#include <limits>

namespace neurite::data {

namespace {

// Calls visit(values) with sample i's stored values as floats (bytes times
// the byte scale), through one reused row so a byte dataset is not widened.
template <class Visit>
void for_each_sample(const Dataset &data, float byte_scale, Visit &&visit)
{
    std::vector<float> row(static_cast<size_t>(data.feature_count()));
    for (int64_t i = 0; i < data.size(); ++i) {
        const std::span<const uint8_t> bytes = data.raw_bytes(i);
        if (bytes.empty()) {
            visit(data.raw_floats(i).data());
            continue;
        }
        for (size_t j = 0; j < row.size(); ++j)
            row[j] = static_cast<float>(bytes[j]) * byte_scale;
        visit(row.data());
    }
}

// A spread this small relative to the values (or zero) means a constant
// feature; dividing by it would only amplify rounding noise.
float usable_spread(double spread, double magnitude)
{
    if (!(spread > 1e-7 * std::max(1.0, magnitude)) || !std::isfinite(spread))
        return 1.0f;
    return static_cast<float>(spread);
}

} // namespace

const char *normalize_method_name(NormalizeMethod method)
{
    switch (method) {
    case NormalizeMethod::None: return "none";
    case NormalizeMethod::Standardize: return "standardize";
    case NormalizeMethod::MinMax: return "minmax";
    }
    return "?";
}

NormalizeMethod normalize_method_from_name(const std::string &name)
{
    for (NormalizeMethod m : {NormalizeMethod::None, NormalizeMethod::Standardize, NormalizeMethod::MinMax})
        if (name == normalize_method_name(m))
            return m;
    throw Error("unknown normalization '" + name + "' (use none, standardize or minmax)");
}

Normalization Normalization::fit(const Dataset &train, NormalizeMethod method)
{
    Normalization n;
    n.method = method;
    if (method == NormalizeMethod::None)
        return n;
    if (train.empty())
        throw Error(train.source() + ": cannot fit a " + normalize_method_name(method) +
                    " normalization on no samples");
    const auto features = static_cast<size_t>(train.feature_count());
    const float byte_scale = train.byte_scale();
    n.center.assign(features, 0.0f);
    n.spread.assign(features, 1.0f);
    if (method == NormalizeMethod::MinMax) {
        std::vector<float> lo(features, std::numeric_limits<float>::infinity());
        std::vector<float> hi(features, -std::numeric_limits<float>::infinity());
        for_each_sample(train, byte_scale, [&](const float *x) {
            for (size_t j = 0; j < features; ++j) {
                lo[j] = std::min(lo[j], x[j]);
                hi[j] = std::max(hi[j], x[j]);
            }
        });
        for (size_t j = 0; j < features; ++j) {
            n.center[j] = lo[j];
            n.spread[j] = usable_spread(double(hi[j]) - lo[j], std::max(std::fabs(lo[j]), std::fabs(hi[j])));
        }
        return n;
    }
    // Two passes (mean, then squared deviations) stay accurate where
    // E[x²] − E[x]² would cancel for large values with a small spread.
    std::vector<double> sum(features, 0.0);
    for_each_sample(train, byte_scale, [&](const float *x) {
        for (size_t j = 0; j < features; ++j)
            sum[j] += x[j];
    });
    const double count = static_cast<double>(train.size());
    for (size_t j = 0; j < features; ++j)
        sum[j] /= count;
    std::vector<double> squares(features, 0.0);
    for_each_sample(train, byte_scale, [&](const float *x) {
        for (size_t j = 0; j < features; ++j) {
            const double d = x[j] - sum[j];
            squares[j] += d * d;
        }
    });
    for (size_t j = 0; j < features; ++j) {
        n.center[j] = static_cast<float>(sum[j]);
        n.spread[j] = usable_spread(std::sqrt(squares[j] / count), std::fabs(sum[j]));
    }
    return n;
}

} // namespace neurite::data
