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

std::shared_ptr<ParameterArena> ParameterArena::adopt(std::span<Module *const> modules)
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
    std::vector<float *> values, grads;
    for (size_t m = 0; m < modules.size(); ++m) {
        Module &module = *modules[m];
        if (!module.host_owned() || module.param_slots().empty())
            continue;
        values.clear();
        grads.clear();
        for (size_t i = 0; i < module.param_slots().size(); ++i) {
            const bool buffer = module.param_slots()[i].buffer;
            const size_t at = offsets[m][i];
            values.push_back(buffer ? arena->m_buffers.data() + at : arena->m_values.data() + at);
            grads.push_back(buffer ? nullptr : arena->m_grads.data() + at);
        }
        module.bind(arena, values, grads);
    }
    return arena;
}

} // namespace neurite
