// 2-D pooling and resampling on oneDNN's primitives: MaxPool2D, AvgPool2D,
// GlobalAvgPool2D and Upsample, forward (training) and backward.
//
// A pool reads its input in whatever layout the layer before wrote (a
// blocked nChw16c after a convolution stays blocked) and writes the same,
// so a conv-pool chain needs no conversion. Max pooling keeps where each
// maximum was in the call's workspace, which the host carries from the
// forward to its backward; the backward routes each gradient there. Where
// the layout allows (channels blocked or not, which is every layout a
// convolution writes), max pooling keeps nothing: its forward runs oneDNN's
// inference pooling, or its own where that is faster (bf16; f32 channels
// last), and its backward finds each maximum again (max_route.hpp; in bf16
// only for windows that do not overlap).
// GlobalAvgPool2D averages each channel's whole map and writes [N, C],
// plain, ready for a Dense layer.
#include "../common/spatial.hpp"
#include "max_route.hpp"

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
namespace sp = neurite::spatial;
using dnnl::memory;

constexpr size_t kKeptShapes = 4;

// The primitives of one input shape and format.
struct Built {
    std::vector<int64_t> dims;
    int32_t format = NRT_FORMAT_PLAIN;
    nrt_dtype dtype = NRT_DTYPE_F32;
    memory src, dst, diff_dst, diff_src, workspace;
    sdk::BoundPrimitive forward, backward;
    sdk::Buffer scratchpad;
    uint64_t workspace_bytes = 0;
    std::optional<neurite::pool::MaxRoute> route; // max pooling's backward without oneDNN
    bool route_forward = false;                   // and its forward too (no oneDNN primitive then)
};

// A parameterless layer over [N, C, H, W] computed by one oneDNN forward
// primitive and its backward, which reads any layout and keeps it: the
// pools and Upsample. This class checks the input, builds the primitives
// once per shape and format (the last few are kept) and runs them; a
// derived class gives the output's size and describes the primitives.
class Spatial : public sdk::GraphLayer {
public:
    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs(m_name, 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sp::require_images(dims, 0);
        // A blocked layout stays blocked, unless the output is flat. A bf16
        // model offers bf16: the pool then reads and writes bf16 (half the
        // memory traffic, and no conversion between bf16 convolutions).
        const bool keep = p.src_format(0) != NRT_FORMAT_PLAIN && !flattens();
        const int32_t format = keep ? p.src_format(0) : NRT_FORMAT_PLAIN;
        const nrt_dtype dtype = p.src_dtype(0) == NRT_DTYPE_BF16 ? NRT_DTYPE_BF16 : NRT_DTYPE_F32;
        p.want_src(0, format, dtype);
        const sp::Hw out = output_size(dims, p.src_shape(0));
        m_cur = nullptr;
        Built *b = find(dims, format, dtype);
        if (!b) {
            if (m_built.size() == kKeptShapes)
                m_built.erase(m_built.begin());
            m_built.push_back(sdk::with_dnnl(m_name, [&] { return build(dims, format, dtype, out); }));
            b = m_built.back().get();
        }
        if (flattens()) {
            const int64_t flat[] = {dims[0], dims[1]};
            p.add_output(flat, NRT_FORMAT_PLAIN, dtype);
        } else {
            const int64_t image[] = {dims[0], dims[1], out.h, out.w};
            p.add_output(image, format, dtype);
        }
        p.set_workspace(b->workspace_bytes);
        m_cur = b;
    }

    void forward(const sdk::Call &c) override
    {
        Built &b = current(c.src(0));
        if (b.route_forward) {
            if (b.dtype == NRT_DTYPE_BF16)
                route_forward<uint16_t>(*b.route, c);
            else
                route_forward<float>(*b.route, c);
            return;
        }
        b.src.set_data_handle(c.src(0).data);
        b.dst.set_data_handle(c.dst(0).data);
        if (b.workspace_bytes)
            b.workspace.set_data_handle(c.workspace());
        b.forward.run(m_stream);
        m_stream.wait();
    }

    void backward(const sdk::Call &c) override
    {
        nrt_tensor *diff_src = c.diff_src(0);
        if (!diff_src)
            return; // no parameters: nothing else to compute
        Built &b = current(c.src(0));
        if (b.route) {
            if (b.dtype == NRT_DTYPE_BF16)
                route_backward<uint16_t>(*b.route, c, *diff_src);
            else
                route_backward<float>(*b.route, c, *diff_src);
            return;
        }
        b.diff_dst.set_data_handle(c.diff_dst(0).data);
        b.diff_src.set_data_handle(diff_src->data);
        if (b.workspace_bytes)
            b.workspace.set_data_handle(c.workspace());
        b.backward.run(m_stream);
        m_stream.wait();
    }

protected:
    // backward is empty when route computes it, forward too when the
    // route's forward pays.
    struct Pds {
        dnnl::primitive_desc forward, backward;
        std::optional<neurite::pool::MaxRoute> route;
    };

    // T: float, or uint16_t for bf16's bits.
    template <class T>
    void route_backward(const neurite::pool::MaxRoute &route, const sdk::Call &c, nrt_tensor &diff_src) const
    {
        route.backward(static_cast<const T *>(c.src(0).data), static_cast<const T *>(c.dst(0).data),
                       static_cast<const T *>(c.diff_dst(0).data), static_cast<T *>(diff_src.data), m_threads);
    }

    template <class T> void route_forward(const neurite::pool::MaxRoute &route, const sdk::Call &c) const
    {
        route.forward(static_cast<const T *>(c.src(0).data), static_cast<T *>(c.dst(0).data), m_threads);
    }

    // name is not copied: a string literal.
    Spatial(const sdk::Host &host, const char *name)
        : m_name(name), m_engine(sdk::dnnl_engine(host)), m_stream(sdk::dnnl_stream(host)),
          m_threads(host.raw() && host.raw()->num_threads > 0 ? host.raw()->num_threads : omp_get_max_threads())
    {
    }

    // The output's height and width; refuses an input it cannot take, naming it.
    virtual sp::Hw output_size(std::span<const int64_t> dims, const std::string &shape) const = 0;
    // The forward primitive and its backward (or the route), src and dst as given.
    virtual Pds describe(std::span<const int64_t> dims, const memory::desc &src, const memory::desc &dst,
                         const dnnl::engine &engine, const dnnl::primitive_attr &attr) const = 0;
    // [N, C, 1, 1] written as plain [N, C].
    virtual bool flattens() const { return false; }

    const char *m_name;

private:
    Built *find(std::span<const int64_t> dims, int32_t format, nrt_dtype dtype)
    {
        for (auto &b : m_built)
            if (b->format == format && b->dtype == dtype && std::equal(dims.begin(), dims.end(), b->dims.begin(), b->dims.end()))
                return b.get();
        return nullptr;
    }

    Built &current(const nrt_tensor &src)
    {
        const std::span<const int64_t> dims(src.dims, static_cast<size_t>(src.ndims));
        if (m_cur && std::equal(dims.begin(), dims.end(), m_cur->dims.begin(), m_cur->dims.end()))
            return *m_cur;
        if (Built *b = find(dims, src.format, static_cast<nrt_dtype>(src.dtype)))
            return *b;
        sdk::fail(NRT_ERR_STATE, std::string(m_name) + ": input " + sdk::shape_string(src) + " was not prepared");
    }

    std::unique_ptr<Built> build(std::span<const int64_t> dims, int32_t format, nrt_dtype dtype, sp::Hw out) const
    {
        auto b = std::make_unique<Built>();
        b->dims.assign(dims.begin(), dims.end());
        b->format = format;
        b->dtype = dtype;
        const int64_t out_dims[] = {dims[0], dims[1], out.h, out.w};
        const auto type = dtype == NRT_DTYPE_BF16 ? memory::data_type::bf16 : memory::data_type::f32;
        const memory::desc src = sdk::desc_of(dims, format, type), dst = sdk::desc_of(out_dims, format, type);
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const Pds pds = describe(dims, src, dst, m_engine, attr);
        b->route = pds.route;
        if (!pds.forward) {
            b->route_forward = true;
            return b;
        }
        b->scratchpad = pds.route ? sdk::scratchpad_for(pds.forward) : sdk::scratchpad_for(pds.forward, pds.backward);
        b->src = memory(src, m_engine, DNNL_MEMORY_NONE);
        b->dst = memory(dst, m_engine, DNNL_MEMORY_NONE);
        b->diff_src = memory(src, m_engine, DNNL_MEMORY_NONE);
        b->diff_dst = memory(dst, m_engine, DNNL_MEMORY_NONE);
        b->forward = sdk::BoundPrimitive(dnnl::primitive(pds.forward), m_name, "forward");
        b->forward.arg(DNNL_ARG_SRC, b->src);
        b->forward.arg(DNNL_ARG_DST, b->dst);
        b->forward.scratchpad(pds.forward, m_engine, b->scratchpad);
        if (b->route)
            return b;
        b->backward = sdk::BoundPrimitive(dnnl::primitive(pds.backward), m_name, "backward");
        b->backward.arg(DNNL_ARG_DIFF_DST, b->diff_dst);
        b->backward.arg(DNNL_ARG_DIFF_SRC, b->diff_src);
        b->backward.scratchpad(pds.backward, m_engine, b->scratchpad);
        // Max pooling: where each maximum was, for the backward.
        b->workspace_bytes = pds.forward.workspace_desc().get_size();
        if (b->workspace_bytes) {
            b->workspace = memory(pds.forward.workspace_desc(), m_engine, DNNL_MEMORY_NONE);
            b->forward.arg(DNNL_ARG_WORKSPACE, b->workspace);
            b->backward.arg(DNNL_ARG_WORKSPACE, b->workspace);
        }
        return b;
    }

    dnnl::engine m_engine;
    dnnl::stream m_stream;
    int m_threads; // for the route
    std::vector<std::unique_ptr<Built>> m_built;
    Built *m_cur = nullptr;
};

class Pool : public Spatial {
protected:
    Pool(const sdk::Host &host, const char *name, dnnl::algorithm algorithm, sp::Window window, bool global)
        : Spatial(host, name), m_algorithm(algorithm), m_window(window), m_global(global)
    {
    }

    // The schema's window.
    static sp::Window read_window(const sdk::Params &p, const char *name)
    {
        sp::Window w;
        w.kernel = sp::read_pair(p, "kernel");
        const sdk::IntPair stride = p.pair("stride");
        w.stride = stride.word == "kernel" ? w.kernel : sp::Hw{stride.h, stride.w};
        w.padding = sp::read_pair(p, "padding");
        // PyTorch's rule: a window must overlap the input by more than its padding.
        if (w.padding.h * 2 > w.kernel.h || w.padding.w * 2 > w.kernel.w)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(name) + ": padding " + sp::hw_text(w.padding) +
                                                    " is more than half the kernel " + sp::hw_text(w.kernel));
        return w;
    }

private:
    // GlobalAvgPool2D's window covers the whole input.
    sp::Window window_for(std::span<const int64_t> dims) const
    {
        if (!m_global)
            return m_window;
        sp::Window w;
        w.kernel = {dims[2], dims[3]};
        return w;
    }

    sp::Hw output_size(std::span<const int64_t> dims, const std::string &shape) const override
    {
        return sp::resolve(window_for(dims), {dims[2], dims[3]}, shape).out;
    }

    Pds describe(std::span<const int64_t> dims, const memory::desc &src, const memory::desc &dst,
                 const dnnl::engine &engine, const dnnl::primitive_attr &attr) const override
    {
        const sp::Window w = window_for(dims);
        const sp::Geometry g = sp::resolve(w, {dims[2], dims[3]}, sdk::shape_string(dims));
        const memory::dims no_dilation{0, 0};
        if (m_algorithm == dnnl::algorithm::pooling_max) {
            const neurite::pool::MaxWindow window{w.kernel.h, w.kernel.w, w.stride.h,
                                                  w.stride.w, g.pads.begin.h, g.pads.begin.w};
            if (auto route = neurite::pool::MaxRoute::of(src, dst, window)) {
                if (route->forward_pays())
                    return {{}, {}, route};
                const dnnl::pooling_v2_forward::primitive_desc fwd(
                    {dnnl::prop_kind::forward_inference, m_algorithm, src, dst, sp::dnnl_hw(w.stride),
                     sp::dnnl_hw(w.kernel), no_dilation, sp::dnnl_hw(g.pads.begin), sp::dnnl_hw(g.pads.end)},
                    attr, engine);
                return {fwd, {}, route};
            }
        }
        const dnnl::pooling_v2_forward::primitive_desc fwd(
            {dnnl::prop_kind::forward_training, m_algorithm, src, dst, sp::dnnl_hw(w.stride), sp::dnnl_hw(w.kernel),
             no_dilation, sp::dnnl_hw(g.pads.begin), sp::dnnl_hw(g.pads.end)},
            attr, engine);
        const dnnl::pooling_v2_backward::primitive_desc bwd(
            {m_algorithm, src, dst, sp::dnnl_hw(w.stride), sp::dnnl_hw(w.kernel), no_dilation,
             sp::dnnl_hw(g.pads.begin), sp::dnnl_hw(g.pads.end)},
            attr, engine, fwd);
        return {fwd, bwd, std::nullopt};
    }

    bool flattens() const override { return m_global; }

    dnnl::algorithm m_algorithm;
    sp::Window m_window;
    bool m_global;
};

class MaxPool2D final : public Pool {
public:
    MaxPool2D(sdk::Host host, sdk::Params p, uint64_t)
        : Pool(host, "MaxPool2D", dnnl::algorithm::pooling_max, read_window(p, "MaxPool2D"), false)
    {
    }
};

// PyTorch's default counts the padding's zeros in each average
// (count_include_pad = true); false averages over the input's cells only.
class AvgPool2D final : public Pool {
public:
    AvgPool2D(sdk::Host host, sdk::Params p, uint64_t)
        : Pool(host, "AvgPool2D",
               p.boolean("count_include_pad") ? dnnl::algorithm::pooling_avg_include_padding
                                              : dnnl::algorithm::pooling_avg_exclude_padding,
               read_window(p, "AvgPool2D"), false)
    {
    }
};

class GlobalAvgPool2D final : public Pool {
public:
    GlobalAvgPool2D(sdk::Host host, sdk::Params, uint64_t)
        : Pool(host, "GlobalAvgPool2D", dnnl::algorithm::pooling_avg_exclude_padding, {}, true)
    {
    }
};

// Upsample: every pixel repeated scale times in each direction (nearest),
// or interpolated between the pixels' centres (bilinear, PyTorch's
// align_corners = false), on oneDNN's resampling primitives.
class Upsample final : public Spatial {
public:
    Upsample(sdk::Host host, sdk::Params p, uint64_t)
        : Spatial(host, "Upsample"), m_scale(sp::read_pair(p, "scale")),
          m_algorithm(p.choice("mode", "nearest|bilinear") == "bilinear" ? dnnl::algorithm::resampling_linear
                                                                          : dnnl::algorithm::resampling_nearest)
    {
    }

private:
    sp::Hw output_size(std::span<const int64_t> dims, const std::string &) const override
    {
        return {dims[2] * m_scale.h, dims[3] * m_scale.w};
    }

    Pds describe(std::span<const int64_t>, const memory::desc &src, const memory::desc &dst,
                 const dnnl::engine &engine, const dnnl::primitive_attr &attr) const override
    {
        const dnnl::resampling_forward::primitive_desc fwd(
            {dnnl::prop_kind::forward_training, m_algorithm, src, dst}, attr, engine);
        const dnnl::resampling_backward::primitive_desc bwd({m_algorithm, src, dst}, attr, engine, fwd);
        return {fwd, bwd, std::nullopt};
    }

    sp::Hw m_scale;
    dnnl::algorithm m_algorithm;
};

constexpr double kTwo[] = {2, 2};
constexpr double kZero[] = {0, 0};

#define NEURITE_POOL_WINDOW_PARAMS                                                                                  \
    sdk::int_pair_param("kernel", kTwo, 1, 1024, "Window size: a number or {h, w}."),                               \
        sdk::word_pair_param("stride", "kernel", 1, 1024, "kernel",                                                 \
                             "Step between windows: a number, {h, w}, or \"kernel\" (the window size)."),          \
        sdk::int_pair_param("padding", kZero, 0, 512,                                                               \
                            "Added on each side (at most half the kernel): a number or {h, w}.")

constexpr nrt_param_spec kMaxParams[] = {NEURITE_POOL_WINDOW_PARAMS};
constexpr nrt_param_spec kAvgParams[] = {
    NEURITE_POOL_WINDOW_PARAMS,
    sdk::bool_param("count_include_pad", true,
                    "Count the padding's zeros in each average (PyTorch's default); false: only input cells."),
};

const nrt_entry kMaxPool2D = sdk::make_entry<MaxPool2D>(
    NRT_KIND_LAYER, "MaxPool2D", "1.0.0", "2-D max pooling over [N, C, H, W]: the largest value of each window",
    kMaxParams);
const nrt_entry kAvgPool2D = sdk::make_entry<AvgPool2D>(
    NRT_KIND_LAYER, "AvgPool2D", "1.0.0", "2-D average pooling over [N, C, H, W]: the mean of each window",
    kAvgParams);
const nrt_entry kGlobalAvgPool2D = sdk::make_entry<GlobalAvgPool2D>(
    NRT_KIND_LAYER, "GlobalAvgPool2D", "1.0.0", "The mean of each channel's whole map: [N, C, H, W] to [N, C]");

constexpr nrt_param_spec kUpsampleParams[] = {
    sdk::int_pair_param("scale", kTwo, 1, 64, "How many times larger the output is: a number or {h, w}."),
    sdk::choice_param("mode", "nearest", "nearest|bilinear",
                      "nearest repeats each pixel; bilinear interpolates (PyTorch's align_corners = false)."),
};
const nrt_entry kUpsample = sdk::make_entry<Upsample>(
    NRT_KIND_LAYER, "Upsample", "1.0.0", "[N, C, H, W] to [N, C, H·scale, W·scale], nearest or bilinear",
    kUpsampleParams);

} // namespace

NEURITE_PLUGIN("neurite-layer-pool", "1.0.0", &kMaxPool2D, &kAvgPool2D, &kGlobalAvgPool2D, &kUpsample)
