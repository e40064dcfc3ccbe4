// The `tensor` module: the tensor userdata (its lifetime, t[i] and t[i] = v,
// printing), the constructors from tables and shapes, and the random
// generator. The methods are in tensor_views.cpp (shapes, views, elements),
// tensor_math.cpp (elementwise, matmul), tensor_reduce.cpp (reductions) and
// tensor_select.cpp (index, gather, scatter, where); the builders such as
// cat and arange in tensor_build.cpp.
#include "memory_limit.h"
#include "tensor_args.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>

namespace neurite::lua {

namespace {

constexpr int kUserValues = 2; // 1: owner of a view's memory, 2: a parameter's grad tensor

// Idempotent: a script may call it by hand (getmetatable(t).__gc(t)). The
// box then holds nothing and every use raises; the memory of inline floats
// stays with the userdata until the collector frees it, so views of it
// (which keep the userdata alive) stay valid. Registered without guard:
// the guard's interrupt check would raise a pending Ctrl-C or os.exit again
// in every finalizer that lua_close runs, and leak what the box holds.
int tensor_gc(lua_State *L)
{
    auto *box = static_cast<TensorBox *>(luaL_checkudata(L, 1, kTensorMeta));
    if (!box->freed) {
        *box = TensorBox{};
        box->freed = true;
    }
    return 0;
}

int tensor_field(lua_State *L, TensorBox *box, const char *key)
{
    if (std::strcmp(key, "grad") == 0 && box->grad.defined()) {
        if (lua_getiuservalue(L, 1, 2) == LUA_TUSERDATA)
            return 1;
        lua_pop(L, 1);
        lua_getiuservalue(L, 1, 1); // the grad shares the parameter's owner
        TensorBox *g = push_tensor(L, box->grad, lua_gettop(L));
        g->owner = box->owner;
        g->param_index = box->param_index;
        g->arena = box->arena;
        g->is_grad = true;
        g->name = box->name;
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 2);
        return 1;
    }
    if (std::strcmp(key, "name") == 0 && !box->name.empty()) {
        lua_pushstring(L, box->name.c_str());
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

// The row index of t[key], 0-based.
int64_t row_of_key(lua_State *L, const Tensor &t, const char *fn)
{
    int ok = 0;
    const lua_Integer i = lua_tointegerx(L, 2, &ok);
    if (!ok)
        raise(L, std::string(fn) + ": the index " + value_text(L, 2) + " is not an integer");
    if (t.dim() == 0)
        raise(L, std::string(fn) + ": a 0-d tensor has no rows; t:item() reads its value");
    return element_index(L, i, t.size(0), 0, fn);
}

// t[i]: row i as a view (t:select(1, i)), or the number itself when t is
// 1-D, as Torch7 gives it, since a script compares and formats numbers. A
// string key is a method, or a parameter's field (grad, name).
int tensor_index(lua_State *L)
{
    const int type = lua_type(L, 2);
    if (type == LUA_TSTRING) {
        // A method even of a freed tensor: the method then names itself in the error.
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
            return 1;
        TensorBox *box = test_tensor(L, 1);
        if (!box) // __index called by hand on something else
            check_tensor_box(L, 1);
        if (box->freed)
            raise(L, "t." + std::string(lua_tostring(L, 2)) +
                         ": the tensor was already freed (its __gc was called)");
        return tensor_field(L, box, lua_tostring(L, 2));
    }
    if (type != LUA_TNUMBER)
        raise(L, "t[...]: a tensor is indexed by an integer (its rows) or a method name, got " +
                     describe_value(L, 2));
    if (TensorBox *box = test_tensor(L, 1); box && box->freed)
        raise(L, "t[i]: the tensor was already freed (its __gc was called)");
    const Tensor &t = check_any_tensor(L, 1);
    const int64_t i = row_of_key(L, t, "t[i]");
    if (t.dim() == 1) {
        lua_pushnumber(L, t.data_ptr()[i * t.stride(0)]);
        return 1;
    }
    push_view(L, 1, t.select(0, i));
    return 1;
}

// t[i] = v: sets element i of a 1-D tensor, or fills row i with a number or
// copies a tensor into it (broadcast to the row's shape).
int tensor_newindex(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        raise(L, "t[...] = v: only rows can be assigned (t[i] = v with an integer i), not " +
                     value_text(L, 2));
    const int64_t i = row_of_key(L, t, "t[i] = v");
    Tensor row = t.select(0, i);
    check_writable(L, row, "t[i] = v");
    if (lua_type(L, 3) == LUA_TNUMBER) {
        row.fill(static_cast<float>(lua_tonumber(L, 3)));
        return 0;
    }
    if (!test_tensor(L, 3))
        raise(L, "t[i] = v: v must be a number or a tensor, got " + describe_value(L, 3));
    const Tensor &src = check_any_tensor(L, 3);
    if (!broadcasts_to(src.shape(), row.shape()))
        raise(L, "t[i] = v: a tensor of shape " + src.shape().to_string() + " does not fit row " +
                     std::to_string(i + 1) + " of shape " + row.shape().to_string());
    return guarded(L, [&] {
        const Tensor from = row.shares_memory_with(src) ? src.clone() : src;
        strided::map(row, from, [](float v) { return v; });
        return 0;
    });
}

int tensor_tostring(lua_State *L)
{
    const TensorBox *box = check_tensor_box(L, 1);
    std::string text = tensor_text(box->value.contiguous());
    if (!box->name.empty())
        text = (box->is_grad ? "gradient of " : "parameter ") + box->name + ", " + text;
    lua_pushstring(L, text.c_str());
    return 1;
}

int tensor_len(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    lua_pushinteger(L, t.dim() ? t.size(0) : 0);
    return 1;
}

// ---- constructors

void fill_from_table(lua_State *L, int idx, const Shape &shape, int depth, float *&out,
                     std::string &path)
{
    const lua_Integer n = luaL_len(L, idx);
    if (n != shape[depth])
        raise(L, "tensor: the table at " + (path.empty() ? std::string("the top") : path) +
                     " has " + std::to_string(n) +
                     " elements but the first one at this depth has " +
                     std::to_string(shape[depth]) + " (a tensor's rows must all be as long)");
    for (lua_Integer i = 1; i <= n; ++i) {
        const int type = lua_geti(L, idx, i);
        const size_t mark = path.size();
        path += '[';
        path += std::to_string(i);
        path += ']';
        if (depth + 1 < shape.size()) {
            if (type != LUA_TTABLE)
                raise(L, "tensor: " + path + " is " + describe_value(L, -1) +
                             ", expected a table like its neighbours");
            fill_from_table(L, lua_gettop(L), shape, depth + 1, out, path);
        } else {
            if (type != LUA_TNUMBER)
                raise(L,
                      "tensor: " + path + " is " + describe_value(L, -1) + ", expected a number");
            *out++ = static_cast<float>(lua_tonumber(L, -1));
        }
        path.resize(mark);
        lua_pop(L, 1);
    }
}

// The shape of a nested table: the length at each depth of its first
// elements. Every other table is checked against it while filling.
Shape table_shape(lua_State *L, int idx, const char *fn)
{
    Shape shape;
    std::string path;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        const lua_Integer n = luaL_len(L, -1);
        if (n < 0)
            raise(L, std::string(fn) + ": the table at " + (path.empty() ? "the top" : path) +
                         " has length " + std::to_string(n) + " (its __len)");
        if (shape.size() == Shape::kMaxDims)
            raise(L, std::string(fn) + ": the table is nested more than " +
                         std::to_string(Shape::kMaxDims) + " deep (a tensor's most dimensions)");
        shape.push_back(n);
        if (n == 0)
            break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
        path += "[1]";
    }
    lua_pop(L, 1);
    check_shape_size(L, shape, fn);
    return shape;
}

int tensor_call(lua_State *L)
{
    // 1 is the tensor module table itself (__call).
    if (test_tensor(L, 2)) {
        push_copy(L, check_any_tensor(L, 2));
        return 1;
    }
    if (lua_type(L, 2) == LUA_TNUMBER) { // a 0-d tensor, as torch.tensor(5)
        push_new_tensor(L, Shape{}, false)->value.data_ptr()[0] =
            static_cast<float>(lua_tonumber(L, 2));
        return 1;
    }
    if (!lua_istable(L, 2))
        arg_error(L, 1, "tensor",
                  "a table of numbers such as {{1, 2}, {3, 4}}, a number or a tensor");
    const Shape shape = table_shape(L, 2, "tensor");
    float *out = push_new_tensor(L, shape, false)->value.data_ptr();
    std::string path;
    fill_from_table(L, 2, shape, 0, out, path);
    return 1;
}

template <class Fill>
int make_filled(lua_State *L, const char *fn, Fill &&fill)
{
    const Shape shape = new_tensor_shape(L, 1, fn);
    Tensor t = push_new_tensor(L, shape, false)->value;
    fill(t);
    return 1;
}

int tensor_zeros(lua_State *L)
{
    return make_filled(L, "tensor.zeros", [](Tensor &t) { t.fill(0); });
}
int tensor_ones(lua_State *L)
{
    return make_filled(L, "tensor.ones", [](Tensor &t) { t.fill(1); });
}

int tensor_rand(lua_State *L)
{
    return make_filled(L, "tensor.rand", [L](Tensor &t) {
        fill_random(L, t, std::uniform_real_distribution<float>(0.0f, 1.0f));
    });
}

int tensor_randn(lua_State *L)
{
    return make_filled(L, "tensor.randn", [L](Tensor &t) {
        fill_random(L, t, std::normal_distribution<float>(0.0f, 1.0f));
    });
}

// tensor.full(shape, value): the shape is a table, or numbers before the value.
int tensor_full(lua_State *L)
{
    const int top = lua_gettop(L);
    const float value = static_cast<float>(check_num(L, top, "tensor.full", "the value"));
    lua_settop(L, top - 1);
    return make_filled(L, "tensor.full", [&](Tensor &t) { t.fill(value); });
}

int tensor_seed(lua_State *L)
{
    detail::session(L).rng.seed(static_cast<uint64_t>(check_int(L, 1, "tensor.seed", "the seed")));
    return 0;
}

int tensor_rng_state(lua_State *L)
{
    std::ostringstream s;
    s << detail::session(L).rng;
    lua_pushstring(L, s.str().c_str());
    return 1;
}

int tensor_set_rng_state(lua_State *L)
{
    std::istringstream s(luaL_checkstring(L, 1));
    std::mt19937_64 rng;
    s >> rng;
    if (!s)
        raise(L, "tensor.set_rng_state: the string is not a state from tensor.rng_state()");
    detail::session(L).rng = rng;
    return 0;
}

int tensor_is_tensor(lua_State *L)
{
    lua_pushboolean(L, test_tensor(L, 1) != nullptr);
    return 1;
}

// "t:sum" for a method call on a tensor, "tensor.cat" for a function: how
// the script wrote the call in progress, for errors about its arguments.
std::string calling_function(lua_State *L, bool &method)
{
    lua_Debug ar;
    method = false;
    if (!lua_getstack(L, 0, &ar) || !lua_getinfo(L, "n", &ar) || !ar.name)
        return "?";
    method = ar.namewhat && std::strcmp(ar.namewhat, "method") == 0;
    if (ar.namewhat && std::strcmp(ar.namewhat, "metamethod") == 0)
        return std::string("tensor __") + ar.name; // t + u, #t, tostring(t)
    if (!method)
        return ar.name;
    std::string receiver = "t";
    if (luaL_testudata(L, 1, kLayerMeta) || luaL_testudata(L, 1, kModelMeta))
        receiver = "model";
    else if (luaL_testudata(L, 1, kLossMeta))
        receiver = "loss";
    else if (luaL_testudata(L, 1, kOptimizerMeta))
        receiver = "opt";
    return receiver + ":" + ar.name;
}

} // namespace

TensorBox *push_new_tensor(lua_State *L, const Shape &shape, bool zero)
{
    constexpr size_t kAlign = 64; // as the core aligns tensors, for vector loads
    size_t bytes = 0;
    try {
        bytes = checked_bytes(shape.checked_numel(), sizeof(float));
    } catch (const Error &e) {
        raise(L, e.what());
    }
    check_tensor_allocation(L, shape); // a clear error with the shape, not Lua's "not enough memory"
    void *mem = lua_newuserdatauv(L, sizeof(TensorBox) + kAlign + bytes, kUserValues);
    auto *box = new (mem) TensorBox{};
    const auto first = reinterpret_cast<uintptr_t>(mem) + sizeof(TensorBox);
    auto *data = reinterpret_cast<float *>((first + kAlign - 1) / kAlign * kAlign);
    if (zero && bytes)
        std::memset(data, 0, bytes);
    box->value = Tensor::view(data, shape);
    box->inline_storage = true;
    luaL_setmetatable(L, kTensorMeta);
    return box;
}

TensorBox *push_copy(lua_State *L, const Tensor &t)
{
    TensorBox *box = push_new_tensor(L, t.shape(), false);
    box->value.copy_from(t);
    return box;
}

TensorBox *push_tensor(lua_State *L, Tensor value, int keepalive)
{
    if (keepalive)
        keepalive = lua_absindex(L, keepalive);
    void *mem = lua_newuserdatauv(L, sizeof(TensorBox), kUserValues);
    auto *box = new (mem) TensorBox{};
    box->value = std::move(value);
    luaL_setmetatable(L, kTensorMeta);
    if (keepalive) {
        lua_pushvalue(L, keepalive);
        lua_setiuservalue(L, -2, 1);
    }
    return box;
}

TensorBox *push_view(lua_State *L, int idx, Tensor view)
{
    idx = lua_absindex(L, idx);
    TensorBox *src = check_tensor_box(L, idx);
    lua_getiuservalue(L, idx, 1);
    const bool has_owner = !lua_isnil(L, -1);
    std::shared_ptr<Module> owner = src->owner;
    std::shared_ptr<ParameterArena> arena = src->arena;
    const bool is_grad = src->is_grad;
    if (!has_owner && !src->inline_storage) {
        // The core's tensors share storage by shared ownership: no keepalive needed.
        lua_pop(L, 1);
        return push_tensor(L, std::move(view));
    }
    // The memory belongs to the source's owner, or to the source userdata itself.
    if (!has_owner) {
        lua_pop(L, 1);
        lua_pushvalue(L, idx);
    }
    TensorBox *box = push_tensor(L, std::move(view), lua_gettop(L));
    lua_remove(L, -2);
    box->owner = std::move(owner); // a derived view: param_index stays -1
    box->arena = std::move(arena);
    box->is_grad = is_grad;
    return box;
}

TensorBox *test_tensor(lua_State *L, int idx)
{
    return static_cast<TensorBox *>(test_userdata(L, idx, kTensorMeta));
}

TensorBox *check_tensor_box(lua_State *L, int idx)
{
    auto *box = test_tensor(L, idx);
    if (box && !box->freed)
        return box;
    // Name the call as the script wrote it: t:matmul(u) counts u as argument 1.
    bool method = false;
    const std::string fn = calling_function(L, method);
    int arg = idx;
    if (box)
        raise(L, fn + ": the tensor was already freed (its __gc was called)");
    if (method && --arg == 0)
        raise(L, fn + " must be called on a tensor (with ':'), got " + describe_value(L, idx));
    arg_error(L, idx, fn.c_str(), "a tensor", arg);
}

const Tensor &check_any_tensor(lua_State *L, int idx)
{
    TensorBox *box = check_tensor_box(L, idx);
    if (!box->owner)
        return box->value;
    // The layer may have been bound into a model's arena since this view was made.
    const auto &slots = box->owner->param_slots();
    if (box->param_index >= 0 && static_cast<size_t>(box->param_index) < slots.size()) {
        const Module::Slot &s = slots[static_cast<size_t>(box->param_index)];
        const Tensor &now = box->is_grad ? s.grad : s.value;
        if (now.defined() && now.data() != box->value.data()) {
            box->value = now;
            if (!box->is_grad)
                box->grad = s.grad;
            box->arena = box->owner->arena();
        }
    }
    if (box->is_grad)
        sync_grads(L, *box->owner);
    return box->value;
}

Tensor check_tensor(lua_State *L, int idx)
{
    const Tensor &t = check_any_tensor(L, idx);
    if (t.is_contiguous())
        return t;
    return guarded(L, [&] { return t.clone(); });
}

Tensor tensor_from_value(lua_State *L, int idx, const char *fn)
{
    if (test_tensor(L, idx))
        return check_tensor(L, idx);
    if (lua_type(L, idx) == LUA_TNUMBER)
        return Tensor::full(Shape{1}, static_cast<float>(lua_tonumber(L, idx)));
    if (!lua_istable(L, idx))
        arg_error(L, idx, fn, "a tensor or a table of numbers");
    idx = lua_absindex(L, idx);
    const Shape shape = table_shape(L, idx, fn);
    Tensor t = guarded(L, [&] { return Tensor::uninitialized(shape); });
    float *out = t.data_ptr();
    std::string path;
    fill_from_table(L, idx, shape, 0, out, path);
    return t;
}

void push_parameter(lua_State *L, const Parameter &p, int index)
{
    TensorBox *box = push_tensor(L, p.value);
    box->owner = p.owner;
    box->param_index = index;
    box->arena = p.arena;
    box->grad = p.grad;
    box->name = p.name;
}

void open_tensor(lua_State *L)
{
    luaL_newmetatable(L, kTensorMeta);
    const int meta = lua_gettop(L);
    lua_newtable(L);
    const int methods = lua_gettop(L);
    open_tensor_views(L, methods);
    open_tensor_math(L, methods);
    open_tensor_reduce(L, methods);
    open_tensor_select(L, methods);
    open_tensor_save_npy(L, methods);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, guard<tensor_index>, 1);
    lua_setfield(L, meta, "__index");
    lua_pop(L, 1); // methods
    static const luaL_Reg metamethods[] = {
        {"__gc", tensor_gc}, {"__newindex", guard<tensor_newindex>},
        {"__tostring", guard<tensor_tostring>}, {"__len", guard<tensor_len>}, {nullptr, nullptr}};
    luaL_setfuncs(L, metamethods, 0);
    lua_pushliteral(L, "tensor");
    lua_setfield(L, meta, "__name");
    lua_pop(L, 1); // metatable

    static const luaL_Reg functions[] = {
        {"zeros", guard<tensor_zeros>}, {"ones", guard<tensor_ones>}, {"rand", guard<tensor_rand>},
        {"randn", guard<tensor_randn>}, {"full", guard<tensor_full>}, {"seed", guard<tensor_seed>},
        {"rng_state", guard<tensor_rng_state>}, {"set_rng_state", guard<tensor_set_rng_state>},
        {"is_tensor", guard<tensor_is_tensor>}, {nullptr, nullptr}};
    luaL_newlib(L, functions);
    open_tensor_build(L, lua_gettop(L));
    open_tensor_where(L, lua_gettop(L));
    open_tensor_load_npy(L, lua_gettop(L));
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, guard<tensor_call>);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
}

} // namespace neurite::lua
