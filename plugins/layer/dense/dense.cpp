// Dense (fully connected) layer on oneDNN matmul primitives.
//
// dst = act(src · Wᵀ + b) with W stored {outputs, inputs}. Matmul rather than
// inner_product because its `sum` post-op lets backward_weights add into the
// gradient in the same pass (gradients accumulate until zeroed), and its
// transposed-stride views need no copies. relu/sigmoid/tanh/elu are fused as
// post-ops and differentiated from dst; softplus/gelu/swish keep the
// pre-activation and run a separate eltwise pair.
#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <array>
#include <cmath>
#include <memory>
#include <random>
#include <string>

namespace {

namespace sdk = neurite::sdk;
using dnnl::algorithm;
using dnnl::memory;

enum class Act { Identity, ReLU, Sigmoid, Tanh, ELU, SoftPlus, GELU, Swish };

struct ActInfo {
    const char *name;
    Act act;
    algorithm forward;  // for the post-op or the separate eltwise
    algorithm backward; // eltwise backward algorithm
    bool fused;         // post-op, backward from dst
};

constexpr ActInfo kActs[] = {
    {"identity", Act::Identity, algorithm::eltwise_linear, algorithm::eltwise_linear, true},
    {"relu", Act::ReLU, algorithm::eltwise_relu, algorithm::eltwise_relu_use_dst_for_bwd, true},
    {"sigmoid", Act::Sigmoid, algorithm::eltwise_logistic, algorithm::eltwise_logistic_use_dst_for_bwd, true},
    {"tanh", Act::Tanh, algorithm::eltwise_tanh, algorithm::eltwise_tanh_use_dst_for_bwd, true},
    {"elu", Act::ELU, algorithm::eltwise_elu, algorithm::eltwise_elu_use_dst_for_bwd, true},
    {"softplus", Act::SoftPlus, algorithm::eltwise_soft_relu, algorithm::eltwise_soft_relu, false},
    {"gelu", Act::GELU, algorithm::eltwise_gelu_tanh, algorithm::eltwise_gelu_tanh, false},
    {"swish", Act::Swish, algorithm::eltwise_swish, algorithm::eltwise_swish, false},
};

float act_alpha(Act a) { return a == Act::ELU || a == Act::Swish ? 1.0f : 0.0f; }

// One primitive with its argument list, executed through the C API: the C++
// execute() builds a std::vector of arguments on every call.
struct Exec {
    dnnl::primitive prim;
    std::array<dnnl_exec_arg_t, 8> args{};
    int nargs = 0;
    void arg(int name, const memory &m) { args[static_cast<size_t>(nargs++)] = {name, m.get()}; }
    void run(const dnnl::stream &s) const
    {
        dnnl_status_t st = dnnl_primitive_execute(prim.get(), s.get(), nargs, args.data());
        if (st != dnnl_success)
            sdk::fail(NRT_ERR_INTERNAL, "Dense: oneDNN execute failed with status " + std::to_string(st));
    }
};

constexpr size_t kMaxCachedBatches = 4;

class Dense final : public sdk::Layer {
public:
    Dense(sdk::Host host, sdk::Params params, uint64_t seed)
        : m_engine(sdk::dnnl_engine(host)), m_stream(sdk::dnnl_stream(host))
    {
        m_in = params.integer("inputs");
        m_out = params.integer("outputs");
        m_has_bias = params.boolean("bias");
        const std::string act = params.string("activation");
        for (const ActInfo &a : kActs)
            if (act == a.name)
                m_act = &a;
        if (!m_act)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Dense: unknown activation '" + act + "'");
        m_w.resize(static_cast<size_t>(m_in * m_out));
        m_dw.resize(static_cast<size_t>(m_in * m_out));
        m_b.resize(static_cast<size_t>(m_out));
        m_db.resize(static_cast<size_t>(m_out));
        initialise(params.string("init"), seed);
        const int64_t wdims[] = {m_out, m_in};
        add_param("weight", m_w.data(), m_dw.data(), wdims);
        if (m_has_bias) {
            const int64_t bdims[] = {m_out};
            add_param("bias", m_b.data(), m_db.data(), bdims);
        }
    }

    void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) override
    {
        int64_t n = 1, features = 0;
        if (src_dims.size() == 1) {
            features = src_dims[0];
        } else if (!src_dims.empty()) {
            n = src_dims[0];
            features = 1;
            for (size_t i = 1; i < src_dims.size(); ++i)
                features *= src_dims[i];
        }
        if (features != m_in || n < 1)
            sdk::fail(NRT_ERR_SHAPE, "Dense expects " + std::to_string(m_in) +
                                         " input features per sample, got " +
                                         std::to_string(features) + " (input shape " +
                                         sdk::shape_string(static_cast<int32_t>(src_dims.size()),
                                                           src_dims.data()) + ")");
        if (src_dims.size() == 1)
            dst_dims = {m_out};
        else
            dst_dims = {n, m_out};
        m_cur = cache_for(n);
    }

    void forward(const nrt_tensor &src, nrt_tensor &dst, bool) override
    {
        check_batch(src, "input");
        Batch &b = *m_cur;
        b.src.set_data_handle(src.data);
        b.dst.set_data_handle(dst.data);
        b.fwd.run(m_stream);
        if (!m_act->fused)
            b.act_fwd.run(m_stream);
        m_stream.wait();
    }

    void backward(const nrt_tensor &src, const nrt_tensor &dst, const nrt_tensor &diff_dst,
                  nrt_tensor *diff_src) override
    {
        check_batch(src, "input");
        Batch &b = *m_cur;
        b.src.set_data_handle(src.data);
        b.dst.set_data_handle(dst.data);
        b.diff_dst.set_data_handle(diff_dst.data);
        // With no activation the pre-activation gradient is diff_dst itself.
        float *diff_pre = sdk::f32(diff_dst);
        if (m_act->act != Act::Identity) {
            b.act_bwd.run(m_stream);
            diff_pre = b.diff_pre_buf.data();
        } else {
            b.diff_pre.set_data_handle(diff_pre);
        }
        b.diff_pre_t.set_data_handle(diff_pre);
        b.bwd_weights.run(m_stream);
        if (diff_src) {
            b.diff_src.set_data_handle(diff_src->data);
            b.bwd_data.run(m_stream);
        }
        if (m_has_bias)
            accumulate_bias_grad(diff_pre, b.n);
        m_stream.wait();
    }

private:
    // Primitives and memories for one batch size, built once and reused.
    struct Batch {
        int64_t n = 0;
        memory src, dst, diff_dst, diff_src, pre, diff_pre, diff_pre_t, weights, diff_weights, bias,
            scratch;
        sdk::Buffer pre_buf, diff_pre_buf, scratch_buf;
        Exec fwd, act_fwd, act_bwd, bwd_weights, bwd_data;
    };

    void check_batch(const nrt_tensor &t, const char *what) const
    {
        sdk::require_contiguous(t, what);
        const int64_t n = t.ndims == 1 ? 1 : t.dims[0];
        if (!m_cur || n != m_cur->n)
            sdk::fail(NRT_ERR_STATE, std::string("Dense: ") + what + " " + sdk::shape_string(t) +
                                         " was not prepared");
    }

    void accumulate_bias_grad(const float *diff_pre, int64_t n)
    {
        float *db = m_db.data();
        const int64_t out = m_out;
        for (int64_t i = 0; i < n; ++i) {
            const float *row = diff_pre + i * out;
#pragma omp simd
            for (int64_t j = 0; j < out; ++j)
                db[j] += row[j];
        }
    }

    void initialise(const std::string &how_in, uint64_t seed)
    {
        std::string how = how_in;
        if (how == "auto")
            how = (m_act->act == Act::Sigmoid || m_act->act == Act::Tanh ||
                   m_act->act == Act::Identity) ? "xavier" : "he";
        std::mt19937_64 rng(seed);
        const size_t count = static_cast<size_t>(m_in * m_out);
        if (how == "xavier") {
            const float a = std::sqrt(6.0f / static_cast<float>(m_in + m_out));
            std::uniform_real_distribution<float> d(-a, a);
            for (size_t i = 0; i < count; ++i)
                m_w[i] = d(rng);
        } else if (how == "he") {
            std::normal_distribution<float> d(0.0f, std::sqrt(2.0f / static_cast<float>(m_in)));
            for (size_t i = 0; i < count; ++i)
                m_w[i] = d(rng);
        } else if (how == "uniform") {
            const float a = 1.0f / std::sqrt(static_cast<float>(m_in));
            std::uniform_real_distribution<float> d(-a, a);
            for (size_t i = 0; i < count; ++i)
                m_w[i] = d(rng);
        } // "zeros": the buffer is already zero
    }

    Batch *cache_for(int64_t n)
    {
        for (auto &b : m_batches)
            if (b->n == n)
                return b.get();
        if (m_batches.size() == kMaxCachedBatches)
            m_batches.erase(m_batches.begin());
        m_batches.push_back(sdk::with_dnnl("Dense: building primitives", [&] { return build(n); }));
        return m_batches.back().get();
    }

    std::unique_ptr<Batch> build(int64_t n)
    {
        auto b = std::make_unique<Batch>();
        b->n = n;
        const auto f32 = memory::data_type::f32;
        const memory::desc src_md({n, m_in}, f32, memory::dims{m_in, 1});
        const memory::desc dst_md({n, m_out}, f32, memory::dims{m_out, 1});
        const memory::desc w_t_md({m_in, m_out}, f32, memory::dims{1, m_in}); // Wᵀ view of {out, in}
        const memory::desc w_md({m_out, m_in}, f32, memory::dims{m_in, 1});
        const memory::desc bias_md({1, m_out}, f32, memory::dims{m_out, 1});
        const memory::desc diff_pre_t_md({m_out, n}, f32, memory::dims{1, m_out}); // (dpre)ᵀ view

        dnnl::primitive_attr scratch_attr;
        scratch_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

        // forward: matmul (+ bias) (+ fused activation)
        dnnl::primitive_attr fwd_attr;
        fwd_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        if (m_act->fused && m_act->act != Act::Identity) {
            dnnl::post_ops ops;
            ops.append_eltwise(1.0f, m_act->forward, act_alpha(m_act->act), 0.0f);
            fwd_attr.set_post_ops(ops);
        }
        auto fwd_pd = m_has_bias
            ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_t_md, bias_md, dst_md), fwd_attr, m_engine)
            : dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_t_md, dst_md), fwd_attr, m_engine);

        // backward weights: dW += (dpre)ᵀ · src, the sum post-op adds into dW
        dnnl::primitive_attr acc_attr;
        acc_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        dnnl::post_ops acc;
        acc.append_sum(1.0f);
        acc_attr.set_post_ops(acc);
        auto bww_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(diff_pre_t_md, src_md, w_md), acc_attr, m_engine);
        // backward data: diff_src = dpre · W
        auto bwd_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(dst_md, w_md, src_md), scratch_attr, m_engine);

        size_t scratch = std::max({fwd_pd.scratchpad_desc().get_size(), bww_pd.scratchpad_desc().get_size(),
                                   bwd_pd.scratchpad_desc().get_size()});

        b->src = memory(src_md, m_engine, nullptr);
        b->dst = memory(dst_md, m_engine, nullptr);
        b->diff_dst = memory(dst_md, m_engine, nullptr);
        b->diff_src = memory(src_md, m_engine, nullptr);
        b->weights = memory(w_md, m_engine, m_w.data());
        b->diff_weights = memory(w_md, m_engine, m_dw.data());
        b->bias = memory(bias_md, m_engine, m_b.data());

        // Where the matmul writes and where backward reads the pre-activation.
        memory pre_out = b->dst;
        if (!m_act->fused) {
            b->pre_buf.resize(static_cast<size_t>(n * m_out));
            b->pre = memory(dst_md, m_engine, b->pre_buf.data());
            pre_out = b->pre;
        }
        if (m_act->act != Act::Identity) {
            b->diff_pre_buf.resize(static_cast<size_t>(n * m_out));
            b->diff_pre = memory(dst_md, m_engine, b->diff_pre_buf.data());
            const memory &act_data = m_act->fused ? b->dst : b->pre;
            const algorithm fwd_alg = m_act->fused ? m_act->backward : m_act->forward;
            dnnl::eltwise_forward::primitive_desc hint(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, fwd_alg, dst_md,
                                            act_alpha(m_act->act)), scratch_attr, m_engine);
            auto act_bwd_pd = dnnl::eltwise_backward::primitive_desc(
                dnnl::eltwise_backward::desc(m_act->backward, dst_md, dst_md, act_alpha(m_act->act)),
                scratch_attr, m_engine, hint);
            scratch = std::max(scratch, act_bwd_pd.scratchpad_desc().get_size());
            b->act_bwd.prim = dnnl::eltwise_backward(act_bwd_pd);
            b->act_bwd.arg(m_act->fused ? DNNL_ARG_DST : DNNL_ARG_SRC, act_data);
            b->act_bwd.arg(DNNL_ARG_DIFF_DST, b->diff_dst);
            b->act_bwd.arg(DNNL_ARG_DIFF_SRC, b->diff_pre);
            if (!m_act->fused) {
                b->act_fwd.prim = dnnl::eltwise_forward(hint);
                b->act_fwd.arg(DNNL_ARG_SRC, b->pre);
                b->act_fwd.arg(DNNL_ARG_DST, b->dst);
                scratch = std::max(scratch, hint.scratchpad_desc().get_size());
            }
        } else {
            b->diff_pre = memory(dst_md, m_engine, nullptr); // aliases diff_dst per call
        }
        b->scratch_buf.resize(scratch / sizeof(float) + 1);
        b->scratch = memory(memory::desc({static_cast<int64_t>(scratch)}, memory::data_type::u8, memory::dims{1}),
                            m_engine, b->scratch_buf.data());

        b->fwd.prim = dnnl::matmul(fwd_pd);
        b->fwd.arg(DNNL_ARG_SRC, b->src);
        b->fwd.arg(DNNL_ARG_WEIGHTS, b->weights);
        if (m_has_bias)
            b->fwd.arg(DNNL_ARG_BIAS, b->bias);
        b->fwd.arg(DNNL_ARG_DST, pre_out);

        b->bwd_weights.prim = dnnl::matmul(bww_pd);
        b->diff_pre_t = memory(diff_pre_t_md, m_engine, nullptr);
        b->bwd_weights.arg(DNNL_ARG_SRC, b->diff_pre_t);
        b->bwd_weights.arg(DNNL_ARG_WEIGHTS, b->src);
        b->bwd_weights.arg(DNNL_ARG_DST, b->diff_weights);

        b->bwd_data.prim = dnnl::matmul(bwd_pd);
        b->bwd_data.arg(DNNL_ARG_SRC, b->diff_pre);
        b->bwd_data.arg(DNNL_ARG_WEIGHTS, b->weights);
        b->bwd_data.arg(DNNL_ARG_DST, b->diff_src);

        for (Exec *e : {&b->fwd, &b->act_fwd, &b->act_bwd, &b->bwd_weights, &b->bwd_data})
            if (e->prim)
                e->arg(DNNL_ARG_SCRATCHPAD, b->scratch);
        return b;
    }

    dnnl::engine m_engine;
    dnnl::stream m_stream;
    int64_t m_in = 0, m_out = 0;
    bool m_has_bias = true;
    const ActInfo *m_act = nullptr;
    sdk::Buffer m_w, m_dw, m_b, m_db;
    std::vector<std::unique_ptr<Batch>> m_batches;
    Batch *m_cur = nullptr;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("inputs", 1, 1 << 24, "Number of input features per sample."),
    sdk::required_int_param("outputs", 1, 1 << 24, "Number of output features (neurons)."),
    sdk::bool_param("bias", true, "Add a learnable bias b to every output."),
    sdk::choice_param("activation", "identity",
                      "identity|relu|sigmoid|tanh|elu|softplus|gelu|swish",
                      "Activation applied to the output, fused into the layer."),
    sdk::choice_param("init", "auto", "auto|xavier|he|uniform|zeros",
                      "Weight initialisation; auto is he for ReLU-like activations, else xavier. "
                      "Biases start at zero."),
};

const nrt_entry kDense = sdk::make_entry<Dense>(
    NRT_KIND_LAYER, "Dense", "1.0.0",
    "Fully connected: dst = act(src · Wᵀ + b), W is {outputs, inputs}", kParams);

} // namespace

NEURITE_PLUGIN("neurite-dense", "1.0.0", &kDense)
