#pragma once

#include "neurite/core/module.h"

#include <cstdint>
#include <functional>
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

    // Refuses while sharded: each rank holds a part (dist gathers it).
    std::vector<uint8_t> save_state() const;
    void load_state(const std::vector<uint8_t> &bytes);

    // ABI 1.3's shard slot, for a data-parallel step split between ranks:
    // step() updates, and the plugin keeps state for, the elements [begin,
    // end) of the attached parameters taken in order; grads_finite() reads
    // those alone. False (and nothing changes) when the plugin cannot: an
    // older plugin, or NRT_ERR_UNSUPPORTED. [0, elements()) undoes it.
    bool shard(uint64_t begin, uint64_t end);
    bool sharded() const { return m_shard_begin > 0 || m_shard_end < elements(); }
    // The attached parameters' elements, all together.
    uint64_t elements() const { return m_elements; }
    const std::vector<Parameter> &params() const { return m_params; }
    // The state as the plugin saves it, also while sharded (the part's
    // values, zero bits elsewhere): what dist merges over the ranks.
    std::vector<uint8_t> save_part_state() const;
    // Runs after every step (dist: gathers what each rank stepped); empty
    // to stop.
    void set_after_step(std::function<void()> after) { m_after_step = std::move(after); }

private:
    [[noreturn]] void fail(const std::string &call, nrt_status status) const;
    // Makes deferred gradient clearing visible; raises when the model was rebuilt.
    void sync_attached();

    const Entry *m_entry;
    const nrt_optimizer_vtable *m_vt;
    void *m_self;
    ParamList m_config;
    std::vector<Parameter> m_params;
    uint64_t m_elements = 0;
    uint64_t m_shard_begin = 0, m_shard_end = 0;
    std::function<void()> m_after_step;
    bool m_attached = false;
    mutable char m_err[1024] = {};
};

} // namespace neurite
