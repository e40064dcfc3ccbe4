// Reductions over a whole tensor (a Lua number) or along one dimension (a
// tensor, keepdim keeping that dimension with size 1), and the scans along
// a dimension (cumsum, softmax, log_softmax). A block of `inner` lanes is
// reduced at a time, so the loops run along contiguous memory and vectorise;
// sums accumulate in double.
#include "tensor_args.h"

#include <cmath>
#include <limits>
#include <span>
#include <vector>

namespace neurite::lua {

namespace {

constexpr const char *kDimKeepdim[] = {"dim", "keepdim"};
constexpr const char *kVarOptions[] = {"dim", "keepdim", "unbiased"};
constexpr const char *kNormOptions[] = {"dim", "keepdim", "p"};

struct Options {
    bool has_dim = false;
    int dim = 0;
    bool keepdim = false;
    bool unbiased = true;
    bool has_p = false;
    double p = 2;
};

// The dimension of a call such as t:sum(2) made 0-based (a 0-d tensor
// takes 1 or -1, as PyTorch takes 0 or -1).
int reduced_dim(lua_State *L, int64_t dim, const Tensor &t, const char *fn)
{
    return dim_index(L, dim, std::max(t.dim(), 1), fn);
}

// Raises for a key of the table at idx that is not one of `allowed`.
void check_option_keys(lua_State *L, int idx, std::span<const char *const> allowed, const char *fn)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
        bool known = false;
        std::string names;
        for (const char *a : allowed) {
            known = known || (key && std::string(key) == a);
            names += (names.empty() ? "" : ", ") + std::string(a);
        }
        if (!known)
            raise(L, std::string(fn) + ": unknown option " + value_text(L, -1) + " (it takes " +
                         names + ")");
    }
}

// Reads a table {dim =, keepdim =, unbiased =, p =} at idx.
void read_option_table(lua_State *L, int idx, const Tensor &t, const char *fn, Options &o,
                       std::span<const char *const> allowed)
{
    check_option_keys(L, idx, allowed, fn);
    if (lua_getfield(L, idx, "dim") != LUA_TNIL) {
        o.has_dim = true;
        o.dim = reduced_dim(L, check_int(L, -1, fn, "dim"), t, fn);
    }
    lua_pop(L, 1);
    o.keepdim = keepdim_arg(L, idx, fn);
    for (const char *key : {"unbiased"}) {
        const int type = lua_getfield(L, idx, key);
        if (type != LUA_TNIL && type != LUA_TBOOLEAN)
            raise(L, std::string(fn) + ": " + key + " must be a boolean, got " +
                         describe_value(L, -1));
        if (type == LUA_TBOOLEAN)
            o.unbiased = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (lua_getfield(L, idx, "p") != LUA_TNIL) {
        o.has_p = true;
        o.p = check_num(L, -1, fn, "p");
    }
    lua_pop(L, 1);
}

// t:op([dim [, keepdim | {keepdim =, unbiased =}]]) or t:op{dim =, keepdim =, ...}.
Options reduce_options(lua_State *L, const Tensor &t, int idx, const char *fn,
                       std::span<const char *const> allowed = kDimKeepdim)
{
    Options o;
    if (lua_istable(L, idx)) {
        read_option_table(L, idx, t, fn, o, allowed);
        return o;
    }
    if (!lua_isnoneornil(L, idx)) {
        o.has_dim = true;
        o.dim = reduced_dim(L, check_int(L, idx, fn, "the dimension"), t, fn);
    }
    if (lua_istable(L, idx + 1)) {
        std::vector<const char *> rest; // the dimension was given already
        for (const char *a : allowed)
            if (std::string(a) != "dim")
                rest.push_back(a);
        read_option_table(L, idx + 1, t, fn, o, rest);
    } else
        o.keepdim = keepdim_arg(L, idx + 1, fn);
    return o;
}

Shape reduced_shape(const Tensor &t, const Options &o)
{
    Shape s = t.shape();
    if (t.dim() == 0)
        return s;
    if (o.keepdim)
        s[o.dim] = 1;
    else
        s.erase(o.dim);
    return s;
}

enum class Kind { Sum, Mean, Prod, Var, Std, Norm, LogSumExp };

// How the partial results of a reduction join, and what they start from.
struct Join {
    double identity;
    double (*combine)(double, double);
};
constexpr Join kPlus{0.0, [](double a, double b) { return a + b; }};
constexpr Join kTimes{1.0, [](double a, double b) { return a * b; }};
// NaN wins, as in PyTorch.
constexpr Join kLargest{-HUGE_VAL, [](double a, double b) { return b > a || b != b ? b : a; }};
constexpr Join kSmallest{HUGE_VAL, [](double a, double b) { return b < a || b != b ? b : a; }};

// Folds a block [n, inner] into acc[0, inner): acc[i] = step(acc[i], p[k *
// inner + i], i), from join.identity. The loop runs along memory: across
// the lanes, or for a single lane (a reduction along the last dimension)
// across 8 interleaved partial results that join.combine then joins, so it
// vectorises either way.
template <class Step>
void fold(const float *p, int64_t n, int64_t inner, double *acc, Join join, Step step)
{
    std::fill(acc, acc + inner, join.identity);
    if (inner == 1) {
        double part[8];
        std::fill(part, part + 8, join.identity);
        const int64_t whole = n / 8 * 8;
        for (int64_t k = 0; k < whole; k += 8)
#pragma omp simd
            for (int j = 0; j < 8; ++j)
                part[j] = step(part[j], p[k + j], 0);
        for (int64_t k = whole; k < n; ++k)
            part[0] = step(part[0], p[k], 0);
        for (double v : part)
            acc[0] = join.combine(acc[0], v);
        return;
    }
    for (int64_t k = 0; k < n; ++k) {
        const float *row = p + k * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i)
            acc[i] = step(acc[i], row[i], i);
    }
}

void norm_block(double p_norm, const float *p, int64_t n, int64_t inner, double *out)
{
    if (std::isinf(p_norm)) {
        const Join join = p_norm > 0 ? kLargest : kSmallest;
        fold(p, n, inner, out, join,
             [join](double a, float v, int64_t) { return join.combine(a, std::fabs(v)); });
        return;
    }
    if (p_norm == 0)
        fold(p, n, inner, out, kPlus,
             [](double a, float v, int64_t) { return a + (v != 0 ? 1.0 : 0.0); });
    else if (p_norm == 1)
        fold(p, n, inner, out, kPlus, [](double a, float v, int64_t) { return a + std::fabs(v); });
    else if (p_norm == 2)
        fold(p, n, inner, out, kPlus, [](double a, float v, int64_t) { return a + double(v) * v; });
    else
        fold(p, n, inner, out, kPlus, [p_norm](double a, float v, int64_t) {
            return a + std::pow(std::fabs(double(v)), p_norm);
        });
    if (p_norm != 0 && p_norm != 1)
        for (int64_t i = 0; i < inner; ++i)
            out[i] = p_norm == 2 ? std::sqrt(out[i]) : std::pow(out[i], 1.0 / p_norm);
}

// One block [n, inner] reduced into out[0, inner).
void reduce_block(Kind kind, double p_norm, bool unbiased, const float *p, int64_t n, int64_t inner,
                  double *out, std::vector<double> &scratch)
{
    const auto nd = static_cast<double>(n);
    auto plus = [](double a, float v, int64_t) { return a + v; };
    switch (kind) {
    case Kind::Sum:
    case Kind::Mean:
        fold(p, n, inner, out, kPlus, plus);
        if (kind == Kind::Mean)
            for (int64_t i = 0; i < inner; ++i)
                out[i] = n ? out[i] / nd : NAN;
        return;
    case Kind::Prod:
        fold(p, n, inner, out, kTimes, [](double a, float v, int64_t) { return a * v; });
        return;
    case Kind::Var:
    case Kind::Std: {
        // Two passes (the mean, then squared deviations from it): exact
        // where the one-pass formula cancels.
        scratch.resize(static_cast<size_t>(inner));
        double *mean = scratch.data();
        fold(p, n, inner, mean, kPlus, plus);
        for (int64_t i = 0; i < inner; ++i)
            mean[i] /= nd;
        fold(p, n, inner, out, kPlus, [mean](double a, float v, int64_t i) {
            const double dev = v - mean[i];
            return a + dev * dev;
        });
        const double divisor = nd - (unbiased ? 1.0 : 0.0);
        for (int64_t i = 0; i < inner; ++i) {
            out[i] = divisor > 0 ? out[i] / divisor : NAN;
            if (kind == Kind::Std)
                out[i] = std::sqrt(out[i]);
        }
        return;
    }
    case Kind::Norm: norm_block(p_norm, p, n, inner, out); return;
    case Kind::LogSumExp: {
        // Shifted by the largest value, so exp cannot overflow.
        scratch.resize(static_cast<size_t>(inner));
        double *top = scratch.data();
        fold(p, n, inner, top, kLargest,
             [](double a, float v, int64_t) { return kLargest.combine(a, v); });
        fold(p, n, inner, out, kPlus, [top](double a, float v, int64_t i) {
            return a + std::exp(v - static_cast<float>(top[i])); // float exp: the inputs are floats
        });
        for (int64_t i = 0; i < inner; ++i)
            out[i] = std::isinf(top[i]) ? top[i] : top[i] + std::log(out[i]); // all -inf, or an inf
        return;
    }
    }
}

int reduce(lua_State *L, Kind kind, const char *fn, int options_at = 2, double p_norm = 2)
{
    const Tensor t = check_tensor(L, 1);
    std::span<const char *const> allowed = kDimKeepdim;
    if (kind == Kind::Var || kind == Kind::Std)
        allowed = kVarOptions;
    else if (kind == Kind::Norm)
        allowed = kNormOptions;
    const Options o = reduce_options(L, t, options_at, fn, allowed);
    if (o.has_p)
        p_norm = o.p;
    if (kind == Kind::Norm && (std::isnan(p_norm) || p_norm < 0))
        raise(L, std::string(fn) + ": p is " + param_value_text(p_norm) +
                     "; it must be >= 0 (or math.huge)");
    std::vector<double> scratch;
    if (!o.has_dim) {
        double value = 0;
        reduce_block(kind, p_norm, o.unbiased, t.data_ptr(), t.numel(), 1, &value, scratch);
        lua_pushnumber(L, value);
        return 1;
    }
    const Layout l = layout_along(t, o.dim);
    Tensor out = new_result(L, reduced_shape(t, o));
    std::vector<double> block(static_cast<size_t>(l.inner));
    for (int64_t b = 0; b < l.outer; ++b) {
        reduce_block(kind, p_norm, o.unbiased, t.data_ptr() + b * l.n * l.inner, l.n, l.inner,
                     block.data(), scratch);
        for (int64_t i = 0; i < l.inner; ++i)
            out[b * l.inner + i] = static_cast<float>(block[static_cast<size_t>(i)]);
    }
    return 1;
}

int t_sum(lua_State *L) { return reduce(L, Kind::Sum, "t:sum"); }
int t_mean(lua_State *L) { return reduce(L, Kind::Mean, "t:mean"); }
int t_prod(lua_State *L) { return reduce(L, Kind::Prod, "t:prod"); }
int t_var(lua_State *L) { return reduce(L, Kind::Var, "t:var"); }
int t_std(lua_State *L) { return reduce(L, Kind::Std, "t:std"); }
int t_logsumexp(lua_State *L) { return reduce(L, Kind::LogSumExp, "t:logsumexp"); }

// t:norm([p [, dim [, keepdim]]]) or t:norm{p =, dim =, keepdim =}.
int t_norm(lua_State *L)
{
    if (lua_istable(L, 2))
        return reduce(L, Kind::Norm, "t:norm", 2);
    return reduce(L, Kind::Norm, "t:norm", 3, opt_num(L, 2, 2.0, "t:norm", "p"));
}

// ---- max, min and where they are (NaN counts as the extreme, as in PyTorch)

enum class Extreme { Max, Min };

template <Extreme E>
bool better(float v, float best)
{
    if (v != v)
        return best == best; // the first NaN wins
    return E == Extreme::Max ? v > best : v < best;
}

// The extreme of one contiguous row (n > 0): a vectorised pass for the
// value, then the first place that holds it.
template <Extreme E>
void extreme_row(const float *p, int64_t n, float &value, int64_t &where)
{
    float best = p[0];
    bool nan = false;
    if constexpr (E == Extreme::Max) {
#pragma omp simd reduction(max : best) reduction(|| : nan)
        for (int64_t k = 0; k < n; ++k) {
            best = std::max(best, p[k]);
            nan = nan || p[k] != p[k];
        }
    } else {
#pragma omp simd reduction(min : best) reduction(|| : nan)
        for (int64_t k = 0; k < n; ++k) {
            best = std::min(best, p[k]);
            nan = nan || p[k] != p[k];
        }
    }
    int64_t k = 0;
    while (nan ? p[k] == p[k] : p[k] != best)
        ++k;
    value = p[k];
    where = k;
}

template <Extreme E>
void extreme_block(const float *p, int64_t n, int64_t inner, float *value, int64_t *where)
{
    if (inner == 1) {
        extreme_row<E>(p, n, value[0], where[0]);
        return;
    }
    for (int64_t i = 0; i < inner; ++i) {
        value[i] = p[i];
        where[i] = 0;
    }
    for (int64_t k = 1; k < n; ++k)
        for (int64_t i = 0; i < inner; ++i)
            if (better<E>(p[k * inner + i], value[i])) {
                value[i] = p[k * inner + i];
                where[i] = k;
            }
}

// max and min give the values along a dimension and their 1-based indices
// (as Torch7 and PyTorch); argmax and argmin only the indices. Over the
// whole tensor: a number (the value, or the 1-based flat index).
template <Extreme E>
int extreme(lua_State *L, bool want_index, const char *fn)
{
    const Tensor t = check_tensor(L, 1);
    const Options o = reduce_options(L, t, 2, fn);
    const Layout l = o.has_dim ? layout_along(t, o.dim) : Layout{1, t.numel(), 1};
    if (l.n == 0)
        raise(L,
              std::string(fn) + ": " +
                  (o.has_dim ? "dimension " + std::to_string(o.dim + 1) + " of " : std::string()) +
                  "the tensor of shape " + t.shape().to_string() + " is empty");
    std::vector<float> value(static_cast<size_t>(l.inner));
    std::vector<int64_t> where(static_cast<size_t>(l.inner));
    if (!o.has_dim) {
        extreme_block<E>(t.data_ptr(), l.n, 1, value.data(), where.data());
        if (want_index)
            lua_pushinteger(L, where[0] + 1);
        else
            lua_pushnumber(L, value[0]);
        return 1;
    }
    const Shape shape = reduced_shape(t, o);
    Tensor values = want_index ? Tensor() : new_result(L, shape);
    Tensor indices = new_result(L, shape);
    for (int64_t b = 0; b < l.outer; ++b) {
        extreme_block<E>(t.data_ptr() + b * l.n * l.inner, l.n, l.inner, value.data(),
                         where.data());
        for (int64_t i = 0; i < l.inner; ++i) {
            if (!want_index)
                values[b * l.inner + i] = value[static_cast<size_t>(i)];
            indices[b * l.inner + i] = static_cast<float>(where[static_cast<size_t>(i)] + 1);
        }
    }
    return want_index ? 1 : 2;
}

int t_max(lua_State *L) { return extreme<Extreme::Max>(L, false, "t:max"); }
int t_min(lua_State *L) { return extreme<Extreme::Min>(L, false, "t:min"); }
int t_argmax(lua_State *L) { return extreme<Extreme::Max>(L, true, "t:argmax"); }
int t_argmin(lua_State *L) { return extreme<Extreme::Min>(L, true, "t:argmin"); }

// ---- scans along a dimension: the result has the input's shape

enum class Scan { CumSum, Softmax, LogSoftmax };

// softmax or log_softmax of one contiguous row, shifted by its largest value
// so exp never overflows.
void softmax_row(bool log, const float *p, float *out, int64_t n)
{
    float top = p[0];
#pragma omp simd reduction(max : top)
    for (int64_t k = 0; k < n; ++k)
        top = std::max(top, p[k]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t k = 0; k < n; ++k) {
        out[k] = std::exp(p[k] - top);
        sum += out[k];
    }
    const float scale = 1.0f / sum, shift = top + std::log(sum);
#pragma omp simd
    for (int64_t k = 0; k < n; ++k)
        out[k] = log ? p[k] - shift : out[k] * scale;
}

void scan_block(Scan kind, const float *p, float *out, int64_t n, int64_t inner,
                std::vector<float> &m, std::vector<float> &s)
{
    if (kind == Scan::CumSum) {
        std::copy(p, p + inner, out);
        for (int64_t k = 1; k < n; ++k)
#pragma omp simd
            for (int64_t i = 0; i < inner; ++i)
                out[k * inner + i] = out[(k - 1) * inner + i] + p[k * inner + i];
        return;
    }
    if (inner == 1) {
        softmax_row(kind == Scan::LogSoftmax, p, out, n);
        return;
    }
    // Lanes across the rows: the same steps, each loop along memory.
    m.assign(p, p + inner);
    for (int64_t k = 1; k < n; ++k)
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i)
            m[i] = std::max(m[i], p[k * inner + i]);
    s.assign(static_cast<size_t>(inner), 0.0f);
    for (int64_t k = 0; k < n; ++k)
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
            const float e = std::exp(p[k * inner + i] - m[i]);
            s[i] += e;
            out[k * inner + i] = e;
        }
    for (int64_t i = 0; i < inner; ++i) {
        m[i] += std::log(s[i]); // the shift of log_softmax
        s[i] = 1.0f / s[i];     // the scale of softmax
    }
    for (int64_t k = 0; k < n; ++k)
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
            float &v = out[k * inner + i];
            v = kind == Scan::Softmax ? v * s[i] : p[k * inner + i] - m[i];
        }
}

int scan(lua_State *L, Scan kind, const char *fn)
{
    const Tensor t = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2))
        raise(L, std::string(fn) + " needs a dimension, e.g. " + fn +
                     "(2) along each row of a matrix");
    const int d = reduced_dim(L, check_int(L, 2, fn, "the dimension"), t, fn);
    // Nothing else is read: an option such as keepdim would be ignored silently.
    if (!lua_isnone(L, 3))
        raise(L, std::string(fn) + " takes only a dimension, got also " + value_text(L, 3) +
                     " (the result has the tensor's shape, so keepdim does not apply)");
    const Layout l = layout_along(t, d);
    Tensor out = new_result(L, t.shape());
    std::vector<float> m, s;
    if (l.n > 0)
        for (int64_t b = 0; b < l.outer; ++b)
            scan_block(kind, t.data_ptr() + b * l.n * l.inner, out.data_ptr() + b * l.n * l.inner,
                       l.n, l.inner, m, s);
    return 1;
}

int t_cumsum(lua_State *L) { return scan(L, Scan::CumSum, "t:cumsum"); }
int t_softmax(lua_State *L) { return scan(L, Scan::Softmax, "t:softmax"); }
int t_log_softmax(lua_State *L) { return scan(L, Scan::LogSoftmax, "t:log_softmax"); }

// ---- comparisons of whole tensors

int t_equal(lua_State *L)
{
    const Tensor a = check_tensor(L, 1);
    const Tensor b = check_tensor(L, 2);
    bool same = a.shape() == b.shape();
    for (int64_t i = 0; same && i < a.numel(); ++i)
        same = a[i] == b[i];
    lua_pushboolean(L, same);
    return 1;
}

int t_dot(lua_State *L)
{
    const Tensor a = check_tensor(L, 1);
    const Tensor b = check_tensor(L, 2);
    if (a.numel() != b.numel())
        raise(L, "t:dot: tensors of shapes " + a.shape().to_string() + " and " +
                     b.shape().to_string() + " have different numbers of elements");
    double s = 0;
    const float *x = a.data_ptr(), *y = b.data_ptr();
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < a.numel(); ++i)
        s += static_cast<double>(x[i]) * y[i];
    lua_pushnumber(L, s);
    return 1;
}

} // namespace

void open_tensor_reduce(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"sum", guard<t_sum>}, {"mean", guard<t_mean>}, {"prod", guard<t_prod>},
        {"var", guard<t_var>}, {"std", guard<t_std>}, {"norm", guard<t_norm>},
        {"logsumexp", guard<t_logsumexp>}, {"max", guard<t_max>}, {"min", guard<t_min>},
        {"argmax", guard<t_argmax>}, {"argmin", guard<t_argmin>}, {"cumsum", guard<t_cumsum>},
        {"softmax", guard<t_softmax>}, {"log_softmax", guard<t_log_softmax>},
        {"equal", guard<t_equal>}, {"dot", guard<t_dot>}, {nullptr, nullptr}};
    add_methods(L, methods, fns);
}

} // namespace neurite::lua
