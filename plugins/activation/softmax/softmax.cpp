// Softmax and LogSoftmax over the last dimension, on oneDNN softmax_v2.
//
// Any rank is viewed as a 2-D {rows, last} array with the softmax along
// axis 1: the leading dimensions only count independent rows. Primitives
// and memory objects are built once per shape in prepare(); forward and
// backward only swap data handles and execute.

#include <neurite/plugin_dnnl.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.0.0";
constexpr int kSoftmaxAxis = 1; // of the {rows, last} view

// An empty tensor is allowed (an empty batch is a no-op), a negative extent is not.
void validate_src_dims(const char *layer, std::span<const int64_t> dims)
{
    if (dims.empty() || dims.size() > NRT_MAX_DIMS)
        sdk::fail(NRT_ERR_SHAPE, std::string(layer) + ": src rank " + std::to_string(dims.size()) +
                                     " is not in 1.." + std::to_string(NRT_MAX_DIMS) +
                                     "; the softmax runs over the last dimension");
    for (int64_t d : dims)
        if (d < 0)
            sdk::fail(NRT_ERR_SHAPE, std::string(layer) + ": src " +
                                         sdk::shape_string(static_cast<int32_t>(dims.size()),
                                                           dims.data()) +
                                         " has a negative dimension");
}

// The input shape of the last successful prepare(). The primitives were built
// for exactly this shape, so forward and backward must see it too.
class PreparedShape {
public:
    void reset() { m_ndims = 0; }
    void assign(std::span<const int64_t> dims)
    {
        m_ndims = static_cast<int32_t>(dims.size());
        m_numel = 1;
        for (std::size_t i = 0; i < dims.size(); ++i) {
            m_dims[i] = dims[i];
            m_numel *= dims[i];
        }
    }
    bool ready() const { return m_ndims > 0; }
    int64_t numel() const { return m_numel; }

    // Cheap enough for every call: strings are built only to report an error.
    void check(const char *layer, const nrt_tensor &t, const char *what) const
    {
        if (!ready())
            sdk::fail(NRT_ERR_STATE, std::string(layer) + ": prepare() must succeed before " +
                                         "forward() or backward()");
        sdk::require_contiguous(t, what);
        bool same = t.ndims == m_ndims;
        for (int i = 0; same && i < m_ndims; ++i)
            same = t.dims[i] == m_dims[i];
        if (!same)
            sdk::fail(NRT_ERR_SHAPE, std::string(layer) + ": " + what + " " + sdk::shape_string(t) +
                                         " does not match the prepared shape " +
                                         sdk::shape_string(m_ndims, m_dims.data()));
        if (!t.data && m_numel > 0)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(layer) + ": " + what + " has no data");
    }

private:
    int32_t m_ndims = 0;
    int64_t m_numel = 0;
    std::array<int64_t, NRT_MAX_DIMS> m_dims{};
};

class SoftmaxBase : public sdk::Layer {
public:
    void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) override
    {
        validate_src_dims(m_name, src_dims);
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
        execute(m_fwd, m_fwd_args.data(), m_fwd_arg_count, "forward");
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
        execute(m_bwd, m_bwd_args.data(), m_bwd_arg_count, "backward");
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

            const dnnl::memory::desc fwd_scratch_md = fwd_pd.scratchpad_desc();
            const dnnl::memory::desc bwd_scratch_md = bwd_pd.scratchpad_desc();
            const std::size_t scratch_bytes =
                std::max(fwd_scratch_md.get_size(), bwd_scratch_md.get_size());
            // Forward and backward never run at once, so they share one buffer.
            // sdk::Buffer is 64-byte aligned, which oneDNN's kernels prefer.
            sdk::Buffer scratchpad((scratch_bytes + sizeof(float) - 1) / sizeof(float));

            m_fwd = dnnl::softmax_v2_forward(fwd_pd);
            m_bwd = dnnl::softmax_v2_backward(bwd_pd);
            m_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_dst = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);
            m_diff_src = dnnl::memory(md, m_engine, DNNL_MEMORY_NONE);

            m_fwd_arg_count = 0;
            m_fwd_args[m_fwd_arg_count++] = {DNNL_ARG_SRC, m_src.get()};
            m_fwd_args[m_fwd_arg_count++] = {DNNL_ARG_DST, m_dst.get()};
            m_fwd_scratch = dnnl::memory();
            if (fwd_scratch_md.get_size() > 0) {
                m_fwd_scratch = dnnl::memory(fwd_scratch_md, m_engine, scratchpad.data());
                m_fwd_args[m_fwd_arg_count++] = {DNNL_ARG_SCRATCHPAD, m_fwd_scratch.get()};
            }

            m_bwd_arg_count = 0;
            m_bwd_args[m_bwd_arg_count++] = {DNNL_ARG_DST, m_dst.get()};
            m_bwd_args[m_bwd_arg_count++] = {DNNL_ARG_DIFF_DST, m_diff_dst.get()};
            m_bwd_args[m_bwd_arg_count++] = {DNNL_ARG_DIFF_SRC, m_diff_src.get()};
            m_bwd_scratch = dnnl::memory();
            if (bwd_scratch_md.get_size() > 0) {
                m_bwd_scratch = dnnl::memory(bwd_scratch_md, m_engine, scratchpad.data());
                m_bwd_args[m_bwd_arg_count++] = {DNNL_ARG_SCRATCHPAD, m_bwd_scratch.get()};
            }
            // The old buffer is freed only now, after the memories that pointed
            // into it were replaced.
            m_scratchpad = std::move(scratchpad);
        });
    }

    // The C entry point takes a prepared argument array; the C++ execute()
    // would build an unordered_map and a vector on every call.
    void execute(const dnnl::primitive &p, const dnnl_exec_arg_t *args, int count,
                 const char *what)
    {
        const dnnl_status_t status = dnnl_primitive_execute(p.get(), m_stream.get(), count, args);
        if (status != dnnl_success)
            sdk::fail(NRT_ERR_INTERNAL, std::string(m_name) + ": oneDNN softmax " + what +
                                            " failed with status " + std::to_string(status));
        m_stream.wait();
    }

    const char *m_name;
    dnnl::algorithm m_algorithm;
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    PreparedShape m_shape;

    dnnl::softmax_v2_forward m_fwd;
    dnnl::softmax_v2_backward m_bwd;
    dnnl::memory m_src, m_dst, m_diff_dst, m_diff_src;
    dnnl::memory m_fwd_scratch, m_bwd_scratch;
    sdk::Buffer m_scratchpad;
    std::array<dnnl_exec_arg_t, 3> m_fwd_args{};
    std::array<dnnl_exec_arg_t, 4> m_bwd_args{};
    int m_fwd_arg_count = 0;
    int m_bwd_arg_count = 0;
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
