#pragma once

#include "neurite/core/params.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace neurite {

class ComputeContext;
class Registry;
class Sequential;

// One layer as saved: enough to build it again from the registry (entry name
// and resolved config) and to restore it (parameters and extra state).
struct CheckpointLayer {
    std::string entry;
    std::string origin; // plugin file or "lua": says where a missing entry came from
    ParamList config;
    std::vector<std::pair<std::string, Tensor>> parameters;
    std::vector<uint8_t> extra_state;
};

// A model on disk, plus named sections for whatever a training loop keeps
// with it (optimizer state, epoch, metric history, RNG state).
//
// File layout, little-endian:
//   0  "NRTCKPT\0"     8 bytes signature
//   8  u32             format version (kFormatVersion)
//   12 u32             reserved, 0
//   16 u64             payload size in bytes
//   24 u32             CRC-32 of the payload
//   28 u32             reserved, 0
//   32 payload: u32 layer count, each layer {str entry, str origin, u32 n,
//      n config values {str name, u8 kind, value}, u32 m, m parameters
//      {str name, u32 ndims, i64 dims[ndims], f32 data[]}, blob extra state},
//      u32 section count, each {str name, blob bytes}
//   str = u32 length + bytes; blob = u64 length + bytes.
// Files are written atomically (QSaveFile): a crash mid-write leaves the old file.
class Checkpoint {
public:
    static constexpr uint32_t kFormatVersion = 1;
    static constexpr size_t kHeaderSize = 32;

    std::vector<CheckpointLayer> layers;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> sections;

    // Copies every layer's config, parameter values and extra state.
    static Checkpoint capture(const Sequential &model);

    void set_section(const std::string &name, std::vector<uint8_t> bytes);
    // nullptr when the checkpoint has no such section.
    const std::vector<uint8_t> *section(const std::string &name) const;

    // A list of tensors as the bytes of a section (u32 count, then each as
    // parameters are stored), and back. Decoding never reads outside
    // `bytes`; `what` names the section in errors.
    static std::vector<uint8_t> encode_tensors(const std::vector<Tensor> &tensors);
    static std::vector<Tensor> decode_tensors(std::span<const uint8_t> bytes, const std::string &source,
                                              const std::string &what);

    std::vector<uint8_t> serialize() const;
    // `source` names the bytes in errors (a file path). Never reads outside
    // `bytes`: a truncated or corrupt input is an Error naming the byte offset.
    static Checkpoint parse(std::span<const uint8_t> bytes, const std::string &source);

    void write(const std::string &path) const;
    static Checkpoint read(const std::string &path);

    // A new model with these layers, parameters and extra state. A layer
    // whose entry is not registered is an Error that names it and where it
    // came from (a Lua definition that has not run, or a plugin not loaded).
    std::unique_ptr<Sequential> build(const Registry &registry, ComputeContext &context,
                                      uint64_t seed, const std::string &source) const;
    // Copies parameters and extra state into a model of the same architecture.
    void restore(Sequential &model, const std::string &source) const;
};

} // namespace neurite
