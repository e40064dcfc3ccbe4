// Softmax and LogSoftmax over the last dimension, on oneDNN softmax_v2.
//
// Any rank is viewed as a 2-D {rows, last} array with the softmax along
// axis 1: the leading dimensions only count independent rows. Primitives
// and memory objects are built once per shape in prepare(); forward and
// backward only swap data handles and execute.

#include <neurite/plugin_dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.0.0";
constexpr int kSoftmaxAxis = 1; // of the {rows, last} view

class SoftmaxBase : public sdk::Layer {
public:
    void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) override
    {
        sdk::require_src_dims(m_name, src_dims, "the softmax runs over the last dimension");
        // A failed prepare must not leave primitives for an older shape usable.
        m_shape.reset();
        const int64_t last = src_dims.back();
        int64_t rows = 1;
        for (std::size_t i = 0; i + 1 < src_dims.size(); ++i)
            rows *= src_dims[i];
        if (rows * last > 0)
            build(rows, last);
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

    // Both algorithms differentiate from dst alone, so src is not read.
    void backward(const nrt_tensor &, const nrt_tensor &dst, const nrt_tensor &diff_dst,
                  nrt_tensor *diff_src) override
    {
        if (!diff_src)
            return; // no parameters, so nothing else to compute
        m_shape.check(m_name, dst, "dst");
        m_shape.check(m_name, diff_dst, "diff_dst");
        m_shape.check(m_name, *diff_src, "diff_src");
        if (m_shape.numel() == 0)
            return;
        m_dst.set_data_handle(dst.data);
        m_diff_dst.set_data_handle(diff_dst.data);
        m_diff_src.set_data_handle(diff_src->data);
        m_bwd.run(m_stream);
        m_stream.wait();
    }

protected:
    SoftmaxBase(const sdk::Host &host, const char *name, dnnl::algorithm algorithm)
        : m_name(name), m_algorithm(algorithm), m_engine(sdk::dnnl_engine(host)),
          m_stream(sdk::dnnl_stream(host))
    {
    }

private:
    void build(int64_t rows, int64_t last)
    {
        sdk::with_dnnl(m_name, [&] {
            const dnnl::memory::desc md({rows, last}, dnnl::memory::data_type::f32,
                                        dnnl::memory::format_tag::ab);
            // A user scratchpad keeps oneDNN from allocating one per execute.
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

            const dnnl::softmax_v2_forward::desc fwd_desc(dnnl::prop_kind::forward_training,
                                                          m_algorithm, md, md, kSoftmaxAxis);
            const dnnl::softmax_v2_forward::primitive_desc fwd_pd(fwd_desc, attr, m_engine);
            const dnnl::softmax_v2_backward::desc bwd_desc(m_algorithm, md, md, md, kSoftmaxAxis);
            const dnnl::softmax_v2_backward::primitive_desc bwd_pd(bwd_desc, attr, m_engine,
                                                                   fwd_pd);

            // Forward and backward never run at once, so they share one buffer.
            sdk::Buffer scratchpad = sdk::scratchpad_for(fwd_pd, bwd_pd);

            m_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);

            m_fwd = sdk::BoundPrimitive(dnnl::softmax_v2_forward(fwd_pd), m_name,
                                        "softmax forward");
            m_fwd.arg(DNNL_ARG_SRC, m_src);
            m_fwd.arg(DNNL_ARG_DST, m_dst);
            m_fwd.scratchpad(fwd_pd, m_engine, scratchpad);

            m_bwd = sdk::BoundPrimitive(dnnl::softmax_v2_backward(bwd_pd), m_name,
                                        "softmax backward");
            m_bwd.arg(DNNL_ARG_DST, m_dst);
            m_bwd.arg(DNNL_ARG_DIFF_DST, m_diff_dst);
            m_bwd.arg(DNNL_ARG_DIFF_SRC, m_diff_src);
            m_bwd.scratchpad(bwd_pd, m_engine, scratchpad);
            // The old buffer is freed only now, after the memories that pointed
            // into it were replaced.
            m_scratchpad = std::move(scratchpad);
        });
    }

    const char *m_name;
    dnnl::algorithm m_algorithm;
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    sdk::PreparedShape m_shape;

    sdk::BoundPrimitive m_fwd;
    sdk::BoundPrimitive m_bwd;
    dnnl::memory m_src, m_dst, m_diff_dst, m_diff_src;
    sdk::Buffer m_scratchpad;
};

class Softmax final : public SoftmaxBase {
public:
    Softmax(sdk::Host host, sdk::Params, uint64_t)
        : SoftmaxBase(host, "Softmax", dnnl::algorithm::softmax_accurate)
    {
    }
};

// Computed directly rather than as log(softmax): stable for large logits and
// exact where softmax underflows to 0.
class LogSoftmax final : public SoftmaxBase {
public:
    LogSoftmax(sdk::Host host, sdk::Params, uint64_t)
        : SoftmaxBase(host, "LogSoftmax", dnnl::algorithm::softmax_log)
    {
    }
};

const nrt_entry kSoftmax = sdk::make_entry<Softmax>(
    NRT_KIND_ACTIVATION, "Softmax", kVersion,
    "Softmax over the last dimension: f_i = e^x_i / sum_j e^x_j, df_i/dx_j = f_i(d_ij - f_j)");
const nrt_entry kLogSoftmax = sdk::make_entry<LogSoftmax>(
    NRT_KIND_ACTIVATION, "LogSoftmax", kVersion,
    "LogSoftmax over the last dimension: f_i = x_i - ln(sum_j e^x_j), "
    "df_i/dx_j = d_ij - e^f_j");

} // namespace

NEURITE_PLUGIN("neurite-activation-softmax", kVersion, &kSoftmax, &kLogSoftmax)
