// Whether a data source holds class labels, and how they are laid out: the
// one rule that train.evaluate's default metrics, train.correct, data.tensors
// and the window all ask (data.target_kind in Lua, describe_targets in C++).
//
// A dataset says it itself (ds.kind, ds.encoding). A table {x =, y =} may say
// it with a `kind` field; otherwise y's values decide, in the dataset's own
// terms: one whole number from 1 per sample is a class index (Lua counts
// classes from 1), a 0/1 label per sample an index column, a row with a
// single 1 among 0s a one-hot row; anything else is values. The shape alone
// never decides: a regression target [N] of 0.4s is values.
#include "dataset_box.h"

#include "neurite/lua/interop.h"

#include <cmath>

namespace neurite::lua {

namespace {

namespace nd = neurite::data;

bool one_hot_rows(const Tensor &y)
{
    const int64_t rows = y.size(0), width = y.size(1);
    for (int64_t r = 0; r < rows; ++r) {
        int64_t ones = 0;
        for (int64_t c = 0; c < width; ++c) {
            const float v = y[r * width + c];
            if (v == 1.0f)
                ++ones;
            else if (v != 0.0f)
                return false;
        }
        if (ones != 1)
            return false;
    }
    return true;
}

// y from a table {x =, y =} or {x, y}; nullptr when it has none.
const Tensor *table_targets(lua_State *L, int idx)
{
    lua_getfield(L, idx, "y");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, idx, 2);
    }
    const Tensor *y = to_tensor(L, -1);
    lua_pop(L, 1); // the table keeps y alive
    return y;
}

} // namespace

std::optional<data::TargetEncoding> class_encoding(const Tensor &y)
{
    if (y.dim() < 1 || y.dim() > 2 || y.size(0) == 0)
        return std::nullopt;
    if (y.dim() == 2 && y.size(1) > 1)
        return one_hot_rows(y) ? std::optional(nd::TargetEncoding::OneHot) : std::nullopt;
    bool from_one = true, binary = true, zero = false;
    for (const float v : y) {
        from_one = from_one && v >= 1.0f && v == std::floor(v);
        binary = binary && (v == 0.0f || v == 1.0f);
        zero = zero || v == 0.0f;
    }
    if (binary && zero)
        return nd::TargetEncoding::IndexColumn;
    if (from_one)
        return nd::TargetEncoding::Index;
    return std::nullopt;
}

TargetDescription describe_targets(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (const nd::Dataset *ds = to_dataset(L, idx))
        return {ds->target_kind(), ds->target_encoding()};
    const Tensor *y = to_tensor(L, idx);
    std::string declared;
    if (!y && lua_istable(L, idx)) {
        y = table_targets(L, idx);
        lua_getfield(L, idx, "kind");
        if (!lua_isnil(L, -1)) {
            const char *kind = lua_tostring(L, -1);
            declared = kind ? kind : "?";
            if (declared != "classes" && declared != "values")
                raise(L, "data: a table's kind must be \"classes\" or \"values\", got " +
                             (kind ? "\"" + declared + "\"" : describe_value(L, -1)));
        }
        lua_pop(L, 1);
    }
    if (!y)
        return {nd::TargetKind::None, nd::TargetEncoding::Index};
    if (declared == "values")
        return {nd::TargetKind::Values, nd::TargetEncoding::Index};
    const std::optional<nd::TargetEncoding> encoding = class_encoding(*y);
    if (encoding)
        return {nd::TargetKind::Classes, *encoding};
    if (declared == "classes")
        raise(L, "data: the table says kind = \"classes\" but its y " + y->shape().to_string() +
                     " holds no class labels (whole numbers from 1, a 0/1 label per sample, or "
                     "one-hot rows)");
    return {nd::TargetKind::Values, nd::TargetEncoding::Index};
}

// data.target_kind(source) -> "classes", "index" | "one_hot" | "index_column";
// or "values"; or "none" (no targets).
int data_target_kind(lua_State *L)
{
    if (!to_dataset(L, 1) && !to_tensor(L, 1) && !lua_istable(L, 1))
        arg_error(L, 1, "data.target_kind", "a dataset, a table {x = ..., y = ...} or a tensor of targets");
    const TargetDescription d = describe_targets(L, 1);
    lua_pushstring(L, nd::target_kind_name(d.kind));
    if (d.kind != nd::TargetKind::Classes)
        return 1;
    lua_pushstring(L, nd::target_encoding_name(d.encoding));
    return 2;
}

} // namespace neurite::lua
