// The one check of option tables and named choices for every binding, in
// C++ (check_option_keys, check_choice) and in Lua (neurite.check_options,
// neurite.check_choice, neurite.closest_name, which train.lua calls): an
// unknown key or choice is
// an error at the script's line that suggests the nearest known name, so a
// typo such as `epoch = 3` never passes silently.
#include "binding.h"

#include "neurite/core/suggest.h"

#include <algorithm>

namespace neurite::lua {

namespace {

std::string key_text(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        std::string s = "a value at [";
        s += lua_tostring(L, idx);
        return s + "]";
    }
    return "a key of type " + std::string(luaL_typename(L, idx));
}

std::vector<std::string> sorted(std::vector<std::string> names)
{
    std::sort(names.begin(), names.end());
    return names;
}

// A list of strings at idx, as the Lua functions take `known` and `choices`.
std::vector<std::string> string_list(lua_State *L, int idx, const char *fn, const char *what)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    std::vector<std::string> names;
    const lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_geti(L, idx, i) != LUA_TSTRING)
            raise(L, std::string(fn) + ": " + what + " must be a list of strings; element " +
                         std::to_string(i) + " is " + describe_value(L, -1));
        names.emplace_back(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return names;
}

// neurite.check_options(opts, fn, known [, level = 2]) -> opts
int lua_check_options(lua_State *L)
{
    const char *fn = luaL_checkstring(L, 2);
    const std::vector<std::string> known = string_list(L, 3, "neurite.check_options", "the known options");
    const int level = static_cast<int>(luaL_optinteger(L, 4, 2));
    check_option_keys(L, 1, fn, known, level);
    lua_settop(L, 1);
    return 1;
}

// neurite.check_choice(value, fn, what, choices [, level = 2]) -> value
int lua_check_choice(lua_State *L)
{
    const char *fn = luaL_checkstring(L, 2);
    const char *what = luaL_checkstring(L, 3);
    const std::vector<std::string> choices = string_list(L, 4, "neurite.check_choice", "the choices");
    const int level = static_cast<int>(luaL_optinteger(L, 5, 2));
    if (lua_type(L, 1) != LUA_TSTRING) {
        std::string list;
        for (const std::string &c : choices)
            list += (list.empty() ? "" : ", ") + c;
        raise_at(L, level, std::string(fn) + ": " + what + " must be one of " + list + ", got " +
                               describe_value(L, 1));
    }
    check_choice(L, lua_tostring(L, 1), fn, what, choices, level);
    lua_settop(L, 1);
    return 1;
}

// neurite.closest_name(name, candidates) -> the likely intended one, or nil
int lua_closest_name(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const std::string near = closest_name(name, string_list(L, 2, "neurite.closest_name", "the candidates"));
    if (near.empty())
        lua_pushnil(L);
    else
        lua_pushlstring(L, near.data(), near.size());
    return 1;
}

} // namespace

void check_option_keys(lua_State *L, int idx, const char *fn, const std::vector<std::string> &known,
                       int level)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || test_tensor(L, idx))
        raise_at(L, level, std::string(fn) + ": expects a table of options, got " + describe_value(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            raise_at(L, level, std::string(fn) + ": options are given by name (name = value), got " +
                                   key_text(L, -1));
        const std::string key = lua_tostring(L, -1);
        if (std::find(known.begin(), known.end(), key) == known.end())
            raise_at(L, level, std::string(fn) + ": unknown option '" + key + "'" +
                                   suggestion_text(key, sorted(known), "options"));
    }
}

void check_optional_options(lua_State *L, int idx, const char *fn, const std::vector<std::string> &known,
                            int level)
{
    if (!lua_isnoneornil(L, idx))
        check_option_keys(L, idx, fn, known, level);
}

void check_choice(lua_State *L, const std::string &value, const char *fn, const char *what,
                  const std::vector<std::string> &choices, int level)
{
    if (std::find(choices.begin(), choices.end(), value) != choices.end())
        return;
    raise_at(L, level, std::string(fn) + ": unknown " + what + " '" + value + "'" +
                           suggestion_text(value, choices, std::string(what) + "s"));
}

void register_option_checks(lua_State *L, int table)
{
    table = lua_absindex(L, table);
    lua_pushcfunction(L, lua_check_options);
    lua_setfield(L, table, "check_options");
    lua_pushcfunction(L, lua_check_choice);
    lua_setfield(L, table, "check_choice");
    lua_pushcfunction(L, lua_closest_name);
    lua_setfield(L, table, "closest_name");
}

} // namespace neurite::lua
