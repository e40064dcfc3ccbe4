// The `dist` module: the ranks of a data-parallel run (mpirun -np N
// neurite-run script.lua) and their collectives, over neurite::dist (Open
// MPI). Ranks count from 0, as in MPI and torch.distributed; rank 0 is the
// main one. In a plain run `dist` is a world of one: rank 0 of 1, and the
// collectives return their argument unchanged, so a script runs either way.
// A collective must be called by every rank, in the same order.
#include "binding.h"
#include "tensor_args.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/distributed.h"
#include "neurite/core/optimizer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace neurite::lua {

namespace {

dist::Op check_op(lua_State *L, int idx, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return dist::Op::Sum;
    if (lua_type(L, idx) != LUA_TSTRING)
        raise(L, std::string(fn) + ": op must be one of " + dist::op_names() + ", got " + describe_value(L, idx));
    dist::Op op;
    if (!dist::parse_op(lua_tostring(L, idx), op))
        raise(L, std::string(fn) + ": op must be one of " + dist::op_names() + ", got \"" + lua_tostring(L, idx) +
                     "\"");
    return op;
}

int check_root(lua_State *L, int idx, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    int integer = 0;
    const lua_Integer root = lua_tointegerx(L, idx, &integer);
    if (!integer || root < 0 || root >= dist::size())
        raise(L, std::string(fn) + ": root must be a rank from 0 to " + std::to_string(dist::size() - 1) +
                     " (ranks count from 0), got " + value_text(L, idx));
    return static_cast<int>(root);
}

// A number back as Lua had it: an integer stays one when the result is whole.
void push_number(lua_State *L, double v, bool integer)
{
    if (integer && std::fabs(v) < 9.0e15 && v == std::floor(v))
        lua_pushinteger(L, static_cast<lua_Integer>(v));
    else
        lua_pushnumber(L, v);
}

// The tensor at idx with `fn` applied to its floats in place; a strided
// view goes through a contiguous copy.
template <class Fn>
void in_place(lua_State *L, int idx, const char *fn_name, Fn &&fn)
{
    const Tensor &t = check_any_tensor(L, idx);
    check_writable(L, t, fn_name);
    guarded(L, [&] {
        Tensor target = t;
        Tensor work = target.is_contiguous() ? target : target.contiguous();
        fn(std::span<float>(work.numel() ? work.data() : nullptr, static_cast<size_t>(work.numel())));
        if (!target.is_contiguous())
            target.copy_from(work);
        return 0;
    });
}

// A list of numbers at idx: their values, and whether each was an integer.
std::vector<double> number_list(lua_State *L, int idx, const char *fn, std::vector<bool> &integers)
{
    const lua_Integer n = luaL_len(L, idx);
    std::vector<double> values(static_cast<size_t>(n));
    integers.assign(static_cast<size_t>(n), false);
    for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_geti(L, idx, i) != LUA_TNUMBER)
            raise(L, std::string(fn) + ": element " + std::to_string(i) + " of the list is " +
                         describe_value(L, -1) + "; a list must hold numbers only");
        integers[static_cast<size_t>(i - 1)] = lua_isinteger(L, -1);
        values[static_cast<size_t>(i - 1)] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return values;
}

void push_number_list(lua_State *L, const std::vector<double> &values, const std::vector<bool> &integers)
{
    lua_createtable(L, static_cast<int>(values.size()), 0);
    for (size_t i = 0; i < values.size(); ++i) {
        push_number(L, values[i], integers[i]);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
}

// dist.allreduce(v, op = "sum") -> v reduced over every rank. A tensor is
// reduced in place (and returned); a number or a list of numbers gives a
// new one. op: sum, mean, min, max, prod.
int d_allreduce(lua_State *L)
{
    const char *fn = "dist.allreduce";
    const dist::Op op = check_op(L, 2, fn);
    if (test_tensor(L, 1)) {
        in_place(L, 1, fn, [op](std::span<float> data) { dist::allreduce(data, op); });
        lua_settop(L, 1);
        return 1;
    }
    std::vector<bool> integers(1, lua_isinteger(L, 1));
    std::vector<double> values;
    if (lua_type(L, 1) == LUA_TNUMBER)
        values.push_back(lua_tonumber(L, 1));
    else if (lua_istable(L, 1))
        values = number_list(L, 1, fn, integers);
    else
        arg_error(L, 1, fn, "a tensor, a number or a list of numbers");
    guarded(L, [&] {
        dist::allreduce(std::span<double>(values), op);
        return 0;
    });
    if (op == dist::Op::Mean)
        integers.assign(integers.size(), false);
    if (lua_istable(L, 1))
        push_number_list(L, values, integers);
    else
        push_number(L, values[0], integers[0]);
    return 1;
}

// Every rank learns how many elements rank `root` holds and whether any
// rank holds another number: then every rank raises, rather than MPI
// truncating a message or a rank waiting for data that never comes.
void check_same_size(lua_State *L, int64_t numel, int root, const char *fn)
{
    int64_t roots = numel;
    double mismatch = 0;
    guarded(L, [&] {
        dist::broadcast(&roots, sizeof roots, root);
        mismatch = roots != numel ? 1 : 0;
        dist::allreduce(std::span<double>(&mismatch, 1), dist::Op::Max);
        return 0;
    });
    if (mismatch > 0)
        raise(L, std::string(fn) + ": rank " + std::to_string(dist::rank()) + " holds " + std::to_string(numel) +
                     " elements and the root, rank " + std::to_string(root) + ", " + std::to_string(roots) +
                     "; every rank must pass a tensor of the same size");
}

// Scalars and strings travel as text with a type letter: n (number), i
// (integer), b (boolean), s (string), 0 (nil).
std::string encode_scalar(lua_State *L, int idx, const char *fn)
{
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return "0";
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "b1" : "b0";
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx))
            return "i" + std::to_string(lua_tointeger(L, idx));
        char text[40];
        std::snprintf(text, sizeof text, "n%.17g", lua_tonumber(L, idx));
        return text;
    }
    case LUA_TSTRING: {
        size_t n = 0;
        const char *s = lua_tolstring(L, idx, &n);
        return "s" + std::string(s, n);
    }
    default: arg_error(L, idx, fn, "a tensor, a number, a string, a boolean, nil or a list of numbers");
    }
}

void push_scalar(lua_State *L, const std::string &text)
{
    switch (text.empty() ? '0' : text[0]) {
    case 'b': lua_pushboolean(L, text == "b1"); break;
    case 'i': lua_pushinteger(L, std::stoll(text.substr(1))); break;
    case 'n': lua_pushnumber(L, std::strtod(text.c_str() + 1, nullptr)); break;
    case 's': lua_pushlstring(L, text.data() + 1, text.size() - 1); break;
    default: lua_pushnil(L);
    }
}

// dist.broadcast(v, root = 0) -> root's v on every rank. A tensor is
// overwritten in place (every rank passes one of the same size); a number,
// string, boolean or list of numbers is returned as root has it.
int d_broadcast(lua_State *L)
{
    const char *fn = "dist.broadcast";
    const int root = check_root(L, 2, fn);
    if (test_tensor(L, 1)) {
        check_same_size(L, check_any_tensor(L, 1).numel(), root, fn);
        in_place(L, 1, fn, [root](std::span<float> data) { dist::broadcast(data.data(), data.size_bytes(), root); });
        lua_settop(L, 1);
        return 1;
    }
    if (lua_istable(L, 1)) {
        std::vector<bool> integers;
        std::vector<double> values = number_list(L, 1, fn, integers);
        check_same_size(L, static_cast<int64_t>(values.size()), root, fn);
        std::vector<char> flags(integers.begin(), integers.end());
        guarded(L, [&] {
            dist::broadcast(values.data(), values.size() * sizeof(double), root);
            dist::broadcast(flags.data(), flags.size(), root);
            return 0;
        });
        push_number_list(L, values, std::vector<bool>(flags.begin(), flags.end()));
        return 1;
    }
    std::string text = encode_scalar(L, 1, fn);
    guarded(L, [&] {
        dist::broadcast(text, root);
        return 0;
    });
    push_scalar(L, text);
    return 1;
}

int d_barrier(lua_State *L)
{
    return guarded(L, [] {
        dist::barrier();
        return 0;
    });
}

int d_rank(lua_State *L)
{
    lua_pushinteger(L, dist::rank());
    return 1;
}

int d_size(lua_State *L)
{
    lua_pushinteger(L, dist::size());
    return 1;
}

int d_is_main(lua_State *L)
{
    lua_pushboolean(L, dist::is_main());
    return 1;
}

// dist.threads(): the compute threads of this rank (neurite-run --threads,
// else its share of the node's cores in a run of several ranks).
int d_threads(lua_State *L)
{
    lua_pushinteger(L, ComputeContext::num_threads());
    return 1;
}

// dist.allreduce_gradients(model, op = "mean"): the gradients of every
// trained parameter summed ("sum") or averaged ("mean") over the ranks, the
// model's arena in one MPI_Allreduce. Call it after backward, before the
// optimizer's step; train.fit does.
int d_allreduce_gradients(lua_State *L)
{
    const char *fn = "dist.allreduce_gradients";
    ModelBox *box = check_model(L, 1);
    dist::Op op = dist::Op::Mean;
    if (!lua_isnoneornil(L, 2))
        op = check_op(L, 2, fn);
    if (op != dist::Op::Sum && op != dist::Op::Mean)
        raise(L, std::string(fn) + ": op must be \"sum\" or \"mean\"");
    return guarded(L, [&] {
        dist::allreduce_gradients(*box->model, op);
        return 0;
    });
}

// dist.broadcast_parameters(model, root = 0): root's weights and buffers
// into every rank's model.
int d_broadcast_parameters(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const int root = check_root(L, 2, "dist.broadcast_parameters");
    return guarded(L, [&] {
        dist::broadcast_parameters(*box->model, root);
        return 0;
    });
}

// dist.average_buffers(model): running statistics averaged over the ranks.
int d_average_buffers(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    return guarded(L, [&] {
        dist::average_buffers(*box->model);
        return 0;
    });
}

// The C++ optimizer at idx, or nullptr for another value (an optimizer
// written in Lua): those are stepped whole on every rank.
Optimizer *optional_optimizer(lua_State *L, int idx)
{
    auto *box = static_cast<OptimizerBox *>(test_userdata(L, idx, kOptimizerMeta));
    return box ? box->optimizer.get() : nullptr;
}

// dist.shard_optimizer(model, optimizer) -> whether the optimizer now steps
// this rank's part of the model alone (a ZeRO-1 step, see distributed.h);
// false, and nothing changes, when it cannot. train.fit calls it.
int d_shard_optimizer(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    Optimizer *optimizer = optional_optimizer(L, 2);
    bool sharded = false;
    guarded(L, [&] {
        if (optimizer)
            sharded = dist::shard_optimizer(*box->model, *optimizer);
        return 0;
    });
    lua_pushboolean(L, sharded);
    return 1;
}

// dist.unshard_optimizer(optimizer) -> whether it was sharded: every rank
// gets the whole state back (the parts merged) and steps all parameters.
int d_unshard_optimizer(lua_State *L)
{
    Optimizer *optimizer = optional_optimizer(L, 1);
    bool was = false;
    guarded(L, [&] {
        if (optimizer)
            was = dist::unshard_optimizer(*optimizer);
        return 0;
    });
    lua_pushboolean(L, was);
    return 1;
}

// dist.reduce_gradients(model, optimizer): after backward, the gradients
// summed over the ranks as the optimizer's step needs them: this rank's
// part (reduce-scatter) for a sharded optimizer, all of them otherwise.
int d_reduce_gradients(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    Optimizer *optimizer = optional_optimizer(L, 2);
    return guarded(L, [&] {
        if (optimizer)
            dist::reduce_gradients(*box->model, *optimizer);
        else
            dist::allreduce_gradients(*box->model, dist::Op::Sum);
        return 0;
    });
}

// <name>_calls, <name>_bytes and <name>_seconds into the table on top.
void set_counts(lua_State *L, const std::string &name, int64_t calls, int64_t bytes, double seconds)
{
    lua_pushinteger(L, calls);
    lua_setfield(L, -2, (name + "_calls").c_str());
    lua_pushinteger(L, bytes);
    lua_setfield(L, -2, (name + "_bytes").c_str());
    lua_pushnumber(L, seconds);
    lua_setfield(L, -2, (name + "_seconds").c_str());
}

// dist.stats() -> {allreduce_calls, allreduce_bytes, allreduce_seconds,
// allgather_calls, allgather_bytes, allgather_seconds, broadcast_calls,
// broadcast_bytes, broadcast_seconds}: this process's collectives so far
// (a sharded step's reduce-scatter counts as an allreduce).
int d_stats(lua_State *L)
{
    const dist::Stats &s = dist::stats();
    lua_createtable(L, 0, 9);
    set_counts(L, "allreduce", s.allreduce_calls, s.allreduce_bytes, s.allreduce_seconds);
    set_counts(L, "allgather", s.allgather_calls, s.allgather_bytes, s.allgather_seconds);
    set_counts(L, "broadcast", s.broadcast_calls, s.broadcast_bytes, s.broadcast_seconds);
    return 1;
}

} // namespace

void open_dist(lua_State *L)
{
    static const luaL_Reg functions[] = {{"rank", d_rank},
                                         {"size", d_size},
                                         {"is_main", d_is_main},
                                         {"threads", d_threads},
                                         {"allreduce", d_allreduce},
                                         {"broadcast", d_broadcast},
                                         {"barrier", d_barrier},
                                         {"allreduce_gradients", d_allreduce_gradients},
                                         {"broadcast_parameters", d_broadcast_parameters},
                                         {"average_buffers", d_average_buffers},
                                         {"shard_optimizer", d_shard_optimizer},
                                         {"unshard_optimizer", d_unshard_optimizer},
                                         {"reduce_gradients", d_reduce_gradients},
                                         {"stats", d_stats},
                                         {nullptr, nullptr}};
    luaL_newlib(L, functions);
}

} // namespace neurite::lua
