#include "neurite/core/arena.h"

#include "neurite/core/module.h"
#include "neurite/core/precision.h"

#include <vector>

#include <neurite/plugin.hpp>
#include <omp.h>

namespace neurite {

namespace {

// Each parameter starts on a 64-byte line, where vector loops and oneDNN
// kernels read it fastest.
constexpr size_t kAlignFloats = 16;

size_t aligned(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

Tensor block(size_t floats)
{
    return floats ? Tensor(Shape{static_cast<int64_t>(floats)}) : Tensor();
}

ParameterArena::Rows rows_of(const Shape &shape, size_t offset)
{
    const auto size = static_cast<size_t>(shape.numel());
    return {offset, size, shape.size() > 0 && shape[0] > 0 ? static_cast<size_t>(shape[0]) : 1};
}

} // namespace

std::shared_ptr<ParameterArena> ParameterArena::adopt(std::span<Module *const> modules, bool bf16)
{
    // Offsets first, so the blocks are allocated once.
    std::vector<std::vector<size_t>> offsets(modules.size());
    size_t trained = 0, buffers = 0;
    for (size_t m = 0; m < modules.size(); ++m) {
        if (!modules[m]->host_owned())
            continue;
        for (const Module::Slot &s : modules[m]->param_slots()) {
            size_t &end = s.buffer ? buffers : trained;
            offsets[m].push_back(end);
            end += aligned(static_cast<size_t>(s.shape.numel()));
        }
    }
    auto arena = std::make_shared<ParameterArena>();
    arena->m_values = block(trained);
    arena->m_grads = block(trained);
    arena->m_buffers = block(buffers);
    if (bf16 && trained)
        arena->m_values_bf16 = block((trained + 1) / 2);
    auto *low = reinterpret_cast<uint16_t *>(arena->has_bf16() ? arena->m_values_bf16.data() : nullptr);
    std::vector<float *> values, grads;
    std::vector<uint16_t *> lows;
    for (size_t m = 0; m < modules.size(); ++m) {
        Module &module = *modules[m];
        if (!module.host_owned() || module.param_slots().empty())
            continue;
        values.clear();
        grads.clear();
        lows.clear();
        for (size_t i = 0; i < module.param_slots().size(); ++i) {
            const bool buffer = module.param_slots()[i].buffer;
            const size_t at = offsets[m][i];
            if (!buffer)
                arena->m_rows.push_back(rows_of(module.param_slots()[i].shape, at));
            values.push_back(buffer ? arena->m_buffers.data() + at : arena->m_values.data() + at);
            grads.push_back(buffer ? nullptr : arena->m_grads.data() + at);
            lows.push_back(buffer || !low ? nullptr : low + at);
        }
        module.bind(arena, values, grads, lows);
    }
    arena->refresh_bf16_all();
    return arena;
}

void ParameterArena::set_bf16(std::span<Module *const> modules, bool on)
{
    if (on == has_bf16())
        return;
    m_values_bf16 = on && m_values.defined() ? block((static_cast<size_t>(m_values.numel()) + 1) / 2) : Tensor();
    auto *low = reinterpret_cast<uint16_t *>(has_bf16() ? m_values_bf16.data() : nullptr);
    std::vector<float *> values, grads;
    std::vector<uint16_t *> lows;
    m_rows.clear();
    for (Module *m : modules) {
        if (!m->host_owned() || m->param_slots().empty() || m->arena().get() != this)
            continue;
        values.clear();
        grads.clear();
        lows.clear();
        for (const Module::Slot &s : m->param_slots()) {
            float *value = s.value.defined() ? const_cast<float *>(s.value.data()) : nullptr;
            values.push_back(value);
            grads.push_back(s.grad.defined() ? const_cast<float *>(s.grad.data()) : nullptr);
            lows.push_back(s.buffer || !low || !value ? nullptr : low + (value - m_values.data()));
            if (!s.buffer && value)
                m_rows.push_back(rows_of(s.shape, static_cast<size_t>(value - m_values.data())));
        }
        m->bind(m->arena(), values, grads, lows);
    }
    refresh_bf16_all();
}

namespace {

// Below this many values a fork/join costs more than the pass (the
// optimizers split from the same size on).
constexpr int64_t kParallelMinValues = 65536;

} // namespace

// The whole block, padding included: after binding, when the padding's
// copy is written once.
void ParameterArena::refresh_bf16_all()
{
    if (!has_bf16())
        return;
    round_to_bf16(m_values.data(), reinterpret_cast<uint16_t *>(m_values_bf16.data()),
                  static_cast<size_t>(m_values.numel()));
}

void ParameterArena::refresh_bf16()
{
    if (!has_bf16())
        return;
    const int threads = omp_get_max_threads();
    if (threads < 2 || m_values.numel() < kParallelMinValues || m_rows.empty())
        return refresh_bf16_all();
    const float *from = m_values.data();
    auto *to = reinterpret_cast<uint16_t *>(m_values_bf16.data());
    // A single thread streaming the arena after a two-thread optimizer step
    // read half of it from the other core's cache: 45 us for the MLP's
    // 235k values where each core's own half takes a fraction of that.
#pragma omp parallel num_threads(threads)
    {
        const int team = omp_get_num_threads(), me = omp_get_thread_num();
        for (const Rows &p : m_rows) {
            // The optimizers' split (optimizer.cpp), so each core rounds what it updated.
            const size_t row = p.size / p.rows;
            const sdk::RowBlock r = sdk::row_block(static_cast<int64_t>(p.rows), me, team);
            const size_t first = static_cast<size_t>(r.first), count = static_cast<size_t>(r.last - r.first);
            round_to_bf16(from + p.offset + first * row, to + p.offset + first * row, count * row);
        }
    }
}

uint16_t ParameterArena::value_bf16(int64_t i) const
{
    if (!has_bf16() || i < 0 || i >= m_values.numel())
        return 0;
    return reinterpret_cast<const uint16_t *>(m_values_bf16.data())[i];
}

} // namespace neurite
