// RMSProp (Hinton's lecture 6e), with the centered variant (Graves, 2013)
// and momentum, following PyTorch's torch.optim.RMSprop.
#include "../common/optimizer_state.hpp"

#include <neurite/plugin.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
namespace opt = neurite::optimizer;

constexpr nrt_param_spec kParams[] = {
    sdk::float_param("lr", 0.01, 0.0, opt::kMaxRate,
                     "Learning rate: the step along the gradient divided by its running RMS."),
    sdk::float_param("alpha", 0.99, 0.0, 1.0,
                     "Decay rate in [0, 1) of the running mean of squared gradients."),
    sdk::float_param("eps", 1e-8, 0.0, 1.0,
                     "Added to the RMS so that tiny gradients do not blow up the step."),
    sdk::float_param("momentum", 0.0, 0.0, 1.0,
                     "Momentum factor in [0, 1) applied to the normalised update."),
    sdk::bool_param("centered", false,
                    "Normalise by the gradient's running variance instead of its running "
                    "second moment."),
    sdk::float_param("weight_decay", 0.0, 0.0, opt::kMaxRate,
                     "L2 penalty: weight_decay * w is added to the gradient."),
};

enum Buffer : size_t { SquareAvg = 0, MomentumBuffer = 1, GradAvg = 2 };

class RmsProp final : public opt::OptimizerBase {
public:
    RmsProp(sdk::Host host, sdk::Params params, uint64_t /*seed*/)
        : OptimizerBase("RMSProp", host, kParams)
    {
        bind("lr", &m_lr, params);
        bind("alpha", &m_alpha, params);
        bind("eps", &m_eps, params);
        bind("momentum", &m_momentum, params);
        bind("centered", &m_centered, params);
        bind("weight_decay", &m_weight_decay, params);
        check_combination();
    }

protected:
    void update(uint64_t) override
    {
        const bool centered = m_centered != 0.0;
        const bool momentum = m_momentum > 0.0;
        if (centered && momentum)
            update_loop<true, true>();
        else if (centered)
            update_loop<true, false>();
        else if (momentum)
            update_loop<false, true>();
        else
            update_loop<false, false>();
    }

    // The momentum buffer exists even without momentum, because momentum can
    // be switched on live and step() must not allocate.
    std::vector<opt::BufferKind> buffer_kinds() const override
    {
        std::vector<opt::BufferKind> kinds = {{"square_avg", 0.0f}, {"momentum_buffer", 0.0f}};
        if (m_centered != 0.0)
            kinds.push_back({"grad_avg", 0.0f});
        return kinds;
    }

    const char *layout_hint() const override { return "centered"; }

    void check_value(std::string_view name, double value) const override
    {
        if (name == "alpha" || name == "momentum")
            opt::require_below_one(this->name(), name, value);
        else if (name == "centered")
            require_not_attached(name, value, m_centered);
    }

private:
    // The variants are compiled apart so that each loop is branch-free.
    template <bool Centered, bool Momentum> void update_loop()
    {
        const auto lr = static_cast<float>(m_lr);
        const auto alpha = static_cast<float>(m_alpha);
        const auto one_minus_alpha = static_cast<float>(1.0 - m_alpha);
        const auto eps = static_cast<float>(m_eps);
        const auto mu = static_cast<float>(m_momentum);
        const auto wd = static_cast<float>(m_weight_decay);
        const opt::ParamState &state = m_state;

        opt::for_each_range(state, m_threads, [&](size_t p, size_t b, size_t e) {
            const opt::Slot &s = state.slot(p);
            float *__restrict w = s.value;
            const float *__restrict g = s.grad;
            float *__restrict sq = state.buffer(p, SquareAvg);
            float *__restrict buf = state.buffer(p, MomentumBuffer);
            float *__restrict ga = Centered ? state.buffer(p, GradAvg) : nullptr;
#pragma omp simd
            for (size_t i = b; i < e; ++i) {
                const float d = g[i] + wd * w[i];
                const float sqi = alpha * sq[i] + one_minus_alpha * d * d;
                sq[i] = sqi;
                float var = sqi;
                if constexpr (Centered) {
                    const float gai = alpha * ga[i] + one_minus_alpha * d;
                    ga[i] = gai;
                    // E[g^2] >= E[g]^2 holds exactly but not always after
                    // rounding; a tiny negative would turn into NaN.
                    const float c = sqi - gai * gai;
                    var = c > 0.0f ? c : 0.0f;
                }
                const float scaled = d / (std::sqrt(var) + eps);
                if constexpr (Momentum) {
                    const float m = mu * buf[i] + scaled;
                    buf[i] = m;
                    w[i] -= lr * m;
                } else {
                    w[i] -= lr * scaled;
                }
            }
        });
    }

    double m_lr = 0.01;
    double m_alpha = 0.99;
    double m_eps = 1e-8;
    double m_momentum = 0.0;
    double m_centered = 0.0;
    double m_weight_decay = 0.0;
};

const nrt_entry kRmsProp = sdk::make_entry<RmsProp>(
    NRT_KIND_OPTIMIZER, "RMSProp", "1.0.0",
    "RMSProp: s = alpha*s + (1-alpha)*g^2; w -= lr * g / (sqrt(s) + eps), "
    "optionally centered and with momentum.",
    kParams);

} // namespace

NEURITE_PLUGIN("neurite-optimizer-rmsprop", "1.0.0", &kRmsProp)
