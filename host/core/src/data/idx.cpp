#include "neurite/core/data/idx.h"

#include "neurite/core/data/file_bytes.h"
#include "neurite/core/data/read_check.h"

#include "parse_errors.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>

namespace neurite::data {

namespace {

constexpr int kMaxIdxDims = Shape::kMaxDims; // a batch dimension replaces the count

bool known_type(uint8_t code)
{
    return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D ||
           code == 0x0E;
}

size_t element_size(IdxType type)
{
    switch (type) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
    }
    return 1;
}

bool integral(IdxType type)
{
    return type != IdxType::Float32 && type != IdxType::Float64;
}

uint32_t big_endian32(const uint8_t *p)
{
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Element i of IDX data (big-endian) as a double.
double idx_value(const uint8_t *data, IdxType type, size_t i)
{
    const uint8_t *p = data + i * element_size(type);
    switch (type) {
    case IdxType::UInt8: return p[0];
    case IdxType::Int8: return static_cast<int8_t>(p[0]);
    case IdxType::Int16: return static_cast<int16_t>(uint16_t(p[0] << 8 | p[1]));
    case IdxType::Int32: return static_cast<int32_t>(big_endian32(p));
    case IdxType::Float32: return std::bit_cast<float>(big_endian32(p));
    case IdxType::Float64:
        return std::bit_cast<double>(uint64_t(big_endian32(p)) << 32 | big_endian32(p + 4));
    }
    return 0;
}

std::string dims_text(const std::vector<int64_t> &dims)
{
    std::string text;
    for (size_t i = 0; i < dims.size(); ++i)
        text += (i ? " × " : "") + std::to_string(dims[i]);
    return text;
}

// Takes the decompressed files over, so byte images are never copied: the
// dataset keeps the file's bytes and starts its samples after the header.
Dataset idx_dataset(std::vector<uint8_t> images, const std::string &images_source,
                    const std::vector<uint8_t> &labels, const std::string &labels_source,
                    const IdxOptions &options)
{
    const IdxHeader image_header = parse_idx_header(images, images_source, 3);
    DatasetParts parts;
    parts.source = images_source;
    parts.count = image_header.dims[0];
    parts.input_shape = Shape(std::span(image_header.dims).subspan(1));
    // A sample of two dimensions is a grayscale image: it gets its channel
    // dimension, [1, H, W], the shape convolutions take (Dense flattens it).
    if (parts.input_shape.size() == 2)
        parts.input_shape = Shape{1, parts.input_shape[0], parts.input_shape[1]};
    const int64_t features = parts.input_shape.numel();
    if (features < 1)
        detail::fail_at_byte(images_source, 8, "a sample of shape " + parts.input_shape.to_string() +
                                                   " holds no values");
    if (image_header.type == IdxType::UInt8) {
        parts.bytes = std::move(images);
        parts.byte_offset = image_header.data_offset;
        parts.byte_scale = options.scale_to_unit ? 1.0f / 255.0f : 1.0f;
    } else {
        const uint8_t *data = images.data() + image_header.data_offset;
        const size_t values = image_header.data_bytes / element_size(image_header.type);
        parts.floats.resize(values);
        for (size_t i = 0; i < values; ++i) {
            const double v = idx_value(data, image_header.type, i);
            if (!std::isfinite(v) || std::fabs(v) > 3.4e38)
                detail::fail_at_byte(images_source,
                                     image_header.data_offset + i * element_size(image_header.type),
                                     "value " + detail::number_text(v) + " is not a finite float");
            parts.floats[i] = static_cast<float>(v);
        }
    }

    if (!labels.empty() || !labels_source.empty()) {
        const IdxHeader label_header = parse_idx_header(labels, labels_source, 1);
        if (label_header.dims[0] != parts.count)
            detail::fail_at_byte(labels_source, 4,
                                 detail::plural(label_header.dims[0], "label", "labels") + ", but " +
                                     images_source + " holds " +
                                     detail::plural(parts.count, "image", "images") +
                                     "; every image needs one label");
        const int64_t named = static_cast<int64_t>(options.class_names.size());
        parts.targets.resize(static_cast<size_t>(parts.count));
        for (size_t i = 0; i < parts.targets.size(); ++i) {
            const double label = idx_value(labels.data() + label_header.data_offset, label_header.type, i);
            const size_t at = label_header.data_offset + i * element_size(label_header.type);
            if (label < 0)
                detail::fail_at_byte(labels_source, at, "label " + std::to_string(int64_t(label)) +
                                                            " is negative; classes are numbered from 0");
            if (named && label >= named)
                detail::fail_at_byte(labels_source, at, "label " + std::to_string(int64_t(label)) +
                                                            " is outside the " + std::to_string(named) +
                                                            " classes named");
            parts.targets[i] = static_cast<float>(label);
        }
        parts.target_kind = TargetKind::Classes;
        parts.class_names = options.class_names;
        parts.class_count = named;
    }
    return Dataset::create(std::move(parts));
}

} // namespace

const char *idx_type_name(IdxType type)
{
    switch (type) {
    case IdxType::UInt8: return "unsigned byte";
    case IdxType::Int8: return "signed byte";
    case IdxType::Int16: return "short";
    case IdxType::Int32: return "int";
    case IdxType::Float32: return "float";
    case IdxType::Float64: return "double";
    }
    return "?";
}

namespace {

// The magic number and the dimensions; the values are not looked at.
IdxHeader parse_idx_prefix(std::span<const uint8_t> bytes, const std::string &source, int expected_dims)
{
    if (bytes.empty())
        detail::fail(source, "the file is empty, expected an IDX header");
    const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(expected_dims);
    const std::string expected = detail::hex32(expected_magic) + " (unsigned byte, " +
                                 detail::plural(expected_dims, "dimension", "dimensions") + ")";
    if (bytes.size() < 4)
        detail::fail_at_byte(source, bytes.size(),
                             "truncated: the file ends inside the 4-byte magic number (expected " + expected + ")");
    const uint32_t magic = big_endian32(bytes.data());
    const int dims = bytes[3];
    // Labels are integers in one dimension; samples are any type with at
    // least one dimension after the count.
    const bool shape_fits = expected_dims == 1 ? dims == 1 : dims >= 2;
    const bool type_fits = known_type(bytes[2]) &&
                           (expected_dims != 1 || integral(static_cast<IdxType>(bytes[2])));
    if (bytes[0] != 0 || bytes[1] != 0 || !type_fits || !shape_fits)
        detail::fail_at_byte(source, 0, "wrong magic number " + detail::hex32(magic) + ", expected " + expected);
    if (dims > kMaxIdxDims)
        detail::fail_at_byte(source, 3, std::to_string(dims) + " dimensions, at most " +
                                            std::to_string(kMaxIdxDims) + " are supported");

    IdxHeader header;
    header.type = static_cast<IdxType>(bytes[2]);
    header.data_offset = 4 + 4 * static_cast<size_t>(dims);
    if (bytes.size() < header.data_offset)
        detail::fail_at_byte(source, 4,
                             "truncated header: " +
                                 detail::plural(dims, "dimension size needs", "dimension sizes need") + " " +
                                 std::to_string(4 * dims) + " bytes, only " + std::to_string(bytes.size() - 4) +
                                 " follow");
    for (int i = 0; i < dims; ++i)
        header.dims.push_back(big_endian32(bytes.data() + 4 + 4 * i));
    return header;
}

std::string values_text(const IdxHeader &header)
{
    return dims_text(header.dims) + " values of type " + idx_type_name(header.type);
}

// A gzip'd IDX file inflated as a stream: the header first, then exactly
// the bytes it describes, allocated only once the compressed size shows
// they can be there. A forged header or a bomb (a few bytes of header
// followed by gigabytes of zeros) is refused before it costs memory.
std::vector<uint8_t> inflate_idx(std::span<const uint8_t> compressed, const std::string &source, int expected_dims)
{
    GzipReader reader(compressed, source);
    std::vector<uint8_t> head(4);
    head.resize(reader.read(head.data(), 4));
    if (head.size() == 4) {
        head.resize(4 + 4 * static_cast<size_t>(head[3]));
        head.resize(4 + reader.read(head.data() + 4, head.size() - 4));
    }
    const IdxHeader header = parse_idx_prefix(head, source, expected_dims);
    uint64_t total = element_size(header.type);
    bool overflow = false;
    for (int64_t d : header.dims)
        overflow = overflow || __builtin_mul_overflow(total, static_cast<uint64_t>(d), &total);
    overflow = overflow || __builtin_add_overflow(total, header.data_offset, &total);
    const uint64_t most = max_inflated_size(compressed.size());
    if (overflow || total > most)
        detail::fail_at_byte(source, 4, "the header describes " + values_text(header) + " (" +
                                            (overflow ? std::string("more than 2^64") : std::to_string(total)) +
                                            " bytes), more than the " + std::to_string(compressed.size()) +
                                            " compressed bytes can inflate to; the file is damaged or forged");
    std::vector<uint8_t> plain(static_cast<size_t>(total));
    std::copy(head.begin(), head.end(), plain.begin());
    const size_t got = head.size() + reader.read(plain.data() + head.size(), plain.size() - head.size());
    if (got < plain.size())
        detail::fail_at_byte(source, got, "truncated: the header describes " + values_text(header) + " (" +
                                              std::to_string(total - header.data_offset) + " bytes after the " +
                                              std::to_string(header.data_offset) +
                                              "-byte header), but the data inflates to " + std::to_string(got) +
                                              " bytes in all");
    uint8_t extra = 0;
    if (reader.read(&extra, 1) == 1)
        detail::fail_at_byte(source, total, "the compressed data inflates to more than the " +
                                                std::to_string(total) + " bytes its header describes (" +
                                                values_text(header) + ")");
    return plain;
}

// Bytes a caller hands over, inflated when they are gzip.
std::vector<uint8_t> idx_bytes(std::span<const uint8_t> bytes, const std::string &source, int expected_dims)
{
    if (is_gzip(bytes))
        return inflate_idx(bytes, source, expected_dims);
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

std::vector<uint8_t> idx_bytes(std::vector<uint8_t> bytes, const std::string &source, int expected_dims)
{
    if (is_gzip(bytes))
        return inflate_idx(bytes, source, expected_dims);
    return bytes;
}

} // namespace

IdxHeader parse_idx_header(std::span<const uint8_t> bytes, const std::string &source, int expected_dims)
{
    IdxHeader header = parse_idx_prefix(bytes, source, expected_dims);
    header.data_bytes = detail::check_data_size(source, bytes.size(), header.data_offset,
                                                element_size(header.type), header.dims, values_text(header));
    return header;
}

Dataset parse_idx(std::span<const uint8_t> images, const std::string &images_source,
                  std::span<const uint8_t> labels, const std::string &labels_source,
                  const IdxOptions &options)
{
    std::vector<uint8_t> plain_images = idx_bytes(images, images_source, 3);
    const std::vector<uint8_t> plain_labels = labels.empty() ? std::vector<uint8_t>{} : idx_bytes(labels, labels_source, 1);
    return idx_dataset(std::move(plain_images), images_source, plain_labels, labels_source, options);
}

Dataset load_idx(const std::string &images_path, const std::string &labels_path, const IdxOptions &options)
{
    std::vector<uint8_t> images = idx_bytes(read_file(images_path), images_path, 3);
    const std::vector<uint8_t> labels =
        labels_path.empty() ? std::vector<uint8_t>{} : idx_bytes(read_file(labels_path), labels_path, 1);
    return idx_dataset(std::move(images), images_path, labels, labels_path, options);
}

const std::vector<std::string> &fashion_mnist_class_names()
{
    static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                   "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                   "Bag",         "Ankle boot"};
    return names;
}

TrainTest load_fashion_mnist(const std::string &dir, const IdxOptions &options)
{
    IdxOptions named = options;
    named.class_names = fashion_mnist_class_names();
    auto path = [&](const char *name) {
        const std::string file = (std::filesystem::path(dir) / name).string();
        std::error_code ec;
        if (!std::filesystem::exists(file, ec))
            detail::fail(file, "no such file (the Debian package dataset-fashion-mnist installs it; "
                               "or pass the folder that holds the four files)");
        return file;
    };
    const std::string train_images = path("train-images-idx3-ubyte.gz");
    const std::string train_labels = path("train-labels-idx1-ubyte.gz");
    const std::string test_images = path("t10k-images-idx3-ubyte.gz");
    const std::string test_labels = path("t10k-labels-idx1-ubyte.gz");
    // Inflating is most of the time; the test set inflates beside the training set.
    const ReadCheck *check = current_read_check(); // the same rule on the other thread
    auto test = std::async(std::launch::async, [&] {
        ReadCheckScope scope(check);
        return load_idx(test_images, test_labels, named);
    });
    TrainTest sets;
    sets.train = load_idx(train_images, train_labels, named);
    sets.test = test.get();
    return sets;
}

} // namespace neurite::data
