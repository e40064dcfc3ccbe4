#include "neurite/core/data/split.h"

#include "neurite/core/error.h"

#include "random.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace neurite::data {

namespace {

std::string fraction_text(const SplitOptions &o)
{
    char text[128];
    std::snprintf(text, sizeof text, "train %g, validation %g, test %g", o.train, o.validation, o.test);
    return text;
}

// Samples of every class spread evenly through the order: within a class
// the order is random, and a sample's place is its rank divided by its
// class's size, so any prefix holds each class in proportion (±1).
std::vector<int64_t> stratified_order(const Dataset &data, uint64_t seed)
{
    const int64_t n = data.size();
    std::vector<int64_t> shuffled = permutation(n, seed);
    std::vector<int64_t> counts(static_cast<size_t>(data.class_count()), 0);
    struct Place {
        double position;
        int64_t label;
        int64_t row;
    };
    std::vector<Place> places;
    places.reserve(static_cast<size_t>(n));
    for (int64_t row : shuffled) {
        const int64_t label = data.label(row);
        places.push_back({static_cast<double>(counts[static_cast<size_t>(label)]++), label, row});
    }
    for (Place &p : places)
        p.position = (p.position + 0.5) / static_cast<double>(counts[static_cast<size_t>(p.label)]);
    std::sort(places.begin(), places.end(), [](const Place &a, const Place &b) {
        return a.position < b.position || (a.position == b.position && a.label < b.label);
    });
    std::vector<int64_t> order;
    order.reserve(places.size());
    for (const Place &p : places)
        order.push_back(p.row);
    return order;
}

} // namespace

std::vector<int64_t> permutation(int64_t n, uint64_t seed)
{
    std::vector<int64_t> order;
    detail::fill_permutation(order, n, seed);
    return order;
}

Splits split(const Dataset &dataset, const SplitOptions &options)
{
    const double fractions[] = {options.train, options.validation, options.test};
    double sum = 0;
    for (double f : fractions) {
        if (!(f >= 0) || !std::isfinite(f))
            throw Error(dataset.source() + ": split fractions must be ≥ 0, got " + fraction_text(options));
        sum += f;
    }
    if (sum > 1.0 + 1e-9)
        throw Error(dataset.source() + ": split fractions must sum to at most 1, got " +
                    fraction_text(options) + " (sum " + std::to_string(sum) + ")");

    const bool by_class = options.stratify && dataset.target_kind() == TargetKind::Classes;
    const std::vector<int64_t> order =
        by_class ? stratified_order(dataset, options.seed) : permutation(dataset.size(), options.seed);
    // Cumulative boundaries, so rounding never makes the parts overlap or
    // exceed the data.
    const auto n = static_cast<double>(dataset.size());
    auto boundary = [&](double cumulative) {
        return std::clamp<int64_t>(std::llround(std::min(cumulative, 1.0) * n), 0, dataset.size());
    };
    const int64_t b1 = boundary(fractions[0]);
    const int64_t b2 = std::max(b1, boundary(fractions[0] + fractions[1]));
    const int64_t b3 = std::max(b2, boundary(sum));
    auto part = [&](int64_t first, int64_t last) {
        return dataset.subset(std::span(order).subspan(static_cast<size_t>(first), static_cast<size_t>(last - first)));
    };
    return {part(0, b1), part(b1, b2), part(b2, b3)};
}

void normalize(Splits &splits, NormalizeMethod method)
{
    const Normalization fitted = Normalization::fit(splits.train, method);
    splits.train = splits.train.with_normalization(fitted);
    splits.validation = splits.validation.with_normalization(fitted);
    splits.test = splits.test.with_normalization(fitted);
}

} // namespace neurite::data
