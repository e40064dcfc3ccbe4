#pragma once

// Tensors as NumPy .npy files (format 1.0), and groups of named tensors as
// .npz archives (a zip of .npy files, as numpy.savez writes them, made with
// libzip). Neurite's tensors are float32: a file of another dtype is
// converted on reading, and writing another dtype checks that every value
// fits it (whole numbers in range for the integer types).
#include "neurite/core/data/npy.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace neurite::interchange {

using data::NpyType;

// "float32", "float64", "int64", "uint8"; anything else is an Error naming
// `where` and the choices.
NpyType npy_type_from_name(const std::string &name, const std::string &where);

// A whole .npy file holding t as `type`. `what` names the tensor in errors
// ("tensor:save_npy: element 3 is 2.5, not a whole number for int64").
std::vector<uint8_t> encode_npy(const Tensor &t, NpyType type, const std::string &what);
// The tensor of a .npy file, as float32; `stored` receives the file's dtype.
// A corrupt or truncated file, an unsupported dtype or Fortran order is an
// Error naming `source` and the byte or header field.
Tensor decode_npy(std::span<const uint8_t> bytes, const std::string &source, NpyType *stored = nullptr);

// Written durably (a temporary file renamed over the old one).
void save_npy(const std::string &path, const Tensor &t, NpyType type = NpyType::Float32);
Tensor load_npy(const std::string &path, NpyType *stored = nullptr);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// An .npz archive: one "<name>.npy" member per tensor, stored (as
// numpy.savez does), written durably.
std::vector<uint8_t> encode_npz(const NamedTensors &tensors, const std::string &what);
void save_npz(const std::string &path, const NamedTensors &tensors);
// Every "<name>.npy" member of an .npz, in archive order. Errors name the
// file and the member.
NamedTensors decode_npz(std::span<const uint8_t> bytes, const std::string &source);
NamedTensors load_npz(const std::string &path);

} // namespace neurite::interchange
