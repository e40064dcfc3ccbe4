// Tensor methods about shape and memory: sizes, element access, and the
// views (reshape, narrow, select, transpose, permute, squeeze, unsqueeze,
// expand), which share memory with their source and keep it alive.
#include "tensor_args.h"

#include <cstring>

namespace neurite::lua {

namespace {

int m_shape(lua_State *L)
{
    push_shape(L, check_any_tensor(L, 1).shape());
    return 1;
}

int m_size(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t.shape());
        return 1;
    }
    lua_pushinteger(L, t.size(check_dim(L, 2, t.dim(), "t:size")));
    return 1;
}

int m_stride(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t.stride(check_dim(L, 2, t.dim(), "t:stride")));
        return 1;
    }
    lua_createtable(L, t.dim(), 0);
    for (int i = 0; i < t.dim(); ++i) {
        lua_pushinteger(L, t.stride(i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

int m_dim(lua_State *L)
{
    lua_pushinteger(L, check_any_tensor(L, 1).dim());
    return 1;
}

int m_numel(lua_State *L)
{
    lua_pushinteger(L, check_any_tensor(L, 1).numel());
    return 1;
}

int m_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, check_any_tensor(L, 1).is_contiguous());
    return 1;
}

// The element at the indices first..first+count-1 (one per dimension).
float *element(lua_State *L, const Tensor &t, int first, int count, const char *fn)
{
    if (count != t.dim())
        raise(L, std::string(fn) + " needs " + std::to_string(t.dim()) +
                     " indices for a tensor of shape " + t.shape().to_string() + ", got " +
                     std::to_string(count));
    int64_t offset = 0;
    for (int d = 0; d < count; ++d) {
        const int64_t i = check_int(L, first + d, fn, "an index");
        offset += element_index(L, i, t.size(d), d, fn) * t.stride(d);
    }
    return t.data_ptr() + offset;
}

int m_get(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    lua_pushnumber(L, *element(L, t, 2, lua_gettop(L) - 1, "t:get"));
    return 1;
}

int m_set(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const int top = lua_gettop(L);
    const float v = static_cast<float>(check_num(L, top, "t:set", "the value (the last argument)"));
    check_writable(L, t, "t:set");
    *element(L, t, 2, top - 2, "t:set") = v;
    lua_settop(L, 1);
    return 1;
}

int m_item(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (t.numel() != 1)
        raise(L, "t:item: the tensor of shape " + t.shape().to_string() + " has " +
                     std::to_string(t.numel()) + " elements; item() reads a tensor of one");
    lua_pushnumber(L, *t.data_ptr());
    return 1;
}

void push_nested(lua_State *L, const Tensor &t, int depth, int64_t &flat)
{
    const int64_t n = t.size(depth);
    lua_createtable(L, static_cast<int>(std::min<int64_t>(n, 1 << 24)), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (depth + 1 < t.dim())
            push_nested(L, t, depth + 1, flat);
        else
            lua_pushnumber(L, t[flat++]);
        lua_rawseti(L, -2, i + 1);
    }
}

// Nested tables; a 0-d tensor gives its number.
int m_totable(lua_State *L)
{
    const Tensor t = check_tensor(L, 1);
    if (t.dim() == 0) {
        lua_pushnumber(L, t[0]);
        return 1;
    }
    luaL_checkstack(L, t.dim() + 4, "tensor too deep");
    int64_t flat = 0;
    push_nested(L, t, 0, flat);
    return 1;
}

// t:reshape{...} shares memory when the elements are in row order (a
// contiguous tensor), and copies otherwise, as PyTorch's reshape does.
int m_reshape(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const Shape shape = reshape_args(L, 2, t.numel(), "t:reshape");
    if (t.is_contiguous()) {
        push_view(L, 1, t.reshape(shape));
        return 1;
    }
    TensorBox *box = push_copy(L, t);
    box->value = box->value.reshape(shape);
    return 1;
}

// t:view{...} always shares memory, so it refuses a strided view.
int m_view(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const Shape shape = reshape_args(L, 2, t.numel(), "t:view");
    if (!t.is_contiguous())
        raise(L, "t:view: the tensor of shape " + t.shape().to_string() +
                     " is a strided view whose elements are not in row order; use t:reshape "
                     "(which copies it) or t:contiguous():view(...)");
    push_view(L, 1, t.reshape(shape));
    return 1;
}

int m_clone(lua_State *L)
{
    push_copy(L, check_any_tensor(L, 1));
    return 1;
}

// The tensor itself when contiguous (as PyTorch), else a contiguous copy.
int m_contiguous(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (t.is_contiguous())
        lua_settop(L, 1);
    else
        push_copy(L, t);
    return 1;
}

// t:copy(src): src of the same shape, one that broadcasts to it, or (as in
// Torch7) any with as many elements, read in row order.
int m_copy(lua_State *L)
{
    const Tensor &dst = check_any_tensor(L, 1);
    check_writable(L, dst, "t:copy");
    const Tensor src =
        test_tensor(L, 2) ? check_any_tensor(L, 2) : tensor_from_value(L, 2, "t:copy");
    return guarded(L, [&] {
        Tensor target = dst;
        if (src.shape() == dst.shape())
            target.copy_from(src);
        else if (broadcasts_to(src.shape(), dst.shape()))
            target.copy_from(src.expand(dst.shape()));
        else if (src.numel() == dst.numel())
            target.copy_from(src.contiguous().reshape(dst.shape()));
        else
            throw Error("t:copy: cannot copy a tensor of shape " + src.shape().to_string() +
                        " into one of shape " + dst.shape().to_string());
        lua_settop(L, 1);
        return 1;
    });
}

int fill_with(lua_State *L, float value, const char *fn)
{
    Tensor t = check_any_tensor(L, 1);
    check_writable(L, t, fn);
    t.fill(value);
    lua_settop(L, 1);
    return 1;
}

int m_fill(lua_State *L)
{
    return fill_with(L, static_cast<float>(check_num(L, 2, "t:fill", "the value")), "t:fill");
}
int m_zero_(lua_State *L) { return fill_with(L, 0.0f, "t:zero_"); }

// t:narrow(dim, start, length): elements start..start+length-1 of dim.
int m_narrow(lua_State *L)
{
    const char *fn = "t:narrow";
    const Tensor &t = check_any_tensor(L, 1);
    const int d = check_dim(L, 2, t.dim(), fn);
    const int64_t size = t.size(d);
    const int64_t start = check_int(L, 3, fn, "the start");
    const int64_t length = check_int(L, 4, fn, "the length");
    // start may be one past the end when length is 0; -1 is the last.
    const int64_t first = start >= 1 ? start - 1 : size + start;
    if (start == 0 || first < 0 || first > size)
        raise(L, std::string(fn) + ": start " + std::to_string(start) +
                     " is out of range for dimension " + std::to_string(d + 1) + " of size " +
                     std::to_string(size) + " (indices start at 1; -1 is the last)");
    if (length < 0 || length > size - first) // no addition: huge lengths cannot wrap
        raise(L, std::string(fn) + ": length " + std::to_string(length) + " from start " +
                     std::to_string(start) + " does not fit dimension " + std::to_string(d + 1) +
                     " of size " + std::to_string(size) + " (at most " +
                     std::to_string(size - first) + ")");
    push_view(L, 1, t.narrow(d, first, length));
    return 1;
}

int m_select(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const int d = check_dim(L, 2, t.dim(), "t:select");
    const int64_t i =
        element_index(L, check_int(L, 3, "t:select", "the index"), t.size(d), d, "t:select");
    push_view(L, 1, t.select(d, i));
    return 1;
}

int m_transpose(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const int d1 = check_dim(L, 2, t.dim(), "t:transpose");
    const int d2 = check_dim(L, 3, t.dim(), "t:transpose");
    push_view(L, 1, t.transpose(d1, d2));
    return 1;
}

// t:t(): a matrix transposed (a view); a vector or a 0-d tensor as it is.
int m_t(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    if (t.dim() > 2)
        raise(L, "t:t() transposes a matrix, got shape " + t.shape().to_string() +
                     "; t:transpose(d1, d2) swaps any two dimensions");
    push_view(L, 1, t.dim() == 2 ? t.transpose(0, 1) : t);
    return 1;
}

// The integers of a table at first, or of the arguments first..top.
std::vector<int64_t> integer_list(lua_State *L, int first, const char *fn, const char *what)
{
    std::vector<int64_t> out;
    const bool table = lua_istable(L, first);
    const int64_t n =
        table ? static_cast<int64_t>(lua_rawlen(L, first)) : lua_gettop(L) - first + 1;
    if (n > Shape::kMaxDims)
        raise(L, std::string(fn) + ": " + std::to_string(n) + " " + what +
                     " given; a tensor has at most " + std::to_string(Shape::kMaxDims) +
                     " dimensions");
    for (int64_t k = 0; k < n; ++k) {
        if (table)
            lua_rawgeti(L, first, k + 1);
        else
            lua_pushvalue(L, first + static_cast<int>(k));
        const std::string label = std::string(what) + " " + std::to_string(k + 1);
        out.push_back(check_int(L, -1, fn, label.c_str()));
        lua_pop(L, 1);
    }
    return out;
}

int m_permute(lua_State *L)
{
    const char *fn = "t:permute";
    const Tensor &t = check_any_tensor(L, 1);
    const std::vector<int64_t> given = integer_list(L, 2, fn, "dimensions");
    if (static_cast<int>(given.size()) != t.dim())
        raise(L, std::string(fn) + ": a tensor of shape " + t.shape().to_string() + " needs " +
                     std::to_string(t.dim()) + " dimensions in the order, got " +
                     std::to_string(given.size()));
    std::vector<int> order;
    for (int64_t g : given) {
        const int d = dim_index(L, g, t.dim(), fn);
        for (int seen : order)
            if (seen == d)
                raise(L, std::string(fn) + ": dimension " + std::to_string(d + 1) +
                             " appears twice in the order");
        order.push_back(d);
    }
    push_view(L, 1, t.permute(order));
    return 1;
}

// t:squeeze() drops every dimension of size 1; t:squeeze(dim) drops dim if
// its size is 1 and otherwise leaves the tensor as it is (as PyTorch).
int m_squeeze(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    Tensor out = t;
    if (!lua_isnoneornil(L, 2)) {
        const int d = check_dim(L, 2, t.dim(), "t:squeeze");
        if (t.size(d) == 1)
            out = t.squeeze(d);
    } else {
        for (int d = t.dim() - 1; d >= 0; --d)
            if (t.size(d) == 1)
                out = out.squeeze(d);
    }
    push_view(L, 1, out);
    return 1;
}

int m_unsqueeze(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    push_view(L, 1, t.unsqueeze(check_dim(L, 2, t.dim(), "t:unsqueeze", 1)));
    return 1;
}

// The shape t:expand(sizes) gives: -1 keeps a size, new dimensions lead.
Shape expanded_shape(lua_State *L, const Tensor &t, const std::vector<int64_t> &sizes,
                     const char *fn)
{
    const int n = static_cast<int>(sizes.size());
    if (n < t.dim())
        raise(L, std::string(fn) + ": " + std::to_string(n) + " sizes for a tensor of shape " +
                     t.shape().to_string() + "; expand needs at least one per dimension");
    Shape shape;
    for (int i = 0; i < n; ++i) {
        const int own = i - (n - t.dim());
        const int64_t want = sizes[static_cast<size_t>(i)];
        if (want == -1 && own >= 0) {
            shape.push_back(t.size(own));
            continue;
        }
        if (want < 0)
            raise(L, std::string(fn) + ": size " + std::to_string(i + 1) + " is " +
                         std::to_string(want) +
                         "; sizes must be >= 0 (-1 keeps a dimension's size)");
        if (own >= 0 && t.size(own) != want && t.size(own) != 1)
            raise(L, std::string(fn) + ": dimension " + std::to_string(own + 1) + " of shape " +
                         t.shape().to_string() + " has size " + std::to_string(t.size(own)) +
                         " and cannot expand to " + std::to_string(want) +
                         " (only dimensions of size 1 expand)");
        shape.push_back(want);
    }
    check_shape_size(L, shape, fn);
    return shape;
}

int m_expand(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const Shape shape = expanded_shape(L, t, integer_list(L, 2, "t:expand", "sizes"), "t:expand");
    push_view(L, 1, t.expand(shape));
    return 1;
}

int m_expand_as(lua_State *L)
{
    const Tensor &t = check_any_tensor(L, 1);
    const Shape &target = check_any_tensor(L, 2).shape();
    const std::vector<int64_t> sizes(target.begin(), target.end());
    push_view(L, 1, t.expand(expanded_shape(L, t, sizes, "t:expand_as")));
    return 1;
}

} // namespace

void open_tensor_views(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"shape", guard<m_shape>}, {"size", guard<m_size>}, {"stride", guard<m_stride>},
        {"dim", guard<m_dim>}, {"numel", guard<m_numel>}, {"is_contiguous", guard<m_is_contiguous>},
        {"get", guard<m_get>}, {"set", guard<m_set>}, {"item", guard<m_item>},
        {"totable", guard<m_totable>}, {"reshape", guard<m_reshape>}, {"view", guard<m_view>},
        {"clone", guard<m_clone>}, {"contiguous", guard<m_contiguous>}, {"copy", guard<m_copy>},
        {"copy_", guard<m_copy>}, {"fill", guard<m_fill>}, {"fill_", guard<m_fill>},
        {"zero_", guard<m_zero_>}, {"narrow", guard<m_narrow>}, {"select", guard<m_select>},
        {"transpose", guard<m_transpose>}, {"t", guard<m_t>}, {"permute", guard<m_permute>},
        {"squeeze", guard<m_squeeze>}, {"unsqueeze", guard<m_unsqueeze>},
        {"expand", guard<m_expand>}, {"expand_as", guard<m_expand_as>}, {nullptr, nullptr}};
    add_methods(L, methods, fns);
}

} // namespace neurite::lua
