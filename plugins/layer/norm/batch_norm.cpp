// BatchNorm on oneDNN batch_normalization, for [N, C] and [N, C, ...spatial].
//
// Training normalizes each channel by the mean and (biased) variance of the
// batch, then scales and shifts: dst = weight · (src − μ) / √(σ² + eps) + bias.
// It also moves the running statistics towards the batch's, PyTorch's way:
// running = (1 − momentum) · running + momentum · batch, with the unbiased
// variance. Evaluation normalizes by the running statistics instead. Those
// are buffers (NRT_PARAM_FLAG_BUFFER): the host keeps them with the weights,
// saves them in checkpoints, and no optimizer touches them.
//
// The batch's mean and variance, which backward needs, live in the call's
// workspace. A blocked layout from a oneDNN layer before (nChw16c after a
// convolution) is read and written as it is.
#include "norm_common.hpp"

#include <string>
#include <tuple>

namespace neurite::norm {

namespace {

using nf = dnnl::normalization_flags;

struct BatchNormBuilt : NormBuilt {
    memory batch_mean, batch_variance;
    sdk::BoundPrimitive training, inference, backward, backward_global;
};

class BatchNorm final : public NormLayer<BatchNormBuilt> {
public:
    BatchNorm(sdk::Host host, sdk::Params params, uint64_t)
        : NormLayer(host, params.integer("features")), m_host(host), m_features(params.integer("features")),
          m_momentum(static_cast<float>(params.number("momentum"))), m_eps(static_cast<float>(params.number("eps")))
    {
        const int64_t dims[] = {m_features};
        declare_param("weight", dims);
        declare_param("bias", dims);
        declare_param("running_mean", dims, NRT_PARAM_FLAG_BUFFER);
        declare_param("running_var", dims, NRT_PARAM_FLAG_BUFFER);
    }

    void initialise() override
    {
        std::fill_n(value(kWeight), m_features, 1.0f);
        std::fill_n(value(kBias), m_features, 0.0f);
        std::fill_n(value(kRunningMean), m_features, 0.0f);
        std::fill_n(value(kRunningVar), m_features, 1.0f);
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("BatchNorm", 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sdk::require_src_dims("BatchNorm", dims);
        if (dims.size() < 2 || dims.size() > 5)
            sdk::fail(NRT_ERR_SHAPE, "BatchNorm takes [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W], got input " +
                                         p.src_shape(0));
        if (dims[1] != m_features)
            sdk::fail(NRT_ERR_SHAPE, "BatchNorm: expects " + std::to_string(m_features) +
                                         " channels (features = " + std::to_string(m_features) +
                                         ", dimension 2 of the input), input " + p.src_shape(0));
        // Per channel, any layout: keep a blocked one rather than convert.
        // In f32: a bf16 model offers bf16, and the statistics stay f32.
        const bool keep = dims.size() > 2 && p.src_format(0) != NRT_FORMAT_PLAIN;
        if (keep)
            p.want_src(0, p.src_format(0));
        const int32_t format = keep ? p.src_format(0) : NRT_FORMAT_PLAIN;
        p.add_output(dims, format);
        p.set_workspace(static_cast<uint64_t>(2 * m_features) * sizeof(float)); // batch mean, variance
        if (bound() && product(dims) > 0)
            built_for(dims, format);
    }

    void forward(const sdk::Call &c) override
    {
        const nrt_tensor &src = c.src(0);
        if (sdk::numel(src) == 0)
            return;
        Built &b = built_for(dims_of(src), src.format);
        b.src.set_data_handle(src.data);
        b.dst.set_data_handle(c.dst(0).data);
        if (!c.training()) {
            b.inference.run(m_stream);
            m_stream.wait();
            return;
        }
        const int64_t per_channel = sdk::numel(src) / m_features;
        if (per_channel < 2 && !m_warned_single) {
            // As Keras and TensorFlow do (PyTorch refuses): each value is its
            // channel's mean, so the output is the bias and nothing flows back
            // to the input. Said once, since it is rarely what was meant.
            m_host.warn("BatchNorm: training on one value per channel (input " + sdk::shape_string(src) +
                        ") normalizes every value to 0, so the output is the bias; use a larger batch, or "
                        "evaluation mode");
            m_warned_single = true;
        }
        float *mean = c.workspace(), *variance = mean + m_features;
        b.batch_mean.set_data_handle(mean);
        b.batch_variance.set_data_handle(variance);
        b.training.run(m_stream);
        m_stream.wait();
        update_running_statistics(mean, variance, per_channel);
    }

    void backward(const sdk::Call &c) override
    {
        const nrt_tensor &src = c.src(0);
        if (sdk::numel(src) == 0) {
            clear_grads_unless_accumulating(c);
            return;
        }
        Built &b = built_for(dims_of(src), src.format);
        if (c.training()) {
            b.batch_mean.set_data_handle(c.workspace());
            b.batch_variance.set_data_handle(c.workspace() + m_features);
        }
        // In evaluation the statistics are constants: only scale and shift pass gradients on.
        run_backward(b, c, c.training() ? b.backward : b.backward_global, grad(kWeight), grad(kBias));
    }

private:
    static constexpr int kWeight = 0, kBias = 1, kRunningMean = 2, kRunningVar = 3; // declaration order

    using Built = BatchNormBuilt;

    void update_running_statistics(const float *mean, const float *variance, int64_t per_channel)
    {
        const float keep = 1.0f - m_momentum;
        float *running_mean = value(kRunningMean), *running_var = value(kRunningVar);
        for (int64_t i = 0; i < m_features; ++i)
            running_mean[i] = keep * running_mean[i] + m_momentum * mean[i];
        if (per_channel < 2)
            return; // one value says nothing about the variance
        const float unbiased = static_cast<float>(per_channel) / static_cast<float>(per_channel - 1);
        for (int64_t i = 0; i < m_features; ++i)
            running_var[i] = keep * running_var[i] + m_momentum * variance[i] * unbiased;
    }

    Built &built_for(std::span<const int64_t> dims, int32_t format)
    {
        if (!bound())
            sdk::fail(NRT_ERR_STATE, "BatchNorm: used before the host bound its parameters");
        return m_cache.get(dims, format, [&](std::span<const int64_t> d, int32_t f) {
            return sdk::with_dnnl("BatchNorm: building primitives", [&] { return build(d, f); });
        });
    }

    std::unique_ptr<Built> build(std::span<const int64_t> dims, int32_t format)
    {
        auto b = std::make_unique<Built>();
        const memory::desc data_md = data_desc(dims, format);
        b->bytes = data_md.get_size();
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const nf flags = nf::use_scale | nf::use_shift;
        const nf global = flags | nf::use_global_stats;
        using fwd = dnnl::batch_normalization_forward;
        using bwd = dnnl::batch_normalization_backward;
        const auto training_pd =
            fwd::primitive_desc(fwd::desc(dnnl::prop_kind::forward_training, data_md, m_eps, flags), attr, m_engine);
        const auto inference_pd =
            fwd::primitive_desc(fwd::desc(dnnl::prop_kind::forward_inference, data_md, m_eps, global), attr, m_engine);
        // The hint of a backward with given statistics: a forward with them.
        const auto global_hint_pd =
            fwd::primitive_desc(fwd::desc(dnnl::prop_kind::forward_training, data_md, m_eps, global), attr, m_engine);
        const auto backward_pd = bwd::primitive_desc(bwd::desc(dnnl::prop_kind::backward, data_md, data_md, m_eps, flags),
                                                     attr, m_engine, training_pd);
        const auto backward_global_pd = bwd::primitive_desc(
            bwd::desc(dnnl::prop_kind::backward, data_md, data_md, m_eps, global), attr, m_engine, global_hint_pd);
        b->scratchpad = sdk::scratchpad_for(training_pd, inference_pd, backward_pd, backward_global_pd);

        const memory::desc stat_md = training_pd.mean_desc();
        const int64_t channels[] = {m_features};
        const memory::desc param_md = sdk::plain_desc(channels);
        for (memory *m : {&b->src, &b->dst, &b->diff_dst, &b->diff_src})
            *m = memory(data_md, m_engine, DNNL_MEMORY_NONE);
        for (memory *m : {&b->batch_mean, &b->batch_variance})
            *m = memory(stat_md, m_engine, DNNL_MEMORY_NONE);
        b->diff_scale = memory(param_md, m_engine, DNNL_MEMORY_NONE);
        b->diff_shift = memory(param_md, m_engine, DNNL_MEMORY_NONE);
        const memory scale(param_md, m_engine, value(kWeight)), shift(param_md, m_engine, value(kBias));
        const memory running_mean(stat_md, m_engine, value(kRunningMean));
        const memory running_var(stat_md, m_engine, value(kRunningVar));

        b->training = sdk::BoundPrimitive(dnnl::primitive(training_pd), "BatchNorm", "forward (training)");
        bind_args(b->training, {{DNNL_ARG_SRC, b->src}, {DNNL_ARG_DST, b->dst}, {DNNL_ARG_SCALE, scale},
                           {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, b->batch_mean}, {DNNL_ARG_VARIANCE, b->batch_variance}});
        b->training.scratchpad(training_pd, m_engine, b->scratchpad);
        b->inference = sdk::BoundPrimitive(dnnl::primitive(inference_pd), "BatchNorm", "forward (evaluation)");
        bind_args(b->inference, {{DNNL_ARG_SRC, b->src}, {DNNL_ARG_DST, b->dst}, {DNNL_ARG_SCALE, scale},
                            {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, running_mean}, {DNNL_ARG_VARIANCE, running_var}});
        b->inference.scratchpad(inference_pd, m_engine, b->scratchpad);
        b->backward = sdk::BoundPrimitive(dnnl::primitive(backward_pd), "BatchNorm", "backward");
        b->backward_global = sdk::BoundPrimitive(dnnl::primitive(backward_global_pd), "BatchNorm", "backward (evaluation)");
        for (auto [prim, pd, mean, var] : {std::tuple{&b->backward, &backward_pd, b->batch_mean, b->batch_variance},
                                           std::tuple{&b->backward_global, &backward_global_pd, running_mean, running_var}}) {
            // oneDNN 2.6 counts shift among a backward's inputs too, though it does not read it.
            bind_args(*prim, {{DNNL_ARG_SRC, b->src}, {DNNL_ARG_DIFF_DST, b->diff_dst}, {DNNL_ARG_SCALE, scale},
                              {DNNL_ARG_SHIFT, shift},
                         {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_SRC, b->diff_src},
                         {DNNL_ARG_DIFF_SCALE, b->diff_scale}, {DNNL_ARG_DIFF_SHIFT, b->diff_shift}});
            prim->scratchpad(*pd, m_engine, b->scratchpad);
        }
        return b;
    }

    sdk::Host m_host;
    int64_t m_features;
    float m_momentum, m_eps;
    bool m_warned_single = false;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("features", 1, 1 << 24, "Number of channels C: dimension 2 of the input [N, C, ...]."),
    sdk::float_param("momentum", 0.1, 0.0, 1.0,
                     "How far each training batch moves the running statistics: "
                     "running = (1 - momentum) * running + momentum * batch (PyTorch's convention)."),
    sdk::float_param("eps", 1e-5, 1e-12, 1.0, "Added to the variance before its square root, for stability."),
};

} // namespace

const nrt_entry kBatchNormEntry = sdk::make_entry<BatchNorm>(
    NRT_KIND_LAYER, "BatchNorm", "1.0.0",
    "Batch normalization per channel of [N, C] or [N, C, H, W], with running statistics for evaluation", kParams);

} // namespace neurite::norm
