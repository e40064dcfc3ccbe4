#include "neurite/core/arena.h"

#include "neurite/core/module.h"

#include <vector>

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
            values.push_back(buffer ? arena->m_buffers.data() + at : arena->m_values.data() + at);
            grads.push_back(buffer ? nullptr : arena->m_grads.data() + at);
            lows.push_back(buffer || !low ? nullptr : low + at);
        }
        module.bind(arena, values, grads, lows);
    }
    arena->refresh_bf16();
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
        }
        m->bind(m->arena(), values, grads, lows);
    }
    refresh_bf16();
}

namespace {

// Round to nearest even on the 16 dropped bits (what oneDNN's reorders and
// vcvtneps2bf16 do); parameters are finite (train.fit checks), so NaN needs
// no special case. The compiler vectorises the loop.
inline uint16_t to_bf16(uint32_t bits) { return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16); }

} // namespace

void ParameterArena::refresh_bf16()
{
    if (!has_bf16())
        return;
    const int64_t n = m_values.numel();
    const uint32_t *from = reinterpret_cast<const uint32_t *>(m_values.data());
    uint16_t *to = reinterpret_cast<uint16_t *>(m_values_bf16.data());
    // One thread streams a few MB in microseconds, where a fork/join costs
    // as much (and even an OpenMP region that stays on one thread
    // allocates): only arenas of millions of values are split.
    if (n > (int64_t{1} << 22)) {
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; ++i)
            to[i] = to_bf16(from[i]);
        return;
    }
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
        to[i] = to_bf16(from[i]);
}

uint16_t ParameterArena::value_bf16(int64_t i) const
{
    if (!has_bf16() || i < 0 || i >= m_values.numel())
        return 0;
    return reinterpret_cast<const uint16_t *>(m_values_bf16.data())[i];
}

} // namespace neurite
