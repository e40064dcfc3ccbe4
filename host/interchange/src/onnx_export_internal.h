#pragma once

// Shared by the ONNX exporter (onnx_export.cpp: the graph walk) and its
// mapping table (onnx_export_ops.cpp: one function per registry entry).
#include "neurite/core/checkpoint.h"

#include <onnx/onnx_pb.h>

#include <array>
#include <string>
#include <vector>

namespace neurite::interchange::detail {

// A node's saved config, read by name whatever type the entry stored.
class Config {
public:
    Config(const ParamList &values, std::string label) : m_values(values), m_label(std::move(label)) {}
    double number(const std::string &name, double fallback) const;
    bool boolean(const std::string &name, bool fallback) const;
    std::string text(const std::string &name, const std::string &fallback) const;
    // A number or a pair {h, w}; a word ("same") is returned in *word, and
    // the pair is then the fallback.
    std::array<int64_t, 2> pair(const std::string &name, std::array<int64_t, 2> fallback,
                                std::string *word = nullptr) const;
    std::vector<double> list(const std::string &name) const;

private:
    const ParamValue *find(const std::string &name) const;
    const ParamList &m_values;
    std::string m_label;
};

// Adds nodes, initializers and constants to an ONNX graph, naming every
// intermediate value uniquely.
class GraphWriter {
public:
    GraphWriter(onnx::GraphProto &graph, int opset) : m_graph(graph), m_opset(opset) {}
    int opset() const { return m_opset; }
    onnx::GraphProto &proto() { return m_graph; }
    // `hint` made unique: "3_Dense/gemm", "3_Dense/gemm_2", ...
    std::string fresh(const std::string &hint);
    onnx::NodeProto &node(const std::string &op, const std::vector<std::string> &inputs,
                          const std::vector<std::string> &outputs);
    // A float initializer holding t (row-major), named exactly `name`.
    std::string initializer(const std::string &name, const Tensor &t);
    // A 0-d float initializer.
    std::string scalar(const std::string &hint, float value);
    std::string int64s(const std::string &hint, const std::vector<int64_t> &values);

private:
    onnx::GraphProto &m_graph;
    int m_opset;
    std::vector<std::string> m_names;
};

void set_attr(onnx::NodeProto &node, const char *name, int64_t value);
void set_attr(onnx::NodeProto &node, const char *name, float value);
void set_attr(onnx::NodeProto &node, const char *name, const std::vector<int64_t> &values);
void set_attr(onnx::NodeProto &node, const char *name, const std::string &value);

// One Neurite node being written: its config and parameters, the names and
// ranks of the values it reads, and those it must write.
struct ExportNode {
    GraphWriter &graph;
    const CheckpointNode &node;
    Config config;
    std::string label; // "node 3 (Dense)", for messages
    std::string base;  // "2" or "1.2" (nested): parameters are "<base>.<name>"
    std::vector<std::string> inputs;
    std::vector<int> input_ranks;    // 0 where unknown
    std::vector<std::string> outputs; // preset names of the node's outputs
    std::vector<int> output_ranks;    // set by the exporter (default: the first input's)

    [[noreturn]] void fail(const std::string &why) const;
    // Parameter `name` as an initializer "<base>.<name>"; an Error listing
    // the node's parameters when it has none of that name.
    std::string param(const std::string &name) const;
    bool has_param(const std::string &name) const;
    // The first of `names` the node has, as an initializer; "" when none
    // and not required, an Error naming them all when required.
    std::string param_any(std::initializer_list<const char *> names, bool required = true) const;
    const Tensor &param_value(const std::string &name) const;
    // An intermediate value name of this node: "<output>/<what>".
    std::string temp(const std::string &what) const { return graph.fresh(outputs[0] + "/" + what); }
};

// The activation Dense and Conv2D fuse (their `activation` choice) applied
// to x, written to out.
std::string fused_activation(ExportNode &n, const std::string &x, const std::string &out);

// The layers of issue 13 (onnx_export_spatial.cpp).
void export_conv(ExportNode &n);
void export_pool(ExportNode &n);
void export_global_avg_pool(ExportNode &n);
void export_batch_norm(ExportNode &n);
void export_layer_norm(ExportNode &n);
void export_flatten(ExportNode &n);
void export_reshape(ExportNode &n);

// A plugin's own ONNX form of the node (onnx_export_plugin.cpp): `text` in
// ONNX's textual syntax, as the plugin's onnx_form slot wrote it; `origin`
// names the plugin in messages.
void export_plugin_form(ExportNode &n, const std::string &text, const std::string &origin);

using Exporter = void (*)(ExportNode &node);
// The mapping of a registry entry, or nullptr.
Exporter find_exporter(const std::string &entry);
// "Dense, ReLU, ..." for messages.
std::string exported_entries();

} // namespace neurite::interchange::detail
