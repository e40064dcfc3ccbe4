// Softmax and LogSoftmax over the last dimension, on oneDNN softmax_v2.
//
// Any rank is viewed as a 2-D {rows, last} array with the softmax along
// axis 1: the leading dimensions only count independent rows.
// sdk::DnnlActivation builds the primitives once per shape and runs them.

#include <neurite/plugin_dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.1.0";
constexpr int kSoftmaxAxis = 1; // of the {rows, last} view

class SoftmaxBase : public sdk::DnnlActivation {
protected:
    // Both algorithms differentiate from dst alone, so src is not read.
    SoftmaxBase(const sdk::Host &host, const char *name, dnnl::algorithm algorithm)
        : DnnlActivation(host, name, BackwardReads::Dst, "the softmax runs over the last dimension"),
          m_algorithm(algorithm)
    {
    }

private:
    Primitives describe(std::span<const int64_t> src_dims, int32_t, const dnnl::engine &engine,
                        const dnnl::primitive_attr &attr) const override
    {
        const int64_t last = src_dims.back();
        int64_t rows = 1;
        for (std::size_t i = 0; i + 1 < src_dims.size(); ++i)
            rows *= src_dims[i];
        const dnnl::memory::desc md({rows, last}, dnnl::memory::data_type::f32,
                                    dnnl::memory::format_tag::ab);
        const dnnl::softmax_v2_forward::primitive_desc fwd_pd(
            {dnnl::prop_kind::forward_training, m_algorithm, md, md, kSoftmaxAxis}, attr, engine);
        const dnnl::softmax_v2_backward::primitive_desc bwd_pd(
            {m_algorithm, md, md, md, kSoftmaxAxis}, attr, engine, fwd_pd);
        return {md, fwd_pd, bwd_pd};
    }

    dnnl::algorithm m_algorithm;
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
