// The run store's Lua face (docs/run-store.md): monitor.hparams,
// monitor.final_metrics, monitor.run_dir, monitor.end_run's failure
// message, and the checkpoints m:save records.
#include "binding.h"
#include "session_state.h"

#include <QJsonArray>
#include <QJsonObject>

namespace neurite::lua {

namespace {

constexpr int kMaxDepth = 16;

QJsonValue to_json(lua_State *L, int idx, int depth);

// A table with keys 1..n and nothing else is a list; any other table an object.
bool is_list(lua_State *L, int idx)
{
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        ++count;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return false;
        }
    }
    return count == n; // an empty table too: metrics = {} is a list with nothing in it
}

QJsonValue table_to_json(lua_State *L, int idx, int depth)
{
    if (is_list(L, idx)) {
        QJsonArray list;
        const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_rawgeti(L, idx, i);
            list.append(to_json(L, lua_gettop(L), depth + 1));
            lua_pop(L, 1);
        }
        return list;
    }
    QJsonObject object;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        const QString key = QString::fromUtf8(luaL_tolstring(L, -1, nullptr));
        lua_pop(L, 2); // the key's text and its copy
        object.insert(key, to_json(L, lua_gettop(L), depth + 1));
        lua_pop(L, 1);
    }
    return object;
}

// Hyperparameters as JSON: numbers, strings, booleans and tables of them;
// anything else (a tensor, a model, a loss) as its tostring text, which
// is what a person comparing runs reads.
QJsonValue to_json(lua_State *L, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return QJsonValue(QJsonValue::Null);
    case LUA_TBOOLEAN: return bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return static_cast<qint64>(lua_tointeger(L, idx));
        return lua_tonumber(L, idx);
    case LUA_TSTRING: return QString::fromUtf8(lua_tostring(L, idx));
    case LUA_TTABLE:
        if (depth < kMaxDepth && !luaL_getmetafield(L, idx, "__tostring"))
            return table_to_json(L, idx, depth);
        if (depth < kMaxDepth)
            lua_pop(L, 1); // the __tostring field
        [[fallthrough]];
    default: {
        const QString text = QString::fromUtf8(luaL_tolstring(L, idx, nullptr));
        lua_pop(L, 1);
        return text;
    }
    }
}

bool lua_next_is_empty(lua_State *L, int idx)
{
    lua_pushnil(L);
    if (!lua_next(L, idx))
        return true;
    lua_pop(L, 2);
    return false;
}

RunStore &store(lua_State *L) { return *detail::session(L).run_store; }

// monitor.hparams{lr = 0.01, hidden = 64}: merged into the current run's
// hyperparameters in run.json.
int mon_hparams(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (test_tensor(L, 1))
        arg_error(L, 1, "monitor.hparams", "a table of hyperparameters ({lr = 0.01, hidden = 64})");
    const QJsonValue values = lua_next_is_empty(L, 1) ? QJsonValue(QJsonObject()) : table_to_json(L, 1, 0);
    if (!values.isObject())
        raise(L, "monitor.hparams: hyperparameters are given by name ({lr = 0.01}), not as a list");
    store(L).merge_hyperparameters(values.toObject());
    return 0;
}

// monitor.final_metrics() -> {loss = 0.12, accuracy = 0.97, ...}: the last
// value of every scalar of the current run (or of the run that ended last).
int mon_final_metrics(lua_State *L)
{
    const auto &last = store(L).final_metrics();
    lua_createtable(L, 0, static_cast<int>(last.size()));
    for (const auto &[name, value] : last) {
        lua_pushnumber(L, value);
        lua_setfield(L, -2, name.c_str());
    }
    return 1;
}

// monitor.run_dir() -> the directory the current run is kept in, or nil.
int mon_run_dir(lua_State *L)
{
    const std::string dir = store(L).run_dir();
    if (dir.empty())
        lua_pushnil(L);
    else
        lua_pushstring(L, dir.c_str());
    return 1;
}

// monitor.end_run([completed = true [, message]]): with a message, the run
// is stored as failed with it (train.sweep's variant that raised an error).
int mon_end_run(lua_State *L)
{
    const bool completed = lua_isnoneornil(L, 1) || lua_toboolean(L, 1);
    if (!completed && !lua_isnoneornil(L, 2))
        store(L).set_outcome("failed", luaL_checkstring(L, 2));
    return guarded(L, [&] {
        detail::session(L).monitor.end_run(completed);
        return 0;
    });
}

} // namespace

void record_checkpoint(lua_State *L, const std::string &path) { store(L).add_checkpoint(path); }

void open_run_store_functions(lua_State *L, int monitor)
{
    monitor = lua_absindex(L, monitor);
    static const luaL_Reg functions[] = {{"hparams", mon_hparams},
                                         {"final_metrics", mon_final_metrics},
                                         {"run_dir", mon_run_dir},
                                         {"end_run", mon_end_run},
                                         {nullptr, nullptr}};
    lua_pushvalue(L, monitor);
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
