// Element-wise activations on oneDNN eltwise primitives.
//
// The tensor is viewed as one flat 1-D array of f32: an element-wise function
// does not care about the layout, and one flat descriptor serves every rank.
// sdk::DnnlActivation builds the primitives once per shape and runs them.

#include <neurite/plugin_dnnl.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.1.0";

// What distinguishes one eltwise activation from another.
struct EltwiseOp {
    dnnl::algorithm algorithm;
    float alpha;
    float beta;
    // *_use_dst_for_bwd algorithms compute the derivative from dst, which is
    // cheaper (no exp again) and is what the lecture's formulas use.
    bool backward_uses_dst;
};

class Eltwise : public sdk::DnnlActivation {
protected:
    Eltwise(const sdk::Host &host, const char *name, EltwiseOp op)
        : DnnlActivation(host, name, op.backward_uses_dst ? BackwardReads::Dst : BackwardReads::Src, nullptr,
                         Layouts::Any),
          m_op(op), m_small(small_form(op.algorithm))
    {
    }

private:
    // The algorithms with a plain-loop form (plugin_eltwise.hpp): those whose
    // backward reads dst, and the linear one, whose backward reads nothing.
    static std::optional<sdk::EltwiseFn> small_form(dnnl::algorithm a)
    {
        switch (a) {
        case dnnl::algorithm::eltwise_linear: return sdk::EltwiseFn::Linear;
        case dnnl::algorithm::eltwise_relu_use_dst_for_bwd: return sdk::EltwiseFn::ReLU;
        case dnnl::algorithm::eltwise_logistic_use_dst_for_bwd: return sdk::EltwiseFn::Logistic;
        case dnnl::algorithm::eltwise_tanh_use_dst_for_bwd: return sdk::EltwiseFn::Tanh;
        case dnnl::algorithm::eltwise_elu_use_dst_for_bwd: return sdk::EltwiseFn::ELU;
        default: return std::nullopt;
        }
    }

    bool forward_small(const float *src, float *dst, int64_t count) const override
    {
        if (m_small)
            sdk::eltwise_forward(*m_small, m_op.alpha, m_op.beta, src, dst, count);
        return m_small.has_value();
    }

    bool backward_small(const float *src_or_dst, const float *diff_dst, float *diff_src, int64_t count) const override
    {
        if (m_small)
            sdk::eltwise_backward_from_dst(*m_small, m_op.alpha, src_or_dst, diff_dst, diff_src, count);
        return m_small.has_value();
    }

    // Plain memory as one flat array; a blocked layout as it is, so that
    // oneDNN keeps the padding of its blocks at zero.
    // Every eltwise function runs in bf16 in a bf16 model (oneDNN computes
    // inside in f32 and rounds once per element).
    bool computes_bf16() const override { return true; }

    Primitives describe(std::span<const int64_t> src_dims, int32_t format, const dnnl::engine &engine,
                        const dnnl::primitive_attr &attr) const override
    {
        return describe(src_dims, format, NRT_DTYPE_F32, engine, attr);
    }

    Primitives describe(std::span<const int64_t> src_dims, int32_t format, nrt_dtype dtype,
                        const dnnl::engine &engine, const dnnl::primitive_attr &attr) const override
    {
        int64_t n = 1;
        for (int64_t d : src_dims)
            n *= d;
        const auto type = dtype == NRT_DTYPE_BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
        const dnnl::memory::desc md =
            format == NRT_FORMAT_PLAIN
                ? dnnl::memory::desc({n}, type, dnnl::memory::format_tag::a)
                : dnnl::memory::desc(dnnl::memory::dims(src_dims.begin(), src_dims.end()), type,
                                     static_cast<dnnl::memory::format_tag>(format));
        const dnnl::eltwise_forward::primitive_desc fwd_pd(
            {dnnl::prop_kind::forward_training, m_op.algorithm, md, m_op.alpha, m_op.beta}, attr, engine);
        const dnnl::eltwise_backward::primitive_desc bwd_pd(
            {m_op.algorithm, md, md, m_op.alpha, m_op.beta}, attr, engine, fwd_pd);
        return {md, fwd_pd, bwd_pd};
    }

    EltwiseOp m_op;
    std::optional<sdk::EltwiseFn> m_small;
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
