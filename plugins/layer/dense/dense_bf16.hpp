// Dense in mixed precision: bf16 input, weights (the host's bf16 copy of the
// f32 master weights), output and output gradient; oneDNN sums in f32, the
// bias and the weight and bias gradients stay f32. The model offers its
// tensors as bf16 (precision "bf16"); Dense then reads and writes bf16.
//
// Unlike the f32 path the layer is not split by output neurons across
// threads: oneDNN's bf16 matmuls (AMX tiles where the CPU has them) thread
// themselves, and the split's gathers would cost more than they save.
#pragma once

#include "dense_kernels.hpp"

#include <neurite/plugin_dnnl.hpp>

#include <bit>
#include <cstdint>
#include <cstring>

namespace neurite::dense {

// The fused activations differentiated from dst in bf16: the *_use_dst_for_bwd
// eltwise algorithms, which oneDNN runs on bf16 directly.
inline dnnl::algorithm backward_from_dst(Act act)
{
    using dnnl::algorithm;
    switch (act) {
    case Act::ReLU: return algorithm::eltwise_relu_use_dst_for_bwd;
    case Act::Sigmoid: return algorithm::eltwise_logistic_use_dst_for_bwd;
    case Act::Tanh: return algorithm::eltwise_tanh_use_dst_for_bwd;
    case Act::ELU: return algorithm::eltwise_elu_use_dst_for_bwd;
    default: sdk::fail(NRT_ERR_INTERNAL, "Dense: activation has no backward from dst");
    }
}

// The primitives of one batch size in bf16, bound to the parameters' current
// addresses: built in prepare, run without allocating.
class DenseBf16 {
public:
    struct Params {
        const uint16_t *weight_bf16; // {out, in}
        const float *bias;           // nullptr without bias
        float *weight_grad, *bias_grad;
    };

    // single_thread: a layer too small for a fork/join (the output layer's
    // 256 x 128 x 10 took 20 us of backward on two threads) builds and runs
    // its primitives on the calling thread.
    DenseBf16(const dnnl::engine &engine, int64_t n, int64_t in, int64_t out, const ActInfo &act, Params params,
              bool single_thread)
        : n(n), m_in(in), m_out(out), m_single_thread(single_thread), m_act(act), m_params(params), m_stream(engine)
    {
        const OneThread one(single_thread);
        using dt = dnnl::memory::data_type;
        using dnnl::memory;
        const memory::desc src_md({n, in}, dt::bf16, memory::dims{in, 1});
        const memory::desc dst_md({n, out}, dt::bf16, memory::dims{out, 1});
        const memory::desc w_t_md({in, out}, dt::bf16, memory::dims{1, in}); // Wᵀ as a view of W
        const memory::desc w_md({out, in}, dt::bf16, memory::dims{in, 1});
        const memory::desc diff_w_md({out, in}, dt::f32, memory::dims{in, 1});
        const memory::desc bias_md({1, out}, dt::f32, memory::dims{out, 1});
        const memory::desc diff_pre_t_md({out, n}, dt::bf16, memory::dims{1, out});

        dnnl::primitive_attr plain, fwd_attr, acc_attr;
        for (dnnl::primitive_attr *a : {&plain, &fwd_attr, &acc_attr})
            a->set_scratchpad_mode(dnnl::scratchpad_mode::user);
        if (act.fused && act.act != Act::Identity) {
            dnnl::post_ops ops;
            ops.append_eltwise(1.0f, act.forward, act.alpha, 0.0f);
            fwd_attr.set_post_ops(ops);
        }
        dnnl::post_ops acc; // dW += ..., gradients accumulate
        acc.append_sum(1.0f);
        acc_attr.set_post_ops(acc);
        auto mm = [&](const memory::desc &a, const memory::desc &b, const memory::desc &c,
                      const dnnl::primitive_attr &attr) {
            return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine);
        };
        const auto fwd_pd = params.bias ? dnnl::matmul::primitive_desc(
                                              dnnl::matmul::desc(src_md, w_t_md, bias_md, dst_md), fwd_attr, engine)
                                        : mm(src_md, w_t_md, dst_md, fwd_attr);
        const auto bww_pd = mm(diff_pre_t_md, src_md, diff_w_md, acc_attr);
        const auto bww_over_pd = mm(diff_pre_t_md, src_md, diff_w_md, plain);
        const auto bwd_pd = mm(dst_md, w_md, src_md, plain);
        size_t scratch = std::max({fwd_pd.scratchpad_desc().get_size(), bww_pd.scratchpad_desc().get_size(),
                                   bww_over_pd.scratchpad_desc().get_size(), bwd_pd.scratchpad_desc().get_size()});

        m_src = memory(src_md, engine, DNNL_MEMORY_NONE);
        m_dst = memory(dst_md, engine, DNNL_MEMORY_NONE);
        m_pre = memory(dst_md, engine, DNNL_MEMORY_NONE); // unfused: in the call's workspace
        m_diff_dst = memory(dst_md, engine, DNNL_MEMORY_NONE);
        m_diff_src = memory(src_md, engine, DNNL_MEMORY_NONE);
        const bool identity = act.act == Act::Identity;
        if (!identity)
            m_diff_pre_buf.resize(static_cast<size_t>(n * out + 1) / 2);
        m_diff_pre = identity ? m_diff_dst : memory(dst_md, engine, m_diff_pre_buf.data());
        m_diff_pre_t = memory(diff_pre_t_md, engine, DNNL_MEMORY_NONE);
        const memory weights(w_md, engine, const_cast<uint16_t *>(params.weight_bf16));
        const memory weights_t(w_t_md, engine, const_cast<uint16_t *>(params.weight_bf16));

        if (!identity) {
            const dnnl::algorithm bwd_alg = act.fused ? backward_from_dst(act.act) : act.backward;
            const dnnl::eltwise_forward::primitive_desc hint(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                            act.fused ? bwd_alg : act.forward, dst_md, act.alpha),
                plain, engine);
            const dnnl::eltwise_backward::primitive_desc act_bwd_pd(
                dnnl::eltwise_backward::desc(bwd_alg, dst_md, dst_md, act.alpha), plain, engine, hint);
            scratch = std::max({scratch, hint.scratchpad_desc().get_size(), act_bwd_pd.scratchpad_desc().get_size()});
            if (!act.fused) {
                m_act_fwd = bound(dnnl::eltwise_forward(hint), "activation forward");
                m_act_fwd.arg(DNNL_ARG_SRC, m_pre);
                m_act_fwd.arg(DNNL_ARG_DST, m_dst);
            }
            m_act_bwd = bound(dnnl::eltwise_backward(act_bwd_pd), "activation backward");
            m_act_bwd.arg(act.fused ? DNNL_ARG_DST : DNNL_ARG_SRC, act.fused ? m_dst : m_pre);
            m_act_bwd.arg(DNNL_ARG_DIFF_DST, m_diff_dst);
            m_act_bwd.arg(DNNL_ARG_DIFF_SRC, m_diff_pre);
        }
        m_scratch_buf.resize(scratch / sizeof(float) + 1);
        m_scratch = memory(memory::desc({static_cast<int64_t>(scratch)}, dt::u8, memory::dims{1}), engine,
                           m_scratch_buf.data());

        m_fwd = bound(dnnl::matmul(fwd_pd), "forward");
        m_fwd.arg(DNNL_ARG_SRC, m_src);
        m_fwd.arg(DNNL_ARG_WEIGHTS, weights_t);
        if (params.bias)
            m_fwd.arg(DNNL_ARG_BIAS, memory(bias_md, engine, const_cast<float *>(params.bias)));
        m_fwd.arg(DNNL_ARG_DST, act.fused ? m_dst : m_pre);

        const memory diff_weights(diff_w_md, engine, params.weight_grad);
        m_bww = bound(dnnl::matmul(bww_pd), "backward weights");
        m_bww_overwrite = bound(dnnl::matmul(bww_over_pd), "backward weights");
        for (sdk::BoundPrimitive *e : {&m_bww, &m_bww_overwrite}) {
            e->arg(DNNL_ARG_SRC, m_diff_pre_t);
            e->arg(DNNL_ARG_WEIGHTS, m_src);
            e->arg(DNNL_ARG_DST, diff_weights);
        }
        m_bwd_data = bound(dnnl::matmul(bwd_pd), "backward data");
        m_bwd_data.arg(DNNL_ARG_SRC, m_diff_pre);
        m_bwd_data.arg(DNNL_ARG_WEIGHTS, weights);
        m_bwd_data.arg(DNNL_ARG_DST, m_diff_src);
        for (sdk::BoundPrimitive *e : {&m_fwd, &m_act_fwd, &m_act_bwd, &m_bww, &m_bww_overwrite, &m_bwd_data})
            if (*e)
                e->arg(DNNL_ARG_SCRATCHPAD, m_scratch);
    }

    // Unfused activations keep the bf16 pre-activation for backward.
    static uint64_t workspace_bytes(int64_t n, int64_t out, const ActInfo &act)
    {
        return act.fused ? 0 : static_cast<uint64_t>(n * out) * sizeof(uint16_t);
    }

    void forward(const sdk::Call &c)
    {
        const OneThread one(m_single_thread);
        m_src.set_data_handle(c.src(0).data);
        m_dst.set_data_handle(c.dst(0).data);
        if (!m_act.fused)
            m_pre.set_data_handle(c.workspace());
        m_fwd.run(m_stream);
        if (m_act_fwd)
            m_act_fwd.run(m_stream);
        m_stream.wait();
    }

    void backward(const sdk::Call &c)
    {
        const OneThread one(m_single_thread);
        const bool overwrite = !c.accumulate();
        m_src.set_data_handle(c.src(0).data);
        m_dst.set_data_handle(c.dst(0).data);
        m_diff_dst.set_data_handle(c.diff_dst(0).data);
        if (!m_act.fused)
            m_pre.set_data_handle(c.workspace());
        if (m_act_bwd)
            m_act_bwd.run(m_stream);
        void *diff_pre = m_diff_pre.get_data_handle();
        m_diff_pre_t.set_data_handle(diff_pre);
        (overwrite ? m_bww_overwrite : m_bww).run(m_stream);
        if (nrt_tensor *diff_src = c.diff_src(0)) {
            m_diff_src.set_data_handle(diff_src->data);
            m_bwd_data.run(m_stream);
        }
        m_stream.wait();
        if (m_params.bias_grad)
            column_sums(static_cast<const uint16_t *>(diff_pre), m_out, n, m_params.bias_grad, overwrite);
    }

    const int64_t n;

private:
    static sdk::BoundPrimitive bound(dnnl::primitive prim, const char *what)
    {
        return sdk::BoundPrimitive(std::move(prim), "Dense", what);
    }

    int64_t m_in, m_out;
    bool m_single_thread;
    const ActInfo &m_act;
    Params m_params;
    dnnl::stream m_stream;
    dnnl::memory m_src, m_dst, m_pre, m_diff_dst, m_diff_src, m_diff_pre, m_diff_pre_t, m_scratch;
    sdk::Buffer m_diff_pre_buf, m_scratch_buf;
    sdk::BoundPrimitive m_fwd, m_act_fwd, m_act_bwd, m_bww, m_bww_overwrite, m_bwd_data;
};

} // namespace neurite::dense
