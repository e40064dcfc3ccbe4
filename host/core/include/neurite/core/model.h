#pragma once

#include "neurite/core/layer.h"
#include "neurite/core/module.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace neurite {

class ParameterArena;
namespace detail {
struct Plan;
}

// A model is a graph: nodes are layers (plugin instances or nested models),
// edges are tensors. A node may read several tensors and write several; a
// tensor may feed several nodes, and backward adds their gradients. Nodes
// run in topological order, in buffers planned once per set of input shapes
// (a step on known shapes allocates nothing); gradient buffers are reused
// as soon as no node needs them. Every host-owned parameter of every node,
// nested models included, lives in one ParameterArena.
//
// Torch's contract: forward(x) returns the outputs; backward(x, grad_output)
// returns the input gradients and adds to every parameter's gradient.
class Model : public Layer {
public:
    // A tensor of the graph: output `index` of node `node`, or the model's
    // input `index` when node is kInput.
    static constexpr int kInput = -1;
    struct Ref {
        int node = kInput;
        int index = 0;
        bool operator==(const Ref &o) const { return node == o.node && index == o.index; }
    };
    struct Node {
        std::shared_ptr<Layer> layer;
        std::vector<Ref> inputs;
    };
    struct Input {
        std::string name;
        std::optional<Shape> sample_shape; // one sample's shape, when declared (nn.Input)
    };

    explicit Model(std::string type_name = "Model");
    ~Model() override;

    // ---- building. Any change drops the prepared plans and, at the next
    // use, re-binds the parameters into a new arena.
    int add_input(std::optional<Shape> sample_shape = std::nullopt, std::string name = {});
    // Adds a node that reads `inputs` (references to nodes added later are
    // allowed; finalize orders them) and returns its index. A layer belongs
    // to one model at most.
    int add_node(std::shared_ptr<Layer> layer, std::vector<Ref> inputs);
    // A node that runs a layer without owning it (LayerRunner): the layer
    // keeps its model, its label and its parameters where they are.
    int add_borrowed_node(std::shared_ptr<Layer> layer, std::vector<Ref> inputs);
    void set_outputs(std::vector<Ref> outputs);
    // Checks and orders the graph; errors name the nodes: a reference to
    // nothing, a cycle, a node or an input that no output uses. Runs by
    // itself at the first use.
    void finalize();

    int input_count() const { return static_cast<int>(m_inputs.size()); }
    int output_count() const { return static_cast<int>(m_outputs.size()); }
    int node_count() const { return static_cast<int>(m_nodes.size()); }
    const Input &input(int i) const { return m_inputs.at(static_cast<size_t>(i)); }
    const Node &node(int i) const { return m_nodes.at(static_cast<size_t>(i)); }
    Layer &layer(int i) const { return *m_nodes.at(static_cast<size_t>(i)).layer; }
    const std::vector<Ref> &outputs() const { return m_outputs; }
    // "node 3 (Dense)", "input 1".
    std::string ref_text(const Ref &r) const;

    // ---- running. Inputs and outputs are plain f32. The returned tensors
    // are the model's buffers, valid until its next forward.
    const std::vector<Tensor> &forward(std::span<const Tensor> inputs);
    const Tensor &forward(const Tensor &input);
    // inputs must be those of the last forward. With input_grads false no
    // input gradient is computed (training needs none) and the returned
    // tensors are empty.
    const std::vector<Tensor> &backward(std::span<const Tensor> inputs,
                                        std::span<const Tensor> output_grads, bool input_grads = true);
    const Tensor &backward(const Tensor &input, const Tensor &grad_output, bool input_grad = true);
    // Output `index` of node `node` from the last forward, as plain f32 (a
    // copy when the node wrote a blocked format); for pictures of feature maps.
    Tensor node_output(int node, int index = 0);

    // True while a forward, backward or plan of this model (or of a model
    // it is a node of) runs: a Lua-defined layer inside it must not run,
    // change or reload the same model, whose buffers are in use.
    bool running() const;
    // Throws "<what>: the model ... is computing" when running().
    void require_idle(const std::string &what) const;

    void zero_grad();
    // Node by node, nested models in place; buffers included (flagged).
    std::vector<Parameter> parameters();
    int64_t parameter_count();
    // The arena every host-owned parameter lives in (bound on first use).
    std::shared_ptr<ParameterArena> arena();
    // The precision layers compute in: F32, or BF16 (mixed precision: the
    // arena keeps f32 master values and a bf16 copy refreshed before each
    // forward; layers with a bf16 path read and write bf16 tensors, the
    // others f32, converted at their boundary; outputs stay f32). A model
    // inside another follows the outermost one. BF16 throws on a CPU without
    // bf16 instructions (require_bf16). New models start in
    // default_precision().
    void set_precision(DType precision);
    DType precision() const;
    void set_training(bool training) override;
    void train() { set_training(true); }
    void eval() { set_training(false); }

    // ---- as a node of another model: reads and writes plain f32.
    std::string type_name() const override { return m_type_name; }
    size_t prepare(std::span<Desc> src, std::vector<Desc> &dst) override;
    void forward(const nrt_layer_call &call) override;
    void backward(const nrt_layer_call &call) override;
    void collect_modules(std::vector<Module *> &out) override;

    // ---- time per node, for benchmarks (neurite-bench --phases). While on,
    // every forward and backward adds each node's time, the conversions of
    // its inputs and of its input gradients included, to node_times()
    // (indexed by node); off, it costs a branch per node.
    struct NodeTime {
        double forward_us = 0, backward_us = 0;
    };
    void set_node_timing(bool on);
    const std::vector<NodeTime> &node_times() const { return m_node_times; }
    // nullptr unless timing is on.
    NodeTime *node_time(int node)
    {
        if (!m_node_timing)
            return nullptr;
        if (m_node_times.size() <= static_cast<size_t>(node))
            m_node_times.resize(static_cast<size_t>(node) + 1);
        return &m_node_times[static_cast<size_t>(node)];
    }

    // ---- shapes without running (input shapes with the batch dimension).
    struct SummaryRow {
        int index;            // 1-based
        std::string name;     // "Dense"
        std::vector<Desc> outputs;
        int64_t parameters;
        std::vector<std::string> inputs; // "input 1", "node 2", "node 3:2"
    };
    std::vector<SummaryRow> summary(std::span<const Shape> input_shapes);
    std::string summary_text(std::span<const Shape> input_shapes);
    // The output descriptors of every node for these inputs.
    std::vector<std::vector<Desc>> node_outputs(std::span<const Shape> input_shapes);
    // One sample's shape of input i (without the batch dimension) as the
    // model last ran; nothing before its first run.
    std::optional<Shape> last_sample_shape(int i) const;

protected:
    void invalidate();
    std::vector<std::unique_ptr<detail::Plan>> &plans() { return m_plans; }

private:
    detail::Plan &plan_for(std::span<const Shape> shapes);
    void bind_parameters();
    // Counts and shapes; NaN and Inf too unless `finite` is false (forward
    // checks them where its plan does not: require_finite_input).
    void check_inputs(std::span<const Tensor> inputs, const char *call, bool finite = true) const;
    void require_finite_input(size_t i, const Tensor &x) const;
    // An input declared [F] (nn.Input{784}) takes samples of any shape of F
    // values, e.g. images [N, 1, 28, 28], and runs on the view [N, F], as
    // Dense flattens its input itself.
    bool flattens_to_declared(size_t i, const Tensor &x) const;
    Tensor as_declared(size_t i, const Tensor &x) const;

    std::string m_type_name;
    std::vector<Input> m_inputs;
    std::vector<Node> m_nodes;
    std::vector<Ref> m_outputs;
    std::vector<int> m_order; // topological order of node indices
    bool m_finalized = false;
    bool m_bound = false;
    bool m_borrowed = false;
    bool m_running = false;
    bool m_called_by_parent = false;
    friend class RunningScope;
    std::shared_ptr<ParameterArena> m_arena;
    DType m_precision;
    bool m_node_timing = false;
    std::vector<NodeTime> m_node_times;
    std::vector<std::unique_ptr<detail::Plan>> m_plans; // most recently used last
    detail::Plan *m_last = nullptr;                     // the plan of the last forward
    // For the single-tensor forms and nested use.
    std::vector<Tensor> m_single_in;
    std::vector<Tensor> m_empty;
    std::vector<Tensor> m_input_grad_views; // input gradients reshaped to inputs as_declared flattened
};

// Runs one layer on its own, as a one-node model that borrows it: a script
// calling a layer (or a layer of a model) directly, gradient checks, tools.
// Conversions between formats and the layer's workspace are handled as in
// any model. The layer's training mode decides its behaviour.
class LayerRunner {
public:
    explicit LayerRunner(std::shared_ptr<Layer> layer);
    Layer &layer() const { return *m_layer; }
    const std::vector<Tensor> &forward(std::span<const Tensor> inputs);
    const Tensor &forward(const Tensor &input);
    const std::vector<Tensor> &backward(std::span<const Tensor> inputs,
                                        std::span<const Tensor> output_grads, bool input_grads = true);
    const Tensor &backward(const Tensor &input, const Tensor &grad_output, bool input_grad = true);
    // Output shapes for these input shapes, without running.
    std::vector<Shape> output_shapes(std::span<const Shape> inputs);

private:
    Model &model_for(size_t inputs, std::span<const Shape> shapes);

    std::shared_ptr<Layer> m_layer;
    std::unique_ptr<Model> m_model;
    size_t m_inputs = 0;
};

// Layers applied in order: a model whose nodes form a chain, built one
// layer at a time (Torch's nn.Sequential). The same engine as any model.
class Sequential : public Model {
public:
    Sequential() : Model("Sequential") {}
    // Appends a layer reading the previous one's (first) output.
    void add(std::shared_ptr<Layer> layer);
    int size() const { return node_count(); }
    Layer &at(int i) const { return layer(i); }
    // The plugin instance at i; an Error when node i is a nested model.
    Module &module_at(int i) const;
};

} // namespace neurite
