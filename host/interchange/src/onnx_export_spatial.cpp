// The ONNX form of the layers of issue 13 (convolutions, pooling,
// normalisation, shapes), from the parameter names that issue fixes:
// Conv2D{inputs, outputs, kernel, stride, padding, dilation, groups, bias,
// activation}, ConvTranspose2D{... output_padding}, MaxPool2D and
// AvgPool2D{kernel, stride, padding}, GlobalAvgPool2D, BatchNorm{features,
// momentum, eps}, LayerNorm{shape}, Flatten, Reshape{shape}. Weights are in
// PyTorch's layouts ({K, C/g, kh, kw} for Conv2D), which ONNX shares.
#include "onnx_export_internal.h"

namespace neurite::interchange::detail {

namespace {

std::vector<int64_t> hw(std::array<int64_t, 2> p) { return {p[0], p[1]}; }

// Explicit pads [top, left, bottom, right], or auto_pad for "same".
void set_padding(ExportNode &n, onnx::NodeProto &node)
{
    std::string word;
    const auto pad = n.config.pair("padding", {0, 0}, &word);
    if (word == "same")
        set_attr(node, "auto_pad", std::string("SAME_UPPER")); // extra row/column at the bottom/right
    else if (word == "valid" || word.empty())
        set_attr(node, "pads", word == "valid" ? std::vector<int64_t>{0, 0, 0, 0}
                                               : std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]});
    else
        n.fail("padding '" + word + "' has no ONNX form here");
}

} // namespace

void export_conv(ExportNode &n)
{
    const bool transposed = n.node.entry == "ConvTranspose2D";
    std::vector<std::string> in{n.inputs[0], n.param("weight")};
    if (n.has_param("bias"))
        in.push_back(n.param("bias"));
    const bool fused = n.config.text("activation", "identity") != "identity";
    const std::string conv = fused ? n.temp("conv") : n.outputs[0];
    onnx::NodeProto &node = n.graph.node(transposed ? "ConvTranspose" : "Conv", in, {conv});
    set_attr(node, "kernel_shape", hw(n.config.pair("kernel", {3, 3})));
    set_attr(node, "strides", hw(n.config.pair("stride", {1, 1})));
    set_attr(node, "dilations", hw(n.config.pair("dilation", {1, 1})));
    set_attr(node, "group", static_cast<int64_t>(n.config.number("groups", 1)));
    set_padding(n, node);
    if (transposed)
        set_attr(node, "output_padding", hw(n.config.pair("output_padding", {0, 0})));
    if (fused)
        fused_activation(n, conv, n.outputs[0]);
    n.output_ranks = {4};
}

void export_pool(ExportNode &n)
{
    const bool max = n.node.entry == "MaxPool2D";
    const auto kernel = n.config.pair("kernel", {2, 2});
    std::string stride_word; // "kernel": the window size
    auto stride = n.config.pair("stride", kernel, &stride_word);
    if (!stride_word.empty() || stride[0] <= 0 || stride[1] <= 0)
        stride = kernel;
    onnx::NodeProto &node = n.graph.node(max ? "MaxPool" : "AveragePool", {n.inputs[0]}, {n.outputs[0]});
    set_attr(node, "kernel_shape", hw(kernel));
    set_attr(node, "strides", hw(stride));
    set_padding(n, node);
    if (!max) // AvgPool2D counts the padding's zeros by default, as PyTorch; ONNX's default does not
        set_attr(node, "count_include_pad", int64_t{n.config.boolean("count_include_pad", true)});
    n.output_ranks = {4};
}

// [N, C, H, W] -> [N, C], the mean of each map.
void export_global_avg_pool(ExportNode &n)
{
    const std::string pooled = n.temp("pool");
    n.graph.node("GlobalAveragePool", {n.inputs[0]}, {pooled});
    set_attr(n.graph.node("Flatten", {pooled}, {n.outputs[0]}), "axis", int64_t{1});
    n.output_ranks = {2};
}

// Evaluation form: the running statistics.
void export_batch_norm(ExportNode &n)
{
    onnx::NodeProto &node = n.graph.node(
        "BatchNormalization",
        {n.inputs[0], n.param_any({"weight", "gamma", "scale"}), n.param_any({"bias", "beta", "shift"}),
         n.param_any({"running_mean", "mean"}), n.param_any({"running_var", "running_variance", "var"})},
        {n.outputs[0]});
    set_attr(node, "epsilon", static_cast<float>(n.config.number("eps", 1e-5)));
}

// Normalises over the last len(shape) dimensions; LayerNormalization from
// opset 17, the same arithmetic in plain operators before it.
void export_layer_norm(ExportNode &n)
{
    const auto axes = static_cast<int64_t>(n.config.list("shape").size());
    const auto eps = static_cast<float>(n.config.number("eps", 1e-5));
    const std::string scale = n.param_any({"weight", "gamma", "scale"}, false);
    const std::string shift = n.param_any({"bias", "beta", "shift"}, false);
    GraphWriter &g = n.graph;
    if (g.opset() >= 17 && !scale.empty()) {
        std::vector<std::string> in{n.inputs[0], scale};
        if (!shift.empty())
            in.push_back(shift);
        onnx::NodeProto &node = g.node("LayerNormalization", in, {n.outputs[0]});
        set_attr(node, "axis", -axes);
        set_attr(node, "epsilon", eps);
        return;
    }
    std::vector<int64_t> reduce;
    for (int64_t a = -axes; a < 0; ++a)
        reduce.push_back(a);
    const std::string mean = n.temp("mean"), centred = n.temp("centred"), sq = n.temp("square"),
                      var = n.temp("var"), var_eps = n.temp("var_eps"), sd = n.temp("std");
    set_attr(g.node("ReduceMean", {n.inputs[0]}, {mean}), "axes", reduce);
    g.node("Sub", {n.inputs[0], mean}, {centred});
    g.node("Mul", {centred, centred}, {sq});
    set_attr(g.node("ReduceMean", {sq}, {var}), "axes", reduce);
    g.node("Add", {var, g.scalar(n.outputs[0] + "/eps", eps)}, {var_eps});
    g.node("Sqrt", {var_eps}, {sd});
    std::string y = scale.empty() && shift.empty() ? n.outputs[0] : n.temp("normalised");
    g.node("Div", {centred, sd}, {y});
    if (!scale.empty()) {
        const std::string out = shift.empty() ? n.outputs[0] : n.temp("scaled");
        g.node("Mul", {y, scale}, {out});
        y = out;
    }
    if (!shift.empty())
        g.node("Add", {y, shift}, {n.outputs[0]});
}

void export_flatten(ExportNode &n)
{
    set_attr(n.graph.node("Flatten", {n.inputs[0]}, {n.outputs[0]}), "axis", int64_t{1});
    n.output_ranks = {2};
}

// shape is one sample's: the batch dimension is copied (0 in ONNX's Reshape).
void export_reshape(ExportNode &n)
{
    std::vector<int64_t> shape{0};
    for (double d : n.config.list("shape"))
        shape.push_back(static_cast<int64_t>(d));
    n.graph.node("Reshape", {n.inputs[0], n.graph.int64s(n.outputs[0] + "/shape", shape)}, {n.outputs[0]});
    n.output_ranks = {static_cast<int>(shape.size())};
}

} // namespace neurite::interchange::detail
