// How a model runs for one set of input shapes: every tensor's descriptor
// and memory, the conversions between formats, the gradient buffers shared
// by liveness, and the nrt_layer_call of every node, built once so that a
// forward and a backward only fill in the caller's pointers.
#pragma once

#include "neurite/core/model.h"

#include <dnnl.hpp>

#include <cstdint>
#include <vector>

namespace neurite::detail {

// A oneDNN reorder between two buffers (another format or dtype), bound
// once; plain f32 to plain bf16 (a bf16 model's inputs) is a rounding loop
// instead, which checks the values are finite in the same pass.
class Conversion {
public:
    Conversion() = default;
    Conversion(const Desc &from, void *src, const Desc &to, void *dst);
    explicit operator bool() const { return static_cast<bool>(m_prim) || m_rounding; }
    void set_src(void *p);
    // Whether run() answers for the finiteness of what it read.
    bool checks_finite() const { return m_rounding; }
    // False when checks_finite() and a value read was NaN or Inf.
    bool run() const;

private:
    dnnl::reorder m_prim;
    dnnl::memory m_src, m_dst;
    dnnl_exec_arg_t m_args[2] = {};
    bool m_rounding = false; // the rounding loop, of m_count elements
    size_t m_count = 0;
    const float *m_from = nullptr;
    uint16_t *m_to = nullptr;
};

// Input k of a node: where it reads from and where its gradient goes.
struct EdgePlan {
    int value = -1;      // the tensor it reads
    Desc read;           // as the node reads it
    Tensor converted;    // read != produced: the converted copy, kept for backward
    Conversion to_read;  // produced -> read
    // Backward: the layer writes the gradient straight into the value's
    // gradient (direct), or into `temp` in the read format, which is then
    // converted back (into `temp2` unless it is the first contribution)
    // and added.
    bool first = false;
    bool direct = false;
    int temp = -1, temp2 = -1; // gradient-pool slots
    Conversion grad_back;
};

struct NodePlan {
    std::vector<EdgePlan> edges;
    std::vector<int> out_values;
    std::vector<Desc> offered;  // the inputs' descriptors as produced
    std::vector<Desc> produced; // the outputs' descriptors
    Tensor workspace;
    std::vector<nrt_tensor> src, dst, diff_dst, diff_src;
    nrt_layer_call call{};
    uint64_t epoch = 0;      // the layer's prepare epoch when planned
    bool needs_backward = true;
};

struct ValuePlan {
    Desc desc;          // as produced
    Tensor act;         // a node's output (graph inputs: the caller's memory)
    int grad = -1;      // gradient-pool slot during backward
    Tensor zero;        // d loss / d value for an output nothing reads
    bool caller_grad = false; // a graph output whose gradient is the caller's tensor
    std::vector<std::pair<int, int>> readers; // (node, edge) that read it
};

struct Plan {
    std::vector<Shape> input_shapes;
    std::vector<ValuePlan> values; // model inputs first, then node outputs
    std::vector<int> value_base;   // first value id of node i's outputs
    std::vector<NodePlan> nodes;   // by node index
    std::vector<Tensor> grad_pool;
    std::vector<Tensor> outputs;   // returned to the caller
    std::vector<Conversion> output_conversions; // per output, when not plain f32
    std::vector<Tensor> input_grads;
    // Model outputs whose gradient needs a copy or conversion: (output, temp slot or -1).
    std::vector<std::pair<int, int>> output_grad_temps;
    std::vector<bool> output_first;
    std::vector<Conversion> output_grad_conversions; // plain -> the output's format

};

// Builds the plan: prepares every node (the caller binds parameters after),
// then lays out memory.
std::unique_ptr<Plan> build_plan(Model &model, const std::vector<int> &order,
                                 std::span<const Shape> input_shapes);
// Converts the model's inputs for the nodes that read them in another
// format or dtype, before any node runs; returns the first input a
// conversion found NaN or Inf in, or -1.
int convert_inputs(Plan &plan, const std::vector<int> &order, std::span<const Tensor> inputs);
// Whether the inputs' conversions check input i for NaN and Inf.
bool input_checked_by_conversion(const Plan &plan, const std::vector<int> &order, size_t input);
void run_forward(Model &model, Plan &plan, const std::vector<int> &order,
                 std::span<const Tensor> inputs);
void run_backward(Model &model, Plan &plan, const std::vector<int> &order,
                  std::span<const Tensor> inputs, std::span<const Tensor> output_grads,
                  bool input_grads);

// 64-byte aligned, zero-filled memory for `bytes`.
Tensor raw_buffer(size_t bytes);
// The first elements of a raw_buffer as `shape`, sharing its storage: what a
// caller gets (outputs, input gradients) keeps the memory alive even when
// the plan is dropped (a new input shape, a changed model, a freed model).
Tensor buffer_view(const Tensor &buffer, const Shape &shape);

} // namespace neurite::detail
