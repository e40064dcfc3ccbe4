#pragma once

#include "neurite/core/layer.h"
#include "neurite/core/registry.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace neurite {

class Module;
class ParameterArena;

// A parameter as the host hands it out: views of its value and gradient,
// and what keeps that memory alive. Before reading grad, call
// owner->sync_grads() (a deferred zero_grad may not have cleared it yet);
// Optimizer::step does.
struct Parameter {
    std::string name;
    Tensor value;
    Tensor grad; // undefined for buffers
    bool buffer = false;
    std::shared_ptr<Module> owner;
    // Where the memory lives: the arena of the model (ABI 1.1 layers), or
    // nullptr for an ABI 1.0 plugin's own memory.
    std::shared_ptr<ParameterArena> arena;
};

// A live layer or activation instance from the registry, ABI 1.0 or 1.1,
// driven through one interface. Errors name the layer by its label
// ("layer 2 (Dense)") and the shapes involved. Always held by shared_ptr
// (Registry::create_layer makes it so): parameters keep their owner alive.
class Module final : public Layer {
public:
    // One declared parameter and where it is bound now.
    struct Slot {
        std::string name;
        Shape shape;
        bool buffer = false;
        Tensor value;
        Tensor grad;
    };

    Module(const Entry &entry, void *self, ParamList config);
    ~Module() override;

    const Entry &entry() const { return *m_entry; }
    const std::string &name() const { return m_entry->name; }
    const ParamList &config() const { return m_config; }
    std::string type_name() const override { return m_entry->name; }
    // Driven through ABI 1.1's prepare2/forward2/backward2.
    bool is_graph_layer() const { return m_v11; }
    // Its parameters live in host memory (ABI 1.1 bind_params).
    bool host_owned() const { return m_host_owned; }

    size_t prepare(std::span<Desc> src, std::vector<Desc> &dst) override;
    // One plain f32 input, one output: its shape.
    Shape prepare(const Shape &src);
    void forward(const nrt_layer_call &call) override;
    void backward(const nrt_layer_call &call) override;
    void collect_modules(std::vector<Module *> &out) override { out.push_back(this); }

    const std::vector<Slot> &param_slots() const { return m_slots; }
    std::vector<Parameter> parameters();
    // Trained elements; buffers do not count.
    int64_t parameter_count() const;
    // deferred: the caller promises to read no gradient before the next
    // backward or sync_grads(), so the clearing can happen in that backward.
    // An ABI 1.0 plugin's immediate clear is checked (so is its first clear
    // after a backward, made immediate): a gradient left non-zero raises.
    void zero_grad(bool deferred = false);
    // Makes a deferred zero_grad visible in the gradient memory.
    void sync_grads();

    // Host-owned parameters: the arena they are bound to (nullptr before
    // the first binding and for ABI 1.0 plugins).
    const std::shared_ptr<ParameterArena> &arena() const { return m_arena; }
    // Binds the slots to memory in `arena` (values[i] and grads[i] for slot i;
    // grads[i] is null for buffers). Values the module already held are
    // copied over; a module bound for the first time is initialised.
    // lows[i], when given, is the bf16 copy of values[i] (null for buffers).
    void bind(const std::shared_ptr<ParameterArena> &arena, std::span<float *const> values,
              std::span<float *const> grads, std::span<uint16_t *const> lows = {});
    // Puts unbound host-owned parameters in an arena of their own, so a
    // layer used alone has memory. Models rebind their modules into theirs.
    void ensure_bound();

    // One plain f32 input and output in the caller's memory (after
    // prepare(src.shape())), with a workspace the module keeps: for tools
    // that check a plugin on buffers they control. Layers that read another
    // format run through a LayerRunner instead.
    void forward_plain(const Tensor &src, Tensor &dst, bool training);
    void backward_plain(const Tensor &src, const Tensor &dst, const Tensor &diff_dst, Tensor *diff_src);

    std::vector<uint8_t> save_extra_state() const;
    void load_extra_state(const std::vector<uint8_t> &bytes);

    // The plugin's ONNX form of this instance (ABI 1.2's onnx_form, in ONNX's
    // textual syntax), or nothing when it gives none. A failing call raises.
    std::optional<std::string> onnx_form(int opset) const;

private:
    [[noreturn]] void fail(const char *call, nrt_status status, const char *message) const;
    // Raises when a gradient is not 0 after an ABI 1.0 plugin's immediate zero_grad.
    void check_grads_cleared() const;
    void read_declarations();
    size_t prepare_v10(std::span<Desc> src, std::vector<Desc> &dst);
    size_t prepare_v11(std::span<Desc> src, std::vector<Desc> &dst);

    const Entry *m_entry;
    const nrt_layer_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    bool m_v11 = false;
    bool m_host_owned = false;
    bool m_initialised = false;
    std::vector<Slot> m_slots;
    std::shared_ptr<ParameterArena> m_arena;
    bool m_zero_pending = false;
    bool m_backward_done = false; // gradients may be non-zero since
    bool m_clear_checked = false; // an immediate zero_grad after a backward was checked
    // The last prepare, to answer the same inputs without asking the plugin.
    std::vector<Desc> m_src_offered, m_src_read, m_dst;
    size_t m_workspace = 0;
    // Elements of the inputs, outputs and parameters at the last prepare.
    int64_t m_call_elements = 0;
    // A native plugin's small call runs on one thread (ComputeContext::SerialScope).
    // A Lua layer is not: the layers it calls decide for themselves.
    bool runs_serial() const;
    Tensor m_plain_workspace;
    mutable char m_err[1024] = {};
};

} // namespace neurite
