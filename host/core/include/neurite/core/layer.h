#pragma once

#include "neurite/core/desc.h"

#include <neurite/plugin_abi.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace neurite {

class Module;
class Model;

// Anything a model's node runs: a plugin instance (Module) or a nested
// model (Model). Several inputs and outputs, in the descriptors agreed in
// prepare; calls cross as the ABI's nrt_layer_call, which a model builds
// once per shape, so a step allocates nothing.
class Layer : public std::enable_shared_from_this<Layer> {
public:
    virtual ~Layer() = default;
    Layer() = default;
    Layer(const Layer &) = delete;
    Layer &operator=(const Layer &) = delete;

    // The registry name ("Dense"), or "Model" / "Sequential".
    virtual std::string type_name() const = 0;
    // How errors name it: "layer 2 (Dense)", "Add (node 5)".
    const std::string &label() const { return m_label; }
    void set_label(std::string label) { m_label = std::move(label); }

    // src holds each input's descriptor as produced; the layer rewrites the
    // dtype and format it reads (the caller converts). dst receives the
    // outputs' descriptors. Returns the workspace bytes a forward keeps for
    // its backward. Cheap when the inputs are those of the last prepare.
    virtual size_t prepare(std::span<Desc> src, std::vector<Desc> &dst) = 0;
    virtual void forward(const nrt_layer_call &call) = 0;
    // call.accumulate is ignored: each module knows whether its gradients
    // were cleared since its last backward.
    virtual void backward(const nrt_layer_call &call) = 0;
    // Bumped whenever prepare really changed something, so a model can tell
    // that someone else (a script calling a layer alone) re-prepared a node.
    uint64_t prepare_epoch() const { return m_prepare_epoch; }

    virtual void set_training(bool training) { m_training = training; }
    bool training() const { return m_training; }

    // Every plugin instance inside, in a fixed order: this one, or a nested
    // model's modules node by node.
    virtual void collect_modules(std::vector<Module *> &out) = 0;
    // The model this layer is a node of, or nullptr.
    Model *parent() const { return m_parent; }
    void set_parent(Model *parent) { m_parent = parent; }

protected:
    void bump_prepare_epoch() { ++m_prepare_epoch; }

private:
    std::string m_label;
    Model *m_parent = nullptr;
    uint64_t m_prepare_epoch = 0;
    bool m_training = true;
};

} // namespace neurite
