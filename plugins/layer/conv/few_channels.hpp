// A convolution over an input of few channels (an image network's first
// layer: 1 grey or 3 colour channels), computed here rather than by oneDNN.
//
// Such a layer does little arithmetic for the memory it writes and reads
// (cnn_b64's first Conv2D: 25 MFLOP for a 64x32x26x26 output), and oneDNN
// 2.6's kernels for it use the CPU poorly: at b64 on 2 threads its bf16
// forward took 249 us and its weight gradient 261 us, slower than its f32
// (125-164 and 114-149), plus a separate pass for the ReLU's gradient (156
// us bf16, 343 f32); channels-last output falls back to a reference kernel.
//
// Here the forward adds bias and applies ReLU as it stores, and the weight
// gradient applies ReLU's mask as it reads the output gradient, one pass
// each. Products are f32 FMAs over a zero-padded f32 copy of the input that
// the forward keeps in the workspace for the backward; a bf16 layer rounds
// the input, the weights and the output gradient to bf16 first, so that it
// computes the products oneDNN's bf16 kernels compute (exact in f32) and
// sums them in f32 as they do. The input's gradient, when a layer before
// wants it, stays oneDNN's (ConvPrimitives).
#ifndef NEURITE_PLUGINS_CONV_FEW_CHANNELS_HPP
#define NEURITE_PLUGINS_CONV_FEW_CHANNELS_HPP

#include "conv_activation.hpp"
#include "conv_primitives.hpp"

#include <neurite/plugin.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace neurite::conv {

// Where the output's channels lie: 16 consecutive channels (one AVX-512
// register of floats) start at n·n_stride + block·block_stride + h·h_stride
// + w·w_stride, in channels-last (nhwc) and in blocks of 16 (nChw16c) alike.
struct ChannelBlocks {
    int64_t n_stride = 0, block_stride = 0, h_stride = 0, w_stride = 0;
    static ChannelBlocks channels_last(int64_t channels, int64_t h, int64_t w);
    static ChannelBlocks blocked16(int64_t channels, int64_t h, int64_t w);
    int64_t at(int64_t n, int64_t block, int64_t h, int64_t w) const
    {
        return n * n_stride + block * block_stride + h * h_stride + w * w_stride;
    }
};

class FewChannelConv {
public:
    static constexpr int64_t kLanes = 16;
    // More taps (input channels times kernel area) are enough arithmetic
    // for oneDNN's kernels to use the CPU well.
    static constexpr int64_t kMaxTaps = 32;

    // Whether a convolution of this shape and activation over an input of
    // `dims` offered in `offered` runs here: an AVX-512 build, a plain
    // input, not transposed, one group, output channels a multiple of 16,
    // at most kMaxTaps taps, no activation or ReLU.
    static bool fits(const ConvShape &shape, const Activation &act, std::span<const int64_t> dims,
                     int32_t offered);

    // io_bf16: src, dst and their gradients are bf16 tensors, else f32.
    // threads: the host's, the most the passes split into.
    FewChannelConv(const ConvShape &shape, const Activation &act, std::span<const int64_t> dims,
                   const spatial::Geometry &g, const ChannelBlocks &dst_blocks, bool io_bf16, int threads);

    // What the forward keeps for the backward: the padded f32 input.
    uint64_t workspace_bytes() const { return static_cast<uint64_t>(m_image_floats) * m_batch * sizeof(float); }

    // dst = act(conv(src, weights) + bias); the weights are the host's
    // plain {K, C, kh, kw}, bias null without one.
    void forward(const void *src, const float *weights, const float *bias, void *dst, void *workspace);
    // The weight and bias gradients of the output gradient diff_dst (ReLU's
    // mask applied from dst), written or, with accumulate, added.
    void backward_weights(const void *workspace, const void *dst, const void *diff_dst, float *weights_grad,
                          float *bias_grad, bool accumulate);

private:
    void pad_image(const void *src, int64_t n, float *image) const;
    template <bool Relu, class T> void forward_rows(const float *images, T *dst) const;
    template <int V, bool Relu, class T> void forward_row(const float *image, int64_t oh, T *dst, int64_t n) const;
    void gradient_row(const void *dst, const void *diff_dst, int64_t n, int64_t oh, float *grad_row,
                      float *bias_sums) const;
    template <int V> void weight_sums_row(const float *image, int64_t oh, const float *grad_row, float *sums) const;

    int64_t m_batch, m_channels, m_in_h, m_in_w, m_out, m_out_h, m_out_w;
    int64_t m_pad_top, m_pad_left, m_stride_h, m_stride_w;
    int64_t m_image_h, m_image_w, m_image_floats; // the padded input of one sample
    int64_t m_taps;
    bool m_relu, m_bf16, m_io_bf16, m_bias;
    int m_threads;
    ChannelBlocks m_dst;
    std::vector<int64_t> m_tap_offset; // of each tap from a window's corner in the padded image
    sdk::Buffer m_weights;             // [tap][K]: the weights as the products read them
    sdk::Buffer m_bias_values;         // [K]
    sdk::Buffer m_sums;                // per thread: [tap][K] weight sums, then [K] bias sums
    sdk::Buffer m_grad_rows;           // per thread: one output row's masked gradient [W'][K]
};

} // namespace neurite::conv

#endif // NEURITE_PLUGINS_CONV_FEW_CHANNELS_HPP
