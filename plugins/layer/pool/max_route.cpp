#include "max_route.hpp"

#include <omp.h>

#include <algorithm>

namespace neurite::pool {

namespace {

// Lanes handled together: one AVX-512 register of floats.
constexpr int64_t kChunk = 16;

// One output's window over `count` adjacent lanes (count <= kChunk; Lanes,
// when not 0, is count known at compile time so the loop vectorizes). The
// gradient left to give drops to zero at its lane's first maximum: selects
// only, no branches.
template <int64_t Lanes>
inline void route_window(const float *const *src_rows, float *const *diff_rows, int64_t rows, int64_t first_w,
                         int64_t last_w, int64_t w_stride, const float *__restrict max,
                         const float *__restrict grad, int64_t count)
{
    const int64_t n = Lanes ? Lanes : count;
    float left[kChunk];
    for (int64_t l = 0; l < n; ++l)
        left[l] = grad[l];
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t w = first_w; w < last_w; ++w) {
            const float *__restrict s = src_rows[r] + w * w_stride;
            float *__restrict ds = diff_rows[r] + w * w_stride;
#pragma omp simd
            for (int64_t l = 0; l < n; ++l) {
                const bool hit = s[l] == max[l];
                ds[l] += hit ? left[l] : 0.0f;
                left[l] = hit ? 0.0f : left[l];
            }
        }
}

template <int64_t Lanes>
void route_group(const MaxRoute &r, int64_t n, int64_t group, const float *src, const float *dst,
                 const float *diff_dst, float *diff_src)
{
    const ChannelGroups &in = r.src, &out = r.dst;
    // Every gradient of the group is written: zeros first (padding lanes
    // included), while the group's rows are in cache.
    for (int64_t h = 0; h < r.in_h; ++h)
        for (int64_t w = 0; w < r.in_w; ++w)
            std::fill_n(diff_src + in.offset(n, group, h, w), in.lanes, 0.0f);
    const int64_t lanes = in.lanes_of(group);
    const MaxWindow &k = r.window;
    const float *src_rows[64];
    float *diff_rows[64];
    for (int64_t oh = 0; oh < r.out_h; ++oh) {
        const int64_t top = oh * k.stride_h - k.pad_top;
        const int64_t first_h = std::max<int64_t>(top, 0), last_h = std::min(top + k.kernel_h, r.in_h);
        for (int64_t ow = 0; ow < r.out_w; ++ow) {
            const int64_t left = ow * k.stride_w - k.pad_left;
            const int64_t first_w = std::max<int64_t>(left, 0), last_w = std::min(left + k.kernel_w, r.in_w);
            const int64_t at = out.offset(n, group, oh, ow);
            for (int64_t lane = 0; lane < lanes; lane += kChunk) {
                // Rows in batches of 64 keep the pointers on the stack; a
                // later batch sees `taken` afresh, so a window taller than 64
                // rows goes through the generic path (see MaxRoute::of).
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

bool fits_f32_4d(const dnnl::memory::desc &md)
{
    const dnnl_memory_desc_t &d = md.data;
    return d.ndims == 4 && d.data_type == dnnl_f32 && d.format_kind == dnnl_blocked && d.offset0 == 0;
}

} // namespace

std::optional<ChannelGroups> ChannelGroups::of(const dnnl::memory::desc &md)
{
    if (!fits_f32_4d(md))
        return std::nullopt;
    const dnnl_blocking_desc_t &b = md.data.format_desc.blocking;
    ChannelGroups g;
    g.channels = md.data.dims[1];
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
    if (!in || !out || in->lanes != out->lanes || in->groups != out->groups || window.kernel_h > 64)
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
    const int64_t planes = batch * src.groups;
    const int64_t groups = src.groups;
    const int64_t lanes = src.lanes;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const int64_t n = p / groups, group = p % groups;
        if (lanes == 16)
            route_group<16>(*this, n, group, src_data, dst_data, diff_dst, diff_src);
        else if (lanes == 8)
            route_group<8>(*this, n, group, src_data, dst_data, diff_dst, diff_src);
        else
            route_group<0>(*this, n, group, src_data, dst_data, diff_dst, diff_src);
    }
}

} // namespace neurite::pool
