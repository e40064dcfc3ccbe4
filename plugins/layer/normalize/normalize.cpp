// Normalize: y = (x - mean) / std per feature, with mean and std held as
// buffers (NRT_PARAM_FLAG_BUFFER): saved with the weights, never trained.
// The training split's statistics travel inside the model, so a model
// loaded from its checkpoint preprocesses its input itself. The Lua
// nn.Normalize{mean =, std =} or nn.Normalize{data =} fills them
// (resources/lua/neurite/layers.lua); by itself the layer starts as the
// identity (mean 0, std 1).
//
// `features` is the size of one sample (784 for [batch, 784], or 3*32*32
// for [batch, 3, 32, 32]), the statistics then per element of a sample; or
// the channels of an input of three or more dimensions (3 for
// [batch, 3, 32, 32]), one mean and std per channel over its positions, as
// torchvision's Normalize.
#include <neurite/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

namespace sdk = neurite::sdk;

class Normalize final : public sdk::GraphLayer {
public:
    Normalize(sdk::Host, sdk::Params params, uint64_t) : m_features(params.integer("features"))
    {
        const int64_t dims[] = {m_features};
        declare_param("mean", dims, NRT_PARAM_FLAG_BUFFER);
        declare_param("std", dims, NRT_PARAM_FLAG_BUFFER);
    }

    void initialise() override
    {
        std::fill_n(value(kMean), m_features, 0.0f);
        std::fill_n(value(kStd), m_features, 1.0f);
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Normalize", 1, 1);
        const auto src = p.src_dims(0);
        int64_t per_sample = 1;
        for (size_t d = 1; d < src.size(); ++d)
            per_sample *= src[d];
        const bool per_channel = src.size() >= 3 && src[1] == m_features;
        if (src.size() < 2 || (per_sample != m_features && !per_channel))
            sdk::fail(NRT_ERR_SHAPE, "Normalize: expects input {batch, ...} with " + std::to_string(m_features) +
                                         " features a sample, or {batch, " + std::to_string(m_features) +
                                         ", ...} (per channel), got " + p.src_shape(0));
        p.add_output(src);
    }

    void forward(const sdk::Call &call) override
    {
        const nrt_tensor &src = call.src(0);
        const float *x = sdk::f32(src), *mean = value(kMean), *std = value(kStd);
        float *y = sdk::f32(call.dst(0));
        require_positive_std();
        const int64_t rows = src.dims[0], inner = positions(src);
#pragma omp parallel for if (rows * m_features * inner > (1 << 16))
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < m_features; ++j) {
                const int64_t at = (i * m_features + j) * inner;
                for (int64_t k = 0; k < inner; ++k)
                    y[at + k] = (x[at + k] - mean[j]) / std[j];
            }
    }

    // dL/dx = dL/dy / std; mean and std get no gradient (buffers).
    void backward(const sdk::Call &call) override
    {
        nrt_tensor *diff_src = call.diff_src(0);
        if (!diff_src)
            return;
        const float *dy = sdk::f32(call.diff_dst(0)), *std = value(kStd);
        float *dx = sdk::f32(*diff_src);
        const int64_t rows = call.diff_dst(0).dims[0], inner = positions(call.diff_dst(0));
#pragma omp parallel for if (rows * m_features * inner > (1 << 16))
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < m_features; ++j) {
                const int64_t at = (i * m_features + j) * inner;
                for (int64_t k = 0; k < inner; ++k)
                    dx[at + k] = dy[at + k] / std[j];
            }
    }

private:
    static constexpr int kMean = 0, kStd = 1; // declaration order

    // A std of 0 or below (set by hand) would make infinities: say which.
    void require_positive_std() const
    {
        const float *std = value(kStd);
        for (int64_t j = 0; j < m_features; ++j)
            if (!(std[j] > 0.0f) || !std::isfinite(std[j]))
                sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Normalize: std[" + std::to_string(j + 1) + "] is " +
                                                        std::to_string(std[j]) + "; every std must be positive");
    }

    // Elements that share one mean and std in a sample: 1 per element, the
    // positions of a channel per channel (prepare allowed nothing else).
    int64_t positions(const nrt_tensor &t) const
    {
        return sdk::numel(t) / std::max<int64_t>(t.dims[0] * m_features, 1);
    }

    int64_t m_features;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("features", 1, 1 << 30, "Number of elements in one sample."),
};

const nrt_entry kNormalize = sdk::make_entry<Normalize>(
    NRT_KIND_LAYER, "Normalize", "1.0.0",
    "y = (x - mean) / std per feature; mean and std are buffers saved with the model, not trained.", kParams);

} // namespace

NEURITE_PLUGIN("neurite-layer-normalize", "1.0.0", &kNormalize)
