#pragma once

#include "neurite/core/module.h"

#include <memory>
#include <string>
#include <vector>

namespace neurite {

// Layers applied in order, Torch's contract: forward(x) returns the output;
// backward(x, grad_output) returns the input gradient and adds to every
// parameter's gradient. Activations and their gradients live in buffers the
// model owns and reuses, so a step on a known shape allocates nothing.
class Sequential {
public:
    struct SummaryRow {
        int index;
        std::string name;
        Shape output;
        int64_t parameters;
    };

    void add(std::unique_ptr<Module> layer);
    int size() const { return static_cast<int>(m_layers.size()); }
    Module &at(int i) { return *m_layers.at(static_cast<size_t>(i)); }
    const Module &at(int i) const { return *m_layers.at(static_cast<size_t>(i)); }

    // The returned tensor is the model's buffer, valid until the next forward.
    const Tensor &forward(const Tensor &input);
    // With input_grad false the first layer skips its input gradient (it is
    // not needed to train) and an empty tensor is returned.
    const Tensor &backward(const Tensor &input, const Tensor &grad_output, bool input_grad = true);

    // The output of layer i (0-based) from the last forward.
    const Tensor &output(int i) const { return m_out.at(static_cast<size_t>(i)).view; }

    void zero_grad();
    std::vector<Parameter> parameters() const;
    int64_t parameter_count() const;

    void train() { m_training = true; }
    void eval() { m_training = false; }
    bool training() const { return m_training; }

    // Output shapes for an input of this shape, without running the model.
    std::vector<SummaryRow> summary(const Shape &input);
    std::string summary_text(const Shape &input);

private:
    // Holds a tensor of a changing shape in memory that only grows.
    struct Buffer {
        Tensor storage;
        Tensor view;
        void resize(const Shape &shape);
    };

    void prepare(const Shape &input);

    std::vector<std::unique_ptr<Module>> m_layers;
    std::vector<Buffer> m_out;  // output of layer i
    std::vector<Buffer> m_diff; // gradient w.r.t. the output of layer i (i < n-1)
    Buffer m_diff_input;
    Tensor m_empty;
    Shape m_input_shape;
    bool m_prepared = false;
    bool m_training = true;
};

} // namespace neurite
