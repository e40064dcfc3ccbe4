// nn.Sequential and nn.Model: one userdata type over the core's graph
// model. The model owns its nodes; the userdata a script holds for them
// (l1, m[1]) stay valid views, and their user value keeps the model alive.
#include "binding.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/precision.h"

#include "sandbox.h"

namespace neurite::lua {

namespace {

int model_gc(lua_State *L)
{
    auto *box = static_cast<ModelBox *>(luaL_checkudata(L, 1, kModelMeta));
    box->~ModelBox();
    new (box) ModelBox{}; // a second __gc, or a method after it, finds an empty box
    return 0;
}

const char *model_kind(const Model &m) { return m.type_name() == "Sequential" ? "nn.Sequential" : "nn.Model"; }

// Adds the layer or model at node_idx to the Sequential at seq_idx.
void add_to_sequential(lua_State *L, int seq_idx, int node_idx)
{
    seq_idx = lua_absindex(L, seq_idx);
    node_idx = lua_absindex(L, node_idx);
    ModelBox *seq = check_model(L, seq_idx);
    auto *chain = dynamic_cast<Sequential *>(seq->model.get());
    if (!chain)
        raise(L, "nn.Model: add() is for nn.Sequential; a graph model is built from nn.Input");
    std::shared_ptr<Layer> layer;
    if (auto *l = static_cast<LayerBox *>(luaL_testudata(L, node_idx, kLayerMeta)); l && l->module)
        layer = l->module;
    else if (ModelBox *m = test_model(L, node_idx); m && m->model)
        layer = m->model;
    else
        raise(L, "nn.Sequential: expected a layer such as nn.Dense(3, 3) or a model, got " +
                     describe_value(L, node_idx));
    guarded(L, [&] {
        chain->add(layer);
        return 0;
    });
    lua_pushvalue(L, seq_idx);
    lua_setiuservalue(L, node_idx, 1);
    lua_getiuservalue(L, seq_idx, 1);
    lua_pushvalue(L, node_idx);
    lua_rawseti(L, -2, chain->size());
    lua_pop(L, 1);
}

int model_add(lua_State *L)
{
    check_model(L, 1);
    add_to_sequential(L, 1, 2);
    lua_settop(L, 1);
    return 1;
}

// m:forward(x) or m:forward{x1, x2}: a tensor, or a table for several
// outputs. Views of the model's output buffers, valid until its next forward.
int model_forward(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    TensorArgs inputs = tensor_list(L, 2, "m:forward", "input");
    for (Tensor &x : inputs)
        if (aliases_output(L, 1, kViewCacheSlot, x))
            x = x.clone(); // m:forward(m:forward(x)) would write the buffer it reads
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const std::vector<Tensor> &out = box->model->forward(inputs);
        box->last_input = inputs[0].shape();
        push_buffer_views(L, 1, kViewCacheSlot, BufferKind::output, out);
        return 1;
    });
}

// m:backward(x, grad [, input_grad = true]); false skips the input
// gradient, which training does not need. Views of the model's input
// gradient buffers, valid until its next backward.
int model_backward(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const TensorArgs inputs = tensor_list(L, 2, "m:backward", "input");
    const TensorArgs grads = tensor_list(L, 3, "m:backward", "output gradient");
    const bool input_grad = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        const std::vector<Tensor> &dx = box->model->backward(inputs, grads, input_grad);
        if (!input_grad)
            return 0;
        push_buffer_views(L, 1, kViewCacheSlot, BufferKind::input_grad, dx);
        return 1;
    });
}

int model_zero_grad(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    guarded(L, [&] {
        box->model->zero_grad();
        return 0;
    });
    lua_settop(L, 1);
    return 1;
}

int model_parameters(lua_State *L)
{
    check_model(L, 1);
    push_parameters(L, 1);
    return 1;
}

int model_buffers(lua_State *L)
{
    check_model(L, 1);
    push_parameters(L, 1, true);
    return 1;
}

int model_train(lua_State *L)
{
    check_model(L, 1)->model->set_training(lua_isnoneornil(L, 2) || lua_toboolean(L, 2));
    lua_settop(L, 1);
    return 1;
}

int model_eval(lua_State *L)
{
    check_model(L, 1)->model->eval();
    lua_settop(L, 1);
    return 1;
}

// model:set_precision("bf16" | "f32") -> model. bf16 refuses on a CPU
// without bf16 instructions, naming them.
int model_set_precision(lua_State *L)
{
    auto *box = check_model(L, 1);
    const std::string text = luaL_checkstring(L, 2);
    return guarded(L, [&] {
        box->model->set_precision(parse_precision(text, "set_precision"));
        lua_settop(L, 1);
        return 1;
    });
}

int model_precision(lua_State *L)
{
    lua_pushstring(L, dtype_name(check_model(L, 1)->model->precision()));
    return 1;
}

int model_is_training(lua_State *L)
{
    lua_pushboolean(L, check_model(L, 1)->model->training());
    return 1;
}

// The input shapes for summary(): given, declared by nn.Input (batch 1),
// from the last forward, or from the first layer's `inputs` parameter.
std::vector<Shape> summary_shapes(lua_State *L, ModelBox *box)
{
    Model &m = *box->model;
    if (!lua_isnoneornil(L, 2)) {
        if (lua_istable(L, 2) && lua_istable(L, 2) && (lua_geti(L, 2, 1), lua_istable(L, -1))) {
            lua_pop(L, 1);
            std::vector<Shape> shapes;
            for (lua_Integer i = 1; i <= luaL_len(L, 2); ++i) {
                lua_geti(L, 2, i);
                shapes.push_back(shape_from_table(L, -1, "m:summary"));
                lua_pop(L, 1);
            }
            return shapes;
        }
        lua_settop(L, 2);
        return {check_shape_args(L, 2, "m:summary")};
    }
    std::vector<Shape> declared;
    for (int i = 0; i < m.input_count(); ++i)
        if (const auto &s = m.input(i).sample_shape) {
            Shape batch{1};
            for (int64_t d : *s)
                batch.push_back(d);
            declared.push_back(batch);
        }
    if (!declared.empty() && static_cast<int>(declared.size()) == m.input_count())
        return declared;
    if (!box->last_input.empty() && m.input_count() == 1)
        return {box->last_input};
    if (m.node_count() > 0)
        if (auto *first = dynamic_cast<Module *>(&m.layer(0)))
            for (const auto &[name, value] : first->config())
                if (name == "inputs" && value.index() == 0)
                    return {Shape{1, static_cast<int64_t>(std::get<double>(value))}};
    raise(L, "m:summary needs an input shape, e.g. m:summary{1, 784}, or a forward first");
}

int model_summary(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const std::vector<Shape> shapes = summary_shapes(L, box);
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        std::string text = box->model->summary_text(shapes);
        if (!text.empty() && text.back() == '\n')
            text.pop_back();
        lua_pushstring(L, text.c_str());
        return 1;
    });
}

int model_parameter_count(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    return guarded(L, [&] {
        lua_pushinteger(L, box->model->parameter_count());
        return 1;
    });
}

// A section holding a list of tensors has a sibling "<name>.type" saying so.
const std::string kTypeSuffix = ".type";
const std::string kTensorsType = "tensors";

std::vector<uint8_t> bytes_of(const std::string &s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// The extra at the top of the stack, named `key`, into sections of c.
void add_extra(lua_State *L, Checkpoint &c, const std::string &key)
{
    if (auto *opt = static_cast<OptimizerBox *>(luaL_testudata(L, -1, kOptimizerMeta))) {
        if (!opt->optimizer)
            raise(L, "m:save: the optimizer under '" + key + "' was already freed (its __gc ran)");
        c.set_section(key, opt->optimizer->save_state());
        c.set_section(key + ".name", bytes_of(opt->optimizer->entry().name));
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n = 0;
        const auto *s = reinterpret_cast<const uint8_t *>(lua_tolstring(L, -1, &n));
        c.set_section(key, std::vector<uint8_t>(s, s + n));
    } else if (lua_istable(L, -1) && !test_tensor(L, -1)) {
        std::vector<Tensor> list;
        const lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_geti(L, -1, i);
            if (!test_tensor(L, -1))
                raise(L, "m:save: extra '" + key + "' must be a list of tensors; element " + std::to_string(i) +
                             " is " + describe_value(L, -1));
            list.push_back(check_tensor(L, -1));
            lua_pop(L, 1);
        }
        c.set_section(key, Checkpoint::encode_tensors(list));
        c.set_section(key + kTypeSuffix, bytes_of(kTensorsType));
    } else {
        raise(L, "m:save: extra '" + key + "' must be an optimizer, a string or a list of tensors, got " +
                     describe_value(L, -1));
    }
}

// m:save(path [, {optimizer = opt, <name> = string or {tensor, ...}, ...}])
int model_save(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const std::string path = luaL_checkstring(L, 2);
    check_write_path(L, path, "m:save");
    return guarded(L, [&] {
        Checkpoint c = Checkpoint::capture(*box->model);
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
        record_checkpoint(L, path); // run.json lists the run's checkpoints
        lua_settop(L, 1);
        return 1;
    });
}

bool holds_tensors(const Checkpoint &c, const std::string &name)
{
    const std::vector<uint8_t> *type = c.section(name + kTypeSuffix);
    return type && *type == bytes_of(kTensorsType);
}

} // namespace

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

namespace {

// m:load(path): the parameters of a checkpoint into this model (same graph).
int model_load(lua_State *L)
{
    ModelBox *box = check_model(L, 1);
    const std::string path = luaL_checkstring(L, 2);
    check_read_path(L, path, "m:load"); // also train.resume, which loads through it
    detail::ActiveScope scope(L);
    return guarded(L, [&] {
        box->model->require_idle("m:load");
        const Checkpoint c = Checkpoint::read(path);
        c.restore(*box->model, path);
        push_sections(L, c, path);
        return 1;
    });
}

int model_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) { // a method: no need to test the userdata each call
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    ModelBox *box = check_model(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        const lua_Integer i = lua_tointeger(L, 2);
        if (i < 1 || i > box->model->node_count()) {
            lua_pushnil(L);
            return 1;
        }
        lua_getiuservalue(L, 1, 1);
        lua_rawgeti(L, -1, i);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

int model_len(lua_State *L)
{
    lua_pushinteger(L, check_model(L, 1)->model->node_count());
    return 1;
}

std::string node_text(const Layer &layer)
{
    if (auto *m = dynamic_cast<const Module *>(&layer))
        return config_text(m->name(), m->config());
    return std::string(model_kind(static_cast<const Model &>(layer))) + " (" +
           std::to_string(static_cast<const Model &>(layer).node_count()) + " nodes)";
}

int model_tostring(lua_State *L)
{
    const Model &m = *check_model(L, 1)->model;
    std::string s = std::string(model_kind(m)) + " {";
    for (int i = 0; i < m.node_count(); ++i) {
        s += "\n  (" + std::to_string(i + 1) + ") " + node_text(m.layer(i));
        if (m.type_name() != "Sequential") {
            std::string ins;
            for (const Model::Ref &r : m.node(i).inputs)
                ins += (ins.empty() ? "" : ", ") + m.ref_text(r);
            s += "  <- " + ins;
        }
    }
    s += m.node_count() ? "\n}" : "}";
    lua_pushstring(L, s.c_str());
    return 1;
}

// How many tensors forward takes and returns (before the first forward, a
// Sequential's input count is 1).
int model_input_count(lua_State *L)
{
    const Model &m = *check_model(L, 1)->model;
    lua_pushinteger(L, std::max(m.input_count(), 1));
    return 1;
}

int model_output_count(lua_State *L)
{
    const Model &m = *check_model(L, 1)->model;
    lua_pushinteger(L, std::max(m.output_count(), 1));
    return 1;
}

int model_type(lua_State *L)
{
    lua_pushstring(L, check_model(L, 1)->model->type_name().c_str());
    return 1;
}

int model_call(lua_State *L)
{
    check_model(L, 1);
    return call_layer(L, model_forward);
}

} // namespace

ModelBox *test_model(lua_State *L, int idx)
{
    return static_cast<ModelBox *>(test_userdata(L, idx, kModelMeta));
}

ModelBox *check_model(lua_State *L, int idx)
{
    ModelBox *box = test_model(L, idx);
    if (!box)
        arg_error(L, idx, "model method", "an nn.Sequential or nn.Model (call it with ':')");
    if (!box->model)
        raise(L, "the model was already freed (its __gc ran)");
    return box;
}

ModelBox *push_model(lua_State *L, std::shared_ptr<Model> model)
{
    void *mem = lua_newuserdatauv(L, sizeof(ModelBox), kViewCacheSlot);
    auto *box = new (mem) ModelBox{};
    box->model = std::move(model);
    luaL_setmetatable(L, kModelMeta);
    const int self = lua_gettop(L);
    Model &m = *box->model;
    lua_createtable(L, m.node_count(), 0);
    for (int i = 0; i < m.node_count(); ++i) {
        Layer &layer = m.layer(i);
        if (auto *inner = dynamic_cast<Model *>(&layer))
            push_model(L, std::static_pointer_cast<Model>(inner->shared_from_this()));
        else
            push_layer(L, std::static_pointer_cast<Module>(layer.shared_from_this()));
        lua_pushvalue(L, self);
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, self, 1);
    return box;
}

void push_parameters(lua_State *L, int idx, bool buffers)
{
    idx = lua_absindex(L, idx);
    std::vector<Parameter> params;
    guarded(L, [&] {
        if (test_model(L, idx))
            params = check_model(L, idx)->model->parameters();
        else
            params = check_layer(L, idx)->module->parameters();
        return 0;
    });
    lua_createtable(L, static_cast<int>(params.size()), 0);
    const int list = lua_gettop(L);
    // The index of each parameter within its own layer (buffers counted), for the live view.
    const Module *last = nullptr;
    int within = 0;
    lua_Integer pushed = 0;
    for (size_t i = 0; i < params.size(); ++i) {
        within = params[i].owner.get() == last ? within + 1 : 0;
        last = params[i].owner.get();
        if (params[i].buffer != buffers)
            continue;
        push_parameter(L, params[i], within);
        lua_rawseti(L, list, ++pushed);
    }
}

TensorArgs tensor_list(lua_State *L, int idx, const char *fn, const char *what)
{
    TensorArgs out;
    if (test_tensor(L, idx)) {
        out.push_back(check_tensor(L, idx));
        return out;
    }
    if (!lua_istable(L, idx))
        arg_error(L, idx, fn, std::string("a tensor or a table of tensors (the ") + what + "s)", idx - 1);
    const lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, idx, i);
        if (!test_tensor(L, -1))
            raise(L, std::string(fn) + ": " + what + " " + std::to_string(i) + " is " +
                         describe_value(L, -1) + ", expected a tensor");
        out.push_back(check_tensor(L, -1));
        lua_pop(L, 1);
    }
    if (out.empty())
        raise(L, std::string(fn) + ": an empty table of " + what + "s");
    return out;
}

void push_outputs(lua_State *L, const std::vector<Tensor> &outputs)
{
    if (outputs.size() == 1) {
        push_tensor(L, outputs[0]);
        return;
    }
    lua_createtable(L, static_cast<int>(outputs.size()), 0);
    for (size_t i = 0; i < outputs.size(); ++i) {
        push_tensor(L, outputs[i]);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
}

void register_model_type(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"add", model_add},           {"forward", model_forward},
        {"backward", model_backward}, {"zero_grad", model_zero_grad},
        {"parameters", model_parameters}, {"buffers", model_buffers}, {"train", model_train},
        {"eval", model_eval},         {"is_training", model_is_training},
        {"summary", model_summary},   {"parameter_count", model_parameter_count},
        {"save", model_save},         {"load", model_load},
        {"type", model_type},         {"input_count", model_input_count},
        {"output_count", model_output_count}, {"set_precision", model_set_precision},
        {"precision", model_precision}, {nullptr, nullptr}};
    luaL_newmetatable(L, kModelMeta);
    luaL_newlib(L, methods);
    open_model_interchange(L, lua_gettop(L));
    lua_pushcclosure(L, model_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", model_gc},     {"__len", model_len},
                                    {"__tostring", model_tostring}, {"__call", model_call},
                                    {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "nn.Model");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

int sequential_constructor(lua_State *L)
{
    guarded(L, [&] {
        push_model(L, std::make_shared<Sequential>());
        return 0;
    });
    const int seq = lua_gettop(L);
    const bool list = lua_istable(L, 1) && !luaL_testudata(L, 1, kLayerMeta) && !test_model(L, 1);
    if (list) {
        const lua_Integer n = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_geti(L, 1, i);
            add_to_sequential(L, seq, -1);
            lua_pop(L, 1);
        }
    } else {
        for (int i = 1; i < seq; ++i)
            add_to_sequential(L, seq, i);
    }
    lua_pushvalue(L, seq);
    return 1;
}

} // namespace neurite::lua
