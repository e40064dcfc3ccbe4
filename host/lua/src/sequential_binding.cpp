// nn.Sequential: layers applied in order. The model owns its layers; the
// layer userdata a script holds (l1, m[1]) stay valid views of them, and
// their user value keeps the model alive.
#include "binding.h"

#include "neurite/core/checkpoint.h"

namespace neurite::lua {

namespace {

int seq_gc(lua_State *L)
{
    auto *box = static_cast<SequentialBox *>(luaL_checkudata(L, 1, kSequentialMeta));
    box->~SequentialBox();
    return 0;
}

// The model's layer userdata live in a table, its first user value.
void push_layer_table(lua_State *L, int seq_idx)
{
    lua_getiuservalue(L, seq_idx, 1);
}

void add_layer(lua_State *L, int seq_idx, int layer_idx)
{
    seq_idx = lua_absindex(L, seq_idx);
    layer_idx = lua_absindex(L, layer_idx);
    SequentialBox *seq = check_sequential(L, seq_idx);
    BusyScope busy(L, seq->busy, "m:add");
    LayerBox *layer = static_cast<LayerBox *>(luaL_testudata(L, layer_idx, kLayerMeta));
    if (!layer) {
        if (luaL_testudata(L, layer_idx, kSequentialMeta))
            raise(L, "nn.Sequential: nesting a Sequential inside another is not supported; add "
                     "its layers instead");
        raise(L, "nn.Sequential: expected a layer such as nn.Dense(3, 3), got " +
                     describe_value(L, layer_idx));
    }
    if (!layer->owned)
        raise(L, "nn.Sequential: " + layer->module->label() +
                     " already belongs to a model; create a new layer");
    guarded(L, [&] {
        seq->model.add(std::move(layer->owned));
        return 0;
    });
    layer->index = seq->model.size();
    lua_pushvalue(L, seq_idx);
    lua_setiuservalue(L, layer_idx, 1);
    push_layer_table(L, seq_idx);
    lua_pushvalue(L, layer_idx);
    lua_rawseti(L, -2, layer->index);
    lua_pop(L, 1);
}

int seq_add(lua_State *L)
{
    check_sequential(L, 1);
    add_layer(L, 1, 2);
    lua_settop(L, 1);
    return 1;
}

int seq_forward(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    const Tensor &x = check_tensor(L, 2);
    BusyScope busy(L, box->busy, "m:forward");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        // A copy: the model reuses its output buffer on the next forward.
        const Tensor &out = box->model.forward(x);
        box->last_input = x.shape();
        push_copy(L, out);
        return 1;
    });
}

int seq_backward(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    const Tensor &x = check_tensor(L, 2);
    const Tensor &dy = check_tensor(L, 3);
    // backward(x, dy, false) skips the input gradient, which training does not need.
    const bool input_grad = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    BusyScope busy(L, box->busy, "m:backward");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const Tensor &dx = box->model.backward(x, dy, input_grad);
        if (!input_grad)
            return 0;
        push_copy(L, dx);
        return 1;
    });
}

int seq_zero_grad(lua_State *L)
{
    Sequential &model = check_sequential(L, 1)->model;
    lua_settop(L, 1);
    // The host checks that a plugin's zero_grad clears, and raises if not.
    return guarded(L, [&] {
        model.zero_grad();
        return 1;
    });
}

int seq_parameters(lua_State *L)
{
    check_sequential(L, 1);
    push_parameters(L, 1);
    return 1;
}

int seq_train(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    if (lua_isnoneornil(L, 2) || lua_toboolean(L, 2))
        box->model.train();
    else
        box->model.eval();
    lua_settop(L, 1);
    return 1;
}

int seq_eval(lua_State *L)
{
    check_sequential(L, 1)->model.eval();
    lua_settop(L, 1);
    return 1;
}

int seq_is_training(lua_State *L)
{
    lua_pushboolean(L, check_sequential(L, 1)->model.training());
    return 1;
}

// The input shape for summary(): given, from the last forward, or from the
// first layer's `inputs` parameter (one sample).
Shape summary_shape(lua_State *L, SequentialBox *box)
{
    if (!lua_isnoneornil(L, 2))
        return check_shape_args(L, 2, "m:summary");
    if (!box->last_input.empty())
        return box->last_input;
    if (box->model.size() > 0)
        for (const auto &[name, value] : box->model.at(0).config())
            if (name == "inputs" && value.index() == 0)
                return Shape{1, static_cast<int64_t>(std::get<double>(value))};
    raise(L, "m:summary needs an input shape, e.g. m:summary{1, 784}, or a forward first");
}

int seq_summary(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    const Shape shape = summary_shape(L, box);
    BusyScope busy(L, box->busy, "m:summary");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        std::string text = box->model.summary_text(shape);
        box->last_input = shape; // summary prepared the model for this shape
        if (!text.empty() && text.back() == '\n')
            text.pop_back();
        lua_pushstring(L, text.c_str());
        return 1;
    });
}

int seq_parameter_count(lua_State *L)
{
    lua_pushinteger(L, check_sequential(L, 1)->model.parameter_count());
    return 1;
}

// A section holding a list of tensors has a sibling "<name>.type" saying so.
const std::string kTypeSuffix = ".type";
const std::string kTensorsType = "tensors";

std::vector<uint8_t> bytes_of(const std::string &s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// The list of tensors at idx (a table whose elements are all tensors).
std::vector<Tensor> tensor_list(lua_State *L, int idx, const std::string &key)
{
    std::vector<Tensor> list;
    const lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, idx, i);
        if (!test_tensor(L, -1))
            raise(L, "m:save: extra '" + key + "' must be a list of tensors; element " + std::to_string(i) +
                         " is " + describe_value(L, -1));
        list.push_back(check_tensor(L, -1));
        lua_pop(L, 1);
    }
    return list;
}

// The extra at the top of the stack, named `key`, into sections of c.
void add_extra(lua_State *L, Checkpoint &c, const std::string &key)
{
    if (auto *opt = static_cast<OptimizerBox *>(luaL_testudata(L, -1, kOptimizerMeta))) {
        c.set_section(key, opt->optimizer->save_state());
        c.set_section(key + ".name", bytes_of(opt->optimizer->entry().name));
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n = 0;
        const auto *s = reinterpret_cast<const uint8_t *>(lua_tolstring(L, -1, &n));
        c.set_section(key, std::vector<uint8_t>(s, s + n));
    } else if (lua_istable(L, -1) && !test_tensor(L, -1)) {
        c.set_section(key, Checkpoint::encode_tensors(tensor_list(L, lua_gettop(L), key)));
        c.set_section(key + kTypeSuffix, bytes_of(kTensorsType));
    } else {
        raise(L, "m:save: extra '" + key + "' must be an optimizer, a string or a list of tensors, got " +
                     describe_value(L, -1));
    }
}

// m:save(path [, {optimizer = opt, <name> = string or {tensor, ...}, ...}])
int seq_save(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    const std::string path = luaL_checkstring(L, 2);
    check_write_path(L, path, "m:save");
    return guarded(L, [&] {
        Checkpoint c = Checkpoint::capture(box->model);
        if (lua_istable(L, 3)) {
            lua_pushnil(L);
            while (lua_next(L, 3)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                    raise(L, "m:save: the extra table takes names, e.g. {optimizer = opt, meta = s}");
                add_extra(L, c, lua_tostring(L, -2));
                lua_pop(L, 1);
            }
        } else if (!lua_isnoneornil(L, 3)) {
            arg_error(L, 3, "m:save", "a table of extras", 2);
        }
        c.write(path);
        lua_settop(L, 1);
        return 1;
    });
}

bool holds_tensors(const Checkpoint &c, const std::string &name)
{
    const std::vector<uint8_t> *type = c.section(name + kTypeSuffix);
    return type && *type == bytes_of(kTensorsType);
}

// The extras: strings, and lists of tensors where the file says so.
void push_sections(lua_State *L, const Checkpoint &c, const std::string &path)
{
    lua_createtable(L, 0, static_cast<int>(c.sections.size()));
    for (const auto &[name, bytes] : c.sections) {
        const bool is_type_tag = name.ends_with(kTypeSuffix) &&
                                 holds_tensors(c, name.substr(0, name.size() - kTypeSuffix.size()));
        if (is_type_tag)
            continue;
        if (holds_tensors(c, name)) {
            const std::vector<Tensor> list = Checkpoint::decode_tensors(bytes, path, "section '" + name + "'");
            lua_createtable(L, static_cast<int>(list.size()), 0);
            for (size_t i = 0; i < list.size(); ++i) {
                push_copy(L, list[i]);
                lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
            }
        } else {
            lua_pushlstring(L, reinterpret_cast<const char *>(bytes.data()), bytes.size());
        }
        lua_setfield(L, -2, name.c_str());
    }
}

// m:load(path): the parameters of a checkpoint into this model (same layers).
int seq_load(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    const std::string path = luaL_checkstring(L, 2);
    BusyScope busy(L, box->busy, "m:load");
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const Checkpoint c = Checkpoint::read(path);
        c.restore(box->model, path);
        push_sections(L, c, path);
        return 1;
    });
}

int seq_index(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        const lua_Integer i = lua_tointeger(L, 2);
        if (i < 1 || i > box->model.size()) {
            lua_pushnil(L);
            return 1;
        }
        push_layer_table(L, 1);
        lua_rawgeti(L, -1, i);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

int seq_len(lua_State *L)
{
    lua_pushinteger(L, check_sequential(L, 1)->model.size());
    return 1;
}

int seq_tostring(lua_State *L)
{
    SequentialBox *box = check_sequential(L, 1);
    std::string s = "nn.Sequential {";
    for (int i = 0; i < box->model.size(); ++i)
        s += "\n  (" + std::to_string(i + 1) + ") " +
             config_text(box->model.at(i).name(), box->model.at(i).config());
    s += box->model.size() ? "\n}" : "}";
    lua_pushstring(L, s.c_str());
    return 1;
}

int seq_call(lua_State *L)
{
    lua_settop(L, 2);
    return seq_forward(L);
}

int seq_new(lua_State *L)
{
    guarded(L, [&] {
        push_sequential(L, std::make_unique<Sequential>());
        return 0;
    });
    const int seq = lua_gettop(L);
    if (lua_istable(L, 1) && !luaL_testudata(L, 1, kLayerMeta)) {
        const lua_Integer n = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_geti(L, 1, i);
            add_layer(L, seq, -1);
            lua_pop(L, 1);
        }
    } else {
        for (int i = 1; i < seq; ++i)
            add_layer(L, seq, i);
    }
    lua_pushvalue(L, seq);
    return 1;
}

} // namespace

SequentialBox *check_sequential(lua_State *L, int idx)
{
    auto *box = static_cast<SequentialBox *>(luaL_testudata(L, idx, kSequentialMeta));
    if (!box)
        arg_error(L, idx, "model method", "an nn.Sequential (call it with ':')");
    return box;
}

SequentialBox *push_sequential(lua_State *L, std::unique_ptr<Sequential> model)
{
    void *mem = lua_newuserdatauv(L, sizeof(SequentialBox), 1);
    auto *box = new (mem) SequentialBox{std::move(*model), Shape()};
    luaL_setmetatable(L, kSequentialMeta);
    const int seq = lua_gettop(L);
    lua_createtable(L, box->model.size(), 0);
    for (int i = 0; i < box->model.size(); ++i) {
        LayerBox *layer = push_layer(L, nullptr);
        layer->module = &box->model.at(i);
        layer->index = i + 1;
        lua_pushvalue(L, seq);
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, seq, 1);
    return box;
}

void push_parameters(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    const int list = lua_gettop(L);
    lua_Integer n = 0;
    auto push_layer_params = [&](int layer_idx) {
        Module &m = *check_layer(L, layer_idx)->module;
        sync_grads(L, m);
        for (const Parameter &p : m.parameters()) {
            push_parameter(L, p, layer_idx);
            lua_rawseti(L, list, ++n);
        }
    };
    if (luaL_testudata(L, idx, kLayerMeta)) {
        push_layer_params(idx);
        return;
    }
    SequentialBox *box = check_sequential(L, idx);
    push_layer_table(L, idx);
    for (int i = 1; i <= box->model.size(); ++i) {
        lua_rawgeti(L, -1, i);
        push_layer_params(lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void check_parent_idle(lua_State *L, int layer_idx, const char *fn)
{
    if (!check_layer(L, layer_idx)->index)
        return;
    lua_getiuservalue(L, layer_idx, 1);
    auto *seq = static_cast<SequentialBox *>(luaL_testudata(L, -1, kSequentialMeta));
    lua_pop(L, 1);
    if (seq && seq->busy)
        raise(L, std::string(fn) + ": the model this layer belongs to is computing (a Lua-defined "
                                   "layer called one of its own model's layers)");
}

void restore_member_shape(lua_State *L, int layer_idx)
{
    LayerBox *layer = check_layer(L, layer_idx);
    if (!layer->index)
        return;
    lua_getiuservalue(L, layer_idx, 1);
    auto *seq = static_cast<SequentialBox *>(luaL_testudata(L, -1, kSequentialMeta));
    lua_pop(L, 1);
    if (!seq || seq->last_input.empty())
        return;
    const Shape input = layer->index == 1 ? seq->last_input
                                          : seq->model.output(layer->index - 2).shape();
    if (!input.empty()) // empty: the model has not run since this layer was added
        layer->module->prepare(input);
}

void register_sequential_type(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"add", seq_add},           {"forward", seq_forward},
        {"backward", seq_backward}, {"zero_grad", seq_zero_grad},
        {"parameters", seq_parameters}, {"train", seq_train},
        {"eval", seq_eval},         {"is_training", seq_is_training},
        {"summary", seq_summary},   {"parameter_count", seq_parameter_count},
        {"save", seq_save},         {"load", seq_load},
        {nullptr, nullptr}};
    luaL_newmetatable(L, kSequentialMeta);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, seq_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", seq_gc},     {"__len", seq_len},
                                    {"__tostring", seq_tostring}, {"__call", seq_call},
                                    {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "nn.Sequential");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

int sequential_constructor(lua_State *L) { return seq_new(L); }

} // namespace neurite::lua
