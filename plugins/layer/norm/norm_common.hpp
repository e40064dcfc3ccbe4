// What BatchNorm and LayerNorm share: oneDNN memory descriptors for the
// formats the host passes, a small cache of primitives per input shape, and
// the parameter gradients of a backward primitive that can only write them.
#ifndef NEURITE_LAYER_NORM_COMMON_HPP
#define NEURITE_LAYER_NORM_COMMON_HPP

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <memory>
#include <span>
#include <vector>

namespace neurite::norm {

namespace sdk = neurite::sdk;
using dnnl::memory;

// The descriptor of a tensor of these dims in `format` (NRT_FORMAT_PLAIN or
// the dnnl_format_tag_t a producer wrote).
inline memory::desc data_desc(std::span<const int64_t> dims, int32_t format)
{
    if (format == NRT_FORMAT_PLAIN)
        return sdk::plain_desc(dims);
    return memory::desc(memory::dims(dims.begin(), dims.end()), memory::data_type::f32,
                        static_cast<memory::format_tag>(format));
}

inline int64_t product(std::span<const int64_t> dims)
{
    int64_t n = 1;
    for (int64_t d : dims)
        n *= d;
    return n;
}

// The primitives built for the last few input shapes, so that a model
// switching between its batch size and a last partial batch builds nothing.
template <class Built> class ShapeCache {
public:
    // The entry for dims and format, built by make(dims, format) if missing.
    template <class Make> Built &get(std::span<const int64_t> dims, int32_t format, Make &&make)
    {
        for (auto &b : m_built)
            if (b->format == format && std::equal(dims.begin(), dims.end(), b->dims.begin(), b->dims.end()))
                return *b;
        if (m_built.size() == kKept)
            m_built.erase(m_built.begin());
        std::unique_ptr<Built> b = make(dims, format);
        b->dims.assign(dims.begin(), dims.end());
        b->format = format;
        m_built.push_back(std::move(b));
        return *m_built.back();
    }
    void clear() { m_built.clear(); }

private:
    static constexpr size_t kKept = 4;
    std::vector<std::unique_ptr<Built>> m_built;
};

// Binds a primitive's arguments, in one list.
inline void bind_args(sdk::BoundPrimitive &p, std::initializer_list<std::pair<int, memory>> args)
{
    for (const auto &[name, m] : args)
        p.arg(name, m);
}

// The tensor's shape and format, as the cache keys them.
inline std::span<const int64_t> dims_of(const nrt_tensor &t)
{
    return {t.dims, static_cast<size_t>(t.ndims)};
}

// oneDNN's normalization backward writes d scale and d shift. The host's
// gradients hold earlier contributions unless the call says they are
// logically zero, so when accumulating the primitive writes into scratch and
// the sum happens here.
class ScaleShiftGrads {
public:
    explicit ScaleShiftGrads(int64_t count) : m_count(count), m_scratch(static_cast<size_t>(2 * count)) {}

    // Where the primitive writes d scale and d shift for this call.
    float *scale_target(bool accumulate, float *grad_scale) const
    {
        return accumulate ? m_scratch.data() : grad_scale;
    }
    float *shift_target(bool accumulate, float *grad_shift) const
    {
        return accumulate ? m_scratch.data() + m_count : grad_shift;
    }
    // After the primitive ran: adds the scratch into the gradients.
    void finish(bool accumulate, float *grad_scale, float *grad_shift) const
    {
        if (!accumulate)
            return;
        const float *s = m_scratch.data();
        for (int64_t i = 0; i < m_count; ++i) {
            grad_scale[i] += s[i];
            grad_shift[i] += s[m_count + i];
        }
    }

private:
    int64_t m_count;
    sdk::Buffer m_scratch;
};

// What a normalization layer keeps for one input shape besides its primitives.
struct NormBuilt {
    std::vector<int64_t> dims;
    int32_t format = NRT_FORMAT_PLAIN;
    size_t bytes = 0; // of one data tensor, a blocked format's padding included
    memory src, dst, diff_dst, diff_src, diff_scale, diff_shift;
    sdk::Buffer scratchpad, spare_diff_src;
};

// The plumbing BatchNorm and LayerNorm share: the host's engine and stream,
// primitives per shape (Built derives from NormBuilt), and a backward that
// writes or adds the gradients of scale and shift.
template <class Built> class NormLayer : public sdk::GraphLayer {
protected:
    NormLayer(const sdk::Host &host, int64_t affine_count)
        : m_engine(sdk::dnnl_engine(host)), m_stream(sdk::dnnl_stream(host)), m_grads(affine_count)
    {
    }

    // The primitives' memories hold the parameters' addresses.
    void on_bind() override { m_cache.clear(); }

    // Binds the call's tensors to b and runs its backward primitive (which
    // reads whatever statistics the caller bound), with the scale and shift
    // gradients written or added as the call says.
    void run_backward(Built &b, const sdk::Call &c, const sdk::BoundPrimitive &primitive, float *grad_scale,
                      float *grad_shift)
    {
        nrt_tensor *diff_src = c.diff_src(0);
        if (!diff_src) // the primitive always writes one
            b.spare_diff_src.resize(b.bytes / sizeof(float));
        b.src.set_data_handle(c.src(0).data);
        b.diff_dst.set_data_handle(c.diff_dst(0).data);
        b.diff_src.set_data_handle(diff_src ? diff_src->data : b.spare_diff_src.data());
        const bool acc = c.accumulate();
        b.diff_scale.set_data_handle(m_grads.scale_target(acc, grad_scale));
        b.diff_shift.set_data_handle(m_grads.shift_target(acc, grad_shift));
        primitive.run(m_stream);
        m_stream.wait();
        m_grads.finish(acc, grad_scale, grad_shift);
    }

    dnnl::engine m_engine;
    dnnl::stream m_stream;
    ScaleShiftGrads m_grads;
    ShapeCache<Built> m_cache;
};

// The entries, defined in batch_norm.cpp and layer_norm.cpp.
extern const nrt_entry kBatchNormEntry;
extern const nrt_entry kLayerNormEntry;

} // namespace neurite::norm

#endif // NEURITE_LAYER_NORM_COMMON_HPP
