#pragma once

#include "neurite/core/tensor.h"

#include <cstddef>
#include <memory>
#include <span>

namespace neurite {

class Module;

// The memory of a model's host-owned parameters: every trained parameter in
// one contiguous block of values and the same layout in a block of
// gradients, so that an optimizer or an allreduce covers a model in one
// pass; buffers (running statistics) in a third block. Each parameter starts
// on a 64-byte line. Modules hold it by shared_ptr, and so do the parameter
// views handed out, so memory outlives whoever still points into it.
class ParameterArena {
public:
    // Binds every host-owned parameter of `modules` into a new arena: values
    // the modules held are copied, the rest initialised by their plugins.
    // The arenas they leave are retired once no module is bound to them.
    static std::shared_ptr<ParameterArena> adopt(std::span<Module *const> modules);

    // Trained parameters (padding between them included: zeros).
    Tensor values() const { return m_values; }
    Tensor grads() const { return m_grads; }
    Tensor buffers() const { return m_buffers; }
    // No module is bound here any more: the model was rebuilt, and views or
    // optimizers still pointing here see memory no layer reads.
    bool retired() const { return m_bound == 0 && m_was_bound; }

private:
    friend class Module;
    void attach_module() { ++m_bound, m_was_bound = true; }
    void detach_module() { --m_bound; }

    Tensor m_values, m_grads, m_buffers;
    int m_bound = 0;
    bool m_was_bound = false;
};

} // namespace neurite
