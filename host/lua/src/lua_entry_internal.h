// Shared by the files of nn.define (lua_entry.cpp: definitions, creation,
// losses, state; lua_layer_entry.cpp: layers' prepare, forward, backward):
// the instance a vtable's `self` points to, one protected call's data, and
// the helpers that cross between C and Lua.
#pragma once

#include "binding.h"

#include <memory>
#include <string>
#include <vector>

namespace neurite::lua {

struct LuaDefinition {
    detail::SessionState *session = nullptr; // null once the runtime is closed
    std::string name;
    Kind kind = Kind::Layer;
    LossTarget target = LossTarget::SameShape; // losses: `target = "class"` in the definition
    int table_ref = LUA_NOREF; // the definition table given to nn.define
    int inputs = 1;            // layers: how many tensors forward takes
};

// The most tensors a Lua-defined layer takes.
inline constexpr int kMaxLuaInputs = 16;

namespace entry {

struct LuaInstance {
    struct Slot {
        std::string name;
        Tensor value;
        Tensor grad;
    };
    std::shared_ptr<LuaDefinition> def;
    int self_ref = LUA_NOREF;
    // A table of the tensors forward and backward receive, reused from call
    // to call (push_reused_copy), so that a call allocates nothing.
    int copies_ref = LUA_NOREF;
    std::vector<Slot> params;
};

// What one protected call needs; `body` reads it from its light userdata.
struct Call {
    LuaInstance *instance = nullptr;
    const nrt_params *params = nullptr;
    const nrt_tensor *a = nullptr, *b = nullptr, *c = nullptr;
    nrt_tensor *out = nullptr;
    Shape shape;
    std::vector<Shape> shapes; // prepare: the inputs' shapes; then the output's
    const nrt_layer_call *layer = nullptr;
    double number = 0;
    int32_t flag = 0;
    const nrt_writer *writer = nullptr;
    const void *bytes = nullptr;
    size_t count = 0;
};

Tensor copy_in(const nrt_tensor &t);
// Pushes a copy of t in the instance's tensor number `key` of its reused
// copies: the one the last call with this key received, refilled, when the
// shape is the same; else a new one, kept for the next call.
void push_reused_copy(lua_State *L, LuaInstance *inst, int key, const nrt_tensor &t);
Shape shape_of(const nrt_tensor &t);
std::string label(const LuaInstance *inst);
// Pushes the instance's self table and its function `fn`: fn, self.
void push_method(lua_State *L, LuaInstance *inst, const char *fn, bool required = true);
// Copies the tensor at idx into dst, which it must match in shape.
void copy_out(lua_State *L, LuaInstance *inst, int idx, nrt_tensor &dst, const char *what);
Call *call_of(lua_State *L);
// Runs body(call) on the session's running thread; a Lua error becomes the
// status and message of the C ABI.
nrt_status run(LuaDefinition &def, lua_CFunction body, Call &call, char *err, size_t err_size);
LuaInstance *instance(void *self);

int32_t v_param_count(void *self);
nrt_status v_param(void *self, int32_t index, nrt_param_ref *out);
nrt_status v_save(void *self, const nrt_writer *writer, char *err, size_t err_size);
nrt_status v_load(void *self, const void *bytes, size_t count, char *err, size_t err_size);

// The layers' and activations' vtable (ABI 1.1: any number of inputs).
extern const nrt_layer_vtable kLayerVtable;

} // namespace entry

} // namespace neurite::lua
