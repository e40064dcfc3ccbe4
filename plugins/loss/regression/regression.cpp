// Regression losses: MSELoss, MAELoss, HuberLoss.
//
// All three compare pred and target element by element, so they share one
// shape rule (identical shapes), one input check and one set of reductions.
// Like every built-in plugin this file sees only the SDK headers.
#include <neurite/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

// Checked inputs are unpacked into named locals rather than structured
// bindings, which clang 14 cannot capture in the lambdas below.
namespace {

using neurite::sdk::check_diff_pred;
using neurite::sdk::check_elementwise_loss;
using neurite::sdk::fail;
using neurite::sdk::lane_sum;
using neurite::sdk::number_text;
using neurite::sdk::numel;

constexpr const char *kVersion = "1.0.0";

// ---------------------------------------------------------------- reductions

enum class Reduction { Mean, Sum, HalfSum, BatchMean };

// choices: the subset this loss offers, as its schema says.
Reduction parse_reduction(const neurite::sdk::Params &params, std::string_view choices)
{
    const std::string value = params.choice("reduction", choices);
    if (value == "sum")
        return Reduction::Sum;
    if (value == "half_sum")
        return Reduction::HalfSum;
    if (value == "batch_mean")
        return Reduction::BatchMean;
    return Reduction::Mean;
}

// The factor applied to the plain sum of element losses.
double reduction_scale(Reduction reduction, const nrt_tensor &pred)
{
    switch (reduction) {
    case Reduction::Mean:
        return 1.0 / static_cast<double>(numel(pred));
    case Reduction::Sum:
        return 1.0;
    case Reduction::HalfSum:
        return 0.5;
    case Reduction::BatchMean:
        // A rank-0 tensor is one sample.
        return pred.ndims > 0 ? 1.0 / static_cast<double>(pred.dims[0]) : 1.0;
    }
    return 1.0;
}

constexpr const char *kAllReductions = "mean|sum|half_sum|batch_mean";
// half_sum exists for the textbook squared error only; on |d| or Huber the
// 1/2 has no meaning, so those losses do not offer it.
constexpr const char *kPlainReductions = "mean|sum|batch_mean";

// ---------------------------------------------------------------- MSELoss

class MSELoss final : public neurite::sdk::Loss {
public:
    MSELoss(neurite::sdk::Host, neurite::sdk::Params params, uint64_t)
        : m_reduction(parse_reduction(params, kAllReductions))
    {
    }

    double forward(const nrt_tensor &pred, const nrt_tensor &target) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        const double total = lane_sum(n, [p, t](int64_t i) {
            const double d = static_cast<double>(p[i]) - static_cast<double>(t[i]);
            return d * d;
        });
        return reduction_scale(m_reduction, pred) * total;
    }

    void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        float *g = check_diff_pred(diff_pred, pred);
        // d(p - t)^2/dp = 2(p - t); half_sum's 1/2 cancels the 2.
        const float c = static_cast<float>(2.0 * reduction_scale(m_reduction, pred));
        for (int64_t i = 0; i < n; ++i)
            g[i] = c * (p[i] - t[i]);
    }

private:
    Reduction m_reduction;
};

// ---------------------------------------------------------------- MAELoss

class MAELoss final : public neurite::sdk::Loss {
public:
    MAELoss(neurite::sdk::Host, neurite::sdk::Params params, uint64_t)
        : m_reduction(parse_reduction(params, kPlainReductions))
    {
    }

    double forward(const nrt_tensor &pred, const nrt_tensor &target) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        const double total = lane_sum(n, [p, t](int64_t i) {
            return std::fabs(static_cast<double>(p[i]) - static_cast<double>(t[i]));
        });
        return reduction_scale(m_reduction, pred) * total;
    }

    void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        float *g = check_diff_pred(diff_pred, pred);
        const float c = static_cast<float>(reduction_scale(m_reduction, pred));
        // At p == t the subgradient 0 is chosen: it leaves an exact fit alone
        // instead of kicking it off by a full step either way.
        for (int64_t i = 0; i < n; ++i) {
            const float d = p[i] - t[i];
            g[i] = d > 0.0f ? c : (d < 0.0f ? -c : 0.0f);
        }
    }

private:
    Reduction m_reduction;
};

// ---------------------------------------------------------------- HuberLoss

constexpr double kMaxDelta = 1e6;

class HuberLoss final : public neurite::sdk::Loss {
public:
    HuberLoss(neurite::sdk::Host, neurite::sdk::Params params, uint64_t)
        : m_reduction(parse_reduction(params, kPlainReductions)), m_delta(params.number("delta"))
    {
        // The schema range is inclusive, so it cannot say "greater than 0";
        // delta = 0 would make the loss 0 everywhere with a zero gradient.
        if (!(m_delta > 0.0 && m_delta <= kMaxDelta))
            fail(NRT_ERR_INVALID_ARGUMENT, "delta must be in (0, 1e6], got " + number_text(m_delta));
        m_delta_f = static_cast<float>(m_delta);
    }

    double forward(const nrt_tensor &pred, const nrt_tensor &target) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        const double delta = m_delta;
        const double total = lane_sum(n, [p, t, delta](int64_t i) {
            const double a = std::fabs(static_cast<double>(p[i]) - static_cast<double>(t[i]));
            return a <= delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
        });
        return reduction_scale(m_reduction, pred) * total;
    }

    void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) override
    {
        const auto checked = check_elementwise_loss(pred, target);
        const float *p = checked.pred, *t = checked.target;
        const int64_t n = checked.count;
        float *g = check_diff_pred(diff_pred, pred);
        const float c = static_cast<float>(reduction_scale(m_reduction, pred));
        const float delta = m_delta_f;
        // The quadratic part's slope is d; the linear part's is +-delta, so the
        // gradient is d clipped to [-delta, delta].
        for (int64_t i = 0; i < n; ++i)
            g[i] = c * std::min(std::max(p[i] - t[i], -delta), delta);
    }

private:
    Reduction m_reduction;
    double m_delta;
    float m_delta_f = 1.0f;
};

// ---------------------------------------------------------------- registry entries

constexpr nrt_param_spec kMseParams[] = {
    neurite::sdk::choice_param(
        "reduction", "mean", kAllReductions,
        "How element losses combine: mean over all elements, sum, half_sum = 0.5*sum "
        "(the textbook E = 1/2 sum (t - y)^2), or batch_mean = sum divided by the first "
        "dimension (the number of samples)."),
};

constexpr nrt_param_spec kMaeParams[] = {
    neurite::sdk::choice_param(
        "reduction", "mean", kPlainReductions,
        "How element losses combine: mean over all elements, sum, or batch_mean = sum "
        "divided by the first dimension (the number of samples)."),
};

constexpr nrt_param_spec kHuberParams[] = {
    neurite::sdk::float_param(
        "delta", 1.0, 0.0, kMaxDelta,
        "Error size where the loss turns from quadratic to linear; must be in (0, 1e6]."),
    neurite::sdk::choice_param(
        "reduction", "mean", kPlainReductions,
        "How element losses combine: mean over all elements, sum, or batch_mean = sum "
        "divided by the first dimension (the number of samples)."),
};

const nrt_entry kMseEntry = neurite::sdk::make_entry<MSELoss>(
    NRT_KIND_LOSS, "MSELoss", kVersion,
    "Mean squared error: reduce((pred - target)^2), by default the mean over all elements.",
    kMseParams);

const nrt_entry kMaeEntry = neurite::sdk::make_entry<MAELoss>(
    NRT_KIND_LOSS, "MAELoss", kVersion,
    "Mean absolute error: reduce(|pred - target|), by default the mean over all elements.",
    kMaeParams);

const nrt_entry kHuberEntry = neurite::sdk::make_entry<HuberLoss>(
    NRT_KIND_LOSS, "HuberLoss", kVersion,
    "Huber loss: 0.5*d^2 if |d| <= delta else delta*(|d| - 0.5*delta), d = pred - target.",
    kHuberParams);

} // namespace

NEURITE_PLUGIN("neurite-loss-regression", "1.0.0", &kMseEntry, &kMaeEntry, &kHuberEntry)
