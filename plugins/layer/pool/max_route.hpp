// 2-D max pooling without oneDNN for the layouts a convolution writes.
//
// The backward, without a workspace: each output's gradient goes to the
// first input of its window that equals the output, which is where the
// forward found the maximum (the first one, in row-major window order, as
// oneDNN's own pooling keeps it).
//
// Why not oneDNN's backward: it needs the forward to record each maximum's
// position in a workspace, and oneDNN 2.6's forward_training with that
// workspace runs 4x slower than its forward_inference (measured on AVX-512:
// 969 against 239 us for a 64x32x26x26 input on one core). Recomputing the
// position from the input and output, which the host keeps for the backward
// anyway, costs one read of the input.
//
// The forward, in bf16 (and f32 channels last): oneDNN 2.6's bf16 max
// pooling runs slower than its f32 one though it moves half the bytes (b64,
// 2 threads: 184 against 140 us for 64x32x26x26 nChw16c). A maximum is one
// of its inputs, so ours equals oneDNN's bit for bit, NaN and padding
// included (forward()).
//
// Both walk a plane (a sample's channel group) in runs of windows along a
// row, lanes innermost; bf16 two lanes a 32-bit word, widened by a mask or
// a shift. In the CNN (b64, 2 threads) the bf16 forward of 64x32x26x26
// nChw16c takes 52-61 us against oneDNN's 171-200, the backward 203-214
// against the earlier route's 318-372 (a zeroing pass, then every gradient
// or-ed into place).
#ifndef NEURITE_PLUGINS_POOL_MAX_ROUTE_HPP
#define NEURITE_PLUGINS_POOL_MAX_ROUTE_HPP

#include <dnnl.hpp>

#include <cstdint>
#include <optional>

namespace neurite::pool {

// Where element (n, c, h, w) of a 4-D tensor lives in a oneDNN layout whose
// only blocking is on channels (abcd, acdb, aBcd8b, aBcd16b, ...): channels
// come in groups of `lanes` neighbours in memory.
struct ChannelGroups {
    int64_t n_stride = 0, group_stride = 0, h_stride = 0, w_stride = 0; // in elements
    int64_t lanes = 1;                                                  // channels per group, adjacent
    int64_t groups = 0;                                                 // groups per sample
    int64_t channels = 0;
    bool bf16 = false; // else f32

    // nullopt for a layout with other blocking (oneDNN's backward is used then).
    static std::optional<ChannelGroups> of(const dnnl::memory::desc &md);

    int64_t offset(int64_t n, int64_t group, int64_t h, int64_t w) const
    {
        return n * n_stride + group * group_stride + h * h_stride + w * w_stride;
    }
    // The real channels of a group (the last may be padded).
    int64_t lanes_of(int64_t group) const
    {
        const int64_t left = channels - group * lanes;
        return left < lanes ? left : lanes;
    }
};

struct MaxWindow {
    int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
    int64_t pad_top = 0, pad_left = 0; // rows and columns before the input
};

struct MaxRoute {
    ChannelGroups src, dst; // the input's and the output's layout (the same kind)
    int64_t batch = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
    MaxWindow window;

    // nullopt when either layout is one ChannelGroups cannot walk, or (bf16)
    // when windows overlap (the backward would sum gradients with a rounding
    // of its own).
    static std::optional<MaxRoute> of(const dnnl::memory::desc &src, const dnnl::memory::desc &dst,
                                      const MaxWindow &window);

    // Writes dst, each window's largest number, as oneDNN's max pooling does:
    // padding and NaN never win, a window of only NaN and -inf gives the
    // lowest float in f32 and -inf in bf16 (oneDNN rounds that float).
    void forward(const float *src, float *dst, int threads) const;
    void forward(const uint16_t *src, uint16_t *dst, int threads) const;
    // Whether forward() beats oneDNN's forward_inference here (measured;
    // max_route.cpp gives the figures).
    bool forward_pays() const;

    // Writes diff_src (src's layout) from diff_dst (dst's layout), on
    // `threads` threads: f32, or bf16 as its 16 bits.
    void backward(const float *src, const float *dst, const float *diff_dst, float *diff_src, int threads) const;
    void backward(const uint16_t *src, const uint16_t *dst, const uint16_t *diff_dst, uint16_t *diff_src,
                  int threads) const;
};

} // namespace neurite::pool

#endif // NEURITE_PLUGINS_POOL_MAX_ROUTE_HPP
