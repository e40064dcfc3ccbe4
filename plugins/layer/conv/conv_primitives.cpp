#include "conv_primitives.hpp"

#include "few_channels.hpp"

#include <algorithm>
#include <type_traits>

namespace neurite::conv {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

dnnl::primitive_attr user_scratchpad()
{
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

memory::desc any_desc(const memory::dims &dims, memory::data_type type = memory::data_type::f32)
{
    return memory::desc(dims, type, memory::format_tag::any);
}

memory::data_type multiplied(const ConvShape &shape)
{
    return shape.bf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

// oneDNN counts dilation from 0 (no gap between taps); the schema from 1.
memory::dims dilates(const sp::Window &w) { return {w.dilation.h - 1, w.dilation.w - 1}; }

// The forward primitive descriptor of a convolution (Fwd =
// dnnl::convolution_forward) or of its transpose (deconvolution_forward),
// whose descriptors take the same arguments.
template <class Fwd>
typename Fwd::primitive_desc forward_pd(const ConvShape &shape, const Activation &act, const memory::desc &src,
                                        const memory::desc &dst, const sp::Geometry &g, const dnnl::engine &engine,
                                        algorithm alg)
{
    dnnl::primitive_attr attr = user_scratchpad();
    if (act.fused && !act.identity()) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, act.forward, act.alpha, 0.0f);
        attr.set_post_ops(ops);
    }
    const memory::desc weights = any_desc(shape.weight_dims(), multiplied(shape));
    const sp::Window &w = shape.window;
    if (shape.bias)
        return typename Fwd::primitive_desc(
            typename Fwd::desc(prop_kind::forward_training, alg, src, weights,
                               memory::desc({shape.out}, memory::data_type::f32, memory::format_tag::x), dst,
                               sp::dnnl_hw(w.stride), dilates(w), sp::dnnl_hw(g.pads.begin), sp::dnnl_hw(g.pads.end)),
            attr, engine);
    return typename Fwd::primitive_desc(typename Fwd::desc(prop_kind::forward_training, alg, src, weights, dst,
                                                           sp::dnnl_hw(w.stride), dilates(w),
                                                           sp::dnnl_hw(g.pads.begin), sp::dnnl_hw(g.pads.end)),
                                        attr, engine);
}

// The Winograd forward of a convolution whose direct forward is `direct`,
// when oneDNN has one that reads, writes and keeps its weights in the same
// layouts (so the backward passes, direct, share them); else `direct`. On
// AVX-512 it exists for 3x3 stride-1 f32 windows over blocked channels:
// cnn_b64's second convolution ran its forward in 530 instead of 790 us. Its
// backward passes were slower than the direct ones (1050 against 775 us for
// the data, 925 against 805 for the weights), so they stay direct.
dnnl::convolution_forward::primitive_desc faster_forward(const dnnl::convolution_forward::primitive_desc &direct,
                                                         const ConvShape &shape, const Activation &act,
                                                         const sp::Geometry &g, const dnnl::engine &engine)
{
    if (shape.bf16 || shape.window.kernel.h != 3 || shape.window.kernel.w != 3)
        return direct;
    try {
        auto winograd = forward_pd<dnnl::convolution_forward>(shape, act, direct.src_desc(), direct.dst_desc(), g,
                                                              engine, algorithm::convolution_winograd);
        if (winograd.weights_desc() == direct.weights_desc())
            return winograd;
    } catch (const dnnl::error &) { // none for this shape or this CPU
    }
    return direct;
}

dnnl::deconvolution_forward::primitive_desc faster_forward(const dnnl::deconvolution_forward::primitive_desc &direct,
                                                           const ConvShape &, const Activation &,
                                                           const sp::Geometry &, const dnnl::engine &)
{
    return direct;
}

// The layout a convolution of this precision would read a tensor of `dims`
// in, when FewChannelConv can write it: channels last (AMX's bf16 kernels)
// or blocks of 16 channels (AVX-512's f32 kernels).
std::optional<memory::format_tag> next_convolution_layout(const memory::dims &dims, memory::data_type type,
                                                          const dnnl::engine &engine)
{
    using tag = memory::format_tag;
    const int64_t k = dims[1];
    try {
        const dnnl::convolution_forward::primitive_desc next(
            {prop_kind::forward_training, algorithm::convolution_direct, any_desc(dims, type),
             any_desc({k, k, 3, 3}, type), any_desc(dims, type), {1, 1}, {1, 1}, {1, 1}},
            engine);
        for (const tag t : {tag::nhwc, tag::nChw16c})
            if (next.src_desc() == memory::desc(dims, type, t))
                return t;
    } catch (const dnnl::error &) { // no convolution of this shape
    }
    return std::nullopt;
}

template <class Fwd, class BwdData, class BwdWeights>
std::unique_ptr<ConvPrimitives> build(const ConvShape &shape, const Activation &act, std::span<const int64_t> dims,
                                      int32_t offered, const sp::Geometry &g, const dnnl::engine &engine,
                                      int threads)
{
    const memory::dims src_dims(dims.begin(), dims.end());
    const memory::dims dst_dims{dims[0], shape.out, g.out.h, g.out.w};
    const memory::data_type low = multiplied(shape);
    // The dtype of the tensors the layer exchanges with its neighbours.
    const memory::data_type io = shape.exchange_bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    memory::desc src = any_desc(src_dims, low), dst = any_desc(dst_dims, io);
    std::optional<memory::format_tag> few_layout;
    if constexpr (std::is_same_v<Fwd, dnnl::convolution_forward>)
        if (FewChannelConv::fits(shape, act, dims, offered))
            few_layout = next_convolution_layout(dst_dims, io, engine);
    if (few_layout) { // oneDNN runs only the input's gradient, in these layouts
        src = sdk::desc_of(dims, NRT_FORMAT_PLAIN, low);
        dst = memory::desc(dst_dims, io, *few_layout);
    }
    const algorithm alg = shape.transposed ? algorithm::deconvolution_direct : algorithm::convolution_direct;
    auto fwd = forward_pd<Fwd>(shape, act, src, dst, g, engine, alg);
    // A layout the ABI has no tag for cannot cross to the next layer.
    if (sdk::format_of(fwd.src_desc()) < 0 || sdk::format_of(fwd.dst_desc()) < 0) {
        if (sdk::format_of(fwd.src_desc()) < 0)
            src = sdk::desc_of(dims, offered, low);
        if (sdk::format_of(fwd.dst_desc()) < 0)
            dst = sdk::desc_of(std::span<const int64_t>(dst_dims.data(), dst_dims.size()), NRT_FORMAT_PLAIN, io);
        fwd = forward_pd<Fwd>(shape, act, src, dst, g, engine, alg);
    }
    src = fwd.src_desc();
    dst = fwd.dst_desc();
    // The layer reads its input in the layout the convolution multiplies in.
    const memory::desc user_src = sdk::desc_of(dims, sdk::format_of(src), io);
    const sp::Window &w = shape.window;
    const dnnl::primitive_attr attr = user_scratchpad();
    const memory::desc weights = any_desc(shape.weight_dims(), low);
    const memory::dims stride = sp::dnnl_hw(w.stride), pad_l = sp::dnnl_hw(g.pads.begin),
                       pad_r = sp::dnnl_hw(g.pads.end);
    // Exchanging bf16, the output gradient arrives as the output is laid out.
    const memory::desc diff_dst = shape.bf16 && !shape.exchange_bf16 ? any_desc(dst_dims, low) : dst;
    typename BwdData::primitive_desc bwd_data(
        typename BwdData::desc(alg, user_src, weights, diff_dst, stride, dilates(w), pad_l, pad_r), attr, engine,
        fwd);
    const memory::desc low_diff = bwd_data.diff_dst_desc(); // what both backward passes multiply
    const memory::desc bias_md({shape.out}, memory::data_type::f32, memory::format_tag::x);
    const memory::desc diff_weights = any_desc(shape.weight_dims());
    auto bwd_weights = shape.bias ? typename BwdWeights::primitive_desc(
                                        typename BwdWeights::desc(alg, src, diff_weights, bias_md, low_diff, stride,
                                                                  dilates(w), pad_l, pad_r),
                                        attr, engine, fwd)
                                  : typename BwdWeights::primitive_desc(
                                        typename BwdWeights::desc(alg, src, diff_weights, low_diff, stride,
                                                                  dilates(w), pad_l, pad_r),
                                        attr, engine, fwd);
    auto built =
        std::make_unique<ConvPrimitives>(shape, act,
                                         ConvPds{faster_forward(fwd, shape, act, g, engine), bwd_data, bwd_weights,
                                                 user_src},
                                         engine);
    built->dims.assign(dims.begin(), dims.end());
    built->offered = offered;
    built->bf16 = shape.bf16;
    built->exchange_bf16 = shape.exchange_bf16;
    built->src_format = sdk::format_of(user_src);
    built->dst_format = sdk::format_of(dst);
    built->dst_md = dst;
    if (few_layout) {
        const ChannelBlocks blocks = *few_layout == memory::format_tag::nhwc
                                         ? ChannelBlocks::channels_last(shape.out, g.out.h, g.out.w)
                                         : ChannelBlocks::blocked16(shape.out, g.out.h, g.out.w);
        built->few = std::make_unique<FewChannelConv>(shape, act, dims, g, blocks, io == memory::data_type::bf16,
                                                      threads);
        built->workspace_bytes = built->few->workspace_bytes();
    }
    return built;
}

} // namespace

std::unique_ptr<ConvPrimitives> build_conv(const ConvShape &shape, const Activation &act,
                                           std::span<const int64_t> dims, int32_t offered, const sp::Geometry &g,
                                           const dnnl::engine &engine, int threads)
{
    if (shape.transposed)
        return build<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                     dnnl::deconvolution_backward_weights>(shape, act, dims, offered, g, engine, threads);
    return build<dnnl::convolution_forward, dnnl::convolution_backward_data, dnnl::convolution_backward_weights>(
        shape, act, dims, offered, g, engine, threads);
}

ConvPrimitives::~ConvPrimitives() = default;

ConvPrimitives::ConvPrimitives(const ConvShape &shape, const Activation &act, const ConvPds &pds,
                               const dnnl::engine &engine)
    : m_name(shape.name), m_act(act), m_bias(shape.bias), m_channels(shape.out), m_engine(engine)
{
    const memory::desc src = pds.src, dst = pds.forward.dst_desc(0);
    std::optional<ActivationPds> act_pds;
    if (!act.identity())
        act_pds = activation_pds(act, dst, engine, user_scratchpad());
    // Every primitive's scratchpad in one buffer: they run one at a time.
    size_t scratch = std::max({pds.forward.scratchpad_desc().get_size(),
                               pds.backward_data.scratchpad_desc().get_size(),
                               pds.backward_weights.scratchpad_desc().get_size(), size_t{1}});
    if (act_pds)
        scratch = std::max({scratch, act_pds->forward.scratchpad_desc().get_size(),
                            act_pds->backward.scratchpad_desc().get_size()});
    m_scratchpad = sdk::Buffer((scratch + sizeof(float) - 1) / sizeof(float));
    m_scratch = memory(memory::desc({static_cast<int64_t>(scratch)}, memory::data_type::u8, memory::format_tag::x),
                       engine, m_scratchpad.data());
    m_src = memory(src, engine, DNNL_MEMORY_NONE);
    m_dst = memory(dst, engine, DNNL_MEMORY_NONE);
    m_pre = memory(dst, engine, DNNL_MEMORY_NONE); // unfused: in the call's workspace
    m_diff_dst = memory(dst, engine, DNNL_MEMORY_NONE);
    m_diff_src = memory(src, engine, DNNL_MEMORY_NONE);
    m_user_weights = memory(shape.plain_weights(), engine, DNNL_MEMORY_NONE);
    m_user_grad = memory(shape.plain_weights(), engine, DNNL_MEMORY_NONE);
    if (m_bias)
        m_bias_mem = memory(memory::desc({m_channels}, memory::data_type::f32, memory::format_tag::x), engine,
                            DNNL_MEMORY_NONE);
    if (act_pds) {
        m_diff_pre_buf = sdk::Buffer(dst.get_size() / sizeof(float) + 1);
        m_diff_pre = memory(dst, engine, m_diff_pre_buf.data());
    } else {
        m_diff_pre = m_diff_dst; // the output gradient is the pre-activation's
    }
    const uint64_t pre_bytes = act.fused ? 0 : dst.get_size();
    m_low_offset = (pre_bytes + 63) / 64 * 64;
    const memory::desc src_low = pds.forward.src_desc(0), diff_low = pds.backward_data.diff_dst_desc(0);
    m_low = src_low != src;
    if (m_low) {
        m_src_low = memory(src_low, engine, DNNL_MEMORY_NONE); // in the workspace
        m_src_to_low = reorder(m_src, m_src_low, false);
        m_diff_low_buf = sdk::Buffer(diff_low.get_size() / sizeof(float) + 1);
        m_diff_low = memory(diff_low, engine, m_diff_low_buf.data());
        m_diff_to_low = reorder(m_diff_pre, m_diff_low, false);
        workspace_bytes = m_low_offset + src_low.get_size();
    } else {
        m_src_low = m_src;
        m_diff_low = m_diff_pre;
        workspace_bytes = pre_bytes;
    }
    build_forward(pds, act_pds ? &*act_pds : nullptr);
    build_backward(pds);
}

sdk::BoundPrimitive ConvPrimitives::bound(dnnl::primitive primitive, const dnnl::primitive_desc_base &pd,
                                          const char *what) const
{
    sdk::BoundPrimitive p(std::move(primitive), m_name, what);
    if (pd.scratchpad_desc().get_size() > 0)
        p.arg(DNNL_ARG_SCRATCHPAD, m_scratch);
    return p;
}

void ConvPrimitives::build_forward(const ConvPds &pds, const ActivationPds *act)
{
    const memory weights = in_layout(pds.forward.weights_desc(0), m_user_weights, m_fwd_weights_buf, m_weights_to_fwd);
    m_fwd = bound(dnnl::primitive(pds.forward), pds.forward, "forward");
    m_fwd.arg(DNNL_ARG_SRC, m_src_low);
    m_fwd.arg(DNNL_ARG_WEIGHTS, weights);
    if (m_bias)
        m_fwd.arg(DNNL_ARG_BIAS, m_bias_mem);
    m_fwd.arg(DNNL_ARG_DST, m_act.fused ? m_dst : m_pre);
    if (!act)
        return;
    if (!m_act.fused) {
        m_act_fwd = bound(dnnl::primitive(act->forward), act->forward, "activation forward");
        m_act_fwd.arg(DNNL_ARG_SRC, m_pre);
        m_act_fwd.arg(DNNL_ARG_DST, m_dst);
    }
    m_act_bwd = bound(dnnl::primitive(act->backward), act->backward, "activation backward");
    m_act_bwd.arg(m_act.fused ? DNNL_ARG_DST : DNNL_ARG_SRC, m_act.fused ? m_dst : m_pre);
    m_act_bwd.arg(DNNL_ARG_DIFF_DST, m_diff_dst);
    m_act_bwd.arg(DNNL_ARG_DIFF_SRC, m_diff_pre);
}

void ConvPrimitives::build_backward(const ConvPds &pds)
{
    const memory weights =
        in_layout(pds.backward_data.weights_desc(0), m_user_weights, m_bwd_weights_buf, m_weights_to_bwd);
    m_bwd_data = bound(dnnl::primitive(pds.backward_data), pds.backward_data, "backward data");
    m_bwd_data.arg(DNNL_ARG_DIFF_DST, m_diff_low);
    m_bwd_data.arg(DNNL_ARG_WEIGHTS, weights);
    m_bwd_data.arg(DNNL_ARG_DIFF_SRC, m_diff_src);

    // The weight gradient in the primitive's layout, then written or added
    // into the host's plain gradient.
    const memory::desc dw = pds.backward_weights.diff_weights_desc(0);
    m_diff_weights_buf = sdk::Buffer(dw.get_size() / sizeof(float) + 1);
    const memory diff_weights(dw, m_engine, m_diff_weights_buf.data());
    m_bwd_weights = bound(dnnl::primitive(pds.backward_weights), pds.backward_weights, "backward weights");
    m_bwd_weights.arg(DNNL_ARG_SRC, m_src_low);
    m_bwd_weights.arg(DNNL_ARG_DIFF_DST, m_diff_low);
    m_bwd_weights.arg(DNNL_ARG_DIFF_WEIGHTS, diff_weights);
    if (m_bias) {
        m_diff_bias_buf = sdk::Buffer(static_cast<size_t>(m_channels));
        m_bwd_weights.arg(DNNL_ARG_DIFF_BIAS,
                          memory(memory::desc({m_channels}, memory::data_type::f32, memory::format_tag::x),
                                 m_engine, m_diff_bias_buf.data()));
    }
    m_grad_write = reorder(diff_weights, m_user_grad, false);
    m_grad_add = reorder(diff_weights, m_user_grad, true);
}

sdk::BoundPrimitive ConvPrimitives::reorder(const memory &from, const memory &to, bool add) const
{
    dnnl::primitive_attr attr = user_scratchpad();
    if (add) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
    }
    const dnnl::reorder::primitive_desc pd(m_engine, from.get_desc(), m_engine, to.get_desc(), attr);
    if (pd.scratchpad_desc().get_size() > m_scratchpad.size() * sizeof(float))
        sdk::fail(NRT_ERR_INTERNAL, std::string(m_name) + ": a weight reorder needs more scratchpad than the convolution");
    sdk::BoundPrimitive p = bound(dnnl::reorder(pd), pd, add ? "weight gradient sum" : "weight reorder");
    p.arg(DNNL_ARG_FROM, from);
    p.arg(DNNL_ARG_TO, to);
    return p;
}

memory ConvPrimitives::in_layout(const memory::desc &md, const memory &plain, sdk::Buffer &buffer,
                                 sdk::BoundPrimitive &reorder_into)
{
    if (md == plain.get_desc())
        return plain;
    buffer = sdk::Buffer(md.get_size() / sizeof(float) + 1);
    const memory m(md, m_engine, buffer.data());
    reorder_into = reorder(plain, m, false);
    return m;
}

void ConvPrimitives::forward(const sdk::Call &c, const float *weights, const float *bias, dnnl::stream &s)
{
    // oneDNN only reads these; its handles are non-const by API.
    m_user_weights.set_data_handle(const_cast<float *>(weights));
    if (m_bias)
        m_bias_mem.set_data_handle(const_cast<float *>(bias));
    if (few) {
        few->forward(c.src(0).data, weights, bias, c.dst(0).data, c.workspace());
        return;
    }
    m_src.set_data_handle(c.src(0).data);
    m_dst.set_data_handle(c.dst(0).data);
    if (!m_act.fused)
        m_pre.set_data_handle(c.workspace());
    if (m_low) {
        m_src_low.set_data_handle(c.workspace<char>() + m_low_offset);
        m_src_to_low.run(s);
    }
    if (m_weights_to_fwd)
        m_weights_to_fwd.run(s);
    m_fwd.run(s);
    if (m_act_fwd)
        m_act_fwd.run(s);
    s.wait();
}

void ConvPrimitives::backward(const sdk::Call &c, const float *weights, float *weights_grad, float *bias_grad,
                              dnnl::stream &s)
{
    m_src.set_data_handle(c.src(0).data);
    m_dst.set_data_handle(c.dst(0).data);
    m_diff_dst.set_data_handle(c.diff_dst(0).data);
    if (!m_act.fused)
        m_pre.set_data_handle(c.workspace());
    const bool add = c.accumulate();
    nrt_tensor *diff_src = c.diff_src(0);
    if (few && weights_grad)
        few->backward_weights(c.workspace(), c.dst(0).data, c.diff_dst(0).data, weights_grad,
                              m_bias ? bias_grad : nullptr, add);
    if (few && !diff_src)
        return;
    if (m_act_bwd)
        m_act_bwd.run(s); // diff_pre = act'(.) · diff_dst
    if (m_low) {
        if (!few) // its workspace holds FewChannelConv's input
            m_src_low.set_data_handle(c.workspace<char>() + m_low_offset);
        m_diff_to_low.run(s);
    }
    if (weights_grad && !few) {
        m_user_grad.set_data_handle(weights_grad);
        m_bwd_weights.run(s);
        (add ? m_grad_add : m_grad_write).run(s);
    }
    if (diff_src) {
        m_user_weights.set_data_handle(const_cast<float *>(weights));
        m_diff_src.set_data_handle(diff_src->data);
        if (m_weights_to_bwd)
            m_weights_to_bwd.run(s);
        m_bwd_data.run(s);
    }
    s.wait();
    if (m_bias && bias_grad && weights_grad && !few) {
        const float *db = m_diff_bias_buf.data();
        for (int64_t k = 0; k < m_channels; ++k)
            bias_grad[k] = add ? bias_grad[k] + db[k] : db[k];
    }
}

} // namespace neurite::conv
