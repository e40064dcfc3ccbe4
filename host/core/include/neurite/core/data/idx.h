#pragma once

#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

// IDX (the MNIST family's format): a 4-byte magic 00 00 <type> <dimensions>,
// one big-endian uint32 per dimension, then the values, big-endian.
enum class IdxType : uint8_t {
    UInt8 = 0x08,
    Int8 = 0x09,
    Int16 = 0x0B,
    Int32 = 0x0C,
    Float32 = 0x0D,
    Float64 = 0x0E,
};

const char *idx_type_name(IdxType type); // "unsigned byte", "signed byte", "short", ...

struct IdxHeader {
    IdxType type = IdxType::UInt8;
    std::vector<int64_t> dims;
    size_t data_offset = 0; // bytes of header before the values
    size_t data_bytes = 0;  // exactly what follows the header
};

// Checks an uncompressed IDX file against its own header: known type, sizes
// that fit the bytes present, nothing missing or left over. expected_dims
// (3 for images, 1 for labels) is what the caller needs and is named in the
// message for a wrong magic number.
IdxHeader parse_idx_header(std::span<const uint8_t> bytes, const std::string &source,
                           int expected_dims);

struct IdxOptions {
    // Bytes as b / 255 (pixels in [0, 1]); otherwise the byte value itself.
    bool scale_to_unit = true;
    // Names for classes 0, 1, ...; empty: "0", "1", ...
    std::vector<std::string> class_names;
};

// Images (N × ... of any IDX type; bytes stay bytes, others become float) and
// labels (N integers ≥ 0; class_count is the largest + 1, or the number of
// class names). Either may be gzip-compressed (detected by content). An empty
// labels span gives an unlabelled dataset.
Dataset parse_idx(std::span<const uint8_t> images, const std::string &images_source,
                  std::span<const uint8_t> labels, const std::string &labels_source,
                  const IdxOptions &options = {});
// The same from files, reading each once; an empty labels_path means none.
Dataset load_idx(const std::string &images_path, const std::string &labels_path,
                 const IdxOptions &options = {});

// Where the Debian package dataset-fashion-mnist installs the four files.
inline constexpr const char *kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
const std::vector<std::string> &fashion_mnist_class_names();

struct TrainTest {
    Dataset train;
    Dataset test;
};

// The 60,000 training and 10,000 test images {28, 28} with their ten class
// names; options.class_names is ignored. A missing file's error says which
// package installs it.
TrainTest load_fashion_mnist(const std::string &dir = kFashionMnistDir,
                             const IdxOptions &options = {});

} // namespace neurite::data
