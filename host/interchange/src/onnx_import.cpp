// ONNX import: the file parsed by libonnx's protobuf classes, its opset and
// references checked, patterns found, each node mapped to registry entries
// (onnx_import_ops.cpp), every unsupported operator collected into one
// message, then the Neurite graph built from the registry with the file's
// weights copied in by parameter name.
#include "neurite/interchange/onnx.h"

#include "onnx_import_internal.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/data/file_bytes.h"
#include "neurite/core/error.h"
#include "neurite/core/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

namespace neurite::interchange {

namespace detail {

namespace {

const onnx::AttributeProto *find_attr(const onnx::NodeProto &node, const char *name)
{
    for (const onnx::AttributeProto &a : node.attribute())
        if (a.name() == name)
            return &a;
    return nullptr;
}

// How many values of type T a tensor stores: in raw little-endian bytes or
// in a repeated field. Known before anything is allocated, so a forged shape
// cannot make the reader allocate more than the file holds.
template <class T, class Repeated>
size_t stored_count(const onnx::TensorProto &p, const Repeated &field, const std::string &where)
{
    if (p.raw_data().empty())
        return static_cast<size_t>(field.size());
    if (p.raw_data().size() % sizeof(T) != 0)
        throw Error(where + ": " + std::to_string(p.raw_data().size()) + " bytes of data are not whole values of " +
                    std::to_string(sizeof(T)) + " bytes");
    return p.raw_data().size() / sizeof(T);
}

template <class T, class Repeated> void read_values(const onnx::TensorProto &p, const Repeated &field, float *dst, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        if (p.raw_data().empty()) {
            dst[i] = static_cast<float>(field.Get(static_cast<int>(i)));
        } else {
            T v;
            std::memcpy(&v, p.raw_data().data() + i * sizeof(T), sizeof v);
            dst[i] = static_cast<float>(v);
        }
    }
}

} // namespace

int64_t attr_int(const onnx::NodeProto &node, const char *name, int64_t fallback)
{
    const onnx::AttributeProto *a = find_attr(node, name);
    return a && a->has_i() ? a->i() : fallback;
}

float attr_float(const onnx::NodeProto &node, const char *name, float fallback)
{
    const onnx::AttributeProto *a = find_attr(node, name);
    return a && a->has_f() ? a->f() : fallback;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto &node, const char *name)
{
    const onnx::AttributeProto *a = find_attr(node, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

std::string attr_string(const onnx::NodeProto &node, const char *name, const std::string &fallback)
{
    const onnx::AttributeProto *a = find_attr(node, name);
    return a && a->has_s() ? a->s() : fallback;
}

Tensor tensor_from_proto(const onnx::TensorProto &p, const std::string &where)
{
    if (p.data_location() == onnx::TensorProto::EXTERNAL)
        throw Error(where + ": its data is in an external file, which Neurite does not read (save the model "
                            "with its weights inside)");
    Shape shape;
    for (int64_t d : p.dims()) {
        if (d < 0 || shape.size() == Shape::kMaxDims)
            throw Error(where + ": impossible dimensions");
        shape.push_back(d);
    }
    const auto n = static_cast<size_t>(shape.checked_numel());
    size_t stored = 0;
    switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: stored = stored_count<float>(p, p.float_data(), where); break;
    case onnx::TensorProto::DOUBLE: stored = stored_count<double>(p, p.double_data(), where); break;
    case onnx::TensorProto::INT64: stored = stored_count<int64_t>(p, p.int64_data(), where); break;
    case onnx::TensorProto::INT32: stored = stored_count<int32_t>(p, p.int32_data(), where); break;
    default:
        throw Error(where + ": element type " + std::to_string(p.data_type()) +
                    " is not one Neurite reads (float, double, int64, int32)");
    }
    if (stored != n)
        throw Error(where + ": " + std::to_string(stored) + " values stored for shape " + shape.to_string());
    Tensor t(shape);
    float *dst = n ? t.data() : nullptr;
    switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: read_values<float>(p, p.float_data(), dst, n); break;
    case onnx::TensorProto::DOUBLE: read_values<double>(p, p.double_data(), dst, n); break;
    case onnx::TensorProto::INT64: read_values<int64_t>(p, p.int64_data(), dst, n); break;
    default: read_values<int32_t>(p, p.int32_data(), dst, n); break;
    }
    return t;
}

// ---------------------------------------------------------------- ImportGraph

ImportGraph::ImportGraph(const onnx::GraphProto &graph, std::string source, int opset)
    : m_graph(graph), m_source(std::move(source)), m_opset(opset)
{
    for (const onnx::TensorProto &t : graph.initializer())
        m_constants.emplace(t.name(), tensor_from_proto(t, m_source + ": initializer '" + t.name() + "'"));
    for (const onnx::ValueInfoProto &v : graph.output())
        m_outputs.insert(v.name());
    for (int i = 0; i < graph.node_size(); ++i) {
        const onnx::NodeProto &n = graph.node(i);
        for (const std::string &in : n.input())
            if (!in.empty())
                m_readers[in].push_back(i);
        for (const std::string &out : n.output()) {
            if (out.empty()) // an optional output left out
                continue;
            if (m_writers.count(out) || m_constants.count(out))
                fail(i, "writes '" + out + "', which another node or an initializer already defines");
            m_writers[out] = i;
        }
        if (n.op_type() == "Constant" && n.domain().empty() && n.output_size() == 1) {
            const std::string where = m_source + ": " + describe(i);
            if (const onnx::AttributeProto *a = find_attr(n, "value"); a && a->has_t())
                m_constants.emplace(n.output(0), tensor_from_proto(a->t(), where));
            else if (const onnx::AttributeProto *f = find_attr(n, "value_float"); f && f->has_f())
                m_constants.emplace(n.output(0), Tensor::full(Shape{}, f->f()));
            else if (const onnx::AttributeProto *k = find_attr(n, "value_int"); k && k->has_i())
                m_constants.emplace(n.output(0), Tensor::full(Shape{}, static_cast<float>(k->i())));
            else
                fail(i, "is a Constant of a kind Neurite does not read (value, value_float and value_int are read)");
        }
    }
}

std::string ImportGraph::describe(int i) const
{
    const onnx::NodeProto &n = m_graph.node(i);
    std::string text = "node ";
    if (n.name().empty()) { // appended piece by piece: GCC 12 warns of "#" + string (a false -Wrestrict)
        text += '#';
        text += std::to_string(i + 1);
    } else {
        text += "'" + n.name() + "'";
    }
    text += " (";
    if (!n.domain().empty())
        text += n.domain() + ".";
    return text + n.op_type() + ")";
}

void ImportGraph::fail(int node, const std::string &why) const
{
    throw Error(m_source + ": " + describe(node) + " " + why);
}

bool ImportGraph::is_constant(const std::string &value) const { return m_constants.count(value) > 0; }

const Tensor *ImportGraph::constant(const std::string &value) const
{
    const auto it = m_constants.find(value);
    return it == m_constants.end() ? nullptr : &it->second;
}

bool ImportGraph::is_scalar(const std::string &value, double expected) const
{
    const Tensor *t = constant(value);
    return t && t->numel() == 1 && std::fabs(t->data()[0] - expected) <= 1e-6 * std::max(1.0, std::fabs(expected));
}

std::vector<int64_t> ImportGraph::int64_constant(const std::string &value, int node) const
{
    const Tensor *t = constant(value);
    if (!t)
        fail(node, "reads '" + value + "' as a constant, but it is computed; Neurite needs it fixed in the file");
    std::vector<int64_t> out;
    for (int64_t i = 0; i < t->numel(); ++i)
        out.push_back(static_cast<int64_t>(t->data()[i]));
    return out;
}

const std::vector<int> &ImportGraph::readers(const std::string &value) const
{
    const auto it = m_readers.find(value);
    return it == m_readers.end() ? m_no_readers : it->second;
}

int ImportGraph::writer(const std::string &value) const
{
    const auto it = m_writers.find(value);
    return it == m_writers.end() ? -1 : it->second;
}

int ImportGraph::sole_reader(const std::string &value) const
{
    const std::vector<int> &r = readers(value);
    return r.size() == 1 && !is_graph_output(value) ? r[0] : -1;
}

bool ImportGraph::is_graph_output(const std::string &value) const { return m_outputs.count(value) > 0; }

int ImportGraph::rank(const std::string &value) const
{
    const auto it = m_ranks.find(resolve(value));
    return it == m_ranks.end() ? 0 : it->second;
}

void ImportGraph::add(ImportedNode node)
{
    for (std::string &in : node.inputs)
        in = resolve(in);
    m_nodes.push_back(std::move(node));
}

std::string ImportGraph::resolve(const std::string &value) const
{
    std::string v = value;
    for (auto it = m_aliases.find(v); it != m_aliases.end(); it = m_aliases.find(v))
        v = it->second;
    return v;
}

} // namespace detail

namespace {

using detail::ImportGraph;

onnx::ModelProto parse_model(std::span<const uint8_t> bytes, const std::string &source)
{
    if (bytes.empty())
        throw Error(source + ": the file is empty, expected an ONNX model");
    onnx::ModelProto proto;
    if (bytes.size() > size_t(INT32_MAX) || !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw Error(source + ": not an ONNX model, or a truncated or corrupt one (its " + std::to_string(bytes.size()) +
                    " bytes do not parse as an ONNX ModelProto)");
    if (!proto.has_graph())
        throw Error(source + ": the ONNX model has no graph");
    if (proto.ir_version() > onnx::IR_VERSION)
        throw Error(source + ": ONNX IR version " + std::to_string(proto.ir_version()) +
                    " is newer than this Neurite reads (up to " + std::to_string(onnx::IR_VERSION) + ")");
    return proto;
}

int default_opset(const onnx::ModelProto &proto, const std::string &source)
{
    int opset = 0;
    for (const onnx::OperatorSetIdProto &o : proto.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx")
            opset = static_cast<int>(o.version());
    if (opset == 0)
        throw Error(source + ": the model imports no version of the default ONNX operator set");
    if (opset > kOnnxMaxOpset)
        throw Error(source + ": opset " + std::to_string(opset) + " is newer than this Neurite reads (opsets up to " +
                    std::to_string(kOnnxMaxOpset) + "); export it again with opset_version=" +
                    std::to_string(kOnnxMaxOpset));
    if (opset < 9)
        throw Error(source + ": opset " + std::to_string(opset) + " is older than this Neurite reads (9 to " +
                    std::to_string(kOnnxMaxOpset) + ")");
    return opset;
}

// The graph's real inputs (older files list initializers among them).
std::vector<const onnx::ValueInfoProto *> graph_inputs(const onnx::GraphProto &g, ImportGraph &graph)
{
    std::vector<const onnx::ValueInfoProto *> out;
    for (const onnx::ValueInfoProto &v : g.input()) {
        if (graph.is_constant(v.name()))
            continue;
        const auto &type = v.type().tensor_type();
        if (v.type().has_tensor_type() && type.has_shape())
            graph.set_rank(v.name(), type.shape().dim_size());
        out.push_back(&v);
    }
    return out;
}

std::optional<Shape> sample_shape(const onnx::ValueInfoProto &v)
{
    const auto &type = v.type().tensor_type();
    if (!type.has_shape() || type.shape().dim_size() < 2)
        return std::nullopt;
    Shape s;
    for (int d = 1; d < type.shape().dim_size(); ++d) {
        if (!type.shape().dim(d).has_dim_value() || type.shape().dim(d).dim_value() < 0)
            return std::nullopt; // a symbolic dimension: the model takes any size there
        s.push_back(type.shape().dim(d).dim_value());
    }
    return s;
}

// Every node mapped, or one Error listing each operator that has no form.
void map_nodes(ImportGraph &graph)
{
    detail::find_patterns(graph);
    std::vector<std::string> unsupported;
    for (int i = 0; i < graph.proto().node_size(); ++i) {
        const onnx::NodeProto &n = graph.node(i);
        if (const auto it = graph.fused.find(i); it != graph.fused.end()) {
            const int rank = graph.rank(it->second.inputs[0]);
            if (it->second.entry == "Dense" && rank > 2) { // MatMul works on the last dimension, Dense on all
                unsupported.push_back(it->second.origin + ": MatMul + Add on a rank-" + std::to_string(rank) +
                                      " input; Neurite's Dense reads [batch, features]");
                continue;
            }
            graph.set_rank(it->second.output, it->second.entry == "Dense" ? 2 : graph.rank(it->second.inputs[0]));
            graph.add(it->second);
            continue;
        }
        if (graph.covered.count(i) || (n.op_type() == "Constant" && n.domain().empty()))
            continue;
        if (!n.domain().empty() && n.domain() != "ai.onnx") {
            unsupported.push_back(graph.describe(i));
            continue;
        }
        if (const auto why = detail::import_node(graph, i))
            unsupported.push_back(graph.describe(i) + (why->empty() ? "" : ": " + *why));
    }
    if (unsupported.empty())
        return;
    std::string list;
    for (const std::string &u : unsupported)
        list += "\n  " + u;
    throw Error(graph.source() + ": " + std::to_string(unsupported.size()) + " node" +
                (unsupported.size() > 1 ? "s use operators" : " uses an operator") +
                " that Neurite cannot import:" + list + "\n(supported: " + detail::imported_ops() + ")");
}

// Creates each entry from the registry and copies the file's weights in by name.
std::shared_ptr<Model> build(const ImportGraph &graph, const std::vector<const onnx::ValueInfoProto *> &inputs,
                             const Registry &registry, ComputeContext &context, uint64_t seed)
{
    auto model = std::make_shared<Model>();
    std::map<std::string, Model::Ref> refs;
    for (size_t i = 0; i < inputs.size(); ++i) {
        model->add_input(sample_shape(*inputs[i]), inputs[i]->name());
        refs[inputs[i]->name()] = {Model::kInput, static_cast<int>(i)};
    }
    const std::string &source = graph.source();
    // Nodes no graph output depends on are left out (Neurite's graphs refuse them).
    std::set<std::string> needed;
    for (const onnx::ValueInfoProto &v : graph.proto().output())
        needed.insert(graph.resolve(v.name()));
    std::vector<bool> keep(graph.nodes().size(), false);
    for (size_t k = graph.nodes().size(); k-- > 0;)
        if (needed.count(graph.nodes()[k].output)) {
            keep[k] = true;
            needed.insert(graph.nodes()[k].inputs.begin(), graph.nodes()[k].inputs.end());
        }
    for (size_t k = 0; k < graph.nodes().size(); ++k) {
        if (!keep[k])
            continue;
        const detail::ImportedNode &n = graph.nodes()[k];
        const std::string head = source + ": " + n.origin + " as " + n.entry;
        if (!registry.find(n.entry))
            throw Error(head + ": the entry '" + n.entry + "' is not registered (its plugin is not loaded)");
        std::shared_ptr<Module> module;
        try {
            module = registry.create_layer(n.entry, n.config, context, seed + refs.size());
        } catch (const Error &e) {
            throw Error(head + ": " + e.what());
        }
        for (Parameter &p : module->parameters()) {
            const auto it = std::find_if(n.params.begin(), n.params.end(), [&](const auto &v) { return v.first == p.name; });
            if (it == n.params.end())
                throw Error(head + ": the layer's parameter '" + p.name + "' has no value in the file");
            if (!(it->second.shape() == p.value.shape()))
                throw Error(head + ": parameter '" + p.name + "' is " + it->second.shape().to_string() +
                            " in the file but " + p.value.shape().to_string() + " in the layer");
            p.value.copy_from(it->second);
        }
        std::vector<Model::Ref> in;
        for (const std::string &v : n.inputs) {
            const auto r = refs.find(v);
            if (r == refs.end())
                throw Error(head + ": it reads '" + v + "', which no input or earlier node of the file defines");
            in.push_back(r->second);
        }
        refs[n.output] = {model->add_node(module, in), 0};
    }
    std::vector<Model::Ref> outputs;
    for (const onnx::ValueInfoProto &v : graph.proto().output()) {
        const auto r = refs.find(graph.resolve(v.name()));
        if (r == refs.end())
            throw Error(source + ": graph output '" + v.name() + "' is not computed by any node Neurite imported");
        outputs.push_back(r->second);
    }
    model->set_outputs(outputs);
    model->finalize();
    model->eval(); // an imported model starts in inference mode, as it was exported
    return model;
}

} // namespace

std::shared_ptr<Model> import_onnx(std::span<const uint8_t> bytes, const std::string &source,
                                   const Registry &registry, ComputeContext &context, uint64_t seed)
{
    const onnx::ModelProto proto = parse_model(bytes, source);
    ImportGraph graph(proto.graph(), source, default_opset(proto, source));
    const auto inputs = graph_inputs(proto.graph(), graph);
    for (int i = 0; i < proto.graph().node_size(); ++i)
        for (const std::string &in : proto.graph().node(i).input()) {
            const bool is_input = std::any_of(inputs.begin(), inputs.end(), [&](auto *v) { return v->name() == in; });
            if (!in.empty() && !is_input && !graph.is_constant(in) && graph.writer(in) < 0)
                graph.fail(i, "reads '" + in + "', which no input, initializer or node defines");
        }
    map_nodes(graph);
    return build(graph, inputs, registry, context, seed);
}

std::shared_ptr<Model> import_onnx(const std::string &path, const Registry &registry, ComputeContext &context,
                                   uint64_t seed)
{
    return import_onnx(data::read_file(path), path, registry, context, seed);
}

} // namespace neurite::interchange
