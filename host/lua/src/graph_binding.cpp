// The functional API, Keras-style: nn.Input{784} is a symbolic tensor (one
// sample's shape); a layer or model called on symbolic tensors returns the
// symbolic tensors of its outputs, computing nothing; nn.Model{inputs =,
// outputs =} walks back from the outputs and builds the graph.
//
// A symbol's user values hold the graph as it is being built: 1 is the
// layer or model that produced it (nil for nn.Input), 2 a table of the
// symbols it read.
#include "binding.h"

#include <map>

namespace neurite::lua {

namespace {

struct SymbolBox {
    int64_t node = 0;  // the producing node (or input), unique in the session
    int index = 0;     // which of its outputs
    bool input = false;
    std::string name;  // inputs: their name
    Shape sample;      // one sample's shape
};

int next_symbol_id()
{
    static int64_t counter = 0; // identity only: never reused within a process
    return static_cast<int>(++counter);
}

SymbolBox *test_symbol(lua_State *L, int idx)
{
    return static_cast<SymbolBox *>(luaL_testudata(L, idx, kSymbolMeta));
}

SymbolBox *push_symbol(lua_State *L, int64_t node, int index, bool input, Shape sample)
{
    void *mem = lua_newuserdatauv(L, sizeof(SymbolBox), 2);
    auto *box = new (mem) SymbolBox{node, index, input, {}, sample};
    luaL_setmetatable(L, kSymbolMeta);
    return box;
}

int symbol_gc(lua_State *L)
{
    auto *box = static_cast<SymbolBox *>(luaL_checkudata(L, 1, kSymbolMeta));
    box->~SymbolBox();
    new (box) SymbolBox{}; // a second __gc finds an empty box
    return 0;
}

int symbol_tostring(lua_State *L)
{
    const SymbolBox *s = test_symbol(L, 1);
    std::string text = "symbolic tensor [N";
    for (int64_t d : s->sample)
        text += ", " + std::to_string(d);
    text += "]";
    if (s->input)
        text += " (nn.Input '" + s->name + "')";
    lua_pushstring(L, text.c_str());
    return 1;
}

int symbol_shape(lua_State *L)
{
    const SymbolBox *s = static_cast<SymbolBox *>(luaL_checkudata(L, 1, kSymbolMeta));
    push_shape(L, s->sample);
    return 1;
}

// The symbols of a call: f(a, b) or f{a, b}, from index 2.
std::vector<int> symbol_args(lua_State *L)
{
    std::vector<int> idx;
    if (lua_gettop(L) == 2 && lua_istable(L, 2) && !test_symbol(L, 2)) {
        const lua_Integer n = luaL_len(L, 2);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_geti(L, 2, i);
            idx.push_back(lua_gettop(L));
        }
    } else {
        for (int i = 2; i <= lua_gettop(L); ++i)
            idx.push_back(i);
    }
    return idx;
}

Layer *callee(lua_State *L, bool &applied_flag_set, const char **kind)
{
    if (auto *l = static_cast<LayerBox *>(luaL_testudata(L, 1, kLayerMeta))) {
        *kind = "layer";
        if (l->applied)
            return nullptr;
        l->applied = applied_flag_set = true;
        return l->module.get();
    }
    ModelBox *m = check_model(L, 1);
    *kind = "model";
    if (m->applied)
        return nullptr;
    m->applied = applied_flag_set = true;
    return m->model.get();
}

} // namespace

bool is_symbolic_call(lua_State *L)
{
    if (test_symbol(L, 2))
        return true;
    if (lua_gettop(L) == 2 && lua_istable(L, 2) && !test_tensor(L, 2)) {
        lua_geti(L, 2, 1);
        const bool symbolic = test_symbol(L, -1) != nullptr;
        lua_pop(L, 1);
        return symbolic;
    }
    return false;
}

int call_layer(lua_State *L, lua_CFunction forward)
{
    if (is_symbolic_call(L))
        return apply_symbolic(L);
    if (lua_gettop(L) > 2) { // f(a, b): several inputs, as forward{a, b}
        lua_createtable(L, lua_gettop(L) - 1, 0);
        for (int i = 2; i < lua_gettop(L); ++i) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i - 1);
        }
        lua_replace(L, 2);
    }
    lua_settop(L, 2);
    return forward(L);
}

int apply_symbolic(lua_State *L)
{
    const std::vector<int> args = symbol_args(L);
    std::vector<Desc> src;
    for (size_t i = 0; i < args.size(); ++i) {
        const SymbolBox *s = test_symbol(L, args[i]);
        if (!s)
            raise(L, "applying a layer to symbolic tensors: argument " + std::to_string(i + 1) + " is " +
                         describe_value(L, args[i]) + "; mix no tensors with nn.Input's symbols");
        Shape batch{1};
        for (int64_t d : s->sample)
            batch.push_back(d);
        src.emplace_back(batch);
    }
    bool set = false;
    const char *kind = "";
    Layer *layer = callee(L, set, &kind);
    if (!layer)
        raise(L, std::string("this ") + kind + " is already a node of a graph; a " + kind +
                     " is used once (create another)");
    if (layer->parent()) {
        const std::string label = layer->label();
        raise(L, label + " already belongs to a model; create another " + kind);
    }
    std::vector<Desc> dst;
    guarded(L, [&] {
        try {
            layer->prepare(src, dst); // output shapes, and the early error for inputs that do not fit
        } catch (...) {
            if (auto *l = static_cast<LayerBox *>(luaL_testudata(L, 1, kLayerMeta)))
                l->applied = false;
            else
                check_model(L, 1)->applied = false;
            throw;
        }
        return 0;
    });
    lua_createtable(L, static_cast<int>(args.size()), 0);
    const int inputs = lua_gettop(L);
    for (size_t i = 0; i < args.size(); ++i) {
        lua_pushvalue(L, args[i]);
        lua_rawseti(L, inputs, static_cast<lua_Integer>(i + 1));
    }
    const int64_t node = next_symbol_id();
    for (size_t j = 0; j < dst.size(); ++j) {
        Shape sample;
        for (int d = 1; d < dst[j].shape.size(); ++d)
            sample.push_back(dst[j].shape[d]);
        push_symbol(L, node, static_cast<int>(j), false, sample);
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, inputs);
        lua_setiuservalue(L, -2, 2);
    }
    return static_cast<int>(dst.size());
}

// nn.Input{784}, nn.Input{1, 28, 28}, nn.Input{shape = {784}, name = "pixels"}
int input_constructor(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    std::string name;
    Shape shape;
    lua_getfield(L, 1, "shape");
    if (!lua_isnil(L, -1) || lua_rawlen(L, 1) == 0) // the named form: a typo is refused by name
        check_option_keys(L, 1, "nn.Input", {"shape", "name"});
    if (lua_istable(L, -1)) {
        shape = shape_from_table(L, -1, "nn.Input");
        lua_getfield(L, 1, "name");
        if (!lua_isnil(L, -1))
            name = luaL_checkstring(L, -1);
        lua_pop(L, 1);
    } else {
        shape = shape_from_table(L, 1, "nn.Input");
    }
    lua_pop(L, 1);
    if (shape.empty())
        raise(L, "nn.Input: give one sample's shape, e.g. nn.Input{784} or nn.Input{1, 28, 28}");
    for (int64_t d : shape)
        if (d < 1)
            raise(L, "nn.Input: dimensions must be at least 1, got " + shape.to_string());
    SymbolBox *s = push_symbol(L, next_symbol_id(), 0, true, shape);
    s->name = name;
    return 1;
}

namespace {

struct GraphBuild {
    lua_State *L;
    int inputs_table, outputs_table, staging;
    std::map<int64_t, int> input_index; // symbol node -> model input
    std::map<int64_t, int> node_index;  // symbol node -> model node
    std::map<int64_t, bool> visiting;
    Model *model;
    int node_userdata; // table: model node index (1-based) -> layer/model userdata
};

// Adds the node producing the symbol at idx after everything it reads.
Model::Ref visit(GraphBuild &g, int idx, const std::string &where)
{
    lua_State *L = g.L;
    idx = lua_absindex(L, idx);
    const SymbolBox *s = test_symbol(L, idx);
    if (!s)
        raise(L, "nn.Model: " + where + " is " + describe_value(L, idx) + ", expected a symbolic tensor");
    if (s->input) {
        auto it = g.input_index.find(s->node);
        if (it == g.input_index.end())
            raise(L, "nn.Model: " + where + " depends on nn.Input" +
                         (s->name.empty() ? std::string() : " '" + s->name + "'") +
                         ", which is not among the model's inputs");
        return {Model::kInput, it->second};
    }
    if (auto it = g.node_index.find(s->node); it != g.node_index.end())
        return {it->second, s->index};
    if (g.visiting[s->node])
        raise(L, "nn.Model: the graph has a cycle at " + where);
    g.visiting[s->node] = true;
    std::vector<Model::Ref> refs;
    lua_getiuservalue(L, idx, 2);
    const int reads = lua_gettop(L);
    const lua_Integer n = luaL_len(L, reads);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, reads, i);
        refs.push_back(visit(g, -1, "input " + std::to_string(i) + " of a node"));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getiuservalue(L, idx, 1);
    std::shared_ptr<Layer> layer;
    if (auto *l = static_cast<LayerBox *>(luaL_testudata(L, -1, kLayerMeta)))
        layer = l->module;
    else
        layer = check_model(L, lua_gettop(L))->model;
    const int node = guarded(L, [&] { return g.model->add_node(layer, refs); });
    lua_rawseti(L, g.node_userdata, node + 1);
    g.node_index[s->node] = node;
    return {node, s->index};
}

// The symbol, or the list of symbols, under key `field` of the options.
int symbols_of(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    if (test_symbol(L, -1)) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (!lua_istable(L, -1)) {
        raise(L, std::string("nn.Model: '") + field + "' must be a symbolic tensor (from nn.Input) "
                 "or a table of them, got " + describe_value(L, -1));
    }
    return lua_gettop(L);
}

} // namespace

// nn.Model{inputs = x | {x1, x2}, outputs = y | {y1, y2}}
int model_constructor(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    check_option_keys(L, 1, "nn.Model", {"inputs", "outputs"});
    GraphBuild g{L, symbols_of(L, "inputs"), symbols_of(L, "outputs"), 0, {}, {}, {}, nullptr, 0};
    auto model = std::make_shared<Model>();
    g.model = model.get();
    lua_newtable(L);
    g.node_userdata = lua_gettop(L);
    const lua_Integer n_in = luaL_len(L, g.inputs_table);
    if (n_in == 0)
        raise(L, "nn.Model: 'inputs' is empty");
    for (lua_Integer i = 1; i <= n_in; ++i) {
        lua_rawgeti(L, g.inputs_table, i);
        const SymbolBox *s = test_symbol(L, -1);
        if (!s || !s->input)
            raise(L, "nn.Model: input " + std::to_string(i) + " must come from nn.Input, got " +
                         (s ? std::string("a layer's output") : describe_value(L, -1)));
        if (g.input_index.count(s->node))
            raise(L, "nn.Model: input " + std::to_string(i) + " is listed twice");
        const std::string name = s->name;
        const Shape sample = s->sample;
        g.input_index[s->node] = guarded(L, [&] { return model->add_input(sample, name); });
        lua_pop(L, 1);
    }
    std::vector<Model::Ref> outputs;
    const lua_Integer n_out = luaL_len(L, g.outputs_table);
    if (n_out == 0)
        raise(L, "nn.Model: 'outputs' is empty");
    for (lua_Integer i = 1; i <= n_out; ++i) {
        lua_rawgeti(L, g.outputs_table, i);
        outputs.push_back(visit(g, -1, "output " + std::to_string(i)));
        lua_pop(L, 1);
    }
    guarded(L, [&] {
        model->set_outputs(outputs);
        model->finalize();
        return 0;
    });
    // The model's userdata, with the script's own layer userdata as its nodes.
    push_model(L, model);
    const int self = lua_gettop(L);
    for (int i = 1; i <= model->node_count(); ++i) {
        lua_rawgeti(L, g.node_userdata, i);
        lua_pushvalue(L, self);
        lua_setiuservalue(L, -2, 1);
        if (auto *l = static_cast<LayerBox *>(luaL_testudata(L, -1, kLayerMeta)))
            l->applied = false;
        else if (ModelBox *m = test_model(L, -1))
            m->applied = false;
        lua_pop(L, 1);
    }
    lua_pushvalue(L, g.node_userdata);
    lua_setiuservalue(L, self, 1);
    return 1;
}

void register_graph_types(lua_State *L)
{
    luaL_newmetatable(L, kSymbolMeta);
    static const luaL_Reg methods[] = {{"shape", symbol_shape}, {nullptr, nullptr}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", symbol_gc}, {"__tostring", symbol_tostring}, {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "symbolic tensor");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

} // namespace neurite::lua
