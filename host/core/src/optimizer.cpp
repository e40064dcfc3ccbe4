#include "neurite/core/optimizer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <neurite/plugin.hpp>
#include <omp.h>

#include "neurite/core/arena.h"
#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/plugin_call.h"
#include "neurite/core/plugin_error.h"

#include "byte_sink.h"

namespace neurite {

Optimizer::Optimizer(const Entry &entry, void *self, ParamList config)
    : m_entry(&entry),
      m_vt(static_cast<const nrt_optimizer_vtable *>(entry.vtable)),
      m_self(self),
      m_config(std::move(config))
{
}

Optimizer::~Optimizer()
{
    PluginCall call(*m_entry, "destroy");
    m_entry->destroy(m_self);
}

void Optimizer::fail(const std::string &call, nrt_status status) const
{
    throw Error(m_entry->name + ": " + call_failure(call, status, m_err));
}

void Optimizer::attach(const std::vector<Parameter> &all)
{
    if (m_attached)
        throw Error(m_entry->name + ": already attached to a parameter list");
    // Buffers (running statistics) are saved with the weights but not trained.
    std::vector<Parameter> params;
    for (const Parameter &p : all)
        if (!p.buffer)
            params.push_back(p);
    std::vector<nrt_param_ref> refs;
    for (const Parameter &p : params) {
        nrt_param_ref r{};
        r.struct_size = sizeof r;
        r.name = p.name.c_str();
        r.value = p.value.desc();
        r.grad = p.grad.desc();
        refs.push_back(r);
    }
    m_params = params;
    m_elements = 0;
    for (const Parameter &p : params)
        m_elements += static_cast<uint64_t>(p.value.numel());
    m_shard_begin = 0;
    m_shard_end = m_elements;
    m_err[0] = '\0';
    PluginCall call(*m_entry, "attach");
    if (nrt_status st = m_vt->attach(m_self, static_cast<int32_t>(refs.size()), refs.data(), m_err,
                                     sizeof m_err))
        fail("attach", st);
    m_attached = true;
}

void Optimizer::sync_attached()
{
    if (!m_attached)
        throw Error(m_entry->name + ": step() before any parameters were attached");
    const ParameterArena *checked = nullptr;
    Module *last = nullptr;
    for (Parameter &p : m_params) {
        if (p.arena && p.arena.get() != checked) {
            if (p.arena->retired() || (p.owner && p.owner->arena() != p.arena))
                throw Error(m_entry->name + ": the model was rebuilt (a layer added, or the model "
                            "used inside another) after this optimizer was given its parameters; "
                            "create the optimizer again from model:parameters()");
            checked = p.arena.get();
        }
        if (p.owner && p.owner.get() != last) {
            p.owner->sync_grads();
            last = p.owner.get();
        }
    }
}

namespace {

// The largest magnitude bits of g[begin, end): inf and NaN are the floats
// whose bits are at least 0x7f800000. An integer max vectorises without
// fast-math.
uint32_t largest_bits(const float *g, int64_t begin, int64_t end)
{
    const auto *bits = reinterpret_cast<const uint32_t *>(g);
    uint32_t largest = 0;
#pragma omp simd reduction(max : largest)
    for (int64_t i = begin; i < end; ++i)
        largest = std::max(largest, bits[i] & 0x7fffffffu);
    return largest;
}

} // namespace

bool Optimizer::grads_finite()
{
    sync_attached();
    // Called every step by train.fit: no allocation here.
    auto checked = [](const Parameter &p) { return !p.buffer && p.grad.defined() && p.grad.numel() > 0; };
    int64_t total = 0;
    for (const Parameter &p : m_params)
        if (checked(p))
            total += p.grad.numel();
    // Sharded: this rank's part of the gradients is the summed one.
    const int64_t shard_begin = static_cast<int64_t>(m_shard_begin), shard_end = static_cast<int64_t>(m_shard_end);
    // Split as the optimizers and layers split their work (by rows, with
    // sdk::row_block): each core reads the slice it computed and still caches.
    // Read by one core, the other's half would cross between caches twice.
    const int threads = total >= (int64_t{1} << 16) ? ComputeContext::num_threads() : 1;
    uint32_t largest = 0;
    ComputeContext::prepare_team();
#pragma omp parallel num_threads(threads) reduction(max : largest)
    {
        const int team = omp_get_num_threads(), me = omp_get_thread_num();
        int64_t offset = 0; // of the parameter in the attached elements
        for (const Parameter &p : m_params) {
            const int64_t at = offset;
            offset += p.value.numel();
            if (!checked(p))
                continue;
            const Tensor &g = p.grad;
            const int64_t rows = g.dim() > 0 ? g.shape()[0] : 1, row = g.numel() / rows;
            const sdk::RowBlock block = sdk::row_block(rows, me, team);
            const int64_t begin = std::max(block.first * row, shard_begin - at);
            const int64_t end = std::min(block.last * row, shard_end - at);
            if (begin < end)
                largest = std::max(largest, largest_bits(g.data(), begin, end));
        }
    }
    return largest < 0x7f800000u;
}

void Optimizer::step()
{
    sync_attached();
    ComputeContext::prepare_team();
    m_err[0] = '\0';
    {
        PluginCall call(*m_entry, "step");
        if (nrt_status st = m_vt->step(m_self, m_err, sizeof m_err))
            fail("step", st);
    }
    if (m_after_step)
        m_after_step();
}

void Optimizer::zero_grad()
{
    Module *last = nullptr;
    for (Parameter &p : m_params) {
        if (p.owner) {
            if (p.owner.get() != last)
                p.owner->zero_grad(true); // step() syncs before reading
            last = p.owner.get();
        } else {
            p.grad.fill(0.0f);
        }
    }
}

double Optimizer::option(const std::string &name) const
{
    double v = 0;
    PluginCall call(*m_entry, "get_option");
    // get_option takes no message buffer: the status is all there is to say.
    const nrt_status st = m_vt->get_option(m_self, name.c_str(), &v);
    if (st == NRT_ERR_INVALID_ARGUMENT)
        throw Error(m_entry->name + " has no numeric option '" + name + "'");
    if (st != NRT_OK)
        throw Error(m_entry->name + ": reading option '" + name + "' failed (" + status_name(st) + ")");
    return v;
}

void Optimizer::set_option(const std::string &name, double value)
{
    m_err[0] = '\0';
    PluginCall call(*m_entry, "set_option");
    if (nrt_status st = m_vt->set_option(m_self, name.c_str(), value, m_err, sizeof m_err))
        fail("setting '" + name + "'", st);
}

std::vector<uint8_t> Optimizer::save_state() const
{
    if (m_shard_begin > 0 || m_shard_end < m_elements)
        throw Error(m_entry->name + ": its state is split between the ranks of a data-parallel run while "
                    "train.fit runs (each steps a part of the model); train.checkpoint gathers it, or save it "
                    "once train.fit has returned");
    return save_part_state();
}

std::vector<uint8_t> Optimizer::save_part_state() const
{
    std::vector<uint8_t> bytes;
    nrt_writer w = detail::byte_sink(bytes);
    m_err[0] = '\0';
    PluginCall call(*m_entry, "save_state");
    if (nrt_status st = m_vt->save_state(m_self, &w, m_err, sizeof m_err))
        fail("save_state", st);
    return bytes;
}

void Optimizer::load_state(const std::vector<uint8_t> &bytes)
{
    m_err[0] = '\0';
    PluginCall call(*m_entry, "load_state");
    if (nrt_status st = m_vt->load_state(m_self, bytes.data(), bytes.size(), m_err, sizeof m_err))
        fail("load_state", st);
}

bool Optimizer::shard(uint64_t begin, uint64_t end)
{
    if (!m_attached)
        throw Error(m_entry->name + ": shard() before any parameters were attached");
    if (begin > end || end > m_elements)
        throw Error(m_entry->name + ": shard [" + std::to_string(begin) + ", " + std::to_string(end) +
                    ") is not a part of its " + std::to_string(m_elements) + " parameter elements");
    // ABI 1.3 appended the slot: an older plugin's vtable ends before it.
    if (m_vt->struct_size < offsetof(nrt_optimizer_vtable, shard) + sizeof m_vt->shard || !m_vt->shard)
        return false;
    m_err[0] = '\0';
    PluginCall call(*m_entry, "shard");
    if (nrt_status st = m_vt->shard(m_self, begin, end, m_err, sizeof m_err)) {
        if (st == NRT_ERR_UNSUPPORTED)
            return false;
        fail("shard", st);
    }
    m_shard_begin = begin;
    m_shard_end = end;
    return true;
}

} // namespace neurite
