#include "export_onnx.h"

#include "command_line.h"

#include "neurite/core/checkpoint.h"
#include "neurite/interchange/onnx.h"

#include <exception>

namespace neurite::cli {

int export_onnx(const Registry &registry, ComputeContext &context, const std::string &model_path,
                const std::string &output_path, int opset, std::FILE *out, std::FILE *err)
{
    try {
        const Checkpoint checkpoint = Checkpoint::read(model_path);
        const std::shared_ptr<Model> model = checkpoint.build(registry, context, 1, model_path);
        model->eval();
        interchange::OnnxExportOptions options;
        options.opset = opset;
        interchange::export_onnx(*model, output_path, options);
        std::fprintf(out, "wrote %s (ONNX opset %d, %d node%s, %lld parameters; checked)\n", output_path.c_str(),
                     opset, model->node_count(), model->node_count() == 1 ? "" : "s",
                     static_cast<long long>(model->parameter_count()));
        return kExitOk;
    } catch (const std::exception &e) {
        std::fprintf(err, "neurite-run: --export-onnx: %s\n", e.what());
        return kExitError;
    }
}

} // namespace neurite::cli
