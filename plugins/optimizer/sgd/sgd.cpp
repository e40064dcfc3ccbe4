// SGD with momentum, dampening, Nesterov and L2 weight decay, following
// PyTorch's torch.optim.SGD so that results can be compared one to one.
#include "../common/optimizer_state.hpp"

#include <neurite/plugin.hpp>

#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
namespace opt = neurite::optimizer;

constexpr nrt_param_spec kParams[] = {
    sdk::float_param("lr", 0.01, 0.0, opt::kMaxRate,
                     "Learning rate: how far each step moves along the update direction."),
    sdk::float_param("momentum", 0.0, 0.0, 1.0,
                     "Momentum factor in [0, 1): the share of the previous update kept each step."),
    sdk::float_param("dampening", 0.0, 0.0, 1.0,
                     "Share of the new gradient left out when it is added to the momentum buffer."),
    sdk::bool_param("nesterov", false,
                    "Use Nesterov momentum; needs momentum > 0 and dampening 0."),
    sdk::float_param("weight_decay", 0.0, 0.0, opt::kMaxRate,
                     "L2 penalty: weight_decay * w is added to the gradient."),
};

// Set once the momentum buffer holds a gradient: PyTorch copies the first
// gradient into the buffer instead of blending it with zeros.
constexpr uint32_t kMomentumStarted = 1u;

class Sgd final : public opt::OptimizerBase {
public:
    Sgd(sdk::Host host, sdk::Params params, uint64_t /*seed*/)
        : OptimizerBase("SGD", host, kParams)
    {
        bind("lr", &m_lr, params);
        bind("momentum", &m_momentum, params);
        bind("dampening", &m_dampening, params);
        bind("nesterov", &m_nesterov, params);
        bind("weight_decay", &m_weight_decay, params);
        check_combination();
    }

protected:
    void update(uint64_t) override
    {
        const bool momentum = m_momentum != 0.0;
        const bool nesterov = m_nesterov != 0.0;
        const bool first = !(m_state.flags() & kMomentumStarted);
        if (!momentum)
            update_loop<Rule::Plain, false>();
        else if (first && nesterov)
            update_loop<Rule::FirstMomentum, true>();
        else if (first)
            update_loop<Rule::FirstMomentum, false>();
        else if (nesterov)
            update_loop<Rule::Momentum, true>();
        else
            update_loop<Rule::Momentum, false>();
        if (momentum)
            m_state.set_flags(m_state.flags() | kMomentumStarted);
    }

    // The buffer exists even without momentum, because momentum can be
    // switched on live and step() must not allocate.
    std::vector<opt::BufferKind> buffer_kinds() const override
    {
        return {{"momentum_buffer", 0.0f}};
    }

    void check_value(std::string_view name, double value) const override
    {
        if (name == "momentum")
            opt::require_below_one(this->name(), name, value);
    }

    void check_combination() const override
    {
        if (m_nesterov != 0.0 && (m_momentum <= 0.0 || m_dampening != 0.0))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT,
                      "SGD: nesterov needs momentum > 0 and dampening = 0 (momentum = " +
                          opt::number_string(m_momentum) +
                          ", dampening = " + opt::number_string(m_dampening) + ")");
    }

private:
    enum class Rule { Plain, FirstMomentum, Momentum };

    // The rules are compiled apart so that each loop is branch-free.
    template <Rule R, bool Nesterov> void update_loop()
    {
        const auto lr = static_cast<float>(m_lr);
        const auto wd = static_cast<float>(m_weight_decay);
        const auto mu = static_cast<float>(m_momentum);
        const auto keep_grad = static_cast<float>(1.0 - m_dampening);
        const opt::ParamState &state = m_state;
        opt::for_each_range(state, m_threads, [&](size_t p, size_t b, size_t e) {
            const opt::Slot &s = state.slot(p);
            float *__restrict w = s.value;
            const float *__restrict g = s.grad;
            float *__restrict buf = state.buffer(p, 0);
#pragma omp simd
            for (size_t i = b; i < e; ++i) {
                const float d = g[i] + wd * w[i];
                if constexpr (R == Rule::Plain) {
                    w[i] -= lr * d;
                } else {
                    const float m = R == Rule::FirstMomentum ? d : mu * buf[i] + keep_grad * d;
                    buf[i] = m;
                    w[i] -= lr * (Nesterov ? d + mu * m : m);
                }
            }
        });
    }

    double m_lr = 0.01;
    double m_momentum = 0.0;
    double m_dampening = 0.0;
    double m_nesterov = 0.0;
    double m_weight_decay = 0.0;
};

const nrt_entry kSgd = sdk::make_entry<Sgd>(
    NRT_KIND_OPTIMIZER, "SGD", "1.0.0",
    "Stochastic gradient descent: b = mu*b + (1-dampening)*(g + wd*w); w -= lr*b "
    "(or lr*(g + mu*b) with Nesterov).",
    kParams);

} // namespace

NEURITE_PLUGIN("neurite-optimizer-sgd", "1.0.0", &kSgd)
