// The `optim` module: optim.<Name>(params, {options}) for every optimizer
// entry of the registry. opt.lr (and every numeric option) reads and writes
// the plugin's own value, so a schedule can change it between steps.
#include "binding.h"

namespace neurite::lua {

namespace {

OptimizerBox *check_optimizer(lua_State *L, int idx)
{
    auto *box = static_cast<OptimizerBox *>(test_userdata(L, idx, kOptimizerMeta));
    if (!box)
        arg_error(L, idx, "optimizer method", "an optimizer such as optim.SGD(...) (call it with ':')");
    if (!box->optimizer)
        raise(L, "the optimizer was already freed (its __gc ran)");
    return box;
}

int opt_gc(lua_State *L)
{
    auto *box = static_cast<OptimizerBox *>(luaL_checkudata(L, 1, kOptimizerMeta));
    box->~OptimizerBox();
    new (box) OptimizerBox{}; // a second __gc, or a method after it, finds an empty box
    return 0;
}

int opt_step(lua_State *L)
{
    OptimizerBox *box = check_optimizer(L, 1);
    return guarded(L, [&] {
        box->optimizer->step();
        return 0;
    });
}

int opt_grads_finite(lua_State *L)
{
    OptimizerBox *box = check_optimizer(L, 1);
    return guarded(L, [&] {
        lua_pushboolean(L, box->optimizer->grads_finite());
        return 1;
    });
}

int opt_zero_grad(lua_State *L)
{
    Optimizer &optimizer = *check_optimizer(L, 1)->optimizer;
    // The host checks that a plugin's zero_grad clears, and raises if not.
    return guarded(L, [&] {
        optimizer.zero_grad();
        return 0;
    });
}

int opt_state(lua_State *L)
{
    OptimizerBox *box = check_optimizer(L, 1);
    return guarded(L, [&] {
        const std::vector<uint8_t> bytes = box->optimizer->save_state();
        lua_pushlstring(L, reinterpret_cast<const char *>(bytes.data()), bytes.size());
        return 1;
    });
}

int opt_load_state(lua_State *L)
{
    OptimizerBox *box = check_optimizer(L, 1);
    size_t n = 0;
    const char *s = luaL_checklstring(L, 2, &n);
    return guarded(L, [&] {
        const auto *b = reinterpret_cast<const uint8_t *>(s);
        box->optimizer->load_state(std::vector<uint8_t>(b, b + n));
        return 0;
    });
}

int opt_params(lua_State *L)
{
    check_optimizer(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

int opt_type(lua_State *L)
{
    lua_pushstring(L, check_optimizer(L, 1)->optimizer->entry().name.c_str());
    return 1;
}

int opt_index(lua_State *L)
{
    // A method first: opt:step() in a loop needs no type test of opt.
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    OptimizerBox *box = check_optimizer(L, 1);
    const std::string key = lua_tostring(L, 2);
    double value = 0;
    bool found = false;
    try {
        value = box->optimizer->option(key);
        found = true;
    } catch (const std::exception &) {
        // Not an option of this optimizer: nil, as for any missing field.
    }
    if (found)
        lua_pushnumber(L, value);
    else
        lua_pushnil(L);
    return 1;
}

int opt_newindex(lua_State *L)
{
    OptimizerBox *box = check_optimizer(L, 1);
    const std::string key = luaL_checkstring(L, 2);
    int ok = 0;
    const lua_Number value = lua_tonumberx(L, 3, &ok);
    if (!ok)
        raise(L, box->optimizer->entry().name + "." + key + " must be a number, got " +
                     describe_value(L, 3));
    return guarded(L, [&] {
        box->optimizer->set_option(key, value);
        return 0;
    });
}

int opt_tostring(lua_State *L)
{
    const Optimizer &opt = *check_optimizer(L, 1)->optimizer;
    lua_pushstring(L, config_text(opt.entry().name, opt.config()).c_str());
    return 1;
}

// optim.<Name>(params, options): upvalue 1 is the entry name.
int optimizer_new(lua_State *L)
{
    const std::string name = lua_tostring(L, lua_upvalueindex(1));
    const std::string fn = "optim." + name;
    detail::SessionState &s = detail::session(L);
    const Entry *entry = s.registry.find(name);
    if (!entry)
        raise(L, fn + ": the optimizer is no longer registered");
    if (luaL_testudata(L, 1, kLayerMeta) || luaL_testudata(L, 1, kModelMeta)) {
        push_parameters(L, 1); // optim.SGD(model, ...) means its parameters
        lua_replace(L, 1);
    }
    if (!lua_istable(L, 1) || test_tensor(L, 1))
        arg_error(L, 1, fn.c_str(), "a list of parameters (model:parameters()) or a model");
    std::vector<Parameter> params;
    const lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, 1, i);
        TensorBox *p = test_tensor(L, -1);
        if (p)
            check_tensor(L, -1); // brings a parameter's view up to date
        if (p && p->owner && p->param_index >= 0 && !p->grad.defined() && !p->is_grad) {
            lua_pop(L, 1); // a buffer (nn.Normalize's mean, running statistics): saved, never trained
            continue;
        }
        if (!p || !p->grad.defined())
            raise(L, fn + ": element " + std::to_string(i) + " of the parameter list is " +
                         (p ? std::string("a tensor without a gradient") : describe_value(L, -1)) +
                         "; pass model:parameters()");
        params.push_back({p->name, p->value, p->grad, false, p->owner, p->arena});
        lua_pop(L, 1);
    }
    const ParamList config = params_from_args(L, *entry, 2, fn);
    return guarded(L, [&] {
        auto opt = s.registry.create_optimizer(name, config, s.context);
        opt->attach(params);
        s.monitor.watch_parameters(params); // the window learns what the script trains
        void *mem = lua_newuserdatauv(L, sizeof(OptimizerBox), 1);
        new (mem) OptimizerBox{std::move(opt)};
        luaL_setmetatable(L, kOptimizerMeta);
        lua_pushvalue(L, 1); // the parameter list keeps its layers alive
        lua_setiuservalue(L, -2, 1);
        return 1;
    });
}

// optim.<Name> for any optimizer entry, found when first used.
int optim_lookup(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    const Entry *entry = &require_entry(L, name, "optim");
    if (entry->kind != Kind::Optimizer)
        raise(L, "optim." + std::string(name) + ": '" + name + "' is a " + kind_name(entry->kind) +
                     ", not an optimizer; use nn." + name);
    lua_pushstring(L, name);
    lua_pushcclosure(L, optimizer_new, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1); // cache in the optim table
    return 1;
}

} // namespace

void open_optim(lua_State *L)
{
    static const luaL_Reg methods[] = {{"step", opt_step},
                                       {"zero_grad", opt_zero_grad},
                                       {"grads_finite", opt_grads_finite},
                                       {"state", opt_state},
                                       {"load_state", opt_load_state},
                                       {"params", opt_params},
                                       {"type", opt_type},
                                       {nullptr, nullptr}};
    luaL_newmetatable(L, kOptimizerMeta);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, opt_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", opt_gc},
                                    {"__newindex", opt_newindex},
                                    {"__tostring", opt_tostring},
                                    {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "optimizer");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, optim_lookup);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

} // namespace neurite::lua
