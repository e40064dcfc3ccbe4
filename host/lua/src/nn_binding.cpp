// The `nn` module: nn.<Name>(...) for every layer, activation and loss in
// the registry (built-in, third-party or Lua-defined alike), nn.Sequential,
// nn.Input and nn.Model (graphs),
// nn.load, nn.define, nn.plugins, nn.help and nn.set_flush_denormal.
#include "binding.h"
#include "sandbox.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/precision.h"

namespace neurite::lua {

namespace {

// nn.<Name>(...): upvalue 1 is the entry name. The entry is looked up on
// every call, so a Lua definition that is run again takes effect.
int nn_construct(lua_State *L)
{
    const std::string name = lua_tostring(L, lua_upvalueindex(1));
    const std::string fn = "nn." + name;
    detail::SessionState &s = detail::session(L);
    const Entry *entry = s.registry.find(name);
    if (!entry)
        raise(L, fn + ": the entry is no longer registered");
    const ParamList config = params_from_args(L, *entry, 1, fn);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        if (entry->kind == Kind::Loss)
            push_loss(L, s.registry.create_loss(name, config, s.context));
        else
            push_layer(L, s.registry.create_layer(name, config, s.context, s.next_seed()));
        return 1;
    });
}

int nn_lookup(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char *name = lua_tostring(L, 2);
    const Entry *entry = &require_entry(L, name, "nn");
    if (entry->kind == Kind::Optimizer)
        raise(L, "nn." + std::string(name) + ": '" + name + "' is an optimizer; use optim." + name +
                     "(model:parameters(), {lr = ...})");
    lua_pushstring(L, name);
    lua_pushcclosure(L, nn_construct, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1); // cache: the next nn.<Name> is a plain field read
    return 1;
}

int nn_plugins(lua_State *L)
{
    const char *kind = luaL_optstring(L, 1, nullptr);
    const Registry &registry = detail::session(L).registry;
    if (kind) {
        bool known = false;
        for (Kind k : {Kind::Layer, Kind::Activation, Kind::Loss, Kind::Optimizer})
            known = known || std::string(kind_name(k)) == kind;
        if (!known)
            raise(L, std::string("nn.plugins: unknown kind '") + kind +
                         "' (kinds: layer, activation, loss, optimizer)");
    }
    lua_newtable(L);
    lua_Integer n = 0;
    for (const Entry &e : registry.entries()) {
        if (kind && std::string(kind_name(e.kind)) != kind)
            continue;
        lua_createtable(L, 0, 6);
        lua_pushstring(L, kind_name(e.kind));
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, e.name.c_str());
        lua_setfield(L, -2, "name");
        lua_pushstring(L, e.version.c_str());
        lua_setfield(L, -2, "version");
        lua_pushstring(L, e.origin.c_str());
        lua_setfield(L, -2, "origin");
        lua_pushstring(L, e.summary.c_str());
        lua_setfield(L, -2, "summary");
        lua_pushstring(L, e.library.c_str());
        lua_setfield(L, -2, "library");
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

int nn_refusals(lua_State *L)
{
    const Registry &registry = detail::session(L).registry;
    lua_newtable(L);
    lua_Integer n = 0;
    for (const Refusal &r : registry.refusals()) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, r.file.c_str());
        lua_setfield(L, -2, "file");
        lua_pushstring(L, r.reason.c_str());
        lua_setfield(L, -2, "reason");
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

int nn_help(lua_State *L)
{
    const Registry &registry = detail::session(L).registry;
    if (lua_isnoneornil(L, 1)) {
        std::string text = "Entries (nn.help(name) for one):\n";
        for (Kind k : {Kind::Layer, Kind::Activation, Kind::Loss, Kind::Optimizer}) {
            text += std::string("  ") + kind_name(k) + ":";
            for (const Entry &e : registry.entries())
                if (e.kind == k)
                    text += " " + e.name;
            text += "\n";
        }
        text.pop_back();
        lua_pushstring(L, text.c_str());
        return 1;
    }
    const char *name = luaL_checkstring(L, 1);
    return guarded(L, [&] {
        std::string text = registry.require(name).help();
        if (!text.empty() && text.back() == '\n')
            text.pop_back();
        lua_pushstring(L, text.c_str());
        return 1;
    });
}

// nn.load(path) -> model, extras (a table of the checkpoint's sections).
int nn_load(lua_State *L)
{
    const std::string path = luaL_checkstring(L, 1);
    if (path.empty())
        raise(L, "nn.load: the path is empty");
    check_read_path(L, path, "nn.load");
    detail::SessionState &s = detail::session(L);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const Checkpoint c = Checkpoint::read(path);
        push_model(L, c.build(s.registry, s.context, s.next_seed(), path));
        push_sections(L, c, path);
        return 2;
    });
}

int nn_define(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    return define_entry(L, 1);
}

// nn.set_flush_denormal(on) -> the previous setting. PyTorch's name: whether
// compute threads flush subnormal floats to zero (FTZ/DAZ), on by default.
int nn_set_flush_denormal(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    const bool previous = ComputeContext::flush_denormals();
    ComputeContext::set_flush_denormals(lua_toboolean(L, 1) != 0);
    lua_pushboolean(L, previous);
    return 1;
}

// nn.bf16_kernels() -> {name = "AMX" | "AVX512-BF16" | "none", supported,
// isa = oneDNN's name of what it may use, missing = the instructions lacking}.
int nn_bf16_kernels(lua_State *L)
{
    const Bf16Kernels k = bf16_kernels();
    lua_createtable(L, 0, 4);
    lua_pushstring(L, k.name.c_str());
    lua_setfield(L, -2, "name");
    lua_pushboolean(L, k.supported);
    lua_setfield(L, -2, "supported");
    lua_pushstring(L, k.isa.c_str());
    lua_setfield(L, -2, "isa");
    if (!k.supported) {
        lua_pushstring(L, k.missing.c_str());
        lua_setfield(L, -2, "missing");
    }
    return 1;
}

// nn.default_precision() -> "f32" or "bf16": what new models start in
// (neurite-run --precision).
int nn_default_precision(lua_State *L)
{
    lua_pushstring(L, dtype_name(default_precision()));
    return 1;
}

} // namespace

void open_nn(lua_State *L)
{
    register_layer_types(L);
    register_model_type(L);
    register_graph_types(L);
    register_loss_type(L);
    static const luaL_Reg functions[] = {{"Sequential", sequential_constructor},
                                         {"Model", model_constructor},
                                         {"Input", input_constructor},
                                         {"plugins", nn_plugins},
                                         {"refusals", nn_refusals},
                                         {"help", nn_help},
                                         {"load", nn_load},
                                         {"define", nn_define},
                                         {"set_flush_denormal", nn_set_flush_denormal},
                                         {"bf16_kernels", nn_bf16_kernels},
                                         {"default_precision", nn_default_precision},
                                         {nullptr, nullptr}};
    luaL_newlib(L, functions);
    open_nn_interchange(L, lua_gettop(L));
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, nn_lookup);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

} // namespace neurite::lua
