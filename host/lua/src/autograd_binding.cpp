// The recording half of autograd (resources/lua/neurite/autograd.lua holds
// the other: autograd.grad, the vector-Jacobian products and the backward
// pass). Every tensor function is registered as guard<fn> (tensor_args.h);
// while a tape records, guard sends the call here, which runs it and, when
// one of its arguments is a recorded tensor, appends a node to the tape:
//   {name = "mul", args = {a, b, n = 2}, out = result, results = {...}}
// and marks the result as recorded. The tape is a Lua table made by
// autograd.lua: {tracked = {[tensor] = true}, nodes = {...}, vjp = {...},
// constant = {...}}; the current one is in the registry. Nothing of this
// runs while no tape records: guard tests one counter.
#include "tensor_args.h"

#include <mutex>
#include <unordered_map>

namespace neurite::lua {

namespace autograd {

std::atomic<int> recording_tapes{0};

namespace {

constexpr const char *kTapeKey = "neurite.autograd.tape";

// The registered functions by name: "mul" for t:mul and the * operator
// (one function), "__index" for t[i], "tensor.cat" for the module's.
std::unordered_map<lua_CFunction, std::string> &op_names()
{
    static std::unordered_map<lua_CFunction, std::string> names;
    return names;
}

std::once_flag names_built;

void name_functions(lua_State *L, int table, const char *prefix)
{
    lua_pushnil(L);
    while (lua_next(L, table)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_tocfunction(L, -1))
            op_names().emplace(lua_tocfunction(L, -1), prefix + std::string(lua_tostring(L, -2)));
        lua_pop(L, 1);
    }
}

// Methods first: a function registered as a method and as an operator
// (t:add and __add) goes by the method's name.
void build_names(lua_State *L, int tensor_module)
{
    luaL_getmetatable(L, kTensorMeta);
    const int meta = lua_gettop(L);
    lua_getfield(L, meta, "__index");
    lua_getupvalue(L, -1, 1); // the methods table
    name_functions(L, lua_gettop(L), "");
    name_functions(L, meta, "");
    name_functions(L, tensor_module, "tensor.");
    if (lua_getmetatable(L, tensor_module))
        name_functions(L, lua_gettop(L), "tensor.");
    lua_settop(L, meta - 1);
}

const std::string &op_name(lua_CFunction key)
{
    static const std::string unknown = "?";
    const auto it = op_names().find(key);
    return it == op_names().end() ? unknown : it->second;
}

// How an error names the operation: t:add_, tensor.cat, tensor __index.
std::string shown_name(const std::string &name)
{
    if (name.rfind("tensor.", 0) == 0)
        return name;
    if (name.rfind("__", 0) == 0)
        return "tensor " + name;
    return "t:" + name;
}

bool changes_in_place(const std::string &name)
{
    return (!name.empty() && name.back() == '_') || name == "copy" || name == "fill" ||
           name == "set" || name == "__newindex";
}

// Full reductions give a Lua number; while recording, a recorded tensor's
// gives a 0-d tensor instead, so that what follows stays on the tape.
bool reduces_to_number(const std::string &name)
{
    for (const char *r : {"sum", "mean", "prod", "var", "std", "norm", "logsumexp", "max", "min", "dot"})
        if (name == r)
            return true;
    return false;
}

bool is_tracked_value(lua_State *L, int tracked, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return false;
    lua_pushvalue(L, idx);
    const bool hit = lua_rawget(L, tracked) != LUA_TNIL;
    lua_pop(L, 1);
    return hit;
}

// A recorded tensor at idx, or in the list at idx (tensor.cat, tensor.stack).
bool holds_tracked(lua_State *L, int tracked, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return is_tracked_value(L, tracked, idx);
    const lua_Unsigned n = lua_rawlen(L, idx);
    for (lua_Unsigned i = 1; i <= n; ++i) {
        lua_rawgeti(L, idx, static_cast<lua_Integer>(i));
        const bool hit = is_tracked_value(L, tracked, lua_gettop(L));
        lua_pop(L, 1);
        if (hit)
            return true;
    }
    return false;
}

// Whether field `name` of the table field `list` of the tape at idx is set.
bool listed(lua_State *L, int tape, const char *list, const std::string &name)
{
    lua_getfield(L, tape, list);
    lua_getfield(L, -1, name.c_str());
    const bool set = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return set;
}

// Appends {name, args, out, results} to the tape's nodes and marks `out`
// recorded. The results are the nres values from `first`.
void append_node(lua_State *L, int tape, int args, const std::string &name, int first, int nres)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, name.c_str());
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, args);
    lua_setfield(L, -2, "args");
    lua_pushvalue(L, first);
    lua_setfield(L, -2, "out");
    lua_createtable(L, nres, 0);
    for (int i = 0; i < nres; ++i) {
        lua_pushvalue(L, first + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "results");
    lua_getfield(L, tape, "nodes");
    lua_insert(L, -2);
    lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2) + 1));
    lua_pop(L, 1);
    lua_getfield(L, tape, "tracked");
    lua_pushvalue(L, first);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

// The nres results on top of the stack go on the tape at `tape`, with the
// arguments `args`; the stack is left as it was, but for a full
// reduction's number, which becomes a 0-d tensor.
void record_results(lua_State *L, int tape, int args, const std::string &name, int nres)
{
    const int first = tape - nres;
    if (lua_type(L, first) == LUA_TNUMBER && reduces_to_number(name)) {
        const auto v = static_cast<float>(lua_tonumber(L, first));
        TensorBox *box = push_new_tensor(L, Shape{}, false);
        box->value.data_ptr()[0] = v;
        lua_replace(L, first);
    }
    if (!test_tensor(L, first))
        return; // a number or a table leaves the tape
    const lua_Integer n = lua_rawlen(L, args);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, args, i);
        const bool same = lua_rawequal(L, -1, first);
        lua_pop(L, 1);
        if (same) // t:contiguous() of a contiguous t: t itself, already recorded
            return;
    }
    append_node(L, tape, args, name, first, nres);
}

} // namespace

namespace {

// Whether the tape at `tape` tracks one of the values at stack positions
// first..last (a tensor, or a list of them).
bool tape_tracks(lua_State *L, int tape, int first, int last)
{
    lua_getfield(L, tape, "tracked");
    const int tracked = lua_gettop(L);
    bool any = false;
    for (int i = first; i <= last && !any; ++i)
        any = holds_tracked(L, tracked, i);
    lua_pop(L, 1);
    return any;
}

// Whether any recording tape (the current one, or one it interrupted: an
// autograd.grad inside another's f) tracks one of the arguments 1..n.
bool any_tape_tracks(lua_State *L, int n)
{
    const int top = lua_gettop(L);
    bool any = false;
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    while (!any && lua_istable(L, -1)) {
        any = tape_tracks(L, lua_gettop(L), 1, n);
        lua_getfield(L, -1, "previous");
    }
    lua_settop(L, top);
    return any;
}

// The nres results from stack position `first` go on every recording tape
// that tracks one of the arguments in the table `args`: an inner
// autograd.grad's intermediate results stay known to the outer one, whose
// gradient then goes through the inner backward pass too.
void record_on_tapes(lua_State *L, int args, const std::string &name, int first, int nres)
{
    const int top = lua_gettop(L);
    const int n = static_cast<int>(lua_rawlen(L, args));
    for (int i = 1; i <= n; ++i)
        lua_rawgeti(L, args, i);
    const int first_arg = top + 1, last_arg = top + n;
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    while (lua_istable(L, -1)) {
        const int tape = lua_gettop(L);
        if (tape_tracks(L, tape, first_arg, last_arg)) {
            // record_results takes the results just below the tape.
            for (int i = 0; i < nres; ++i)
                lua_pushvalue(L, first + i);
            lua_pushvalue(L, tape);
            record_results(L, lua_gettop(L), args, name, nres);
            lua_copy(L, tape + 1, first); // a number may have become a 0-d tensor
            lua_settop(L, tape);
        }
        lua_getfield(L, tape, "previous");
        lua_remove(L, tape);
    }
    lua_settop(L, top);
}

} // namespace

int recorded_call(lua_State *L, lua_CFunction fn, lua_CFunction key)
{
    const auto plain = [&] { return guarded(L, [&] { return fn(L); }); };
    const int n = lua_gettop(L);
    const std::string &name = op_name(key);
    // t.method and t.grad go through __index too: only t[i] is an operation.
    if ((name == "__index" && lua_type(L, 2) != LUA_TNUMBER) || !any_tape_tracks(L, n))
        return plain();
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    const int tape = n + 1;
    if (!listed(L, tape, "vjp", name)) {
        const bool constant = listed(L, tape, "constant", name);
        lua_settop(L, n);
        if (constant) // a mask, an index, a shape: no gradient flows through it
            return plain();
        if (changes_in_place(name))
            raise(L, "autograd.grad: " + shown_name(name) +
                         " changes a tensor in place while autograd records it (an argument is "
                         "recorded); use the form that makes a new tensor (t:add, not t:add_)");
        raise(L, "autograd.grad: " + shown_name(name) +
                     " has no gradient; compute with differentiable tensor operations while "
                     "recording (docs/lua-api.md, section autograd)");
    }
    // The arguments, kept on the tape's list of calls in progress while fn
    // runs (fn counts its arguments on the stack); an error in fn leaves
    // them there, to go with the tape.
    if (lua_getfield(L, tape, "pending") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, tape, "pending");
    }
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; ++i) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2) + 1));
    lua_settop(L, n);
    const int nres = plain();
    // fn runs no Lua code, so the tape that records is still this one.
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    const int tape_after = lua_gettop(L);
    lua_getfield(L, tape_after, "pending");
    const auto depth = static_cast<lua_Integer>(lua_rawlen(L, -1));
    lua_rawgeti(L, -1, depth);
    const int args = lua_gettop(L);
    lua_pushnil(L);
    lua_rawseti(L, args - 1, depth);
    if (nres > 0)
        record_on_tapes(L, args, name, tape_after - nres, nres);
    lua_settop(L, tape_after - 1);
    return nres;
}

namespace {

// autograd._begin(tape): the tape records from now on (on top of the one
// recording before, which gets it back at _finish).
int autograd_begin(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    lua_setfield(L, 1, "previous");
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, kTapeKey);
    recording_tapes.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

// autograd._finish(tape): the tape stops recording.
int autograd_finish(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, LUA_REGISTRYINDEX, kTapeKey);
    if (!lua_rawequal(L, -1, 1))
        raise(L, "autograd: the tape that ends is not the one recording (recordings must end "
                 "in the order they began)");
    lua_getfield(L, 1, "previous");
    lua_setfield(L, LUA_REGISTRYINDEX, kTapeKey);
    lua_pushnil(L);
    lua_setfield(L, 1, "previous");
    recording_tapes.fetch_sub(1, std::memory_order_relaxed);
    return 0;
}

// autograd._provide_backward(fn): nn.define calls fn(definition) for a
// layer defined without a backward, and registers what it returns.
int autograd_provide_backward(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, kAutogradBackwardKey);
    return 0;
}

} // namespace

} // namespace autograd

void push_autograd_core(lua_State *L, int tensor_module)
{
    tensor_module = lua_absindex(L, tensor_module);
    std::call_once(autograd::names_built, [&] { autograd::build_names(L, tensor_module); });
    static const luaL_Reg fns[] = {
        {"_begin", autograd::autograd_begin},
        {"_finish", autograd::autograd_finish},
        {"_provide_backward", autograd::autograd_provide_backward},
        {nullptr, nullptr}};
    luaL_newlib(L, fns);
}

} // namespace neurite::lua
