// A model's parameters across the ranks of a data-parallel run: the
// gradient allreduce after each backward (or the reduce-scatter and
// allgather around a sharded optimizer step), the broadcast that makes
// every rank start from rank 0's weights, and the averaging of buffers.
#include "neurite/core/arena.h"
#include "neurite/core/distributed.h"
#include "neurite/core/model.h"
#include "neurite/core/optimizer.h"

#include <algorithm>
#include <map>
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

namespace {

// Where each rank's part of a sharded optimizer lies in the arena.
struct ShardPlan {
    std::shared_ptr<ParameterArena> arena;
    std::vector<size_t> bounds; // size() + 1 float offsets into the arena's blocks
};

// By optimizer; an entry whose optimizer is no longer sharded is stale (an
// optimizer freed and another made at its address) and ignored.
std::map<const Optimizer *, ShardPlan> g_plans;

// Rank r's part of an arena of `total` floats: [bounds[r], bounds[r + 1]),
// starting on 64-byte lines as the parameters do.
std::vector<size_t> arena_parts(size_t total, int ranks)
{
    std::vector<size_t> bounds(ranks + 1, total);
    for (int r = 0; r < ranks; ++r)
        bounds[r] = std::min(total, (total * r / ranks + 15) / 16 * 16);
    return bounds;
}

// The optimizer's elements (its parameters in order, without the arena's
// padding) that lie before arena offset `at`.
uint64_t elements_before(const std::vector<Parameter> &params, const float *base, size_t at)
{
    uint64_t n = 0;
    for (const Parameter &p : params) {
        const auto offset = static_cast<int64_t>(p.value.data() - base);
        n += static_cast<uint64_t>(std::clamp<int64_t>(static_cast<int64_t>(at) - offset, 0, p.value.numel()));
    }
    return n;
}

// Whether the optimizer's parameters are exactly the trained ones of the
// model's arena, in the arena's order: then its elements and the arena's
// gradient block correspond part for part.
bool covers_arena(Model &model, const Optimizer &optimizer, const std::shared_ptr<ParameterArena> &arena)
{
    const std::vector<Parameter> &params = optimizer.params();
    size_t trained = 0;
    for (const Parameter &p : model.parameters())
        if (!p.buffer)
            ++trained;
    if (params.size() != trained)
        return false;
    const float *base = arena->values().data();
    int64_t end = 0;
    for (const Parameter &p : params) {
        if (p.arena != arena || !p.value.defined() || p.value.data() - base < end)
            return false;
        end = (p.value.data() - base) + p.value.numel();
    }
    return true;
}

} // namespace

bool shard_optimizer(Model &model, Optimizer &optimizer)
{
    if (size() == 1)
        return false;
    unshard_optimizer(optimizer); // a train.fit before this one left it sharded
    (void)model.parameters();     // binds the arena on first use
    const std::shared_ptr<ParameterArena> arena = model.arena();
    bool ok = arena && arena->values().defined() && covers_arena(model, optimizer, arena);
    std::vector<size_t> bounds;
    if (ok) {
        bounds = arena_parts(static_cast<size_t>(arena->values().numel()), size());
        const float *base = arena->values().data();
        ok = optimizer.shard(elements_before(optimizer.params(), base, bounds[rank()]),
                             elements_before(optimizer.params(), base, bounds[rank() + 1]));
    }
    // Every rank shards, or none does (the same plugin answers alike, but a
    // rank's refusal must not leave the others reduce-scattering).
    double all_ok[1] = {ok ? 1.0 : 0.0};
    allreduce(std::span<double>(all_ok), Op::Min);
    if (all_ok[0] == 0) {
        if (ok)
            optimizer.shard(0, optimizer.elements());
        return false;
    }
    g_plans[&optimizer] = ShardPlan{arena, bounds};
    optimizer.set_after_step([arena, bounds] { allgather(whole(arena->values()), bounds); });
    return true;
}

bool unshard_optimizer(Optimizer &optimizer)
{
    g_plans.erase(&optimizer);
    if (!optimizer.sharded())
        return false;
    std::vector<uint8_t> state = optimizer.save_part_state();
    allreduce_bitwise_or(state);
    optimizer.set_after_step({});
    optimizer.shard(0, optimizer.elements());
    optimizer.load_state(state);
    return true;
}

void reduce_gradients(Model &model, Optimizer &optimizer)
{
    const auto plan = g_plans.find(&optimizer);
    if (size() == 1 || plan == g_plans.end() || !optimizer.sharded()) {
        allreduce_gradients(model, Op::Sum);
        return;
    }
    (void)model.parameters(); // pending lazy clears made real: a rank with no backward adds zeros
    reduce_scatter_sum(whole(plan->second.arena->grads()), plan->second.bounds);
}

} // namespace neurite::dist
