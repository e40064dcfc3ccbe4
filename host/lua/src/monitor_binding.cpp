// The `monitor` module: the scripts' side of the event stream that the
// runner's progress bar, metrics log and plot (and the GUI charts) read.
#include "binding.h"

#include <limits>

#include "neurite/lua/interop.h"
#include "dataset_box.h"

namespace neurite::lua {

namespace {

constexpr const char *kRunMeta = "neurite.MonitorRun";
constexpr const char *kCooperativeMeta = "neurite.Cooperative";

Monitor &monitor(lua_State *L) { return detail::session(L).monitor; }

int mon_log(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const double value = luaL_checknumber(L, 2);
    // Subscribers (a log writer, the GUI) may throw; that is a Lua error here.
    return guarded(L, [&] {
        monitor(L).scalar(name, value);
        return 0;
    });
}

int mon_scalar(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const lua_Integer step = luaL_checkinteger(L, 2);
    const double value = luaL_checknumber(L, 3);
    return guarded(L, [&] {
        monitor(L).scalar(name, step, value);
        return 0;
    });
}

// monitor.step() advances by one, monitor.step(n) sets; both return the step.
// The next step or epoch counter; the largest integer stays (no overflow).
int64_t next_count(int64_t now) { return now < std::numeric_limits<int64_t>::max() ? now + 1 : now; }

int mon_step(lua_State *L)
{
    Monitor &m = monitor(L);
    m.set_step(lua_isnoneornil(L, 1) ? next_count(m.step()) : luaL_checkinteger(L, 1));
    lua_pushinteger(L, m.step());
    return 1;
}

int mon_epoch(lua_State *L)
{
    Monitor &m = monitor(L);
    m.set_epoch(lua_isnoneornil(L, 1) ? next_count(m.epoch()) : luaL_checkinteger(L, 1));
    lua_pushinteger(L, m.epoch());
    return 1;
}

int mon_position(lua_State *L)
{
    lua_pushinteger(L, monitor(L).step());
    lua_pushinteger(L, monitor(L).epoch());
    return 2;
}

int mon_progress(lua_State *L)
{
    const double done = luaL_checknumber(L, 1);
    const double total = luaL_checknumber(L, 2);
    const char *label = luaL_optstring(L, 3, "");
    return guarded(L, [&] {
        monitor(L).progress(done, total, label);
        return 0;
    });
}

int mon_text(lua_State *L)
{
    const std::string line = joined_arguments(L);
    return guarded(L, [&] {
        monitor(L).text(line);
        return 0;
    });
}

int mon_elapsed(lua_State *L)
{
    lua_pushnumber(L, monitor(L).elapsed());
    return 1;
}

int mon_run_id(lua_State *L)
{
    lua_pushstring(L, monitor(L).run().c_str());
    return 1;
}

// The data argument of monitor.watch: a dataset, {x = tensor, y = tensor}
// or {x, y}. Anything else (several inputs, a dataset written in Lua) is
// data the pictures cannot use: the model is still announced.
WatchedData watched_data(lua_State *L, int idx)
{
    if (auto *box = static_cast<DatasetBox *>(luaL_testudata(L, idx, kDatasetMeta)))
        return WatchedData::from_dataset(box->dataset);
    if (!lua_istable(L, idx))
        return {};
    const int x_type = lua_getfield(L, idx, "x");
    if (x_type == LUA_TNIL) {
        lua_pop(L, 1);
        lua_geti(L, idx, 1);
    }
    const int y_type = lua_getfield(L, idx, "y");
    if (y_type == LUA_TNIL) {
        lua_pop(L, 1);
        lua_geti(L, idx, 2);
    }
    const TensorBox *x = test_tensor(L, -2), *y = test_tensor(L, -1);
    WatchedData d;
    if (x && y) {
        d = WatchedData::from_tensors(check_tensor(L, -2), check_tensor(L, -1));
        const lua::TargetDescription targets = lua::describe_targets(L, idx); // the one rule
        d.kind = targets.kind;
        d.encoding = targets.encoding;
    }
    lua_pop(L, 2);
    return d;
}

// monitor.watch(model [, data [, validation]]): the model trains from now
// on, on this data. train.fit calls it; so may a loop of one's own, for
// the window's pictures of the model. A layer alone, or a model written as
// a Lua table, has no graph to draw: nothing is announced.
int mon_watch(lua_State *L)
{
    if (luaL_testudata(L, 1, kLayerMeta) || lua_type(L, 1) == LUA_TTABLE)
        return 0;
    if (!test_model(L, 1))
        arg_error(L, 1, "monitor.watch", "a model (nn.Sequential or nn.Model)");
    std::shared_ptr<Model> model = check_model(L, 1)->model;
    return guarded(L, [&] {
        WatchedData data = watched_data(L, 2);
        WatchedData validation = watched_data(L, 3);
        monitor(L).watch(std::move(model), std::move(data), std::move(validation));
        return 0;
    });
}

// ---- runs: local run <close> = monitor.run("xor") ends the run on scope exit.

struct RunBox {
    bool open = true;
};

int run_finish(lua_State *L)
{
    auto *box = static_cast<RunBox *>(luaL_checkudata(L, 1, kRunMeta));
    if (box->open) {
        box->open = false;
        // When __close runs because of an error, the run did not complete.
        const bool completed = lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2);
        guarded(L, [&] {
            monitor(L).end_run(completed);
            return 0;
        });
    }
    return 0;
}

int run_close(lua_State *L)
{
    // __close(value, error): error is nil on a normal exit.
    lua_pushboolean(L, lua_isnoneornil(L, 2));
    lua_replace(L, 2);
    return run_finish(L);
}

int run_index(lua_State *L)
{
    luaL_checkudata(L, 1, kRunMeta);
    const char *key = luaL_checkstring(L, 2);
    if (std::string(key) == "id") {
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    if (std::string(key) == "finish") {
        lua_pushcfunction(L, run_finish);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

int mon_run(lua_State *L)
{
    const char *name = luaL_optstring(L, 1, "run");
    std::string id;
    guarded(L, [&] {
        id = monitor(L).begin_run(name);
        return 0;
    });
    void *mem = lua_newuserdatauv(L, sizeof(RunBox), 1);
    new (mem) RunBox{};
    luaL_setmetatable(L, kRunMeta);
    lua_pushstring(L, id.c_str());
    lua_setiuservalue(L, -2, 1);
    return 1;
}

// ---- cancellation

int mon_stop_requested(lua_State *L)
{
    lua_pushboolean(L, detail::session(L).context.cancel_requested());
    return 1;
}

// monitor.request_stop(): asks the run to stop as Ctrl-C does (train.fit on
// every rank of a data-parallel run when one rank was asked).
int mon_request_stop(lua_State *L)
{
    detail::session(L).context.request_cancel();
    return 0;
}

// local guard <close> = monitor.cooperative(): until the guard closes, a
// stop request is left to the caller's own stop_requested() checks (for up
// to the grace period), so it can stop at a step boundary and save.
// monitor.cooperative{collective = true}: the ranks of a data-parallel run
// agree on the step to stop after, however long it takes them to get there
// (bounded by the run's supervisor), since a rank that stopped alone would
// leave the others waiting in a collective.
struct CooperativeBox {
    bool open = true;
    bool collective = false;
};

int coop_close(lua_State *L)
{
    auto *box = static_cast<CooperativeBox *>(luaL_checkudata(L, 1, kCooperativeMeta));
    if (box->open) {
        box->open = false;
        --detail::session(L).cooperative;
        if (box->collective)
            --detail::session(L).collective;
    }
    return 0;
}

int mon_cooperative(lua_State *L)
{
    bool collective = false;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "collective");
        collective = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    void *mem = lua_newuserdatauv(L, sizeof(CooperativeBox), 0);
    new (mem) CooperativeBox{true, collective};
    luaL_setmetatable(L, kCooperativeMeta);
    ++detail::session(L).cooperative;
    if (collective)
        ++detail::session(L).collective;
    return 1;
}

} // namespace

void open_monitor(lua_State *L)
{
    luaL_newmetatable(L, kRunMeta);
    // No __gc: dropping the handle must not end the run at a random moment.
    lua_pushcfunction(L, run_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, run_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, kCooperativeMeta);
    lua_pushcfunction(L, coop_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, coop_close);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lua_pushcfunction(L, coop_close);
    lua_setfield(L, -2, "release");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg functions[] = {{"log", mon_log},
                                         {"scalar", mon_scalar},
                                         {"step", mon_step},
                                         {"epoch", mon_epoch},
                                         {"position", mon_position},
                                         {"progress", mon_progress},
                                         {"text", mon_text},
                                         {"watch", mon_watch},
                                         {"elapsed", mon_elapsed},
                                         {"run_id", mon_run_id},
                                         {"run", mon_run},
                                         {"stop_requested", mon_stop_requested},
                                         {"request_stop", mon_request_stop},
                                         {"cooperative", mon_cooperative},
                                         {nullptr, nullptr}};
    luaL_newlib(L, functions);
}

} // namespace neurite::lua
