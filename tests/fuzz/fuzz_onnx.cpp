// libFuzzer target: an .onnx file through interchange::import_onnx: the
// protobuf parse, the opset and reference checks, the pattern search and
// every operator's importer. The registry is empty, so a file that maps
// completely stops at its first layer ("not registered"); seed the corpus
// with tests/data/onnx/*.onnx to start from real models.
#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/registry.h"
#include "neurite/interchange/onnx.h"

#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static neurite::Registry registry;
    static neurite::ComputeContext context;
    try {
        neurite::interchange::import_onnx(std::span(data, size), "f.onnx", registry, context, 1);
    } catch (const neurite::Error &) {
    }
    return 0;
}
