// What each ONNX operator becomes in Neurite: the patterns that span
// several nodes (find_patterns) and the table of single operators
// (kImporters). To import another operator, write its function (reading
// attributes and constant inputs, naming the registry entry, its config and
// its parameters by the layer's own names) and add a line to the table.
#include "onnx_import_internal.h"

#include "neurite/core/error.h"

#include <cmath>
#include <numbers>
#include <optional>

namespace neurite::interchange::detail {

namespace {

using Result = ImportResult;
const Result kImported = std::nullopt;

// Node i is `op` of the default domain, with an input and an output to read.
bool is_op(const ImportGraph &g, int i, const char *op)
{
    return i >= 0 && g.node(i).op_type() == op && g.node(i).domain().empty() && g.node(i).input_size() >= 1 &&
           g.node(i).output_size() >= 1;
}

// The other input of a two-input node, given one; "" when v is neither.
std::string other_input(const onnx::NodeProto &n, const std::string &v)
{
    if (n.input_size() != 2)
        return {};
    if (n.input(0) == v)
        return n.input(1);
    return n.input(1) == v ? n.input(0) : std::string();
}

// The input of a two-input node that is not the scalar constant `c`.
std::string input_beside(const ImportGraph &g, const onnx::NodeProto &n, double c)
{
    if (n.input_size() != 2)
        return {};
    if (g.is_scalar(n.input(1), c))
        return n.input(0);
    return g.is_scalar(n.input(0), c) ? n.input(1) : std::string();
}

void record(ImportGraph &g, ImportedNode node, std::vector<int> covered)
{
    const int last = covered.back();
    for (int c : covered)
        g.covered.insert(c);
    g.fused[last] = std::move(node);
}

// Both GELU forms end 0.5 * (x * (1 + phi)): the Add, Mul and Mul after the
// node computing phi, or nothing when they are not there.
std::vector<int> gelu_tail(const ImportGraph &g, int phi, const std::string &x)
{
    const int plus = g.sole_reader(g.node(phi).output(0));
    if (!is_op(g, plus, "Add") || input_beside(g, g.node(plus), 1.0) != g.node(phi).output(0))
        return {};
    const int times = g.sole_reader(g.node(plus).output(0));
    if (!is_op(g, times, "Mul") || other_input(g.node(times), g.node(plus).output(0)) != x)
        return {};
    const int half = g.sole_reader(g.node(times).output(0));
    if (!is_op(g, half, "Mul") || input_beside(g, g.node(half), 0.5) != g.node(times).output(0))
        return {};
    return {plus, times, half};
}

// 0.5 * (x * (1 + Erf(x / sqrt 2)))   (PyTorch's exact GELU), at the Erf.
void match_gelu_erf(ImportGraph &g, int erf)
{
    const int div = g.writer(g.node(erf).input(0));
    if (!is_op(g, div, "Div") || g.node(div).input_size() != 2 ||
        !g.is_scalar(g.node(div).input(1), std::sqrt(2.0)) ||
        g.sole_reader(g.node(div).output(0)) != erf)
        return;
    const std::string x = g.node(div).input(0);
    const std::vector<int> tail = gelu_tail(g, erf, x);
    if (tail.empty())
        return;
    ImportedNode node = make_node(g, tail.back(), "GELU", {{"approximate", std::string("none")}});
    node.inputs = {x};
    record(g, std::move(node), {div, erf, tail[0], tail[1], tail[2]});
}

// 0.5 * (x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * (x * (x * x))))))   (PyTorch's tanh GELU), at the Tanh.
void match_gelu_tanh(ImportGraph &g, int tanh)
{
    const int inner = g.writer(g.node(tanh).input(0));
    if (!is_op(g, inner, "Mul"))
        return;
    const int sum = g.writer(input_beside(g, g.node(inner), std::sqrt(2.0 / std::numbers::pi)));
    if (!is_op(g, sum, "Add"))
        return;
    for (int k = 0; k < 2; ++k) { // x + kx3, in either order
        const std::string x = g.node(sum).input(k);
        const int kx3 = g.writer(g.node(sum).input(1 - k));
        if (!is_op(g, kx3, "Mul"))
            continue;
        const int x3 = g.writer(input_beside(g, g.node(kx3), 0.044715));
        if (!is_op(g, x3, "Mul"))
            continue;
        const int x2 = g.writer(other_input(g.node(x3), x));
        if (!is_op(g, x2, "Mul") || g.node(x2).input_size() != 2 || g.node(x2).input(0) != x ||
            g.node(x2).input(1) != x)
            continue;
        const auto feeds = [&g](int a, int b) { return g.sole_reader(g.node(a).output(0)) == b; };
        if (!feeds(x2, x3) || !feeds(x3, kx3) || !feeds(kx3, sum) || !feeds(sum, inner) || !feeds(inner, tanh))
            return;
        const std::vector<int> tail = gelu_tail(g, tanh, x);
        if (tail.empty())
            return;
        ImportedNode node = make_node(g, tail.back(), "GELU", {{"approximate", std::string("tanh")}});
        node.inputs = {x};
        record(g, std::move(node), {x2, x3, kx3, sum, inner, tanh, tail[0], tail[1], tail[2]});
        return;
    }
}

// x * Sigmoid(x) (SiLU) or x * Sigmoid(beta * x), at the Sigmoid.
void match_swish(ImportGraph &g, int sigmoid)
{
    const std::string in = g.node(sigmoid).input(0);
    const int mul = g.sole_reader(g.node(sigmoid).output(0));
    if (!is_op(g, mul, "Mul"))
        return;
    const std::string x = other_input(g.node(mul), g.node(sigmoid).output(0));
    if (x.empty())
        return;
    double beta = 1.0;
    std::vector<int> nodes{sigmoid, mul};
    if (in != x) {
        const int scale = g.writer(in);
        if (!is_op(g, scale, "Mul") || g.sole_reader(in) != sigmoid || other_input(g.node(scale), x).empty())
            return;
        const Tensor *b = g.constant(other_input(g.node(scale), x));
        if (!b || b->numel() != 1)
            return;
        beta = b->data()[0];
        nodes.insert(nodes.begin(), scale);
    }
    ImportedNode node = make_node(g, mul, "Swish", {{"beta", beta}});
    node.inputs = {x};
    record(g, std::move(node), nodes);
}

// Cast<float>(x >= 0) is BinaryStep; Where(x >= 0, 1, -1) is Sign.
void match_step(ImportGraph &g, int ge)
{
    const onnx::NodeProto &n = g.node(ge);
    if (n.input_size() != 2 || !g.is_scalar(n.input(1), 0.0))
        return;
    const int next = g.sole_reader(n.output(0));
    if (is_op(g, next, "Cast") && attr_int(g.node(next), "to", 0) == onnx::TensorProto::FLOAT) {
        ImportedNode node = make_node(g, next, "BinaryStep");
        node.inputs = {n.input(0)};
        record(g, std::move(node), {ge, next});
    } else if (is_op(g, next, "Where") && g.node(next).input_size() == 3 && g.node(next).input(0) == n.output(0) &&
               g.is_scalar(g.node(next).input(1), 1.0) && g.is_scalar(g.node(next).input(2), -1.0)) {
        ImportedNode node = make_node(g, next, "Sign");
        node.inputs = {n.input(0)};
        record(g, std::move(node), {ge, next});
    }
}

// Dense from a weight {in, out} (MatMul's) or {out, in} (Gemm's transB).
ImportedNode dense(const ImportGraph &g, int i, const std::string &x, Tensor weight, bool transposed,
                   const Tensor *bias)
{
    if (!transposed)
        weight = weight.transpose(0, 1).contiguous();
    const int64_t out = weight.size(0), in = weight.size(1);
    ImportedNode node = make_node(g, i, "Dense",
                             {{"inputs", static_cast<double>(in)}, {"outputs", static_cast<double>(out)},
                              {"bias", bias != nullptr}});
    node.inputs = {x};
    node.params.emplace_back("weight", weight);
    if (bias)
        node.params.emplace_back("bias", bias->reshape(Shape{out}).clone());
    return node;
}

// MatMul(x, W) followed by Add(., b) with constant W {in, out} and b {out}: one Dense.
void match_matmul_add(ImportGraph &g, int mm)
{
    const onnx::NodeProto &n = g.node(mm);
    const Tensor *w = n.input_size() == 2 ? g.constant(n.input(1)) : nullptr;
    if (!w || w->dim() != 2)
        return;
    const int add = g.sole_reader(n.output(0));
    if (!is_op(g, add, "Add"))
        return;
    const Tensor *b = g.constant(other_input(g.node(add), n.output(0)));
    if (!b || b->numel() != w->size(1))
        return;
    record(g, dense(g, add, n.input(0), *w, false, b), {mm, add});
}

} // namespace

ImportedNode make_node(const ImportGraph &g, int i, std::string entry, ParamList config)
{
    ImportedNode out;
    out.entry = std::move(entry);
    out.config = std::move(config);
    out.output = g.node(i).output(0);
    out.origin = g.describe(i);
    return out;
}

void find_patterns(ImportGraph &g)
{
    for (int i = 0; i < g.proto().node_size(); ++i) {
        if (g.covered.count(i))
            continue;
        if (is_op(g, i, "Erf"))
            match_gelu_erf(g, i);
        else if (is_op(g, i, "Tanh"))
            match_gelu_tanh(g, i);
        else if (is_op(g, i, "Sigmoid"))
            match_swish(g, i);
        else if (is_op(g, i, "GreaterOrEqual"))
            match_step(g, i);
        else if (is_op(g, i, "MatMul"))
            match_matmul_add(g, i);
    }
    // A pattern's inner nodes must not be read from outside it; the checks
    // above use sole readers, so only the first nodes' inputs leave it.
}


namespace {

using Importer = Result (*)(ImportGraph &g, int i);

// One input, no parameters: the entry of the same function.
template <const char *Entry> Result import_unary(ImportGraph &g, int i)
{
    ImportedNode node = make_node(g, i, Entry);
    node.inputs = {g.node(i).input(0)};
    g.set_rank(node.output, g.rank(node.inputs[0]));
    g.add(std::move(node));
    return kImported;
}
constexpr char kReLU[] = "ReLU", kSigmoid[] = "Sigmoid", kTanh[] = "Tanh", kArcTan[] = "ArcTan",
               kSoftPlus[] = "SoftPlus";

Result add_node(ImportGraph &g, ImportedNode node, int rank)
{
    g.set_rank(node.output, rank);
    g.add(std::move(node));
    return kImported;
}

Result import_gemm(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const Tensor *b = n.input_size() >= 2 ? g.constant(n.input(1)) : nullptr;
    const Tensor *c = n.input_size() >= 3 && !n.input(2).empty() ? g.constant(n.input(2)) : nullptr;
    if (!b || b->dim() != 2 || (n.input_size() >= 3 && !n.input(2).empty() && !c))
        return "its weight and bias must be constants of the file (initializers)";
    if (attr_int(n, "transA", 0) != 0)
        return "transA = 1 (a transposed input) has no Neurite form";
    const float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
    Tensor weight = b->clone();
    for (float &v : weight)
        v *= alpha;
    const bool transposed = attr_int(n, "transB", 0) != 0;
    const int64_t outputs = transposed ? weight.size(0) : weight.size(1);
    std::optional<Tensor> bias;
    if (c) {
        if (c->numel() != outputs && c->numel() != 1)
            return "its bias of shape " + c->shape().to_string() + " is not one value per output";
        bias = Tensor::full(Shape{outputs}, 0.0f);
        for (int64_t k = 0; k < outputs; ++k)
            (*bias)[k] = beta * c->data()[c->numel() == 1 ? 0 : k];
    }
    return add_node(g, dense(g, i, n.input(0), weight, transposed, bias ? &*bias : nullptr), 2);
}

Result import_matmul(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const Tensor *w = g.constant(n.input(1));
    if (!w || w->dim() != 2)
        return "only x times a constant 2-D weight has a Neurite form (Dense)";
    if (g.rank(n.input(0)) != 2)
        return "its input '" + n.input(0) + "' has rank " + std::to_string(g.rank(n.input(0))) +
               " (0: unknown); Neurite's Dense reads [batch, features]";
    return add_node(g, dense(g, i, n.input(0), *w, false, nullptr), 2);
}

Result import_leaky_relu(ImportGraph &g, int i)
{
    ImportedNode node = make_node(g, i, "LeakyReLU", {{"negative_slope", double(attr_float(g.node(i), "alpha", 0.01f))}});
    node.inputs = {g.node(i).input(0)};
    const int rank = g.rank(node.inputs[0]); // before the node is moved away
    return add_node(g, std::move(node), rank);
}

Result import_elu(ImportGraph &g, int i)
{
    ImportedNode node = make_node(g, i, "ELU", {{"alpha", double(attr_float(g.node(i), "alpha", 1.0f))}});
    node.inputs = {g.node(i).input(0)};
    const int rank = g.rank(node.inputs[0]); // before the node is moved away
    return add_node(g, std::move(node), rank);
}

// A slope of one value, or one per feature of the last dimension ([C], [1, C]).
Result import_prelu(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const Tensor *slope = g.constant(n.input(1));
    if (!slope)
        return "its slope must be a constant of the file";
    for (int d = 0; d + 1 < slope->dim(); ++d)
        if (slope->size(d) != 1)
            return "a slope of shape " + slope->shape().to_string() +
                   " (per channel of an image) has no Neurite form: PReLU has one alpha per feature of the last "
                   "dimension";
    ImportedNode node = make_node(g, i, "PReLU", {{"channels", static_cast<double>(slope->numel())}});
    node.inputs = {n.input(0)};
    node.params.emplace_back("alpha", slope->reshape(Shape{slope->numel()}).clone());
    return add_node(g, std::move(node), g.rank(n.input(0)));
}

// Neurite's softmax runs over the last dimension.
Result import_softmax(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const int64_t axis = attr_int(n, "axis", g.opset() >= 13 ? -1 : 1);
    const int rank = g.rank(n.input(0));
    if (axis != -1 && !(rank > 0 && axis == rank - 1))
        return "axis " + std::to_string(axis) + " of a rank-" + std::to_string(rank) +
               " input (0: unknown); Neurite's " + n.op_type() + " runs over the last dimension";
    ImportedNode node = make_node(g, i, n.op_type());
    node.inputs = {n.input(0)};
    return add_node(g, std::move(node), rank);
}

// Add, Mul and Sum of computed tensors (a constant operand has no layer).
Result import_merge(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    for (const std::string &in : n.input())
        if (g.is_constant(in))
            return "its operand '" + in + "' is a constant; Neurite's " +
                   std::string(n.op_type() == "Mul" ? "Multiply" : "Add") + " combines computed tensors only";
    ImportedNode node = make_node(g, i, n.op_type() == "Mul" ? "Multiply" : "Add");
    node.inputs.assign(n.input().begin(), n.input().end());
    return add_node(g, std::move(node), g.rank(n.input(0)));
}

Result import_concat(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    const int64_t axis = attr_int(n, "axis", 1);
    if (axis == 0)
        return "concatenating along the batch (axis 0) has no Neurite form";
    ImportedNode node = make_node(g, i, "Concat", {{"axis", static_cast<double>(axis > 0 ? axis + 1 : axis)}});
    node.inputs.assign(n.input().begin(), n.input().end());
    return add_node(g, std::move(node), g.rank(n.input(0)));
}

// Identity, and Dropout (inference): the value passes through unchanged.
Result import_pass_through(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    if (n.output_size() > 1 && !n.output(1).empty() && !g.readers(n.output(1)).empty())
        return "its mask output is used";
    g.alias(n.output(0), n.input(0));
    return kImported;
}

Result import_flatten(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    if (attr_int(n, "axis", 1) != 1)
        return "axis " + std::to_string(attr_int(n, "axis", 1)) + " (Neurite flattens from axis 1)";
    if (g.rank(n.input(0)) == 2) { // already [batch, features]
        g.alias(n.output(0), n.input(0));
        return kImported;
    }
    ImportedNode node = make_node(g, i, "Flatten");
    node.inputs = {n.input(0)};
    return add_node(g, std::move(node), 2);
}

Result import_reshape(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    if (!g.is_constant(n.input(1)))
        return "its target shape '" + n.input(1) + "' is computed in the graph (a dynamic shape); Neurite needs "
               "it fixed in the file (export with constant shapes, e.g. x.flatten(1) rather than x.view(x.size(0), -1))";
    const std::vector<int64_t> shape = g.int64_constant(n.input(1), i);
    if (shape.empty() || (shape[0] != 0 && shape[0] != -1))
        return "a target shape that does not keep the batch dimension first (0 or -1)";
    std::vector<double> sample;
    for (size_t k = 1; k < shape.size(); ++k)
        sample.push_back(static_cast<double>(shape[k]));
    ImportedNode node = make_node(g, i, "Reshape", {{"shape", sample}});
    node.inputs = {n.input(0)};
    return add_node(g, std::move(node), static_cast<int>(shape.size()));
}

struct Mapping {
    const char *op;
    Importer importer;
    int inputs; // the fewest inputs the importer reads
};

const Mapping kImporters[] = {
    {"Gemm", import_gemm, 2},
    {"MatMul", import_matmul, 2},
    {"Relu", import_unary<kReLU>, 1},
    {"Sigmoid", import_unary<kSigmoid>, 1},
    {"Tanh", import_unary<kTanh>, 1},
    {"Atan", import_unary<kArcTan>, 1},
    {"Softplus", import_unary<kSoftPlus>, 1},
    {"LeakyRelu", import_leaky_relu, 1},
    {"Elu", import_elu, 1},
    {"PRelu", import_prelu, 2},
    {"Softmax", import_softmax, 1},
    {"LogSoftmax", import_softmax, 1},
    {"Add", import_merge, 2},
    {"Sum", import_merge, 1},
    {"Mul", import_merge, 2},
    {"Concat", import_concat, 1},
    {"Identity", import_pass_through, 1},
    {"Dropout", import_pass_through, 1},
    {"Flatten", import_flatten, 1},
    {"Reshape", import_reshape, 2},
    // The layers of issue 13.
    {"Conv", import_conv, 2},
    {"ConvTranspose", import_conv, 2},
    {"MaxPool", import_pool, 1},
    {"AveragePool", import_pool, 1},
    {"GlobalAveragePool", import_global_avg_pool, 1},
    {"BatchNormalization", import_batch_norm, 5},
    {"LayerNormalization", import_layer_norm, 2},
};

} // namespace

ImportResult import_node(ImportGraph &g, int i)
{
    const onnx::NodeProto &n = g.node(i);
    for (const Mapping &m : kImporters) {
        if (n.op_type() != m.op)
            continue;
        if (n.input_size() < m.inputs || n.output_size() < 1)
            return "it has " + std::to_string(n.input_size()) + " inputs and " + std::to_string(n.output_size()) +
                   " outputs; " + m.op + " needs at least " + std::to_string(m.inputs) + " inputs and an output";
        for (int k = 0; k < m.inputs; ++k)
            if (n.input(k).empty())
                return "its input " + std::to_string(k + 1) + " is missing";
        return m.importer(g, i);
    }
    return std::string();
}

std::string imported_ops()
{
    std::string s;
    for (const Mapping &m : kImporters)
        s += (s.empty() ? "" : ", ") + std::string(m.op);
    return s + "; GELU, SiLU/Swish, BinaryStep and Sign as PyTorch writes them";
}

} // namespace neurite::interchange::detail
