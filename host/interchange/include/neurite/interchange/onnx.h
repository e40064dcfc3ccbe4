#pragma once

// ONNX export and import through Debian's libonnx (the ONNX protobuf
// classes and onnx::checker), never a hand-written protobuf encoder.
//
// Export writes one ONNX node (or a few, for composite functions such as
// GELU) per Neurite node; the batch dimension is a symbolic "batch". The
// mapping from registry entries to ONNX operators is one table in
// onnx_export_ops.cpp; an entry without a mapping is an Error naming the
// node and that table. Import recognises the same operators (and the
// patterns PyTorch writes for GELU and SiLU) and builds a Neurite graph of
// registry entries, so the result trains like any model.
#include "neurite/core/model.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace neurite {
class ComputeContext;
class Registry;
} // namespace neurite

namespace neurite::interchange {

inline constexpr int kOnnxMinOpset = 13;
inline constexpr int kOnnxMaxOpset = 17; // the newest ONNX 1.12 knows

struct OnnxExportOptions {
    int opset = 17;
    // One sample's shape per model input (without the batch dimension),
    // for inputs that nn.Input did not declare and whose first layer does
    // not tell (a Dense tells: {inputs}).
    std::vector<std::optional<Shape>> input_shapes;
    std::string graph_name = "neurite";
};

// The model as a serialized, checked ONNX ModelProto. Errors name the node
// ("node 3 (Foo)") and what is missing.
std::vector<uint8_t> export_onnx(Model &model, const OnnxExportOptions &options = {});
// The same, written durably to path.
void export_onnx(Model &model, const std::string &path, const OnnxExportOptions &options = {});

// Runs onnx::checker::check_model over serialized bytes; an Error with the
// checker's message when the model is invalid.
void check_onnx(std::span<const uint8_t> bytes, const std::string &source);

// Builds a Neurite model from an ONNX file's bytes. Unsupported operators
// are listed together, each with its node's name; a truncated or corrupt
// file, an opset newer than kOnnxMaxOpset or a shape Neurite cannot
// resolve is an Error naming `source` and the node.
std::shared_ptr<Model> import_onnx(std::span<const uint8_t> bytes, const std::string &source,
                                   const Registry &registry, ComputeContext &context, uint64_t seed);
std::shared_ptr<Model> import_onnx(const std::string &path, const Registry &registry, ComputeContext &context,
                                   uint64_t seed);

} // namespace neurite::interchange
