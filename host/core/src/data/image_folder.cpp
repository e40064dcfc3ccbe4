#include "neurite/core/data/image_folder.h"

#include "neurite/core/data/file_bytes.h"
#include "neurite/core/data/read_check.h"

#include "parse_errors.h"

#include <QBuffer>
#include <QByteArray>
#include <QImage>
#include <QImageReader>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

namespace neurite::data {

namespace {

namespace fs = std::filesystem;

constexpr int kMaxSide = 1 << 14; // a sample is a tensor row; larger is surely a mistake

// File suffixes (lower case, no dot) of every format this Qt can read.
const std::set<std::string> &readable_suffixes()
{
    static const std::set<std::string> suffixes = [] {
        std::set<std::string> s;
        for (const QByteArray &format : QImageReader::supportedImageFormats())
            s.insert(format.toLower().toStdString());
        if (s.count("jpeg"))
            s.insert("jpg");
        return s;
    }();
    return suffixes;
}

bool has_image_suffix(const fs::path &file)
{
    std::string suffix = file.extension().string();
    if (suffix.empty())
        return false;
    suffix.erase(0, 1);
    std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return readable_suffixes().count(suffix) > 0;
}

// Sorted by name (byte order) so the class numbering and sample order do not
// depend on the file system or the locale.
std::vector<fs::path> sorted_entries(const fs::path &folder, bool folders)
{
    check_read(folder.string()); // a listing shows names: a read of its own
    std::vector<fs::path> entries;
    std::error_code ec;
    for (const fs::directory_entry &e : fs::directory_iterator(folder, ec)) {
        std::error_code type_ec;
        if (folders ? e.is_directory(type_ec) : e.is_regular_file(type_ec))
            entries.push_back(e.path());
    }
    std::sort(entries.begin(), entries.end());
    return entries;
}

// Resized, converted and laid out as planes (one for grayscale, R G B otherwise).
std::vector<uint8_t> image_pixels(const QImage &decoded, int width, int height, bool grayscale)
{
    QImage image = decoded;
    if (image.width() != width || image.height() != height)
        image = image.scaled(width, height, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    image = image.convertToFormat(grayscale ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    const int channels = grayscale ? 1 : 3;
    const size_t plane = static_cast<size_t>(width) * static_cast<size_t>(height);
    std::vector<uint8_t> pixels(plane * static_cast<size_t>(channels));
    for (int y = 0; y < height; ++y) {
        const uchar *line = image.constScanLine(y);
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c)
                pixels[static_cast<size_t>(c) * plane + static_cast<size_t>(y) * static_cast<size_t>(width) +
                       static_cast<size_t>(x)] = line[x * channels + c];
    }
    return pixels;
}

QImage decode(std::span<const uint8_t> bytes, const std::string &source)
{
    if (bytes.empty())
        detail::fail(source, "cannot read the image: the file is empty");
    QByteArray data = QByteArray::fromRawData(reinterpret_cast<const char *>(bytes.data()),
                                              static_cast<qsizetype>(bytes.size()));
    QBuffer buffer(&data);
    buffer.open(QIODevice::ReadOnly);
    QImageReader reader(&buffer);
    QImage image = reader.read();
    if (image.isNull())
        detail::fail(source, "cannot read the image: " + reader.errorString().toStdString());
    return image;
}

void check_size(int width, int height, const std::string &source)
{
    if (width < 0 || height < 0 || width > kMaxSide || height > kMaxSide)
        detail::fail(source, "cannot resize images to " + std::to_string(width) + " × " +
                                 std::to_string(height) + "; sides must be from 1 to " +
                                 std::to_string(kMaxSide));
}

} // namespace

std::vector<uint8_t> decode_image(std::span<const uint8_t> bytes, const std::string &source, int width,
                                  int height, bool grayscale)
{
    check_size(width, height, source);
    const QImage image = decode(bytes, source);
    return image_pixels(image, width > 0 ? width : image.width(), height > 0 ? height : image.height(),
                        grayscale);
}

Dataset load_image_folder(const std::string &folder, const ImageFolderOptions &options)
{
    check_size(options.width, options.height, folder);
    if ((options.width == 0) != (options.height == 0))
        detail::fail(folder, "give both width and height to resize images, or neither");
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
        detail::fail(folder, "no such folder");

    DatasetParts parts;
    parts.source = folder;
    parts.byte_scale = options.scale_to_unit ? 1.0f / 255.0f : 1.0f;
    for (const fs::path &stray : sorted_entries(folder, false))
        if (has_image_suffix(stray))
            parts.warnings.push_back(stray.string() + ": not in a class subfolder; ignored");

    int width = options.width, height = options.height;
    int64_t tried = 0;
    std::vector<fs::path> classes = sorted_entries(folder, true);
    std::vector<std::vector<fs::path>> files_by_class;
    for (const fs::path &class_folder : classes) {
        std::vector<fs::path> files;
        for (const fs::path &file : sorted_entries(class_folder, false))
            if (has_image_suffix(file))
                files.push_back(file);
        files_by_class.push_back(std::move(files));
    }
    for (size_t c = 0; c < classes.size(); ++c) {
        for (const fs::path &file : files_by_class[c]) {
            ++tried;
            try {
                const std::string name = file.string();
                const std::vector<uint8_t> encoded = read_file(name);
                const QImage image = decode(encoded, name);
                if (width == 0) {
                    width = image.width();
                    height = image.height();
                }
                const std::vector<uint8_t> pixels = image_pixels(image, width, height, options.grayscale);
                parts.bytes.insert(parts.bytes.end(), pixels.begin(), pixels.end());
                parts.targets.push_back(static_cast<float>(c));
                ++parts.count;
            } catch (const Error &e) {
                if (!options.skip_unreadable)
                    throw;
                parts.warnings.push_back(std::string(e.what()) + " (skipped)");
            }
        }
        parts.class_names.push_back(classes[c].filename().string());
    }
    if (tried == 0)
        detail::fail(folder, "no images found; expected one subfolder per class holding image files");
    if (parts.count == 0)
        detail::fail(folder, "none of the " + std::to_string(tried) + " images could be read");
    parts.input_shape = Shape{options.grayscale ? 1 : 3, height, width}; // [C, H, W]
    parts.target_kind = TargetKind::Classes;
    parts.class_count = static_cast<int64_t>(classes.size());
    return Dataset::create(std::move(parts));
}

} // namespace neurite::data
