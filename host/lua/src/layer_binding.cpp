// One layer or activation from the registry, used by itself or as a member
// of an nn.Sequential. Torch's contract: forward(x) returns the output,
// backward(x, grad_out) returns the input gradient and adds to the
// parameter gradients. layer.weight and layer.bias are live views.
#include "binding.h"

#include <cstring>

namespace neurite::lua {

namespace {

int layer_gc(lua_State *L)
{
    auto *box = static_cast<LayerBox *>(luaL_checkudata(L, 1, kLayerMeta));
    box->~LayerBox();
    return 0;
}

std::string layer_name(const LayerBox *box)
{
    return box->index ? box->module->label() : box->module->name();
}

// A layer of a model runs in the model's mode, so that model[i]:forward
// computes what the model's own forward computes; a standalone layer has
// a mode of its own.
bool is_training(lua_State *L, int idx)
{
    LayerBox *box = check_layer(L, idx);
    if (!box->index)
        return box->training;
    lua_getiuservalue(L, idx, 1);
    const auto *seq = static_cast<SequentialBox *>(luaL_testudata(L, -1, kSequentialMeta));
    lua_pop(L, 1);
    return seq ? seq->model.training() : box->training;
}

int layer_forward(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    const Tensor &x = check_tensor(L, 2);
    BusyScope busy(L, box->busy, "layer:forward");
    check_parent_idle(L, 1, "layer:forward");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        Module &m = *box->module;
        if (int64_t bad = x.first_non_finite(); bad >= 0)
            throw Error(layer_name(box) + ": input " + x.shape().to_string() + " holds " +
                        std::to_string(x[bad]) + " at flat index " + std::to_string(bad + 1) +
                        "; NaN and Inf cannot be propagated");
        Tensor out(m.prepare(x.shape()));
        m.forward(x, out, is_training(L, 1));
        // The plugin's backward reads the output of the forward on the same
        // input; the script gets a copy it may change.
        box->last_output = out;
        restore_member_shape(L, 1);
        push_copy(L, out);
        return 1;
    });
}

int layer_backward(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    const Tensor &x = check_tensor(L, 2);
    const Tensor &dy = check_tensor(L, 3);
    const bool input_grad = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    BusyScope busy(L, box->busy, "layer:backward");
    check_parent_idle(L, 1, "layer:backward");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        Module &m = *box->module;
        const Shape &out_shape = m.prepare(x.shape());
        if (!box->last_output.defined() || !(box->last_output.shape() == out_shape))
            throw Error(layer_name(box) + ": backward on input " + x.shape().to_string() +
                        " needs a forward on an input of that shape first");
        Tensor dx;
        if (input_grad)
            dx = push_new_tensor(L, x.shape())->value;
        m.backward(x, box->last_output, dy, input_grad ? &dx : nullptr);
        restore_member_shape(L, 1);
        return input_grad ? 1 : 0;
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

// Sets the mode of a standalone layer; a model's layer follows its model.
void set_mode(lua_State *L, bool training, const char *fn)
{
    LayerBox *box = check_layer(L, 1);
    if (box->index)
        raise(L, std::string(fn) + ": " + layer_name(box) +
                     " follows the mode of its model; call model:train() or model:eval() on the model");
    box->training = training;
    lua_settop(L, 1);
}

int layer_train(lua_State *L)
{
    set_mode(L, lua_isnoneornil(L, 2) || lua_toboolean(L, 2), "layer:train");
    return 1;
}

int layer_eval(lua_State *L)
{
    set_mode(L, false, "layer:eval");
    return 1;
}

int layer_is_training(lua_State *L)
{
    lua_pushboolean(L, is_training(L, 1));
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
    sync_grads(L, *box->module);
    for (const Parameter &p : box->module->parameters())
        if (p.name == key) {
            push_parameter(L, p, 1);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

int layer_newindex(lua_State *L)
{
    LayerBox *box = check_layer(L, 1);
    const char *key = luaL_checkstring(L, 2);
    for (const Parameter &p : box->module->parameters())
        if (p.name == key) {
            Tensor dst = p.value;
            return guarded(L, [&] {
                const Tensor src = tensor_from_value(L, 3, "layer parameter");
                if (!(src.shape() == dst.shape()))
                    throw Error(layer_name(box) + ": cannot assign a tensor of shape " +
                                src.shape().to_string() + " to '" + p.name + "' of shape " +
                                dst.shape().to_string());
                dst.copy_from(src);
                return 0;
            });
        }
    raise(L, layer_name(box) + " has no parameter '" + key + "' to assign");
}

int layer_tostring(lua_State *L)
{
    const LayerBox *box = check_layer(L, 1);
    lua_pushstring(L, config_text(box->module->name(), box->module->config()).c_str());
    return 1;
}

int layer_call(lua_State *L)
{
    lua_settop(L, 2);
    return layer_forward(L);
}

} // namespace

LayerBox *push_layer(lua_State *L, std::unique_ptr<Module> module)
{
    void *mem = lua_newuserdatauv(L, sizeof(LayerBox), 1);
    auto *box = new (mem) LayerBox{};
    box->module = module.get();
    box->owned = std::move(module);
    luaL_setmetatable(L, kLayerMeta);
    return box;
}

LayerBox *check_layer(lua_State *L, int idx)
{
    auto *box = static_cast<LayerBox *>(luaL_testudata(L, idx, kLayerMeta));
    if (!box)
        arg_error(L, idx, "layer method", "a layer (call it with ':')");
    return box;
}

void register_layer_types(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"forward", layer_forward},       {"backward", layer_backward},
        {"zero_grad", layer_zero_grad},   {"parameters", layer_parameters},
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
