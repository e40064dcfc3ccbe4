// Selecting and scattering by index or mask: index, index_add, gather,
// scatter, where, masked_select and masked_fill. Indices are 1-based and
// checked as integers; a mask is a tensor whose nonzero elements are true.
#include "tensor_args.h"

#include <cstring>

namespace neurite::lua {

namespace {

int tensor_dim(lua_State *L, const Tensor &t, int idx, const char *fn)
{
    if (t.dim() == 0)
        raise(L, std::string(fn) + ": a 0-d tensor has no dimension to index");
    return check_dim(L, idx, t.dim(), fn);
}

// t:index(dim, indices): the slices at those 1-based indices, in their order (a copy).
int t_index(lua_State *L)
{
    const char *fn = "t:index";
    const Tensor t = check_tensor(L, 1);
    const int d = tensor_dim(L, t, 2, fn);
    const std::vector<int64_t> idx = check_index_list(L, 3, t.size(d), d, fn);
    const Layout l = layout_along(t, d);
    const auto m = static_cast<int64_t>(idx.size());
    Shape shape = t.shape();
    shape[d] = m;
    check_shape_size(L, shape, fn);
    Tensor out = new_result(L, shape);
    for (int64_t o = 0; o < l.outer; ++o)
        for (int64_t k = 0; k < m; ++k)
            std::memcpy(out.data() + (o * m + k) * l.inner,
                        t.data() + (o * l.n + idx[static_cast<size_t>(k)]) * l.inner,
                        static_cast<size_t>(l.inner) * sizeof(float));
    return 1;
}

// dst[.., index[k], ..] += alpha * src[.., k, ..] along dim, dst contiguous.
void index_add_into(lua_State *L, Tensor &dst, int d, const std::vector<int64_t> &idx,
                    const Tensor &src, float alpha, const char *fn)
{
    Shape want = dst.shape();
    want[d] = static_cast<int64_t>(idx.size());
    if (!(src.shape() == want))
        raise(L, std::string(fn) + ": the source has shape " + src.shape().to_string() + "; " +
                     std::to_string(idx.size()) + " indices into dimension " +
                     std::to_string(d + 1) + " of " + dst.shape().to_string() + " need " +
                     want.to_string());
    const Layout l = layout_along(dst, d);
    const auto m = static_cast<int64_t>(idx.size());
    for (int64_t o = 0; o < l.outer; ++o)
        for (int64_t k = 0; k < m; ++k) {
            float *row = dst.data() + (o * l.n + idx[static_cast<size_t>(k)]) * l.inner;
            const float *from = src.data() + (o * m + k) * l.inner;
#pragma omp simd
            for (int64_t i = 0; i < l.inner; ++i)
                row[i] += alpha * from[i];
        }
}

int index_add(lua_State *L, bool in_place, const char *fn)
{
    const Tensor &t = check_any_tensor(L, 1);
    const int d = tensor_dim(L, t, 2, fn);
    const std::vector<int64_t> idx = check_index_list(L, 3, t.size(d), d, fn);
    const Tensor src = check_tensor(L, 4);
    const float alpha = static_cast<float>(opt_num(L, 5, 1.0, fn, "alpha"));
    if (!in_place) {
        Tensor out = push_copy(L, t)->value;
        index_add_into(L, out, d, idx, src, alpha, fn);
        return 1;
    }
    check_writable(L, t, fn);
    Tensor work = t.is_contiguous() && !t.shares_memory_with(src) ? t : t.clone();
    index_add_into(L, work, d, idx, src, alpha, fn);
    if (work.data_ptr() != t.data_ptr())
        Tensor(t).copy_from(work);
    lua_settop(L, 1);
    return 1;
}

int t_index_add(lua_State *L) { return index_add(L, false, "t:index_add"); }
int t_index_add_(lua_State *L) { return index_add(L, true, "t:index_add_"); }

// Checks the shapes of gather/scatter: index has t's number of dimensions
// and is no larger than `bound` outside dim (nor than src anywhere).
void check_index_shape(lua_State *L, const Tensor &index, const Tensor &t, int d, const Tensor *src,
                       const char *fn)
{
    bool fits = index.dim() == t.dim();
    for (int i = 0; fits && i < t.dim(); ++i)
        fits = (i == d || index.size(i) <= t.size(i)) && (!src || index.size(i) <= src->size(i));
    if (!fits)
        raise(L,
              std::string(fn) + ": the index of shape " + index.shape().to_string() +
                  " does not fit the tensor of shape " + t.shape().to_string() +
                  (src ? " and the source of shape " + src->shape().to_string() : std::string()) +
                  " along dimension " + std::to_string(d + 1) +
                  " (as many dimensions, and no larger " +
                  (src ? "than the source, nor than the tensor outside that dimension)"
                       : "outside that dimension)"));
}

// Walks the elements of `index` beside `values` (given by their strides over
// the index's shape) and the elements of `target` they name along dimension
// d: gather reads target[.., index, ..] into values, scatter writes there.
void index_walk(lua_State *L, const Tensor &index, float *values, const int64_t *value_strides,
                const Tensor &target, int d, bool gather, const char *fn)
{
    int64_t si[Shape::kMaxDims], st[Shape::kMaxDims];
    strided::broadcast_strides(index, index.shape(), si);
    for (int i = 0; i < target.dim(); ++i)
        st[i] = i == d ? 0 : target.stride(i); // the index supplies dimension d
    const int64_t size = target.size(d), step = target.stride(d);
    strided::for_each_row<3>(
        index.shape(), {index.data_ptr(), values, target.data_ptr()}, {si, value_strides, st},
        [&](const std::array<float *, 3> &p, const std::array<int64_t, 3> &s, int64_t n) {
            for (int64_t k = 0; k < n; ++k) {
                float &there =
                    p[2][k * s[2] + checked_index_value(L, p[0][k * s[0]], size, d, fn) * step];
                float &here = p[1][k * s[1]];
                if (gather)
                    here = there;
                else
                    there = here;
            }
        });
}

// out[i][j] = t[i][index[i][j]] for dim 2, and so on (out has index's shape).
int t_gather(lua_State *L)
{
    const char *fn = "t:gather";
    const Tensor &t = check_any_tensor(L, 1);
    const int d = tensor_dim(L, t, 2, fn);
    const Tensor index = check_tensor(L, 3);
    check_index_shape(L, index, t, d, nullptr, fn);
    Tensor out = new_result(L, index.shape());
    index_walk(L, index, out.data_ptr(), out.strides().data(), t, d, true, fn);
    return 1;
}

// dst[i][index[i][j]] = src[i][j] for dim 2; src is a tensor or a number.
void scatter_into(lua_State *L, Tensor &dst, int d, const Tensor &index, const Tensor &src,
                  const char *fn)
{
    int64_t ss[Shape::kMaxDims] = {}; // a number: the same value everywhere
    for (int i = 0; i < src.dim(); ++i)
        ss[i] = src.stride(i);
    index_walk(L, index, src.data_ptr(), ss, dst, d, false, fn);
}

int scatter(lua_State *L, bool in_place, const char *fn)
{
    const Tensor &t = check_any_tensor(L, 1);
    const int d = tensor_dim(L, t, 2, fn);
    const Tensor index = check_tensor(L, 3);
    float scalar = 0;
    const Tensor src =
        lua_type(L, 4) == LUA_TNUMBER ? operand(L, 4, fn, scalar) : check_tensor(L, 4);
    check_index_shape(L, index, t, d, src.dim() ? &src : nullptr, fn);
    if (!in_place) {
        Tensor out = push_copy(L, t)->value;
        scatter_into(L, out, d, index, src, fn);
        return 1;
    }
    check_writable(L, t, fn);
    Tensor dst = t;
    scatter_into(L, dst, d, index, src.shares_memory_with(t) ? src.clone() : src, fn);
    lua_settop(L, 1);
    return 1;
}

int t_scatter(lua_State *L) { return scatter(L, false, "t:scatter"); }
int t_scatter_(lua_State *L) { return scatter(L, true, "t:scatter_"); }

// out = cond ? x : y, all three broadcast together.
int where(lua_State *L, int cond_at, int x_at, int y_at, const char *fn)
{
    const Tensor cond = check_any_tensor(L, cond_at);
    float sx = 0, sy = 0;
    const Tensor x = operand(L, x_at, fn, sx), y = operand(L, y_at, fn, sy);
    const Shape shape = guarded(L, [&] {
        return broadcast_shape(broadcast_shape(cond.shape(), x.shape(), fn), y.shape(), fn);
    });
    Tensor out = new_result(L, shape);
    int64_t so[Shape::kMaxDims], sc[Shape::kMaxDims], sa[Shape::kMaxDims], sb[Shape::kMaxDims];
    strided::broadcast_strides(out, shape, so);
    strided::broadcast_strides(cond, shape, sc);
    strided::broadcast_strides(x, shape, sa);
    strided::broadcast_strides(y, shape, sb);
    strided::for_each_row<4>(
        shape, {out.data_ptr(), cond.data_ptr(), x.data_ptr(), y.data_ptr()}, {so, sc, sa, sb},
        [](const std::array<float *, 4> &p, const std::array<int64_t, 4> &s, int64_t n) {
            if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {
#pragma omp simd
                for (int64_t k = 0; k < n; ++k)
                    p[0][k] = p[1][k] != 0 ? p[2][k] : p[3][k];
                return;
            }
            for (int64_t k = 0; k < n; ++k)
                p[0][k * s[0]] = p[1][k * s[1]] != 0 ? p[2][k * s[2]] : p[3][k * s[3]];
        });
    return 1;
}

// tensor.where(cond, x, y) and x:where(cond, y), as PyTorch.
int tensor_where(lua_State *L) { return where(L, 1, 2, 3, "tensor.where"); }
int t_where(lua_State *L) { return where(L, 2, 1, 3, "t:where"); }

// The mask at idx, which must broadcast to t's shape.
Tensor check_mask(lua_State *L, const Tensor &t, int idx, const char *fn)
{
    const Tensor mask = check_any_tensor(L, idx);
    if (!broadcasts_to(mask.shape(), t.shape()))
        raise(L, std::string(fn) + ": the mask of shape " + mask.shape().to_string() +
                     " does not broadcast to the tensor's shape " + t.shape().to_string());
    return mask;
}

int masked_fill(lua_State *L, bool in_place, const char *fn)
{
    const Tensor &t = check_any_tensor(L, 1);
    const Tensor mask = check_mask(L, t, 2, fn);
    const float value = static_cast<float>(check_num(L, 3, fn, "the value"));
    auto pick = [value](float x, float m) { return m != 0 ? value : x; };
    if (!in_place) {
        Tensor out = new_result(L, t.shape());
        strided::map2(out, t, mask, pick);
        return 1;
    }
    check_writable(L, t, fn);
    Tensor dst = t;
    strided::map2(dst, t, mask.shares_memory_with(t) ? mask.clone() : mask, pick);
    lua_settop(L, 1);
    return 1;
}

int t_masked_fill(lua_State *L) { return masked_fill(L, false, "t:masked_fill"); }
int t_masked_fill_(lua_State *L) { return masked_fill(L, true, "t:masked_fill_"); }

// The elements where the mask is nonzero, in row order, as a 1-D tensor.
int t_masked_select(lua_State *L)
{
    const char *fn = "t:masked_select";
    const Tensor &t = check_any_tensor(L, 1);
    const Tensor mask = check_any_tensor(L, 2);
    const Shape shape = guarded(L, [&] { return broadcast_shape(t.shape(), mask.shape(), fn); });
    int64_t st[Shape::kMaxDims], sm[Shape::kMaxDims];
    strided::broadcast_strides(t, shape, st);
    strided::broadcast_strides(mask, shape, sm);
    int64_t count = 0;
    strided::for_each_row<2>(
        shape, {t.data_ptr(), mask.data_ptr()}, {st, sm},
        [&](const std::array<float *, 2> &p, const std::array<int64_t, 2> &s, int64_t n) {
            for (int64_t k = 0; k < n; ++k)
                count += p[1][k * s[1]] != 0;
        });
    float *out = new_result(L, Shape{count}).data_ptr();
    strided::for_each_row<2>(
        shape, {t.data_ptr(), mask.data_ptr()}, {st, sm},
        [&](const std::array<float *, 2> &p, const std::array<int64_t, 2> &s, int64_t n) {
            for (int64_t k = 0; k < n; ++k)
                if (p[1][k * s[1]] != 0)
                    *out++ = p[0][k * s[0]];
        });
    return 1;
}

} // namespace

void open_tensor_select(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"index", guard<t_index>}, {"index_add", guard<t_index_add>},
        {"index_add_", guard<t_index_add_>}, {"gather", guard<t_gather>},
        {"scatter", guard<t_scatter>}, {"scatter_", guard<t_scatter_>}, {"where", guard<t_where>},
        {"masked_fill", guard<t_masked_fill>}, {"masked_fill_", guard<t_masked_fill_>},
        {"masked_select", guard<t_masked_select>}, {nullptr, nullptr}};
    add_methods(L, methods, fns);
}

void open_tensor_where(lua_State *L, int module)
{
    lua_pushcfunction(L, guard<tensor_where>);
    lua_setfield(L, module, "where");
}

} // namespace neurite::lua
