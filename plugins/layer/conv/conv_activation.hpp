// The activations a convolution applies to its output, and how each is
// computed: fused into the convolution as a oneDNN post-op and
// differentiated from the output (relu, sigmoid, tanh, elu), or run as a
// separate eltwise primitive on the pre-activation, which the forward keeps
// in the workspace (softplus, gelu, swish).
#ifndef NEURITE_PLUGINS_CONV_ACTIVATION_HPP
#define NEURITE_PLUGINS_CONV_ACTIVATION_HPP

#include <neurite/plugin_dnnl.hpp>

#include <string>

namespace neurite::conv {

namespace sdk = neurite::sdk;

struct Activation {
    const char *name;
    dnnl::algorithm forward;  // the post-op, or the separate forward primitive
    dnnl::algorithm backward; // fused: a *_use_dst_for_bwd algorithm on the output
    bool fused;
    float alpha;
    bool identity() const { return forward == dnnl::algorithm::undef; }
};

inline const Activation &find_activation(const char *layer, const std::string &name)
{
    using dnnl::algorithm;
    static constexpr Activation table[] = {
        {"identity", algorithm::undef, algorithm::undef, true, 0.0f},
        {"relu", algorithm::eltwise_relu, algorithm::eltwise_relu_use_dst_for_bwd, true, 0.0f},
        {"sigmoid", algorithm::eltwise_logistic, algorithm::eltwise_logistic_use_dst_for_bwd, true, 0.0f},
        {"tanh", algorithm::eltwise_tanh, algorithm::eltwise_tanh_use_dst_for_bwd, true, 0.0f},
        {"elu", algorithm::eltwise_elu, algorithm::eltwise_elu_use_dst_for_bwd, true, 1.0f},
        {"softplus", algorithm::eltwise_soft_relu, algorithm::eltwise_soft_relu, false, 0.0f},
        {"gelu", algorithm::eltwise_gelu_erf, algorithm::eltwise_gelu_erf, false, 0.0f},
        {"swish", algorithm::eltwise_swish, algorithm::eltwise_swish, false, 1.0f},
    };
    for (const Activation &a : table)
        if (name == a.name)
            return a;
    sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(layer) + ": unknown activation '" + name + "'");
}

constexpr const char *kActivationChoices = "identity|relu|sigmoid|tanh|elu|softplus|gelu|swish";

// The pair of eltwise primitives that differentiate (and, unfused, compute)
// the activation, on the output's descriptor md.
struct ActivationPds {
    dnnl::eltwise_forward::primitive_desc forward; // fused: only the backward's hint
    dnnl::eltwise_backward::primitive_desc backward;
};

inline ActivationPds activation_pds(const Activation &a, const dnnl::memory::desc &md, const dnnl::engine &engine,
                                    const dnnl::primitive_attr &attr)
{
    // A fused activation's backward reads dst, so its hint uses the same
    // dst-based algorithm; it is never run.
    const dnnl::algorithm fwd_alg = a.fused ? a.backward : a.forward;
    dnnl::eltwise_forward::primitive_desc fwd({dnnl::prop_kind::forward_training, fwd_alg, md, a.alpha, 0.0f},
                                              attr, engine);
    dnnl::eltwise_backward::primitive_desc bwd({a.backward, md, md, a.alpha, 0.0f}, attr, engine, fwd);
    return {fwd, bwd};
}

} // namespace neurite::conv

#endif // NEURITE_PLUGINS_CONV_ACTIVATION_HPP
