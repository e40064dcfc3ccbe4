#pragma once

#include "neurite/core/data/dataset.h"
#include "neurite/core/data/normalization.h"

#include <cstdint>
#include <vector>

namespace neurite::data {

struct SplitOptions {
    double train = 0.8;
    double validation = 0.1;
    double test = 0.1; // fractions ≥ 0 whose sum is at most 1; the rest is left out
    uint64_t seed = 0;
    // Classes keep their proportions in every part (within one sample).
    bool stratify = true;
};

struct Splits {
    Dataset train;
    Dataset validation;
    Dataset test;
};

// Views of a seeded shuffle: no samples are copied. Each part holds
// round(fraction × N) samples, so fractions summing to 1 use every sample.
Splits split(const Dataset &dataset, const SplitOptions &options = {});

// Fits the statistics on splits.train and applies them to all three parts.
void normalize(Splits &splits, NormalizeMethod method);

// A seeded permutation of 0 .. n−1 that is the same on every platform
// (Fisher–Yates with a portable bounded draw, unlike std::shuffle).
std::vector<int64_t> permutation(int64_t n, uint64_t seed);

} // namespace neurite::data
