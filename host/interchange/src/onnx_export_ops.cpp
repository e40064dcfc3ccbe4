// The ONNX form of every built-in registry entry: one function per entry,
// listed in kExporters at the end. To export a new layer, write its
// function (the parameters by name, the ONNX nodes it becomes) and add a
// line to the table; onnx_import_ops.cpp holds the way back.
//
// Composite functions use the forms PyTorch writes, so the importer reads
// Neurite's files and PyTorch's with the same patterns:
//   GELU (exact)  0.5 * (x * (1 + Erf(x / sqrt 2)))
//   GELU (tanh)   0.5 * (x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))))
//   Swish         x * Sigmoid(beta * x)    (beta = 1: x * Sigmoid(x), SiLU)
//   BinaryStep    Cast<float>(x >= 0)
//   Sign          Where(x >= 0, 1, -1)     (ONNX's Sign gives 0 at 0)
#include "onnx_export_internal.h"

#include <cmath>
#include <numbers>
#include <map>

namespace neurite::interchange::detail {

namespace {

using Names = std::vector<std::string>;

std::string unary(ExportNode &n, const char *op, const std::string &x, const std::string &out)
{
    n.graph.node(op, {x}, {out});
    return out;
}

std::string gelu(ExportNode &n, const std::string &x, bool tanh_form, const std::string &out)
{
    GraphWriter &g = n.graph;
    const std::string one = g.scalar(out + "/one", 1.0f), half = g.scalar(out + "/half", 0.5f);
    std::string phi2; // 1 + erf(...) or 1 + tanh(...)
    if (!tanh_form) {
        const std::string scaled = n.temp("div");
        g.node("Div", {x, g.scalar(out + "/sqrt2", static_cast<float>(std::sqrt(2.0)))}, {scaled});
        phi2 = n.temp("erf");
        g.node("Erf", {scaled}, {phi2});
    } else {
        const std::string x2 = n.temp("x2"), x3 = n.temp("x3"), kx3 = n.temp("kx3"), sum = n.temp("sum"),
                          inner = n.temp("inner");
        g.node("Mul", {x, x}, {x2});
        g.node("Mul", {x, x2}, {x3});
        g.node("Mul", {g.scalar(out + "/kappa", 0.044715f), x3}, {kx3});
        g.node("Add", {x, kx3}, {sum});
        g.node("Mul", {g.scalar(out + "/beta", static_cast<float>(std::sqrt(2.0 / std::numbers::pi))), sum}, {inner});
        phi2 = n.temp("tanh");
        g.node("Tanh", {inner}, {phi2});
    }
    const std::string plus = n.temp("plus_one"), times = n.temp("times_x");
    g.node("Add", tanh_form ? Names{one, phi2} : Names{phi2, one}, {plus});
    g.node("Mul", {x, plus}, {times});
    g.node("Mul", tanh_form ? Names{half, times} : Names{times, half}, {out});
    return out;
}

std::string swish(ExportNode &n, const std::string &x, double beta, const std::string &out)
{
    std::string scaled = x;
    if (beta != 1.0) {
        scaled = n.temp("beta_x");
        n.graph.node("Mul", {x, n.graph.scalar(out + "/beta", static_cast<float>(beta))}, {scaled});
    }
    const std::string s = n.temp("sigmoid");
    n.graph.node("Sigmoid", {scaled}, {s});
    n.graph.node("Mul", {x, s}, {out});
    return out;
}

} // namespace

// The activation that Dense and Conv2D fuse, by its choice name.
std::string fused_activation(ExportNode &n, const std::string &x, const std::string &out)
{
    const std::string act = n.config.text("activation", "identity");
    if (act == "identity")
        return unary(n, "Identity", x, out);
    if (act == "relu")
        return unary(n, "Relu", x, out);
    if (act == "sigmoid")
        return unary(n, "Sigmoid", x, out);
    if (act == "tanh")
        return unary(n, "Tanh", x, out);
    if (act == "softplus")
        return unary(n, "Softplus", x, out);
    if (act == "elu") {
        set_attr(n.graph.node("Elu", {x}, {out}), "alpha", 1.0f);
        return out;
    }
    if (act == "gelu")
        return gelu(n, x, n.config.text("approximate", "none") == "tanh", out);
    if (act == "swish")
        return swish(n, x, 1.0, out);
    n.fail("its fused activation '" + act + "' has no ONNX form here; add it to fused_activation in "
           "host/interchange/src/onnx_export_ops.cpp");
}

namespace {

void export_dense(ExportNode &n)
{
    std::string x = n.inputs[0];
    if (n.input_ranks[0] != 2) { // Dense reads the sample dimensions as one
        const std::string flat = n.temp("flatten");
        set_attr(n.graph.node("Flatten", {x}, {flat}), "axis", int64_t{1});
        x = flat;
    }
    Names in{x, n.param("weight")};
    if (n.has_param("bias"))
        in.push_back(n.param("bias"));
    const bool fused = n.config.text("activation", "identity") != "identity";
    const std::string gemm = fused ? n.temp("gemm") : n.outputs[0];
    set_attr(n.graph.node("Gemm", in, {gemm}), "transB", int64_t{1});
    if (fused)
        fused_activation(n, gemm, n.outputs[0]);
    n.output_ranks = {2};
}

template <const char *Op> void export_unary(ExportNode &n) { unary(n, Op, n.inputs[0], n.outputs[0]); }
constexpr char kRelu[] = "Relu", kSigmoid[] = "Sigmoid", kTanh[] = "Tanh", kAtan[] = "Atan",
               kSoftplus[] = "Softplus", kIdentity[] = "Identity";

void export_leaky_relu(ExportNode &n)
{
    set_attr(n.graph.node("LeakyRelu", {n.inputs[0]}, {n.outputs[0]}), "alpha",
             static_cast<float>(n.config.number("negative_slope", 0.01)));
}

void export_elu(ExportNode &n)
{
    set_attr(n.graph.node("Elu", {n.inputs[0]}, {n.outputs[0]}), "alpha",
             static_cast<float>(n.config.number("alpha", 1.0)));
}

// Neurite's alpha is one value or one per feature of the last dimension:
// a slope of shape [C] broadcasts the same way in ONNX.
void export_prelu(ExportNode &n) { n.graph.node("PRelu", {n.inputs[0], n.param("alpha")}, {n.outputs[0]}); }

void export_softmax(ExportNode &n)
{
    set_attr(n.graph.node(n.node.entry == "Softmax" ? "Softmax" : "LogSoftmax", {n.inputs[0]}, {n.outputs[0]}),
             "axis", int64_t{-1});
}

void export_gelu(ExportNode &n) { gelu(n, n.inputs[0], n.config.text("approximate", "none") == "tanh", n.outputs[0]); }
void export_swish(ExportNode &n) { swish(n, n.inputs[0], n.config.number("beta", 1.0), n.outputs[0]); }

void export_step(ExportNode &n)
{
    GraphWriter &g = n.graph;
    const std::string ge = n.temp("ge");
    g.node("GreaterOrEqual", {n.inputs[0], g.scalar(n.outputs[0] + "/zero", 0.0f)}, {ge});
    if (n.node.entry == "BinaryStep") {
        set_attr(g.node("Cast", {ge}, {n.outputs[0]}), "to", int64_t{onnx::TensorProto::FLOAT});
        return;
    }
    g.node("Where", {ge, g.scalar(n.outputs[0] + "/plus", 1.0f), g.scalar(n.outputs[0] + "/minus", -1.0f)},
           {n.outputs[0]});
}

// Add and Multiply take two or more inputs: ONNX's Add and Mul take two, Sum any number.
void export_merge(ExportNode &n)
{
    const bool add = n.node.entry == "Add";
    if (add && n.inputs.size() > 2) {
        n.graph.node("Sum", n.inputs, {n.outputs[0]});
        return;
    }
    std::string acc = n.inputs[0];
    for (size_t i = 1; i < n.inputs.size(); ++i) {
        const std::string out = i + 1 == n.inputs.size() ? n.outputs[0] : n.temp("partial");
        n.graph.node(add ? "Add" : "Mul", {acc, n.inputs[i]}, {out});
        acc = out;
    }
    if (n.inputs.size() == 1)
        unary(n, "Identity", acc, n.outputs[0]);
}

// Neurite's axis counts from 1 with the batch as axis 1, or from the end
// when negative; ONNX's counts from 0.
void export_concat(ExportNode &n)
{
    const auto axis = static_cast<int64_t>(n.config.number("axis", -1));
    set_attr(n.graph.node("Concat", n.inputs, {n.outputs[0]}), "axis", axis > 0 ? axis - 1 : axis);
}

struct Mapping {
    const char *entry;
    Exporter exporter;
};

// Every registry entry that has an ONNX form.
const Mapping kExporters[] = {
    {"Dense", export_dense},
    {"Identity", export_unary<kIdentity>},
    {"ReLU", export_unary<kRelu>},
    {"Sigmoid", export_unary<kSigmoid>},
    {"Tanh", export_unary<kTanh>},
    {"ArcTan", export_unary<kAtan>},
    {"SoftPlus", export_unary<kSoftplus>},
    {"LeakyReLU", export_leaky_relu},
    {"ELU", export_elu},
    {"PReLU", export_prelu},
    {"Softmax", export_softmax},
    {"LogSoftmax", export_softmax},
    {"GELU", export_gelu},
    {"Swish", export_swish},
    {"BinaryStep", export_step},
    {"Sign", export_step},
    {"Add", export_merge},
    {"Multiply", export_merge},
    {"Concat", export_concat},
    // The layers of issue 13 (onnx_export_spatial.cpp).
    {"Conv2D", export_conv},
    {"ConvTranspose2D", export_conv},
    {"MaxPool2D", export_pool},
    {"AvgPool2D", export_pool},
    {"GlobalAvgPool2D", export_global_avg_pool},
    {"BatchNorm", export_batch_norm},
    {"LayerNorm", export_layer_norm},
    {"Dropout", export_unary<kIdentity>}, // evaluation: the identity
    {"Flatten", export_flatten},
    {"Reshape", export_reshape},
};

} // namespace

Exporter find_exporter(const std::string &entry)
{
    for (const Mapping &m : kExporters)
        if (entry == m.entry)
            return m.exporter;
    return nullptr;
}

std::string exported_entries()
{
    std::string s;
    for (const Mapping &m : kExporters)
        s += (s.empty() ? "" : ", ") + std::string(m.entry);
    return s;
}

} // namespace neurite::interchange::detail
