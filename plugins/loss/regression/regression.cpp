// Regression losses: MSELoss, MAELoss, HuberLoss.
//
// All three compare pred and target element by element, so each is an
// ElementwiseLoss (../common) that only says what one element contributes
// and what its slope is.
// Like every built-in plugin this file sees only the SDK headers.
#include "../common/loss_common.hpp"

#include <neurite/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace {

namespace sdk = neurite::sdk;
using neurite::loss::ElementwiseLoss;
using neurite::loss::parse_reduction;

constexpr const char *kVersion = "1.0.0";

constexpr const char *kAllReductions = "mean|sum|half_sum|batch_mean";

// ---------------------------------------------------------------- MSELoss

struct SquaredError {
    double value(float p, float t) const
    {
        const double d = static_cast<double>(p) - static_cast<double>(t);
        return d * d;
    }
    // d(p - t)^2/dp = 2(p - t); half_sum's 1/2 cancels the 2.
    float gradient(float p, float t, float k) const { return (2.0f * k) * (p - t); }
};

class MSELoss final : public ElementwiseLoss<SquaredError> {
public:
    MSELoss(sdk::Host, sdk::Params params, uint64_t)
        : ElementwiseLoss(parse_reduction(params, kAllReductions), {})
    {
    }
};

// ---------------------------------------------------------------- MAELoss

struct AbsoluteError {
    double value(float p, float t) const
    {
        return std::fabs(static_cast<double>(p) - static_cast<double>(t));
    }
    // At p == t the subgradient 0 is chosen: it leaves an exact fit alone
    // instead of kicking it off by a full step either way.
    float gradient(float p, float t, float k) const
    {
        const float d = p - t;
        return d > 0.0f ? k : (d < 0.0f ? -k : 0.0f);
    }
};

class MAELoss final : public ElementwiseLoss<AbsoluteError> {
public:
    MAELoss(sdk::Host, sdk::Params params, uint64_t)
        : ElementwiseLoss(parse_reduction(params, neurite::loss::kElementReductions), {})
    {
    }
};

// ---------------------------------------------------------------- HuberLoss

constexpr double kMaxDelta = 1e6;

struct HuberError {
    double delta;
    float delta_f;

    double value(float p, float t) const
    {
        const double a = std::fabs(static_cast<double>(p) - static_cast<double>(t));
        return a <= delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
    }
    // The quadratic part's slope is d; the linear part's is +-delta, so the
    // gradient is d clipped to [-delta, delta].
    float gradient(float p, float t, float k) const
    {
        return k * std::min(std::max(p - t, -delta_f), delta_f);
    }
};

// The schema range is inclusive, so it cannot say "greater than 0"; delta = 0
// would make the loss 0 everywhere with a zero gradient.
HuberError huber_error(const sdk::Params &params)
{
    const double delta = params.number("delta");
    if (!(delta > 0.0 && delta <= kMaxDelta))
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "delta must be in (0, 1e6], got " + sdk::number_text(delta));
    return {delta, static_cast<float>(delta)};
}

class HuberLoss final : public ElementwiseLoss<HuberError> {
public:
    HuberLoss(sdk::Host, sdk::Params params, uint64_t)
        : ElementwiseLoss(parse_reduction(params, neurite::loss::kElementReductions), huber_error(params))
    {
    }
};

// ---------------------------------------------------------------- registry entries

constexpr nrt_param_spec kMseParams[] = {
    sdk::choice_param(
        "reduction", "mean", kAllReductions,
        "How element losses combine: mean over all elements, sum, half_sum = 0.5*sum "
        "(the textbook E = 1/2 sum (t - y)^2), or batch_mean = sum divided by the first "
        "dimension (the number of samples)."),
};

constexpr nrt_param_spec kMaeParams[] = {neurite::loss::kElementReduction};

constexpr nrt_param_spec kHuberParams[] = {
    sdk::float_param("delta", 1.0, 0.0, kMaxDelta,
                     "Error size where the loss turns from quadratic to linear; must be in (0, 1e6]."),
    neurite::loss::kElementReduction,
};

const nrt_entry kMseEntry = sdk::make_entry<MSELoss>(
    NRT_KIND_LOSS, "MSELoss", kVersion,
    "Mean squared error: reduce((pred - target)^2), by default the mean over all elements.",
    kMseParams);

const nrt_entry kMaeEntry = sdk::make_entry<MAELoss>(
    NRT_KIND_LOSS, "MAELoss", kVersion,
    "Mean absolute error: reduce(|pred - target|), by default the mean over all elements.",
    kMaeParams);

const nrt_entry kHuberEntry = sdk::make_entry<HuberLoss>(
    NRT_KIND_LOSS, "HuberLoss", kVersion,
    "Huber loss: 0.5*d^2 if |d| <= delta else delta*(|d| - 0.5*delta), d = pred - target.",
    kHuberParams);

} // namespace

NEURITE_PLUGIN("neurite-loss-regression", "1.0.0", &kMseEntry, &kMaeEntry, &kHuberEntry)
