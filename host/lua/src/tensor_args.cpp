#include "tensor_args.h"

#include <cmath>

namespace neurite::lua {

std::string value_text(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
        size_t len = 0;
        const char *s = luaL_tolstring(L, idx, &len);
        std::string text(s, len);
        lua_pop(L, 1);
        return text;
    }
    case LUA_TSTRING: {
        std::string text(1, '"'); // built up: GCC 12 warns falsely on "\"" + s + "\""
        text += lua_tostring(L, idx);
        text += '"';
        return text;
    }
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    default: return describe_value(L, idx);
    }
}

int64_t check_int(lua_State *L, int idx, const char *fn, const char *what)
{
    int ok = 0;
    const lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) {
        if (lua_isnone(L, idx))
            raise(L, std::string(fn) + ": " + what + " is missing; it must be an integer");
        raise(L, std::string(fn) + ": " + what + " is " + value_text(L, idx) +
                     "; it must be an integer");
    }
    return v;
}

int64_t opt_int(lua_State *L, int idx, int64_t fallback, const char *fn, const char *what)
{
    return lua_isnoneornil(L, idx) ? fallback : check_int(L, idx, fn, what);
}

double check_num(lua_State *L, int idx, const char *fn, const char *what)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise(L,
              std::string(fn) + ": " + what + " must be a number, got " + describe_value(L, idx));
    return lua_tonumber(L, idx);
}

double opt_num(lua_State *L, int idx, double fallback, const char *fn, const char *what)
{
    return lua_isnoneornil(L, idx) ? fallback : check_num(L, idx, fn, what);
}

int dim_index(lua_State *L, int64_t dim, int ndim, const char *fn, int extra)
{
    const int64_t n = ndim + extra;
    if (dim >= 1 && dim <= n)
        return static_cast<int>(dim - 1);
    if (dim < 0 && dim >= -n)
        return static_cast<int>(n + dim);
    const std::string range = n == 0 ? std::string("a 0-d tensor has none")
                                     : "dimensions are 1.." + std::to_string(n) + ", or -" +
                                           std::to_string(n) + "..-1 from the end";
    raise(L, std::string(fn) + ": dimension " + std::to_string(dim) + " is out of range (" + range +
                 ")");
}

int check_dim(lua_State *L, int idx, int ndim, const char *fn, int extra)
{
    return dim_index(L, check_int(L, idx, fn, "the dimension"), ndim, fn, extra);
}

int64_t element_index(lua_State *L, int64_t i, int64_t size, int d, const char *fn)
{
    if (i >= 1 && i <= size)
        return i - 1;
    if (i < 0 && i >= -size)
        return size + i;
    raise(L, std::string(fn) + ": index " + std::to_string(i) + " is out of range for dimension " +
                 std::to_string(d + 1) + " of size " + std::to_string(size) +
                 " (indices start at 1; -1 is the last)");
}

namespace {

[[noreturn]] void bad_index(lua_State *L, const std::string &value, int64_t position, int64_t size,
                            int d, const char *fn, const char *why)
{
    raise(L, std::string(fn) + ": index " + value + " (position " + std::to_string(position) +
                 ") " + why + " for dimension " + std::to_string(d + 1) + " of size " +
                 std::to_string(size) + " (indices are 1.." + std::to_string(size) + ")");
}

} // namespace

void bad_index_value(lua_State *L, float v, int64_t size, int d, const char *fn)
{
    if (!(std::fabs(v) < 9.0e15f) || v != std::floor(v))
        raise(L, std::string(fn) + ": index " + param_value_text(static_cast<double>(v)) +
                     " is not an integer");
    raise(L, std::string(fn) + ": index " + std::to_string(static_cast<int64_t>(v)) +
                 " is out of range for dimension " + std::to_string(d + 1) + " of size " +
                 std::to_string(size) + " (indices are 1.." + std::to_string(size) + ")");
}

std::vector<int64_t> check_index_list(lua_State *L, int idx, int64_t size, int d, const char *fn)
{
    std::vector<int64_t> out;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        const int64_t i = check_int(L, idx, fn, "the index");
        if (i < 1 || i > size)
            bad_index(L, std::to_string(i), 1, size, d, fn, "is out of range");
        out.push_back(i - 1);
        return out;
    }
    if (test_tensor(L, idx)) {
        const Tensor t = check_tensor(L, idx);
        if (t.dim() > 1)
            raise(L, std::string(fn) + ": the indices must be a list, got a tensor of shape " +
                         t.shape().to_string());
        out.reserve(static_cast<size_t>(t.numel()));
        for (int64_t k = 0; k < t.numel(); ++k)
            out.push_back(checked_index_value(L, t[k], size, d, fn));
        return out;
    }
    if (!lua_istable(L, idx))
        arg_error(L, idx, fn, "a table or tensor of indices");
    const lua_Unsigned n = lua_rawlen(L, idx);
    out.reserve(static_cast<size_t>(std::min<lua_Unsigned>(n, 1u << 20)));
    for (lua_Unsigned k = 1; k <= n; ++k) {
        lua_rawgeti(L, idx, static_cast<lua_Integer>(k));
        int ok = 0;
        const lua_Integer i = lua_tointegerx(L, -1, &ok);
        if (!ok)
            bad_index(L, value_text(L, -1), static_cast<int64_t>(k), size, d, fn,
                      "is not an integer");
        if (i < 1 || i > size)
            bad_index(L, std::to_string(i), static_cast<int64_t>(k), size, d, fn,
                      "is out of range");
        lua_pop(L, 1);
        out.push_back(i - 1);
    }
    return out;
}

Layout layout_along(const Tensor &t, int d)
{
    Layout l;
    if (t.dim() == 0)
        return l;
    l.n = t.size(d);
    for (int i = 0; i < d; ++i)
        l.outer *= t.size(i);
    for (int i = d + 1; i < t.dim(); ++i)
        l.inner *= t.size(i);
    return l;
}

bool broadcasts_to(const Shape &from, const Shape &to)
{
    if (from.size() > to.size())
        return false;
    for (int i = 0; i < from.size(); ++i) {
        const int64_t d = from[from.size() - 1 - i];
        if (d != 1 && d != to[to.size() - 1 - i])
            return false;
    }
    return true;
}

Shape broadcast_shape(const Shape &a, const Shape &b, const char *fn)
{
    const int n = std::max(a.size(), b.size());
    int64_t dims[Shape::kMaxDims];
    for (int i = 0; i < n; ++i) {
        const int ia = a.size() - n + i, ib = b.size() - n + i;
        const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1)
            throw Error(std::string(fn) + ": shapes " + a.to_string() + " and " + b.to_string() +
                        " do not match (dimension " + std::to_string(i + 1) + " is " +
                        std::to_string(da) + " against " + std::to_string(db) +
                        "; sizes must be equal or 1)");
        dims[i] = da == 1 ? db : da;
    }
    return Shape(std::span<const int64_t>(dims, static_cast<size_t>(n)));
}

Tensor operand(lua_State *L, int idx, const char *fn, float &scalar)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        scalar = static_cast<float>(lua_tonumber(L, idx));
        return Tensor::view(&scalar, Shape{});
    }
    if (test_tensor(L, idx))
        return check_any_tensor(L, idx);
    raise(L, std::string(fn) + ": cannot combine a tensor with " + describe_value(L, idx));
}

Tensor new_result(lua_State *L, const Shape &shape)
{
    return push_new_tensor(L, shape, false)->value;
}

void check_writable(lua_State *L, const Tensor &t, const char *fn)
{
    if (t.has_overlap())
        raise(L, std::string(fn) + ": the tensor of shape " + t.shape().to_string() +
                     " is an expanded view (several of its elements share memory) and cannot "
                     "be written element by element; write into t:contiguous() instead");
}

Shape new_tensor_shape(lua_State *L, int idx, const char *fn)
{
    if (lua_istable(L, idx) && !test_tensor(L, idx) && lua_rawlen(L, idx) == 0)
        return Shape{};
    return check_shape_args(L, idx, fn);
}

bool keepdim_arg(lua_State *L, int idx, const char *fn)
{
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return false;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx);
    case LUA_TTABLE: {
        lua_getfield(L, idx, "keepdim");
        const int type = lua_type(L, -1);
        if (type != LUA_TNIL && type != LUA_TBOOLEAN)
            raise(L, std::string(fn) + ": keepdim must be a boolean, got " + describe_value(L, -1));
        const bool keep = lua_toboolean(L, -1);
        lua_pop(L, 1);
        return keep;
    }
    default:
        raise(L, std::string(fn) +
                     ": keepdim must be a boolean (or a table {keepdim = true}), got " +
                     describe_value(L, idx));
    }
}

void add_methods(lua_State *L, int methods, const luaL_Reg *fns)
{
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
