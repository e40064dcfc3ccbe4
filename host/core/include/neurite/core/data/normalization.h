#pragma once

#include <string>
#include <vector>

namespace neurite::data {

class Dataset;

enum class NormalizeMethod {
    None,
    Standardize, // per feature: (x − mean) / standard deviation
    MinMax,      // per feature: (x − min) / (max − min), i.e. scaled to [0, 1]
};

const char *normalize_method_name(NormalizeMethod method); // "none", "standardize", "minmax"
// Accepts those names; Error for any other.
NormalizeMethod normalize_method_from_name(const std::string &name);

// Per-feature statistics fitted on a training split and kept with every view
// they are applied to, so validation and test data see the same transform:
// x' = (x − center) / spread, where x is the stored value as a float (bytes
// already multiplied by the dataset's byte scale).
struct Normalization {
    NormalizeMethod method = NormalizeMethod::None;
    std::vector<float> center; // mean, or min
    std::vector<float> spread; // standard deviation, or max − min; never 0

    bool active() const { return method != NormalizeMethod::None; }

    // Statistics over every sample of the view (its own normalization is
    // ignored). A constant feature gets spread 1, so it maps to 0.
    static Normalization fit(const Dataset &train, NormalizeMethod method);
};

} // namespace neurite::data
