#include "model_plan.h"

#include "neurite/core/error.h"
#include "neurite/core/precision.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>

namespace neurite::detail {

namespace {

// Host conversions run on one CPU engine; oneDNN streams are not shared
// between threads, so each thread that runs a model has its own.
dnnl::engine &host_engine()
{
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

dnnl::stream &host_stream()
{
    thread_local dnnl::stream stream(host_engine());
    return stream;
}

dnnl::memory::desc dnnl_desc(const Desc &d)
{
    const dnnl::memory::dims dims(d.shape.begin(), d.shape.end());
    const auto type = d.dtype == DType::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
    if (d.format != NRT_FORMAT_PLAIN)
        return dnnl::memory::desc(dims, type, static_cast<dnnl::memory::format_tag>(d.format));
    dnnl::memory::dims strides(dims.size());
    int64_t s = 1;
    for (size_t i = dims.size(); i-- > 0;) {
        strides[i] = s;
        s *= dims[i];
    }
    return dnnl::memory::desc(dims, type, strides);
}

// dst += src for two buffers of the same descriptor, element by element
// (so any layout); bf16 sums in f32 and rounds back to nearest even.
void add_into(void *dst, const void *src, const Desc &d)
{
    if (d.dtype == DType::BF16) {
        uint16_t *out = static_cast<uint16_t *>(dst);
        const uint16_t *in = static_cast<const uint16_t *>(src);
        const size_t n = d.bytes() / sizeof(uint16_t);
#pragma omp simd
        for (size_t i = 0; i < n; ++i) {
            const float sum = widen_bf16(out[i]) + widen_bf16(in[i]);
            out[i] = nearest_bf16(sum);
        }
        return;
    }
    float *out = static_cast<float *>(dst);
    const float *in = static_cast<const float *>(src);
    const size_t n = d.bytes() / sizeof(float);
#pragma omp simd
    for (size_t i = 0; i < n; ++i)
        out[i] += in[i];
}

constexpr int kForever = INT_MAX;

using Clock = std::chrono::steady_clock;

double micros_since(Clock::time_point start)
{
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// Linear-scan assignment of gradient buffers: a slot is reused as soon as
// the interval of its last tenant has ended.
struct Interval {
    int start, end;
    size_t bytes;
    int *slot;
};

std::vector<Tensor> assign_slots(std::vector<Interval> &intervals)
{
    std::stable_sort(intervals.begin(), intervals.end(),
                     [](const Interval &a, const Interval &b) { return a.start < b.start; });
    std::vector<size_t> sizes;
    std::vector<int> busy_until; // per slot
    for (Interval &iv : intervals) {
        int best = -1;
        for (size_t s = 0; s < sizes.size(); ++s) {
            if (busy_until[s] >= iv.start)
                continue;
            // Smallest free slot that fits, else the largest free one (it grows).
            const bool fits = sizes[s] >= iv.bytes;
            if (best < 0) {
                best = static_cast<int>(s);
                continue;
            }
            const bool best_fits = sizes[static_cast<size_t>(best)] >= iv.bytes;
            if ((fits && (!best_fits || sizes[s] < sizes[static_cast<size_t>(best)])) ||
                (!fits && !best_fits && sizes[s] > sizes[static_cast<size_t>(best)]))
                best = static_cast<int>(s);
        }
        if (best < 0) {
            best = static_cast<int>(sizes.size());
            sizes.push_back(0);
            busy_until.push_back(0);
        }
        sizes[static_cast<size_t>(best)] = std::max(sizes[static_cast<size_t>(best)], iv.bytes);
        busy_until[static_cast<size_t>(best)] = iv.end;
        *iv.slot = best;
    }
    std::vector<Tensor> pool;
    for (size_t bytes : sizes)
        pool.push_back(raw_buffer(bytes));
    return pool;
}

} // namespace

Tensor buffer_view(const Tensor &buffer, const Shape &shape)
{
    return buffer.narrow(0, 0, shape.numel()).reshape(shape);
}

Tensor raw_buffer(size_t bytes)
{
    const int64_t floats = static_cast<int64_t>(std::max<size_t>((bytes + sizeof(float) - 1) / sizeof(float), 1));
    return Tensor(Shape{floats});
}

Conversion::Conversion(const Desc &from, void *src, const Desc &to, void *dst)
{
    if (from.plain_f32() && to.dtype == DType::BF16 && to.format == NRT_FORMAT_PLAIN && from.shape == to.shape) {
        m_rounding = true;
        m_count = static_cast<size_t>(from.shape.numel());
        m_from = static_cast<const float *>(src);
        m_to = static_cast<uint16_t *>(dst);
        return;
    }
    try {
        m_src = dnnl::memory(dnnl_desc(from), host_engine(), src);
        m_dst = dnnl::memory(dnnl_desc(to), host_engine(), dst);
        m_prim = dnnl::reorder(m_src, m_dst);
    } catch (const dnnl::error &e) {
        throw Error("cannot convert " + from.to_string() + " to " + to.to_string() + ": " + e.what());
    }
    m_args[0] = {DNNL_ARG_FROM, m_src.get()};
    m_args[1] = {DNNL_ARG_TO, m_dst.get()};
}

void Conversion::set_src(void *p)
{
    if (m_rounding)
        m_from = static_cast<const float *>(p);
    else
        m_src.set_data_handle(p);
}

bool Conversion::run() const
{
    if (m_rounding)
        return round_to_bf16(m_from, m_to, m_count);
    dnnl::stream &s = host_stream();
    if (dnnl_primitive_execute(m_prim.get(), s.get(), 2, m_args) != dnnl_success)
        throw Error("a format conversion failed in oneDNN");
    s.wait();
    return true;
}

namespace {

// Prepares node after node and gives every tensor its descriptor and memory.
void plan_nodes(Model &model, Plan &plan, const std::vector<int> &order)
{
    const size_t inputs = plan.input_shapes.size();
    for (size_t i = 0; i < inputs; ++i)
        plan.values.push_back({Desc(plan.input_shapes[i]), Tensor(), -1, Tensor(), false, {}});
    plan.nodes.resize(static_cast<size_t>(model.node_count()));
    // In bf16 every f32 tensor is offered as bf16: a layer with a bf16 path
    // accepts (the host converts f32 producers' outputs, such as the model's
    // inputs, once), the others ask for f32 back.
    const bool offer_bf16 = model.precision() == DType::BF16;
    for (int n : order) {
        const Model::Node &node = model.node(n);
        NodePlan &np = plan.nodes[static_cast<size_t>(n)];
        for (const Model::Ref &r : node.inputs) {
            int v = r.index;
            if (r.node != Model::kInput) {
                const auto &outs = plan.nodes[static_cast<size_t>(r.node)].out_values;
                if (r.index >= static_cast<int>(outs.size()))
                    throw Error(model.type_name() + ": " + model.ref_text({n, 0}) + " reads output " +
                                std::to_string(r.index + 1) + " of " + model.ref_text({r.node, 0}) +
                                ", which has " + std::to_string(outs.size()));
                v = outs[static_cast<size_t>(r.index)];
            }
            np.edges.push_back({});
            np.edges.back().value = v;
            np.offered.push_back(plan.values[static_cast<size_t>(v)].desc);
            if (offer_bf16 && np.offered.back().dtype == DType::F32)
                np.offered.back().dtype = DType::BF16;
        }
        std::vector<Desc> read = np.offered, dst;
        const size_t workspace = node.layer->prepare(read, dst);
        if (offer_bf16 && !read.empty() && std::none_of(read.begin(), read.end(), [](const Desc &d) {
                return d.dtype == DType::BF16;
            }))
            note_f32_boundary(node.layer->type_name());
        np.epoch = node.layer->prepare_epoch();
        np.workspace = raw_buffer(workspace);
        for (size_t k = 0; k < np.edges.size(); ++k) {
            EdgePlan &e = np.edges[k];
            e.read = read[k];
            ValuePlan &v = plan.values[static_cast<size_t>(e.value)];
            v.readers.emplace_back(n, static_cast<int>(k));
            if (e.read == v.desc)
                continue;
            if (e.read.shape.numel() != v.desc.shape.numel())
                throw Error(node.layer->label() + ": asked for input " + std::to_string(k + 1) + " as " +
                            e.read.to_string() + " but it is " + v.desc.to_string());
            e.converted = raw_buffer(e.read.bytes());
            e.to_read = Conversion(v.desc, v.act.defined() ? v.act.data() : nullptr, e.read, e.converted.data());
        }
        np.produced = dst;
        for (const Desc &d : dst) {
            np.out_values.push_back(static_cast<int>(plan.values.size()));
            plan.values.push_back({d, raw_buffer(d.bytes()), -1, Tensor(), false, {}});
        }
    }
}

void plan_outputs(Model &model, Plan &plan)
{
    for (const Model::Ref &r : model.outputs()) {
        if (r.node == Model::kInput)
            throw Error(model.type_name() + ": an output is the model's input " + std::to_string(r.index + 1) +
                        " itself; outputs must come from layers");
        const auto &outs = plan.nodes[static_cast<size_t>(r.node)].out_values;
        if (r.index >= static_cast<int>(outs.size()))
            throw Error(model.type_name() + ": an output is " + model.ref_text(r) + ", which does not exist");
        ValuePlan &v = plan.values[static_cast<size_t>(outs[static_cast<size_t>(r.index)])];
        if (v.desc.plain_f32()) {
            plan.outputs.push_back(buffer_view(v.act, v.desc.shape));
            plan.output_conversions.emplace_back();
        } else {
            Tensor out(v.desc.shape);
            plan.output_conversions.emplace_back(v.desc, v.act.data(), Desc(v.desc.shape), out.data());
            plan.outputs.push_back(out);
        }
    }
}

int output_value(const Plan &plan, const Model::Ref &r)
{
    return plan.nodes[static_cast<size_t>(r.node)].out_values[static_cast<size_t>(r.index)];
}

// Who writes each gradient when, and which buffers can share memory.
void plan_gradients(Model &model, Plan &plan, const std::vector<int> &order)
{
    const int steps = static_cast<int>(order.size());
    std::vector<int> step_of(static_cast<size_t>(model.node_count()));
    for (int p = 0; p < steps; ++p)
        step_of[static_cast<size_t>(order[static_cast<size_t>(p)])] = steps - p; // backward runs in reverse
    const size_t inputs = plan.input_shapes.size();
    std::vector<int> producer_step(plan.values.size(), kForever);
    for (int n : order)
        for (int v : plan.nodes[static_cast<size_t>(n)].out_values)
            producer_step[static_cast<size_t>(v)] = step_of[static_cast<size_t>(n)];

    std::vector<int> first_step(plan.values.size(), kForever);
    std::vector<int> output_uses(plan.values.size(), 0);
    for (const Model::Ref &r : model.outputs()) {
        const int v = output_value(plan, r);
        first_step[static_cast<size_t>(v)] = 0;
        ++output_uses[static_cast<size_t>(v)];
    }
    for (size_t v = 0; v < plan.values.size(); ++v)
        for (auto [n, k] : plan.values[v].readers)
            first_step[v] = std::min(first_step[v], step_of[static_cast<size_t>(n)]);

    std::vector<Interval> intervals;
    for (size_t v = 0; v < plan.values.size(); ++v) {
        ValuePlan &vp = plan.values[v];
        if (first_step[v] == kForever) { // an output nothing reads: its gradient is zero
            vp.zero = raw_buffer(vp.desc.bytes());
            continue;
        }
        if (output_uses[v] == 1 && vp.readers.empty() && vp.desc.plain_f32()) {
            vp.caller_grad = true;
            continue;
        }
        const int end = v < inputs ? kForever : producer_step[v];
        intervals.push_back({first_step[v], end, vp.desc.bytes(), &vp.grad});
    }
    // The edges: the first contribution to a gradient writes it; the others add.
    std::vector<bool> taken(plan.values.size(), false);
    plan.output_grad_temps.reserve(model.outputs().size()); // intervals point into it
    for (const Model::Ref &r : model.outputs()) {
        const int v = output_value(plan, r);
        const ValuePlan &vp = plan.values[static_cast<size_t>(v)];
        plan.output_first.push_back(!taken[static_cast<size_t>(v)]);
        taken[static_cast<size_t>(v)] = true;
        plan.output_grad_temps.emplace_back(v, -1);
        if (!vp.caller_grad && !vp.desc.plain_f32() && !plan.output_first.back())
            intervals.push_back({0, 0, vp.desc.bytes(), &plan.output_grad_temps.back().second});
    }
    for (int p = steps - 1; p >= 0; --p) { // in backward order
        const int n = order[static_cast<size_t>(p)];
        const int s = step_of[static_cast<size_t>(n)];
        for (EdgePlan &e : plan.nodes[static_cast<size_t>(n)].edges) {
            const ValuePlan &vp = plan.values[static_cast<size_t>(e.value)];
            e.first = !taken[static_cast<size_t>(e.value)];
            taken[static_cast<size_t>(e.value)] = true;
            const bool converted = e.converted.defined();
            e.direct = e.first && !converted;
            if (!e.direct)
                intervals.push_back({s, s, e.read.bytes(), &e.temp});
            if (converted && !e.first)
                intervals.push_back({s, s, vp.desc.bytes(), &e.temp2});
        }
    }
    plan.grad_pool = assign_slots(intervals);
}

void *slot(Plan &plan, int s) { return s >= 0 ? plan.grad_pool[static_cast<size_t>(s)].data() : nullptr; }

void bind_calls(Model &model, Plan &plan, const std::vector<int> &order)
{
    for (int n : order) {
        NodePlan &np = plan.nodes[static_cast<size_t>(n)];
        for (EdgePlan &e : np.edges) {
            ValuePlan &v = plan.values[static_cast<size_t>(e.value)];
            void *data = e.converted.defined() ? e.converted.data() : (v.act.defined() ? v.act.data() : nullptr);
            np.src.push_back(tensor_view(e.read, data));
            void *grad = e.direct ? slot(plan, v.grad) : slot(plan, e.temp);
            np.diff_src.push_back(tensor_view(e.read, grad));
            if (e.converted.defined()) {
                void *target = e.first ? slot(plan, v.grad) : slot(plan, e.temp2);
                e.grad_back = Conversion(e.read, slot(plan, e.temp), v.desc, target);
            }
        }
        for (int o : np.out_values) {
            ValuePlan &v = plan.values[static_cast<size_t>(o)];
            np.dst.push_back(tensor_view(v.desc, v.act.data()));
            void *grad = v.zero.defined() ? v.zero.data() : slot(plan, v.grad);
            np.diff_dst.push_back(tensor_view(v.desc, grad));
        }
        std::vector<Module *> modules;
        model.layer(n).collect_modules(modules);
        bool params = false;
        for (Module *m : modules)
            params = params || !m->param_slots().empty();
        bool upstream = false;
        for (const EdgePlan &e : np.edges)
            upstream = upstream || e.value >= static_cast<int>(plan.input_shapes.size());
        np.needs_backward = params || upstream;
        nrt_layer_call &c = np.call;
        c.struct_size = sizeof c;
        c.src_count = static_cast<int32_t>(np.src.size());
        c.dst_count = static_cast<int32_t>(np.dst.size());
        c.src = np.src.data();
        c.dst = np.dst.data();
        c.diff_dst = np.diff_dst.data();
        c.diff_src = np.diff_src.data();
        c.workspace = np.workspace.data();
        c.workspace_bytes = static_cast<uint64_t>(np.workspace.numel()) * sizeof(float);
    }
    for (auto [v, temp] : plan.output_grad_temps) {
        const ValuePlan &vp = plan.values[static_cast<size_t>(v)];
        const bool first = plan.output_grad_conversions.size() < plan.output_first.size() &&
                           plan.output_first[plan.output_grad_conversions.size()];
        if (vp.caller_grad || vp.desc.plain_f32())
            plan.output_grad_conversions.emplace_back();
        else
            plan.output_grad_conversions.emplace_back(Desc(vp.desc.shape), nullptr, vp.desc,
                                                      first ? slot(plan, vp.grad) : slot(plan, temp));
    }
    for (size_t i = 0; i < plan.input_shapes.size(); ++i) {
        const ValuePlan &v = plan.values[i];
        plan.input_grads.push_back(v.grad >= 0 ? buffer_view(plan.grad_pool[static_cast<size_t>(v.grad)], v.desc.shape)
                                               : Tensor(v.desc.shape));
    }
}

// The caller's memory for the model's inputs, wherever a node reads it.
void point_at_inputs(Plan &plan, NodePlan &np, std::span<const Tensor> inputs)
{
    for (size_t k = 0; k < np.edges.size(); ++k) {
        EdgePlan &e = np.edges[k];
        if (e.value >= static_cast<int>(inputs.size()))
            continue;
        void *data = const_cast<float *>(inputs[static_cast<size_t>(e.value)].data());
        if (e.converted.defined())
            e.to_read.set_src(data);
        else
            np.src[k].data = data;
    }
    (void)plan;
}

void reprepare(Model &model, NodePlan &np, int n)
{
    Layer &layer = model.layer(n);
    std::vector<Desc> read = np.offered, dst;
    const size_t workspace = layer.prepare(read, dst);
    bool same = workspace <= static_cast<size_t>(np.workspace.numel()) * sizeof(float) &&
                dst == np.produced;
    for (size_t k = 0; same && k < read.size(); ++k)
        same = read[k] == np.edges[k].read;
    if (!same)
        throw Error(layer.label() + ": prepared again for the same inputs, it answered differently");
    np.epoch = layer.prepare_epoch();
}

} // namespace

std::unique_ptr<Plan> build_plan(Model &model, const std::vector<int> &order,
                                 std::span<const Shape> input_shapes)
{
    auto plan = std::make_unique<Plan>();
    plan->input_shapes.assign(input_shapes.begin(), input_shapes.end());
    plan_nodes(model, *plan, order);
    plan_outputs(model, *plan);
    plan_gradients(model, *plan, order);
    bind_calls(model, *plan, order);
    return plan;
}

int convert_inputs(Plan &plan, const std::vector<int> &order, std::span<const Tensor> inputs)
{
    int bad = -1;
    for (int n : order) {
        NodePlan &np = plan.nodes[static_cast<size_t>(n)];
        point_at_inputs(plan, np, inputs);
        for (const EdgePlan &e : np.edges)
            if (e.value < static_cast<int>(inputs.size()) && e.converted.defined() && !e.to_read.run() &&
                (bad < 0 || e.value < bad))
                bad = e.value;
    }
    return bad;
}

bool input_checked_by_conversion(const Plan &plan, const std::vector<int> &order, size_t input)
{
    for (int n : order)
        for (const EdgePlan &e : plan.nodes[static_cast<size_t>(n)].edges)
            if (e.value == static_cast<int>(input) && e.converted.defined() && e.to_read.checks_finite())
                return true;
    return false;
}

// The inputs' conversions ran before (convert_inputs).
void run_forward(Model &model, Plan &plan, const std::vector<int> &order, std::span<const Tensor> inputs)
{
    const int model_inputs = static_cast<int>(inputs.size());
    for (int n : order) {
        NodePlan &np = plan.nodes[static_cast<size_t>(n)];
        Layer &layer = model.layer(n);
        if (layer.prepare_epoch() != np.epoch)
            reprepare(model, np, n); // someone ran the layer on other shapes meanwhile
        Model::NodeTime *timing = model.node_time(n);
        const Clock::time_point start = timing ? Clock::now() : Clock::time_point{};
        point_at_inputs(plan, np, inputs);
        for (const EdgePlan &e : np.edges)
            if (e.converted.defined() && e.value >= model_inputs)
                e.to_read.run();
        np.call.training = layer.training() ? 1 : 0;
        layer.forward(np.call);
        if (timing)
            timing->forward_us += micros_since(start);
    }
    for (const Conversion &c : plan.output_conversions)
        if (c)
            c.run();
}

void run_backward(Model &model, Plan &plan, const std::vector<int> &order, std::span<const Tensor> inputs,
                  std::span<const Tensor> output_grads, bool input_grads)
{
    const auto &outs = model.outputs();
    for (size_t o = 0; o < outs.size(); ++o) {
        const Model::Ref &r = outs[o];
        const int v = output_value(plan, r);
        ValuePlan &vp = plan.values[static_cast<size_t>(v)];
        void *given = const_cast<float *>(output_grads[o].data());
        if (vp.caller_grad) {
            plan.nodes[static_cast<size_t>(r.node)].diff_dst[static_cast<size_t>(r.index)].data = given;
            continue;
        }
        void *grad = slot(plan, vp.grad);
        if (vp.desc.plain_f32()) {
            if (plan.output_first[o])
                std::memcpy(grad, given, vp.desc.bytes());
            else
                add_into(grad, given, vp.desc);
            continue;
        }
        Conversion &c = plan.output_grad_conversions[o];
        c.set_src(given);
        c.run();
        if (!plan.output_first[o])
            add_into(grad, slot(plan, plan.output_grad_temps[o].second), vp.desc);
    }
    const int model_inputs = static_cast<int>(plan.input_shapes.size());
    for (size_t p = order.size(); p-- > 0;) {
        const int n = order[p];
        NodePlan &np = plan.nodes[static_cast<size_t>(n)];
        bool wanted_input = false;
        for (size_t k = 0; k < np.edges.size(); ++k) {
            const EdgePlan &e = np.edges[k];
            const bool wants = e.value >= model_inputs || input_grads;
            wanted_input = wanted_input || (wants && e.value < model_inputs);
            const ValuePlan &v = plan.values[static_cast<size_t>(e.value)];
            np.diff_src[k].data = !wants ? nullptr : e.direct ? slot(plan, v.grad) : slot(plan, e.temp);
        }
        if (!np.needs_backward && !wanted_input)
            continue;
        Model::NodeTime *timing = model.node_time(n);
        const Clock::time_point start = timing ? Clock::now() : Clock::time_point{};
        point_at_inputs(plan, np, inputs);
        model.layer(n).backward(np.call);
        for (size_t k = 0; k < np.edges.size(); ++k) {
            const EdgePlan &e = np.edges[k];
            if (!np.diff_src[k].data || e.direct)
                continue;
            const ValuePlan &v = plan.values[static_cast<size_t>(e.value)];
            if (e.converted.defined()) {
                e.grad_back.run();
                if (!e.first)
                    add_into(slot(plan, v.grad), slot(plan, e.temp2), v.desc);
            } else {
                add_into(slot(plan, v.grad), slot(plan, e.temp), v.desc);
            }
        }
        if (timing)
            timing->backward_us += micros_since(start);
    }
}

} // namespace neurite::detail
