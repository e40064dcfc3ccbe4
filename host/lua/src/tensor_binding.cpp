// The `tensor` module: constructors, element access, shape methods and
// printing. Arithmetic and reductions are in tensor_math.cpp.
#include "binding.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace neurite::lua {

namespace {

constexpr int kUserValues = 2; // 1: owner of a view's memory, 2: a parameter's grad tensor

int tensor_gc(lua_State *L)
{
    auto *box = static_cast<TensorBox *>(luaL_checkudata(L, 1, kTensorMeta));
    box->~TensorBox();
    return 0;
}

// Methods first (one rawget), then the fields a parameter has.
int tensor_index(lua_State *L)
{
    TensorBox *box = check_tensor_box(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    if (lua_type(L, 2) != LUA_TSTRING)
        return 1; // nil
    const char *key = lua_tostring(L, 2);
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

int tensor_tostring(lua_State *L)
{
    const Tensor &t = check_tensor(L, 1);
    const TensorBox *box = check_tensor_box(L, 1);
    std::string text = tensor_text(t);
    if (!box->name.empty())
        text = (box->is_grad ? "gradient of " : "parameter ") + box->name + ", " + text;
    lua_pushstring(L, text.c_str());
    return 1;
}

int tensor_len(lua_State *L)
{
    const Tensor &t = check_tensor(L, 1);
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
                     " has " + std::to_string(n) + " elements but the first one at this depth has " +
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
                raise(L, "tensor: " + path + " is " + describe_value(L, -1) + ", expected a number");
            *out++ = static_cast<float>(lua_tonumber(L, -1));
        }
        path.resize(mark);
        lua_pop(L, 1);
    }
}

int tensor_call(lua_State *L)
{
    // 1 is the tensor module table itself (__call).
    return guarded(L, [&] {
        if (test_tensor(L, 2)) {
            push_copy(L, check_tensor(L, 2));
            return 1;
        }
        if (!lua_istable(L, 2))
            arg_error(L, 1, "tensor", "a table of numbers such as {{1, 2}, {3, 4}}, or a tensor");
        push_copy(L, tensor_from_value(L, 2, "tensor"));
        return 1;
    });
}

template <class Fill>
int make_filled(lua_State *L, const char *fn, Fill &&fill)
{
    const Shape shape = check_shape_args(L, 1, fn);
    Tensor t = push_new_tensor(L, shape)->value;
    fill(t);
    return 1;
}

int tensor_zeros(lua_State *L) { return make_filled(L, "tensor.zeros", [](Tensor &) {}); }
int tensor_ones(lua_State *L) { return make_filled(L, "tensor.ones", [](Tensor &t) { t.fill(1); }); }

int tensor_rand(lua_State *L)
{
    auto &rng = detail::session(L).rng;
    return make_filled(L, "tensor.rand", [&](Tensor &t) {
        std::uniform_real_distribution<float> d(0.0f, 1.0f);
        for (float &v : t)
            v = d(rng);
    });
}

int tensor_randn(lua_State *L)
{
    auto &rng = detail::session(L).rng;
    return make_filled(L, "tensor.randn", [&](Tensor &t) {
        std::normal_distribution<float> d(0.0f, 1.0f);
        for (float &v : t)
            v = d(rng);
    });
}

int tensor_full(lua_State *L)
{
    const float value = static_cast<float>(luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return make_filled(L, "tensor.full", [&](Tensor &t) { t.fill(value); });
}

int tensor_randperm(lua_State *L)
{
    const lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1)
        raise(L, "tensor.randperm: n must be at least 1, got " + std::to_string(n));
    return guarded(L, [&] {
        Tensor t(Shape{n});
        for (lua_Integer i = 0; i < n; ++i)
            t[i] = static_cast<float>(i + 1);
        auto &rng = detail::session(L).rng;
        for (lua_Integer i = n - 1; i > 0; --i) {
            std::uniform_int_distribution<lua_Integer> d(0, i);
            std::swap(t[i], t[d(rng)]);
        }
        push_tensor(L, std::move(t));
        return 1;
    });
}

int tensor_linspace(lua_State *L)
{
    const double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    const lua_Integer n = luaL_optinteger(L, 3, 100);
    if (n < 2)
        raise(L, "tensor.linspace: n must be at least 2, got " + std::to_string(n));
    return guarded(L, [&] {
        Tensor t(Shape{n});
        for (lua_Integer i = 0; i < n; ++i)
            t[i] = static_cast<float>(a + (b - a) * static_cast<double>(i) / static_cast<double>(n - 1));
        push_tensor(L, std::move(t));
        return 1;
    });
}

int tensor_seed(lua_State *L)
{
    detail::session(L).rng.seed(static_cast<uint64_t>(luaL_checkinteger(L, 1)));
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

// ---- methods: shape and elements

int m_shape(lua_State *L)
{
    push_shape(L, check_tensor(L, 1).shape());
    return 1;
}

int m_size(lua_State *L)
{
    const Tensor &t = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t.shape());
        return 1;
    }
    const lua_Integer d = luaL_checkinteger(L, 2);
    if (d < 1 || d > t.dim())
        raise(L, "t:size: dimension " + std::to_string(d) + " is out of range for shape " +
                     t.shape().to_string());
    lua_pushinteger(L, t.size(static_cast<int>(d - 1)));
    return 1;
}

int m_dim(lua_State *L)
{
    lua_pushinteger(L, check_tensor(L, 1).dim());
    return 1;
}

int m_numel(lua_State *L)
{
    lua_pushinteger(L, check_tensor(L, 1).numel());
    return 1;
}

int64_t flat_index(lua_State *L, const Tensor &t, int first, int count, const char *fn)
{
    if (count != t.dim())
        raise(L, std::string(fn) + " needs " + std::to_string(t.dim()) +
                     " indices for a tensor of shape " + t.shape().to_string() + ", got " +
                     std::to_string(count));
    int64_t flat = 0;
    for (int d = 0; d < count; ++d) {
        const lua_Integer i = luaL_checkinteger(L, first + d);
        if (i < 1 || i > t.size(d))
            raise(L, std::string(fn) + ": index " + std::to_string(i) + " is out of range for dimension " +
                         std::to_string(d + 1) + " of shape " + t.shape().to_string() +
                         " (indices start at 1)");
        flat = flat * t.size(d) + (i - 1);
    }
    return flat;
}

int m_get(lua_State *L)
{
    const Tensor &t = check_tensor(L, 1);
    lua_pushnumber(L, t[flat_index(L, t, 2, lua_gettop(L) - 1, "t:get")]);
    return 1;
}

int m_set(lua_State *L)
{
    Tensor t = check_tensor(L, 1);
    const int top = lua_gettop(L);
    const double v = luaL_checknumber(L, top);
    t[flat_index(L, t, 2, top - 2, "t:set")] = static_cast<float>(v);
    lua_settop(L, 1);
    return 1;
}

void push_nested(lua_State *L, const Tensor &t, int depth, int64_t &flat)
{
    const int64_t n = t.size(depth);
    lua_createtable(L, static_cast<int>(n), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (depth + 1 < t.dim())
            push_nested(L, t, depth + 1, flat);
        else
            lua_pushnumber(L, t[flat++]);
        lua_rawseti(L, -2, i + 1);
    }
}

int m_totable(lua_State *L)
{
    const Tensor &t = check_tensor(L, 1);
    luaL_checkstack(L, t.dim() + 4, "tensor too deep");
    int64_t flat = 0;
    push_nested(L, t, 0, flat);
    return 1;
}

// A view of box's memory that keeps the same owner alive.
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

int m_reshape(lua_State *L)
{
    return guarded(L, [&] {
        const Tensor &t = check_tensor(L, 1);
        // -1 in one place takes what is left, as in Torch.
        Shape shape;
        int infer = -1;
        const int top = lua_gettop(L);
        const bool table = lua_istable(L, 2);
        const int n = table ? static_cast<int>(luaL_len(L, 2)) : top - 1;
        for (int i = 1; i <= n; ++i) {
            if (table)
                lua_geti(L, 2, i);
            else
                lua_pushvalue(L, i + 1);
            int ok = 0;
            const lua_Integer d = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok || d < -1)
                raise(L, "t:reshape: dimension " + std::to_string(i) + " must be an integer >= 0 or -1");
            if (d == -1) {
                if (infer >= 0)
                    raise(L, "t:reshape: only one dimension can be -1");
                infer = i - 1;
            }
            shape.push_back(d == -1 ? 1 : d);
        }
        if (shape.empty())
            raise(L, "t:reshape needs a shape, e.g. t:reshape{2, 3}");
        check_shape_size(L, shape, "t:reshape");
        if (infer >= 0) {
            const int64_t rest = shape.numel();
            if (rest == 0 || t.numel() % rest != 0)
                raise(L, "t:reshape: cannot infer the -1 dimension for " + t.shape().to_string() +
                             " (" + std::to_string(t.numel()) + " elements)");
            shape[infer] = t.numel() / rest;
        }
        push_view(L, 1, t.reshape(shape));
        return 1;
    });
}

int m_clone(lua_State *L)
{
    push_copy(L, check_tensor(L, 1));
    return 1;
}

int m_copy(lua_State *L)
{
    return guarded(L, [&] {
        Tensor dst = check_tensor(L, 1);
        const Tensor src = tensor_from_value(L, 2, "t:copy");
        if (src.numel() != dst.numel())
            throw Error("t:copy: cannot copy a tensor of shape " + src.shape().to_string() +
                        " into one of shape " + dst.shape().to_string());
        dst.copy_from(src.reshape(dst.shape()));
        lua_settop(L, 1);
        return 1;
    });
}

int m_fill(lua_State *L)
{
    Tensor t = check_tensor(L, 1);
    t.fill(static_cast<float>(luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

int m_narrow(lua_State *L)
{
    return guarded(L, [&] {
        const Tensor &t = check_tensor(L, 1);
        const lua_Integer dim = luaL_checkinteger(L, 2);
        const lua_Integer first = luaL_checkinteger(L, 3);
        const lua_Integer count = luaL_checkinteger(L, 4);
        if (dim != 1)
            raise(L, "t:narrow: only dimension 1 (rows, which share memory) is supported; use "
                     "t:index(dim, indices) to copy along another dimension");
        if (first < 1 || count < 0 || first - 1 + count > t.size(0))
            raise(L, "t:narrow: rows " + std::to_string(first) + " to " +
                         std::to_string(first + count - 1) + " are outside a tensor of shape " +
                         t.shape().to_string());
        push_view(L, 1, t.rows(first - 1, count));
        return 1;
    });
}

int m_index(lua_State *L)
{
    return guarded(L, [&] {
        const Tensor &t = check_tensor(L, 1);
        const lua_Integer dim = luaL_checkinteger(L, 2);
        if (dim < 1 || dim > t.dim())
            raise(L, "t:index: dimension " + std::to_string(dim) + " is out of range for shape " +
                         t.shape().to_string());
        const Tensor idx = tensor_from_value(L, 3, "t:index");
        const int d = static_cast<int>(dim - 1);
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < d; ++i)
            outer *= t.size(i);
        for (int i = d + 1; i < t.dim(); ++i)
            inner *= t.size(i);
        const int64_t n = t.size(d), m = idx.numel();
        Shape shape = t.shape();
        shape[d] = m;
        for (int64_t k = 0; k < m; ++k) {
            const float f = idx[k];
            if (f != std::floor(f) || f < 1 || f > static_cast<float>(n))
                raise(L, "t:index: index " + std::to_string(f) + " (position " +
                             std::to_string(k + 1) + ") is out of range for dimension " +
                             std::to_string(dim) + " of shape " + t.shape().to_string());
        }
        Tensor out = push_new_tensor(L, shape, false)->value;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t k = 0; k < m; ++k) {
                const int64_t src = static_cast<int64_t>(idx[k]) - 1;
                std::memcpy(out.data() + (o * m + k) * inner, t.data() + (o * n + src) * inner,
                            static_cast<size_t>(inner) * sizeof(float));
            }
        return 1;
    });
}

} // namespace

TensorBox *push_new_tensor(lua_State *L, const Shape &shape, bool zero)
{
    constexpr size_t kAlign = 64; // as the core aligns tensors, for vector loads
    const size_t bytes = static_cast<size_t>(shape.numel()) * sizeof(float);
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
    if (t.numel())
        std::memcpy(box->value.data(), t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
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

TensorBox *test_tensor(lua_State *L, int idx)
{
    return static_cast<TensorBox *>(luaL_testudata(L, idx, kTensorMeta));
}

TensorBox *check_tensor_box(lua_State *L, int idx)
{
    auto *box = test_tensor(L, idx);
    if (!box) {
        // Name the call as the script wrote it: t:matmul(u) counts u as argument 1.
        lua_Debug ar;
        std::string fn = "?";
        int arg = idx;
        if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) {
            const bool method = ar.namewhat && std::strcmp(ar.namewhat, "method") == 0;
            std::string receiver = "t";
            if (luaL_testudata(L, 1, kLayerMeta) || luaL_testudata(L, 1, kModelMeta))
                receiver = "model";
            else if (luaL_testudata(L, 1, kLossMeta))
                receiver = "loss";
            else if (luaL_testudata(L, 1, kOptimizerMeta))
                receiver = "opt";
            fn = method ? receiver + ":" + ar.name : std::string(ar.name);
            if (method && --arg == 0)
                raise(L, fn + " must be called on a tensor (with ':'), got " + describe_value(L, idx));
        }
        arg_error(L, idx, fn.c_str(), "a tensor", arg);
    }
    return box;
}

const Tensor &check_tensor(lua_State *L, int idx)
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

Tensor tensor_from_value(lua_State *L, int idx, const char *fn)
{
    if (test_tensor(L, idx))
        return check_tensor(L, idx);
    if (lua_type(L, idx) == LUA_TNUMBER)
        return Tensor::full(Shape{1}, static_cast<float>(lua_tonumber(L, idx)));
    if (!lua_istable(L, idx))
        arg_error(L, idx, fn, "a tensor or a table of numbers");
    idx = lua_absindex(L, idx);
    // The shape follows the first element at each depth; every other table
    // is then checked against it.
    Shape shape;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        shape.push_back(luaL_len(L, -1));
        if (shape[shape.size() - 1] == 0)
            break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    Tensor t(shape);
    float *out = t.data();
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
    static const luaL_Reg methods[] = {
        {"shape", m_shape}, {"size", m_size},       {"dim", m_dim},         {"numel", m_numel},
        {"get", m_get},     {"set", m_set},         {"totable", m_totable}, {"reshape", m_reshape},
        {"view", m_reshape}, {"clone", m_clone},    {"copy", m_copy},       {"fill", m_fill},
        {"narrow", m_narrow}, {"index", m_index},   {nullptr, nullptr}};
    luaL_newmetatable(L, kTensorMeta);
    const int meta = lua_gettop(L);
    lua_newtable(L);
    const int method_table = lua_gettop(L);
    luaL_setfuncs(L, methods, 0);
    open_tensor_math(L, method_table);
    lua_pushvalue(L, method_table);
    lua_pushcclosure(L, tensor_index, 1);
    lua_setfield(L, meta, "__index");
    lua_pop(L, 1); // methods
    static const luaL_Reg metamethods[] = {
        {"__gc", tensor_gc}, {"__tostring", tensor_tostring}, {"__len", tensor_len}, {nullptr, nullptr}};
    luaL_setfuncs(L, metamethods, 0);
    lua_pushliteral(L, "tensor");
    lua_setfield(L, meta, "__name");
    lua_pop(L, 1); // metatable

    static const luaL_Reg functions[] = {
        {"zeros", tensor_zeros},       {"ones", tensor_ones},
        {"rand", tensor_rand},         {"randn", tensor_randn},
        {"full", tensor_full},         {"randperm", tensor_randperm},
        {"linspace", tensor_linspace}, {"seed", tensor_seed},
        {"rng_state", tensor_rng_state}, {"set_rng_state", tensor_set_rng_state},
        {"is_tensor", tensor_is_tensor}, {nullptr, nullptr}};
    luaL_newlib(L, functions);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, tensor_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
}

} // namespace neurite::lua
