// Tensor arithmetic for scripts: elementwise operators with NumPy-style
// broadcasting, reductions, matmul (oneDNN's sgemm) and pointwise functions.
// Every result is a new tensor; the in-place forms end in '_' as in PyTorch.
#include "binding.h"
#include "interrupts.h"

#include <dnnl.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace neurite::lua {

namespace {

// Shape of a op b under broadcasting, or an Error naming both shapes.
Shape broadcast_shape(const Shape &a, const Shape &b, const char *op)
{
    const int n = std::max(a.size(), b.size());
    int64_t dims[Shape::kMaxDims];
    for (int i = 0; i < n; ++i) {
        const int ia = a.size() - n + i, ib = b.size() - n + i;
        const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1)
            throw Error(std::string("tensor ") + op + ": shapes " + a.to_string() + " and " +
                        b.to_string() + " do not match (dimension " + std::to_string(i + 1) +
                        " is " + std::to_string(da) + " against " + std::to_string(db) +
                        "; sizes must be equal or 1)");
        dims[i] = std::max(da, db);
    }
    return Shape(std::span<const int64_t>(dims, static_cast<size_t>(n)));
}

// Strides of `s` seen through the broadcast shape `out` (0 where repeated).
void broadcast_strides(const Shape &s, const Shape &out, int64_t *strides)
{
    int64_t stride = 1;
    for (int i = out.size() - 1; i >= 0; --i) {
        const int is = s.size() - out.size() + i;
        if (is >= 0 && s[is] != 1) {
            strides[i] = stride;
            stride *= s[is];
        } else {
            strides[i] = 0;
            if (is >= 0)
                stride *= s[is];
        }
    }
}

template <class Op>
void broadcast_apply(const Tensor &a, const Tensor &b, Tensor &out, Op op)
{
    const Shape &shape = out.shape();
    const int64_t n = out.numel();
    if (a.shape() == shape && b.shape() == shape) {
        for (int64_t i = 0; i < n; ++i)
            out[i] = op(a[i], b[i]);
        return;
    }
    if (b.numel() == 1 && a.shape() == shape) {
        const float s = b[0];
        for (int64_t i = 0; i < n; ++i)
            out[i] = op(a[i], s);
        return;
    }
    if (a.numel() == 1 && b.shape() == shape) {
        const float s = a[0];
        for (int64_t i = 0; i < n; ++i)
            out[i] = op(s, b[i]);
        return;
    }
    int64_t sa[Shape::kMaxDims], sb[Shape::kMaxDims], idx[Shape::kMaxDims] = {};
    broadcast_strides(a.shape(), shape, sa);
    broadcast_strides(b.shape(), shape, sb);
    const int nd = shape.size();
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < n; ++i) {
        out[i] = op(a[oa], b[ob]);
        for (int d = nd - 1; d >= 0; --d) { // odometer over the output index
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < shape[d])
                break;
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

// Operands of a binary metamethod: either side may be a number, seen as a
// one-element tensor over `scalar` (no allocation).
Tensor operand(lua_State *L, int idx, const char *op, float &scalar)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        scalar = static_cast<float>(lua_tonumber(L, idx));
        return Tensor::view(&scalar, Shape{1});
    }
    if (test_tensor(L, idx))
        return check_tensor(L, idx);
    raise(L, std::string("tensor ") + op + ": cannot combine a tensor with " + describe_value(L, idx));
}

template <class Op>
int binary(lua_State *L, const char *op, Op f)
{
    float sa = 0, sb = 0;
    const Tensor a = operand(L, 1, op, sa), b = operand(L, 2, op, sb);
    Shape shape;
    // A number on either side keeps the tensor's shape, not [1].
    if (lua_type(L, 1) == LUA_TNUMBER)
        shape = b.shape();
    else if (lua_type(L, 2) == LUA_TNUMBER)
        shape = a.shape();
    else
        guarded(L, [&] {
            shape = broadcast_shape(a.shape(), b.shape(), op);
            return 0;
        });
    Tensor out = push_new_tensor(L, shape, false)->value;
    broadcast_apply(a, b, out, f);
    return 1;
}

int t_add(lua_State *L) { return binary(L, "+", [](float x, float y) { return x + y; }); }
int t_sub(lua_State *L) { return binary(L, "-", [](float x, float y) { return x - y; }); }
int t_mul(lua_State *L) { return binary(L, "*", [](float x, float y) { return x * y; }); }
int t_div(lua_State *L) { return binary(L, "/", [](float x, float y) { return x / y; }); }
int t_pow(lua_State *L) { return binary(L, "^", [](float x, float y) { return std::pow(x, y); }); }
int t_eq(lua_State *L) { return binary(L, "eq", [](float x, float y) { return x == y ? 1.0f : 0.0f; }); }
int t_gt(lua_State *L) { return binary(L, "gt", [](float x, float y) { return x > y ? 1.0f : 0.0f; }); }
int t_lt(lua_State *L) { return binary(L, "lt", [](float x, float y) { return x < y ? 1.0f : 0.0f; }); }

template <class Op>
int unary(lua_State *L, Op f)
{
    const Tensor a = check_tensor(L, 1);
    Tensor out = push_new_tensor(L, a.shape(), false)->value;
    for (int64_t i = 0; i < a.numel(); ++i)
        out[i] = f(a[i]);
    return 1;
}

int t_unm(lua_State *L) { return unary(L, [](float x) { return -x; }); }
int t_exp(lua_State *L) { return unary(L, [](float x) { return std::exp(x); }); }
int t_log(lua_State *L) { return unary(L, [](float x) { return std::log(x); }); }
int t_sqrt(lua_State *L) { return unary(L, [](float x) { return std::sqrt(x); }); }
int t_abs(lua_State *L) { return unary(L, [](float x) { return std::fabs(x); }); }
int t_tanh(lua_State *L) { return unary(L, [](float x) { return std::tanh(x); }); }
int t_sigmoid(lua_State *L) { return unary(L, [](float x) { return 1.0f / (1.0f + std::exp(-x)); }); }
int t_relu(lua_State *L) { return unary(L, [](float x) { return x > 0 ? x : 0.0f; }); }
int t_sign(lua_State *L) { return unary(L, [](float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f); }); }

int t_clamp(lua_State *L)
{
    const float lo = static_cast<float>(luaL_optnumber(L, 2, -HUGE_VAL));
    const float hi = static_cast<float>(luaL_optnumber(L, 3, HUGE_VAL));
    return unary(L, [=](float x) { return std::min(hi, std::max(lo, x)); });
}

// Calls a Lua function on every element: slow, but any formula works.
int t_map(lua_State *L)
{
    const Tensor a = check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    Tensor out = push_new_tensor(L, a.shape(), false)->value;
    for (int64_t i = 0; i < a.numel(); ++i) {
        if (i % 4096 == 0)
            check_interrupt(L); // a C function (math.abs) runs no Lua instruction the hook could count
        lua_pushvalue(L, 2);
        lua_pushnumber(L, a[i]);
        lua_call(L, 1, 1);
        int ok = 0;
        const lua_Number v = lua_tonumberx(L, -1, &ok);
        if (!ok)
            raise(L, "t:map: the function returned " + describe_value(L, -1) + " for element " +
                         std::to_string(i + 1) + ", expected a number");
        out[i] = static_cast<float>(v);
        lua_pop(L, 1);
    }
    return 1;
}

// In place: a += alpha * b (b broadcast to a's shape).
int t_add_(lua_State *L)
{
    return guarded(L, [&] {
        Tensor a = check_tensor(L, 1);
        float scalar = 0;
        const Tensor b = operand(L, 2, "add_", scalar);
        const float alpha = static_cast<float>(luaL_optnumber(L, 3, 1.0));
        if (!(broadcast_shape(a.shape(), b.shape(), "add_") == a.shape()))
            throw Error("t:add_: a tensor of shape " + b.shape().to_string() +
                        " cannot be added into one of shape " + a.shape().to_string());
        broadcast_apply(a, b, a, [alpha](float x, float y) { return x + alpha * y; });
        lua_settop(L, 1);
        return 1;
    });
}

int t_mul_(lua_State *L)
{
    return guarded(L, [&] {
        Tensor a = check_tensor(L, 1);
        float scalar = 0;
        const Tensor b = operand(L, 2, "mul_", scalar);
        if (!(broadcast_shape(a.shape(), b.shape(), "mul_") == a.shape()))
            throw Error("t:mul_: a tensor of shape " + b.shape().to_string() +
                        " cannot be multiplied into one of shape " + a.shape().to_string());
        broadcast_apply(a, b, a, [](float x, float y) { return x * y; });
        lua_settop(L, 1);
        return 1;
    });
}

// ---- reductions: over everything (a number) or along one 1-based dimension
// (a tensor without that dimension).

struct Layout {
    int64_t outer, n, inner;
};

Layout along(lua_State *L, const Tensor &t, lua_Integer dim, const char *fn)
{
    if (dim < 1 || dim > t.dim())
        raise(L, std::string("t:") + fn + ": dimension " + std::to_string(dim) +
                     " is out of range for a tensor of shape " + t.shape().to_string());
    Layout l{1, t.size(static_cast<int>(dim - 1)), 1};
    for (int i = 0; i < dim - 1; ++i)
        l.outer *= t.size(i);
    for (int i = static_cast<int>(dim); i < t.dim(); ++i)
        l.inner *= t.size(i);
    return l;
}

Shape without(const Shape &s, lua_Integer dim)
{
    Shape out;
    for (int i = 0; i < s.size(); ++i)
        if (i != dim - 1)
            out.push_back(s[i]);
    return out;
}

enum class Reduce { Sum, Mean, Max, Min, ArgMax, ArgMin };

int reduce(lua_State *L, Reduce kind, const char *fn)
{
    const Tensor &t = check_tensor(L, 1);
    const bool arg = kind == Reduce::ArgMax || kind == Reduce::ArgMin;
    const bool extreme = kind != Reduce::Sum && kind != Reduce::Mean;
    if (extreme && t.numel() == 0)
        raise(L, std::string("t:") + fn + ": the tensor of shape " + t.shape().to_string() +
                     " is empty");
    auto fold = [&](const float *p, int64_t n, int64_t stride, double &value, int64_t &where) {
        double acc = kind == Reduce::Sum || kind == Reduce::Mean ? 0.0 : p[0];
        int64_t best = 0;
        for (int64_t k = 0; k < n; ++k) {
            const double v = p[k * stride];
            switch (kind) {
            case Reduce::Sum:
            case Reduce::Mean: acc += v; break;
            case Reduce::Max:
            case Reduce::ArgMax:
                if (v > acc || std::isnan(v)) { acc = v; best = k; }
                break;
            case Reduce::Min:
            case Reduce::ArgMin:
                if (v < acc || std::isnan(v)) { acc = v; best = k; }
                break;
            }
        }
        value = kind == Reduce::Mean ? (n ? acc / static_cast<double>(n) : NAN) : acc;
        where = best;
    };
    if (lua_isnoneornil(L, 2)) {
        double value;
        int64_t where;
        fold(t.data(), t.numel(), 1, value, where);
        if (arg)
            lua_pushinteger(L, where + 1);
        else
            lua_pushnumber(L, value);
        return 1;
    }
    const lua_Integer dim = luaL_checkinteger(L, 2);
    const Layout l = along(L, t, dim, fn);
    const Shape shape = without(t.shape(), dim);
    return guarded(L, [&] {
        Tensor values(shape.empty() ? Shape{1} : shape), index(values.shape());
        for (int64_t o = 0; o < l.outer; ++o)
            for (int64_t i = 0; i < l.inner; ++i) {
                double value;
                int64_t where;
                fold(t.data() + o * l.n * l.inner + i, l.n, l.inner, value, where);
                values[o * l.inner + i] = static_cast<float>(value);
                index[o * l.inner + i] = static_cast<float>(where + 1);
            }
        if (arg) {
            push_tensor(L, std::move(index));
            return 1;
        }
        push_tensor(L, std::move(values));
        if (!extreme)
            return 1;
        push_tensor(L, std::move(index)); // max/min also give where, as in Torch
        return 2;
    });
}

int t_sum(lua_State *L) { return reduce(L, Reduce::Sum, "sum"); }
int t_mean(lua_State *L) { return reduce(L, Reduce::Mean, "mean"); }
int t_max(lua_State *L) { return reduce(L, Reduce::Max, "max"); }
int t_min(lua_State *L) { return reduce(L, Reduce::Min, "min"); }
int t_argmax(lua_State *L) { return reduce(L, Reduce::ArgMax, "argmax"); }
int t_argmin(lua_State *L) { return reduce(L, Reduce::ArgMin, "argmin"); }

int t_equal(lua_State *L)
{
    const Tensor &a = check_tensor(L, 1);
    const Tensor &b = check_tensor(L, 2);
    bool same = a.shape() == b.shape();
    for (int64_t i = 0; same && i < a.numel(); ++i)
        same = a[i] == b[i];
    lua_pushboolean(L, same);
    return 1;
}

int t_dot(lua_State *L)
{
    const Tensor &a = check_tensor(L, 1);
    const Tensor &b = check_tensor(L, 2);
    if (a.numel() != b.numel())
        raise(L, "t:dot: tensors of shapes " + a.shape().to_string() + " and " +
                     b.shape().to_string() + " have different numbers of elements");
    double s = 0;
    for (int64_t i = 0; i < a.numel(); ++i)
        s += static_cast<double>(a[i]) * b[i];
    lua_pushnumber(L, s);
    return 1;
}

// ---- matrices

int t_matmul(lua_State *L)
{
    return guarded(L, [&] {
        const Tensor &a = check_tensor(L, 1);
        const Tensor &b = check_tensor(L, 2);
        if (a.dim() < 1 || a.dim() > 2 || b.dim() < 1 || b.dim() > 2)
            throw Error("t:matmul multiplies matrices and vectors, got shapes " +
                        a.shape().to_string() + " and " + b.shape().to_string());
        // A vector on the left is a row, on the right a column; the result drops it again.
        const int64_t m = a.dim() == 2 ? a.size(0) : 1, k = a.dim() == 2 ? a.size(1) : a.size(0);
        const int64_t kb = b.size(0), n = b.dim() == 2 ? b.size(1) : 1;
        if (k != kb)
            throw Error("t:matmul: shapes " + a.shape().to_string() + " and " +
                        b.shape().to_string() + " do not fit (" + std::to_string(k) +
                        " columns against " + std::to_string(kb) + " rows)");
        Shape shape;
        if (a.dim() == 2)
            shape.push_back(m);
        if (b.dim() == 2)
            shape.push_back(n);
        if (shape.empty())
            shape.push_back(1);
        Tensor out = push_new_tensor(L, shape, !(m && n && k))->value;
        if (m && n && k)
            cancellable_sgemm(L, 'N', 'N', m, n, k, a.data(), k, b.data(), n, out.data(), n);
        return 1;
    });
}

int t_transpose(lua_State *L)
{
    return guarded(L, [&] {
        const Tensor &a = check_tensor(L, 1);
        if (a.dim() == 1) {
            push_copy(L, a);
            return 1;
        }
        if (a.dim() != 2)
            throw Error("t:t() transposes a matrix, got shape " + a.shape().to_string());
        const int64_t r = a.size(0), c = a.size(1);
        Tensor out = push_new_tensor(L, Shape{c, r}, false)->value;
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < c; ++j)
                out[j * r + i] = a[i * c + j];
        return 1;
    });
}

} // namespace

void open_tensor_math(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"add", t_add},         {"sub", t_sub},       {"mul", t_mul},         {"div", t_div},
        {"pow", t_pow},         {"eq", t_eq},         {"gt", t_gt},           {"lt", t_lt},
        {"neg", t_unm},         {"exp", t_exp},       {"log", t_log},         {"sqrt", t_sqrt},
        {"abs", t_abs},         {"tanh", t_tanh},     {"sigmoid", t_sigmoid}, {"relu", t_relu},
        {"sign", t_sign},       {"clamp", t_clamp},   {"map", t_map},         {"add_", t_add_},
        {"mul_", t_mul_},       {"sum", t_sum},       {"mean", t_mean},       {"max", t_max},
        {"min", t_min},         {"argmax", t_argmax}, {"argmin", t_argmin},   {"equal", t_equal},
        {"dot", t_dot},         {"matmul", t_matmul}, {"t", t_transpose},     {nullptr, nullptr}};
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    // The metatable is just below the methods table while open_tensor builds it.
    luaL_getmetatable(L, kTensorMeta);
    static const luaL_Reg ops[] = {{"__add", t_add}, {"__sub", t_sub}, {"__mul", t_mul},
                                   {"__div", t_div}, {"__pow", t_pow}, {"__unm", t_unm},
                                   {nullptr, nullptr}};
    luaL_setfuncs(L, ops, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
