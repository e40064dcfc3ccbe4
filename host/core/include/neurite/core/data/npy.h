#pragma once

#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

// The element types a .npy may hold here.
enum class NpyType { Float32, Float64, UInt8, Int64 };

const char *npy_type_name(NpyType type); // "float32", "float64", "uint8", "int64"

struct NpyHeader {
    NpyType type = NpyType::Float32;
    std::vector<int64_t> shape; // () is a scalar: one element
    size_t data_offset = 0;
    size_t data_bytes = 0;
};

// Checks a NumPy .npy file (format 1.0, 2.0 or 3.0): little-endian
// float32/float64/uint8/int64 in C order, data exactly as long as the shape says.
NpyHeader parse_npy_header(std::span<const uint8_t> bytes, const std::string &source);

struct NpyOptions {
    TargetMode target = TargetMode::Auto;
    // uint8 features as b / 255; otherwise the byte value itself.
    bool scale_to_unit = false;
    std::vector<std::string> class_names; // empty: "0", "1", ...
};

// X is {N, ...} (a 1-D X is N samples of one feature); uint8 stays bytes,
// the rest becomes float. y is {N} or {N, k}; an empty y span means no target.
Dataset parse_npy(std::span<const uint8_t> x, const std::string &x_source,
                  std::span<const uint8_t> y, const std::string &y_source,
                  const NpyOptions &options = {});
// The same from files; an empty y_path means no target.
Dataset load_npy(const std::string &x_path, const std::string &y_path,
                 const NpyOptions &options = {});

} // namespace neurite::data
