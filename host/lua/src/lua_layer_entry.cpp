// Layers and activations defined in Lua by nn.define, driven through the
// ABI 1.1 vtable, so that a Lua layer may take several inputs:
//
//   nn.define{name = "Blend", inputs = 2,
//             forward = function(self, a, b, training) ... return y end,
//             backward = function(self, a, b, grad_out, y) ... return grad_a, grad_b end,
//             output_shape = function(self, shape_a, shape_b) ... end}   -- optional
//
// With one input (the default) the functions are those of Torch's contract:
// forward(self, x, training), backward(self, x, grad_out, y). The tensors a
// Lua function receives are copies that its next call of the same kind
// refills (clone to keep them longer). The layer reads and writes
// plain f32; its parameters are its own (LuaInstance::params).
#include "lua_entry_internal.h"

#include <cstring>

namespace neurite::lua::entry {

namespace {

// prepare: the output's shape from output_shape(self, shapes...), or from
// one forward on zeros when the definition has no output_shape.
int prepare_body(lua_State *L)
{
    Call *call = call_of(L);
    LuaInstance *inst = call->instance;
    const int k = static_cast<int>(call->shapes.size());
    push_method(L, inst, "output_shape", false);
    if (lua_isfunction(L, -2)) {
        for (const Shape &s : call->shapes)
            push_shape(L, s);
        lua_call(L, 1 + k, 1);
        if (!lua_istable(L, -1))
            raise(L, label(inst) + ": output_shape must return a table such as {n, 3}, got " +
                         describe_value(L, -1));
        call->shape = shape_from_table(L, -1, "output_shape");
        return 0;
    }
    lua_pop(L, 2);
    push_method(L, inst, "forward");
    guarded(L, [&] {
        for (const Shape &s : call->shapes)
            push_tensor(L, Tensor(s));
        return 0;
    });
    lua_pushboolean(L, 0);
    if (lua_pcall(L, 2 + k, 1, 0) != LUA_OK) {
        const char *why = lua_tostring(L, -1);
        raise(L, label(inst) + ": forward on zeros (run once to find the output shape; an "
                               "output_shape function avoids it) failed: " +
                     (why ? why : "an error without a message"));
    }
    if (!test_tensor(L, -1))
        raise(L, label(inst) + ": forward must return a tensor, got " + describe_value(L, -1));
    call->shape = check_tensor(L, -1).shape();
    return 0;
}

// The keys of the reused copies (push_reused_copy): forward's inputs, then
// backward's inputs, its output gradient and its output.
constexpr int kForwardInputs = 1;
constexpr int kBackwardInputs = kForwardInputs + kMaxLuaInputs;
constexpr int kBackwardGradOut = kBackwardInputs + kMaxLuaInputs;
constexpr int kBackwardOutput = kBackwardGradOut + 1;

void push_inputs(lua_State *L, LuaInstance *inst, const nrt_layer_call &c, int first_key)
{
    for (int i = 0; i < c.src_count; ++i)
        push_reused_copy(L, inst, first_key + i, c.src[i]);
}

int forward_body(lua_State *L)
{
    Call *call = call_of(L);
    const nrt_layer_call &c = *call->layer;
    push_method(L, call->instance, "forward");
    push_inputs(L, call->instance, c, kForwardInputs);
    lua_pushboolean(L, c.training);
    lua_call(L, 2 + c.src_count, 1);
    copy_out(L, call->instance, -1, c.dst[0], "forward");
    return 0;
}

// backward(self, inputs..., grad_out, y) -> one gradient per input
int backward_body(lua_State *L)
{
    Call *call = call_of(L);
    LuaInstance *inst = call->instance;
    const nrt_layer_call &c = *call->layer;
    push_method(L, inst, "backward");
    push_inputs(L, inst, c, kBackwardInputs);
    push_reused_copy(L, inst, kBackwardGradOut, c.diff_dst[0]);
    push_reused_copy(L, inst, kBackwardOutput, c.dst[0]);
    const int base = lua_gettop(L) - (3 + c.src_count); // where the function is: its results go there
    lua_call(L, 3 + c.src_count, c.src_count);
    for (int i = 0; i < c.src_count; ++i) {
        if (!c.diff_src || !c.diff_src[i].data)
            continue; // the host needs no gradient for this input
        const int at = base + i;
        if (lua_isnil(L, at))
            raise(L, label(inst) + ": backward returned no gradient for input " + std::to_string(i + 1) +
                         " of " + std::to_string(c.src_count));
        copy_out(L, inst, at, c.diff_src[i],
                 c.src_count == 1 ? "backward" : ("backward's gradient " + std::to_string(i + 1)).c_str());
    }
    return 0;
}

nrt_status v_prepare(void *self, int32_t src_count, nrt_desc *src, int32_t *dst_count, nrt_desc *dst,
                     uint64_t *workspace_bytes, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    const int inputs = call.instance->def->inputs;
    if (src_count != inputs) {
        const std::string message = label(call.instance) + " takes " + std::to_string(inputs) + " input" +
                                    (inputs == 1 ? "" : "s") + ", got " + std::to_string(src_count);
        std::snprintf(err, err_size, "%s", message.c_str());
        return NRT_ERR_SHAPE;
    }
    for (int32_t i = 0; i < src_count; ++i) {
        src[i].format = NRT_FORMAT_PLAIN; // Lua sees plain f32 tensors
        src[i].dtype = NRT_DTYPE_F32;
        call.shapes.emplace_back(std::span<const int64_t>(src[i].dims, static_cast<size_t>(src[i].ndims)));
    }
    const nrt_status st = run(*call.instance->def, prepare_body, call, err, err_size);
    if (st != NRT_OK)
        return st;
    dst[0] = nrt_desc{};
    dst[0].struct_size = sizeof(nrt_desc);
    dst[0].dtype = NRT_DTYPE_F32;
    dst[0].format = NRT_FORMAT_PLAIN;
    dst[0].ndims = call.shape.size();
    for (int i = 0; i < call.shape.size(); ++i)
        dst[0].dims[i] = call.shape[i];
    *dst_count = 1;
    *workspace_bytes = 0;
    return NRT_OK;
}

nrt_status v_forward(void *self, const nrt_layer_call *c, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.layer = c;
    return run(*call.instance->def, forward_body, call, err, err_size);
}

// Lua layers add to their gradients (self.grads); the host clears them
// first when it deferred a zero_grad, so `accumulate` needs no reading here.
nrt_status v_backward(void *self, const nrt_layer_call *c, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.layer = c;
    return run(*call.instance->def, backward_body, call, err, err_size);
}

// onnx_form(self, opset) -> the layer in ONNX's textual syntax, or nil for
// none (plugin ABI 1.2's onnx_form slot; docs/interchange.md).
int onnx_form_body(lua_State *L)
{
    Call *call = call_of(L);
    push_method(L, call->instance, "onnx_form", false);
    if (lua_isnil(L, -2))
        return 0; // call->flag stays 0: no form
    lua_pushinteger(L, static_cast<lua_Integer>(call->number));
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1))
        return 0;
    if (lua_type(L, -1) != LUA_TSTRING)
        raise(L, label(call->instance) + ": onnx_form must return a string (ONNX nodes in ONNX's textual syntax) "
                                         "or nil, got " + describe_value(L, -1));
    size_t length = 0;
    const char *text = lua_tolstring(L, -1, &length);
    if (call->writer->write(call->writer->context, text, length) != NRT_OK)
        raise(L, label(call->instance) + ": the host could not take its ONNX form");
    call->flag = 1;
    return 0;
}

nrt_status v_onnx_form(void *self, int32_t opset, const nrt_writer *out, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.number = opset;
    call.writer = out;
    if (const nrt_status st = run(*call.instance->def, onnx_form_body, call, err, err_size))
        return st;
    return call.flag ? NRT_OK : NRT_ERR_UNSUPPORTED;
}

} // namespace

const nrt_layer_vtable kLayerVtable = {
    sizeof(nrt_layer_vtable),
    nullptr, nullptr, nullptr, // ABI 1.0's prepare, forward, backward
    v_param_count, v_param,
    nullptr, // zero_grad: the host clears the parameters' own memory
    v_save, v_load,
    v_prepare, v_forward, v_backward,
    nullptr, // bind_params: the parameters are the Lua instance's
    v_onnx_form,
};

} // namespace neurite::lua::entry
