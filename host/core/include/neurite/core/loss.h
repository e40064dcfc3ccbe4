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
    double forward(const Tensor &pred, const Tensor &target);
    // Writes d loss / d pred into diff_pred (shaped as pred).
    void backward(const Tensor &pred, const Tensor &target, Tensor &diff_pred);

private:
    [[noreturn]] void fail(const char *call, nrt_status status, const Tensor &pred,
                           const Tensor &target) const;

    const Entry *m_entry;
    const nrt_loss_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    char m_err[1024] = {};
};

} // namespace neurite
