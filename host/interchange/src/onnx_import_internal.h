#pragma once

// Shared by the ONNX importer (onnx_import.cpp: reading, checking and
// building) and its operator table (onnx_import_ops.cpp).
#include "neurite/core/params.h"
#include "neurite/core/tensor.h"

#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace neurite::interchange::detail {

// A Neurite node to build: a registry entry, its config and its parameter
// values by name, reading ONNX values and writing one.
struct ImportedNode {
    std::string entry;
    ParamList config;
    std::vector<std::pair<std::string, Tensor>> params;
    std::vector<std::string> inputs;
    std::string output;
    std::string origin; // "node 'Gemm_3' (Gemm)", for messages
};

// The ONNX graph with its lookups, and the Neurite graph being made of it.
class ImportGraph {
public:
    ImportGraph(const onnx::GraphProto &graph, std::string source, int opset);

    const onnx::GraphProto &proto() const { return m_graph; }
    const std::string &source() const { return m_source; }
    int opset() const { return m_opset; }
    const onnx::NodeProto &node(int i) const { return m_graph.node(i); }
    // "node 'Gemm_3' (Gemm)"
    std::string describe(int i) const;
    [[noreturn]] void fail(int node, const std::string &why) const;

    // A constant value (an initializer or a Constant node's output), as float.
    bool is_constant(const std::string &value) const;
    const Tensor *constant(const std::string &value) const;
    // A constant scalar (any shape of one element) equal to `expected` within 1e-6 relative.
    bool is_scalar(const std::string &value, double expected) const;
    std::vector<int64_t> int64_constant(const std::string &value, int node) const;

    // Nodes that read `value`; the node that writes it (-1: none).
    const std::vector<int> &readers(const std::string &value) const;
    int writer(const std::string &value) const;
    // The only reader of value's output, or -1 (none, several, or a graph output).
    int sole_reader(const std::string &value) const;
    bool is_graph_output(const std::string &value) const;

    // The rank of a value, 0 when unknown.
    int rank(const std::string &value) const;
    void set_rank(const std::string &value, int rank) { m_ranks[value] = rank; }

    // The Neurite graph: nodes, and values passed through unchanged (Identity, Dropout).
    void add(ImportedNode node);
    void alias(const std::string &value, const std::string &same_as) { m_aliases[value] = same_as; }
    std::string resolve(const std::string &value) const;
    const std::vector<ImportedNode> &nodes() const { return m_nodes; }
    // Nodes already written as part of a pattern (GELU's Erf chain, SiLU's Mul).
    std::set<int> covered;
    // A pattern recognised at its last node: what the walk emits there.
    std::map<int, ImportedNode> fused;

private:
    const onnx::GraphProto &m_graph;
    std::string m_source;
    int m_opset;
    std::map<std::string, Tensor> m_constants;
    std::map<std::string, std::vector<int>> m_readers;
    std::map<std::string, int> m_writers;
    std::set<std::string> m_outputs;
    std::map<std::string, int> m_ranks;
    std::map<std::string, std::string> m_aliases;
    std::vector<ImportedNode> m_nodes;
    std::vector<int> m_no_readers;
};

// ONNX attributes by name, with defaults.
int64_t attr_int(const onnx::NodeProto &node, const char *name, int64_t fallback);
float attr_float(const onnx::NodeProto &node, const char *name, float fallback);
std::vector<int64_t> attr_ints(const onnx::NodeProto &node, const char *name);
std::string attr_string(const onnx::NodeProto &node, const char *name, const std::string &fallback);

// A TensorProto as float values; errors name `where`.
Tensor tensor_from_proto(const onnx::TensorProto &proto, const std::string &where);

// A node of `entry` writing node i's first output, named after node i.
ImportedNode make_node(const ImportGraph &g, int i, std::string entry, ParamList config = {});

// nullopt when the node was imported, else why it cannot be (empty: the
// operator has no Neurite form at all).
using ImportResult = std::optional<std::string>;

// The layers of issue 13 (onnx_import_spatial.cpp).
ImportResult import_conv(ImportGraph &g, int i);
ImportResult import_pool(ImportGraph &g, int i);
ImportResult import_global_avg_pool(ImportGraph &g, int i);
ImportResult import_batch_norm(ImportGraph &g, int i);
ImportResult import_layer_norm(ImportGraph &g, int i);

// Finds the multi-node patterns (GELU, Swish, BinaryStep, Sign, MatMul + Add)
// and records them in graph.fused / graph.covered.
void find_patterns(ImportGraph &graph);
// Imports node i through the operator table.
ImportResult import_node(ImportGraph &graph, int i);
// "Gemm, MatMul, Relu, ..." for messages.
std::string imported_ops();

} // namespace neurite::interchange::detail
