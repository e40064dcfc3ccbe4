// ONNX's convolution, pooling and normalisation operators as the layers of
// issue 13, by the parameter names that issue fixes and the conv and norm
// branches declare (weight/bias, running_mean/running_var) (see
// onnx_export_spatial.cpp for the way out). Parameters are offered under
// the names a layer may declare (PyTorch's first); the builder copies those
// the layer has and reports any it lacks.
#include "onnx_import_internal.h"

#include <cmath>

namespace neurite::interchange::detail {

namespace {

std::vector<double> pair_of(const std::vector<int64_t> &v, double fallback)
{
    if (v.size() == 2)
        return {static_cast<double>(v[0]), static_cast<double>(v[1])};
    return {fallback, fallback};
}

// Symmetric pads {top, left, bottom, right} as Neurite's {h, w} padding, or
// "same" for auto_pad SAME_UPPER.
std::optional<ParamValue> padding(const onnx::NodeProto &n)
{
    const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER")
        return ParamValue(std::string("same"));
    if (auto_pad == "VALID")
        return ParamValue(std::vector<double>{0, 0});
    if (auto_pad != "NOTSET")
        return std::nullopt;
    const std::vector<int64_t> pads = attr_ints(n, "pads");
    if (pads.empty())
        return ParamValue(std::vector<double>{0, 0});
    if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3])
        return std::nullopt;
    return ParamValue(std::vector<double>{static_cast<double>(pads[0]), static_cast<double>(pads[1])});
}

ImportResult add_node(ImportGraph &g, ImportedNode node, int rank)
{
    g.set_rank(node.output, rank);
    g.add(std::move(node));
    return std::nullopt;
}

void offer(ImportedNode &node, std::initializer_list<const char *> names, const Tensor &value)
{
    for (const char *name : names)
        node.params.emplace_back(name, value);
}

// Given only when it is not the default, so a layer without an eps
// parameter still imports the common case.
void set_eps(ImportedNode &node, const onnx::NodeProto &n)
{
    const double eps = attr_float(n, "epsilon", 1e-5f);
    if (std::fabs(eps - 1e-5) > 1e-9)
        node.config.emplace_back("eps", eps);
}

} // namespace

ImportResult import_conv(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const bool transposed = n.op_type() == "ConvTranspose";
    const Tensor *w = n.input_size() >= 2 ? g.constant(n.input(1)) : nullptr;
    const Tensor *b = n.input_size() >= 3 && !n.input(2).empty() ? g.constant(n.input(2)) : nullptr;
    if (!w || w->dim() != 4 || (n.input_size() >= 3 && !n.input(2).empty() && !b))
        return "only 2-D convolutions with constant weights have a Neurite form";
    const auto pad = padding(n);
    if (!pad)
        return "asymmetric padding or auto_pad " + attr_string(n, "auto_pad", "") + " has no Neurite form";
    const int64_t groups = attr_int(n, "group", 1);
    // Conv weights are {K, C/g, kh, kw}; ConvTranspose weights {C, K/g, kh, kw}.
    const int64_t in = transposed ? w->size(0) : w->size(1) * groups;
    const int64_t out = transposed ? w->size(1) * groups : w->size(0);
    ParamList config{{"inputs", static_cast<double>(in)},
                     {"outputs", static_cast<double>(out)},
                     {"kernel", std::vector<double>{static_cast<double>(w->size(2)), static_cast<double>(w->size(3))}},
                     {"stride", pair_of(attr_ints(n, "strides"), 1)},
                     {"padding", *pad},
                     {"dilation", pair_of(attr_ints(n, "dilations"), 1)},
                     {"groups", static_cast<double>(groups)},
                     {"bias", b != nullptr}};
    if (transposed)
        config.emplace_back("output_padding", pair_of(attr_ints(n, "output_padding"), 0));
    ImportedNode node = make_node(g, i, transposed ? "ConvTranspose2D" : "Conv2D", std::move(config));
    node.inputs = {n.input(0)};
    node.params.emplace_back("weight", w->clone());
    if (b)
        node.params.emplace_back("bias", b->clone());
    return add_node(g, std::move(node), 4);
}

ImportResult import_pool(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    if (attr_int(n, "ceil_mode", 0) != 0)
        return "ceil_mode = 1 has no Neurite form";
    const auto pad = padding(n);
    if (!pad)
        return "asymmetric padding has no Neurite form";
    const std::vector<int64_t> kernel = attr_ints(n, "kernel_shape");
    if (kernel.size() != 2)
        return "only 2-D pooling has a Neurite form";
    const bool max = n.op_type() == "MaxPool";
    if (max && n.output_size() > 1 && !n.output(1).empty())
        return "its indices output has no Neurite form";
    ImportedNode node = make_node(g, i, max ? "MaxPool2D" : "AvgPool2D",
                                  {{"kernel", pair_of(kernel, 1)},
                                   {"stride", pair_of(attr_ints(n, "strides"), 1)},
                                   {"padding", *pad}});
    if (!max) // ONNX's default leaves the padding out of the average; AvgPool2D's counts it
        node.config.emplace_back("count_include_pad", attr_int(n, "count_include_pad", 0) != 0);
    node.inputs = {n.input(0)};
    return add_node(g, std::move(node), 4);
}

// Neurite's GlobalAvgPool2D gives [N, C]; ONNX's [N, C, 1, 1] is usually
// flattened next, which then passes through (rank 2).
ImportResult import_global_avg_pool(ImportGraph &g, int i)
{
    ImportedNode node = make_node(g, i, "GlobalAvgPool2D");
    node.inputs = {g.node(i).input(0)};
    return add_node(g, std::move(node), 2);
}

ImportResult import_batch_norm(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const Tensor *scale = g.constant(n.input(1)), *shift = g.constant(n.input(2));
    const Tensor *mean = g.constant(n.input(3)), *var = g.constant(n.input(4));
    if (!scale || !shift || !mean || !var)
        return "its scale, bias, mean and variance must be constants of the file";
    if (n.output_size() > 1)
        return "training-mode outputs (running statistics) have no Neurite form";
    ImportedNode node = make_node(g, i, "BatchNorm", {{"features", static_cast<double>(scale->numel())}});
    set_eps(node, n);
    node.inputs = {n.input(0)};
    offer(node, {"weight", "gamma", "scale"}, *scale);
    offer(node, {"bias", "beta", "shift"}, *shift);
    offer(node, {"running_mean", "mean"}, *mean);
    offer(node, {"running_var", "running_variance", "var"}, *var);
    return add_node(g, std::move(node), g.rank(n.input(0)));
}

// Over the last dimensions, as many as the scale has.
ImportResult import_layer_norm(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const Tensor *scale = g.constant(n.input(1));
    const Tensor *shift = n.input_size() >= 3 && !n.input(2).empty() ? g.constant(n.input(2)) : nullptr;
    if (!scale)
        return "its scale must be a constant of the file";
    const int64_t axis = attr_int(n, "axis", -1);
    const int rank = g.rank(n.input(0));
    if (axis != -scale->dim() && !(rank > 0 && axis == rank - scale->dim()))
        return "axis " + std::to_string(axis) + " does not normalise the last " + std::to_string(scale->dim()) +
               " dimensions its scale covers";
    std::vector<double> shape(scale->shape().begin(), scale->shape().end());
    ImportedNode node = make_node(g, i, "LayerNorm", {{"shape", shape}});
    set_eps(node, n);
    node.inputs = {n.input(0)};
    offer(node, {"weight", "gamma", "scale"}, *scale);
    if (shift)
        offer(node, {"bias", "beta", "shift"}, *shift);
    return add_node(g, std::move(node), rank);
}

} // namespace neurite::interchange::detail
