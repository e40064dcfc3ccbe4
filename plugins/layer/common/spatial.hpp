// Shared by the 2-D convolution and pooling plugins: window geometry from
// the schema's int pairs (kernel, stride, padding, dilation), output sizes,
// and the input checks, whose errors name the layer, the shapes and the
// values, so that every spatial layer words them alike.
#ifndef NEURITE_PLUGINS_SPATIAL_HPP
#define NEURITE_PLUGINS_SPATIAL_HPP

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

namespace neurite::spatial {

namespace sdk = neurite::sdk;

// Height and width of something two-dimensional.
struct Hw {
    int64_t h = 0, w = 0;
};

inline std::string hw_text(Hw v) { return v.h == v.w ? std::to_string(v.h) : std::to_string(v.h) + "x" + std::to_string(v.w); }

// A window as the user gave it; `same` padding is resolved per input size.
struct Window {
    Hw kernel, stride{1, 1}, dilation{1, 1}, padding;
    bool same = false;

    // The rows and columns one window spans, dilation included.
    Hw extent() const { return {(kernel.h - 1) * dilation.h + 1, (kernel.w - 1) * dilation.w + 1}; }
};

// Padding per side; oneDNN's pad_l is {top, left}, pad_r {bottom, right}.
struct Pads {
    Hw begin, end;
};

// The resolved output size and padding of a window over an input of size `in`.
struct Geometry {
    Hw out;
    Pads pads;
};

inline Hw read_pair(const sdk::Params &p, const char *name)
{
    const sdk::IntPair v = p.pair(name);
    if (!v.word.empty())
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(name) + " must be a number or a pair {h, w}, got \"" +
                                                v.word + "\"");
    return {v.h, v.w};
}

// "same" keeps ceil(in / stride) outputs (TensorFlow's rule, PyTorch's for
// stride 1): the padding that needs is split with the extra row at the end.
// Errors need not name the layer: the host puts its label before them.
inline Geometry resolve(const Window &w, Hw in, const std::string &input_shape)
{
    const Hw ext = w.extent();
    Geometry g;
    if (w.same) {
        g.out = {(in.h + w.stride.h - 1) / w.stride.h, (in.w + w.stride.w - 1) / w.stride.w};
        const Hw total{std::max<int64_t>((g.out.h - 1) * w.stride.h + ext.h - in.h, 0),
                       std::max<int64_t>((g.out.w - 1) * w.stride.w + ext.w - in.w, 0)};
        g.pads.begin = {total.h / 2, total.w / 2};
        g.pads.end = {total.h - total.h / 2, total.w - total.w / 2};
        return g;
    }
    g.pads = {w.padding, w.padding};
    const Hw padded{in.h + 2 * w.padding.h, in.w + 2 * w.padding.w};
    if (padded.h < ext.h || padded.w < ext.w) {
        const bool dilated = w.dilation.h > 1 || w.dilation.w > 1;
        sdk::fail(NRT_ERR_SHAPE, "kernel " + hw_text(w.kernel) +
                                     (dilated ? " (spanning " + hw_text(ext) + " with dilation " +
                                                    hw_text(w.dilation) + ")"
                                              : std::string()) +
                                     " is larger than the padded input " + std::to_string(padded.h) + "x" +
                                     std::to_string(padded.w) + " (input " + input_shape + ", padding " +
                                     hw_text(w.padding) + ")");
    }
    g.out = {(padded.h - ext.h) / w.stride.h + 1, (padded.w - ext.w) / w.stride.w + 1};
    return g;
}

// A 4-D input [N, C, H, W] with `channels` channels (0: any).
inline void require_images(std::span<const int64_t> dims, int64_t channels)
{
    if (dims.size() != 4)
        sdk::fail(NRT_ERR_SHAPE, "expects a 4-D input [N, C, H, W], got " +
                                     std::to_string(dims.size()) + "-D " + sdk::shape_string(dims) +
                                     (dims.size() == 2 ? " (reshape flat images to [N, C, H, W] first)" : ""));
    for (int64_t d : dims)
        if (d < 1)
            sdk::fail(NRT_ERR_SHAPE, "input " + sdk::shape_string(dims) + " has an empty dimension");
    if (channels > 0 && dims[1] != channels)
        sdk::fail(NRT_ERR_SHAPE, "expects " + std::to_string(channels) + " channels, input " + sdk::shape_string(dims));
}

inline dnnl::memory::dims dnnl_hw(Hw v) { return {v.h, v.w}; }

} // namespace neurite::spatial

#endif // NEURITE_PLUGINS_SPATIAL_HPP
