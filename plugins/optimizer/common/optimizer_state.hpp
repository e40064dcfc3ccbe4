// Shared by the built-in optimizers: parameter bookkeeping, per-parameter
// state buffers, the state blob format, option validation, the
// element-parallel loop and OptimizerBase, which ties them together.
// Header-only and built on the SDK alone, so every optimizer library stays
// self-contained.
//
// State blob (native endianness, read back by the same machine family):
//   u32 magic 'NOPT', u32 format version, char[16] optimizer name,
//   u64 step count, u32 flags (optimizer specific),
//   u32 parameter count, u32 buffers per parameter,
//   then for every parameter, for every buffer: u64 element count, floats.
// Hyper-parameters are deliberately not part of it: they come from the
// instance's creation parameters, so resuming with a new lr keeps that lr.
//
// Sharded (ABI 1.3's shard slot: each rank of a data-parallel run steps a
// part of the model), the state buffers cover the part alone; the blob
// keeps its format, zeros outside the part (the host ORs the ranks' blobs).
#ifndef NEURITE_OPTIMIZER_STATE_HPP
#define NEURITE_OPTIMIZER_STATE_HPP

#include <neurite/plugin.hpp>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace neurite::optimizer {

namespace sdk = neurite::sdk;

inline constexpr uint32_t kStateMagic = 0x54504F4Eu; // "NOPT" in memory order
inline constexpr uint32_t kStateVersion = 1;
inline constexpr size_t kNameBytes = 16;

// Below this many elements in total a fork/join costs more than it saves.
inline constexpr size_t kParallelMinElements = 65536;

// Upper bound for rate-like parameters in the schema; generous on purpose,
// it only exists so that forms and help show that negative values are wrong.
inline constexpr double kMaxRate = 1e6;

// ---------------------------------------------------------------- options

// %g, because std::to_string prints 1e-8 as 0.000000.
inline std::string number_string(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
}

// Checks a value against its schema entry, so ranges are written only once.
inline void check_option(const char *owner, std::span<const nrt_param_spec> specs,
                         std::string_view name, double value)
{
    for (const nrt_param_spec &spec : specs) {
        if (name != spec.name)
            continue;
        const std::string quoted = std::string(owner) + ": '" + std::string(name) + "'";
        if (!std::isfinite(value))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, quoted + " must be finite");
        if (spec.type == NRT_PARAM_BOOL && value != 0.0 && value != 1.0)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, quoted + " is a bool and takes 0 or 1, not " +
                                                    number_string(value));
        if (spec.min <= spec.max && (value < spec.min || value > spec.max))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, quoted + " = " + number_string(value) +
                                                    " is outside [" + number_string(spec.min) +
                                                    ", " + number_string(spec.max) + "]");
        return;
    }
    // Options that are not schema entries themselves (beta1/beta2) are
    // checked by their optimizer; here only finiteness matters.
    if (!std::isfinite(value))
        sdk::fail(NRT_ERR_INVALID_ARGUMENT,
                  std::string(owner) + ": '" + std::string(name) + "' must be finite");
}

// The schema range is inclusive, so open upper bounds are checked here.
inline void require_below_one(const char *owner, std::string_view name, double value)
{
    if (!(value >= 0.0 && value < 1.0))
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(owner) + ": '" + std::string(name) +
                                                "' = " + number_string(value) +
                                                " must be in [0, 1)");
}

// ---------------------------------------------------------------- buffers

// A state buffer of n floats, each set to init (sdk::Buffer is 64-byte
// aligned, so the update loops start on a full cache line).
inline sdk::Buffer make_buffer(size_t n, float init)
{
    sdk::Buffer b(n);
    std::fill_n(b.data(), n, init);
    return b;
}

// One attached parameter, as the update loops see it.
struct Slot {
    float *value = nullptr;
    const float *grad = nullptr;
    size_t size = 0;
    size_t offset = 0; // position in the concatenation of all parameters
    size_t rows = 1;   // first dimension: threads split the work by rows
    std::string name;
    // The elements [lo, hi) of this parameter are stepped and have state:
    // all of them unless the optimizer is sharded.
    size_t lo = 0;
    size_t hi = 0;
};

// Buffer kinds an optimizer keeps per parameter, e.g. {"exp_avg", 0}.
struct BufferKind {
    const char *name;
    float init;
};

// Parameters plus their state: every buffer has the size of its parameter.
class ParamState {
public:
    explicit ParamState(const char *optimizer) : m_optimizer(optimizer) {}

    void attach(std::span<const nrt_param_ref> params, std::span<const BufferKind> kinds)
    {
        if (m_attached)
            sdk::fail(NRT_ERR_STATE, std::string(m_optimizer) + ": attach() may be called once");
        std::vector<Slot> slots;
        slots.reserve(params.size());
        size_t total = 0;
        for (size_t i = 0; i < params.size(); ++i) {
            const nrt_param_ref &p = params[i];
            const std::string what = "param " + std::to_string(i) + " '" +
                                     (p.name ? p.name : "") + "'";
            sdk::require_contiguous(p.value, (what + " value").c_str());
            sdk::require_contiguous(p.grad, (what + " grad").c_str());
            sdk::require_same_shape(p.value, (what + " value").c_str(), p.grad, "its grad");
            Slot s;
            s.size = static_cast<size_t>(sdk::numel(p.value));
            if (s.size > 0 && (!p.value.data || !p.grad.data))
                sdk::fail(NRT_ERR_INVALID_ARGUMENT, what + " has no data");
            s.value = sdk::f32(p.value);
            s.grad = sdk::f32(p.grad);
            s.offset = total;
            s.rows = p.value.ndims > 0 ? static_cast<size_t>(p.value.dims[0]) : 1;
            s.name = p.name ? p.name : "";
            s.hi = s.size;
            total += s.size;
            slots.push_back(std::move(s));
        }
        std::vector<sdk::Buffer> buffers;
        buffers.reserve(slots.size() * kinds.size());
        for (const Slot &s : slots)
            for (const BufferKind &k : kinds)
                buffers.push_back(make_buffer(s.size, k.init));

        m_slots = std::move(slots);
        m_buffers = std::move(buffers);
        m_kinds.assign(kinds.begin(), kinds.end());
        m_total = total;
        m_end = total;
        m_attached = true;
    }

    // Keeps the elements [begin, end) of the concatenated parameters (the
    // shard slot): their state stays, elements entering the range start
    // from each buffer's initial value, the rest is freed.
    void shard(uint64_t begin, uint64_t end)
    {
        require_attached("shard()");
        if (begin > end || end > m_total)
            sdk::fail(NRT_ERR_INVALID_ARGUMENT,
                      std::string(m_optimizer) + ": shard [" + std::to_string(begin) + ", " +
                          std::to_string(end) + ") is not a range of its " + std::to_string(m_total) +
                          " parameter elements");
        std::vector<sdk::Buffer> buffers;
        buffers.reserve(m_buffers.size());
        std::vector<std::pair<size_t, size_t>> ranges;
        for (size_t p = 0; p < m_slots.size(); ++p) {
            const Slot &s = m_slots[p];
            const size_t lo = std::clamp<size_t>(begin, s.offset, s.offset + s.size) - s.offset;
            const size_t hi = std::max(lo, std::clamp<size_t>(end, s.offset, s.offset + s.size) - s.offset);
            for (size_t k = 0; k < m_kinds.size(); ++k) {
                sdk::Buffer b = make_buffer(hi - lo, m_kinds[k].init);
                const size_t from = std::max(lo, s.lo), to = std::min(hi, s.hi);
                if (from < to)
                    std::memcpy(b.data() + (from - lo), buffer(p, k) + from, (to - from) * sizeof(float));
                buffers.push_back(std::move(b));
            }
            ranges.emplace_back(lo, hi);
        }
        m_buffers = std::move(buffers);
        for (size_t p = 0; p < m_slots.size(); ++p)
            std::tie(m_slots[p].lo, m_slots[p].hi) = ranges[p];
        m_begin = begin;
        m_end = end;
    }
    bool sharded() const { return m_begin > 0 || m_end < m_total; }

    bool attached() const { return m_attached; }

    void require_attached(const char *call) const
    {
        if (!m_attached)
            sdk::fail(NRT_ERR_STATE, std::string(m_optimizer) + ": " + call +
                                         " before attach(): no parameters yet");
    }

    size_t count() const { return m_slots.size(); }
    size_t total() const { return m_total; }
    const Slot &slot(size_t i) const { return m_slots[i]; }
    // Indexed by the element of the parameter, like its value and gradient:
    // buffer(p, k)[i] for i in [slot(p).lo, slot(p).hi).
    float *buffer(size_t param, size_t kind) const
    {
        // Arithmetic on the address, not the pointer: the buffer holds the
        // elements from lo on, and [0, lo) is never read.
        const auto at = reinterpret_cast<uintptr_t>(m_buffers[param * m_kinds.size() + kind].data());
        return reinterpret_cast<float *>(at - m_slots[param].lo * sizeof(float));
    }

    // Completed steps, for bias corrections and decays.
    uint64_t steps() const { return m_steps; }
    void set_steps(uint64_t steps) { m_steps = steps; }
    // Optimizer-specific bits that belong to the state, e.g. "buffer started".
    uint32_t flags() const { return m_flags; }
    void set_flags(uint32_t flags) { m_flags = flags; }

    void save(const sdk::Writer &w) const
    {
        require_attached("save_state()");
        std::array<char, kNameBytes> name{};
        std::memcpy(name.data(), m_optimizer, std::min(std::strlen(m_optimizer), kNameBytes - 1));
        w.value(kStateMagic);
        w.value(kStateVersion);
        w.write(name.data(), name.size());
        w.value(m_steps);
        w.value(m_flags);
        w.value(static_cast<uint32_t>(m_slots.size()));
        w.value(static_cast<uint32_t>(m_kinds.size()));
        for (size_t p = 0; p < m_slots.size(); ++p) {
            const Slot &s = m_slots[p];
            for (size_t k = 0; k < m_kinds.size(); ++k) {
                w.value(static_cast<uint64_t>(s.size));
                write_zeros(w, s.lo);
                w.floats(buffer(p, k) + s.lo, s.hi - s.lo);
                write_zeros(w, s.size - s.hi);
            }
        }
    }

    // Everything is read and checked before anything is replaced, so a bad
    // blob leaves the running optimizer untouched. layout_hint names the
    // settings that change the number of buffers (e.g. "amsgrad").
    void load(sdk::Reader &r, const char *layout_hint)
    {
        require_attached("load_state()");
        try {
            load_checked(r, layout_hint);
        } catch (const sdk::Error &e) {
            // The SDK reader does not know whose state it reads.
            sdk::fail(e.status(), std::string(m_optimizer) + ": " + e.what());
        }
    }

private:
    void load_checked(sdk::Reader &r, const char *layout_hint)
    {
        if (r.value<uint32_t>() != kStateMagic)
            sdk::fail(NRT_ERR_STATE, "not an optimizer state (wrong magic number)");
        const auto version = r.value<uint32_t>();
        if (version != kStateVersion)
            sdk::fail(NRT_ERR_STATE, "state format version " + std::to_string(version) +
                                         " is not supported (this plugin reads version " +
                                         std::to_string(kStateVersion) + ")");
        std::array<char, kNameBytes> name{};
        r.read(name.data(), name.size());
        name.back() = '\0';
        if (std::string_view(name.data()) != m_optimizer)
            sdk::fail(NRT_ERR_STATE, "state was saved by " + std::string(name.data()) +
                                         ", not by " + m_optimizer);
        const auto new_steps = r.value<uint64_t>();
        const auto new_flags = r.value<uint32_t>();
        const auto params = r.value<uint32_t>();
        if (params != m_slots.size())
            sdk::fail(NRT_ERR_STATE, "state holds " + std::to_string(params) +
                                         " parameters, this optimizer has " +
                                         std::to_string(m_slots.size()));
        const auto kinds = r.value<uint32_t>();
        if (kinds != m_kinds.size())
            sdk::fail(NRT_ERR_STATE, "state holds " + std::to_string(kinds) +
                                         " buffers per parameter, this optimizer keeps " +
                                         std::to_string(m_kinds.size()) + " (" + layout_hint +
                                         " differs?)");
        std::vector<sdk::Buffer> buffers;
        buffers.reserve(m_buffers.size());
        for (size_t p = 0; p < m_slots.size(); ++p) {
            for (size_t k = 0; k < m_kinds.size(); ++k) {
                const auto n = r.value<uint64_t>();
                if (n != m_slots[p].size)
                    sdk::fail(NRT_ERR_STATE,
                              "param " + std::to_string(p) + " '" + m_slots[p].name +
                                  "' buffer '" + m_kinds[k].name + "' has " + std::to_string(n) +
                                  " elements in the state, the parameter has " +
                                  std::to_string(m_slots[p].size));
                const Slot &s = m_slots[p];
                sdk::Buffer whole = make_buffer(s.size, 0.0f);
                r.floats(whole.data(), s.size);
                if (s.lo == 0 && s.hi == s.size) {
                    buffers.push_back(std::move(whole));
                    continue;
                }
                sdk::Buffer part = make_buffer(s.hi - s.lo, 0.0f);
                std::copy(whole.data() + s.lo, whole.data() + s.hi, part.data());
                buffers.push_back(std::move(part));
            }
        }
        r.expect_end();
        m_buffers = std::move(buffers);
        m_steps = new_steps;
        m_flags = new_flags;
    }

    // Sharded, the floats outside the part: zero bits, as the slot asks.
    static void write_zeros(const sdk::Writer &w, size_t n)
    {
        static constexpr float kZeros[1024] = {};
        for (size_t at = 0; at < n; at += std::size(kZeros))
            w.floats(kZeros, std::min(n - at, std::size(kZeros)));
    }

    const char *m_optimizer;
    std::vector<Slot> m_slots;
    std::vector<sdk::Buffer> m_buffers;
    std::vector<BufferKind> m_kinds;
    size_t m_total = 0;
    size_t m_begin = 0, m_end = 0; // the shard, [0, m_total) when whole
    uint64_t m_steps = 0;
    uint32_t m_flags = 0;
    bool m_attached = false;
};

// ---------------------------------------------------------------- loop

inline int thread_count(const sdk::Host &host)
{
    const nrt_host *h = host.raw();
    return h && h->num_threads > 0 ? h->num_threads : omp_get_max_threads();
}

// Calls kernel(param, begin, end) so that all elements of all parameters are
// covered once, in one fork/join per step. Each parameter is split by rows
// with sdk::row_block, the split the layers use, so a thread updates the
// slice of weights its core computed the gradient of (and still caches).
// Small models run on the calling thread.
template <class Kernel>
void for_each_range(const ParamState &state, int threads, const Kernel &kernel)
{
    const size_t total = state.total();
    if (threads <= 1 || total < kParallelMinElements) {
        for (size_t p = 0; p < state.count(); ++p)
            if (state.slot(p).lo < state.slot(p).hi)
                kernel(p, state.slot(p).lo, state.slot(p).hi);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        const int team = omp_get_num_threads();
        const int me = omp_get_thread_num();
        for (size_t p = 0; p < state.count(); ++p) {
            const Slot &s = state.slot(p);
            if (s.size == 0)
                continue;
            const size_t row = s.size / s.rows;
            const sdk::RowBlock block = sdk::row_block(static_cast<int64_t>(s.rows), me, team);
            // Sharded, the part of the thread's rows inside the shard.
            const size_t begin = std::max(s.lo, static_cast<size_t>(block.first) * row);
            const size_t end = std::min(s.hi, static_cast<size_t>(block.last) * row);
            if (begin < end)
                kernel(p, begin, end);
        }
    }
}

// ---------------------------------------------------------------- base

// What every built-in optimizer shares: options validated against the schema
// (plus the optimizer's own checks), state attached, saved and loaded by
// ParamState. A subclass names its buffers and writes update().
class OptimizerBase : public sdk::Optimizer {
public:
    void attach(std::span<const nrt_param_ref> params) override
    {
        m_state.attach(params, buffer_kinds());
    }
    void save_state(const sdk::Writer &w) const override { m_state.save(w); }
    void load_state(sdk::Reader &r) override { m_state.load(r, layout_hint()); }
    // Every built-in optimizer updates element by element: any part steps.
    void shard(uint64_t begin, uint64_t end) override { m_state.shard(begin, end); }

    // The check and the count live here so that no optimizer can skip them.
    void step() final
    {
        m_state.require_attached("step()");
        const uint64_t t = m_state.steps() + 1;
        update(t);
        m_state.set_steps(t);
    }

    // A rejected value leaves the old one in place, also when it only fails
    // in combination with the others (nesterov without momentum, ...).
    void set_option(std::string_view name, double value) final
    {
        check_option(m_name, m_specs, name, value);
        check_value(name, value);
        const double old = option(name);
        sdk::Optimizer::set_option(name, value);
        try {
            check_combination();
        } catch (...) {
            sdk::Optimizer::set_option(name, old);
            throw;
        }
    }

protected:
    OptimizerBase(const char *name, sdk::Host host, std::span<const nrt_param_spec> specs)
        : m_state(name), m_threads(thread_count(host)), m_name(name), m_specs(specs)
    {
    }

    // Call from the subclass constructor (so its checks apply), then
    // check_combination() once everything is bound.
    void bind(const char *name, double *storage, double value)
    {
        check_option(m_name, m_specs, name, value);
        check_value(name, value);
        *storage = value;
        add_option(name, storage);
    }
    // The same for an option that is also a creation parameter of that name.
    void bind(const char *name, double *storage, const sdk::Params &params)
    {
        bind(name, storage, params.number(name));
    }

    // One step's arithmetic; t counts the steps from 1 (bias corrections,
    // decays). Runs only once parameters are attached.
    virtual void update(uint64_t t) = 0;

    virtual std::vector<BufferKind> buffer_kinds() const = 0;
    // The settings that change the number of state buffers, for messages.
    virtual const char *layout_hint() const { return "a setting"; }
    // Checks beyond the schema's inclusive range, e.g. open intervals.
    virtual void check_value(std::string_view, double) const {}
    // Checks between options; throws with a message naming them.
    virtual void check_combination() const {}

    // For options that size the state: fine before attach, fixed after.
    void require_not_attached(std::string_view name, double value, double current) const
    {
        if (m_state.attached() && value != current)
            sdk::fail(NRT_ERR_STATE, std::string(m_name) + ": '" + std::string(name) +
                                         "' cannot change once parameters are attached");
    }

    const char *name() const { return m_name; }

    ParamState m_state;
    int m_threads;

private:
    const char *m_name;
    std::span<const nrt_param_spec> m_specs;
};

} // namespace neurite::optimizer

#endif // NEURITE_OPTIMIZER_STATE_HPP
