// Tensors, parameters and models in other programs' formats: t:save_npy,
// tensor.load_npy, m:state_dict, m:load_state_dict, nn.save_npz,
// nn.load_npz, nn.export_onnx, nn.import_onnx and nn.check_onnx. Every
// path passes the sandbox's read or write rule, like m:save and nn.load.
#include "binding.h"
#include "sandbox.h"

#include "neurite/core/data/file_bytes.h"

#include "neurite/interchange/npy_io.h"
#include "neurite/interchange/onnx.h"
#include "neurite/interchange/state_dict.h"

#include <algorithm>

namespace neurite::lua {

namespace ix = neurite::interchange;

namespace {

// The string option `key` of the options table at idx, or `fallback`.
std::string string_option(lua_State *L, int idx, const char *key, const char *fn, const std::string &fallback)
{
    if (lua_isnoneornil(L, idx))
        return fallback;
    lua_getfield(L, idx, key);
    std::string value = fallback;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            raise(L, std::string(fn) + ": option " + key + " must be a string, got " + describe_value(L, -1));
        value = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return value;
}

std::string path_arg(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        arg_error(L, idx, fn, "a file path");
    std::string path = lua_tostring(L, idx);
    if (path.empty())
        raise(L, std::string(fn) + ": the path is empty");
    return path;
}

void push_named(lua_State *L, const ix::NamedTensors &tensors)
{
    lua_createtable(L, 0, static_cast<int>(tensors.size()));
    for (const auto &[name, t] : tensors) {
        push_copy(L, t);
        lua_setfield(L, -2, name.c_str());
    }
}

// A table of name = tensor pairs, as m:state_dict() makes it.
ix::NamedTensors named_from_table(lua_State *L, int idx, const char *fn)
{
    if (!lua_istable(L, idx) || test_tensor(L, idx))
        arg_error(L, idx, fn, "a table of name = tensor pairs (as m:state_dict() returns)");
    ix::NamedTensors out;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            raise(L, std::string(fn) + ": keys are parameter names such as '0.weight', got " + describe_value(L, -2));
        const std::string key = lua_tostring(L, -2);
        if (!test_tensor(L, -1))
            raise(L, std::string(fn) + ": '" + key + "' must be a tensor, got " + describe_value(L, -1));
        out.emplace_back(key, check_tensor(L, -1));
        lua_pop(L, 1);
    }
    // Lua's table order is arbitrary: sort so files and messages are reproducible.
    std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    return out;
}

// t:save_npy(path [, {dtype = "float32"|"float64"|"int64"|"uint8"}])
int tensor_save_npy(lua_State *L)
{
    const Tensor t = check_tensor(L, 1);
    const std::string path = path_arg(L, 2, "t:save_npy");
    if (!lua_isnoneornil(L, 3))
        check_option_keys(L, 3, "t:save_npy", {"dtype"});
    const std::string dtype = string_option(L, 3, "dtype", "t:save_npy", "float32");
    check_write_path(L, path, "t:save_npy");
    return guarded(L, [&] {
        ix::save_npy(path, t, ix::npy_type_from_name(dtype, "t:save_npy"));
        lua_settop(L, 1);
        return 1;
    });
}

// tensor.load_npy(path) -> tensor (float32), the file's dtype name
int tensor_load_npy(lua_State *L)
{
    const std::string path = path_arg(L, 1, "tensor.load_npy");
    check_read_path(L, path, "tensor.load_npy");
    return guarded(L, [&] {
        ix::NpyType stored{};
        const Tensor t = ix::load_npy(path, &stored);
        push_copy(L, t);
        lua_pushstring(L, data::npy_type_name(stored));
        return 2;
    });
}

// m:state_dict() -> {["0.weight"] = tensor, ...} (copies)
int model_state_dict(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        push_named(L, ix::state_dict(*box->model));
        return 1;
    });
}

// m:load_state_dict(t [, {strict = true}]) -> m
int model_load_state_dict(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const ix::NamedTensors values = named_from_table(L, 2, "m:load_state_dict");
    bool strict = true;
    if (!lua_isnoneornil(L, 3)) {
        check_option_keys(L, 3, "m:load_state_dict", {"strict"});
        lua_getfield(L, 3, "strict");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            raise(L, "m:load_state_dict: option strict must be true or false, got " + describe_value(L, -1));
        strict = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        ix::load_state_dict(*box->model, values, strict, "m:load_state_dict");
        lua_settop(L, 1);
        return 1;
    });
}

// nn.save_npz(model_or_table, path): one <name>.npy per parameter.
int nn_save_npz(lua_State *L)
{
    const std::string path = path_arg(L, 2, "nn.save_npz");
    ix::NamedTensors tensors;
    if (ModelBox *box = test_model(L, 1)) {
        detail::ActiveScope scope(L);
        tensors = guarded(L, [&] { return ix::state_dict(*box->model); });
    } else if (lua_istable(L, 1) && !test_tensor(L, 1)) {
        tensors = named_from_table(L, 1, "nn.save_npz");
    } else {
        arg_error(L, 1, "nn.save_npz", "a model or a table of name = tensor pairs");
    }
    check_write_path(L, path, "nn.save_npz");
    return guarded(L, [&] {
        ix::save_npz(path, tensors);
        return 0;
    });
}

// nn.load_npz(path) -> {name = tensor, ...}
int nn_load_npz(lua_State *L)
{
    const std::string path = path_arg(L, 1, "nn.load_npz");
    check_read_path(L, path, "nn.load_npz");
    return guarded(L, [&] {
        push_named(L, ix::load_npz(path));
        return 1;
    });
}

// {opset = 17, input_shape = {784}} or input_shapes = {{784}, {10}} for several inputs.
ix::OnnxExportOptions export_options(lua_State *L, int idx)
{
    ix::OnnxExportOptions o;
    if (lua_isnoneornil(L, idx))
        return o;
    check_option_keys(L, idx, "nn.export_onnx", {"opset", "input_shape", "input_shapes"});
    lua_getfield(L, idx, "opset");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1))
            raise(L, "nn.export_onnx: option opset must be a whole number, got " + describe_value(L, -1));
        o.opset = static_cast<int>(lua_tointeger(L, -1));
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "input_shape");
    if (!lua_isnil(L, -1))
        o.input_shapes.push_back(shape_from_table(L, lua_gettop(L), "nn.export_onnx"));
    lua_pop(L, 1);
    lua_getfield(L, idx, "input_shapes");
    if (!lua_isnil(L, -1)) {
        if (!o.input_shapes.empty())
            raise(L, "nn.export_onnx: give input_shape or input_shapes, not both");
        luaL_checktype(L, -1, LUA_TTABLE);
        for (lua_Integer i = 1; i <= luaL_len(L, -1); ++i) {
            lua_geti(L, -1, i);
            o.input_shapes.push_back(shape_from_table(L, lua_gettop(L), "nn.export_onnx"));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return o;
}

// nn.export_onnx(model, path [, {opset = 17, input_shape = {...}}]) -> path
int nn_export_onnx(lua_State *L)
{
    ModelBox *box = test_model(L, 1);
    if (!box)
        arg_error(L, 1, "nn.export_onnx", "a model (nn.Sequential or nn.Model)");
    const std::string path = path_arg(L, 2, "nn.export_onnx");
    const ix::OnnxExportOptions options = export_options(L, 3);
    check_write_path(L, path, "nn.export_onnx");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        box->model->require_idle("nn.export_onnx");
        ix::export_onnx(*box->model, path, options);
        lua_pushvalue(L, 2);
        return 1;
    });
}

// nn.import_onnx(path) -> model (an nn.Model in evaluation mode)
int nn_import_onnx(lua_State *L)
{
    const std::string path = path_arg(L, 1, "nn.import_onnx");
    check_read_path(L, path, "nn.import_onnx");
    detail::SessionState &s = detail::session(L);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        push_model(L, ix::import_onnx(path, s.registry, s.context, s.next_seed()));
        return 1;
    });
}

// nn.check_onnx(path): onnx::checker over a file; raises its message.
int nn_check_onnx(lua_State *L)
{
    const std::string path = path_arg(L, 1, "nn.check_onnx");
    check_read_path(L, path, "nn.check_onnx");
    return guarded(L, [&] {
        ix::check_onnx(data::read_file(path), path);
        lua_pushboolean(L, 1);
        return 1;
    });
}

// The functions of `fns` into the table at idx.
void set_functions(lua_State *L, int idx, const luaL_Reg *fns)
{
    lua_pushvalue(L, idx);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

} // namespace

void open_tensor_save_npy(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {{"save_npy", tensor_save_npy}, {nullptr, nullptr}};
    set_functions(L, methods, fns);
}

void open_tensor_load_npy(lua_State *L, int module)
{
    static const luaL_Reg fns[] = {{"load_npy", tensor_load_npy}, {nullptr, nullptr}};
    set_functions(L, module, fns);
}

void open_model_interchange(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"state_dict", model_state_dict}, {"load_state_dict", model_load_state_dict}, {nullptr, nullptr}};
    set_functions(L, methods, fns);
}

void open_nn_interchange(lua_State *L, int nn)
{
    static const luaL_Reg fns[] = {{"save_npz", nn_save_npz},       {"load_npz", nn_load_npz},
                                   {"export_onnx", nn_export_onnx}, {"import_onnx", nn_import_onnx},
                                   {"check_onnx", nn_check_onnx},   {nullptr, nullptr}};
    set_functions(L, nn, fns);
}

} // namespace neurite::lua
