// Shared by the built-in losses: the reduction parameter and its scale, the
// parameter specs that several losses offer alike, and ElementwiseLoss,
// which writes forward and backward once for every loss that pairs pred and
// target element by element. Header-only and built on the SDK alone, so
// every loss library stays self-contained.
#ifndef NEURITE_LOSS_COMMON_HPP
#define NEURITE_LOSS_COMMON_HPP

#include <neurite/plugin.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace neurite::loss {

namespace sdk = neurite::sdk;

// ---------------------------------------------------------------- reductions

enum class Reduction { Mean, Sum, HalfSum, BatchMean };

// choices: the subset this loss offers, as its schema says.
inline Reduction parse_reduction(const sdk::Params &params, std::string_view choices)
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
inline double reduction_scale(Reduction reduction, const nrt_tensor &pred)
{
    switch (reduction) {
    case Reduction::Mean:
        return 1.0 / static_cast<double>(sdk::numel(pred));
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

// ---------------------------------------------------------------- parameters

// For losses with one value per sample (a row of pred): "mean" divides by
// the number of samples, so it is Reduction::BatchMean.
inline constexpr nrt_param_spec kSampleReduction = sdk::choice_param(
    "reduction", "mean", "mean|sum", "How sample losses combine: mean over the N samples (rows), or sum.");

// half_sum exists for the textbook squared error only; on |d| or Huber the
// 1/2 has no meaning, so those losses offer these.
inline constexpr const char *kElementReductions = "mean|sum|batch_mean";
inline constexpr nrt_param_spec kElementReduction = sdk::choice_param(
    "reduction", "mean", kElementReductions,
    "How element losses combine: mean over all elements, sum, or batch_mean = sum divided by the "
    "first dimension (the number of samples).");

// ---------------------------------------------------------------- element-wise losses

// A loss that pairs pred and target element by element: forward is
// scale * sum_i term.value(p_i, t_i), backward writes term.gradient(p_i,
// t_i, scale), with the scale of the reduction. Term is a small value type
// (its constants, no pointers), copied into the loops so that the compiler
// knows the gradient stores cannot change it and vectorizes them.
template <class Term>
class ElementwiseLoss : public sdk::Loss {
public:
    // Pairing element by element needs the target in the prediction's shape
    // (the host also passes [N] for [N, 1] as [N, 1]).
    static constexpr nrt_target_kind target_kind = NRT_TARGET_SAME_SHAPE;

    double forward(const nrt_tensor &pred, const nrt_tensor &target) override
    {
        const sdk::ElementwiseLossInputs checked = check(pred, target);
        // Named locals, not structured bindings, which clang 14 cannot capture.
        const float *p = checked.pred, *t = checked.target;
        const Term term = m_term;
        const double total =
            sdk::lane_sum(checked.count, [term, p, t](int64_t i) { return term.value(p[i], t[i]); });
        return reduction_scale(m_reduction, pred) * total;
    }

    void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) override
    {
        const sdk::ElementwiseLossInputs checked = check(pred, target);
        const float *p = checked.pred, *t = checked.target;
        float *g = sdk::check_diff_pred(diff_pred, pred);
        const Term term = m_term;
        const float k = static_cast<float>(reduction_scale(m_reduction, pred));
        for (int64_t i = 0; i < checked.count; ++i)
            g[i] = term.gradient(p[i], t[i], k);
    }

protected:
    ElementwiseLoss(Reduction reduction, Term term) : m_reduction(reduction), m_term(term) {}

    // Everything checked before any data is read or written; losses with
    // more rules (probabilities in [0, 1], a rank) add theirs.
    virtual sdk::ElementwiseLossInputs check(const nrt_tensor &pred, const nrt_tensor &target) const
    {
        return sdk::check_elementwise_loss(pred, target);
    }

private:
    Reduction m_reduction;
    Term m_term;
};

} // namespace neurite::loss

#endif // NEURITE_LOSS_COMMON_HPP
