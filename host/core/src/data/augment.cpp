#include "neurite/core/data/augment.h"

#include "neurite/core/error.h"

#include "random.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace neurite::data {

namespace {

// Larger paddings would mostly show zeros.
constexpr int64_t kMaxPadding = 1 << 10;

struct Draw {
    int64_t dy = 0, dx = 0; // the window's offset in the padded image, 0 .. 2·padding
    bool flip = false;
};

Draw draw(const Augmentation &a, uint64_t key, int64_t position)
{
    const uint64_t r = detail::mix64(key + static_cast<uint64_t>(position));
    const uint64_t choices = static_cast<uint64_t>(2 * a.crop_padding + 1);
    Draw d;
    // Three independent parts of one 64-bit draw; the tiny modulo bias of a
    // 20-bit field over at most 2049 choices does not matter for augmentation.
    d.dy = static_cast<int64_t>((r & 0xFFFFF) % choices);
    d.dx = static_cast<int64_t>(((r >> 20) & 0xFFFFF) % choices);
    d.flip = static_cast<double>(r >> 40) * 0x1.0p-24 < a.horizontal_flip;
    return d;
}

// One plane [h, w] from src into dst, shifted by the draw and maybe mirrored; zeros where the window leaves the image.
void transform_plane(const float *src, float *dst, int64_t h, int64_t w, int64_t padding, const Draw &d)
{
    for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + d.dy - padding;
        float *row = dst + y * w;
        if (sy < 0 || sy >= h) {
            std::fill(row, row + w, 0.0f);
            continue;
        }
        const float *src_row = src + sy * w;
        for (int64_t x = 0; x < w; ++x) {
            const int64_t cx = d.flip ? w - 1 - x : x; // the flip mirrors the cropped window
            const int64_t sx = cx + d.dx - padding;
            row[x] = sx >= 0 && sx < w ? src_row[sx] : 0.0f;
        }
    }
}

} // namespace

void check_augmentation(const Augmentation &a, const Shape &sample, const std::string &source)
{
    if (a.crop_padding < 0 || a.crop_padding > kMaxPadding)
        throw Error(source + ": augment crop_padding = " + std::to_string(a.crop_padding) + " is outside 0.." +
                    std::to_string(kMaxPadding));
    if (!(a.horizontal_flip >= 0 && a.horizontal_flip <= 1))
        throw Error(source + ": augment horizontal_flip = " + std::to_string(a.horizontal_flip) +
                    " is not a probability in [0, 1]");
    if (a.active() && sample.size() != 3 && sample.size() != 2)
        throw Error(source + ": augmentation crops and flips images [C, H, W], but the samples are " +
                    sample.to_string());
}

uint64_t augmentation_key(uint64_t seed, int64_t epoch)
{
    // Unrelated to the shuffle's keys (seed ^ mix64(epoch + 1)).
    return detail::mix64(detail::mix64(seed ^ 0xA0617E47A0617E47ull) ^ detail::mix64(static_cast<uint64_t>(epoch)));
}

void augment_samples(const Augmentation &a, const Shape &sample, float *inputs, int64_t count, uint64_t key,
                     int64_t first, float *scratch)
{
    if (!a.active())
        return;
    const int64_t h = sample[sample.size() - 2], w = sample[sample.size() - 1];
    const int64_t planes = sample.numel() / (h * w), values = sample.numel();
    for (int64_t k = 0; k < count; ++k) {
        const Draw d = draw(a, key, first + k);
        if (d.dy == a.crop_padding && d.dx == a.crop_padding && !d.flip)
            continue; // the window is the image itself
        float *x = inputs + k * values;
        std::memcpy(scratch, x, static_cast<size_t>(values) * sizeof(float));
        for (int64_t p = 0; p < planes; ++p)
            transform_plane(scratch + p * h * w, x + p * h * w, h, w, a.crop_padding, d);
    }
}

} // namespace neurite::data
