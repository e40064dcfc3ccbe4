#include "max_route.hpp"

#include <neurite/plugin_bf16.hpp>
#include <neurite/plugin_parallel.hpp>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace neurite::pool {

namespace {

// The kernels read a group's lanes in words. f32: one float a word. bf16:
// two adjacent lanes a word (uint32_t) when a group's lanes are even, each
// widened to f32 by a mask or a shift, with no shuffles: half the
// instructions per lane of widening each uint16_t, the word when lanes are
// odd. A bf16 value is the upper half of the f32 with the same value:
// widening is exact, so comparing widened values compares the bf16 values,
// and a maximum (one of the inputs) narrows back exactly.
template <class T, class Word> constexpr int64_t kPer = sizeof(Word) / sizeof(T); // lanes a word

inline float as_float(uint32_t bits)
{
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}
inline uint32_t bits_of(float x)
{
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits;
}

// Words go through memcpy: a bf16 tensor is uint16_t, read two at a time.
template <class Word, class T> inline Word load(const T *at)
{
    Word w;
    std::memcpy(&w, at, sizeof w);
    return w;
}
template <class Word, class T> inline void save(T *at, Word w) { std::memcpy(at, &w, sizeof w); }

// Lane k of a word, widened.
inline float value(float w, int) { return w; }
inline float value(uint16_t w, int) { return sdk::widen_bf16(w); }
inline float value(uint32_t w, int k) { return as_float(k ? w & 0xffff0000u : w << 16); }

// A word from its lanes' widened values (lane 1 only for two-lane words).
inline void narrow(float &w, float lane0, float) { w = lane0; }
inline void narrow(uint16_t &w, float lane0, float) { w = static_cast<uint16_t>(bits_of(lane0) >> 16); }
inline void narrow(uint32_t &w, float lane0, float lane1)
{
    w = (bits_of(lane1) & 0xffff0000u) | (bits_of(lane0) >> 16);
}

// What a window without a number (only NaN and -inf) gives. oneDNN's max
// pooling starts each window at the lowest float and takes an input when
// it is larger, so NaN never wins; its bf16 kernels round that start value
// to bf16 on the way out, which gives -inf. (oneDNN 2.6's kernels in C++,
// which it runs for bf16 nChw8c, and nchw of few channels, store the lowest
// bf16 instead.)
template <class T> constexpr float kNoNumber = std::numeric_limits<float>::lowest();
template <> constexpr float kNoNumber<uint16_t> = -std::numeric_limits<float>::infinity();

// The gradient a maximum gets: oneDNN's backward adds it to a zeroed
// diff_src (bf16 widened, summed in f32 and rounded back), which turns -0
// into +0 and a NaN quiet, and leaves every other value as it is.
inline float routed(float grad) { return grad + 0.0f; }
inline uint16_t routed(uint16_t grad)
{
    if (grad == 0x8000u)
        return 0;
    return (grad & 0x7fffu) > 0x7f80u ? static_cast<uint16_t>(grad | 0x0040u) : grad;
}
inline uint32_t routed(uint32_t grads)
{
    return routed(static_cast<uint16_t>(grads)) | uint32_t{routed(static_cast<uint16_t>(grads >> 16))} << 16;
}

// Gives a word's lanes that hit (the window's first maximum) what is left
// of their gradient, zero to the others, and leaves zero to give there.
inline void give(float &diff, float &left, bool hit, bool)
{
    diff = hit ? left : 0.0f;
    left = hit ? 0.0f : left;
}
inline void give(uint16_t &diff, uint16_t &left, bool hit, bool)
{
    diff = hit ? left : uint16_t{0};
    left = hit ? uint16_t{0} : left;
}
inline void give(uint32_t &diff, uint32_t &left, bool hit0, bool hit1)
{
    const uint32_t mask = (hit0 ? 0x0000ffffu : 0u) | (hit1 ? 0xffff0000u : 0u);
    diff = left & mask;
    left &= ~mask;
}

// Words handled together: up to four AVX-512 registers of floats.
constexpr int64_t kChunk = 32;

// One output's window, clipped to the input: padding never takes part.
struct Window {
    int64_t first_h, rows, first_w, cols;
};

template <int64_t N> using Constant = std::integral_constant<int64_t, N>;

// What a plane's kernels know at compile time: the word they read, the
// words a chunk of a group holds (0: up to kChunk, counted at run time)
// and a whole window's rows and columns (0: read from the window). A
// kernel that knows them unrolls its loops and keeps its lanes in
// registers.
template <class WordType, int64_t ChunkWords, int64_t WindowRows, int64_t WindowCols> struct Shape {
    using Word = WordType;
    static constexpr int64_t words = ChunkWords, rows = WindowRows, cols = WindowCols;
};

// Calls run(Word{}) with the word the kernels read T in.
template <class T, class Run> inline void with_word(const ChannelGroups &g, Run &&run)
{
    if constexpr (std::is_same_v<T, float>)
        run(float{});
    else if (g.lanes % 2 == 0)
        run(uint32_t{});
    else
        run(uint16_t{});
}

// Calls run(Shape) with the route's: chunks of 32 words when a group's
// words split evenly into them, else of 16 or 8 when that is a group, and
// windows of 2x2 or 3x3.
template <class T, class Run> void with_shape(const MaxRoute &r, Run &&run)
{
    with_word<T>(r.src, [&](auto word) {
        using Word = decltype(word);
        const int64_t words = r.src.lanes / kPer<T, Word>;
        const auto with_chunk = [&](auto chunk) {
            const MaxWindow &k = r.window;
            if (k.kernel_h == 2 && k.kernel_w == 2)
                run(Shape<Word, chunk(), 2, 2>{});
            else if (k.kernel_h == 3 && k.kernel_w == 3)
                run(Shape<Word, chunk(), 3, 3>{});
            else
                run(Shape<Word, chunk(), 0, 0>{});
        };
        if (words % 32 == 0)
            with_chunk(Constant<32>{});
        else if (words == 16)
            with_chunk(Constant<16>{});
        else if (words == 8)
            with_chunk(Constant<8>{});
        else
            with_chunk(Constant<0>{});
    });
}

// Calls at(oh, ow, windows, window, whole) over one plane's outputs, in
// runs of `windows` along a row: `window` is the run's first, each next one
// stride_w columns on. A run is whole (std::true_type) when its windows
// are the Shape's whole window, which the kernels then know at compile
// time: a row's inner windows, all but those that padding or the input's
// edge clip, which come one a run.
template <class S, class At> inline void each_run(const MaxRoute &r, At &&at)
{
    const MaxWindow &k = r.window;
    // The whole windows of a row: from the first past the left padding to
    // the last inside the input.
    const int64_t whole_from = std::min((k.pad_left + k.stride_w - 1) / k.stride_w, r.out_w);
    const int64_t last_fit = r.in_w + k.pad_left - k.kernel_w; // where the last whole window may start, padded
    const int64_t whole_to =
        last_fit < 0 ? whole_from : std::clamp<int64_t>(last_fit / k.stride_w + 1, whole_from, r.out_w);
    const auto clipped = [&](int64_t oh, int64_t ow, int64_t first_h, int64_t rows) {
        const int64_t left = ow * k.stride_w - k.pad_left;
        const int64_t first_w = std::max<int64_t>(left, 0), last_w = std::min(left + k.kernel_w, r.in_w);
        at(oh, ow, 1, Window{first_h, rows, first_w, last_w - first_w}, std::false_type{});
    };
    for (int64_t oh = 0; oh < r.out_h; ++oh) {
        const int64_t top = oh * k.stride_h - k.pad_top;
        const int64_t first_h = std::max<int64_t>(top, 0), rows = std::min(top + k.kernel_h, r.in_h) - first_h;
        const bool whole_rows = S::rows && rows == S::rows && k.kernel_w == S::cols;
        for (int64_t ow = 0; ow < (whole_rows ? whole_from : r.out_w); ++ow)
            clipped(oh, ow, first_h, rows);
        if (!whole_rows)
            continue;
        if (whole_to > whole_from)
            at(oh, whole_from, whole_to - whole_from,
               Window{first_h, rows, whole_from * k.stride_w - k.pad_left, k.kernel_w}, std::true_type{});
        for (int64_t ow = whole_to; ow < r.out_w; ++ow)
            clipped(oh, ow, first_h, rows);
    }
}

// How a run's kernel steps through memory, in elements.
struct Steps {
    int64_t h_stride, w_stride; // the input's
    int64_t src_step, dst_step; // from one window of a run to the next: in the input, in the output
    int64_t words;              // a group's
};

template <class T, class Word> Steps steps_of(const MaxRoute &r)
{
    return {r.src.h_stride, r.src.w_stride, r.window.stride_w * r.src.w_stride, r.dst.w_stride,
            r.src.lanes / kPer<T, Word>};
}

// Calls kernel(word, count) over the chunks of a group's `words`.
template <class S, class Kernel> inline void each_chunk(int64_t words, Kernel &&kernel)
{
    if constexpr (S::words != 0) {
        for (int64_t word = 0; word < words; word += S::words)
            kernel(word, S::words);
    } else {
        for (int64_t word = 0; word < words; word += kChunk)
            kernel(word, std::min(kChunk, words - word));
    }
}

// Runs plane(n, group) for every sample and channel group on up to
// `threads` threads, each a contiguous run of planes (no parallel region for
// one: sdk::parallel_blocks). omp_get_max_threads() follows the host's
// thread count.
template <class Plane> void each_plane(const MaxRoute &r, int threads, Plane &&plane)
{
    const int64_t groups = r.src.groups, planes = r.batch * groups;
    const int team = static_cast<int>(std::min<int64_t>({threads, omp_get_max_threads(), planes}));
    sdk::parallel_blocks(team, planes, [&](int64_t first, int64_t last, int) {
        for (int64_t p = first; p < last; ++p)
            plane(p / groups, p % groups);
    });
}

// Zeroes a blocked layout's padding lanes (channels past the last) of a
// plane the kernels wrote whole, whatever the inputs held there.
template <class T> void zero_padding(const ChannelGroups &g, int64_t n, int64_t group, int64_t h, int64_t w, T *data)
{
    const int64_t real = g.lanes_of(group);
    if (real == g.lanes)
        return;
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
            std::fill_n(data + g.offset(n, group, y, x) + real, g.lanes - real, T{0});
}

// ------------------------------------------------------------------ forward

// The largest number of one window over `count` adjacent words. Words,
// Rows and Cols are count and the window's size when known at compile
// time, else 0.
template <int64_t Words, int64_t Rows, int64_t Cols, class Word, class T>
inline void max_window(const T *src, const Window &win, int64_t h_stride, int64_t w_stride, T *dst, int64_t count)
{
    constexpr int64_t per = kPer<T, Word>;
    const int64_t n = Words ? Words : count, rows = Rows ? Rows : win.rows, cols = Cols ? Cols : win.cols;
    float top[per][Words ? Words : kChunk]; // sized exactly, it stays in registers
    for (int64_t k = 0; k < per; ++k)
        for (int64_t l = 0; l < n; ++l)
            top[k][l] = kNoNumber<T>;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t w = 0; w < cols; ++w) {
            const T *s = src + r * h_stride + w * w_stride;
#pragma omp simd
            for (int64_t l = 0; l < n; ++l) {
                const Word x = load<Word>(s + l * per);
                for (int k = 0; k < per; ++k) {
                    const float v = value(x, k);
                    top[k][l] = v > top[k][l] ? v : top[k][l]; // false for NaN; a tie keeps the first
                }
            }
        }
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) {
        Word out;
        narrow(out, top[0][l], top[per - 1][l]);
        save(dst + l * per, out);
    }
}

// A run of windows (each_run). Whole: the windows are the Shape's.
template <class S, bool Whole, class T>
void max_run(const T *src, T *dst, const Window win, const Steps st, int64_t windows)
{
    using Word = typename S::Word;
    constexpr int64_t per = kPer<T, Word>, rows = Whole ? S::rows : 0, cols = Whole ? S::cols : 0;
    for (int64_t i = 0; i < windows; ++i, src += st.src_step, dst += st.dst_step)
        each_chunk<S>(st.words, [&](int64_t word, int64_t count) {
            max_window<S::words, rows, cols, Word>(src + word * per, win, st.h_stride, st.w_stride, dst + word * per,
                                                   count);
        });
}

template <class S, class T> void forward_plane(const MaxRoute &r, int64_t n, int64_t group, const T *src, T *dst)
{
    const ChannelGroups &in = r.src, &out = r.dst;
    const Steps st = steps_of<T, typename S::Word>(r);
    const T *from = src + in.offset(n, group, 0, 0);
    T *to = dst + out.offset(n, group, 0, 0);
    each_run<S>(r, [&](int64_t oh, int64_t ow, int64_t windows, const Window &win, auto whole) {
        max_run<S, whole()>(from + win.first_h * in.h_stride + win.first_w * in.w_stride,
                            to + oh * out.h_stride + ow * out.w_stride, win, st, windows);
    });
    // oneDNN's bf16 kernels write zero there whatever the input holds (its
    // f32 ones the padding's max, zero from the zeros a layer leaves there).
    zero_padding(out, n, group, r.out_h, r.out_w, dst);
}

// ----------------------------------------------------------------- backward

// Windows that do not overlap: every input of a window is written once,
// the first maximum of each lane its gradient and the others zero, with
// no zeroing pass before and no read of diff_src. The gradient left to give
// drops to zero at its lane's first maximum: selects only, no branches.
template <int64_t Words, int64_t Rows, int64_t Cols, class Word, class T>
inline void route_window(const T *src, T *diff_src, const Window &win, int64_t h_stride, int64_t w_stride,
                         const T *dst, const T *diff_dst, int64_t count)
{
    constexpr int64_t per = kPer<T, Word>;
    const int64_t n = Words ? Words : count, rows = Rows ? Rows : win.rows, cols = Cols ? Cols : win.cols;
    float top[per][Words ? Words : kChunk]; // sized exactly, they stay in registers
    Word left[Words ? Words : kChunk];
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) {
        const Word max = load<Word>(dst + l * per);
        for (int k = 0; k < per; ++k)
            top[k][l] = value(max, k);
        left[l] = routed(load<Word>(diff_dst + l * per));
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t w = 0; w < cols; ++w) {
            const T *s = src + r * h_stride + w * w_stride;
            T *ds = diff_src + r * h_stride + w * w_stride;
#pragma omp simd
            for (int64_t l = 0; l < n; ++l) {
                const Word x = load<Word>(s + l * per);
                Word diff;
                give(diff, left[l], value(x, 0) == top[0][l], value(x, per - 1) == top[per - 1][l]);
                save(ds + l * per, diff);
            }
        }
}

// Overlapping windows (f32 only, MaxRoute::of): an input of several windows
// sums their gradients into diff_src, zeroed first.
template <int64_t Words>
inline void add_window(const float *src, float *diff_src, const Window &win, int64_t h_stride, int64_t w_stride,
                       const float *__restrict dst, const float *__restrict diff_dst, int64_t count)
{
    const int64_t n = Words ? Words : count;
    float left[kChunk];
    for (int64_t l = 0; l < n; ++l)
        left[l] = diff_dst[l];
    for (int64_t r = 0; r < win.rows; ++r)
        for (int64_t w = 0; w < win.cols; ++w) {
            const float *__restrict s = src + r * h_stride + w * w_stride;
            float *__restrict ds = diff_src + r * h_stride + w * w_stride;
#pragma omp simd
            for (int64_t l = 0; l < n; ++l) {
                const bool hit = s[l] == dst[l];
                ds[l] += hit ? left[l] : 0.0f;
                left[l] = hit ? 0.0f : left[l];
            }
        }
}

// Calls gap(first, last) for each run of input rows (or columns) that no
// window covers: windows that do not overlap leave gaps where the stride
// exceeds the kernel, and the last rows or columns when none reaches them.
template <class Gap> void each_gap(int64_t ins, int64_t outs, int64_t stride, int64_t kernel, int64_t pad, Gap &&gap)
{
    int64_t next = 0; // the first input after the windows so far
    for (int64_t o = 0; o < outs; ++o) {
        const int64_t first = std::max<int64_t>(o * stride - pad, 0);
        if (first > next)
            gap(next, first);
        next = std::max(next, std::min(o * stride - pad + kernel, ins));
    }
    if (next < ins)
        gap(next, ins);
}

// Zeroes the gradient of the inputs no window covers (all lanes).
template <class T> void zero_uncovered(const MaxRoute &r, int64_t n, int64_t group, T *diff_src)
{
    const ChannelGroups &in = r.src;
    const MaxWindow &k = r.window;
    const auto zero = [&](int64_t h, int64_t first_w, int64_t last_w) {
        for (int64_t w = first_w; w < last_w; ++w)
            std::fill_n(diff_src + in.offset(n, group, h, w), in.lanes, T{0});
    };
    each_gap(r.in_h, r.out_h, k.stride_h, k.kernel_h, k.pad_top, [&](int64_t first_h, int64_t last_h) {
        for (int64_t h = first_h; h < last_h; ++h)
            zero(h, 0, r.in_w);
    });
    each_gap(r.in_w, r.out_w, k.stride_w, k.kernel_w, k.pad_left, [&](int64_t first_w, int64_t last_w) {
        for (int64_t h = 0; h < r.in_h; ++h)
            zero(h, first_w, last_w);
    });
}

// A run of windows (each_run). Whole: the windows are the Shape's.
template <class S, bool Whole, class T>
void route_run(const T *src, T *diff_src, const T *dst, const T *diff_dst, const Window win, const Steps st,
               int64_t windows, bool overlap)
{
    using Word = typename S::Word;
    constexpr int64_t per = kPer<T, Word>, rows = Whole ? S::rows : 0, cols = Whole ? S::cols : 0;
    for (int64_t i = 0; i < windows; ++i, src += st.src_step, diff_src += st.src_step, dst += st.dst_step,
                 diff_dst += st.dst_step)
        each_chunk<S>(st.words, [&](int64_t word, int64_t count) {
            const int64_t lane = word * per;
            if constexpr (std::is_same_v<Word, float>)
                if (overlap)
                    return add_window<S::words>(src + lane, diff_src + lane, win, st.h_stride, st.w_stride,
                                                dst + lane, diff_dst + lane, count);
            route_window<S::words, rows, cols, Word>(src + lane, diff_src + lane, win, st.h_stride, st.w_stride,
                                                     dst + lane, diff_dst + lane, count);
        });
}

template <class S, class T>
void backward_plane(const MaxRoute &r, bool overlap, int64_t n, int64_t group, const T *src, const T *dst,
                    const T *diff_dst, T *diff_src)
{
    const ChannelGroups &in = r.src, &out = r.dst;
    if (overlap) {
        for (int64_t h = 0; h < r.in_h; ++h)
            std::fill_n(diff_src + in.offset(n, group, h, 0), r.in_w * in.w_stride, T{0});
    } else {
        zero_uncovered(r, n, group, diff_src);
    }
    const Steps st = steps_of<T, typename S::Word>(r);
    const int64_t in_at = in.offset(n, group, 0, 0), out_at = out.offset(n, group, 0, 0);
    each_run<S>(r, [&](int64_t oh, int64_t ow, int64_t windows, const Window &win, auto whole) {
        const int64_t from = in_at + win.first_h * in.h_stride + win.first_w * in.w_stride;
        const int64_t at = out_at + oh * out.h_stride + ow * out.w_stride;
        route_run<S, whole()>(src + from, diff_src + from, dst + at, diff_dst + at, win, st, windows, overlap);
    });
    zero_padding(in, n, group, r.in_h, r.in_w, diff_src);
}

template <class T>
void backward_all(const MaxRoute &r, const T *src, const T *dst, const T *diff_dst, T *diff_src, int threads)
{
    const MaxWindow &k = r.window;
    const bool overlap = k.stride_h < k.kernel_h || k.stride_w < k.kernel_w;
    with_shape<T>(r, [&](auto shape) {
        each_plane(r, threads, [&](int64_t n, int64_t group) {
            backward_plane<decltype(shape)>(r, overlap, n, group, src, dst, diff_dst, diff_src);
        });
    });
}

template <class T> void forward_all(const MaxRoute &r, const T *src, T *dst, int threads)
{
    with_shape<T>(r, [&](auto shape) {
        each_plane(r, threads,
                   [&](int64_t n, int64_t group) { forward_plane<decltype(shape)>(r, n, group, src, dst); });
    });
}

bool fits_4d(const dnnl::memory::desc &md)
{
    const dnnl_memory_desc_t &d = md.data;
    return d.ndims == 4 && (d.data_type == dnnl_f32 || d.data_type == dnnl_bf16) && d.format_kind == dnnl_blocked &&
           d.offset0 == 0;
}

} // namespace

std::optional<ChannelGroups> ChannelGroups::of(const dnnl::memory::desc &md)
{
    if (!fits_4d(md))
        return std::nullopt;
    const dnnl_blocking_desc_t &b = md.data.format_desc.blocking;
    ChannelGroups g;
    g.channels = md.data.dims[1];
    g.bf16 = md.data.data_type == dnnl_bf16;
    g.n_stride = b.strides[0];
    g.h_stride = b.strides[2];
    g.w_stride = b.strides[3];
    if (b.inner_nblks == 1 && b.inner_idxs[0] == 1) { // aBcd16b and its kin
        g.lanes = b.inner_blks[0];
        g.groups = md.data.padded_dims[1] / g.lanes;
        g.group_stride = b.strides[1];
    } else if (b.inner_nblks == 0 && b.strides[1] == 1) { // channels last
        g.lanes = g.channels;
        g.groups = 1;
    } else if (b.inner_nblks == 0) { // one plane per channel
        g.lanes = 1;
        g.groups = g.channels;
        g.group_stride = b.strides[1];
    } else {
        return std::nullopt;
    }
    return g;
}

std::optional<MaxRoute> MaxRoute::of(const dnnl::memory::desc &src, const dnnl::memory::desc &dst,
                                     const MaxWindow &window)
{
    const auto in = ChannelGroups::of(src), out = ChannelGroups::of(dst);
    if (!in || !out || in->lanes != out->lanes || in->groups != out->groups || in->bf16 != out->bf16)
        return std::nullopt;
    // In bf16 an input of overlapping windows would sum gradients with a
    // rounding of ours; oneDNN's backward keeps those.
    if (in->bf16 && (window.stride_h < window.kernel_h || window.stride_w < window.kernel_w))
        return std::nullopt;
    MaxRoute r;
    r.src = *in;
    r.dst = *out;
    r.batch = src.data.dims[0];
    r.in_h = src.data.dims[2];
    r.in_w = src.data.dims[3];
    r.out_h = dst.data.dims[2];
    r.out_w = dst.data.dims[3];
    r.window = window;
    return r;
}

// Measured on AVX-512 (2 cores, medians, the machine shared): in
// neurite-bench's CNN at b64 on 2 threads, bf16 nChw16c 64x32x26x26 takes
// 52-61 us here against 171-200 in oneDNN's, 64x64x11x11 17 against 74-81.
// Alone, one thread, 2x2 stride 2 (ours / oneDNN's forward_inference, us):
//   bf16 nChw16c 64x32x26x26  139 / 151    nhwc  145 / 394
//   bf16 nhwc    64x64x11x11   17 / 110
//   f32  nChw16c 64x32x26x26  238 / 146    nhwc  252 / 357
//   f32  nhwc    64x64x11x11   49 / 102
//   nchw (one lane a group, one value a window) 3180-3808 / 211-297
// So: bf16 with channels grouped, f32 channels last only.
bool MaxRoute::forward_pays() const { return src.lanes >= 8 && (src.bf16 || src.groups == 1); }

void MaxRoute::forward(const float *src_data, float *dst_data, int threads) const
{
    forward_all(*this, src_data, dst_data, threads);
}

void MaxRoute::forward(const uint16_t *src_data, uint16_t *dst_data, int threads) const
{
    forward_all(*this, src_data, dst_data, threads);
}

void MaxRoute::backward(const float *src_data, const float *dst_data, const float *diff_dst, float *diff_src,
                        int threads) const
{
    backward_all(*this, src_data, dst_data, diff_dst, diff_src, threads);
}

void MaxRoute::backward(const uint16_t *src_data, const uint16_t *dst_data, const uint16_t *diff_dst,
                        uint16_t *diff_src, int threads) const
{
    backward_all(*this, src_data, dst_data, diff_dst, diff_src, threads);
}

} // namespace neurite::pool
