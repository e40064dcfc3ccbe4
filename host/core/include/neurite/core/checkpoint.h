#pragma once

#include "neurite/core/model.h"
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
struct CheckpointModel;

// One node as saved: a registry entry (by name and version, never by file)
// with its resolved config, parameters (buffers included) and extra state;
// or a nested model.
struct CheckpointNode {
    std::string entry;
    std::string version;
    std::string library; // the plugin library's own name, or "lua" for nn.define
    ParamList config;
    std::vector<std::pair<std::string, Tensor>> parameters;
    std::vector<uint8_t> extra_state;
    std::shared_ptr<CheckpointModel> model; // set for a nested model
    std::vector<Model::Ref> inputs;
};

// A model's graph as saved.
struct CheckpointModel {
    std::string type = "Sequential"; // "Sequential" or "Model"
    std::vector<Model::Input> inputs;
    std::vector<CheckpointNode> nodes;
    std::vector<Model::Ref> outputs;
};

// A model on disk, plus named sections for whatever a training loop keeps
// with it (optimizer state, epoch, metric history, RNG state). The format
// is described in docs/model-format.md. Version 2 stores the graph as a
// JSON manifest followed by the tensors' bytes; version 1 files (a chain of
// layers) still load. Files are written atomically and made durable.
class Checkpoint {
public:
    static constexpr uint32_t kFormatVersion = 2;
    static constexpr size_t kHeaderSize = 32;

    CheckpointModel model;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> sections;

    // Copies every node's config, parameter values and extra state.
    static Checkpoint capture(Model &model);

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
    // `bytes`: a truncated or corrupt input is an Error naming the byte
    // offset or the manifest's field.
    static Checkpoint parse(std::span<const uint8_t> bytes, const std::string &source);

    void write(const std::string &path) const;
    static Checkpoint read(const std::string &path);

    // A new model with this graph, parameters and extra state. An entry that
    // is not registered is an Error naming the node, the entry and where it
    // came from (a Lua definition that has not run, or a plugin library).
    std::shared_ptr<Model> build(const Registry &registry, ComputeContext &context,
                                 uint64_t seed, const std::string &source) const;
    // Copies parameters and extra state into a model of the same graph.
    // Everything is checked first: a mismatch leaves the model untouched.
    void restore(Model &model, const std::string &source) const;
};

namespace detail {
// The two payload encodings (checkpoint_format.cpp).
std::vector<uint8_t> encode_v2(const Checkpoint &c);
void decode_v2(std::span<const uint8_t> payload, size_t base, const std::string &source, Checkpoint &c);
void decode_v1(std::span<const uint8_t> payload, size_t base, const std::string &source, Checkpoint &c);
} // namespace detail

} // namespace neurite
