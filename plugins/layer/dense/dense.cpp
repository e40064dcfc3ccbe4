// Dense (fully connected) layer on oneDNN matmul primitives.
//
// dst = act(src · Wᵀ + b) with W stored {outputs, inputs}. Matmul rather than
// inner_product because its `sum` post-op lets backward-weights add into the
// gradient in the same pass (gradients accumulate until zeroed), and its
// strided views need no copies. relu/sigmoid/tanh/elu are fused as post-ops
// and differentiated from dst in a plain loop; softplus/gelu/swish keep the
// pre-activation and run a oneDNN eltwise pair.
//
// Threads split the layer by output neurons (sdk::row_block), each running
// single-threaded primitives on its own rows of W. At small batch sizes this
// beats oneDNN's own threading: each core keeps its slice of the weights,
// gradients and optimizer state (which splits the same way) in its cache,
// and only the small activations cross between cores. Small layers run on
// one thread, where a fork/join would cost more than the work, and tiny ones
// (kTinyMacs) as plain loops, where even a oneDNN call would.
#include "dense_bf16.hpp"
#include "dense_kernels.hpp"

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <random>
#include <string>

#include <omp.h>

namespace {

namespace sdk = neurite::sdk;
namespace dk = neurite::dense;
using dnnl::algorithm;
using dnnl::memory;
using dk::Act;

constexpr size_t kMaxCachedBatches = 4;
constexpr double kParallelMinMacs = 1 << 20; // multiply-adds per call
constexpr int64_t kMinRowsPerThread = 16;
// Up to this many multiply-adds a call, plain loops beat oneDNN's fixed cost
// per execute. Break-even is near 1,000 (forward + backward from Lua: 4×16×16
// in loops 1.65 µs, 4×16×17 on oneDNN 1.86 µs; but 4×4×64 with a sigmoid
// 2.65 µs in loops, 2.25 on oneDNN). The XOR network's layers are 32 and 16.
constexpr int64_t kTinyMacs = 512;

class Dense final : public sdk::GraphLayer {
public:
    Dense(sdk::Host host, sdk::Params params, uint64_t seed)
        : m_host(host), m_engine(sdk::dnnl_engine(host)), m_init(params.string("init")), m_seed(seed)
    {
        m_in = params.integer("inputs");
        m_out = params.integer("outputs");
        m_has_bias = params.boolean("bias");
        m_act = dk::find_activation(params.string("activation"),
                                    params.choice("approximate", "none|tanh") == "tanh");
        const int64_t wdims[] = {m_out, m_in};
        declare_param("weight", wdims);
        if (m_has_bias) {
            const int64_t bdims[] = {m_out};
            declare_param("bias", bdims);
        }
    }

    void initialise() override
    {
        dk::initialise(value(kWeight), m_in, m_out, m_init, m_act->act, m_seed);
        if (m_has_bias)
            std::fill_n(value(kBias), m_out, 0.0f);
    }

    // The primitives hold the parameters' addresses: build them again.
    void on_bind() override
    {
        m_batches.clear();
        m_cur = nullptr;
        m_low_batches.clear();
        m_low = nullptr;
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Dense", 1, 1);
        const std::span<const int64_t> src_dims = p.src_dims(0);
        std::vector<int64_t> dst_dims;
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
        if (p.src_dtype(0) == NRT_DTYPE_BF16) { // the model computes in bf16
            p.want_src(0, NRT_FORMAT_PLAIN, NRT_DTYPE_BF16);
            p.add_output(dst_dims, NRT_FORMAT_PLAIN, NRT_DTYPE_BF16);
            p.set_workspace(dk::DenseBf16::workspace_bytes(n, m_out, *m_act));
            m_low = bound() ? low_cache_for(n) : nullptr;
            return;
        }
        p.add_output(dst_dims);
        // Unfused activations keep the pre-activation for backward.
        p.set_workspace(m_act->fused ? 0 : static_cast<uint64_t>(n * m_out) * sizeof(float));
        m_cur = bound() ? cache_for(n) : nullptr;
    }

    void forward(const sdk::Call &c) override
    {
        if (c.src(0).dtype == NRT_DTYPE_BF16)
            return low_for(c.src(0)).forward(c);
        const nrt_tensor &src = c.src(0);
        nrt_tensor &dst = c.dst(0);
        check_batch(src);
        check_output(dst, "output");
        Batch &b = *m_cur;
        if (b.tiny)
            return forward_tiny(b, sdk::f32(src), sdk::f32(dst));
        dk::OneThread one(b.parts.size() == 1 && b.single_thread);
        run_parts(b, [&](Part &p) { forward_part(b, p, src, dst, c.workspace()); });
    }

    void backward(const sdk::Call &c) override
    {
        if (c.src(0).dtype == NRT_DTYPE_BF16)
            return low_for(c.src(0)).backward(c);
        const nrt_tensor &src = c.src(0), &dst = c.dst(0), &diff_dst = c.diff_dst(0);
        nrt_tensor *diff_src = c.diff_src(0);
        m_overwrite = !c.accumulate();
        check_batch(src);
        check_output(dst, "output");
        check_output(diff_dst, "output gradient");
        if (diff_src) {
            sdk::require_contiguous(*diff_src, "input gradient");
            if (sdk::numel(*diff_src) != sdk::numel(src))
                sdk::fail(NRT_ERR_SHAPE, "Dense: input gradient " + sdk::shape_string(*diff_src) +
                                             " does not match the input " + sdk::shape_string(src));
        }
        Batch &b = *m_cur;
        if (b.tiny) {
            backward_tiny(b, sdk::f32(src), sdk::f32(dst), sdk::f32(diff_dst), diff_src ? sdk::f32(*diff_src) : nullptr);
            m_overwrite = false;
            return;
        }
        dk::OneThread one(b.parts.size() == 1 && b.single_thread);
        run_parts(
            b, [&](Part &p) { backward_part(b, p, src, dst, diff_dst, diff_src, c.workspace()); },
            [&](int me, int team) {
                if (diff_src && b.parts.size() > 1)
                    sum_partials(b, *diff_src, me, team);
            });
        m_overwrite = false;
    }

private:
    // One thread's share of the layer: output neurons [r.first, r.last).
    struct Part {
        sdk::RowBlock r{};
        dnnl::stream stream;
        memory src, out, pre, diff_dst, diff_pre, diff_pre_t, partial, scratch;
        sdk::Buffer out_buf, gather_buf, diff_pre_buf, partial_buf, scratch_buf;
        sdk::BoundPrimitive fwd, act_fwd, act_bwd, bwd_weights, bwd_weights_overwrite, bwd_data;
    };

    // Primitives and buffers for one batch size, built once and reused.
    struct Batch {
        int64_t n = 0;
        bool single_thread = false; // one part, and even oneDNN inside it on one thread
        bool tiny = false;          // plain loops (forward_tiny), no primitives
        std::vector<Part> parts;
        sdk::Buffer tiny_diff_pre;  // {n, outputs}
    };

    int64_t rows(const Part &p) const { return p.r.last - p.r.first; }

    // The shapes must be the prepared ones: the primitives were built for them.
    void check_batch(const nrt_tensor &src)
    {
        sdk::require_contiguous(src, "input");
        const int64_t n = src.ndims == 1 ? 1 : src.dims[0];
        if (!m_cur && bound() && n >= 1 && sdk::numel(src) == n * m_in)
            m_cur = cache_for(n); // prepared before its parameters were bound
        if (!m_cur || n != m_cur->n || sdk::numel(src) != n * m_in)
            sdk::fail(NRT_ERR_STATE, "Dense: input " + sdk::shape_string(src) + " was not prepared");
    }

    void check_output(const nrt_tensor &t, const char *what) const
    {
        sdk::require_contiguous(t, what);
        if (sdk::numel(t) != m_cur->n * m_out)
            sdk::fail(NRT_ERR_SHAPE, std::string("Dense: ") + what + " " + sdk::shape_string(t) + " is not {" +
                                         std::to_string(m_cur->n) + ", " + std::to_string(m_out) + "}");
    }

    // Runs body(part) for every part, one per thread, then after a barrier
    // finish(thread, team). The first exception is rethrown after the region.
    template <class Body, class Finish = void (*)(int, int)>
    void run_parts(Batch &b, Body &&body, Finish &&finish = [](int, int) {})
    {
        const int parts = static_cast<int>(b.parts.size());
        if (parts == 1) {
            body(b.parts[0]);
            finish(0, 1);
            return;
        }
        std::exception_ptr error;
#pragma omp parallel num_threads(parts)
        {
            const int me = omp_get_thread_num(), team = omp_get_num_threads();
            try {
                for (int p = me; p < parts; p += team)
                    body(b.parts[static_cast<size_t>(p)]);
            } catch (...) {
#pragma omp critical(neurite_dense_error)
                if (!error)
                    error = std::current_exception();
            }
#pragma omp barrier
            if (!error) {
                try {
                    finish(me, team);
                } catch (...) {
#pragma omp critical(neurite_dense_error)
                    if (!error)
                        error = std::current_exception();
                }
            }
        }
        if (error)
            std::rethrow_exception(error);
    }

    // This part's rows of the pre-activation inside the call's workspace.
    float *pre_of(const Batch &b, const Part &p, float *workspace) const
    {
        return workspace + p.r.first * b.n;
    }

    void forward_part(Batch &b, Part &p, const nrt_tensor &src, nrt_tensor &dst, float *workspace)
    {
        const bool direct = b.parts.size() == 1;
        p.src.set_data_handle(src.data);
        if (direct)
            p.out.set_data_handle(dst.data);
        if (!m_act->fused)
            p.pre.set_data_handle(pre_of(b, p, workspace));
        p.fwd.run(p.stream);
        if (!m_act->fused)
            p.act_fwd.run(p.stream);
        p.stream.wait();
        if (!direct)
            dk::copy_columns(p.out_buf.data(), rows(p), sdk::f32(dst) + p.r.first, m_out, rows(p), b.n);
    }

    void backward_part(Batch &b, Part &p, const nrt_tensor &src, const nrt_tensor &dst,
                       const nrt_tensor &diff_dst, nrt_tensor *diff_src, float *workspace)
    {
        if (!m_act->fused)
            p.pre.set_data_handle(pre_of(b, p, workspace));
        const bool direct = b.parts.size() == 1;
        const int64_t r = rows(p);
        const float *dst_cols = sdk::f32(dst) + p.r.first;
        const float *diff_dst_cols = sdk::f32(diff_dst) + p.r.first;
        // d pre for this part's neurons, contiguous {n, rows}
        float *diff_pre = p.diff_pre_buf.data();
        if (m_act->act == Act::Identity) {
            if (direct)
                diff_pre = sdk::f32(diff_dst);
            else
                dk::copy_columns(diff_dst_cols, m_out, diff_pre, r, r, b.n);
        } else if (m_act->fused) {
            dk::fused_activation_backward(*m_act, dst_cols, diff_dst_cols, m_out, diff_pre, r, b.n);
        } else {
            if (direct) {
                p.diff_dst.set_data_handle(diff_dst.data);
            } else {
                dk::copy_columns(diff_dst_cols, m_out, p.gather_buf.data(), r, r, b.n);
            }
            p.act_bwd.run(p.stream);
        }
        p.diff_pre.set_data_handle(diff_pre);
        p.diff_pre_t.set_data_handle(diff_pre);
        p.src.set_data_handle(src.data);
        (m_overwrite ? p.bwd_weights_overwrite : p.bwd_weights).run(p.stream);
        if (diff_src) {
            if (direct || &p == &b.parts[0])
                p.partial.set_data_handle(diff_src->data);
            p.bwd_data.run(p.stream);
        }
        p.stream.wait();
        if (m_has_bias)
            dk::column_sums(diff_pre, r, b.n, grad(kBias) + p.r.first, m_overwrite);
    }

    // dst = act(src · Wᵀ + b) for a layer too small for oneDNN's fixed cost.
    void forward_tiny(const Batch &b, const float *src, float *dst)
    {
        const float *w = value(kWeight), *bias = m_has_bias ? value(kBias) : nullptr;
        for (int64_t i = 0; i < b.n; ++i) {
            const float *x = src + i * m_in;
            float *y = dst + i * m_out;
            for (int64_t o = 0; o < m_out; ++o) {
                const float *w_row = w + o * m_in;
                float sum = bias ? bias[o] : 0.0f;
                for (int64_t k = 0; k < m_in; ++k)
                    sum += x[k] * w_row[k];
                y[o] = sum;
            }
        }
        if (m_act->act != Act::Identity)
            sdk::eltwise_forward(m_act->fn, m_act->alpha, 0.0f, dst, dst, b.n * m_out);
    }

    // The gradients of forward_tiny: dW (+)= d preᵀ · src, db (+)= Σ rows of
    // d pre, diff_src = d pre · W.
    void backward_tiny(Batch &b, const float *src, const float *dst, const float *diff_dst, float *diff_src)
    {
        const float *diff_pre = diff_dst;
        if (m_act->act != Act::Identity) {
            float *buf = b.tiny_diff_pre.data();
            dk::fused_activation_backward(*m_act, dst, diff_dst, m_out, buf, m_out, b.n);
            diff_pre = buf;
        }
        const float *w = value(kWeight);
        float *dw = grad(kWeight);
        for (int64_t o = 0; o < m_out; ++o) {
            float *dw_row = dw + o * m_in;
            for (int64_t k = 0; k < m_in; ++k) {
                float sum = m_overwrite ? 0.0f : dw_row[k];
                for (int64_t i = 0; i < b.n; ++i)
                    sum += diff_pre[i * m_out + o] * src[i * m_in + k];
                dw_row[k] = sum;
            }
        }
        if (m_has_bias)
            dk::column_sums(diff_pre, m_out, b.n, grad(kBias), m_overwrite);
        if (!diff_src)
            return;
        for (int64_t i = 0; i < b.n; ++i) {
            float *dx = diff_src + i * m_in;
            std::fill_n(dx, m_in, 0.0f);
            for (int64_t o = 0; o < m_out; ++o) {
                const float d = diff_pre[i * m_out + o];
                const float *w_row = w + o * m_in;
                for (int64_t k = 0; k < m_in; ++k)
                    dx[k] += d * w_row[k];
            }
        }
    }

    // diff_src = Σ parts' partial products; part 0 wrote into diff_src itself.
    void sum_partials(Batch &b, nrt_tensor &diff_src, int me, int team)
    {
        const int64_t total = b.n * m_in;
        const sdk::RowBlock slice = sdk::row_block(total, me, team);
        float *out = sdk::f32(diff_src);
        for (size_t p = 1; p < b.parts.size(); ++p) {
            const float *partial = b.parts[p].partial_buf.data();
#pragma omp simd
            for (int64_t i = slice.first; i < slice.last; ++i)
                out[i] += partial[i];
        }
    }

    // The bf16 primitives for the prepared batch size.
    dk::DenseBf16 &low_for(const nrt_tensor &src)
    {
        if (!sdk::is_contiguous(src))
            sdk::fail(NRT_ERR_UNSUPPORTED, "Dense: input " + sdk::shape_string(src) + " must be contiguous");
        const int64_t n = src.ndims == 1 ? 1 : src.dims[0];
        if (!m_low && bound() && n >= 1 && sdk::numel(src) == n * m_in)
            m_low = low_cache_for(n); // prepared before its parameters were bound
        if (!m_low || n != m_low->n || sdk::numel(src) != n * m_in)
            sdk::fail(NRT_ERR_STATE, "Dense: bf16 input " + sdk::shape_string(src) + " was not prepared");
        return *m_low;
    }

    dk::DenseBf16 *low_cache_for(int64_t n)
    {
        if (!value_bf16(kWeight))
            sdk::fail(NRT_ERR_STATE, "Dense: offered bf16 input, but the host bound no bf16 copy of the weights");
        const dk::DenseBf16::Params params{value_bf16(kWeight), m_has_bias ? value(kBias) : nullptr,
                                           grad(kWeight), m_has_bias ? grad(kBias) : nullptr};
        return cached(m_low_batches, n, "Dense: building bf16 primitives", [&] {
            const double macs = static_cast<double>(n) * static_cast<double>(m_in) * static_cast<double>(m_out);
            return std::make_unique<dk::DenseBf16>(m_engine, n, m_in, m_out, *m_act, params, macs < kParallelMinMacs);
        });
    }

    // The entry of `list` for batch size n, built (and the oldest dropped
    // beyond kMaxCachedBatches) when there is none.
    template <class T, class Build>
    static T *cached(std::vector<std::unique_ptr<T>> &list, int64_t n, const char *what, Build &&build)
    {
        for (auto &b : list)
            if (b->n == n)
                return b.get();
        if (list.size() == kMaxCachedBatches)
            list.erase(list.begin());
        list.push_back(sdk::with_dnnl(what, build));
        return list.back().get();
    }

    Batch *cache_for(int64_t n)
    {
        if (!bound())
            sdk::fail(NRT_ERR_STATE, "Dense: used before the host bound its parameters");
        return cached(m_batches, n, "Dense: building primitives", [&] { return build(n); });
    }

    int parts_for(int64_t n) const
    {
        const double macs = static_cast<double>(n) * static_cast<double>(m_in) * static_cast<double>(m_out);
        const int threads = m_host.raw() && m_host.raw()->num_threads > 0 ? m_host.raw()->num_threads
                                                                           : omp_get_max_threads();
        if (macs < kParallelMinMacs || threads < 2)
            return 1;
        return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, m_out / kMinRowsPerThread)));
    }

    std::unique_ptr<Batch> build(int64_t n)
    {
        auto b = std::make_unique<Batch>();
        b->n = n;
        b->tiny = m_act->fused && n * m_in * m_out <= kTinyMacs;
        if (b->tiny) {
            b->tiny_diff_pre.resize(static_cast<size_t>(n * m_out));
            return b;
        }
        const int parts = parts_for(n);
        b->single_thread = parts == 1 &&
                           static_cast<double>(n) * static_cast<double>(m_in) * static_cast<double>(m_out) < kParallelMinMacs;
        // Parts run inside our parallel region, where oneDNN uses one thread;
        // it must plan for one thread too.
        dk::OneThread one(parts > 1 || b->single_thread);
        b->parts.resize(static_cast<size_t>(parts));
        for (int i = 0; i < parts; ++i)
            build_part(*b, b->parts[static_cast<size_t>(i)], sdk::row_block(m_out, i, parts), i == 0);
        return b;
    }

    void build_part(Batch &b, Part &p, sdk::RowBlock block, bool first)
    {
        const bool direct = b.parts.size() == 1;
        const int64_t n = b.n, r = block.last - block.first;
        const auto f32 = memory::data_type::f32;
        p.r = block;
        p.stream = dnnl::stream(m_engine);
        float *w_rows = value(kWeight) + block.first * m_in;

        const memory::desc src_md({n, m_in}, f32, memory::dims{m_in, 1});
        const memory::desc out_md({n, r}, f32, memory::dims{r, 1}); // this part's neurons
        const memory::desc w_t_md({m_in, r}, f32, memory::dims{1, m_in}); // Wᵀ view of its rows
        const memory::desc w_md({r, m_in}, f32, memory::dims{m_in, 1});
        const memory::desc bias_md({1, r}, f32, memory::dims{r, 1});
        const memory::desc diff_pre_t_md({r, n}, f32, memory::dims{1, r});

        auto bound = [](dnnl::primitive prim) {
            return sdk::BoundPrimitive(std::move(prim), "Dense", "execute");
        };

        // Attributes are shared handles: copies would share their post-ops.
        dnnl::primitive_attr plain, fwd_attr, acc_attr;
        for (dnnl::primitive_attr *a : {&plain, &fwd_attr, &acc_attr})
            a->set_scratchpad_mode(dnnl::scratchpad_mode::user);
        if (m_act->fused && m_act->act != Act::Identity) {
            dnnl::post_ops ops;
            ops.append_eltwise(1.0f, m_act->forward, m_act->alpha, 0.0f);
            fwd_attr.set_post_ops(ops);
        }
        dnnl::post_ops acc; // dW += ..., gradients accumulate
        acc.append_sum(1.0f);
        acc_attr.set_post_ops(acc);

        auto fwd_pd = m_has_bias
            ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_t_md, bias_md, out_md), fwd_attr, m_engine)
            : dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_t_md, out_md), fwd_attr, m_engine);
        auto bww_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(diff_pre_t_md, src_md, w_md), acc_attr, m_engine);
        auto bww_over_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(diff_pre_t_md, src_md, w_md), plain, m_engine);
        auto bwd_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(out_md, w_md, src_md), plain, m_engine);
        size_t scratch = std::max({fwd_pd.scratchpad_desc().get_size(), bww_pd.scratchpad_desc().get_size(),
                                   bww_over_pd.scratchpad_desc().get_size(),
                                   bwd_pd.scratchpad_desc().get_size()});

        if (!direct)
            p.out_buf.resize(static_cast<size_t>(n * r));
        p.src = memory(src_md, m_engine, nullptr);
        p.out = memory(out_md, m_engine, direct ? nullptr : p.out_buf.data());
        memory matmul_dst = p.out;
        p.diff_pre_buf.resize(static_cast<size_t>(n * r));
        p.diff_pre = memory(out_md, m_engine, nullptr);
        p.diff_pre_t = memory(diff_pre_t_md, m_engine, nullptr);
        if (!m_act->fused) {
            p.pre = memory(out_md, m_engine, nullptr); // in the call's workspace
            matmul_dst = p.pre;
            if (!direct)
                p.gather_buf.resize(static_cast<size_t>(n * r));
            p.diff_dst = memory(out_md, m_engine, direct ? nullptr : p.gather_buf.data());
            dnnl::eltwise_forward::primitive_desc act_fwd_pd(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, m_act->forward, out_md,
                                            m_act->alpha), plain, m_engine);
            dnnl::eltwise_backward::primitive_desc act_bwd_pd(
                dnnl::eltwise_backward::desc(m_act->backward, out_md, out_md, m_act->alpha), plain,
                m_engine, act_fwd_pd);
            scratch = std::max({scratch, act_fwd_pd.scratchpad_desc().get_size(),
                                act_bwd_pd.scratchpad_desc().get_size()});
            p.act_fwd = bound(dnnl::eltwise_forward(act_fwd_pd));
            p.act_fwd.arg(DNNL_ARG_SRC, p.pre);
            p.act_fwd.arg(DNNL_ARG_DST, p.out);
            p.act_bwd = bound(dnnl::eltwise_backward(act_bwd_pd));
            p.act_bwd.arg(DNNL_ARG_SRC, p.pre);
            p.act_bwd.arg(DNNL_ARG_DIFF_DST, p.diff_dst);
            p.act_bwd.arg(DNNL_ARG_DIFF_SRC, memory(out_md, m_engine, p.diff_pre_buf.data()));
        }
        if (!direct && !first)
            p.partial_buf.resize(static_cast<size_t>(n * m_in));
        p.partial = memory(src_md, m_engine, (direct || first) ? nullptr : p.partial_buf.data());
        p.scratch_buf.resize(scratch / sizeof(float) + 1);
        p.scratch = memory(memory::desc({static_cast<int64_t>(scratch)}, memory::data_type::u8, memory::dims{1}),
                           m_engine, p.scratch_buf.data());

        p.fwd = bound(dnnl::matmul(fwd_pd));
        p.fwd.arg(DNNL_ARG_SRC, p.src);
        p.fwd.arg(DNNL_ARG_WEIGHTS, memory(w_t_md, m_engine, w_rows));
        if (m_has_bias)
            p.fwd.arg(DNNL_ARG_BIAS, memory(bias_md, m_engine, value(kBias) + block.first));
        p.fwd.arg(DNNL_ARG_DST, matmul_dst);

        const memory diff_weights(w_md, m_engine, grad(kWeight) + block.first * m_in);
        p.bwd_weights = bound(dnnl::matmul(bww_pd));
        p.bwd_weights_overwrite = bound(dnnl::matmul(bww_over_pd));
        for (sdk::BoundPrimitive *e : {&p.bwd_weights, &p.bwd_weights_overwrite}) {
            e->arg(DNNL_ARG_SRC, p.diff_pre_t);
            e->arg(DNNL_ARG_WEIGHTS, p.src);
            e->arg(DNNL_ARG_DST, diff_weights);
        }

        p.bwd_data = bound(dnnl::matmul(bwd_pd));
        p.bwd_data.arg(DNNL_ARG_SRC, p.diff_pre);
        p.bwd_data.arg(DNNL_ARG_WEIGHTS, memory(w_md, m_engine, w_rows));
        p.bwd_data.arg(DNNL_ARG_DST, p.partial);

        for (sdk::BoundPrimitive *e :
             {&p.fwd, &p.act_fwd, &p.act_bwd, &p.bwd_weights, &p.bwd_weights_overwrite, &p.bwd_data})
            if (*e)
                e->arg(DNNL_ARG_SCRATCHPAD, p.scratch);
    }

    static constexpr int kWeight = 0, kBias = 1;

    sdk::Host m_host;
    dnnl::engine m_engine;
    std::string m_init;
    uint64_t m_seed;
    int64_t m_in = 0, m_out = 0;
    bool m_has_bias = true;
    const dk::ActInfo *m_act = nullptr;
    std::vector<std::unique_ptr<Batch>> m_batches;
    Batch *m_cur = nullptr;
    std::vector<std::unique_ptr<dk::DenseBf16>> m_low_batches;
    dk::DenseBf16 *m_low = nullptr;
    bool m_overwrite = false; // gradients are logically zero: write, do not add
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("inputs", 1, 1 << 24, "Number of input features per sample."),
    sdk::required_int_param("outputs", 1, 1 << 24, "Number of output features (neurons)."),
    sdk::bool_param("bias", true, "Add a learnable bias b to every output."),
    sdk::choice_param("activation", "identity", "identity|relu|sigmoid|tanh|elu|softplus|gelu|swish",
                      "Activation applied to the output, fused into the layer."),
    sdk::choice_param("init", "auto", "auto|xavier|he|uniform|zeros",
                      "Weight initialisation; auto is he for ReLU-like activations, else xavier. "
                      "Biases start at zero."),
    sdk::choice_param("approximate", "none", "none|tanh",
                      "For activation = gelu: none = the exact erf form (PyTorch's and Keras's "
                      "default), or tanh = the tanh approximation."),
};

const nrt_entry kDense = sdk::make_entry<Dense>(
    NRT_KIND_LAYER, "Dense", "1.1.0",
    "Fully connected: dst = act(src · Wᵀ + b), W is {outputs, inputs}; bf16 in a bf16 model", kParams);

} // namespace

NEURITE_PLUGIN("neurite-dense", "1.1.0", &kDense)
