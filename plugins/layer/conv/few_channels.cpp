#include "few_channels.hpp"

#include <neurite/plugin_bf16.hpp>
#include <neurite/plugin_parallel.hpp>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace neurite::conv {

namespace {

// 16 floats in one AVX-512 register where the build targets AVX-512; the
// same operations on an array elsewhere (correct, not fast). Written out
// because GCC keeps arrays of sums on the stack (it spilled and reloaded
// them around every window: 2.5x slower than oneDNN).
#if defined(__AVX512F__)
struct Vec {
    __m512 v;
};
inline Vec broadcast(float x) { return {_mm512_set1_ps(x)}; }
inline Vec load(const float *p) { return {_mm512_loadu_ps(p)}; }
// bf16 bits to f32: widening is a shift. (The maskz forms: GCC 12 warns
// of the plain forms' undefined pass-through operand, its bug 105593.)
inline __m512 widen(__m256i bits)
{
    const __mmask16 all = 0xffff;
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, _mm512_maskz_cvtepu16_epi32(all, bits), 16));
}
inline Vec load(const uint16_t *p) { return {widen(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)))}; }
inline void store(float *p, Vec a) { _mm512_storeu_ps(p, a.v); }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
// a where keep > 0, else 0 (NaN in keep gives 0).
inline Vec where_positive(Vec keep, Vec a)
{
    return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(keep.v, _mm512_setzero_ps(), _CMP_GT_OQ), a.v)};
}
// max(a, 0), but NaN stays NaN.
inline Vec relu(Vec a)
{
    const __m512 zero = _mm512_setzero_ps();
    return {_mm512_mask_mov_ps(a.v, _mm512_cmp_ps_mask(a.v, zero, _CMP_LT_OQ), zero)};
}
#else
struct Vec {
    float v[16];
};
inline Vec broadcast(float x)
{
    Vec r;
    std::fill_n(r.v, 16, x);
    return r;
}
template <class T> Vec load(const T *p)
{
    Vec r;
    for (int l = 0; l < 16; ++l)
        if constexpr (std::is_same_v<T, float>)
            r.v[l] = p[l];
        else
            r.v[l] = sdk::widen_bf16(p[l]);
    return r;
}
inline void store(float *p, Vec a) { std::copy_n(a.v, 16, p); }
inline Vec fma(Vec a, Vec b, Vec c)
{
    for (int l = 0; l < 16; ++l)
        c.v[l] = std::fma(a.v[l], b.v[l], c.v[l]);
    return c;
}
inline Vec add(Vec a, Vec b)
{
    for (int l = 0; l < 16; ++l)
        a.v[l] += b.v[l];
    return a;
}
inline Vec where_positive(Vec keep, Vec a)
{
    for (int l = 0; l < 16; ++l)
        a.v[l] = keep.v[l] > 0.0f ? a.v[l] : 0.0f;
    return a;
}
inline Vec relu(Vec a)
{
    for (int l = 0; l < 16; ++l)
        a.v[l] = a.v[l] < 0.0f ? 0.0f : a.v[l];
    return a;
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BF16__)
inline void store(uint16_t *p, Vec a)
{
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(a.v)));
}
#else
inline void store(uint16_t *p, Vec a)
{
    alignas(64) float f[16];
    store(f, a);
    for (int l = 0; l < 16; ++l)
        p[l] = sdk::nearest_bf16(f[l]);
}
#endif

// a as a bf16 product operand sees it: rounded to bf16 and back.
#if defined(__AVX512F__) && defined(__AVX512BF16__)
inline Vec bf16_values(Vec a)
{
    return {widen(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(a.v)))};
}
#else
inline Vec bf16_values(Vec a)
{
    alignas(64) uint16_t bits[16] = {};
    store(bits, a);
    return load(bits);
}
#endif

// act(sums + bias) of P adjacent outputs (stride_w apart in the padded
// image, from `corner`) for V·16 output channels, stored at out + p·out_w
// + v·out_v: the sums stay in registers, the weights in L1, and each input
// value is broadcast once for all the channels.
template <int P, int V, bool Relu, class T>
inline void window_sums(const float *corner, int64_t stride_w, const int64_t *tap_offset, int64_t taps,
                        const float *weights, int64_t weight_stride, const float *bias, T *out, int64_t out_w,
                        int64_t out_v)
{
    Vec acc[P][V];
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
        const Vec b = load(bias + 16 * v);
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
            acc[p][v] = b;
    }
    for (int64_t t = 0; t < taps; ++t) {
        Vec w[V];
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
            w[v] = load(weights + t * weight_stride + 16 * v);
        const float *x = corner + tap_offset[t];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) {
            const Vec xv = broadcast(x[p * stride_w]);
#pragma GCC unroll 16
            for (int v = 0; v < V; ++v)
                acc[p][v] = fma(xv, w[v], acc[p][v]);
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
            store(out + p * out_w + v * out_v, Relu ? relu(acc[p][v]) : acc[p][v]);
}

// Adds to the sums of G taps for V·16 channels (sums + q·sums_stride +
// 16·v) the products of one output row's gradient ([width][grad_stride])
// with the inputs each tap saw.
template <int G, int V>
inline void tap_sums(const float *row_corner, int64_t stride_w, const int64_t *tap_offset, const float *grad,
                     int64_t grad_stride, int64_t width, float *sums, int64_t sums_stride)
{
    Vec acc[G][V];
    int64_t offset[G];
#pragma GCC unroll 16
    for (int q = 0; q < G; ++q) {
        offset[q] = tap_offset[q];
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
            acc[q][v] = load(sums + q * sums_stride + 16 * v);
    }
    for (int64_t w = 0; w < width; ++w) {
        Vec g[V];
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
            g[v] = load(grad + w * grad_stride + 16 * v);
        const float *corner = row_corner + w * stride_w;
#pragma GCC unroll 16
        for (int q = 0; q < G; ++q) {
            const Vec x = broadcast(corner[offset[q]]);
#pragma GCC unroll 16
            for (int v = 0; v < V; ++v)
                acc[q][v] = fma(x, g[v], acc[q][v]);
        }
    }
#pragma GCC unroll 16
    for (int q = 0; q < G; ++q)
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
            store(sums + q * sums_stride + 16 * v, acc[q][v]);
}

// One output row's gradient through the activation, [W'][K] in f32 (bf16
// values when Round), and its sums per channel added to bias_sums.
template <bool Relu, bool Round, class T>
void masked_gradient_row(const T *dst, const T *diff_dst, const ChannelBlocks &blocks, int64_t n, int64_t oh,
                         int64_t width, int64_t channels, float *grad_row, float *bias_sums)
{
    for (int64_t ow = 0; ow < width; ++ow)
        for (int64_t block = 0; block < channels / 16; ++block) {
            const int64_t at = blocks.at(n, block, oh, ow);
            Vec g = load(diff_dst + at);
            if constexpr (Round)
                g = bf16_values(g);
            // ReLU passes the gradient where it passed the input.
            if constexpr (Relu)
                g = where_positive(load(dst + at), g);
            store(grad_row + ow * channels + block * 16, g);
            float *sum = bias_sums + block * 16;
            store(sum, add(load(sum), g));
        }
}

// Calls f(std::integral_constant<int, n>) for n in [1, Max]; nothing for
// other n: loops with a count known at compile time keep their sums in
// registers.
template <int Max, class F> inline void with_count(int n, F &&f)
{
    if constexpr (Max >= 1) {
        if (n == Max)
            f(std::integral_constant<int, Max>{});
        else
            with_count<Max - 1>(n, f);
    }
}

constexpr int64_t kTapsAPass = 12;

bool is_relu(const Activation &act)
{
    return act.forward == dnnl::algorithm::eltwise_relu && act.alpha == 0.0f;
}

} // namespace

ChannelBlocks ChannelBlocks::channels_last(int64_t channels, int64_t h, int64_t w)
{
    return {h * w * channels, FewChannelConv::kLanes, w * channels, channels};
}

ChannelBlocks ChannelBlocks::blocked16(int64_t channels, int64_t h, int64_t w)
{
    const int64_t lanes = FewChannelConv::kLanes;
    return {channels * h * w, h * w * lanes, w * lanes, lanes};
}

bool FewChannelConv::fits(const ConvShape &shape, const Activation &act, std::span<const int64_t> dims,
                          int32_t offered)
{
#if defined(__AVX512F__)
    const sp::Hw k = shape.window.kernel;
    // An input that arrives plain, as a network's first layer's does: a
    // layer inside a chain of blocked layouts keeps oneDNN's kernels, rather
    // than have the host convert its input and gradient.
    return offered == NRT_FORMAT_PLAIN && !shape.transposed && shape.groups == 1 && dims.size() == 4 &&
           shape.out % kLanes == 0 && shape.in * k.h * k.w <= kMaxTaps && (act.identity() || is_relu(act));
#else
    // The portable Vec is correct but slower than oneDNN's kernels.
    (void)shape, (void)act, (void)dims, (void)offered;
    return false;
#endif
}

FewChannelConv::FewChannelConv(const ConvShape &shape, const Activation &act, std::span<const int64_t> dims,
                               const sp::Geometry &g, const ChannelBlocks &dst_blocks, bool io_bf16, int threads)
    : m_batch(dims[0]), m_channels(dims[1]), m_in_h(dims[2]), m_in_w(dims[3]), m_out(shape.out),
      m_out_h(g.out.h), m_out_w(g.out.w), m_pad_top(g.pads.begin.h), m_pad_left(g.pads.begin.w),
      m_stride_h(shape.window.stride.h), m_stride_w(shape.window.stride.w),
      m_image_h(g.pads.begin.h + dims[2] + g.pads.end.h), m_image_w(g.pads.begin.w + dims[3] + g.pads.end.w),
      m_image_floats(dims[1] * m_image_h * m_image_w),
      m_taps(dims[1] * shape.window.kernel.h * shape.window.kernel.w), m_relu(is_relu(act)), m_bf16(shape.bf16),
      m_io_bf16(io_bf16), m_bias(shape.bias), m_threads(std::max(threads, 1)), m_dst(dst_blocks),
      m_weights(static_cast<size_t>(m_taps * m_out)), m_bias_values(static_cast<size_t>(m_out)),
      m_sums(static_cast<size_t>(m_threads * (m_taps + 1) * m_out)),
      m_grad_rows(static_cast<size_t>(m_threads * m_out_w * m_out))
{
    const sp::Window &w = shape.window;
    for (int64_t c = 0; c < m_channels; ++c)
        for (int64_t i = 0; i < w.kernel.h; ++i)
            for (int64_t j = 0; j < w.kernel.w; ++j)
                m_tap_offset.push_back((c * m_image_h + i * w.dilation.h) * m_image_w + j * w.dilation.w);
}

void FewChannelConv::pad_image(const void *src, int64_t n, float *image) const
{
    // A bf16 layer multiplies bf16 values: rounding the input here is what
    // oneDNN's bf16 copy of an f32 input would do.
    const bool round = m_bf16 && !m_io_bf16;
    std::fill_n(image, m_image_floats, 0.0f);
    for (int64_t c = 0; c < m_channels; ++c)
        for (int64_t h = 0; h < m_in_h; ++h) {
            const int64_t from = ((n * m_channels + c) * m_in_h + h) * m_in_w;
            float *row = image + (c * m_image_h + h + m_pad_top) * m_image_w + m_pad_left;
            for (int64_t w = 0; w < m_in_w; ++w) {
                const float v = m_io_bf16 ? sdk::widen_bf16(static_cast<const uint16_t *>(src)[from + w])
                                          : static_cast<const float *>(src)[from + w];
                row[w] = round ? sdk::bf16_value(v) : v;
            }
        }
}

template <int V, bool Relu, class T>
void FewChannelConv::forward_row(const float *image, int64_t oh, T *dst, int64_t n) const
{
    constexpr int P = 8;
    const float *row = image + oh * m_stride_h * m_image_w;
    const int64_t *taps = m_tap_offset.data();
    const int64_t width = V * kLanes;
    for (int64_t block = 0; block < m_out / width; ++block) {
        const float *w = m_weights.data() + block * width;
        const float *b = m_bias_values.data() + block * width;
        int64_t ow = 0;
        for (; ow + P <= m_out_w; ow += P)
            window_sums<P, V, Relu>(row + ow * m_stride_w, m_stride_w, taps, m_taps, w, m_out, b,
                                    dst + m_dst.at(n, block * V, oh, ow), m_dst.w_stride, m_dst.block_stride);
        // The rest in one window: single outputs chain their sums' latency.
        with_count<P - 1>(static_cast<int>(m_out_w - ow), [&](auto rest) {
            window_sums<rest(), V, Relu>(row + ow * m_stride_w, m_stride_w, taps, m_taps, w, m_out, b,
                                         dst + m_dst.at(n, block * V, oh, ow), m_dst.w_stride, m_dst.block_stride);
        });
    }
}

template <bool Relu, class T> void FewChannelConv::forward_rows(const float *images, T *dst) const
{
    const int team = std::min(m_threads, omp_get_max_threads());
    sdk::parallel_blocks(team, m_batch * m_out_h, [&](int64_t first, int64_t last, int) {
        for (int64_t r = first; r < last; ++r) {
            const int64_t n = r / m_out_h, oh = r % m_out_h;
            if (m_out % (2 * kLanes) == 0) // 32 channels for each input value broadcast
                forward_row<2, Relu>(images + n * m_image_floats, oh, dst, n);
            else
                forward_row<1, Relu>(images + n * m_image_floats, oh, dst, n);
        }
    });
}

void FewChannelConv::forward(const void *src, const float *weights, const float *bias, void *dst, void *workspace)
{
    // The products' weights as [tap][K], bf16 values in a bf16 layer (the
    // bias stays f32, as oneDNN's).
    float *packed = m_weights.data();
    for (int64_t k = 0; k < m_out; ++k)
        for (int64_t t = 0; t < m_taps; ++t) {
            const float v = weights[k * m_taps + t];
            packed[t * m_out + k] = m_bf16 ? sdk::bf16_value(v) : v;
        }
    for (int64_t k = 0; k < m_out; ++k)
        m_bias_values.data()[k] = m_bias && bias ? bias[k] : 0.0f;
    float *images = static_cast<float *>(workspace);
    const int team = std::min(m_threads, omp_get_max_threads());
    sdk::parallel_blocks(team, m_batch, [&](int64_t first, int64_t last, int) {
        for (int64_t n = first; n < last; ++n)
            pad_image(src, n, images + n * m_image_floats);
    });
    if (m_io_bf16)
        m_relu ? forward_rows<true>(images, static_cast<uint16_t *>(dst))
               : forward_rows<false>(images, static_cast<uint16_t *>(dst));
    else
        m_relu ? forward_rows<true>(images, static_cast<float *>(dst))
               : forward_rows<false>(images, static_cast<float *>(dst));
}

void FewChannelConv::gradient_row(const void *dst, const void *diff_dst, int64_t n, int64_t oh, float *grad_row,
                                  float *bias_sums) const
{
    if (m_io_bf16) {
        const auto *d = static_cast<const uint16_t *>(dst), *dd = static_cast<const uint16_t *>(diff_dst);
        (m_relu ? masked_gradient_row<true, false, uint16_t> : masked_gradient_row<false, false, uint16_t>)(
            d, dd, m_dst, n, oh, m_out_w, m_out, grad_row, bias_sums);
        return;
    }
    // A bf16 layer multiplies a bf16 copy of an f32 gradient.
    const auto *d = static_cast<const float *>(dst), *dd = static_cast<const float *>(diff_dst);
    const auto row = m_relu ? (m_bf16 ? masked_gradient_row<true, true, float> : masked_gradient_row<true, false, float>)
                            : (m_bf16 ? masked_gradient_row<false, true, float> : masked_gradient_row<false, false, float>);
    row(d, dd, m_dst, n, oh, m_out_w, m_out, grad_row, bias_sums);
}

template <int V>
void FewChannelConv::weight_sums_row(const float *image, int64_t oh, const float *grad_row, float *sums) const
{
    const float *row = image + oh * m_stride_h * m_image_w;
    const int64_t *taps = m_tap_offset.data();
    const int64_t width = V * kLanes;
    for (int64_t block = 0; block < m_out / width; ++block) {
        const float *g = grad_row + block * width;
        float *s = sums + block * width;
        // Up to 12 taps a pass (24 sums in registers for 32 channels): a 3x3
        // window's 9 in one, where a pass of 1 (a chain of dependent sums)
        // took as long as the pass of 8 before it.
        for (int64_t t = 0; t < m_taps; t += kTapsAPass)
            with_count<kTapsAPass>(static_cast<int>(std::min(kTapsAPass, m_taps - t)), [&](auto count) {
                tap_sums<count(), V>(row, m_stride_w, taps + t, g, m_out, m_out_w, s + t * m_out, m_out);
            });
    }
}

void FewChannelConv::backward_weights(const void *workspace, const void *dst, const void *diff_dst,
                                      float *weights_grad, float *bias_grad, bool accumulate)
{
    const float *images = static_cast<const float *>(workspace);
    const int team = std::min(m_threads, omp_get_max_threads());
    const int64_t part_floats = (m_taps + 1) * m_out;
    std::fill_n(m_sums.data(), team * part_floats, 0.0f);
    sdk::parallel_blocks(team, m_batch * m_out_h, [&](int64_t first, int64_t last, int part) {
        float *sums = m_sums.data() + part * part_floats;
        float *grad_row = m_grad_rows.data() + part * m_out_w * m_out;
        for (int64_t r = first; r < last; ++r) {
            const int64_t n = r / m_out_h, oh = r % m_out_h;
            gradient_row(dst, diff_dst, n, oh, grad_row, sums + m_taps * m_out);
            if (m_out % (2 * kLanes) == 0)
                weight_sums_row<2>(images + n * m_image_floats, oh, grad_row, sums);
            else
                weight_sums_row<1>(images + n * m_image_floats, oh, grad_row, sums);
        }
    });
    // The parts' sums, from [tap][K] into the host's {K, C, kh, kw}.
    for (int64_t k = 0; k < m_out; ++k) {
        for (int64_t t = 0; t < m_taps; ++t) {
            float v = 0.0f;
            for (int part = 0; part < team; ++part)
                v += m_sums.data()[part * part_floats + t * m_out + k];
            float &to = weights_grad[k * m_taps + t];
            to = accumulate ? to + v : v;
        }
        if (bias_grad) {
            float v = 0.0f;
            for (int part = 0; part < team; ++part)
                v += m_sums.data()[part * part_floats + m_taps * m_out + k];
            bias_grad[k] = accumulate ? bias_grad[k] + v : v;
        }
    }
}

} // namespace neurite::conv
