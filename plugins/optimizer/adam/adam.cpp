// Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), following
// PyTorch's torch.optim.Adam / AdamW, including amsgrad. The two differ only
// in where weight decay enters, so one template serves both.
#include "../common/optimizer_state.hpp"

#include <neurite/plugin.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
namespace opt = neurite::optimizer;

constexpr double kDefaultBetas[] = {0.9, 0.999};

// Adam and AdamW share every parameter but weight_decay, whose meaning differs.
constexpr nrt_param_spec kLrParam =
    sdk::float_param("lr", 0.001, 0.0, opt::kMaxRate,
                     "Learning rate: the largest step a coordinate takes, roughly.");
constexpr nrt_param_spec kBetasParam =
    sdk::float_list_param("betas", kDefaultBetas, 2, 0.0, 1.0,
                          "Decay rates {beta1, beta2} in [0, 1) of the running gradient mean "
                          "and of the running squared-gradient mean.");
constexpr nrt_param_spec kEpsParam =
    sdk::float_param("eps", 1e-8, 0.0, 1.0,
                     "Added to the denominator so that tiny second moments do not blow up the step.");
constexpr nrt_param_spec kAmsgradParam =
    sdk::bool_param("amsgrad", false,
                    "Divide by the largest second moment seen so far (AMSGrad) instead of the "
                    "current one.");

constexpr nrt_param_spec kAdamParams[] = {
    kLrParam,
    kBetasParam,
    kEpsParam,
    sdk::float_param("weight_decay", 0.0, 0.0, opt::kMaxRate,
                     "L2 penalty: weight_decay * w is added to the gradient before the moments."),
    kAmsgradParam,
};

constexpr nrt_param_spec kAdamWParams[] = {
    kLrParam,
    kBetasParam,
    kEpsParam,
    sdk::float_param("weight_decay", 0.01, 0.0, opt::kMaxRate,
                     "Decoupled weight decay: w shrinks by lr * weight_decay * w each step, "
                     "apart from the gradient."),
    kAmsgradParam,
};

template <bool Decoupled> struct Traits;
template <> struct Traits<false> {
    static constexpr const char *name = "Adam";
    static constexpr std::span<const nrt_param_spec> params = kAdamParams;
};
template <> struct Traits<true> {
    static constexpr const char *name = "AdamW";
    static constexpr std::span<const nrt_param_spec> params = kAdamWParams;
};

enum Buffer : size_t { ExpAvg = 0, ExpAvgSq = 1, MaxExpAvgSq = 2 };

template <bool Decoupled> class AdamFamily final : public opt::OptimizerBase {
public:
    AdamFamily(sdk::Host host, sdk::Params params, uint64_t /*seed*/)
        : OptimizerBase(Traits<Decoupled>::name, host, Traits<Decoupled>::params)
    {
        const std::span<const double> betas = params.list("betas");
        if (betas.size() != 2)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT,
                      std::string(name()) + ": 'betas' needs 2 numbers, got " +
                          std::to_string(betas.size()));
        bind("lr", &m_lr, params);
        bind("beta1", &m_beta1, betas[0]);
        bind("beta2", &m_beta2, betas[1]);
        bind("eps", &m_eps, params);
        bind("weight_decay", &m_weight_decay, params);
        bind("amsgrad", &m_amsgrad, params);
        check_combination();
    }

protected:
    void update(uint64_t t) override
    {
        if (m_amsgrad != 0.0)
            update_loop<true>(t);
        else
            update_loop<false>(t);
    }

    std::vector<opt::BufferKind> buffer_kinds() const override
    {
        std::vector<opt::BufferKind> kinds = {{"exp_avg", 0.0f}, {"exp_avg_sq", 0.0f}};
        if (m_amsgrad != 0.0)
            kinds.push_back({"max_exp_avg_sq", 0.0f});
        return kinds;
    }

    const char *layout_hint() const override { return "amsgrad"; }

    void check_value(std::string_view name, double value) const override
    {
        if (name == "beta1" || name == "beta2")
            opt::require_below_one(this->name(), name, value);
        else if (name == "amsgrad")
            require_not_attached(name, value, m_amsgrad);
    }

private:
    // The variants are compiled apart so that each loop is branch-free.
    template <bool AmsGrad> void update_loop(uint64_t t)
    {
        // Per-step scalars in double, so that bias corrections stay accurate
        // when beta^t approaches 1 - ulp; the loop then runs in float.
        const double bias1 = 1.0 - std::pow(m_beta1, static_cast<double>(t));
        const double bias2 = 1.0 - std::pow(m_beta2, static_cast<double>(t));
        const auto b1 = static_cast<float>(m_beta1);
        const auto b2 = static_cast<float>(m_beta2);
        const auto one_minus_b1 = static_cast<float>(1.0 - m_beta1);
        const auto one_minus_b2 = static_cast<float>(1.0 - m_beta2);
        const auto step_size = static_cast<float>(m_lr / bias1);
        const auto inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
        const auto eps = static_cast<float>(m_eps);
        // AdamW shrinks w first and leaves the gradient alone; Adam folds the
        // decay into the gradient. One of the two is always neutral.
        const auto shrink = static_cast<float>(Decoupled ? 1.0 - m_lr * m_weight_decay : 1.0);
        const auto l2 = static_cast<float>(Decoupled ? 0.0 : m_weight_decay);
        const opt::ParamState &state = m_state;

        opt::for_each_range(state, m_threads, [&](size_t p, size_t b, size_t e) {
            const opt::Slot &s = state.slot(p);
            float *__restrict w = s.value;
            const float *__restrict g = s.grad;
            float *__restrict m = state.buffer(p, ExpAvg);
            float *__restrict v = state.buffer(p, ExpAvgSq);
            float *__restrict vmax = AmsGrad ? state.buffer(p, MaxExpAvgSq) : nullptr;
#pragma omp simd
            for (size_t i = b; i < e; ++i) {
                const float x = w[i] * shrink;
                const float d = g[i] + l2 * x;
                const float mi = b1 * m[i] + one_minus_b1 * d;
                const float vi = b2 * v[i] + one_minus_b2 * d * d;
                m[i] = mi;
                v[i] = vi;
                float denominator = vi;
                if constexpr (AmsGrad) {
                    const float vm = vmax[i] > vi ? vmax[i] : vi;
                    vmax[i] = vm;
                    denominator = vm;
                }
                w[i] = x - step_size * mi / (std::sqrt(denominator) * inv_sqrt_bias2 + eps);
            }
        });
    }

    double m_lr = 0.001;
    double m_beta1 = 0.9;
    double m_beta2 = 0.999;
    double m_eps = 1e-8;
    double m_weight_decay = 0.0;
    double m_amsgrad = 0.0;
};

const nrt_entry kAdam = sdk::make_entry<AdamFamily<false>>(
    NRT_KIND_OPTIMIZER, "Adam", "1.0.0",
    "Adam: m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2 (g includes L2 decay); "
    "w -= lr * m_hat / (sqrt(v_hat) + eps).",
    kAdamParams);

const nrt_entry kAdamW = sdk::make_entry<AdamFamily<true>>(
    NRT_KIND_OPTIMIZER, "AdamW", "1.0.0",
    "AdamW: w -= lr*wd*w, then the Adam update w -= lr * m_hat / (sqrt(v_hat) + eps) "
    "on the raw gradient.",
    kAdamWParams);

} // namespace

NEURITE_PLUGIN("neurite-optimizer-adam", "1.0.0", &kAdam, &kAdamW)
