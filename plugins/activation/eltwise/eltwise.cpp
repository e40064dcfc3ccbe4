// Element-wise activations on oneDNN eltwise primitives.
//
// The tensor is viewed as one flat 1-D array of f32: an element-wise function
// does not care about the layout, and one flat descriptor serves every rank.
// Primitives and memory objects are built once per shape in prepare();
// forward and backward only swap data handles and execute, so a steady-state
// step allocates nothing on our side.

#include <neurite/plugin_dnnl.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.0.0";

// What distinguishes one eltwise activation from another.
struct EltwiseOp {
    dnnl::algorithm algorithm;
    float alpha;
    float beta;
    // *_use_dst_for_bwd algorithms compute the derivative from dst, which is
    // cheaper (no exp again) and is what the lecture's formulas use.
    bool backward_uses_dst;
};

class Eltwise : public sdk::Layer {
public:
    void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) override
    {
        sdk::require_src_dims(m_name, src_dims);
        // A failed prepare must not leave primitives for an older shape usable.
        m_shape.reset();
        int64_t n = 1;
        for (int64_t d : src_dims)
            n *= d;
        if (n > 0)
            build(n);
        m_shape.assign(src_dims);
        dst_dims.assign(src_dims.begin(), src_dims.end());
    }

    void forward(const nrt_tensor &src, nrt_tensor &dst, bool) override
    {
        m_shape.check(m_name, src, "src");
        m_shape.check(m_name, dst, "dst");
        if (m_shape.numel() == 0)
            return;
        // oneDNN only reads src; the handle is non-const by API.
        m_src.set_data_handle(src.data);
        m_dst.set_data_handle(dst.data);
        m_fwd.run(m_stream);
        m_stream.wait();
    }

    void backward(const nrt_tensor &src, const nrt_tensor &dst, const nrt_tensor &diff_dst,
                  nrt_tensor *diff_src) override
    {
        if (!diff_src)
            return; // no parameters, so nothing else to compute
        const nrt_tensor &data = m_op.backward_uses_dst ? dst : src;
        m_shape.check(m_name, data, m_op.backward_uses_dst ? "dst" : "src");
        m_shape.check(m_name, diff_dst, "diff_dst");
        m_shape.check(m_name, *diff_src, "diff_src");
        if (m_shape.numel() == 0)
            return;
        (m_op.backward_uses_dst ? m_dst : m_src).set_data_handle(data.data);
        m_diff_dst.set_data_handle(diff_dst.data);
        m_diff_src.set_data_handle(diff_src->data);
        m_bwd.run(m_stream);
        m_stream.wait();
    }

protected:
    Eltwise(const sdk::Host &host, const char *name, EltwiseOp op)
        : m_name(name), m_op(op), m_engine(sdk::dnnl_engine(host)),
          m_stream(sdk::dnnl_stream(host))
    {
    }

private:
    void build(int64_t n)
    {
        sdk::with_dnnl(m_name, [&] {
            const dnnl::memory::desc md({n}, dnnl::memory::data_type::f32,
                                        dnnl::memory::format_tag::a);
            // A user scratchpad keeps oneDNN from allocating one per execute.
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

            const dnnl::eltwise_forward::desc fwd_desc(dnnl::prop_kind::forward_training,
                                                       m_op.algorithm, md, m_op.alpha, m_op.beta);
            const dnnl::eltwise_forward::primitive_desc fwd_pd(fwd_desc, attr, m_engine);
            const dnnl::eltwise_backward::desc bwd_desc(m_op.algorithm, md, md, m_op.alpha,
                                                        m_op.beta);
            const dnnl::eltwise_backward::primitive_desc bwd_pd(bwd_desc, attr, m_engine, fwd_pd);

            // Forward and backward never run at once, so they share one buffer.
            sdk::Buffer scratchpad = sdk::scratchpad_for(fwd_pd, bwd_pd);

            m_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);

            m_fwd = sdk::BoundPrimitive(dnnl::eltwise_forward(fwd_pd), m_name, "eltwise forward");
            m_fwd.arg(DNNL_ARG_SRC, m_src);
            m_fwd.arg(DNNL_ARG_DST, m_dst);
            m_fwd.scratchpad(fwd_pd, m_engine, scratchpad);

            m_bwd = sdk::BoundPrimitive(dnnl::eltwise_backward(bwd_pd), m_name, "eltwise backward");
            if (m_op.backward_uses_dst)
                m_bwd.arg(DNNL_ARG_DST, m_dst);
            else
                m_bwd.arg(DNNL_ARG_SRC, m_src);
            m_bwd.arg(DNNL_ARG_DIFF_DST, m_diff_dst);
            m_bwd.arg(DNNL_ARG_DIFF_SRC, m_diff_src);
            m_bwd.scratchpad(bwd_pd, m_engine, scratchpad);
            // The old buffer is freed only now, after the memories that pointed
            // into it were replaced.
            m_scratchpad = std::move(scratchpad);
        });
    }

    const char *m_name;
    EltwiseOp m_op;
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    sdk::PreparedShape m_shape;

    sdk::BoundPrimitive m_fwd;
    sdk::BoundPrimitive m_bwd;
    dnnl::memory m_src, m_dst, m_diff_dst, m_diff_src;
    sdk::Buffer m_scratchpad;
};

// ---------------------------------------------------------------- entries

class Identity final : public Eltwise {
public:
    Identity(sdk::Host host, sdk::Params, uint64_t)
        : Eltwise(host, "Identity", {dnnl::algorithm::eltwise_linear, 1.0f, 0.0f, false})
    {
    }
};

class Sigmoid final : public Eltwise {
public:
    Sigmoid(sdk::Host host, sdk::Params, uint64_t)
        : Eltwise(host, "Sigmoid",
                  {dnnl::algorithm::eltwise_logistic_use_dst_for_bwd, 0.0f, 0.0f, true})
    {
    }
};

class Tanh final : public Eltwise {
public:
    Tanh(sdk::Host host, sdk::Params, uint64_t)
        : Eltwise(host, "Tanh", {dnnl::algorithm::eltwise_tanh_use_dst_for_bwd, 0.0f, 0.0f, true})
    {
    }
};

class ReLU final : public Eltwise {
public:
    ReLU(sdk::Host host, sdk::Params, uint64_t)
        : Eltwise(host, "ReLU", {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, 0.0f, 0.0f, true})
    {
    }
};

// oneDNN's relu takes the negative slope as alpha; with alpha >= 0 the sign
// of dst equals the sign of src, so the dst-based backward is exact.
class LeakyReLU final : public Eltwise {
public:
    LeakyReLU(sdk::Host host, sdk::Params params, uint64_t)
        : Eltwise(host, "LeakyReLU",
                  {dnnl::algorithm::eltwise_relu_use_dst_for_bwd,
                   static_cast<float>(params.number("negative_slope")), 0.0f, true})
    {
    }
};

class ELU final : public Eltwise {
public:
    ELU(sdk::Host host, sdk::Params params, uint64_t)
        : Eltwise(host, "ELU",
                  {dnnl::algorithm::eltwise_elu_use_dst_for_bwd,
                   static_cast<float>(params.number("alpha")), 0.0f, true})
    {
    }
};

class SoftPlus final : public Eltwise {
public:
    SoftPlus(sdk::Host host, sdk::Params, uint64_t)
        : Eltwise(host, "SoftPlus", {dnnl::algorithm::eltwise_soft_relu, 0.0f, 0.0f, false})
    {
    }
};

// The exact erf form by default, as PyTorch's and Keras's GELU: the tanh
// approximation differs by up to 5e-4 in value (near x = -2.7) and 9e-4 in
// slope, which a layer or two turn into visible differences from PyTorch.
dnnl::algorithm gelu_algorithm(const sdk::Params &params)
{
    return params.choice("approximate", "none|tanh") == "tanh" ? dnnl::algorithm::eltwise_gelu_tanh
                                                               : dnnl::algorithm::eltwise_gelu_erf;
}

class GELU final : public Eltwise {
public:
    GELU(sdk::Host host, sdk::Params params, uint64_t)
        : Eltwise(host, "GELU", {gelu_algorithm(params), 0.0f, 0.0f, false})
    {
    }
};

// oneDNN's swish is x * sigmoid(alpha * x); our beta is its alpha.
class Swish final : public Eltwise {
public:
    Swish(sdk::Host host, sdk::Params params, uint64_t)
        : Eltwise(host, "Swish",
                  {dnnl::algorithm::eltwise_swish, static_cast<float>(params.number("beta")), 0.0f,
                   false})
    {
    }
};

const nrt_param_spec kLeakyReLUParams[] = {
    sdk::float_param("negative_slope", 0.01, 0.0, 1.0,
                     "Slope of the function for negative inputs."),
};

// The schema has inclusive bounds only; 1e-6 stands in for "greater than 0".
const nrt_param_spec kELUParams[] = {
    sdk::float_param("alpha", 1.0, 1e-6, 100.0,
                     "Positive value that ELU approaches for very negative inputs, negated."),
};

const nrt_param_spec kGELUParams[] = {
    sdk::choice_param("approximate", "none", "none|tanh",
                      "How the Gaussian CDF is computed: none = exactly, with erf (PyTorch's "
                      "and Keras's default), or tanh = the tanh approximation."),
};

const nrt_param_spec kSwishParams[] = {
    sdk::float_param("beta", 1.0, 0.0, 100.0,
                     "Scale of x inside the sigmoid; 1 gives SiLU, large values approach ReLU."),
};

const nrt_entry kIdentity = sdk::make_entry<Identity>(
    NRT_KIND_ACTIVATION, "Identity", kVersion, "Identity: f(x) = x, f' = 1");
const nrt_entry kSigmoid = sdk::make_entry<Sigmoid>(
    NRT_KIND_ACTIVATION, "Sigmoid", kVersion, "Sigmoid: f(x) = 1/(1+e^-x), f' = f(1-f)");
const nrt_entry kTanh = sdk::make_entry<Tanh>(
    NRT_KIND_ACTIVATION, "Tanh", kVersion,
    "Tanh: f(x) = (e^x - e^-x)/(e^x + e^-x), f' = 1 - f^2");
const nrt_entry kReLU = sdk::make_entry<ReLU>(
    NRT_KIND_ACTIVATION, "ReLU", kVersion, "ReLU: f(x) = max(0, x), f' = 1 if x > 0 else 0");
const nrt_entry kLeakyReLU = sdk::make_entry<LeakyReLU>(
    NRT_KIND_ACTIVATION, "LeakyReLU", kVersion,
    "LeakyReLU: f(x) = x if x > 0 else negative_slope*x, f' = 1 if x > 0 else negative_slope",
    kLeakyReLUParams);
const nrt_entry kELU = sdk::make_entry<ELU>(
    NRT_KIND_ACTIVATION, "ELU", kVersion,
    "ELU: f(x) = x if x > 0 else alpha*(e^x - 1), f' = 1 if x > 0 else f + alpha", kELUParams);
const nrt_entry kSoftPlus = sdk::make_entry<SoftPlus>(
    NRT_KIND_ACTIVATION, "SoftPlus", kVersion,
    "SoftPlus: f(x) = ln(1 + e^x), f' = 1/(1+e^-x)");
const nrt_entry kGELU = sdk::make_entry<GELU>(
    NRT_KIND_ACTIVATION, "GELU", kVersion,
    "GELU: f(x) = x*Phi(x) with Phi the Gaussian CDF (exact erf, or the tanh approximation), "
    "f' = Phi(x) + x*phi(x)",
    kGELUParams);
const nrt_entry kSwish = sdk::make_entry<Swish>(
    NRT_KIND_ACTIVATION, "Swish", kVersion,
    "Swish: f(x) = x*s with s = 1/(1+e^(-beta*x)), f' = s + beta*x*s(1-s)", kSwishParams);

} // namespace

NEURITE_PLUGIN("neurite-activation-eltwise", kVersion, &kIdentity, &kSigmoid, &kTanh, &kReLU,
               &kLeakyReLU, &kELU, &kSoftPlus, &kGELU, &kSwish)
