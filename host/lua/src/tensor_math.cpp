// Tensor arithmetic for scripts: operators and comparisons with NumPy-style
// broadcasting, pointwise functions, the in-place forms, which end in '_' as
// in PyTorch, and matmul. Every loop runs in C++ over any layout
// (strided.h); results are new contiguous tensors.
#include "interrupts.h"
#include "tensor_args.h"

#include <dnnl.h>

#include <algorithm>
#include <cmath>

namespace neurite::lua {

namespace {

// a op b, either a number (a 0-d operand, so the tensor keeps its shape).
template <class Op>
int binary(lua_State *L, const char *fn, Op f)
{
    float sa = 0, sb = 0;
    const Tensor a = operand(L, 1, fn, sa), b = operand(L, 2, fn, sb);
    const Shape shape = guarded(L, [&] { return broadcast_shape(a.shape(), b.shape(), fn); });
    Tensor out = new_result(L, shape);
    strided::map2(out, a, b, f);
    return 1;
}

// t:add(u [, alpha]) and t:sub(u [, alpha]) scale u first, as PyTorch's alpha.
float alpha_arg(lua_State *L, int idx, const char *fn)
{
    return static_cast<float>(opt_num(L, idx, 1.0, fn, "alpha"));
}

int t_add(lua_State *L)
{
    const float alpha = alpha_arg(L, 3, "t:add");
    if (alpha == 1.0f)
        return binary(L, "tensor +", [](float x, float y) { return x + y; });
    return binary(L, "tensor +", [alpha](float x, float y) { return x + alpha * y; });
}

int t_sub(lua_State *L)
{
    const float alpha = alpha_arg(L, 3, "t:sub");
    if (alpha == 1.0f)
        return binary(L, "tensor -", [](float x, float y) { return x - y; });
    return binary(L, "tensor -", [alpha](float x, float y) { return x - alpha * y; });
}

// The elementwise functions, each a template argument so that it inlines
// into the loop.
float times(float x, float y) { return x * y; }
float divided(float x, float y) { return x / y; }
float power(float x, float y) { return std::pow(x, y); }
float equal_to(float x, float y) { return x == y ? 1.0f : 0.0f; }
float not_equal_to(float x, float y) { return x != y ? 1.0f : 0.0f; }
float greater(float x, float y) { return x > y ? 1.0f : 0.0f; }
float greater_equal(float x, float y) { return x >= y ? 1.0f : 0.0f; }
float less(float x, float y) { return x < y ? 1.0f : 0.0f; }
float less_equal(float x, float y) { return x <= y ? 1.0f : 0.0f; }
float larger(float x, float y) { return x != x || x > y ? x : y; } // NaN wins, as in PyTorch
float smaller(float x, float y) { return x != x || x < y ? x : y; }

// t op u for the operator or method `fn` (the name errors give).
template <float (*F)(float, float), const char *fn>
int binary_op(lua_State *L)
{
    // A lambda, not the pointer: the loop then calls F inline and vectorises.
    return binary(L, fn, [](float x, float y) { return F(x, y); });
}

constexpr char kMul[] = "tensor *", kDiv[] = "tensor /", kPow[] = "tensor ^", kEq[] = "t:eq",
               kNe[] = "t:ne", kGt[] = "t:gt", kGe[] = "t:ge", kLt[] = "t:lt", kLe[] = "t:le",
               kMaximum[] = "t:maximum", kMinimum[] = "t:minimum";

template <class Op>
int unary(lua_State *L, Op f)
{
    const Tensor &a = check_any_tensor(L, 1);
    Tensor out = new_result(L, a.shape());
    strided::map(out, a, f);
    return 1;
}

template <float (*F)(float)>
int unary_op(lua_State *L)
{
    return unary(L, [](float x) { return F(x); });
}

float negated(float x) { return -x; }
float exp_of(float x) { return std::exp(x); }
float log_of(float x) { return std::log(x); }
float sqrt_of(float x) { return std::sqrt(x); }
float abs_of(float x) { return std::fabs(x); }
float tanh_of(float x) { return std::tanh(x); }
float sigmoid_of(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float relu_of(float x) { return x > 0 ? x : 0.0f; }
float sign_of(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : x); } // NaN and ±0 stay
float sin_of(float x) { return std::sin(x); }
float cos_of(float x) { return std::cos(x); }
float floor_of(float x) { return std::floor(x); }
float ceil_of(float x) { return std::ceil(x); }
float round_of(float x) { return std::nearbyint(x); } // halves to even (2.5 -> 2), as PyTorch

struct Bounds {
    float lo, hi;
};

Bounds clamp_bounds(lua_State *L, const char *fn)
{
    if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
        raise(L, std::string(fn) + " needs a minimum, a maximum or both (nil for none)");
    return {static_cast<float>(opt_num(L, 2, -HUGE_VAL, fn, "the minimum")),
            static_cast<float>(opt_num(L, 3, HUGE_VAL, fn, "the maximum"))};
}

// min(hi, max(lo, x)): with lo > hi every element is hi, as in PyTorch.
int t_clamp(lua_State *L)
{
    const Bounds b = clamp_bounds(L, "t:clamp");
    return unary(L, [b](float x) { return std::min(b.hi, std::max(b.lo, x)); });
}

// Calls a Lua function on every element: slow, but any formula works.
int t_map(lua_State *L)
{
    const Tensor a = check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    Tensor out = new_result(L, a.shape());
    for (int64_t i = 0; i < a.numel(); ++i) {
        if (i % 4096 == 0)
            check_interrupt(L); // a huge map stops at Ctrl-C within the second
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

// ---- in place: t = f(t, u), u broadcast to t's shape; returns t.

template <class Op>
int in_place(lua_State *L, const char *fn, const char *verb, Op f)
{
    Tensor a = check_any_tensor(L, 1);
    check_writable(L, a, fn);
    float scalar = 0;
    const Tensor b = operand(L, 2, fn, scalar);
    if (!broadcasts_to(b.shape(), a.shape()))
        raise(L, std::string(fn) + ": a tensor of shape " + b.shape().to_string() + " cannot be " +
                     verb + " one of shape " + a.shape().to_string() +
                     " (it must broadcast to it)");
    return guarded(L, [&] {
        // u may be another layout of t's own memory (t:add_(t:t())): read a copy.
        const bool same_layout = a.data_ptr() == b.data_ptr() && a.shape() == b.shape() &&
                                 std::ranges::equal(a.strides(), b.strides());
        const Tensor from = !same_layout && a.shares_memory_with(b) ? b.clone() : b;
        strided::map2(a, a, from, f);
        lua_settop(L, 1);
        return 1;
    });
}

int t_add_(lua_State *L)
{
    const float alpha = alpha_arg(L, 3, "t:add_");
    return in_place(L, "t:add_", "added into", [alpha](float x, float y) { return x + alpha * y; });
}

int t_sub_(lua_State *L)
{
    const float alpha = alpha_arg(L, 3, "t:sub_");
    return in_place(L, "t:sub_", "subtracted from",
                    [alpha](float x, float y) { return x - alpha * y; });
}

int t_mul_(lua_State *L)
{
    return in_place(L, "t:mul_", "multiplied into", [](float x, float y) { return x * y; });
}

int t_div_(lua_State *L)
{
    return in_place(L, "t:div_", "divided into", [](float x, float y) { return x / y; });
}

int t_clamp_(lua_State *L)
{
    Tensor a = check_any_tensor(L, 1);
    check_writable(L, a, "t:clamp_");
    const Bounds b = clamp_bounds(L, "t:clamp_");
    strided::map(a, a, [b](float x) { return std::min(b.hi, std::max(b.lo, x)); });
    lua_settop(L, 1);
    return 1;
}

// ---- matmul with PyTorch's rules: matrices, vectors (a row on the left, a
// column on the right, dropped again in the result), and batches of matrices
// whose leading dimensions broadcast. Each product is one oneDNN sgemm,
// which reads transposed views (t:t(), t:transpose) in place.

// How sgemm reads the last two dimensions of t: 'N' for rows in memory
// order, 'T' for a transposed layout; ld is the leading dimension.
struct GemmOperand {
    char trans = 'N';
    int64_t ld = 1;
};

bool gemm_layout(const Tensor &t, GemmOperand &g)
{
    const int nd = t.dim();
    const int64_t r = t.size(nd - 2), c = t.size(nd - 1);
    const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
    if ((c == 1 || cs == 1) && (r == 1 || rs >= std::max<int64_t>(c, 1))) {
        g = {'N', r == 1 ? std::max<int64_t>(c, 1) : rs};
        return true;
    }
    if ((r == 1 || rs == 1) && (c == 1 || cs >= std::max<int64_t>(r, 1))) {
        g = {'T', c == 1 ? std::max<int64_t>(r, 1) : cs};
        return true;
    }
    return false;
}

Shape batch_of(const Tensor &t)
{
    return Shape(t.shape().span().first(static_cast<size_t>(t.dim() - 2)));
}

// The batch part of t (its leading dimensions) as a tensor of its own with
// the same strides, for broadcast_strides.
Tensor batch_view(const Tensor &t)
{
    Tensor b = t.select(t.dim() - 1, 0);
    return b.select(b.dim() - 1, 0);
}

// Element offset of matrix `flat` of the batch; strides are 0 where the
// operand's batch dimensions repeat.
int64_t batch_offset(const int64_t *strides, const Shape &batch, int64_t flat)
{
    int64_t offset = 0;
    for (int d = batch.size() - 1; d >= 0; --d) {
        offset += flat % batch[d] * strides[d];
        flat /= batch[d];
    }
    return offset;
}

void multiply(lua_State *L, const Tensor &a, const Tensor &b, Tensor &out, const Shape &batch)
{
    const int nd = a.dim();
    const int64_t m = a.size(nd - 2), k = a.size(nd - 1), n = b.size(b.dim() - 1);
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        out.fill(0.0f);
        return;
    }
    // Layouts sgemm cannot read (an expanded matrix, a narrowed-then-transposed one) are copied.
    GemmOperand ga, gb;
    const Tensor ac = gemm_layout(a, ga) ? a : a.contiguous();
    const Tensor bc = gemm_layout(b, gb) ? b : b.contiguous();
    gemm_layout(ac, ga);
    gemm_layout(bc, gb);
    int64_t sa[Shape::kMaxDims], sb[Shape::kMaxDims];
    strided::broadcast_strides(batch_view(ac), batch, sa);
    strided::broadcast_strides(batch_view(bc), batch, sb);
    const int64_t count = batch.numel();
    for (int64_t i = 0; i < count; ++i) {
        const float *pa = ac.data_ptr() + batch_offset(sa, batch, i);
        const float *pb = bc.data_ptr() + batch_offset(sb, batch, i);
        float *pc = out.data_ptr() + i * m * n;
        // In blocks of rows, checking for Ctrl-C between them.
        cancellable_sgemm(L, ga.trans, gb.trans, m, n, k, pa, ga.ld, pb, gb.ld, pc, n);
    }
}

int t_matmul(lua_State *L)
{
    const char *fn = "t:matmul";
    const Tensor &a0 = check_any_tensor(L, 1);
    const Tensor &b0 = check_any_tensor(L, 2);
    if (a0.dim() < 1 || b0.dim() < 1)
        raise(L, std::string(fn) + " multiplies tensors of at least 1 dimension, got shapes " +
                     a0.shape().to_string() + " and " + b0.shape().to_string());
    // A vector on the left is a row, on the right a column.
    const Tensor a = a0.dim() == 1 ? a0.unsqueeze(0) : a0;
    const Tensor b = b0.dim() == 1 ? b0.unsqueeze(1) : b0;
    const int64_t m = a.size(a.dim() - 2), k = a.size(a.dim() - 1);
    const int64_t kb = b.size(b.dim() - 2), n = b.size(b.dim() - 1);
    if (k != kb)
        raise(L, std::string(fn) + ": shapes " + a0.shape().to_string() + " and " +
                     b0.shape().to_string() + " do not fit (" + std::to_string(k) +
                     " columns against " + std::to_string(kb) + " rows)");
    const Shape batch_a = batch_of(a), batch_b = batch_of(b);
    const Shape batch = guarded(L, [&] {
        try {
            return broadcast_shape(batch_a, batch_b, fn);
        } catch (const Error &) {
            throw Error(std::string(fn) + ": the batch dimensions " + batch_a.to_string() + " of " +
                        a0.shape().to_string() + " and " + batch_b.to_string() + " of " +
                        b0.shape().to_string() + " do not broadcast (sizes must be equal or 1)");
        }
    });
    return guarded(L, [&] {
        Shape shape = batch;
        if (a0.dim() > 1)
            shape.push_back(m);
        if (b0.dim() > 1)
            shape.push_back(n);
        check_shape_size(L, shape, fn);
        Tensor out = new_result(L, shape);
        multiply(L, a, b, out, batch);
        return 1;
    });
}

} // namespace

void open_tensor_math(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"add", guard<t_add>}, {"sub", guard<t_sub>},
        {"mul", guard<binary_op<times, kMul>>}, {"div", guard<binary_op<divided, kDiv>>},
        {"pow", guard<binary_op<power, kPow>>}, {"eq", guard<binary_op<equal_to, kEq>>},
        {"ne", guard<binary_op<not_equal_to, kNe>>}, {"gt", guard<binary_op<greater, kGt>>},
        {"ge", guard<binary_op<greater_equal, kGe>>}, {"lt", guard<binary_op<less, kLt>>},
        {"le", guard<binary_op<less_equal, kLe>>},
        {"maximum", guard<binary_op<larger, kMaximum>>},
        {"minimum", guard<binary_op<smaller, kMinimum>>}, {"neg", guard<unary_op<negated>>},
        {"exp", guard<unary_op<exp_of>>}, {"log", guard<unary_op<log_of>>},
        {"sqrt", guard<unary_op<sqrt_of>>}, {"abs", guard<unary_op<abs_of>>},
        {"tanh", guard<unary_op<tanh_of>>}, {"sigmoid", guard<unary_op<sigmoid_of>>},
        {"relu", guard<unary_op<relu_of>>}, {"sign", guard<unary_op<sign_of>>},
        {"sin", guard<unary_op<sin_of>>}, {"cos", guard<unary_op<cos_of>>},
        {"floor", guard<unary_op<floor_of>>}, {"ceil", guard<unary_op<ceil_of>>},
        {"round", guard<unary_op<round_of>>}, {"clamp", guard<t_clamp>}, {"map", guard<t_map>},
        {"add_", guard<t_add_>}, {"sub_", guard<t_sub_>}, {"mul_", guard<t_mul_>},
        {"div_", guard<t_div_>}, {"clamp_", guard<t_clamp_>}, {"matmul", guard<t_matmul>},
        {nullptr, nullptr}};
    add_methods(L, methods, fns);
    // The metatable is just below the methods table while open_tensor builds it.
    luaL_getmetatable(L, kTensorMeta);
    static const luaL_Reg ops[] = {
        {"__add", guard<t_add>}, {"__sub", guard<t_sub>}, {"__mul", guard<binary_op<times, kMul>>},
        {"__div", guard<binary_op<divided, kDiv>>}, {"__pow", guard<binary_op<power, kPow>>},
        {"__unm", guard<unary_op<negated>>}, {nullptr, nullptr}};
    luaL_setfuncs(L, ops, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
