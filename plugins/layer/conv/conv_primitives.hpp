// The oneDNN primitives of one convolution for one input shape and format,
// built once in prepare and run by forward and backward without allocating:
// memories whose data handles each call points at its tensors, the weight
// reorders between the host's plain layout and the primitives' own, and
// one scratchpad for all of them (they never run at once).
#ifndef NEURITE_PLUGINS_CONV_PRIMITIVES_HPP
#define NEURITE_PLUGINS_CONV_PRIMITIVES_HPP

#include "conv_activation.hpp"

#include "../common/spatial.hpp"

#include <neurite/plugin_dnnl.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace neurite::conv {

namespace sp = neurite::spatial;
using dnnl::memory;

// What a convolution layer is, independent of its input's size.
struct ConvShape {
    const char *name = "Conv2D"; // a literal, for errors
    bool transposed = false;     // ConvTranspose2D
    int64_t in = 0, out = 0, groups = 1;
    sp::Window window;
    sp::Hw output_padding;       // transposed only: added at the bottom and right
    bool bias = true;
    // Multiply bfloat16 copies of the input, weights and output gradient
    // (sums, outputs and gradients stay f32): AMX runs these several times
    // faster than f32 FMAs.
    bool bf16 = false;
    bool follows_model = false; // precision = "auto": bf16 in a bf16 model
    // A bf16 convolution in a bf16 model reads its input and writes its
    // output (and their gradients) in bf16, so consecutive bf16 layers
    // exchange bf16 tensors without converting to f32 in between; outside
    // a bf16 model it reads and writes f32 around its bf16 copies.
    bool exchange_bf16 = false;

    // oneDNN's weight dims: {K, C, kh, kw}, or {g, K/g, C/g, kh, kw} with
    // groups, for both kinds. The host keeps PyTorch's layouts: a
    // convolution's {K, C/g, kh, kw} is that memory as it is (oihw, goihw);
    // a transposed one's {C, K/g, kh, kw} has in and out swapped (iohw, giohw).
    memory::dims weight_dims() const
    {
        const sp::Hw k = window.kernel;
        if (groups == 1)
            return {out, in, k.h, k.w};
        return {groups, out / groups, in / groups, k.h, k.w};
    }
    memory::desc plain_weights() const
    {
        using tag = memory::format_tag;
        const tag plain = transposed ? (groups == 1 ? tag::iohw : tag::giohw) : (groups == 1 ? tag::oihw : tag::goihw);
        return memory::desc(weight_dims(), memory::data_type::f32, plain);
    }
};

// The three primitive descriptors of a convolution or of its transpose, as
// oneDNN chose their layouts, and the f32 layout the layer reads its input
// in (the forward's own, or when it multiplies bf16 copies of an f32 input
// that input's layout in f32).
struct ConvPds {
    dnnl::primitive_desc forward, backward_data, backward_weights;
    memory::desc src;
};

class FewChannelConv;

class ConvPrimitives {
public:
    std::vector<int64_t> dims; // the input's
    int32_t offered = NRT_FORMAT_PLAIN, src_format = NRT_FORMAT_PLAIN, dst_format = NRT_FORMAT_PLAIN;
    bool bf16 = false; // multiplies bf16 copies
    bool exchange_bf16 = false; // reads and writes bf16 tensors
    memory::desc dst_md;
    // What forward keeps for its backward: the pre-activation of an unfused
    // activation, then (bf16) the input's bf16 copy.
    uint64_t workspace_bytes = 0;

    // Computes the forward and the weight gradient instead of oneDNN
    // (few_channels.hpp), when set.
    std::unique_ptr<FewChannelConv> few;

    ConvPrimitives(const ConvShape &shape, const Activation &act, const ConvPds &pds, const dnnl::engine &engine);
    ~ConvPrimitives();

    void forward(const sdk::Call &c, const float *weights, const float *bias, dnnl::stream &s);
    void backward(const sdk::Call &c, const float *weights, float *weights_grad, float *bias_grad,
                  dnnl::stream &s);

private:
    void build_forward(const ConvPds &pds, const ActivationPds *act);
    void build_backward(const ConvPds &pds);
    // A primitive of pd with the shared scratchpad bound.
    sdk::BoundPrimitive bound(dnnl::primitive primitive, const dnnl::primitive_desc_base &pd, const char *what) const;
    // A reorder from `from` to `to`; with add, `to` += `from`.
    sdk::BoundPrimitive reorder(const memory &from, const memory &to, bool add) const;
    // Memory in layout md: `plain` itself when md is its layout, else one
    // in `buffer`, and the reorder from plain into it.
    memory in_layout(const memory::desc &md, const memory &plain, sdk::Buffer &buffer,
                     sdk::BoundPrimitive &reorder_into);

    const char *m_name;
    const Activation &m_act;
    bool m_bias;
    int64_t m_channels;
    dnnl::engine m_engine;
    sdk::Buffer m_scratchpad, m_fwd_weights_buf, m_bwd_weights_buf, m_diff_weights_buf, m_diff_bias_buf, m_diff_pre_buf;
    sdk::Buffer m_diff_low_buf;
    memory m_scratch;
    memory m_src, m_dst, m_pre, m_diff_dst, m_diff_pre, m_diff_src;
    // What the convolution multiplies: m_src and m_diff_pre in f32, their
    // bf16 copies otherwise (the input's in the workspace, at m_low_offset).
    memory m_src_low, m_diff_low;
    bool m_low = false;
    uint64_t m_low_offset = 0;
    memory m_user_weights, m_user_grad, m_bias_mem;
    sdk::BoundPrimitive m_fwd, m_act_fwd, m_act_bwd, m_bwd_data, m_bwd_weights;
    sdk::BoundPrimitive m_weights_to_fwd, m_weights_to_bwd, m_grad_write, m_grad_add, m_src_to_low, m_diff_to_low;
};

// The primitives of a convolution, or of its transpose, over an input of
// `dims` offered in `offered`:
// oneDNN chooses every layout, unless it chooses one the ABI cannot name,
// then the input's own format and plain output are used. A convolution of
// few input channels (FewChannelConv::fits) reads its input plain and
// writes its output as the next convolution would read it; threads is the
// most its own passes split into.
std::unique_ptr<ConvPrimitives> build_conv(const ConvShape &shape, const Activation &act,
                                           std::span<const int64_t> dims, int32_t offered, const sp::Geometry &g,
                                           const dnnl::engine &engine, int threads);

} // namespace neurite::conv

#endif // NEURITE_PLUGINS_CONV_PRIMITIVES_HPP
