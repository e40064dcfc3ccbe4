#pragma once

// Shared by the binding files: how C++ errors become Lua errors, how tensors,
// shapes and parameter lists cross, and the userdata types of each binding.
#include "interrupts.h"
#include "session_state.h"

#include "neurite/core/error.h"
#include "neurite/core/loss.h"
#include "neurite/core/module.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/arena.h"
#include "neurite/core/checkpoint.h"
#include "neurite/core/model.h"
#include "neurite/core/tensor.h"

#include <lua.hpp>

#include <array>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace neurite::lua {

inline constexpr const char *kTensorMeta = "neurite.Tensor";
inline constexpr const char *kLayerMeta = "neurite.Layer";
inline constexpr const char *kModelMeta = "neurite.Model"; // nn.Sequential and nn.Model
inline constexpr const char *kSymbolMeta = "neurite.Symbol"; // nn.Input and what layers make of it
inline constexpr const char *kLossMeta = "neurite.Loss";
inline constexpr const char *kOptimizerMeta = "neurite.Optimizer";

// Raises `message` as a Lua error prefixed with the calling script's position.
[[noreturn]] void raise(lua_State *L, const std::string &message);

// Runs a binding body and returns what it returns. neurite::Error and other
// std::exceptions become Lua errors at the caller's position; Lua's own
// errors (C++ exceptions of another type in this build of Lua) pass through
// untouched.
template <class Fn>
auto guarded(lua_State *L, Fn &&fn) -> decltype(fn())
{
    // A loop of long C calls runs few VM instructions for the hook to
    // count: each binding looks at a pending Ctrl-C or limit itself.
    check_interrupt(L);
    std::string message;
    try {
        return fn();
    } catch (const std::bad_alloc &) {
        message = "out of memory";
    } catch (const std::exception &e) {
        message = e.what();
    }
    raise(L, message);
}

// As raise, at the position of call level `level` (as Lua's error(msg,
// level): 1 is the function that called the binding, 2 its caller).
[[noreturn]] void raise_at(lua_State *L, int level, const std::string &message);

// ---- option tables (options_binding.cpp): the check every binding shares

// Raises "<fn>: unknown option 'epoch' (did you mean 'epochs'?)" for a key
// of the options table at idx that `known` lacks, and "<fn>: expects a
// table of options, got ..." when idx holds no table; at call level `level`.
void check_option_keys(lua_State *L, int idx, const char *fn, const std::vector<std::string> &known,
                       int level = 1);
// The same for an options table the function may go without: nil or
// nothing at idx passes.
void check_optional_options(lua_State *L, int idx, const char *fn, const std::vector<std::string> &known,
                            int level = 1);
// Raises "<fn>: unknown <what> 'f1' (did you mean ...? / <what>s: a, b)"
// unless `value` is one of `choices`.
void check_choice(lua_State *L, const std::string &value, const char *fn, const char *what,
                  const std::vector<std::string> &choices, int level = 1);
// Sets check_options, check_choice and closest_name, their Lua faces, in
// the table at idx.
void register_option_checks(lua_State *L, int table);

// luaL_testudata(L, idx, meta) for the bindings' types (meta is one of the
// k*Meta constants), without its lookup of the name in the registry: a
// training step tests its arguments some twenty times.
void *test_userdata(lua_State *L, int idx, const char *meta);

// "a string", "a tensor", "nil": what a wrong argument was.
std::string describe_value(lua_State *L, int idx);
// The arguments 1..top as print() shows them: tostring'd, tab-separated.
std::string joined_arguments(lua_State *L);
// The registry entry `name`, or a Lua error "<fn>.<name>: unknown plugin ...
// (did you mean ...?)" in the registry's words.
const Entry &require_entry(lua_State *L, const char *name, const char *fn);
// `shown` is the argument number the script sees (0: the same as idx).
[[noreturn]] void arg_error(lua_State *L, int idx, const char *fn, const std::string &expected,
                            int shown = 0);

// ---- tensors

struct TensorBox {
    // For tensors made by the bindings, `value` views floats stored in the
    // userdata itself, right after this struct (see push_new_tensor). It may
    // be a strided view (t:t(), t:narrow(2, ...), t:expand(...)).
    Tensor value;
    bool inline_storage = false;
    // Set by __gc, which a script can call by hand: the box then holds
    // nothing, and every use raises "the tensor was already freed".
    bool freed = false;
    // For parameter values and gradients: the layer and the index of the
    // parameter this views. The layer may be rebound into a model's arena
    // since, so the view is looked up again before each use; a gradient is
    // also synchronised (deferred zero_grad) first.
    std::shared_ptr<Module> owner;
    int param_index = -1; // -1: a view derived from a parameter (reshape, narrow...)
    bool is_grad = false;
    std::shared_ptr<ParameterArena> arena; // keeps the viewed memory alive
    Tensor grad;      // a parameter's gradient view
    std::string name; // a parameter's name
    // For the embedding program (interop.h's to_tensor): a contiguous copy
    // of a strided view, which it reads as rows of memory.
    std::unique_ptr<Tensor> snapshot;
};

// A new tensor userdata. keepalive (a stack index, 0 for none) is stored as
// the userdata's first user value: whatever owns the memory of a view.
TensorBox *push_tensor(lua_State *L, Tensor value, int keepalive = 0);
// A new tensor whose floats live inside the userdata: one allocation instead
// of three, and Lua's collector sees the tensor's real size, so a loop that
// makes large temporaries does not outgrow memory between collections.
// Views of it keep the userdata alive. zero = false leaves it for the caller to fill.
TensorBox *push_new_tensor(lua_State *L, const Shape &shape, bool zero = true);
// A copy of t (any layout) in a new contiguous inline tensor.
TensorBox *push_copy(lua_State *L, const Tensor &t);
// A view of the tensor at idx (whose memory `view` shows): it keeps alive
// whatever keeps the source's memory alive.
TensorBox *push_view(lua_State *L, int idx, Tensor view);
// The userdata at idx, or an error naming the call (also when it was freed).
TensorBox *check_tensor_box(lua_State *L, int idx);
// The tensor at idx, contiguous: a strided view is copied. What code outside
// the tensor bindings reads, so no strided view reaches the core or a plugin.
Tensor check_tensor(lua_State *L, int idx);
// The tensor at idx as it is, possibly a strided view: for the tensor
// bindings, which handle strides.
const Tensor &check_any_tensor(lua_State *L, int idx);
// A live tensor userdata at idx, or nullptr.
TensorBox *test_tensor(lua_State *L, int idx);
// A tensor, or a nested table of numbers (copied into a new tensor); a
// number is a one-element tensor. Contiguous.
Tensor tensor_from_value(lua_State *L, int idx, const char *fn);
// A live view of parameter `index` of p.owner (see TensorBox).
void push_parameter(lua_State *L, const Parameter &p, int index);

Shape shape_from_table(lua_State *L, int idx, const char *fn);
// A table {2, 3} at idx, or numbers from idx to the top.
Shape check_shape_args(lua_State *L, int idx, const char *fn);
// The shape of t:reshape/t:view: a table or numbers from idx, each >= 0 or
// one -1 for the rest of `numel` elements.
Shape reshape_args(lua_State *L, int idx, int64_t numel, const char *fn);
void push_shape(lua_State *L, const Shape &shape);
// Raises when the shape's element count would overflow (or exceed memory).
void check_shape_size(lua_State *L, const Shape &shape, const char *fn);

// Lua counts classes from 1, the plugins from 0; these shift class indices
// (a loss says whether its target holds them: LossFunction::takes_class_indices).
Tensor to_zero_based(const Tensor &target);
Tensor to_one_based(const Tensor &target);

// Each adds its methods to the table at `methods` (tensor_*.cpp).
void open_tensor_views(lua_State *L, int methods);
void open_tensor_math(lua_State *L, int methods);
void open_tensor_reduce(lua_State *L, int methods);
void open_tensor_select(lua_State *L, int methods);
// tensor.where, into the module table at `module`.
void open_tensor_where(lua_State *L, int module);
// tensor.cholesky and tensor.cholesky_solve, into the module table at `module` (linalg_binding.cpp).
void open_tensor_linalg(lua_State *L, int module);
// autograd's recording (autograd_binding.cpp): a table of its private
// functions (_begin, _finish) for autograd.lua; `tensor_module` is the
// tensor table, whose functions it learns the names of.
void push_autograd_core(lua_State *L, int tensor_module);
// The functions of the `tensor` table that build tensors (tensor_build.cpp).
void open_tensor_build(lua_State *L, int module);
std::string tensor_text(const Tensor &t);
// t:save_npy into the methods table, tensor.load_npy into the module table
// (interchange_binding.cpp).
void open_tensor_save_npy(lua_State *L, int methods);
void open_tensor_load_npy(lua_State *L, int module);

// ---- parameters of registry entries

ParamValue param_from_lua(lua_State *L, int idx, const std::string &where);
void push_param_value(lua_State *L, const ParamValue &value);
// Arguments first..top: positional values in schema order, optionally
// followed by (or replaced with) a table of named values.
ParamList params_from_args(lua_State *L, const Entry &entry, int first, const std::string &fn);
std::string config_text(const std::string &name, const ParamList &config);

// ---- layers and models

struct LayerBox {
    std::shared_ptr<Module> module;
    // Runs the layer by itself (layer:forward); made on first use.
    std::unique_ptr<LayerRunner> runner;
    // Applied to symbolic inputs (a node of a graph being built).
    bool applied = false;
};

// nn.Sequential and nn.Model. Its first user value is a table of the
// userdata of its nodes (layers or nested models), by node index.
struct ModelBox {
    std::shared_ptr<Model> model;
    bool applied = false; // used as a node of a graph being built
    Shape last_input;     // for summary() without arguments
};

// Pushes a layer userdata for `module`.
LayerBox *push_layer(lua_State *L, std::shared_ptr<Module> module);
LayerBox *check_layer(lua_State *L, int idx);
ModelBox *check_model(lua_State *L, int idx);
ModelBox *test_model(lua_State *L, int idx);
// Pushes a model userdata, with userdata for each of its nodes.
ModelBox *push_model(lua_State *L, std::shared_ptr<Model> model);
// The trained parameters of the model or layer at idx (buffers = false,
// m:parameters()), or its buffers such as running statistics (m:buffers()).
void push_parameters(lua_State *L, int idx, bool buffers = false);
// Module::sync_grads as a Lua error at the caller's line: it raises when a
// plugin's zero_grad left a gradient non-zero.
void sync_grads(lua_State *L, Module &module);
// In sandbox mode, files are written only below the working directory.
void check_write_path(lua_State *L, const std::string &path, const char *fn);
// Tensors of one argument: a model runs on at most 8 inputs, which are
// kept inline, so that a call in a training loop allocates nothing.
class TensorArgs {
public:
    void push_back(const Tensor &t)
    {
        if (m_count < m_inline.size() && m_more.empty())
            m_inline[m_count] = t;
        else
            spill().push_back(t);
        ++m_count;
    }
    size_t size() const { return m_count; }
    bool empty() const { return m_count == 0; }
    Tensor *begin() { return m_more.empty() ? m_inline.data() : m_more.data(); }
    Tensor *end() { return begin() + m_count; }
    const Tensor *begin() const { return m_more.empty() ? m_inline.data() : m_more.data(); }
    const Tensor *end() const { return begin() + m_count; }
    const Tensor &operator[](size_t i) const { return begin()[i]; }
    operator std::span<const Tensor>() const { return {begin(), m_count}; }

private:
    std::vector<Tensor> &spill()
    {
        if (m_more.empty())
            m_more.assign(m_inline.begin(), m_inline.end());
        return m_more;
    }
    std::array<Tensor, 8> m_inline;
    std::vector<Tensor> m_more; // beyond 8 (the model then names the limit)
    size_t m_count = 0;
};
// The tensor or table of tensors at idx, as a model's inputs (or output gradients).
TensorArgs tensor_list(lua_State *L, int idx, const char *fn, const char *what);
// One tensor for one output, a table of tensors for several.
void push_outputs(lua_State *L, const std::vector<Tensor> &outputs);

// ---- views of a module's buffers (buffer_views.cpp)

// The user value of model, layer and loss userdata that caches the views
// they hand out (model and layer userdata keep their parent in user value 1).
inline constexpr int kViewCacheSlot = 2;
inline constexpr int kLossViewCacheSlot = 1;
enum class BufferKind { output, input_grad };
// Pushes views of `tensors`, buffers of the module whose userdata is at
// `owner` (its outputs, or its input gradients): one tensor, or a table for
// several. A view keeps the module's userdata alive (and the Tensor its
// memory), and the same userdata is returned again while it shows the same
// memory, so a steady loop allocates nothing.
void push_buffer_views(lua_State *L, int owner, int slot, BufferKind kind, std::span<const Tensor> tensors);
// Whether `input` shares memory with an output view the module at `owner`
// handed out: a forward would overwrite it while reading it.
bool aliases_output(lua_State *L, int owner, int slot, const Tensor &input);

// A checkpoint's extra sections as a table: strings, and lists of tensors.
void push_sections(lua_State *L, const Checkpoint &c, const std::string &path);

void register_model_type(lua_State *L);
// m:state_dict and m:load_state_dict into the model's methods table.
void open_model_interchange(lua_State *L, int methods);
// nn.save_npz, nn.load_npz, nn.export_onnx and nn.import_onnx into the nn table.
void open_nn_interchange(lua_State *L, int nn);
int sequential_constructor(lua_State *L);
// nn.Input, nn.Model and layers applied to symbolic tensors.
void register_graph_types(lua_State *L);
int input_constructor(lua_State *L);
int model_constructor(lua_State *L);
// layer(x) or model(x) where x is symbolic: a node of a graph being built.
// The callee is at 1, its symbolic inputs from 2 on.
bool is_symbolic_call(lua_State *L);
int apply_symbolic(lua_State *L);
// The __call of layers and models: a node of a graph for symbolic inputs,
// else forward(self, x) with f(a, b) read as forward{a, b}.
int call_layer(lua_State *L, lua_CFunction forward);

struct OptimizerBox {
    std::unique_ptr<Optimizer> optimizer;
};

void push_loss(lua_State *L, std::unique_ptr<LossFunction> loss);

// Each returns its module table (or registers metatables) on the stack.
void open_tensor(lua_State *L);
void register_layer_types(lua_State *L);
void register_loss_type(lua_State *L);
void open_nn(lua_State *L);
void open_optim(lua_State *L);
void open_monitor(lua_State *L);
// monitor.hparams, final_metrics, run_dir and end_run (run_store_binding.cpp)
// into the monitor table at idx.
void open_run_store_functions(lua_State *L, int monitor);
// Tells the run store that the current run wrote a checkpoint (m:save).
void record_checkpoint(lua_State *L, const std::string &path);
// The train.sweep helpers in the neurite table at idx: worker processes
// for --sweep-parallel (sweep_processes.cpp).
void open_sweep_functions(lua_State *L, int neurite);
void open_data(lua_State *L);
// dist: the ranks of a data-parallel run (dist_binding.cpp).
void open_dist(lua_State *L);
// neurite.json: encode/decode between Lua values and JSON, tensors apart.
void open_json(lua_State *L);
// nn.define: registers a Lua-defined entry; the definition table is at idx.
int define_entry(lua_State *L, int idx);
// When the runtime closes: Lua-defined instances still alive elsewhere stop
// calling into the closed state.
void close_definitions(detail::SessionState &s);

// Registry keys of the module tables, so bindings find them even when a
// script shadows the globals.
inline constexpr const char *kNnRegistryKey = "neurite.nn";
// autograd.lua's function that gives nn.define a backward for a layer
// defined without one (set by autograd._provide_backward).
inline constexpr const char *kAutogradBackwardKey = "neurite.autograd.define";

} // namespace neurite::lua
