// A model's parameters across the ranks of a data-parallel run: the
// gradient allreduce after each backward, the broadcast that makes every
// rank start from rank 0's weights, and the averaging of buffers.
#include "neurite/core/arena.h"
#include "neurite/core/distributed.h"
#include "neurite/core/model.h"

#include <memory>
#include <vector>

namespace neurite::dist {

namespace {

std::span<float> whole(Tensor t)
{
    if (!t.defined() || t.numel() == 0)
        return {};
    return {t.data(), static_cast<size_t>(t.numel())};
}

// Parameters whose memory is not the model's arena: ABI 1.0 layers and Lua
// layers keep their own. The arena's go in one call, these one by one.
bool outside(const Parameter &p, const std::shared_ptr<ParameterArena> &arena)
{
    return !arena || p.arena != arena;
}

} // namespace

void allreduce_gradients(Model &model, Op op)
{
    if (size() == 1)
        return;
    // parameters() binds the arena on first use and makes every pending lazy
    // clear real: a layer that ran no backward this step (or a rank whose
    // share of the batch was empty) adds zeros, not last step's gradients.
    const std::vector<Parameter> params = model.parameters();
    const std::shared_ptr<ParameterArena> arena = model.arena();
    if (arena)
        allreduce(whole(arena->grads()), op);
    for (const Parameter &p : params)
        if (!p.buffer && outside(p, arena))
            allreduce(whole(p.grad), op);
}

void broadcast_parameters(Model &model, int root)
{
    if (size() == 1)
        return;
    const std::vector<Parameter> params = model.parameters();
    const std::shared_ptr<ParameterArena> arena = model.arena();
    if (arena) {
        const std::span<float> values = whole(arena->values()), buffers = whole(arena->buffers());
        broadcast(values.data(), values.size_bytes(), root);
        broadcast(buffers.data(), buffers.size_bytes(), root);
    }
    for (const Parameter &p : params)
        if (outside(p, arena)) {
            const std::span<float> value = whole(p.value);
            broadcast(value.data(), value.size_bytes(), root);
        }
}

void average_buffers(Model &model)
{
    if (size() == 1)
        return;
    const std::vector<Parameter> params = model.parameters();
    const std::shared_ptr<ParameterArena> arena = model.arena();
    if (arena)
        allreduce(whole(arena->buffers()), Op::Mean);
    for (const Parameter &p : params)
        if (p.buffer && outside(p, arena))
            allreduce(whole(p.value), Op::Mean);
}

} // namespace neurite::dist
