// Adagrad (Duchi, Hazan & Singer, 2011), following PyTorch's
// torch.optim.Adagrad, including its learning-rate decay.
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
                     "Learning rate: the step along the gradient divided by its accumulated norm."),
    sdk::float_param("lr_decay", 0.0, 0.0, opt::kMaxRate,
                     "The learning rate at step t is lr / (1 + (t - 1) * lr_decay)."),
    sdk::float_param("weight_decay", 0.0, 0.0, opt::kMaxRate,
                     "L2 penalty: weight_decay * w is added to the gradient."),
    sdk::float_param("initial_accumulator_value", 0.0, 0.0, opt::kMaxRate,
                     "Starting value of every sum of squared gradients; fixed once parameters "
                     "are attached."),
    sdk::float_param("eps", 1e-10, 0.0, 1.0,
                     "Added to the root of the sum so that the first steps stay finite."),
};

class Adagrad final : public opt::OptimizerBase {
public:
    Adagrad(sdk::Host host, sdk::Params params, uint64_t /*seed*/)
        : OptimizerBase("Adagrad", host, kParams)
    {
        bind("lr", &m_lr, params);
        bind("lr_decay", &m_lr_decay, params);
        bind("weight_decay", &m_weight_decay, params);
        bind("initial_accumulator_value", &m_initial, params);
        bind("eps", &m_eps, params);
        check_combination();
    }

protected:
    void update(uint64_t t) override
    {
        const auto clr =
            static_cast<float>(m_lr / (1.0 + static_cast<double>(t - 1) * m_lr_decay));
        const auto wd = static_cast<float>(m_weight_decay);
        const auto eps = static_cast<float>(m_eps);
        const opt::ParamState &state = m_state;

        opt::for_each_range(state, m_threads, [&](size_t p, size_t b, size_t e) {
            const opt::Slot &s = state.slot(p);
            float *__restrict w = s.value;
            const float *__restrict g = s.grad;
            float *__restrict sum = state.buffer(p, 0);
#pragma omp simd
            for (size_t i = b; i < e; ++i) {
                const float d = g[i] + wd * w[i];
                const float acc = sum[i] + d * d;
                sum[i] = acc;
                w[i] -= clr * d / (std::sqrt(acc) + eps);
            }
        });
    }

    std::vector<opt::BufferKind> buffer_kinds() const override
    {
        return {{"sum", static_cast<float>(m_initial)}};
    }

    void check_value(std::string_view name, double value) const override
    {
        if (name == "initial_accumulator_value")
            require_not_attached(name, value, m_initial);
    }

private:
    double m_lr = 0.01;
    double m_lr_decay = 0.0;
    double m_weight_decay = 0.0;
    double m_initial = 0.0;
    double m_eps = 1e-10;
};

const nrt_entry kAdagrad = sdk::make_entry<Adagrad>(
    NRT_KIND_OPTIMIZER, "Adagrad", "1.0.0",
    "Adagrad: s += g^2; w -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(s) + eps).", kParams);

} // namespace

NEURITE_PLUGIN("neurite-optimizer-adagrad", "1.0.0", &kAdagrad)
