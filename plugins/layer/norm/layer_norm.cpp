// LayerNorm on oneDNN layer_normalization.
//
// nn.LayerNorm{shape = {4, 5}} normalizes each sample over its last
// dimensions, which must be [4, 5], by their own mean and (biased) variance,
// then scales and shifts per element: weight and bias have that shape, as in
// PyTorch's LayerNorm(normalized_shape). Training and evaluation compute the
// same thing. oneDNN normalizes over the last dimension of a plain tensor,
// and the last dimensions of a plain tensor are contiguous, so an input
// [..., 4, 5] is viewed as [rows, 20]; the statistics of each row go in the
// call's workspace for backward.
#include "norm_common.hpp"

#include <cmath>
#include <string>

namespace neurite::norm {

namespace {

using nf = dnnl::normalization_flags;

std::string list_text(std::span<const int64_t> dims)
{
    std::string s = "{";
    for (size_t i = 0; i < dims.size(); ++i)
        s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "}";
}

// The normalized shape, whole numbers of at least 1, leaving room for a batch dimension.
std::vector<int64_t> normalized_shape(std::span<const double> list)
{
    if (list.empty() || list.size() >= NRT_MAX_DIMS)
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "LayerNorm: shape must hold 1 to " + std::to_string(NRT_MAX_DIMS - 1) +
                                                " dimensions, got " + std::to_string(list.size()));
    std::vector<int64_t> dims;
    for (double d : list) {
        if (!(d >= 1) || d != std::floor(d) || d > (1 << 24))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, "LayerNorm: shape holds " + sdk::number_text(d) +
                                                    "; its dimensions are whole numbers from 1");
        dims.push_back(static_cast<int64_t>(d));
    }
    return dims;
}

struct LayerNormBuilt : NormBuilt {
    memory mean, variance;
    sdk::BoundPrimitive forward, backward;
};

class LayerNorm final : public NormLayer<LayerNormBuilt> {
public:
    LayerNorm(sdk::Host host, sdk::Params params, uint64_t)
        : LayerNorm(host, normalized_shape(params.list("shape")), static_cast<float>(params.number("eps")))
    {
    }

    LayerNorm(const sdk::Host &host, std::vector<int64_t> shape, float eps)
        : NormLayer(host, product(shape)), m_shape(std::move(shape)), m_width(product(m_shape)), m_eps(eps)
    {
        declare_param("weight", m_shape);
        declare_param("bias", m_shape);
    }

    void initialise() override
    {
        std::fill_n(value(kWeight), m_width, 1.0f);
        std::fill_n(value(kBias), m_width, 0.0f);
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("LayerNorm", 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sdk::require_src_dims("LayerNorm", dims);
        const size_t k = m_shape.size();
        const bool fits = dims.size() > k && std::equal(m_shape.begin(), m_shape.end(), dims.end() - static_cast<long>(k));
        if (!fits)
            sdk::fail(NRT_ERR_SHAPE, "LayerNorm: normalizes over the last dimensions " + sdk::shape_string(m_shape) +
                                         " (shape = " + list_text(m_shape) + ") after a batch dimension, input " +
                                         p.src_shape(0));
        p.add_output(dims);
        const int64_t rows = product(dims) / m_width;
        p.set_workspace(static_cast<uint64_t>(2 * rows) * sizeof(float)); // mean, variance per row
        if (bound() && rows > 0)
            built_for(rows);
    }

    void forward(const sdk::Call &c) override
    {
        const int64_t rows = sdk::numel(c.src(0)) / m_width;
        if (rows == 0)
            return;
        Built &b = built_for(rows);
        b.src.set_data_handle(c.src(0).data);
        b.dst.set_data_handle(c.dst(0).data);
        b.mean.set_data_handle(c.workspace());
        b.variance.set_data_handle(c.workspace() + rows);
        b.forward.run(m_stream);
        m_stream.wait();
    }

    void backward(const sdk::Call &c) override
    {
        const int64_t rows = sdk::numel(c.src(0)) / m_width;
        if (rows == 0) {
            clear_grads_unless_accumulating(c);
            return;
        }
        Built &b = built_for(rows);
        b.mean.set_data_handle(c.workspace());
        b.variance.set_data_handle(c.workspace() + rows);
        run_backward(b, c, b.backward, grad(kWeight), grad(kBias));
    }

private:
    static constexpr int kWeight = 0, kBias = 1;

    using Built = LayerNormBuilt;

    Built &built_for(int64_t rows)
    {
        if (!bound())
            sdk::fail(NRT_ERR_STATE, "LayerNorm: used before the host bound its parameters");
        const int64_t key[] = {rows, m_width};
        return m_cache.get(key, NRT_FORMAT_PLAIN, [&](std::span<const int64_t> d, int32_t) {
            return sdk::with_dnnl("LayerNorm: building primitives", [&] { return build(d[0]); });
        });
    }

    std::unique_ptr<Built> build(int64_t rows)
    {
        auto b = std::make_unique<Built>();
        const int64_t data_dims[] = {rows, m_width}, stat_dims[] = {rows}, param_dims[] = {m_width};
        const memory::desc data_md = sdk::plain_desc(data_dims), stat_md = sdk::plain_desc(stat_dims);
        const memory::desc param_md = sdk::plain_desc(param_dims);
        b->bytes = data_md.get_size();
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const nf flags = nf::use_scale | nf::use_shift;
        using fwd = dnnl::layer_normalization_forward;
        using bwd = dnnl::layer_normalization_backward;
        const auto forward_pd = fwd::primitive_desc(
            fwd::desc(dnnl::prop_kind::forward_training, data_md, stat_md, m_eps, flags), attr, m_engine);
        const auto backward_pd = bwd::primitive_desc(
            bwd::desc(dnnl::prop_kind::backward, data_md, data_md, stat_md, m_eps, flags), attr, m_engine, forward_pd);
        b->scratchpad = sdk::scratchpad_for(forward_pd, backward_pd);
        for (memory *m : {&b->src, &b->dst, &b->diff_dst, &b->diff_src})
            *m = memory(data_md, m_engine, DNNL_MEMORY_NONE);
        b->mean = memory(stat_md, m_engine, DNNL_MEMORY_NONE);
        b->variance = memory(stat_md, m_engine, DNNL_MEMORY_NONE);
        b->diff_scale = memory(param_md, m_engine, DNNL_MEMORY_NONE);
        b->diff_shift = memory(param_md, m_engine, DNNL_MEMORY_NONE);
        const memory scale(param_md, m_engine, value(kWeight)), shift(param_md, m_engine, value(kBias));

        b->forward = sdk::BoundPrimitive(dnnl::primitive(forward_pd), "LayerNorm", "forward");
        bind_args(b->forward, {{DNNL_ARG_SRC, b->src}, {DNNL_ARG_DST, b->dst}, {DNNL_ARG_SCALE, scale},
                               {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, b->mean}, {DNNL_ARG_VARIANCE, b->variance}});
        b->forward.scratchpad(forward_pd, m_engine, b->scratchpad);
        b->backward = sdk::BoundPrimitive(dnnl::primitive(backward_pd), "LayerNorm", "backward");
        // oneDNN 2.6 counts shift among a backward's inputs too, though it does not read it.
        bind_args(b->backward, {{DNNL_ARG_SRC, b->src}, {DNNL_ARG_DIFF_DST, b->diff_dst}, {DNNL_ARG_SCALE, scale},
                                {DNNL_ARG_SHIFT, shift},
                                {DNNL_ARG_MEAN, b->mean}, {DNNL_ARG_VARIANCE, b->variance},
                                {DNNL_ARG_DIFF_SRC, b->diff_src}, {DNNL_ARG_DIFF_SCALE, b->diff_scale},
                                {DNNL_ARG_DIFF_SHIFT, b->diff_shift}});
        b->backward.scratchpad(backward_pd, m_engine, b->scratchpad);
        return b;
    }

    std::vector<int64_t> m_shape;
    int64_t m_width; // values normalized together
    float m_eps;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_list_param("shape", 1, 1 << 24,
                             "The last dimensions of each sample to normalize over, e.g. {64} or {4, 5}; "
                             "weight and bias have this shape."),
    sdk::float_param("eps", 1e-5, 1e-12, 1.0, "Added to the variance before its square root, for stability."),
};

} // namespace

const nrt_entry kLayerNormEntry = sdk::make_entry<LayerNorm>(
    NRT_KIND_LAYER, "LayerNorm", "1.0.0",
    "Layer normalization over each sample's last dimensions, with a learned scale and shift", kParams);

} // namespace neurite::norm
