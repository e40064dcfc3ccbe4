// Classification losses: CrossEntropyLoss (on logits, class-index targets),
// BCELoss, CategoricalCrossEntropyLoss and KLDivLoss (on probabilities).
//
// The probability losses clamp pred before every log so that a saturated
// prediction gives a large finite loss instead of Inf. Their backward uses the
// derivative at the clamped value even outside the clamp range (where the
// clamped function is flat): a prediction stuck at 0 for a true class must
// still be pushed back, as PyTorch's BCE does.
// Like every built-in plugin this file sees only the SDK headers.
#include "../common/loss_common.hpp"

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>
#include <neurite/plugin_parallel.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
using neurite::loss::ElementwiseLoss;
using neurite::loss::parse_reduction;
using neurite::loss::Reduction;
using sdk::check_diff_pred;
using sdk::check_tensor;
using sdk::ElementwiseLossInputs;
using sdk::f32;
using sdk::fail;
using sdk::kLossNeedsElements;
using sdk::kLossNeedsFinite;
using sdk::number_text;
using sdk::numel;
using sdk::require_finite;
using sdk::require_nonempty;
using sdk::shape_string;

constexpr const char *kVersion = "1.0.0";

// ---------------------------------------------------------------- input checks

// Probability targets outside [0, 1] make the loss unbounded below, which an
// optimizer would happily chase; the count pass vectorizes, the scan is only
// for the error message.
void require_unit_interval(const nrt_tensor &t, const char *what)
{
    const float *x = f32(t);
    const int64_t n = numel(t);
    int64_t outside = 0;
    for (int64_t i = 0; i < n; ++i)
        outside += (x[i] < 0.0f) | (x[i] > 1.0f);
    if (outside == 0)
        return;
    for (int64_t k = 0; k < n; ++k)
        if (x[k] < 0.0f || x[k] > 1.0f)
            fail(NRT_ERR_INVALID_ARGUMENT, std::string(what) + " " + shape_string(t) + " holds " +
                                               number_text(x[k]) + " at flat index " +
                                               std::to_string(k) + " (0-based); values must be in [0, 1]");
}

// For the probability losses, which read pred and target with the same flat index.
ElementwiseLossInputs check_probabilities(const nrt_tensor &pred, const nrt_tensor &target)
{
    const ElementwiseLossInputs in = sdk::check_elementwise_loss(pred, target);
    require_unit_interval(target, "target");
    return in;
}

// The losses on probabilities, whose targets must lie in [0, 1] too.
template <class Term>
class ProbabilityLoss : public ElementwiseLoss<Term> {
protected:
    using ElementwiseLoss<Term>::ElementwiseLoss;

    ElementwiseLossInputs check(const nrt_tensor &pred, const nrt_tensor &target) const override
    {
        return check_probabilities(pred, target);
    }
};

// ---------------------------------------------------------------- parameters

constexpr double kDefaultEps = 1e-7;
constexpr double kMaxEps = 0.1;

// The schema range is inclusive, so it cannot say "greater than 0"; eps = 0
// would let log see 0 again.
double checked_eps(const neurite::sdk::Params &params)
{
    const double eps = params.number("eps");
    if (!(eps > 0.0 && eps <= kMaxEps))
        fail(NRT_ERR_INVALID_ARGUMENT, "eps must be in (0, 0.1], got " + number_text(eps));
    return eps;
}

// [lo, hi] for clamping probabilities in float. hi is kept strictly below 1
// because float(1 - eps) rounds to 1 for eps below about 3e-8.
struct ClampRange {
    float lo;
    float hi;
};

ClampRange clamp_range(double eps)
{
    const float lo = static_cast<float>(eps);
    const float hi = std::min(static_cast<float>(1.0 - eps), std::nextafter(1.0f, 0.0f));
    return {lo, hi};
}

// For the losses with one value per sample: their "mean" is over the N
// samples (rows), not over the elements.
Reduction per_sample(Reduction reduction)
{
    return reduction == Reduction::Mean ? Reduction::BatchMean : reduction;
}

// ---------------------------------------------------------------- CrossEntropyLoss

// exp(z - max of z's row) for a batch of logits, by oneDNN's vectorised
// eltwise exp over the whole batch in one call: a scalar expf per logit took
// about 10 us of each pass over 256 x 10 logits, the primitive under 1 us.
// The primitives and buffers of a few batch sizes are kept, so a training
// step allocates nothing.
class ShiftedExp {
public:
    explicit ShiftedExp(const sdk::Host &host) : m_engine(sdk::dnnl_engine(host)), m_stream(m_engine) {}

    struct Result {
        const float *exp;   // {rows, classes}
        const float *max;   // {rows}
    };

    Result operator()(const float *z, int64_t rows, int64_t classes)
    {
        Batch &b = batch_for(rows * classes, rows);
        float *shifted = b.values.data();
        float *max = b.max.data();
        for (int64_t r = 0; r < rows; ++r) {
            const float *row = z + r * classes;
            float m = row[0];
            for (int64_t c = 1; c < classes; ++c)
                m = std::max(m, row[c]);
            max[r] = m;
            for (int64_t c = 0; c < classes; ++c)
                shifted[r * classes + c] = row[c] - m;
        }
        const sdk::OneThread one; // a few thousand values: a fork/join would cost more
        b.exp.run(m_stream);      // in place
        m_stream.wait();
        return {shifted, max};
    }

private:
    struct Batch {
        int64_t count = 0;
        sdk::Buffer values, max, scratch;
        sdk::BoundPrimitive exp;
    };

    Batch &batch_for(int64_t count, int64_t rows)
    {
        for (auto &b : m_batches)
            if (b->count == count && b->max.size() >= static_cast<size_t>(rows))
                return *b;
        if (m_batches.size() == kMaxBatches)
            m_batches.erase(m_batches.begin());
        const sdk::OneThread one; // planned for the one thread it runs on
        m_batches.push_back(sdk::with_dnnl("CrossEntropyLoss: building exp", [&] { return build(count, rows); }));
        return *m_batches.back();
    }

    std::unique_ptr<Batch> build(int64_t count, int64_t rows)
    {
        auto b = std::make_unique<Batch>();
        b->count = count;
        b->values.resize(static_cast<size_t>(count));
        b->max.resize(static_cast<size_t>(rows));
        const dnnl::memory::desc md({count}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const dnnl::eltwise_forward::primitive_desc pd(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_exp, md),
            attr, m_engine);
        b->scratch.resize(pd.scratchpad_desc().get_size() / sizeof(float) + 1);
        b->exp = sdk::BoundPrimitive(dnnl::eltwise_forward(pd), "CrossEntropyLoss", "exp");
        const dnnl::memory values(md, m_engine, b->values.data());
        b->exp.arg(DNNL_ARG_SRC, values);
        b->exp.arg(DNNL_ARG_DST, values);
        b->exp.scratchpad(pd, m_engine, b->scratch);
        return b;
    }

    static constexpr size_t kMaxBatches = 4;
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    std::vector<std::unique_ptr<Batch>> m_batches;
};

class CrossEntropyLoss final : public sdk::Loss {
public:
    // The host shifts Lua's 1-based class numbers to these 0-based indices.
    static constexpr nrt_target_kind target_kind = NRT_TARGET_CLASS_INDEX;

    CrossEntropyLoss(sdk::Host host, sdk::Params params, uint64_t)
        : m_reduction(per_sample(parse_reduction(params, "mean|sum"))),
          m_smoothing(params.number("label_smoothing")), m_exp(host)
    {
        if (!(m_smoothing >= 0.0 && m_smoothing < 1.0))
            fail(NRT_ERR_INVALID_ARGUMENT,
                 "label_smoothing must be in [0, 1), got " + number_text(m_smoothing));
    }

    double forward(const nrt_tensor &pred, const nrt_tensor &target) override
    {
        check(pred, target);
        const int64_t rows = pred.dims[0];
        const int64_t classes = pred.dims[1];
        const float *z = f32(pred);
        const float *labels = f32(target);
        const double off = m_smoothing / static_cast<double>(classes);
        const double on = 1.0 - m_smoothing;
        // Shifting by the row max keeps every exp in (0, 1]: no overflow,
        // and the largest term is exactly 1, so the sum never underflows.
        const ShiftedExp::Result e = m_exp(z, rows, classes);
        double total = 0.0;
        for (int64_t r = 0; r < rows; ++r) {
            const float *row = z + r * classes;
            const float *exp_row = e.exp + r * classes;
            const float m = e.max[r];
            double sum_exp = 0.0;
            double sum_shifted = 0.0;
            for (int64_t c = 0; c < classes; ++c) {
                sum_exp += exp_row[c];
                sum_shifted += row[c] - m;
            }
            // -sum_c q_c log softmax_c with q = on*onehot + off, and sum_c q_c = 1.
            const int64_t y = static_cast<int64_t>(labels[r]);
            total += std::log(sum_exp) - on * static_cast<double>(row[y] - m) - off * sum_shifted;
        }
        return neurite::loss::reduction_scale(m_reduction, pred) * total;
    }

    void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) override
    {
        check(pred, target);
        check_diff_pred(diff_pred, pred);
        const int64_t rows = pred.dims[0];
        const int64_t classes = pred.dims[1];
        const float *z = f32(pred);
        const float *labels = f32(target);
        float *g = f32(diff_pred);
        const double k = neurite::loss::reduction_scale(m_reduction, pred);
        const float off = static_cast<float>(k * m_smoothing / static_cast<double>(classes));
        const float on = static_cast<float>(k * (1.0 - m_smoothing));
        // exp lands in the loss's own buffer before the gradient is written,
        // so diff_pred may alias pred.
        const ShiftedExp::Result e = m_exp(z, rows, classes);
        for (int64_t r = 0; r < rows; ++r) {
            const float *exp_row = e.exp + r * classes;
            float *grow = g + r * classes;
            double sum_exp = 0.0;
            for (int64_t c = 0; c < classes; ++c)
                sum_exp += exp_row[c];
            const float w = static_cast<float>(k / sum_exp);
            for (int64_t c = 0; c < classes; ++c)
                grow[c] = exp_row[c] * w - off;
            grow[static_cast<int64_t>(labels[r])] -= on;
        }
    }

private:
    // Validates everything before any output is written, so a bad label in
    // the last row does not leave a half-written gradient behind.
    static void check(const nrt_tensor &pred, const nrt_tensor &target)
    {
        check_tensor(pred, "pred");
        check_tensor(target, "target");
        if (pred.ndims != 2)
            fail(NRT_ERR_SHAPE, "pred " + shape_string(pred) + " must be logits [N, C]");
        const int64_t rows = pred.dims[0];
        const bool fits = (target.ndims == 1 && target.dims[0] == rows) ||
                          (target.ndims == 2 && target.dims[0] == rows && target.dims[1] == 1);
        if (!fits)
            fail(NRT_ERR_SHAPE, "target " + shape_string(target) + " must hold one class index per sample, [" +
                                    std::to_string(rows) + "] or [" + std::to_string(rows) +
                                    ", 1], for pred " + shape_string(pred));
        require_nonempty(pred, "pred", kLossNeedsElements);
        require_finite(pred, "pred", kLossNeedsFinite);
        require_finite(target, "target", kLossNeedsFinite);
        const int64_t classes = pred.dims[1];
        const float *labels = f32(target);
        for (int64_t r = 0; r < rows; ++r) {
            const float v = labels[r];
            if (v < 0.0f || v >= static_cast<float>(classes) || v != std::floor(v))
                fail(NRT_ERR_INVALID_ARGUMENT,
                     "target of sample " + std::to_string(r + 1) + " of " + std::to_string(rows) +
                         " (1-based) is " + number_text(v) +
                         "; class indices must be integers in [0, " + std::to_string(classes) +
                         ") for C = " + std::to_string(classes) + " classes (0-based)");
        }
    }

    Reduction m_reduction;
    double m_smoothing;
    ShiftedExp m_exp;
};

// ---------------------------------------------------------------- BCELoss

struct BinaryCrossEntropy {
    ClampRange clamp;

    double value(float p, float t) const
    {
        // Clamped in float, exactly as gradient does, so the two agree.
        const double q = std::clamp(p, clamp.lo, clamp.hi);
        const double y = t;
        return -(y * std::log(q) + (1.0 - y) * std::log(1.0 - q));
    }
    // d/dq -(t log q + (1-t) log(1-q)) = (q - t) / (q (1 - q)); the clamp
    // keeps the denominator at least about eps.
    float gradient(float p, float t, float k) const
    {
        const float q = std::min(std::max(p, clamp.lo), clamp.hi);
        return k * (q - t) / (q * (1.0f - q));
    }
};

class BCELoss final : public ProbabilityLoss<BinaryCrossEntropy> {
public:
    BCELoss(sdk::Host, sdk::Params params, uint64_t)
        : ProbabilityLoss(parse_reduction(params, "mean|sum"), {clamp_range(checked_eps(params))})
    {
    }
};

// ---------------------------------------------------------------- CategoricalCrossEntropyLoss

struct CategoricalCrossEntropy {
    ClampRange clamp;

    double value(float p, float t) const
    {
        // One-hot targets are mostly zeros; skipping them saves the log.
        if (t == 0.0f)
            return 0.0;
        return -static_cast<double>(t) * std::log(static_cast<double>(std::clamp(p, clamp.lo, clamp.hi)));
    }
    float gradient(float p, float t, float k) const
    {
        return -k * t / std::min(std::max(p, clamp.lo), clamp.hi);
    }
};

// mean divides by the number of samples, not elements: the lecture's
// -sum_i t_i log y_i per sample, averaged over the batch.
class CategoricalCrossEntropyLoss final : public ProbabilityLoss<CategoricalCrossEntropy> {
public:
    CategoricalCrossEntropyLoss(sdk::Host, sdk::Params params, uint64_t)
        : ProbabilityLoss(per_sample(parse_reduction(params, "mean|sum")), {clamp_range(checked_eps(params))})
    {
    }

private:
    ElementwiseLossInputs check(const nrt_tensor &pred, const nrt_tensor &target) const override
    {
        // Rank is checked before the shape match so a [C] vector gets a
        // message about [N, C] rather than about the other tensor.
        if (pred.ndims != 2)
            fail(NRT_ERR_SHAPE, "pred " + shape_string(pred) + " must be probabilities [N, C]");
        return ProbabilityLoss::check(pred, target);
    }
};

// ---------------------------------------------------------------- KLDivLoss

struct KlDivergence {
    float eps;

    double value(float p, float t) const
    {
        // 0 log 0 = 0 by continuity; a zero target contributes nothing.
        if (t == 0.0f)
            return 0.0;
        const double y = t;
        return y * (std::log(y) - std::log(static_cast<double>(std::max(p, eps))));
    }
    // t log t does not depend on pred, so only -t log p has a gradient.
    float gradient(float p, float t, float k) const { return -k * t / std::max(p, eps); }
};

class KLDivLoss final : public ProbabilityLoss<KlDivergence> {
public:
    KLDivLoss(sdk::Host, sdk::Params params, uint64_t)
        : ProbabilityLoss(parse_reduction(params, "batch_mean|sum|mean"), {static_cast<float>(checked_eps(params))})
    {
    }
};

// ---------------------------------------------------------------- registry entries

// pred is clamped before every log in BCE and categorical cross-entropy.
constexpr nrt_param_spec kClampEps = sdk::float_param(
    "eps", kDefaultEps, 0.0, kMaxEps,
    "pred is clamped to [eps, 1 - eps] before every log so that it stays finite; must be in (0, 0.1].");

constexpr nrt_param_spec kCrossEntropyParams[] = {
    neurite::loss::kSampleReduction,
    sdk::float_param(
        "label_smoothing", 0.0, 0.0, 1.0,
        "Mixes the one-hot target with the uniform distribution, q = (1 - s)*onehot + s/C; "
        "must be in [0, 1)."),
};

constexpr nrt_param_spec kBceParams[] = {
    sdk::choice_param("reduction", "mean", "mean|sum",
                      "How element losses combine: mean over all elements, or sum."),
    kClampEps,
};

constexpr nrt_param_spec kCategoricalParams[] = {neurite::loss::kSampleReduction, kClampEps};

constexpr nrt_param_spec kKlDivParams[] = {
    sdk::choice_param(
        "reduction", "batch_mean", "batch_mean|sum|mean",
        "How element losses combine: batch_mean = sum divided by the first dimension (the "
        "number of samples, the true KL per sample), sum, or mean over all elements."),
    sdk::float_param(
        "eps", kDefaultEps, 0.0, kMaxEps,
        "pred is clamped to at least eps before the log so it stays finite; must be in (0, 0.1]."),
};

const nrt_entry kCrossEntropyEntry = sdk::make_entry<CrossEntropyLoss>(
    NRT_KIND_LOSS, "CrossEntropyLoss", kVersion,
    "Cross-entropy on logits [N, C] with class indices [N]: mean(logsumexp(z) - z[target]).",
    kCrossEntropyParams);

const nrt_entry kBceEntry = sdk::make_entry<BCELoss>(
    NRT_KIND_LOSS, "BCELoss", kVersion,
    "Binary cross-entropy on probabilities: mean(-(t*log(p) + (1 - t)*log(1 - p))).",
    kBceParams);

const nrt_entry kCategoricalEntry = sdk::make_entry<CategoricalCrossEntropyLoss>(
    NRT_KIND_LOSS, "CategoricalCrossEntropyLoss", kVersion,
    "Cross-entropy on probabilities [N, C] with one-hot or soft targets: mean over N of -sum(t*log(p)).",
    kCategoricalParams);

const nrt_entry kKlDivEntry = sdk::make_entry<KLDivLoss>(
    NRT_KIND_LOSS, "KLDivLoss", kVersion,
    "KL(target || pred) on probabilities (not log-probabilities): sum(t*(log(t) - log(p))) / N.",
    kKlDivParams);

} // namespace

NEURITE_PLUGIN("neurite-loss-crossentropy", "1.0.0", &kCrossEntropyEntry, &kBceEntry,
               &kCategoricalEntry, &kKlDivEntry)
