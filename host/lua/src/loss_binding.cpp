// Losses: forward(pred, target) returns a number, backward(pred, target)
// returns d loss / d pred. A loss declares what its target holds; class
// indices are 1-based in Lua (as argmax returns them) and shifted to the
// plugins' 0-based indices here.
#include "binding.h"

#include <cmath>

namespace neurite::lua {

namespace {

struct LossBox {
    std::unique_ptr<LossFunction> loss;
    // backward writes here while the prediction's shape stays the same; the
    // tensor it returns is a view of it (see push_buffer_views).
    Tensor grad;
};

LossBox *check_loss(lua_State *L, int idx)
{
    auto *box = static_cast<LossBox *>(test_userdata(L, idx, kLossMeta));
    if (!box)
        arg_error(L, idx, "loss method", "a loss such as nn.MSELoss() (call it with ':')");
    if (!box->loss)
        raise(L, "the loss was already freed (its __gc ran)");
    return box;
}

int loss_gc(lua_State *L)
{
    auto *box = static_cast<LossBox *>(luaL_checkudata(L, 1, kLossMeta));
    box->~LossBox();
    new (box) LossBox{}; // a second __gc, or a method after it, finds an empty box
    return 0;
}

// Class indices are checked here, in Lua's terms, before the plugin sees
// them shifted to 0-based (its message would count from 0). Whether the
// target holds class indices is the loss's own declaration.
Tensor core_target(const LossFunction &loss, const Tensor &pred, const Tensor &target)
{
    if (!loss.takes_class_indices(pred, target))
        return target;
    // A class loss on a 2-D prediction [N, C] has classes 1..C; on other
    // ranks (a third party's [N, C, L]) only the start at 1 is known here.
    const int64_t classes = pred.dim() == 2 ? pred.size(1) : 0;
    if (classes && target.numel() != pred.size(0))
        return target; // not one value per sample (one-hot rows?): the loss names the shapes
    for (int64_t i = 0; i < target.numel(); ++i) {
        const float c = target[i];
        if (c == std::floor(c) && c >= 1 && (classes == 0 || c <= static_cast<float>(classes)))
            continue;
        const std::string range = classes ? "the prediction " + pred.shape().to_string() +
                                                " has classes 1 to " + std::to_string(classes)
                                          : "class indices are whole numbers";
        throw Error(loss.entry().name + ": the target of sample " + std::to_string(i + 1) + " is " +
                    param_value_text(static_cast<double>(c)) + " but " + range +
                    " (class indices start at 1)");
    }
    return to_zero_based(target);
}

int loss_forward(lua_State *L)
{
    LossBox *box = check_loss(L, 1);
    const Tensor &pred = check_tensor(L, 2);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const Tensor target = tensor_from_value(L, 3, "loss:forward");
        lua_pushnumber(L, box->loss->forward(pred, core_target(*box->loss, pred, target)));
        return 1;
    });
}

int loss_backward(lua_State *L)
{
    LossBox *box = check_loss(L, 1);
    const Tensor &pred = check_tensor(L, 2);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const Tensor target = tensor_from_value(L, 3, "loss:backward");
        const Tensor core = core_target(*box->loss, pred, target);
        if (!(box->grad.shape() == pred.shape()) || !box->grad.defined())
            box->grad = Tensor::uninitialized(pred.shape()); // the loss writes every element
        box->loss->backward(pred, core, box->grad);
        push_buffer_views(L, 1, kLossViewCacheSlot, BufferKind::output, std::span<const Tensor>(&box->grad, 1));
        return 1;
    });
}

int loss_config(lua_State *L)
{
    const LossFunction &loss = *check_loss(L, 1)->loss;
    lua_createtable(L, 0, static_cast<int>(loss.config().size()));
    for (const auto &[name, value] : loss.config()) {
        push_param_value(L, value);
        lua_setfield(L, -2, name.c_str());
    }
    return 1;
}

int loss_type(lua_State *L)
{
    lua_pushstring(L, check_loss(L, 1)->loss->entry().name.c_str());
    return 1;
}

int loss_tostring(lua_State *L)
{
    const LossFunction &loss = *check_loss(L, 1)->loss;
    lua_pushstring(L, config_text(loss.entry().name, loss.config()).c_str());
    return 1;
}

int loss_call(lua_State *L)
{
    lua_settop(L, 3);
    return loss_forward(L);
}

} // namespace

void push_loss(lua_State *L, std::unique_ptr<LossFunction> loss)
{
    void *mem = lua_newuserdatauv(L, sizeof(LossBox), kLossViewCacheSlot);
    new (mem) LossBox{std::move(loss), Tensor()};
    luaL_setmetatable(L, kLossMeta);
}

void register_loss_type(lua_State *L)
{
    static const luaL_Reg methods[] = {{"forward", loss_forward}, {"backward", loss_backward},
                                       {"config", loss_config},   {"type", loss_type},
                                       {nullptr, nullptr}};
    luaL_newmetatable(L, kLossMeta);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", loss_gc},
                                    {"__tostring", loss_tostring},
                                    {"__call", loss_call},
                                    {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "loss");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

} // namespace neurite::lua
