#include "binding.h"
#include "tensor_args.h"

#include "neurite/core/strided.h"

#include <cmath>

namespace neurite::lua {

void raise(lua_State *L, const std::string &message) { raise_at(L, 1, message); }

void raise_at(lua_State *L, int level, const std::string &message)
{
    luaL_where(L, level);
    lua_pushlstring(L, message.data(), message.size());
    lua_concat(L, 2);
    lua_error(L);
    std::terminate(); // lua_error does not return
}

std::string describe_value(lua_State *L, int idx)
{
    if (test_tensor(L, idx))
        return "a tensor";
    if (luaL_testudata(L, idx, kLayerMeta))
        return "a layer";
    if (luaL_testudata(L, idx, kModelMeta))
        return "a model";
    if (luaL_testudata(L, idx, kSymbolMeta))
        return "a symbolic tensor (nn.Input)";
    if (luaL_testudata(L, idx, kLossMeta))
        return "a loss";
    if (luaL_testudata(L, idx, kOptimizerMeta))
        return "an optimizer";
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return "nil";
    case LUA_TNUMBER: return "a number";
    case LUA_TBOOLEAN: return "a boolean";
    case LUA_TSTRING: return "a string";
    case LUA_TTABLE: return "a table";
    case LUA_TFUNCTION: return "a function";
    default: return std::string("a ") + luaL_typename(L, idx);
    }
}

void arg_error(lua_State *L, int idx, const char *fn, const std::string &expected, int shown)
{
    raise(L, std::string(fn) + ": argument " + std::to_string(shown ? shown : idx) + " must be " +
                 expected + ", got " + describe_value(L, idx));
}

// ---- shapes

void check_shape_size(lua_State *L, const Shape &shape, const char *fn)
{
    guarded(L, [&] {
        try {
            return shape.checked_numel();
        } catch (const Error &e) {
            throw Error(std::string(fn) + ": " + e.what());
        }
    });
}

namespace {

// Dimension `position` (1-based) of a shape, the value at idx: an integer
// >= 0, or -1 where allow_infer. Checked in that order, so the message says
// what is wrong with the value the script gave.
int64_t shape_dimension(lua_State *L, int idx, int64_t position, const char *fn, bool allow_infer)
{
    const std::string where = std::string(fn) + ": dimension " + std::to_string(position) + " is ";
    const int type = lua_type(L, idx);
    int ok = 0;
    const lua_Integer d = lua_tointegerx(L, idx, &ok);
    if (type != LUA_TNUMBER || !ok)
        raise(L, where + value_text(L, idx) + "; dimensions must be integers");
    if (d < 0 && !(allow_infer && d == -1))
        raise(L, where + std::to_string(d) + "; dimensions must be >= 0" +
                     (allow_infer ? " (or -1 once, for the size inferred from the rest)" : ""));
    return d;
}

} // namespace

Shape shape_from_table(lua_State *L, int idx, const char *fn)
{
    idx = lua_absindex(L, idx);
    const lua_Unsigned n = lua_rawlen(L, idx);
    if (n < 1 || n > Shape::kMaxDims)
        raise(L, std::string(fn) + ": a shape has 1 to " + std::to_string(Shape::kMaxDims) +
                     " dimensions, got " + std::to_string(n));
    Shape shape;
    for (lua_Unsigned i = 1; i <= n; ++i) {
        lua_rawgeti(L, idx, static_cast<lua_Integer>(i));
        shape.push_back(shape_dimension(L, -1, static_cast<int64_t>(i), fn, false));
        lua_pop(L, 1);
    }
    check_shape_size(L, shape, fn);
    return shape;
}

Shape check_shape_args(lua_State *L, int idx, const char *fn)
{
    if (lua_istable(L, idx))
        return shape_from_table(L, idx, fn);
    const int top = lua_gettop(L);
    if (top < idx)
        raise(L, std::string(fn) + " needs a shape, e.g. {2, 3}");
    if (top - idx + 1 > Shape::kMaxDims)
        raise(L, std::string(fn) + ": a shape has at most " + std::to_string(Shape::kMaxDims) +
                     " dimensions, got " + std::to_string(top - idx + 1));
    Shape shape;
    for (int i = idx; i <= top; ++i)
        shape.push_back(shape_dimension(L, i, i - idx + 1, fn, false));
    check_shape_size(L, shape, fn);
    return shape;
}

Shape reshape_args(lua_State *L, int idx, int64_t numel, const char *fn)
{
    const bool table = lua_istable(L, idx);
    const int64_t n = table ? static_cast<int64_t>(lua_rawlen(L, idx)) : lua_gettop(L) - idx + 1;
    if (n < 1 && !table) // {} is the 0-d shape, for a tensor of one element
        raise(L, std::string(fn) + " needs a shape, e.g. t:reshape{2, 3}");
    if (n > Shape::kMaxDims)
        raise(L, std::string(fn) + ": a shape has at most " + std::to_string(Shape::kMaxDims) +
                     " dimensions, got " + std::to_string(n));
    Shape shape;
    int infer = -1;
    for (int64_t i = 1; i <= n; ++i) {
        if (table)
            lua_rawgeti(L, idx, i);
        else
            lua_pushvalue(L, idx + static_cast<int>(i) - 1);
        const int64_t d = shape_dimension(L, -1, i, fn, true);
        lua_pop(L, 1);
        if (d == -1) {
            if (infer >= 0)
                raise(L, std::string(fn) + ": dimensions " + std::to_string(infer + 1) + " and " +
                             std::to_string(i) + " are both -1; only one can be inferred");
            infer = static_cast<int>(i - 1);
        }
        shape.push_back(d == -1 ? 1 : d);
    }
    check_shape_size(L, shape, fn);
    if (infer >= 0) {
        const int64_t rest = shape.numel();
        if (rest == 0 || numel % rest != 0)
            raise(L, std::string(fn) + ": cannot infer dimension " + std::to_string(infer + 1) +
                         " (-1): " + std::to_string(numel) + " elements are not a multiple of " +
                         std::to_string(rest) + ", the product of the other dimensions");
        shape[infer] = numel / rest;
    }
    if (shape.numel() != numel)
        raise(L, std::string(fn) + ": cannot reshape " + std::to_string(numel) +
                     " elements to " + shape.to_string() + " (" + std::to_string(shape.numel()) +
                     " elements)");
    return shape;
}

void push_shape(lua_State *L, const Shape &shape)
{
    lua_createtable(L, shape.size(), 0);
    for (int i = 0; i < shape.size(); ++i) {
        lua_pushinteger(L, shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

// ---- class targets

Tensor to_zero_based(const Tensor &target)
{
    Tensor t = Tensor::uninitialized(target.shape());
    strided::map(t, target, [](float v) { return v - 1.0f; });
    return t;
}

Tensor to_one_based(const Tensor &target)
{
    Tensor t = Tensor::uninitialized(target.shape());
    strided::map(t, target, [](float v) { return v + 1.0f; });
    return t;
}

// ---- parameters

ParamValue param_from_lua(lua_State *L, int idx, const std::string &where)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return static_cast<double>(lua_tonumber(L, idx));
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0;
    case LUA_TSTRING: return std::string(lua_tostring(L, idx));
    case LUA_TTABLE: {
        idx = lua_absindex(L, idx);
        std::vector<double> list;
        const lua_Integer n = luaL_len(L, idx);
        for (lua_Integer i = 1; i <= n; ++i) {
            if (lua_geti(L, idx, i) != LUA_TNUMBER)
                raise(L, where + " must be a list of numbers; element " + std::to_string(i) +
                             " is " + describe_value(L, -1));
            list.push_back(lua_tonumber(L, -1));
            lua_pop(L, 1);
        }
        return list;
    }
    default:
        raise(L, where + " must be a number, a boolean, a string or a list of numbers, got " +
                     describe_value(L, idx));
    }
}

void push_param_value(lua_State *L, const ParamValue &value)
{
    switch (value.index()) {
    case 0: {
        const double d = std::get<double>(value);
        if (d == std::floor(d) && std::fabs(d) < 9.0e15)
            lua_pushinteger(L, static_cast<lua_Integer>(d));
        else
            lua_pushnumber(L, d);
        break;
    }
    case 1: lua_pushboolean(L, std::get<bool>(value)); break;
    case 2: lua_pushstring(L, std::get<std::string>(value).c_str()); break;
    default: {
        const auto &list = std::get<std::vector<double>>(value);
        lua_createtable(L, static_cast<int>(list.size()), 0);
        for (size_t i = 0; i < list.size(); ++i) {
            lua_pushnumber(L, list[i]);
            lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
        }
    }
    }
}

namespace {

// A table with at least one string key holds named parameters; an array
// of numbers is a value (a float list).
bool is_named_table(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || test_tensor(L, idx))
        return false;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const bool named = lua_type(L, -2) == LUA_TSTRING;
        lua_pop(L, 1);
        if (named) {
            lua_pop(L, 1);
            return true;
        }
    }
    // An empty table: no parameters by name.
    return luaL_len(L, idx) == 0;
}

} // namespace

ParamList params_from_args(lua_State *L, const Entry &entry, int first, const std::string &fn)
{
    ParamList list;
    int last = lua_gettop(L);
    int named = 0;
    if (last >= first && is_named_table(L, last))
        named = last--;
    const int positional = last - first + 1;
    if (positional > static_cast<int>(entry.params.size())) {
        std::string names;
        for (const ParamSpec &p : entry.params)
            names += (names.empty() ? "" : ", ") + p.name;
        raise(L, fn + " takes " +
                     (entry.params.empty() ? std::string("no parameters")
                                           : "at most " + std::to_string(entry.params.size()) +
                                                 " parameters (" + names + ")") +
                     ", got " + std::to_string(positional) + " positional arguments");
    }
    for (int i = 0; i < positional; ++i) {
        const ParamSpec &spec = entry.params[static_cast<size_t>(i)];
        if (lua_isnil(L, first + i))
            continue; // nil keeps the default
        list.emplace_back(spec.name,
                          param_from_lua(L, first + i, fn + ": parameter '" + spec.name + "'"));
    }
    if (named) {
        lua_pushnil(L);
        while (lua_next(L, named)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                raise(L, fn + ": parameters are given by name (a table of name = value) or in "
                              "order as arguments, not both in one table");
            const std::string name = lua_tostring(L, -2);
            for (const auto &[given, value] : list)
                if (given == name)
                    raise(L, fn + ": parameter '" + name + "' is given twice");
            list.emplace_back(name, param_from_lua(L, -1, fn + ": parameter '" + name + "'"));
            lua_pop(L, 1);
        }
    }
    return list;
}

std::string config_text(const std::string &name, const ParamList &config)
{
    std::string s = name + "(";
    for (size_t i = 0; i < config.size(); ++i)
        s += (i ? ", " : "") + config[i].first + "=" + param_value_text(config[i].second);
    return s + ")";
}

std::string joined_arguments(lua_State *L)
{
    std::string line;
    const int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i) {
        size_t len = 0;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            line += '\t';
        line.append(s, len);
        lua_pop(L, 1);
    }
    return line;
}

void sync_grads(lua_State *L, Module &module)
{
    guarded(L, [&] {
        module.sync_grads();
        return 0;
    });
}

const Entry &require_entry(lua_State *L, const char *name, const char *fn)
{
    const Registry &registry = detail::session(L).registry;
    if (const Entry *entry = registry.find(name))
        return *entry;
    std::string message;
    try {
        registry.require(name); // throws with the suggestion
    } catch (const std::exception &e) {
        message = e.what();
    }
    raise(L, std::string(fn) + "." + name + ": " + message);
}

} // namespace neurite::lua
