// nn.define: layers, activations and losses written in Lua, registered in
// the same registry as the plugins (origin "lua") and driven through the
// same C vtables. The vtable's `self` is a LuaInstance: the Lua table the
// script's functions receive as `self`, plus its learnable parameters.
// Every call into Lua is protected, so a Lua error becomes the plugin error
// status and message that the core turns into a neurite::Error.
#include "lua_entry_internal.h"

#include "neurite/core/plugin_error.h"

#include <cctype>
#include <cmath>
#include <cstring>

namespace neurite::lua {

namespace entry {

Tensor copy_in(const nrt_tensor &t)
{
    Shape shape(std::span<const int64_t>(t.dims, static_cast<size_t>(t.ndims)));
    Tensor out(shape);
    if (out.numel())
        std::memcpy(out.data(), t.data, static_cast<size_t>(out.numel()) * sizeof(float));
    return out;
}

void push_reused_copy(lua_State *L, LuaInstance *inst, int key, const nrt_tensor &t)
{
    if (inst->copies_ref == LUA_NOREF) {
        lua_newtable(L);
        inst->copies_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, inst->copies_ref);
    const Shape shape = shape_of(t);
    lua_rawgeti(L, -1, key);
    TensorBox *box = test_tensor(L, -1);
    // Only the inline tensor made below qualifies: a script cannot make its
    // box show other memory, but it may have freed it by hand (__gc).
    if (!box || !box->inline_storage || !(box->value.shape() == shape)) {
        lua_pop(L, 1);
        box = push_new_tensor(L, shape, false);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, key);
    }
    if (shape.numel())
        std::memcpy(box->value.data(), t.data, static_cast<size_t>(shape.numel()) * sizeof(float));
    lua_remove(L, -2); // the table
}

Shape shape_of(const nrt_tensor &t)
{
    return Shape(std::span<const int64_t>(t.dims, static_cast<size_t>(t.ndims)));
}

std::string label(const LuaInstance *inst) { return "Lua " + std::string(kind_name(inst->def->kind)) + " '" + inst->def->name + "'"; }

void push_method(lua_State *L, LuaInstance *inst, const char *fn, bool required)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, inst->self_ref);
    lua_getfield(L, -1, fn);
    if (!lua_isfunction(L, -1) && required)
        raise(L, label(inst) + " has no function '" + fn + "'");
    lua_insert(L, -2);
}

void copy_out(lua_State *L, LuaInstance *inst, int idx, nrt_tensor &dst, const char *what)
{
    TensorBox *box = test_tensor(L, idx);
    if (!box)
        raise(L, label(inst) + ": " + what + " must return a tensor, got " + describe_value(L, idx));
    const Tensor &t = check_tensor(L, idx);
    const Shape want = shape_of(dst);
    if (!(t.shape() == want))
        raise(L, label(inst) + ": " + what + " returned a tensor of shape " + t.shape().to_string() +
                     " but " + want.to_string() + " is needed");
    if (t.numel())
        std::memcpy(dst.data, t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
}

Call *call_of(lua_State *L) { return static_cast<Call *>(lua_touserdata(L, 1)); }

// Runs body(call) on the session's running thread; a Lua error becomes the
// status and message of the C ABI.
nrt_status run(LuaDefinition &def, lua_CFunction body, Call &call, char *err, size_t err_size)
{
    auto fail = [&](nrt_status status, const std::string &message) {
        if (message.size() >= err_size)
            keep_full_plugin_message(message); // the buffer cuts it: the core's wrapper takes this
        if (err && err_size) {
            const size_t n = std::min(message.size(), err_size - 1);
            std::memcpy(err, message.data(), n);
            err[n] = '\0';
        }
        return status;
    };
    if (!def.session)
        return fail(NRT_ERR_STATE, "the Lua runtime that defined '" + def.name + "' has been closed");
    if (std::this_thread::get_id() != def.session->owner_thread)
        return fail(NRT_ERR_UNSUPPORTED, "Lua-defined '" + def.name +
                                             "' runs only on the thread of the script that defined it");
    lua_State *L = def.session->current();
    if (!lua_checkstack(L, 16))
        return fail(NRT_ERR_INTERNAL, "the Lua stack is exhausted");
    const int top = lua_gettop(L);
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, &call);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return NRT_OK;
    const char *message = lua_tostring(L, -1);
    std::string text = message ? message : "(a Lua error without a message)";
    lua_settop(L, top);
    return fail(NRT_ERR_INVALID_ARGUMENT, text);
}

LuaInstance *instance(void *self) { return static_cast<LuaInstance *>(self); }

int save_body(lua_State *L)
{
    Call *call = call_of(L);
    push_method(L, call->instance, "save_state", false);
    if (!lua_isfunction(L, -2))
        return 0;
    lua_call(L, 1, 1);
    size_t n = 0;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s)
        raise(L, label(call->instance) + ": save_state must return a string, got " + describe_value(L, -1));
    if (call->writer->write(call->writer->context, s, n) != NRT_OK)
        raise(L, label(call->instance) + ": could not write its state");
    return 0;
}

int load_body(lua_State *L)
{
    Call *call = call_of(L);
    push_method(L, call->instance, "load_state", false);
    if (!lua_isfunction(L, -2)) {
        if (call->count)
            raise(L, label(call->instance) + " has saved state but no load_state function");
        return 0;
    }
    lua_pushlstring(L, static_cast<const char *>(call->bytes), call->count);
    lua_call(L, 2, 0);
    return 0;
}

int32_t v_param_count(void *self) { return static_cast<int32_t>(instance(self)->params.size()); }

nrt_status v_param(void *self, int32_t index, nrt_param_ref *out)
{
    LuaInstance *inst = instance(self);
    if (index < 0 || index >= static_cast<int32_t>(inst->params.size()))
        return NRT_ERR_INVALID_ARGUMENT;
    const LuaInstance::Slot &slot = inst->params[static_cast<size_t>(index)];
    out->name = slot.name.c_str();
    out->value = slot.value.desc();
    out->grad = slot.grad.desc();
    return NRT_OK;
}

nrt_status v_save(void *self, const nrt_writer *writer, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.writer = writer;
    return run(*call.instance->def, save_body, call, err, err_size);
}

nrt_status v_load(void *self, const void *bytes, size_t count, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.bytes = bytes;
    call.count = count;
    return run(*call.instance->def, load_body, call, err, err_size);
}

} // namespace entry

namespace {

using namespace entry;

// ---- bodies, each run under lua_pcall with a Call* as argument 1

int create_body(lua_State *L)
{
    Call *call = call_of(L);
    LuaInstance *inst = call->instance;
    lua_rawgeti(L, LUA_REGISTRYINDEX, inst->def->table_ref);
    const int def = lua_gettop(L);
    lua_newtable(L);
    const int self = lua_gettop(L);
    for (int32_t i = 0; call->params && i < call->params->count; ++i) {
        const nrt_param_value &v = call->params->values[i];
        switch (v.type) {
        case NRT_PARAM_INT: lua_pushinteger(L, static_cast<lua_Integer>(v.number)); break;
        case NRT_PARAM_FLOAT: lua_pushnumber(L, v.number); break;
        case NRT_PARAM_BOOL: lua_pushboolean(L, v.number != 0); break;
        case NRT_PARAM_STRING: lua_pushstring(L, v.string ? v.string : ""); break;
        default:
            lua_createtable(L, v.list_length, 0);
            for (int32_t k = 0; k < v.list_length; ++k) {
                lua_pushnumber(L, v.list[k]);
                lua_rawseti(L, -2, k + 1);
            }
        }
        lua_setfield(L, self, v.name);
    }
    lua_newtable(L);
    lua_setfield(L, self, "grads");
    lua_createtable(L, 0, 2); // functions of the definition are methods of self
    lua_pushvalue(L, def);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, inst->def->name.c_str());
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, self);

    lua_getfield(L, def, "init");
    if (lua_isfunction(L, -1)) {
        lua_pushvalue(L, self);
        lua_call(L, 1, 0);
    } else {
        lua_pop(L, 1);
    }
    // Learnable parameters: copied so that the layer owns their memory even
    // if the script later rebinds self.weight; gradients start at zero.
    lua_getfield(L, def, "parameters");
    if (lua_istable(L, -1)) {
        const int list = lua_gettop(L);
        lua_getfield(L, self, "grads");
        const int grads = lua_gettop(L);
        const lua_Integer n = luaL_len(L, list);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_geti(L, list, i);
            const char *name = lua_tostring(L, -1);
            if (!name)
                raise(L, label(inst) + ": parameters must list field names, entry " +
                             std::to_string(i) + " is " + describe_value(L, -1));
            const std::string pname = name;
            lua_getfield(L, self, name);
            if (!test_tensor(L, -1))
                raise(L, label(inst) + ": parameter '" + pname + "' must be a tensor set by init, got " +
                             describe_value(L, -1));
            guarded(L, [&] {
                LuaInstance::Slot slot{pname, check_tensor(L, -1).clone(), Tensor()};
                slot.grad = Tensor(slot.value.shape());
                push_tensor(L, slot.value);
                lua_setfield(L, self, name);
                push_tensor(L, slot.grad);
                lua_setfield(L, grads, name);
                inst->params.push_back(std::move(slot));
                return 0;
            });
            lua_pop(L, 2);
        }
    }
    lua_pushvalue(L, self);
    inst->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

// Calls the Lua loss's method(self, pred, target), leaving its one result.
// Class indices reach Lua 1-based, as the script counts them.
void call_loss_method(lua_State *L, Call *call, const char *method)
{
    push_method(L, call->instance, method);
    const bool classes = call->instance->def->target == LossTarget::ClassIndex;
    guarded(L, [&] {
        push_tensor(L, copy_in(*call->a));
        const Tensor target = copy_in(*call->b);
        push_tensor(L, classes ? to_one_based(target) : target);
        return 0;
    });
    lua_call(L, 3, 1);
}

int loss_forward_body(lua_State *L)
{
    Call *call = call_of(L);
    LuaInstance *inst = call->instance;
    call_loss_method(L, call, "forward");
    int ok = 0;
    call->number = lua_tonumberx(L, -1, &ok);
    if (!ok)
        raise(L, label(inst) + ": forward must return a number, got " + describe_value(L, -1));
    return 0;
}

int loss_backward_body(lua_State *L)
{
    Call *call = call_of(L);
    LuaInstance *inst = call->instance;
    call_loss_method(L, call, "backward");
    copy_out(L, inst, -1, *call->out, "backward");
    return 0;
}




// ---- the vtables

nrt_status v_loss_forward(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                          double *loss, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.a = pred;
    call.b = target;
    const nrt_status st = run(*call.instance->def, loss_forward_body, call, err, err_size);
    if (st == NRT_OK)
        *loss = call.number;
    return st;
}

nrt_status v_loss_backward(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                           nrt_tensor *diff_pred, char *err, size_t err_size)
{
    Call call;
    call.instance = instance(self);
    call.a = pred;
    call.b = target;
    call.out = diff_pred;
    return run(*call.instance->def, loss_backward_body, call, err, err_size);
}

// Every Lua loss shares this table; its Entry carries the definition's target.
const nrt_loss_vtable kLossVtable = {sizeof(nrt_loss_vtable), v_loss_forward, v_loss_backward,
                                     NRT_TARGET_UNDECLARED};

void destroy_instance(void *self)
{
    LuaInstance *inst = instance(self);
    const detail::SessionState *s = inst->def->session;
    if (s && std::this_thread::get_id() == s->owner_thread)
        for (int ref : {inst->self_ref, inst->copies_ref})
            if (ref != LUA_NOREF)
                luaL_unref(s->current(), LUA_REGISTRYINDEX, ref);
    delete inst;
}

} // namespace

// params = {{name = "power", type = "float", default = 2, min = 0, max = 10,
//            doc = "..."}, ...}: the same schema a C++ plugin declares.
std::vector<ParamSpec> schema_from_lua(lua_State *L, int idx, const std::string &where)
{
    if (!lua_istable(L, idx))
        raise(L, where + ": params must be a list such as {{name = \"power\", default = 2}}, got " +
                     describe_value(L, idx));
    std::vector<ParamSpec> schema;
    const lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, idx, i);
        const int spec = lua_gettop(L);
        const std::string at = where + ": params[" + std::to_string(i) + "]";
        if (!lua_istable(L, spec))
            raise(L, at + " must be a table {name = ..., default = ...}, got " + describe_value(L, spec));
        ParamSpec p;
        lua_getfield(L, spec, "name");
        if (lua_type(L, -1) != LUA_TSTRING)
            raise(L, at + ".name must be a string, got " + describe_value(L, -1));
        p.name = lua_tostring(L, -1);
        for (const ParamSpec &other : schema)
            if (other.name == p.name)
                raise(L, at + ": the name '" + p.name + "' is used twice");
        lua_getfield(L, spec, "doc");
        p.doc = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
        lua_getfield(L, spec, "default");
        const int def = lua_gettop(L);
        lua_getfield(L, spec, "type");
        std::string type = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
        if (type.empty()) {
            switch (lua_type(L, def)) {
            case LUA_TBOOLEAN: type = "bool"; break;
            case LUA_TSTRING: type = "string"; break;
            case LUA_TTABLE: type = "float_list"; break;
            default: type = "float";
            }
        }
        if (type == "int" || type == "integer")
            p.type = ParamType::Int;
        else if (type == "float" || type == "number")
            p.type = ParamType::Float;
        else if (type == "bool" || type == "boolean")
            p.type = ParamType::Bool;
        else if (type == "string")
            p.type = ParamType::String;
        else if (type == "float_list" || type == "list")
            p.type = ParamType::FloatList;
        else
            raise(L, at + ".type must be int, float, bool, string or float_list, got \"" + type + "\"");
        lua_getfield(L, spec, "required");
        p.required = lua_isnil(L, def) ? (lua_isnil(L, -1) || lua_toboolean(L, -1)) : lua_toboolean(L, -1);
        if (!lua_isnil(L, def)) {
            const ParamValue v = param_from_lua(L, def, at + ".default");
            if (v.index() == 0)
                p.default_number = std::get<double>(v);
            else if (v.index() == 1)
                p.default_number = std::get<bool>(v) ? 1 : 0;
            else if (v.index() == 2)
                p.default_string = std::get<std::string>(v);
            else
                p.default_list = std::get<std::vector<double>>(v);
        }
        lua_getfield(L, spec, "min");
        lua_getfield(L, spec, "max");
        if (lua_isnumber(L, -2) || lua_isnumber(L, -1)) {
            p.min = lua_isnumber(L, -2) ? lua_tonumber(L, -2) : -HUGE_VAL;
            p.max = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : HUGE_VAL;
        }
        lua_getfield(L, spec, "length");
        p.list_length = lua_isinteger(L, -1) ? static_cast<int>(lua_tointeger(L, -1))
                                             : static_cast<int>(p.default_list.size());
        lua_getfield(L, spec, "choices");
        if (lua_istable(L, -1)) {
            for (lua_Integer k = 1; k <= luaL_len(L, -1); ++k) {
                lua_geti(L, -1, k);
                if (const char *c = lua_tostring(L, -1))
                    p.choices.emplace_back(c);
                lua_pop(L, 1);
            }
        } else if (const char *c = lua_tostring(L, -1)) {
            std::string all = c;
            for (size_t start = 0; start <= all.size();) {
                size_t bar = std::min(all.find('|', start), all.size());
                if (bar > start)
                    p.choices.push_back(all.substr(start, bar - start));
                start = bar + 1;
            }
        }
        lua_settop(L, spec - 1);
        if (!p.required)
            guarded(L, [&] {
                ResolvedParams probe(at, {p}, {}); // a default its own range rejects
                return 0;
            });
        schema.push_back(std::move(p));
    }
    return schema;
}

int define_entry(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    detail::SessionState &s = detail::session(L);
    auto field_string = [&](const char *key, const char *fallback) -> std::string {
        lua_getfield(L, idx, key);
        const char *v = lua_tostring(L, -1);
        std::string out = v ? v : (fallback ? fallback : "");
        if (!v && !fallback)
            raise(L, std::string("nn.define: field '") + key + "' must be a string, got " +
                         describe_value(L, -1));
        lua_pop(L, 1);
        return out;
    };
    const std::string name = field_string("name", nullptr);
    const std::string kind = field_string("kind", "layer");
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
        raise(L, "nn.define: name '" + name + "' must start with a letter (registry names are CamelCase, e.g. \"Square\")");
    Entry entry;
    if (kind == "layer")
        entry.kind = Kind::Layer;
    else if (kind == "activation")
        entry.kind = Kind::Activation;
    else if (kind == "loss")
        entry.kind = Kind::Loss;
    else
        raise(L, "nn.define: kind must be \"layer\", \"activation\" or \"loss\", got \"" + kind + "\"");
    lua_getfield(L, idx, "backward");
    lua_getfield(L, idx, "forward");
    if (lua_isnil(L, -2) && lua_isfunction(L, -1) &&
        lua_getfield(L, LUA_REGISTRYINDEX, kAutogradBackwardKey) == LUA_TFUNCTION) {
        // No backward: autograd.lua gives a copy of the definition whose
        // backward differentiates a recording of its forward.
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        lua_replace(L, idx);
    }
    lua_settop(L, idx);
    for (const char *fn : {"forward", "backward"}) {
        lua_getfield(L, idx, fn);
        if (!lua_isfunction(L, -1))
            raise(L, "nn.define{name=\"" + name + "\"}: '" + fn + "' must be a function, got " +
                         describe_value(L, -1));
        lua_pop(L, 1);
    }
    entry.name = name;
    entry.version = field_string("version", "1.0.0");
    entry.summary = field_string("summary", ("A " + kind + " defined in Lua.").c_str());
    entry.origin = "lua";
    luaL_where(L, 1);
    entry.library = lua_tostring(L, -1); // where the script defined it
    lua_pop(L, 1);
    if (!entry.library.empty() && entry.library.back() == ' ')
        entry.library.resize(entry.library.size() - 2); // "file:line: " -> "file:line"
    lua_getfield(L, idx, "params");
    if (!lua_isnil(L, -1))
        entry.params = schema_from_lua(L, lua_gettop(L), "nn.define{name=\"" + name + "\"}");
    lua_pop(L, 1);
    // A loss says what its target holds: class indices ("class", 1-based in
    // Lua) or, by default, a tensor shaped as the prediction.
    const std::string target = field_string("target", entry.kind == Kind::Loss ? "same_shape" : "");
    if (entry.kind != Kind::Loss && !target.empty())
        raise(L, "nn.define{name=\"" + name + "\"}: 'target' is for losses only (kind = \"loss\")");
    if (entry.kind == Kind::Loss && target != "class" && target != "same_shape")
        raise(L, "nn.define{name=\"" + name + "\"}: target must be \"class\" (class indices) or "
                 "\"same_shape\" (shaped as the prediction), got \"" + target + "\"");
    if (entry.kind == Kind::Loss)
        entry.loss_target = target == "class" ? LossTarget::ClassIndex : LossTarget::SameShape;
    // A layer of several inputs: forward(self, a, b, ..., training).
    lua_getfield(L, idx, "inputs");
    int inputs = 1;
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        const lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n < 1 || n > kMaxLuaInputs)
            raise(L, "nn.define{name=\"" + name + "\"}: inputs must be a whole number from 1 to " +
                         std::to_string(kMaxLuaInputs) + ", got " + describe_value(L, -1));
        if (entry.kind == Kind::Loss)
            raise(L, "nn.define{name=\"" + name + "\"}: 'inputs' is for layers; a loss takes a prediction and a target");
        inputs = static_cast<int>(n);
    }
    lua_pop(L, 1);

    auto def = std::make_shared<LuaDefinition>();
    def->session = &s;
    def->name = name;
    def->kind = entry.kind;
    def->target = entry.loss_target;
    def->inputs = inputs;
    lua_pushvalue(L, idx);
    def->table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    entry.create = [def](const nrt_host *, const nrt_params *params, uint64_t, void **out,
                         char *err, size_t err_size) -> nrt_status {
        // init may run nn.define again, which replaces this very function
        // object: nothing it captured is touched after this copy.
        std::shared_ptr<LuaDefinition> keep = def;
        auto inst = std::make_unique<LuaInstance>();
        inst->def = keep;
        Call call;
        call.instance = inst.get();
        call.params = params;
        const nrt_status st = run(*keep, create_body, call, err, err_size);
        if (st == NRT_OK)
            *out = inst.release();
        return st;
    };
    entry.destroy = destroy_instance;
    entry.vtable = entry.kind == Kind::Loss ? static_cast<const void *>(&kLossVtable)
                                            : static_cast<const void *>(&entry::kLayerVtable);
    guarded(L, [&] {
        s.registry.add_entry(std::move(entry));
        return 0;
    });
    s.definitions.push_back(def);
    // nn.define returns the constructor, the same as nn.<Name>.
    lua_getfield(L, LUA_REGISTRYINDEX, kNnRegistryKey);
    lua_getfield(L, -1, name.c_str());
    return 1;
}

void close_definitions(detail::SessionState &s)
{
    for (const auto &weak : s.definitions)
        if (auto def = weak.lock())
            def->session = nullptr;
    s.definitions.clear();
}

} // namespace neurite::lua
