#pragma once

#include "neurite/core/tensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

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
    // A trained parameter's place in the values block and its first dimension.
    struct Rows {
        size_t offset, size, rows;
    };

    // Binds every host-owned parameter of `modules` into a new arena: values
    // the modules held are copied, the rest initialised by their plugins.
    // The arenas they leave are retired once no module is bound to them.
    // With bf16, a fourth block holds a bfloat16 copy of every trained
    // value, bound to the layers next to the f32 master values.
    static std::shared_ptr<ParameterArena> adopt(std::span<Module *const> modules, bool bf16 = false);

    // Trained parameters (padding between them included: zeros).
    Tensor values() const { return m_values; }
    Tensor grads() const { return m_grads; }
    Tensor buffers() const { return m_buffers; }
    bool has_bf16() const { return m_values_bf16.defined(); }
    // Adds (on) or drops the bf16 block of an arena `modules` are bound to,
    // and binds them again in place: values, gradients and so the views an
    // optimizer holds stay where they are.
    void set_bf16(std::span<Module *const> modules, bool on);
    // Rounds every f32 master value to its bf16 copy (round to nearest
    // even), one pass over the arena; the model calls it before each forward.
    // With several threads each rounds, of every parameter, the rows the
    // optimizers' threads update (sdk::row_block over the first dimension),
    // so it reads the values its own core has just written.
    void refresh_bf16();
    // The bf16 copy of values()[i] (tests read it); 0 without a bf16 block.
    uint16_t value_bf16(int64_t i) const;
    // No module is bound here any more: the model was rebuilt, and views or
    // optimizers still pointing here see memory no layer reads.
    bool retired() const { return m_bound == 0 && m_was_bound; }

private:
    friend class Module;
    void attach_module() { ++m_bound, m_was_bound = true; }
    void detach_module() { --m_bound; }
    void refresh_bf16_all();


    Tensor m_values, m_grads, m_buffers;
    Tensor m_values_bf16; // bf16 pairs packed in floats: values().numel() / 2 of them, rounded up
    std::vector<Rows> m_rows; // every trained parameter, in order
    int m_bound = 0;
    bool m_was_bound = false;
};

} // namespace neurite
