// One layer or activation from the registry, used by itself or as a node of
// a model. Torch's contract: forward(x) returns the output, backward(x,
// grad_out) returns the input gradient and adds to the parameter
// gradients. layer.weight and layer.bias are live views. Called on
// symbolic tensors (nn.Input), a layer becomes a node of a graph instead.
// Its training mode is its own, and a model's train()/eval() sets it.
#include "binding.h"

#include <cstring>

namespace neurite::lua {

namespace {

int layer_gc(lua_State *L)
{
    auto *box = static_cast<LayerBox *>(luaL_checkudata(L, 1, kLayerMeta));
    box->~LayerBox();
    new (box) LayerBox{}; // a second __gc, or a method after it, finds an empty box
    return 0;
}

LayerRunner &runner(LayerBox *box)
{
    if (!box->runner)
        box->runner = std::make_unique<LayerRunner>(box->module);
    return *box->runner;
}

// layer:forward(x) or layer:forward{x1, x2}: one tensor per output, views
// of the layer's buffers, valid until its next forward (as m:forward's).
int layer_forward(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    TensorArgs inputs = tensor_list(L, 2, "layer:forward", "input");
    for (Tensor &x : inputs)
        if (aliases_output(L, 1, kViewCacheSlot, x))
            x = x.clone(); // h = layer:forward(h) would write the buffer it reads
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        push_buffer_views(L, 1, kViewCacheSlot, BufferKind::output, runner(box).forward(inputs));
        return 1;
    });
}

// layer:backward(x, grad_out [, input_grad = true]): views of the layer's
// input gradient buffers, valid until its next backward.
int layer_backward(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    const TensorArgs inputs = tensor_list(L, 2, "layer:backward", "input");
    const TensorArgs grads = tensor_list(L, 3, "layer:backward", "output gradient");
    const bool input_grad = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const std::vector<Tensor> &dx = runner(box).backward(inputs, grads, input_grad);
        if (!input_grad)
            return 0;
        push_buffer_views(L, 1, kViewCacheSlot, BufferKind::input_grad, dx);
        return 1;
    });
}

int layer_zero_grad(lua_State *L)
{
    Module &module = *check_layer(L, 1)->module;
    lua_settop(L, 1);
    // The host checks that a plugin's zero_grad clears, and raises if not.
    return guarded(L, [&] {
        module.zero_grad(true); // reads through Lua sync first
        return 1;
    });
}

int layer_parameters(lua_State *L)
{
    check_layer(L, 1);
    push_parameters(L, 1);
    return 1;
}

int layer_buffers(lua_State *L)
{
    check_layer(L, 1);
    push_parameters(L, 1, true);
    return 1;
}

// Sets the mode of a standalone layer; a model's layer follows its model,
// so that model[i]:forward computes what the model's own forward computes.
int set_mode(lua_State *L, bool training, const char *fn)
{
    LayerBox *box = check_layer(L, 1);
    if (box->module->parent())
        raise(L, std::string(fn) + ": " + box->module->label() +
                     " follows the mode of its model; call model:train() or model:eval() on the model");
    box->module->set_training(training);
    lua_settop(L, 1);
    return 1;
}

int layer_train(lua_State *L) { return set_mode(L, lua_isnoneornil(L, 2) || lua_toboolean(L, 2), "layer:train"); }

int layer_eval(lua_State *L) { return set_mode(L, false, "layer:eval"); }

int layer_is_training(lua_State *L)
{
    lua_pushboolean(L, check_layer(L, 1)->module->training());
    return 1;
}

int layer_config(lua_State *L)
{
    const Module &m = *check_layer(L, 1)->module;
    lua_createtable(L, 0, static_cast<int>(m.config().size()));
    for (const auto &[name, value] : m.config()) {
        push_param_value(L, value);
        lua_setfield(L, -2, name.c_str());
    }
    return 1;
}

int layer_type(lua_State *L)
{
    lua_pushstring(L, check_layer(L, 1)->module->name().c_str());
    return 1;
}

int layer_parameter_count(lua_State *L)
{
    lua_pushinteger(L, check_layer(L, 1)->module->parameter_count());
    return 1;
}

// Methods, then parameters by name (layer.weight), each a live view.
int layer_index(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    const char *key = lua_tostring(L, 2);
    return guarded(L, [&] {
        const std::vector<Parameter> params = box->module->parameters();
        for (size_t i = 0; i < params.size(); ++i)
            if (params[i].name == key) {
                push_parameter(L, params[i], static_cast<int>(i));
                return 1;
            }
        lua_pushnil(L);
        return 1;
    });
}

int layer_newindex(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    const char *key = luaL_checkstring(L, 2);
    return guarded(L, [&] {
        for (const Parameter &p : box->module->parameters())
            if (p.name == key) {
                Tensor dst = p.value;
                const Tensor src = tensor_from_value(L, 3, "layer parameter");
                if (!(src.shape() == dst.shape()))
                    throw Error(box->module->label() + ": cannot assign a tensor of shape " +
                                src.shape().to_string() + " to '" + p.name + "' of shape " +
                                dst.shape().to_string());
                dst.copy_from(src);
                return 0;
            }
        throw Error(box->module->label() + " has no parameter '" + key + "' to assign");
    });
}

int layer_tostring(lua_State *L)
{
    const LayerBox *box = check_layer(L, 1);
    lua_pushstring(L, config_text(box->module->name(), box->module->config()).c_str());
    return 1;
}

// layer(x) runs it; layer(symbol) makes a node of a graph being built.
int layer_call(lua_State *L)
{
    check_layer(L, 1);
    return call_layer(L, layer_forward);
}

} // namespace

LayerBox *push_layer(lua_State *L, std::shared_ptr<Module> module)
{
    void *mem = lua_newuserdatauv(L, sizeof(LayerBox), kViewCacheSlot);
    auto *box = new (mem) LayerBox{};
    box->module = std::move(module);
    luaL_setmetatable(L, kLayerMeta);
    return box;
}

LayerBox *check_layer(lua_State *L, int idx)
{
    auto *box = static_cast<LayerBox *>(test_userdata(L, idx, kLayerMeta));
    if (!box)
        arg_error(L, idx, "layer method", "a layer (call it with ':')");
    if (!box->module)
        raise(L, "the layer was already freed (its __gc ran)");
    return box;
}

void register_layer_types(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"forward", layer_forward},       {"backward", layer_backward},
        {"zero_grad", layer_zero_grad},   {"parameters", layer_parameters}, {"buffers", layer_buffers},
        {"train", layer_train},           {"eval", layer_eval},
        {"is_training", layer_is_training},
        {"config", layer_config},         {"type", layer_type},
        {"parameter_count", layer_parameter_count}, {nullptr, nullptr}};
    luaL_newmetatable(L, kLayerMeta);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, layer_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", layer_gc},
                                    {"__tostring", layer_tostring},
                                    {"__newindex", layer_newindex},
                                    {"__call", layer_call},
                                    {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "layer");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

} // namespace neurite::lua
