#pragma once

// neurite-run --export-onnx MODEL.nrt OUT.onnx [--opset N].
#include <cstdio>
#include <string>

namespace neurite {
class ComputeContext;
class Registry;
} // namespace neurite

namespace neurite::cli {

// Builds the checkpoint's model from the registry and writes it as ONNX
// (checked by onnx::checker). Returns the exit code; says what it wrote on
// out, or why not on err.
int export_onnx(const Registry &registry, ComputeContext &context, const std::string &model_path,
                const std::string &output_path, int opset, std::FILE *out, std::FILE *err);

} // namespace neurite::cli
