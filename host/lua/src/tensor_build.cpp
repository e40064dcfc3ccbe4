// The functions of the `tensor` table that build tensors from other
// tensors or from ranges: cat, stack, arange, linspace, eye, randperm,
// randint and the *_like family. Counts are checked before anything is
// allocated, so a huge request is an error, not a wrapped size.
#include "tensor_args.h"

#include <cmath>

namespace neurite::lua {

namespace {

// Floats hold whole numbers exactly up to 2^24: a permutation or a random
// integer beyond it would repeat values.
constexpr int64_t kExactIntegers = int64_t(1) << 24;

// An element count argument, before any allocation.
int64_t count_arg(lua_State *L, int64_t n, const char *fn, const char *what, int64_t most)
{
    if (n < 0 || n > most)
        raise(L, std::string(fn) + ": " + what + " is " + std::to_string(n) +
                     "; it must be between 0 and " + std::to_string(most) +
                     (most == kExactIntegers
                          ? " (whole numbers beyond it are not exact in a float tensor)"
                          : " (the most elements a tensor holds)"));
    return n;
}

int tensor_randperm(lua_State *L)
{
    const char *fn = "tensor.randperm";
    const int64_t n = count_arg(L, check_int(L, 1, fn, "n"), fn, "n", kExactIntegers);
    float *p = new_result(L, Shape{n}).data_ptr();
    for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(i + 1);
    auto &rng = detail::session(L).rng;
    for (int64_t i = n - 1; i > 0; --i) {
        std::uniform_int_distribution<int64_t> d(0, i);
        std::swap(p[i], p[d(rng)]);
    }
    return 1;
}

// tensor.linspace(start, end [, steps = 100]): both ends included.
int tensor_linspace(lua_State *L)
{
    const char *fn = "tensor.linspace";
    const double a = check_num(L, 1, fn, "start"), b = check_num(L, 2, fn, "end");
    const int64_t n =
        count_arg(L, opt_int(L, 3, 100, fn, "steps"), fn, "steps", kMaxTensorElements);
    float *p = new_result(L, Shape{n}).data_ptr();
    for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(
            n == 1 ? a : a + (b - a) * static_cast<double>(i) / static_cast<double>(n - 1));
    if (n > 1)
        p[n - 1] = static_cast<float>(b);
    return 1;
}

// tensor.arange([start = 0,] end [, step = 1]): end excluded, as in PyTorch.
int tensor_arange(lua_State *L)
{
    const char *fn = "tensor.arange";
    const bool one = lua_isnoneornil(L, 2);
    const double start = one ? 0.0 : check_num(L, 1, fn, "start");
    const double end = check_num(L, one ? 1 : 2, fn, "end");
    const double step = one ? 1.0 : opt_num(L, 3, 1.0, fn, "step");
    if (step == 0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(end))
        raise(L, std::string(fn) + ": start " + param_value_text(start) + ", end " +
                     param_value_text(end) + " and step " + param_value_text(step) +
                     " must be finite, and step nonzero");
    const double count = std::ceil((end - start) / step);
    if (count < 0)
        raise(L, std::string(fn) + ": a step of " + param_value_text(step) + " never goes from " +
                     param_value_text(start) + " to " + param_value_text(end));
    if (count > static_cast<double>(kMaxTensorElements))
        raise(L, std::string(fn) + ": " + param_value_text(count) +
                     " elements are more than a tensor holds (at most " +
                     std::to_string(kMaxTensorElements) + ")");
    const auto n = static_cast<int64_t>(count);
    float *p = new_result(L, Shape{n}).data_ptr();
    for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(start + static_cast<double>(i) * step);
    return 1;
}

// tensor.eye(n [, m = n]): ones on the diagonal.
int tensor_eye(lua_State *L)
{
    const char *fn = "tensor.eye";
    const int64_t n = check_int(L, 1, fn, "n");
    const int64_t m = opt_int(L, 2, n, fn, "m");
    const Shape shape = [&] {
        if (n < 0 || m < 0)
            raise(L, std::string(fn) + ": the sizes " + std::to_string(n) + " and " +
                         std::to_string(m) + " must be >= 0");
        const Shape s{n, m};
        check_shape_size(L, s, fn);
        return s;
    }();
    Tensor t = push_new_tensor(L, shape, true)->value;
    for (int64_t i = 0; i < std::min(n, m); ++i)
        t[i * m + i] = 1.0f;
    return 1;
}

// tensor.randint([low = 0,] high, shape): whole numbers in [low, high).
int tensor_randint(lua_State *L)
{
    const char *fn = "tensor.randint";
    const bool two = lua_istable(L, 2) || lua_isnoneornil(L, 3);
    const int64_t low = two ? 0 : check_int(L, 1, fn, "low");
    const int64_t high = check_int(L, two ? 1 : 2, fn, "high");
    const int shape_at = two ? 2 : 3;
    if (!lua_istable(L, shape_at))
        arg_error(L, shape_at, fn, "a shape such as {2, 3}");
    if (low >= high || low < -kExactIntegers || high > kExactIntegers + 1)
        raise(L, std::string(fn) + ": the range [" + std::to_string(low) + ", " +
                     std::to_string(high) + ") must be nonempty and within +-" +
                     std::to_string(kExactIntegers) +
                     " (whole numbers beyond it are not exact in a float tensor)");
    const Shape shape = new_tensor_shape(L, shape_at, fn);
    Tensor t = new_result(L, shape);
    std::uniform_int_distribution<int64_t> draw(low, high - 1);
    fill_random(L, t, [&draw](std::mt19937_64 &rng) { return static_cast<float>(draw(rng)); });
    return 1;
}

template <class Fill>
int like(lua_State *L, Fill &&fill)
{
    Tensor t = new_result(L, check_any_tensor(L, 1).shape());
    fill(t);
    return 1;
}

int tensor_zeros_like(lua_State *L)
{
    return like(L, [](Tensor &t) { t.fill(0); });
}
int tensor_ones_like(lua_State *L)
{
    return like(L, [](Tensor &t) { t.fill(1); });
}

int tensor_full_like(lua_State *L)
{
    const auto v = static_cast<float>(check_num(L, 2, "tensor.full_like", "the value"));
    return like(L, [v](Tensor &t) { t.fill(v); });
}

int tensor_rand_like(lua_State *L)
{
    return like(L, [L](Tensor &t) {
        fill_random(L, t, std::uniform_real_distribution<float>(0.0f, 1.0f));
    });
}

int tensor_randn_like(lua_State *L)
{
    return like(L,
                [L](Tensor &t) { fill_random(L, t, std::normal_distribution<float>(0.0f, 1.0f)); });
}

// The tensors of the list at idx (a table of at least one).
std::vector<Tensor> tensor_list(lua_State *L, int idx, const char *fn)
{
    if (!lua_istable(L, idx) || test_tensor(L, idx))
        arg_error(L, idx, fn, "a list of tensors such as {a, b}");
    const lua_Unsigned n = lua_rawlen(L, idx);
    if (n == 0)
        raise(L, std::string(fn) + ": the list of tensors is empty");
    std::vector<Tensor> list;
    for (lua_Unsigned i = 1; i <= n; ++i) {
        lua_rawgeti(L, idx, static_cast<lua_Integer>(i));
        if (!test_tensor(L, -1))
            raise(L, std::string(fn) + ": element " + std::to_string(i) + " of the list is " +
                         describe_value(L, -1) + ", expected a tensor");
        list.push_back(check_any_tensor(L, -1));
        lua_pop(L, 1);
    }
    return list;
}

[[noreturn]] void mismatch(lua_State *L, const char *fn, size_t i, const Tensor &t, size_t first,
                           const Shape &want, const std::string &rule)
{
    raise(L, std::string(fn) + ": tensor " + std::to_string(i + 1) + " has shape " +
                 t.shape().to_string() + " but tensor " + std::to_string(first + 1) + " has " +
                 want.to_string() + "; " + rule);
}

// tensor.cat(list [, dim = 1]): joined along an existing dimension. As in
// PyTorch, 1-D empty tensors are skipped (a start for a loop that appends).
int tensor_cat(lua_State *L)
{
    const char *fn = "tensor.cat";
    const std::vector<Tensor> list = tensor_list(L, 1, fn);
    size_t first = 0;
    while (first + 1 < list.size() && list[first].dim() == 1 && list[first].numel() == 0)
        ++first;
    const Tensor &ref = list[first];
    if (ref.dim() == 0)
        raise(L, std::string(fn) + ": tensor " + std::to_string(first + 1) +
                     " is 0-d; tensor.stack joins 0-d tensors");
    const int d = dim_index(L, opt_int(L, 2, 1, fn, "the dimension"), ref.dim(), fn);
    Shape shape = ref.shape();
    shape[d] = 0;
    for (size_t i = 0; i < list.size(); ++i) {
        const Tensor &t = list[i];
        if (t.dim() == 1 && t.numel() == 0 && i != first)
            continue;
        bool fits = t.dim() == ref.dim();
        for (int k = 0; fits && k < t.dim(); ++k)
            fits = k == d || t.size(k) == ref.size(k);
        if (!fits)
            mismatch(L, fn, i, t, first, ref.shape(),
                     "they must match except in dimension " + std::to_string(d + 1));
        shape[d] += t.size(d);
    }
    check_shape_size(L, shape, fn);
    Tensor out = new_result(L, shape);
    int64_t at = 0;
    for (size_t i = 0; i < list.size(); ++i) {
        const Tensor &t = list[i];
        if (t.dim() != ref.dim())
            continue;
        guarded(L, [&] {
            out.narrow(d, at, t.size(d)).copy_from(t);
            return 0;
        });
        at += t.size(d);
    }
    return 1;
}

// tensor.stack(list [, dim = 1]): joined along a new dimension.
int tensor_stack(lua_State *L)
{
    const char *fn = "tensor.stack";
    const std::vector<Tensor> list = tensor_list(L, 1, fn);
    const Tensor &ref = list.front();
    const int d = dim_index(L, opt_int(L, 2, 1, fn, "the dimension"), ref.dim(), fn, 1);
    for (size_t i = 1; i < list.size(); ++i)
        if (!(list[i].shape() == ref.shape()))
            mismatch(L, fn, i, list[i], 0, ref.shape(), "stacked tensors must all have one shape");
    Shape shape = guarded(L, [&] {
        Shape s = ref.shape();
        s.insert(d, static_cast<int64_t>(list.size()));
        return s;
    });
    check_shape_size(L, shape, fn);
    Tensor out = new_result(L, shape);
    guarded(L, [&] {
        for (size_t i = 0; i < list.size(); ++i)
            out.select(d, static_cast<int64_t>(i)).copy_from(list[i]);
        return 0;
    });
    return 1;
}

} // namespace

void open_tensor_build(lua_State *L, int module)
{
    static const luaL_Reg functions[] = {
        {"randperm", guard<tensor_randperm>}, {"linspace", guard<tensor_linspace>},
        {"arange", guard<tensor_arange>}, {"eye", guard<tensor_eye>},
        {"randint", guard<tensor_randint>}, {"zeros_like", guard<tensor_zeros_like>},
        {"ones_like", guard<tensor_ones_like>}, {"full_like", guard<tensor_full_like>},
        {"rand_like", guard<tensor_rand_like>}, {"randn_like", guard<tensor_randn_like>},
        {"cat", guard<tensor_cat>}, {"stack", guard<tensor_stack>}, {nullptr, nullptr}};
    lua_pushvalue(L, module);
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
