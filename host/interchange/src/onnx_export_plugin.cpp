// A plugin's own ONNX form (ABI 1.2's onnx_form slot). The plugin writes its
// layer as nodes in ONNX's textual syntax; ONNX's own parser reads them, their
// value names are mapped into the exported graph (X0.. to the layer's inputs,
// Y0.. to its outputs, parameter names to initializers, everything else to
// names of this node's own), and each node is checked against its
// operator's schema here, so that a mistake names the layer and the plugin
// instead of surfacing later from the whole-model check.
#include "onnx_export_internal.h"

#include <onnx/checker.h>
#include <onnx/defs/parser.h>
#include <onnx/defs/schema.h>

#include <map>

namespace neurite::interchange::detail {

namespace {

// "X3" -> 3 for letter 'X'; -1 when the name is not such a port.
int port_index(const std::string &name, char letter)
{
    if (name.size() < 2 || name.size() > 4 || name[0] != letter || (name[1] == '0' && name.size() > 2))
        return -1;
    int index = 0;
    for (size_t i = 1; i < name.size(); ++i) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        index = index * 10 + (name[i] - '0');
    }
    return index;
}

std::string parameter_names(const ExportNode &n)
{
    std::string names;
    for (const auto &p : n.node.parameters)
        names += (names.empty() ? "" : ", ") + p.first;
    return names.empty() ? "none" : names;
}

class FormSplicer {
public:
    FormSplicer(ExportNode &n, const std::string &origin) : m_n(n), m_origin(origin) {}

    void splice(onnx::NodeList &nodes)
    {
        if (nodes.empty())
            fail("has no node");
        for (onnx::NodeProto &node : nodes) {
            for (const onnx::AttributeProto &a : node.attribute())
                if (a.has_g() || a.graphs_size() > 0)
                    fail("node " + node.op_type() + " holds a subgraph (attribute '" + a.name() +
                         "'); control flow is not supported in a plugin's ONNX form");
            for (std::string &in : *node.mutable_input())
                in = input(in);
            for (std::string &out : *node.mutable_output())
                out = output(out);
            node.set_name(node.output_size() > 0 ? node.output(0) : m_n.temp(node.op_type()));
            check(node);
            *m_n.graph.proto().add_node() = node;
        }
        for (size_t k = 0; k < m_written.size(); ++k)
            if (!m_written[k])
                fail("writes Y" + std::to_string(m_written.size() - 1) + " but not Y" + std::to_string(k));
        if (m_written.empty())
            fail("writes no output (name the layer's output Y0)");
    }

private:
    [[noreturn]] void fail(const std::string &why) const
    {
        m_n.fail("its ONNX form (from " + m_origin + ") " + why);
    }

    std::string input(const std::string &name)
    {
        if (name.empty())
            return name; // an optional input left out
        if (auto it = m_names.find(name); it != m_names.end())
            return it->second;
        if (const int k = port_index(name, 'X'); k >= 0) {
            if (k >= static_cast<int>(m_n.inputs.size()))
                fail("reads " + name + " but the layer has " + std::to_string(m_n.inputs.size()) + " input(s)");
            return m_n.inputs[static_cast<size_t>(k)];
        }
        if (m_n.has_param(name))
            return m_names[name] = m_n.param(name);
        fail("reads '" + name + "', which is not an input (X0, X1, ...), a parameter (" + parameter_names(m_n) +
             ") or a value an earlier node of the form writes");
    }

    std::string output(const std::string &name)
    {
        if (name.empty())
            return name; // an optional output left out
        if (m_names.count(name) || port_index(name, 'X') >= 0 || m_n.has_param(name))
            fail("writes '" + name + "', which is an input, a parameter or a value written before");
        const int k = port_index(name, 'Y');
        std::string mapped;
        if (k < 0) {
            mapped = m_n.temp(name);
        } else {
            if (static_cast<size_t>(k) >= m_written.size())
                m_written.resize(static_cast<size_t>(k) + 1, false);
            m_written[static_cast<size_t>(k)] = true;
            while (m_n.outputs.size() <= static_cast<size_t>(k))
                m_n.outputs.push_back(m_n.graph.fresh(m_n.outputs[0] + "_" + std::to_string(m_n.outputs.size())));
            mapped = m_n.outputs[static_cast<size_t>(k)];
        }
        return m_names[name] = mapped;
    }

    // The operator's schema at the export's opset: its inputs, outputs and
    // attributes. Values' types are checked with the whole model.
    void check(const onnx::NodeProto &node) const
    {
        onnx::checker::CheckerContext context;
        context.set_ir_version(onnx::IR_VERSION);
        context.set_opset_imports({{"", m_n.graph.opset()}});
        context.set_schema_registry(onnx::OpSchemaRegistry::Instance());
        onnx::checker::LexicalScopeContext scope;
        try {
            onnx::checker::check_node(node, context, scope);
        } catch (const std::exception &e) {
            fail("has a node the ONNX checker refuses at opset " + std::to_string(m_n.graph.opset()) + ": " +
                 e.what());
        }
    }

    ExportNode &m_n;
    const std::string &m_origin;
    std::map<std::string, std::string> m_names; // the form's names -> the graph's
    std::vector<bool> m_written;                // Y0, Y1, ... seen
};

} // namespace

void export_plugin_form(ExportNode &n, const std::string &text, const std::string &origin)
{
    onnx::NodeList nodes;
    onnx::OnnxParser parser(text.c_str());
    const onnx::Status parsed = parser.Parse(nodes);
    if (!parsed.IsOK())
        n.fail("its ONNX form (from " + origin + ") does not parse as ONNX's textual syntax: " +
               parsed.ErrorMessage());
    if (!parser.EndOfInput())
        n.fail("its ONNX form (from " + origin + ") has text after the closing brace of its node list");
    FormSplicer(n, origin).splice(nodes);
}

} // namespace neurite::interchange::detail
