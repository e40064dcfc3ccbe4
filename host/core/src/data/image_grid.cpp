#include "neurite/core/data/image_grid.h"

#include "neurite/core/error.h"

#include <QFileInfo>
#include <QImage>
#include <QImageWriter>
#include <QSaveFile>

#include <algorithm>
#include <cmath>

namespace neurite::data {

namespace {

// The value range black..white stands for.
void choose_range(const Tensor &images, const ImageGridOptions &o, float &lo, float &hi)
{
    if (o.range == ImageGridOptions::Range::Given) {
        lo = o.lo, hi = o.hi;
    } else if (images.numel() == 0) {
        lo = 0, hi = 1;
    } else if (o.range == ImageGridOptions::Range::Symmetric) {
        float m = 0;
        for (float v : images)
            m = std::max(m, std::abs(v));
        lo = -m, hi = m;
    } else {
        const auto [min_it, max_it] = std::minmax_element(images.begin(), images.end());
        lo = *min_it, hi = *max_it;
    }
    if (!(hi > lo)) { // all alike (or NaN): one grey, not a division by zero
        lo -= 0.5f;
        hi += 0.5f;
    }
}

uint32_t level(float v, float lo, float span)
{
    const float t = std::isnan(v) ? 0.f : std::clamp((v - lo) / span, 0.f, 1.f);
    return static_cast<uint32_t>(std::lround(t * 255.f));
}

} // namespace

ImageGrid render_image_grid(const Tensor &source, const ImageGridOptions &o)
{
    const int d = source.dim();
    if (d != 3 && d != 4)
        throw Error("an image grid takes images [N, H, W] or [N, C, H, W], not " + source.shape().to_string());
    const Tensor images = source.contiguous();
    const int64_t n = images.size(0), planes = d == 4 ? images.size(1) : 1;
    const int64_t h = images.size(d - 2), w = images.size(d - 1);
    const bool color = o.color && planes == 3;
    if (o.scale < 1 || o.gap < 0 || o.columns < 0)
        throw Error("an image grid needs scale >= 1, gap >= 0 and columns >= 0");
    ImageGrid g;
    g.tiles = static_cast<int>(color ? n : n * planes);
    g.columns = o.columns > 0 ? o.columns
                : planes > 1 && !color
                    ? static_cast<int>(planes) // a sample's planes in one row
                    : std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(g.tiles)))));
    g.columns = std::max(1, std::min(g.columns, std::max(1, g.tiles)));
    g.rows = (g.tiles + g.columns - 1) / g.columns;
    g.tile_width = static_cast<int>(w) * o.scale;
    g.tile_height = static_cast<int>(h) * o.scale;
    g.gap = o.gap;
    g.width = g.gap + g.columns * (g.tile_width + g.gap);
    g.height = g.gap + std::max(1, g.rows) * (g.tile_height + g.gap);
    choose_range(images, o, g.lo, g.hi);
    g.pixels.assign(static_cast<size_t>(g.width) * static_cast<size_t>(g.height), kImageGridBackground);
    const float span = g.hi - g.lo;
    const int64_t plane = h * w;
    for (int t = 0; t < g.tiles; ++t) {
        // A colour tile reads planes t*3.., a grey one plane t.
        const float *first = images.data() + static_cast<int64_t>(t) * (color ? 3 : 1) * plane;
        const int x0 = g.tile_x(t), y0 = g.tile_y(t);
        for (int y = 0; y < g.tile_height; ++y) {
            uint32_t *row = g.pixels.data() + static_cast<size_t>(y0 + y) * static_cast<size_t>(g.width) + x0;
            const int64_t src_row = (y / o.scale) * w;
            for (int x = 0; x < g.tile_width; ++x) {
                const int64_t at = src_row + x / o.scale;
                const uint32_t r = level(first[at], g.lo, span);
                const uint32_t gr = color ? level(first[plane + at], g.lo, span) : r;
                const uint32_t b = color ? level(first[2 * plane + at], g.lo, span) : r;
                row[x] = 0xff000000u | (r << 16) | (gr << 8) | b;
            }
        }
    }
    return g;
}

Tensor interleave_images(std::span<const Tensor> lists)
{
    if (lists.empty() || lists.front().dim() < 1)
        throw Error("images side by side need at least one tensor [N, ...]");
    const Shape &one = lists.front().shape();
    for (const Tensor &t : lists)
        if (t.shape() != one)
            throw Error("images side by side need one shape, not " + one.to_string() + " and " + t.shape().to_string());
    const int64_t n = one[0], k = static_cast<int64_t>(lists.size());
    const int64_t size = n > 0 ? lists.front().numel() / n : 0;
    std::vector<int64_t> dims(one.begin(), one.end());
    dims[0] = n * k;
    Tensor merged = Tensor::uninitialized(Shape(std::span<const int64_t>(dims)));
    for (int64_t j = 0; j < k; ++j) {
        const Tensor src = lists[static_cast<size_t>(j)].contiguous();
        for (int64_t i = 0; i < n; ++i)
            std::copy_n(src.data() + i * size, size, merged.data() + (i * k + j) * size);
    }
    return merged;
}

void write_image_grid(const ImageGrid &grid, const std::string &path)
{
    const QString file = QString::fromStdString(path);
    const QByteArray format = QFileInfo(file).suffix().toLower().toLatin1();
    if (format.isEmpty() || !QImageWriter::supportedImageFormats().contains(format))
        throw Error(path + ": cannot write images of the format its suffix names; name a .png or .jpg file");
    const QImage image(reinterpret_cast<const uchar *>(grid.pixels.data()), grid.width, grid.height,
                       grid.width * 4, QImage::Format_RGB32);
    QSaveFile out(file); // a reader never sees half a picture
    if (!out.open(QIODevice::WriteOnly))
        throw Error(path + ": cannot write the image: " + out.errorString().toStdString());
    QImageWriter writer(&out, format);
    if (!writer.write(image) || !out.commit())
        throw Error(path + ": cannot write the image: " +
                    (writer.error() != QImageWriter::UnknownError ? writer.errorString() : out.errorString())
                        .toStdString());
}

} // namespace neurite::data
