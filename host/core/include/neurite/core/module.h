#pragma once

#include "neurite/core/registry.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace neurite {

class Module;

// A learnable parameter: views into the plugin's own value and gradient memory.
// Before reading grad, call owner->sync_grads() (a deferred zero_grad may not
// have cleared the memory yet); Optimizer::step does.
struct Parameter {
    std::string name;
    Tensor value;
    Tensor grad;
    Module *owner = nullptr;
};

// A live layer or activation instance from the registry. Errors name the
// layer by its label ("layer 2 (Dense)") and the shapes involved.
class Module {
public:
    Module(const Entry &entry, void *self, ParamList config);
    ~Module();
    Module(const Module &) = delete;
    Module &operator=(const Module &) = delete;

    const Entry &entry() const { return *m_entry; }
    const std::string &name() const { return m_entry->name; }
    const ParamList &config() const { return m_config; }
    const std::string &label() const { return m_label; }
    void set_label(std::string label) { m_label = std::move(label); }

    // The output shape for this input shape; the plugin is asked only when
    // the input shape changes.
    const Shape &prepare(const Shape &src);
    // dst must already have the prepared output shape.
    void forward(const Tensor &src, Tensor &dst, bool training);
    void backward(const Tensor &src, const Tensor &dst, const Tensor &diff_dst, Tensor *diff_src);

    // Views into the plugin's memory: writing into value changes the layer.
    const std::vector<Parameter> &parameters() const { return m_params; }
    std::vector<Parameter> &parameters() { return m_params; }
    int64_t parameter_count() const;
    // deferred: the caller promises to read no gradient before the next
    // backward or sync_grads(); the plugin may then skip a pass over memory.
    // An immediate clear is checked (so is the first clear after a backward,
    // made immediate): a gradient the plugin left non-zero raises an Error.
    void zero_grad(bool deferred = false);
    // Makes a deferred zero_grad visible in the gradient memory.
    void sync_grads();

    std::vector<uint8_t> save_extra_state() const;
    void load_extra_state(const std::vector<uint8_t> &bytes);

private:
    [[noreturn]] void fail(const char *call, nrt_status status, const char *message) const;
    // Raises when a gradient is not 0 after the plugin's immediate zero_grad.
    void check_grads_cleared() const;

    const Entry *m_entry;
    const nrt_layer_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    std::string m_label;
    std::vector<Parameter> m_params;
    bool m_zero_pending = false;
    bool m_backward_done = false; // gradients may be non-zero since
    bool m_clear_checked = false; // an immediate zero_grad after a backward was checked
    Shape m_src_shape;
    Shape m_dst_shape;
    mutable char m_err[1024] = {};
};

} // namespace neurite
