#pragma once

#include "neurite/core/module.h"

#include <cstdint>
#include <string>
#include <vector>

namespace neurite {

// An optimizer instance from the registry, bound to one parameter list.
class Optimizer {
public:
    Optimizer(const Entry &entry, void *self, ParamList config);
    ~Optimizer();
    Optimizer(const Optimizer &) = delete;
    Optimizer &operator=(const Optimizer &) = delete;

    const Entry &entry() const { return *m_entry; }
    const ParamList &config() const { return m_config; }

    // Once, before the first step.
    void attach(const std::vector<Parameter> &params);
    void step();
    void zero_grad();
    // False when a gradient of the attached parameters holds inf or NaN:
    // checked before step(), it keeps the parameters at their last finite
    // values (one pass over the gradients, as a mixed-precision loss scaler makes).
    bool grads_finite();

    double option(const std::string &name) const;
    void set_option(const std::string &name, double value);

    std::vector<uint8_t> save_state() const;
    void load_state(const std::vector<uint8_t> &bytes);

private:
    [[noreturn]] void fail(const std::string &call, nrt_status status) const;
    // Makes deferred gradient clearing visible; raises when the model was rebuilt.
    void sync_attached();

    const Entry *m_entry;
    const nrt_optimizer_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    std::vector<Parameter> m_params;
    bool m_attached = false;
    mutable char m_err[1024] = {};
};

} // namespace neurite
