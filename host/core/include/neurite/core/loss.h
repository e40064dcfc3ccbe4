#pragma once

#include "neurite/core/registry.h"
#include "neurite/core/tensor.h"

namespace neurite {

// A loss instance from the registry.
class LossFunction {
public:
    LossFunction(const Entry &entry, void *self, ParamList config);
    ~LossFunction();
    LossFunction(const LossFunction &) = delete;
    LossFunction &operator=(const LossFunction &) = delete;

    const Entry &entry() const { return *m_entry; }
    const ParamList &config() const { return m_config; }

    // Whether the target holds class indices for these tensors: as the loss
    // declares (Entry::loss_target). A loss of ABI 1.0 declares nothing; for
    // it the rule of 1.0 hosts stays: class indices when the prediction is
    // 2-D and the target has one value per row ([N], or [N, 1] against more
    // than one column). The one place that decides; Lua's 1-based class
    // numbers are shifted by what it answers.
    bool takes_class_indices(const Tensor &pred, const Tensor &target) const;

    // A loss that takes targets shaped as its prediction also accepts [N]
    // for a prediction [N, 1] (as Keras does; PyTorch would broadcast to
    // [N, N]); any other shape is refused here, naming both.
    double forward(const Tensor &pred, const Tensor &target);
    // Writes d loss / d pred into diff_pred (shaped as pred).
    void backward(const Tensor &pred, const Tensor &target, Tensor &diff_pred);

private:
    // The target as the plugin receives it, after the shape rule above.
    nrt_tensor target_desc(const Tensor &pred, const Tensor &target) const;
    [[noreturn]] void fail(const char *call, nrt_status status, const Tensor &pred,
                           const Tensor &target) const;

    const Entry *m_entry;
    const nrt_loss_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    char m_err[1024] = {};
};

} // namespace neurite
