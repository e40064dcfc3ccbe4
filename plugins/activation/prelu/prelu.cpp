// PReLU: a leaky ReLU whose negative slope alpha is learned, either one
// shared alpha or one per feature of the last dimension.
//
// Plain loops rather than oneDNN's prelu primitive: the work is one compare
// and one multiply per element, and the alpha gradient needs a reduction
// over all leading dimensions that a loop states more plainly.

#include <neurite/plugin.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.1.0";
constexpr const char *kName = "PReLU";
constexpr int64_t kMaxChannels = int64_t{1} << 24;

class PReLU final : public sdk::GraphLayer {
public:
    PReLU(sdk::Host, sdk::Params params, uint64_t)
        : m_channels(params.integer("channels")), m_init(static_cast<float>(params.number("init")))
    {
        if (m_channels < 1 || m_channels > kMaxChannels)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(kName) + ": channels " +
                                                    std::to_string(m_channels) + " is not in 1.." +
                                                    std::to_string(kMaxChannels));
        m_channel_sums.assign(static_cast<std::size_t>(m_channels), 0.0);
        const std::array<int64_t, 1> dims{m_channels};
        declare_param("alpha", dims);
    }

    void initialise() override { std::fill_n(value(kAlpha), m_channels, m_init); }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs(kName, 1, 1);
        const std::span<const int64_t> src_dims = p.src_dims(0);
        m_shape.reset();
        sdk::require_src_dims(kName, src_dims);
        if (m_channels > 1 && src_dims.back() != m_channels)
            sdk::fail(NRT_ERR_SHAPE,
                      std::string(kName) + ": src " + sdk::shape_string(src_dims) + " has " +
                          std::to_string(src_dims.back()) +
                          " features in its last dimension but channels is " +
                          std::to_string(m_channels) +
                          "; channels must equal the last dimension, or be 1 for one shared alpha");
        m_shape.assign(src_dims);
        p.add_output(src_dims);
    }

    void forward(const sdk::Call &call) override
    {
        const nrt_tensor &src = call.src(0);
        nrt_tensor &dst = call.dst(0);
        m_shape.check(kName, src, "src");
        m_shape.check(kName, dst, "dst");
        const float *x = sdk::f32(src);
        float *y = sdk::f32(dst);
        const int64_t n = m_shape.numel();
        if (m_channels == 1) {
            const float alpha = value(kAlpha)[0];
            for (int64_t i = 0; i < n; ++i)
                y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
            return;
        }
        const float *alpha = value(kAlpha);
        for (int64_t row = 0; row < n; row += m_channels)
            for (int64_t c = 0; c < m_channels; ++c) {
                const float v = x[row + c];
                y[row + c] = v >= 0.0f ? v : alpha[c] * v;
            }
    }

    void backward(const sdk::Call &call) override
    {
        const nrt_tensor &src = call.src(0), &diff_dst = call.diff_dst(0);
        nrt_tensor *diff_src = call.diff_src(0);
        // Added to, unless the host says the gradient is logically zero (then
        // its memory may hold anything, NaN included: it is not read).
        const bool add = call.accumulate();
        float *alpha_grad = grad(kAlpha);
        m_shape.check(kName, src, "src");
        m_shape.check(kName, diff_dst, "diff_dst");
        if (diff_src)
            m_shape.check(kName, *diff_src, "diff_src");
        const float *x = sdk::f32(src);
        const float *dy = sdk::f32(diff_dst);
        float *dx = diff_src ? sdk::f32(*diff_src) : nullptr;
        const int64_t n = m_shape.numel();

        // df/dalpha = min(x, 0). The sums run in double because a large batch
        // adds many small terms into one value per channel.
        if (m_channels == 1) {
            const float alpha = value(kAlpha)[0];
            double sum = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                const float v = x[i];
                const float g = dy[i];
                if (v < 0.0f)
                    sum += static_cast<double>(g) * v;
                if (dx)
                    dx[i] = v >= 0.0f ? g : alpha * g;
            }
            alpha_grad[0] = (add ? alpha_grad[0] : 0.0f) + static_cast<float>(sum);
            return;
        }

        double *sums = m_channel_sums.data();
        const float *alpha = value(kAlpha);
        for (int64_t c = 0; c < m_channels; ++c)
            sums[c] = 0.0;
        for (int64_t row = 0; row < n; row += m_channels)
            for (int64_t c = 0; c < m_channels; ++c) {
                const float v = x[row + c];
                const float g = dy[row + c];
                if (v < 0.0f)
                    sums[c] += static_cast<double>(g) * v;
                if (dx)
                    dx[row + c] = v >= 0.0f ? g : alpha[c] * g;
            }
        for (int64_t c = 0; c < m_channels; ++c)
            alpha_grad[c] = (add ? alpha_grad[c] : 0.0f) + static_cast<float>(sums[c]);
    }

private:
    static constexpr int kAlpha = 0;

    int64_t m_channels;
    float m_init;
    // Per-channel partial sums for backward, allocated once so that a
    // training step allocates nothing.
    std::vector<double> m_channel_sums;
    sdk::PreparedShape m_shape;
};

const nrt_param_spec kPReLUParams[] = {
    sdk::int_param("channels", 1, 1, static_cast<double>(kMaxChannels),
                   "Number of alphas: 1 shares one alpha, otherwise one per feature of the "
                   "last dimension, whose size must equal it."),
    sdk::float_param("init", 0.25, 0.0, 1.0, "Initial value of every alpha."),
};

const nrt_entry kPReLU = sdk::make_entry<PReLU>(
    NRT_KIND_ACTIVATION, kName, kVersion,
    "PReLU: f(x) = x if x >= 0 else alpha*x with learnable alpha, f' = 1 if x >= 0 else alpha, "
    "df/dalpha = min(x, 0)",
    kPReLUParams);

} // namespace

NEURITE_PLUGIN("neurite-activation-prelu", kVersion, &kPReLU)
