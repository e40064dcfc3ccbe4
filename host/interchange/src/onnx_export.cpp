// ONNX export: the model's graph (captured as a checkpoint would save it)
// walked in topological order, each node written by its entry's mapping
// (onnx_export_ops.cpp), nested models inlined, then checked by
// onnx::checker before a byte is written.
#include "neurite/interchange/onnx.h"

#include "onnx_export_internal.h"

#include "neurite/core/durable_file.h"
#include "neurite/core/error.h"
#include "neurite/core/module.h"
#include "neurite/core/version.h"

#include <onnx/checker.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

namespace neurite::interchange {

namespace detail {

// ---------------------------------------------------------------- Config

const ParamValue *Config::find(const std::string &name) const
{
    for (const auto &[key, value] : m_values)
        if (key == name)
            return &value;
    return nullptr;
}

double Config::number(const std::string &name, double fallback) const
{
    const ParamValue *v = find(name);
    if (v && std::holds_alternative<double>(*v))
        return std::get<double>(*v);
    if (v && std::holds_alternative<bool>(*v))
        return std::get<bool>(*v) ? 1 : 0;
    return fallback;
}

bool Config::boolean(const std::string &name, bool fallback) const
{
    const ParamValue *v = find(name);
    return v && std::holds_alternative<bool>(*v) ? std::get<bool>(*v) : fallback;
}

std::string Config::text(const std::string &name, const std::string &fallback) const
{
    const ParamValue *v = find(name);
    return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : fallback;
}

std::array<int64_t, 2> Config::pair(const std::string &name, std::array<int64_t, 2> fallback,
                                    std::string *word) const
{
    const ParamValue *v = find(name);
    if (!v)
        return fallback;
    if (std::holds_alternative<double>(*v)) {
        const auto d = static_cast<int64_t>(std::get<double>(*v));
        return {d, d};
    }
    if (std::holds_alternative<std::vector<double>>(*v)) {
        const auto &l = std::get<std::vector<double>>(*v);
        if (l.size() == 1)
            return {static_cast<int64_t>(l[0]), static_cast<int64_t>(l[0])};
        if (l.size() == 2)
            return {static_cast<int64_t>(l[0]), static_cast<int64_t>(l[1])};
    }
    if (std::holds_alternative<std::string>(*v) && word) {
        *word = std::get<std::string>(*v);
        return fallback;
    }
    throw Error(m_label + ": parameter '" + name + "' = " + param_value_text(*v) + " is not a number or a pair");
}

std::vector<double> Config::list(const std::string &name) const
{
    const ParamValue *v = find(name);
    if (v && std::holds_alternative<std::vector<double>>(*v))
        return std::get<std::vector<double>>(*v);
    if (v && std::holds_alternative<double>(*v))
        return {std::get<double>(*v)};
    throw Error(m_label + ": parameter '" + name + "' is not a list of numbers");
}

// ---------------------------------------------------------------- GraphWriter

std::string GraphWriter::fresh(const std::string &hint)
{
    std::string name = hint;
    for (int k = 2; std::find(m_names.begin(), m_names.end(), name) != m_names.end(); ++k)
        name = hint + "_" + std::to_string(k);
    m_names.push_back(name);
    return name;
}

onnx::NodeProto &GraphWriter::node(const std::string &op, const std::vector<std::string> &inputs,
                                   const std::vector<std::string> &outputs)
{
    onnx::NodeProto &n = *m_graph.add_node();
    n.set_op_type(op);
    n.set_name(outputs.empty() ? op : outputs[0]);
    for (const std::string &i : inputs)
        n.add_input(i);
    for (const std::string &o : outputs)
        n.add_output(o);
    return n;
}

std::string GraphWriter::initializer(const std::string &name, const Tensor &value)
{
    const Tensor t = value.contiguous();
    onnx::TensorProto &p = *m_graph.add_initializer();
    p.set_name(name);
    p.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.shape())
        p.add_dims(d);
    p.set_raw_data(t.numel() ? std::string(reinterpret_cast<const char *>(t.data()),
                                           static_cast<size_t>(t.numel()) * sizeof(float))
                             : std::string());
    m_names.push_back(name);
    return name;
}

std::string GraphWriter::scalar(const std::string &hint, float value)
{
    const Tensor t = Tensor::full(Shape{}, value);
    return initializer(fresh(hint), t);
}

std::string GraphWriter::int64s(const std::string &hint, const std::vector<int64_t> &values)
{
    onnx::TensorProto &p = *m_graph.add_initializer();
    const std::string name = fresh(hint);
    p.set_name(name);
    p.set_data_type(onnx::TensorProto::INT64);
    p.add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values)
        p.add_int64_data(v);
    return name;
}

void set_attr(onnx::NodeProto &node, const char *name, int64_t value)
{
    onnx::AttributeProto &a = *node.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(value);
}

void set_attr(onnx::NodeProto &node, const char *name, float value)
{
    onnx::AttributeProto &a = *node.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(value);
}

void set_attr(onnx::NodeProto &node, const char *name, const std::vector<int64_t> &values)
{
    onnx::AttributeProto &a = *node.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values)
        a.add_ints(v);
}

void set_attr(onnx::NodeProto &node, const char *name, const std::string &value)
{
    onnx::AttributeProto &a = *node.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(value);
}

// ---------------------------------------------------------------- ExportNode

void ExportNode::fail(const std::string &why) const { throw Error("ONNX export: " + label + ": " + why); }

bool ExportNode::has_param(const std::string &name) const
{
    return std::any_of(node.parameters.begin(), node.parameters.end(),
                       [&](const auto &p) { return p.first == name; });
}

const Tensor &ExportNode::param_value(const std::string &name) const
{
    for (const auto &[n, t] : node.parameters)
        if (n == name)
            return t;
    std::string have;
    for (const auto &p : node.parameters)
        have += (have.empty() ? "" : ", ") + p.first;
    fail("has no parameter '" + name + "' (it has: " + (have.empty() ? "none" : have) + ")");
}

std::string ExportNode::param(const std::string &name) const
{
    const Tensor &t = param_value(name);
    return graph.initializer(base + "." + name, t);
}

std::string ExportNode::param_any(std::initializer_list<const char *> names, bool required) const
{
    for (const char *name : names)
        if (has_param(name))
            return param(name);
    if (!required)
        return {};
    std::string wanted;
    for (const char *name : names)
        wanted += (wanted.empty() ? "'" : " or '") + std::string(name) + "'";
    param_value(*names.begin()); // fails, listing the parameters it has
    fail("has no parameter " + wanted);
}

} // namespace detail

namespace {

using detail::ExportNode;
using detail::GraphWriter;

struct Value {
    std::string name;
    int rank = 0; // 0: unknown
};

std::string node_label(const std::string &where, size_t i, const CheckpointNode &n, const CheckpointModel &m)
{
    return where + (m.type == "Sequential" ? "layer " : "node ") + std::to_string(i + 1) + " (" +
           (n.model ? n.model->type : n.entry) + ")";
}

// Node indices in an order where every node comes after those it reads.
std::vector<size_t> topological_order(const CheckpointModel &m)
{
    std::vector<size_t> order;
    std::vector<bool> done(m.nodes.size(), false);
    while (order.size() < m.nodes.size()) {
        bool progress = false;
        for (size_t i = 0; i < m.nodes.size(); ++i) {
            if (done[i])
                continue;
            const bool ready = std::all_of(m.nodes[i].inputs.begin(), m.nodes[i].inputs.end(), [&](const Model::Ref &r) {
                return r.node == Model::kInput || (r.node >= 0 && static_cast<size_t>(r.node) < done.size() && done[r.node]);
            });
            if (ready) {
                done[i] = true;
                order.push_back(i);
                progress = true;
            }
        }
        if (!progress)
            throw Error("ONNX export: the graph has a cycle or a reference to a missing node");
    }
    return order;
}

// The plugin's own ONNX form of the live layer (ABI 1.2), when it has one.
std::optional<std::string> plugin_form(Layer &layer, int opset)
{
    auto *module = dynamic_cast<Module *>(&layer);
    return module ? module->onnx_form(opset) : std::nullopt;
}

std::string origin_of(const CheckpointNode &n)
{
    return n.library == "lua" ? std::string("a Lua definition") : "the plugin library " + n.library;
}

// `live` is the model `m` was captured from: its layers answer for their
// plugins' ONNX forms.
std::vector<Value> emit_model(GraphWriter &graph, const CheckpointModel &m, Model &live, const std::string &prefix,
                              const std::string &where, const std::vector<Value> &inputs)
{
    std::vector<std::vector<Value>> produced(m.nodes.size());
    auto value_of = [&](const Model::Ref &r) -> const Value & {
        if (r.node == Model::kInput)
            return inputs.at(static_cast<size_t>(r.index));
        return produced.at(static_cast<size_t>(r.node)).at(static_cast<size_t>(r.index));
    };
    for (size_t i : topological_order(m)) {
        const CheckpointNode &n = m.nodes[i];
        const std::string label = node_label(where, i, n, m);
        const std::string base = prefix + std::to_string(i);
        std::vector<Value> in;
        for (const Model::Ref &r : n.inputs)
            in.push_back(value_of(r));
        Layer &layer = live.layer(static_cast<int>(i));
        if (n.model) {
            produced[i] = emit_model(graph, *n.model, dynamic_cast<Model &>(layer), base + ".", label + ": ", in);
            continue;
        }
        const detail::Exporter exporter = detail::find_exporter(n.entry);
        const std::optional<std::string> form = exporter ? std::nullopt : plugin_form(layer, graph.opset());
        if (!exporter && !form)
            throw Error("ONNX export: " + label + " has no ONNX form: '" + n.entry + "' (from " + origin_of(n) +
                        ") " +
                        (n.library == "lua"
                             ? "gives none: add onnx_form = function(self, opset) return \"{ Y0 = ... }\" end "
                               "to its nn.define (docs/interchange.md)"
                             : "neither gives one through the onnx_form slot of plugin ABI 1.2 (in the SDK: "
                               "override onnx_form(opset) of the layer class; docs/plugins.md) nor is in the "
                               "exporter's table") +
                        " (built-in entries with one: " + detail::exported_entries() + ")");
        ExportNode node{graph, n, detail::Config(n.config, label), label, base, {}, {}, {}, {}};
        for (const Value &v : in) {
            node.inputs.push_back(v.name);
            node.input_ranks.push_back(v.rank);
        }
        node.outputs.push_back(graph.fresh(base + "_" + n.entry));
        if (exporter)
            exporter(node);
        else
            detail::export_plugin_form(node, *form, origin_of(n));
        if (node.output_ranks.empty())
            node.output_ranks.push_back(in.empty() ? 0 : in[0].rank);
        for (size_t k = 0; k < node.outputs.size(); ++k)
            produced[i].push_back({node.outputs[k], node.output_ranks[std::min(k, node.output_ranks.size() - 1)]});
    }
    std::vector<Value> outputs;
    for (const Model::Ref &r : m.outputs)
        outputs.push_back(value_of(r));
    return outputs;
}

// What the first layer reading input i of m tells of one sample's shape
// (a Dense: {inputs}), looking inside nested models; empty when nothing.
std::vector<int64_t> shape_from_first_layer(const CheckpointModel &m, int i, int depth)
{
    for (const CheckpointNode &n : m.nodes) {
        for (size_t k = 0; k < n.inputs.size(); ++k) {
            if (!(n.inputs[k] == Model::Ref{Model::kInput, i}))
                continue;
            if (n.model && depth < 64) {
                if (auto inner = shape_from_first_layer(*n.model, static_cast<int>(k), depth + 1); !inner.empty())
                    return inner;
                continue;
            }
            const detail::Config c(n.config, n.entry);
            if (n.entry == "Dense")
                return {static_cast<int64_t>(c.number("inputs", 0))};
            if (n.entry == "Conv2D" || n.entry == "ConvTranspose2D")
                return {static_cast<int64_t>(c.number("inputs", 0)), -1, -1};
            if (n.entry == "BatchNorm")
                return {static_cast<int64_t>(c.number("features", 0))};
        }
    }
    return {};
}

// One sample's shape of input i, -1 for a dimension the model does not fix.
std::vector<int64_t> input_shape(Model &model, const CheckpointModel &m, int i, const OnnxExportOptions &options)
{
    if (static_cast<size_t>(i) < options.input_shapes.size() && options.input_shapes[i])
        return {options.input_shapes[i]->begin(), options.input_shapes[i]->end()};
    if (model.input(i).sample_shape)
        return {model.input(i).sample_shape->begin(), model.input(i).sample_shape->end()};
    if (auto shape = shape_from_first_layer(m, i, 0); !shape.empty())
        return shape;
    if (auto shape = model.last_sample_shape(i))
        return {shape->begin(), shape->end()};
    throw Error("ONNX export: the shape of input " + std::to_string(i + 1) +
                " is unknown; declare it with nn.Input{...}, pass {input_shape = {...}} or run the model once");
}

void declare_value(onnx::ValueInfoProto &v, const std::string &name, const std::vector<int64_t> &sample, int rank)
{
    v.set_name(name);
    auto &type = *v.mutable_type()->mutable_tensor_type();
    type.set_elem_type(onnx::TensorProto::FLOAT);
    if (sample.empty() && rank <= 0)
        return; // rank unknown: no shape
    auto &shape = *type.mutable_shape();
    shape.add_dim()->set_dim_param("batch");
    const char *spatial[] = {"height", "width", "depth"};
    for (size_t d = 0; d < sample.size(); ++d) {
        if (sample[d] >= 0)
            shape.add_dim()->set_dim_value(sample[d]);
        else
            shape.add_dim()->set_dim_param(name + "_" + spatial[std::min<size_t>(d ? d - 1 : 0, 2)]);
    }
    for (int d = static_cast<int>(sample.size()) + 1; d < rank; ++d)
        shape.add_dim()->set_dim_param(name + "_dim" + std::to_string(d));
}

// Graph outputs are called output1, output2...: the value's producer and
// readers are renamed, or an Identity added for an input passed through.
void name_outputs(onnx::GraphProto &g, const std::vector<Value> &outputs, const std::vector<std::string> &inputs)
{
    std::map<std::string, std::string> renamed; // value -> the output name it took
    for (size_t k = 0; k < outputs.size(); ++k) {
        const std::string target = "output" + std::to_string(k + 1);
        const std::string &from = outputs[k].name;
        const bool is_input = std::find(inputs.begin(), inputs.end(), from) != inputs.end();
        if (is_input || renamed.count(from)) {
            onnx::NodeProto &n = *g.add_node();
            n.set_op_type("Identity");
            n.set_name(target);
            n.add_input(is_input ? from : renamed[from]);
            n.add_output(target);
            continue;
        }
        for (onnx::NodeProto &n : *g.mutable_node()) {
            for (std::string &s : *n.mutable_input())
                if (s == from)
                    s = target;
            for (std::string &s : *n.mutable_output())
                if (s == from)
                    s = target;
        }
        renamed[from] = target;
    }
}

} // namespace

std::vector<uint8_t> export_onnx(Model &model, const OnnxExportOptions &options)
{
    if (options.opset < kOnnxMinOpset || options.opset > kOnnxMaxOpset)
        throw Error("ONNX export: opset " + std::to_string(options.opset) + " is not supported; give " +
                    std::to_string(kOnnxMinOpset) + " to " + std::to_string(kOnnxMaxOpset));
    const CheckpointModel m = Checkpoint::capture(model).model;
    onnx::ModelProto proto;
    proto.set_ir_version(onnx::IR_VERSION);
    proto.set_producer_name("Neurite");
    proto.set_producer_version(neurite::version());
    onnx::OperatorSetIdProto &opset = *proto.add_opset_import();
    opset.set_domain("");
    opset.set_version(options.opset);
    onnx::GraphProto &g = *proto.mutable_graph();
    g.set_name(options.graph_name);
    GraphWriter graph(g, options.opset);

    std::vector<Value> inputs;
    std::vector<std::string> input_names;
    for (int i = 0; i < model.input_count(); ++i) {
        const std::vector<int64_t> sample = input_shape(model, m, i, options);
        const std::string name = graph.fresh("input" + std::to_string(i + 1));
        declare_value(*g.add_input(), name, sample, 0);
        inputs.push_back({name, static_cast<int>(sample.size()) + 1});
        input_names.push_back(name);
    }
    const std::vector<Value> outputs = emit_model(graph, m, model, "", "", inputs);
    name_outputs(g, outputs, input_names);
    for (size_t k = 0; k < outputs.size(); ++k)
        declare_value(*g.add_output(), "output" + std::to_string(k + 1), {}, outputs[k].rank);

    std::string bytes;
    if (!proto.SerializeToString(&bytes))
        throw Error("ONNX export: the model could not be serialized (over 2 GiB?)");
    std::vector<uint8_t> out(bytes.begin(), bytes.end());
    check_onnx(out, "the exported model");
    return out;
}

void export_onnx(Model &model, const std::string &path, const OnnxExportOptions &options)
{
    durable_write(path, export_onnx(model, options));
}

void check_onnx(std::span<const uint8_t> bytes, const std::string &source)
{
    onnx::ModelProto proto;
    if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw Error(source + ": not an ONNX model (the protobuf does not parse)");
    try {
        onnx::checker::check_model(proto);
    } catch (const std::exception &e) {
        throw Error(source + ": the ONNX checker refuses it: " + std::string(e.what()));
    }
}

} // namespace neurite::interchange
