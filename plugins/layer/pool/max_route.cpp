#include "max_route.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace neurite::pool {

namespace {

// A bf16 value is the upper half of the f32 with the same value: widening
// is exact, so comparing widened values compares the bf16 values.
inline float value_of(float x) { return x; }
inline float value_of(uint16_t bf16)
{
    const uint32_t bits = static_cast<uint32_t>(bf16) << 16;
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

// Hands an input the gradient it gets from one window: f32 sums them (an
// input of overlapping windows gets several); bf16 routes only windows that
// do not overlap (MaxRoute::of), so each input gets at most one gradient,
// copied unrounded.
inline void give(float &diff, float grad) { diff += grad; }
inline void give(uint16_t &diff, uint16_t grad) { diff |= grad; }

// Lanes handled together: one AVX-512 register of floats.
constexpr int64_t kChunk = 16;

// One output's window over `count` adjacent lanes (count <= kChunk; Lanes,
// when not 0, is count known at compile time so the loop vectorizes). The
// gradient left to give drops to zero at its lane's first maximum: selects
// only, no branches.
template <int64_t Lanes, class T>
inline void route_window(const T *const *src_rows, T *const *diff_rows, int64_t rows, int64_t first_w,
                         int64_t last_w, int64_t w_stride, const T *__restrict max, const T *__restrict grad,
                         int64_t count)
{
    const int64_t n = Lanes ? Lanes : count;
    T left[kChunk];
    for (int64_t l = 0; l < n; ++l)
        left[l] = grad[l];
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t w = first_w; w < last_w; ++w) {
            const T *__restrict s = src_rows[r] + w * w_stride;
            T *__restrict ds = diff_rows[r] + w * w_stride;
#pragma omp simd
            for (int64_t l = 0; l < n; ++l) {
                const bool hit = value_of(s[l]) == value_of(max[l]);
                give(ds[l], hit ? left[l] : T{0});
                left[l] = hit ? T{0} : left[l];
            }
        }
}

template <int64_t Lanes, class T>
void route_group(const MaxRoute &r, int64_t n, int64_t group, const T *src, const T *dst, const T *diff_dst,
                 T *diff_src)
{
    const ChannelGroups &in = r.src, &out = r.dst;
    // Every gradient of the group is written: zeros first (padding lanes
    // included), while the group's rows are in cache.
    for (int64_t h = 0; h < r.in_h; ++h)
        for (int64_t w = 0; w < r.in_w; ++w)
            std::fill_n(diff_src + in.offset(n, group, h, w), in.lanes, T{0});
    const int64_t lanes = in.lanes_of(group);
    const MaxWindow &k = r.window;
    const T *src_rows[64];
    T *diff_rows[64];
    for (int64_t oh = 0; oh < r.out_h; ++oh) {
        const int64_t top = oh * k.stride_h - k.pad_top;
        const int64_t first_h = std::max<int64_t>(top, 0), last_h = std::min(top + k.kernel_h, r.in_h);
        for (int64_t ow = 0; ow < r.out_w; ++ow) {
            const int64_t left = ow * k.stride_w - k.pad_left;
            const int64_t first_w = std::max<int64_t>(left, 0), last_w = std::min(left + k.kernel_w, r.in_w);
            const int64_t at = out.offset(n, group, oh, ow);
            for (int64_t lane = 0; lane < lanes; lane += kChunk) {
                // A window spans at most 64 rows (MaxRoute::of): their
                // pointers fit on the stack.
                const int64_t rows = last_h - first_h;
                for (int64_t i = 0; i < rows; ++i) {
                    src_rows[i] = src + in.offset(n, group, first_h + i, 0) + lane;
                    diff_rows[i] = diff_src + in.offset(n, group, first_h + i, 0) + lane;
                }
                const int64_t count = std::min(kChunk, lanes - lane);
                if (Lanes && count == Lanes)
                    route_window<Lanes>(src_rows, diff_rows, rows, first_w, last_w, in.w_stride, dst + at + lane,
                                        diff_dst + at + lane, count);
                else
                    route_window<0>(src_rows, diff_rows, rows, first_w, last_w, in.w_stride, dst + at + lane,
                                    diff_dst + at + lane, count);
            }
        }
    }
}

bool fits_4d(const dnnl::memory::desc &md)
{
    const dnnl_memory_desc_t &d = md.data;
    return d.ndims == 4 && (d.data_type == dnnl_f32 || d.data_type == dnnl_bf16) && d.format_kind == dnnl_blocked &&
           d.offset0 == 0;
}

template <class T>
void route_all(const MaxRoute &r, const T *src, const T *dst, const T *diff_dst, T *diff_src, int threads)
{
    const int64_t planes = r.batch * r.src.groups;
    const int64_t groups = r.src.groups;
    const int64_t lanes = r.src.lanes;
    const auto plane = [&](int64_t p) {
        const int64_t n = p / groups, group = p % groups;
        if (lanes == 16)
            route_group<16>(r, n, group, src, dst, diff_dst, diff_src);
        else if (lanes == 8)
            route_group<8>(r, n, group, src, dst, diff_dst, diff_src);
        else
            route_group<0>(r, n, group, src, dst, diff_dst, diff_src);
    };
    // No parallel region for one thread: libgomp allocates a team for each
    // region it opens, even of one, and a training step allocates nothing.
    // omp_get_max_threads() follows the host's current thread count.
    const int team = static_cast<int>(std::min<int64_t>({threads, omp_get_max_threads(), planes}));
    if (team <= 1) {
        for (int64_t p = 0; p < planes; ++p)
            plane(p);
        return;
    }
#pragma omp parallel for num_threads(team) schedule(static)
    for (int64_t p = 0; p < planes; ++p)
        plane(p);
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
    // Both must group channels alike; windows of up to 64 rows (route_group).
    if (!in || !out || in->lanes != out->lanes || in->groups != out->groups || in->bf16 != out->bf16 ||
        window.kernel_h > 64)
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

void MaxRoute::backward(const float *src_data, const float *dst_data, const float *diff_dst, float *diff_src,
                        int threads) const
{
    route_all(*this, src_data, dst_data, diff_dst, diff_src, threads);
}

void MaxRoute::backward(const uint16_t *src_data, const uint16_t *dst_data, const uint16_t *diff_dst,
                        uint16_t *diff_src, int threads) const
{
    route_all(*this, src_data, dst_data, diff_dst, diff_src, threads);
}

} // namespace neurite::pool
