#include "neurite/core/model.h"

#include "neurite/core/arena.h"
#include "neurite/core/error.h"
#include "neurite/core/precision.h"

#include "model_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace neurite {

namespace {

constexpr size_t kMaxPlans = 4; // batch size, last partial batch, evaluation, spare

// Where flat index `flat` of a batch lies, counted from 1 as everywhere in
// the Lua API: "sample 3, feature 5" for [N, F], "sample 3, element [1, 2, 5]"
// for images and the like, "element 7" for a single vector.
std::string position_of(const Shape &shape, int64_t flat)
{
    if (shape.size() < 2)
        return "element " + std::to_string(flat + 1);
    const int64_t per_sample = shape.numel() / shape[0];
    std::string where = "sample " + std::to_string(flat / per_sample + 1) + ", ";
    int64_t within = flat % per_sample;
    if (shape.size() == 2)
        return where + "feature " + std::to_string(within + 1);
    std::string index;
    for (int d = shape.size() - 1; d >= 1; --d) {
        index = std::to_string(within % shape[d] + 1) + (index.empty() ? "" : ", ") + index;
        within /= shape[d];
    }
    return where + "element [" + index + "]";
}

} // namespace

class RunningScope {
public:
    RunningScope(Model &m, const char *what) : m_model(m)
    {
        // The model this one is a node of runs it through forward(call);
        // anyone else must find every enclosing model idle.
        if (m.m_running || (!m.m_called_by_parent && m.running()))
            m.require_idle(m.type_name() + ": " + what);
        m.m_running = true;
    }
    ~RunningScope() { m_model.m_running = false; }
    RunningScope(const RunningScope &) = delete;
    RunningScope &operator=(const RunningScope &) = delete;

private:
    Model &m_model;
};

namespace {

struct CalledByParent {
    explicit CalledByParent(bool &flag) : m_flag(flag) { m_flag = true; }
    ~CalledByParent() { m_flag = false; }
    bool &m_flag;
};

} // namespace

bool Model::running() const
{
    for (const Model *m = this; m; m = m->parent())
        if (m->m_running)
            return true;
    return false;
}

void Model::require_idle(const std::string &what) const
{
    if (running())
        throw Error(what + ": the model is computing (a Lua-defined layer called its own model, "
                           "or changed it, while it ran)");
}

Model::Model(std::string type_name) : m_type_name(std::move(type_name)), m_precision(default_precision())
{
    set_label(m_type_name);
}

Model::~Model()
{
    for (Node &n : m_nodes)
        if (n.layer && n.layer->parent() == this)
            n.layer->set_parent(nullptr);
}

std::string Model::ref_text(const Ref &r) const
{
    if (r.node == kInput)
        return "input " + std::to_string(r.index + 1);
    std::string s = "node " + std::to_string(r.node + 1);
    if (r.node >= 0 && r.node < node_count())
        s += " (" + m_nodes[static_cast<size_t>(r.node)].layer->type_name() + ")";
    if (r.index > 0)
        s += " output " + std::to_string(r.index + 1);
    return s;
}

void Model::invalidate()
{
    require_idle(m_type_name + ": changing the model");
    m_finalized = false;
    m_bound = false;
    m_plans.clear();
    m_last = nullptr;
    for (Model *p = parent(); p; p = p->parent())
        p->invalidate();
}

int Model::add_input(std::optional<Shape> sample_shape, std::string name)
{
    if (name.empty())
        name = "input" + std::to_string(m_inputs.size() + 1);
    m_inputs.push_back({std::move(name), sample_shape});
    invalidate();
    return input_count() - 1;
}

int Model::add_node(std::shared_ptr<Layer> layer, std::vector<Ref> inputs)
{
    if (!layer)
        throw Error(m_type_name + ": cannot add an empty layer");
    if (layer->parent())
        throw Error(m_type_name + ": " + layer->label() +
                    " already belongs to a model; a layer is a node of one model only "
                    "(create another layer, or use the whole model as a node)");
    for (Model *m = this; m; m = m->parent())
        if (m == layer.get())
            throw Error(m_type_name + ": a model cannot be a node of itself: that is a cycle");
    if (inputs.empty())
        throw Error(m_type_name + ": " + layer->type_name() + " needs at least one input");
    const int index = node_count();
    if (auto *inner = dynamic_cast<Model *>(layer.get()); inner && inner->parent() == nullptr)
        inner->invalidate();
    layer->set_parent(this);
    if (m_type_name != "Sequential")
        layer->set_label(layer->type_name() + " (node " + std::to_string(index + 1) + ")");
    m_nodes.push_back({std::move(layer), std::move(inputs)});
    invalidate();
    return index;
}

int Model::add_borrowed_node(std::shared_ptr<Layer> layer, std::vector<Ref> inputs)
{
    if (!layer)
        throw Error(m_type_name + ": cannot add an empty layer");
    m_borrowed = true;
    m_nodes.push_back({std::move(layer), std::move(inputs)});
    invalidate();
    return node_count() - 1;
}

void Model::set_outputs(std::vector<Ref> outputs)
{
    m_outputs = std::move(outputs);
    invalidate();
}

void Model::finalize()
{
    if (m_finalized)
        return;
    const int n = node_count();
    if (m_outputs.empty())
        throw Error(m_type_name + ": the model has no outputs" +
                    (n == 0 ? std::string(" (no layers)") : std::string()));
    auto check_ref = [&](const Ref &r, const std::string &where) {
        const bool ok = r.node == kInput ? r.index >= 0 && r.index < input_count()
                                         : r.node >= 0 && r.node < n && r.index >= 0;
        if (!ok)
            throw Error(m_type_name + ": " + where + " refers to " + ref_text(r) + ", which does not exist");
    };
    std::vector<std::vector<int>> readers(static_cast<size_t>(n));
    std::vector<int> pending(static_cast<size_t>(n), 0);
    for (int i = 0; i < n; ++i)
        for (const Ref &r : m_nodes[static_cast<size_t>(i)].inputs) {
            check_ref(r, ref_text({i, 0}));
            if (r.node != kInput) {
                readers[static_cast<size_t>(r.node)].push_back(i);
                ++pending[static_cast<size_t>(i)];
            }
        }
    for (const Ref &r : m_outputs)
        check_ref(r, "an output");

    // Kahn's algorithm, lowest index first, so a graph built in order keeps it.
    std::vector<int> order;
    std::vector<int> ready;
    for (int i = n - 1; i >= 0; --i)
        if (pending[static_cast<size_t>(i)] == 0)
            ready.push_back(i);
    while (!ready.empty()) {
        std::sort(ready.begin(), ready.end(), std::greater<>());
        const int i = ready.back();
        ready.pop_back();
        order.push_back(i);
        for (int r : readers[static_cast<size_t>(i)])
            if (--pending[static_cast<size_t>(r)] == 0)
                ready.push_back(r);
    }
    if (static_cast<int>(order.size()) != n) {
        std::string cycle;
        for (int i = 0; i < n; ++i)
            if (pending[static_cast<size_t>(i)] > 0)
                cycle += (cycle.empty() ? "" : ", ") + ref_text({i, 0});
        throw Error(m_type_name + ": the graph has a cycle through " + cycle);
    }

    // Everything must lead to an output, and every input must be read.
    std::vector<bool> used(static_cast<size_t>(n), false), input_used(m_inputs.size(), false);
    std::vector<int> stack;
    auto visit = [&](const Ref &r) {
        if (r.node == kInput)
            input_used[static_cast<size_t>(r.index)] = true;
        else if (!used[static_cast<size_t>(r.node)]) {
            used[static_cast<size_t>(r.node)] = true;
            stack.push_back(r.node);
        }
    };
    for (const Ref &r : m_outputs)
        visit(r);
    while (!stack.empty()) {
        const int i = stack.back();
        stack.pop_back();
        for (const Ref &r : m_nodes[static_cast<size_t>(i)].inputs)
            visit(r);
    }
    for (int i = 0; i < n; ++i)
        if (!used[static_cast<size_t>(i)])
            throw Error(m_type_name + ": " + ref_text({i, 0}) + " is not used by any output");
    for (int i = 0; i < input_count(); ++i)
        if (!input_used[static_cast<size_t>(i)])
            throw Error(m_type_name + ": " + ref_text({kInput, i}) + " ('" + m_inputs[static_cast<size_t>(i)].name +
                        "') is not used by any output");
    m_order = std::move(order);
    m_finalized = true;
}

void Model::collect_modules(std::vector<Module *> &out)
{
    finalize();
    for (int i : m_order)
        m_nodes[static_cast<size_t>(i)].layer->collect_modules(out);
}

void Model::bind_parameters()
{
    if (parent())
        return; // the outermost model binds every parameter inside it
    std::vector<Module *> modules;
    collect_modules(modules);
    if (m_borrowed) { // the layers' own models bind them
        for (Module *m : modules)
            m->ensure_bound();
        m_bound = true;
        return;
    }
    const bool bf16 = m_precision == DType::BF16;
    bool same = m_bound && m_arena;
    for (Module *m : modules)
        if (m->host_owned() && !m->param_slots().empty() && m->arena() != m_arena)
            same = false;
    if (same) {
        m_arena->set_bf16(modules, bf16);
        return;
    }
    m_arena = ParameterArena::adopt(modules, bf16);
    m_bound = true;
}

void Model::set_precision(DType precision)
{
    if (precision == m_precision)
        return;
    if (precision == DType::BF16)
        require_bf16(m_type_name + ":set_precision");
    require_idle(m_type_name + ": set_precision");
    // New plans (the tensors change dtype); the parameters stay where they
    // are, so optimizers made before keep working, and gain or lose their
    // bf16 copy.
    m_precision = precision;
    m_plans.clear();
    m_last = nullptr;
    if (m_bound && m_arena && !parent() && !m_borrowed) {
        std::vector<Module *> modules;
        collect_modules(modules);
        m_arena->set_bf16(modules, precision == DType::BF16);
    }
}

DType Model::precision() const { return parent() ? parent()->precision() : m_precision; }

std::shared_ptr<ParameterArena> Model::arena()
{
    if (parent())
        return parent()->arena();
    bind_parameters();
    return m_arena;
}

void Model::check_inputs(std::span<const Tensor> inputs, const char *call, bool finite) const
{
    if (static_cast<int>(inputs.size()) != input_count())
        throw Error(m_type_name + ": " + call + " takes " + std::to_string(input_count()) + " input" +
                    (input_count() == 1 ? "" : "s") + ", got " + std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor &x = inputs[i];
        const std::string which = input_count() == 1 ? "input" : "input " + std::to_string(i + 1);
        if (!x.defined() || x.dim() < 1)
            throw Error(m_type_name + ": " + call + " on an empty " + which);
        if (!x.is_contiguous())
            throw Error(m_type_name + ": " + which + " " + x.shape().to_string() +
                        " is a strided view (a transpose or narrow); pass x:contiguous()");
        const auto &sample = m_inputs[i].sample_shape;
        if (sample) {
            bool fits = x.dim() == sample->size() + 1;
            for (int d = 0; fits && d < sample->size(); ++d)
                fits = x.size(d + 1) == (*sample)[d];
            if (!fits && !flattens_to_declared(i, x))
                throw Error(m_type_name + ": " + which + " " + x.shape().to_string() +
                            " does not match the declared sample shape " + sample->to_string() +
                            " (with the batch first: [N, ...])");
        }
        if (finite)
            require_finite_input(i, x);
    }
}

void Model::require_finite_input(size_t i, const Tensor &x) const
{
    if (int64_t bad = x.first_non_finite(); bad >= 0) {
        const std::string which = input_count() == 1 ? "input" : "input " + std::to_string(i + 1);
        throw Error(m_type_name + ": " + which + " " + x.shape().to_string() + " holds " +
                    (std::isnan(x[bad]) ? "NaN" : x[bad] > 0 ? "Inf" : "-Inf") + " at " +
                    position_of(x.shape(), bad) + "; NaN and Inf cannot be trained on");
    }
}

bool Model::flattens_to_declared(size_t i, const Tensor &x) const
{
    const auto &sample = m_inputs[i].sample_shape;
    return sample && sample->size() == 1 && x.dim() > 2 && x.numel() == x.size(0) * (*sample)[0];
}

Tensor Model::as_declared(size_t i, const Tensor &x) const
{
    if (i >= m_inputs.size() || !flattens_to_declared(i, x))
        return x;
    return x.reshape(Shape{x.size(0), (*m_inputs[i].sample_shape)[0]});
}

detail::Plan &Model::plan_for(std::span<const Shape> shapes)
{
    finalize();
    for (size_t i = m_plans.size(); i-- > 0;) {
        detail::Plan &p = *m_plans[i];
        if (std::equal(shapes.begin(), shapes.end(), p.input_shapes.begin(), p.input_shapes.end())) {
            if (i + 1 != m_plans.size())
                std::rotate(m_plans.begin() + static_cast<long>(i), m_plans.begin() + static_cast<long>(i) + 1,
                            m_plans.end());
            return *m_plans.back();
        }
    }
    auto plan = detail::build_plan(*this, m_order, shapes);
    bind_parameters(); // after prepare: lazily declared parameters exist now
    if (m_plans.size() == kMaxPlans) {
        if (m_last == m_plans.front().get())
            m_last = nullptr;
        m_plans.erase(m_plans.begin());
    }
    m_plans.push_back(std::move(plan));
    return *m_plans.back();
}

const std::vector<Tensor> &Model::forward(std::span<const Tensor> inputs)
{
    RunningScope running(*this, "forward");
    // A bf16 model checks for NaN and Inf below, once its plan is known.
    const bool deferred_check = precision() == DType::BF16;
    check_inputs(inputs, "forward", !deferred_check);
    Shape shapes[8];
    Tensor declared[8];
    if (inputs.size() > std::size(shapes))
        throw Error(m_type_name + ": at most 8 inputs");
    for (size_t i = 0; i < inputs.size(); ++i) {
        declared[i] = as_declared(i, inputs[i]);
        shapes[i] = declared[i].shape();
    }
    const std::span<const Tensor> given = inputs; // as the caller passed them: for messages
    inputs = std::span<const Tensor>(declared, inputs.size());
    detail::Plan &plan = plan_for(std::span<const Shape>(shapes, inputs.size()));
    if (!m_bound && !parent())
        bind_parameters();
    m_last = nullptr; // a failing forward leaves nothing to go backward through
    // A bf16 model rounds its inputs to bf16 in a pass that also finds NaN
    // and Inf, before any layer runs; other inputs are scanned here.
    for (size_t i = 0; deferred_check && i < inputs.size(); ++i)
        if (!detail::input_checked_by_conversion(plan, m_order, i))
            require_finite_input(i, given[i]);
    if (const int bad = detail::convert_inputs(plan, m_order, inputs); bad >= 0)
        require_finite_input(static_cast<size_t>(bad), given[static_cast<size_t>(bad)]);
    if (m_arena && !parent())
        m_arena->refresh_bf16(); // the optimizer (or a script) changed the f32 values since
    detail::run_forward(*this, plan, m_order, inputs);
    m_last = &plan;
    return plan.outputs;
}

void Model::set_node_timing(bool on)
{
    m_node_timing = on;
    m_node_times.assign(m_nodes.size(), NodeTime{});
}

const Tensor &Model::forward(const Tensor &input)
{
    const std::vector<Tensor> &out = forward(std::span<const Tensor>(&input, 1));
    if (out.size() != 1)
        throw Error(m_type_name + ": forward of one tensor on a model with " +
                    std::to_string(out.size()) + " outputs; it returns them all from forward{...}");
    return out[0];
}

const std::vector<Tensor> &Model::backward(std::span<const Tensor> inputs,
                                           std::span<const Tensor> output_grads, bool input_grads)
{
    RunningScope running(*this, "backward");
    if (!m_last)
        throw Error(m_type_name + ": backward before any forward");
    detail::Plan &plan = *m_last;
    const std::span<const Tensor> given = inputs;
    Tensor declared[8];
    bool flattened = false;
    for (size_t i = 0; i < std::min(inputs.size(), std::size(declared)); ++i) {
        declared[i] = as_declared(i, inputs[i]);
        flattened = flattened || !(declared[i].shape() == inputs[i].shape());
    }
    if (inputs.size() <= std::size(declared))
        inputs = std::span<const Tensor>(declared, inputs.size());
    bool same = inputs.size() == plan.input_shapes.size();
    for (size_t i = 0; same && i < inputs.size(); ++i)
        same = inputs[i].shape() == plan.input_shapes[i];
    if (!same) {
        std::string got, last;
        for (const Tensor &t : inputs)
            got += (got.empty() ? "" : ", ") + t.shape().to_string();
        for (const Shape &s : plan.input_shapes)
            last += (last.empty() ? "" : ", ") + s.to_string();
        throw Error(m_type_name + ": backward on input " + got + " but the last forward was on " + last);
    }
    if (output_grads.size() != plan.outputs.size())
        throw Error(m_type_name + ": backward takes " + std::to_string(plan.outputs.size()) +
                    " output gradient" + (plan.outputs.size() == 1 ? "" : "s") + ", got " +
                    std::to_string(output_grads.size()));
    for (size_t o = 0; o < output_grads.size(); ++o)
        if (!(output_grads[o].shape() == plan.outputs[o].shape()))
            throw Error(m_type_name + ": the gradient of output " + std::to_string(o + 1) + " " +
                        output_grads[o].shape().to_string() + " does not match the output " +
                        plan.outputs[o].shape().to_string());
    detail::run_backward(*this, plan, m_order, inputs, output_grads, input_grads);
    if (!input_grads)
        return m_empty;
    if (!flattened)
        return plan.input_grads;
    // Gradients shaped as the inputs the caller passed, not as the flat views that ran.
    m_input_grad_views.resize(plan.input_grads.size());
    for (size_t i = 0; i < plan.input_grads.size(); ++i)
        m_input_grad_views[i] = plan.input_grads[i].defined() ? plan.input_grads[i].reshape(given[i].shape())
                                                               : plan.input_grads[i];
    return m_input_grad_views;
}

const Tensor &Model::backward(const Tensor &input, const Tensor &grad_output, bool input_grad)
{
    const std::vector<Tensor> &g = backward(std::span<const Tensor>(&input, 1),
                                            std::span<const Tensor>(&grad_output, 1), input_grad);
    static const Tensor empty;
    return input_grad ? g.at(0) : empty;
}

Tensor Model::node_output(int node, int index)
{
    if (!m_last)
        throw Error(m_type_name + ": no forward has run yet");
    detail::Plan &plan = *m_last;
    if (node < 0 || node >= node_count() || index < 0 ||
        index >= static_cast<int>(plan.nodes[static_cast<size_t>(node)].out_values.size()))
        throw Error(m_type_name + ": " + ref_text({node, index}) + " does not exist");
    detail::ValuePlan &v =
        plan.values[static_cast<size_t>(plan.nodes[static_cast<size_t>(node)].out_values[static_cast<size_t>(index)])];
    Tensor out(v.desc.shape);
    if (v.desc.plain_f32()) {
        out.copy_from(Tensor::view(v.act.data(), v.desc.shape));
    } else {
        detail::Conversion c(v.desc, v.act.data(), Desc(v.desc.shape), out.data());
        c.run();
    }
    return out;
}

void Model::zero_grad()
{
    finalize();
    for (int i : m_order) {
        Layer &l = *m_nodes[static_cast<size_t>(i)].layer;
        if (auto *m = dynamic_cast<Module *>(&l))
            m->zero_grad(true); // the optimizer syncs before it reads
        else if (auto *inner = dynamic_cast<Model *>(&l))
            inner->zero_grad();
    }
}

std::vector<Parameter> Model::parameters()
{
    if (!parent())
        bind_parameters();
    std::vector<Module *> modules;
    collect_modules(modules);
    std::vector<Parameter> all;
    for (Module *m : modules) {
        m->sync_grads();
        for (Parameter &p : m->parameters())
            all.push_back(std::move(p));
    }
    return all;
}

int64_t Model::parameter_count()
{
    std::vector<Module *> modules;
    collect_modules(modules);
    int64_t n = 0;
    for (Module *m : modules)
        n += m->parameter_count();
    return n;
}

void Model::set_training(bool training)
{
    Layer::set_training(training);
    for (Node &n : m_nodes)
        n.layer->set_training(training);
}

// ---- as a node of another model

size_t Model::prepare(std::span<Desc> src, std::vector<Desc> &dst)
{
    Shape shapes[8];
    if (src.size() > std::size(shapes) || static_cast<int>(src.size()) != input_count())
        throw Error(label() + ": takes " + std::to_string(input_count()) + " inputs, got " +
                    std::to_string(src.size()));
    for (size_t i = 0; i < src.size(); ++i) {
        src[i].dtype = DType::F32;
        src[i].format = NRT_FORMAT_PLAIN;
        shapes[i] = src[i].shape;
    }
    const detail::Plan &plan = plan_for(std::span<const Shape>(shapes, src.size()));
    dst.clear();
    for (const Tensor &t : plan.outputs)
        dst.emplace_back(t.shape());
    bump_prepare_epoch();
    return 0;
}

void Model::forward(const nrt_layer_call &call)
{
    CalledByParent scope(m_called_by_parent);
    Tensor in[8];
    for (int i = 0; i < call.src_count; ++i)
        in[i] = Tensor::view(static_cast<float *>(call.src[i].data),
                             Shape(std::span<const int64_t>(call.src[i].dims, static_cast<size_t>(call.src[i].ndims))));
    const std::vector<Tensor> &out = forward(std::span<const Tensor>(in, static_cast<size_t>(call.src_count)));
    for (int j = 0; j < call.dst_count; ++j)
        std::memcpy(call.dst[j].data, out[static_cast<size_t>(j)].data(),
                    static_cast<size_t>(out[static_cast<size_t>(j)].numel()) * sizeof(float));
}

void Model::backward(const nrt_layer_call &call)
{
    CalledByParent scope(m_called_by_parent);
    Tensor in[8], grads[16];
    bool want = false;
    for (int i = 0; i < call.src_count; ++i) {
        in[i] = Tensor::view(static_cast<float *>(call.src[i].data),
                             Shape(std::span<const int64_t>(call.src[i].dims, static_cast<size_t>(call.src[i].ndims))));
        want = want || (call.diff_src && call.diff_src[i].data);
    }
    for (int j = 0; j < call.dst_count; ++j)
        grads[j] = Tensor::view(static_cast<float *>(call.diff_dst[j].data),
                                Shape(std::span<const int64_t>(call.diff_dst[j].dims,
                                                               static_cast<size_t>(call.diff_dst[j].ndims))));
    const std::vector<Tensor> &g =
        backward(std::span<const Tensor>(in, static_cast<size_t>(call.src_count)),
                 std::span<const Tensor>(grads, static_cast<size_t>(call.dst_count)), want);
    for (int i = 0; want && i < call.src_count; ++i)
        if (call.diff_src[i].data)
            std::memcpy(call.diff_src[i].data, g[static_cast<size_t>(i)].data(),
                        static_cast<size_t>(g[static_cast<size_t>(i)].numel()) * sizeof(float));
}

// ---- summary

std::vector<std::vector<Desc>> Model::node_outputs(std::span<const Shape> input_shapes)
{
    RunningScope running(*this, "summary");
    const detail::Plan &plan = plan_for(input_shapes);
    std::vector<std::vector<Desc>> out(m_nodes.size());
    for (size_t i = 0; i < m_nodes.size(); ++i)
        for (int v : plan.nodes[i].out_values)
            out[i].push_back(plan.values[static_cast<size_t>(v)].desc);
    return out;
}

std::vector<Model::SummaryRow> Model::summary(std::span<const Shape> input_shapes)
{
    const auto outputs = node_outputs(input_shapes);
    std::vector<SummaryRow> rows;
    for (int i : m_order) {
        const Node &n = m_nodes[static_cast<size_t>(i)];
        std::vector<Module *> modules;
        n.layer->collect_modules(modules);
        int64_t count = 0;
        for (Module *m : modules)
            count += m->parameter_count();
        SummaryRow row{i + 1, n.layer->type_name(), outputs[static_cast<size_t>(i)], count, {}};
        for (const Ref &r : n.inputs)
            row.inputs.push_back(r.node == kInput ? "input " + std::to_string(r.index + 1)
                                 : "node " + std::to_string(r.node + 1) +
                                       (r.index ? ":" + std::to_string(r.index + 1) : ""));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string Model::summary_text(std::span<const Shape> input_shapes)
{
    const auto rows = summary(input_shapes);
    const bool chain = m_type_name == "Sequential";
    std::string text = chain ? "  #  layer            output             parameters\n"
                             : "  #  node             output             parameters  inputs\n";
    char line[256];
    for (const SummaryRow &r : rows) {
        std::string outs;
        for (const Desc &d : r.outputs)
            outs += (outs.empty() ? "" : " ") + d.shape.to_string();
        std::string ins;
        for (const std::string &s : r.inputs)
            ins += (ins.empty() ? "" : ", ") + s;
        std::snprintf(line, sizeof line, "%3d  %-16s %-18s %10lld%s%s\n", r.index, r.name.c_str(),
                      outs.c_str(), static_cast<long long>(r.parameters), chain ? "" : "  ",
                      chain ? "" : ins.c_str());
        text += line;
    }
    std::string ins;
    for (const Shape &s : input_shapes)
        ins += (ins.empty() ? "" : ", ") + s.to_string();
    std::snprintf(line, sizeof line, "     input %s, %lld parameters in all\n", ins.c_str(),
                  static_cast<long long>(parameter_count()));
    text += line;
    if (precision() == DType::BF16)
        text += "     precision bf16: bf16 layers, f32 master weights\n";
    return text;
}

// ---- LayerRunner

LayerRunner::LayerRunner(std::shared_ptr<Layer> layer) : m_layer(std::move(layer))
{
    if (!m_layer)
        throw Error("LayerRunner: no layer");
}

Model &LayerRunner::model_for(size_t inputs, std::span<const Shape> shapes)
{
    if (m_model && m_inputs == inputs)
        return *m_model;
    // How many outputs: the layer says so in prepare.
    std::vector<Desc> src, dst;
    for (const Shape &s : shapes)
        src.emplace_back(s);
    m_layer->prepare(src, dst);
    auto model = std::make_unique<Model>(m_layer->label());
    // The layer's parameters stay in its own model's arena, which holds a
    // bf16 copy only when that model computes in bf16: run in f32.
    model->set_precision(DType::F32);
    std::vector<Model::Ref> refs;
    for (size_t i = 0; i < inputs; ++i)
        refs.push_back({Model::kInput, model->add_input()});
    const int node = model->add_borrowed_node(m_layer, refs);
    std::vector<Model::Ref> outs;
    for (size_t j = 0; j < dst.size(); ++j)
        outs.push_back({node, static_cast<int>(j)});
    model->set_outputs(outs);
    m_model = std::move(model);
    m_inputs = inputs;
    return *m_model;
}

const std::vector<Tensor> &LayerRunner::forward(std::span<const Tensor> inputs)
{
    if (m_layer->parent())
        m_layer->parent()->require_idle(m_layer->label() + ": forward");
    Shape shapes[8];
    for (size_t i = 0; i < inputs.size() && i < std::size(shapes); ++i)
        shapes[i] = inputs[i].shape();
    return model_for(inputs.size(), std::span<const Shape>(shapes, std::min<size_t>(inputs.size(), 8)))
        .forward(inputs);
}

const Tensor &LayerRunner::forward(const Tensor &input)
{
    const std::vector<Tensor> &out = forward(std::span<const Tensor>(&input, 1));
    if (out.size() != 1)
        throw Error(m_layer->label() + ": has " + std::to_string(out.size()) + " outputs");
    return out[0];
}

const std::vector<Tensor> &LayerRunner::backward(std::span<const Tensor> inputs,
                                                 std::span<const Tensor> output_grads, bool input_grads)
{
    if (m_layer->parent())
        m_layer->parent()->require_idle(m_layer->label() + ": backward");
    if (!m_model || m_inputs != inputs.size())
        throw Error(m_layer->label() + ": backward before a forward on " + std::to_string(inputs.size()) +
                    " input" + (inputs.size() == 1 ? "" : "s"));
    return m_model->backward(inputs, output_grads, input_grads);
}

const Tensor &LayerRunner::backward(const Tensor &input, const Tensor &grad_output, bool input_grad)
{
    const std::vector<Tensor> &g =
        backward(std::span<const Tensor>(&input, 1), std::span<const Tensor>(&grad_output, 1), input_grad);
    static const Tensor empty;
    return input_grad ? g.at(0) : empty;
}

std::vector<Shape> LayerRunner::output_shapes(std::span<const Shape> inputs)
{
    Model &m = model_for(inputs.size(), inputs);
    const auto descs = m.node_outputs(inputs);
    std::vector<Shape> out;
    for (const Desc &d : descs.at(0))
        out.push_back(d.shape);
    return out;
}

// ---- Sequential

void Sequential::add(std::shared_ptr<Layer> layer)
{
    if (!layer)
        throw Error("Sequential: cannot add an empty layer");
    if (input_count() == 0)
        add_input();
    const int n = node_count();
    const Ref from = n == 0 ? Ref{kInput, 0} : Ref{n - 1, 0};
    const std::string label = "layer " + std::to_string(n + 1) + " (" + layer->type_name() + ")";
    const int index = add_node(std::move(layer), {from});
    this->layer(index).set_label(label);
    set_outputs({{index, 0}});
}

Module &Sequential::module_at(int i) const
{
    auto *m = dynamic_cast<Module *>(&at(i));
    if (!m)
        throw Error("Sequential: layer " + std::to_string(i + 1) + " is a nested model, not a plugin layer");
    return *m;
}

std::optional<Shape> Model::last_sample_shape(int i) const
{
    if (m_plans.empty() || i < 0 || static_cast<size_t>(i) >= m_plans.back()->input_shapes.size())
        return std::nullopt;
    const Shape &shape = m_plans.back()->input_shapes[static_cast<size_t>(i)];
    if (shape.empty())
        return std::nullopt;
    return Shape(std::span<const int64_t>(shape.begin() + 1, shape.end()));
}

} // namespace neurite
