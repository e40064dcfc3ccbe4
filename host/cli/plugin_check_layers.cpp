// The checks of a layer or activation entry for neurite-run --check-plugin:
// it can be created, the input shapes it accepts (rows, sequences, images),
// it writes only its outputs, its gradients match central differences, its
// state survives a save and load, and inference is deterministic. Layers
// that negotiate oneDNN's blocked layouts run in them, as in a model.
#include "plugin_check_support.h"

#include "neurite/core/error.h"
#include "neurite/core/module.h"
#include "neurite/core/plugin_call.h"

#include <neurite/plugin_dnnl.hpp>

#include <cmath>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace neurite::cli {

namespace {

namespace sdk = neurite::sdk;

// One layer on one input shape in the formats it negotiates, as a model
// runs it: offered plain f32 (a model's input), its input converted into
// the format it asks for (a oneDNN blocked layout, say) and its output and
// input gradient converted back to plain for comparisons. Every buffer it
// reads or writes is guarded on both sides, in its real (padded) size.
class FormattedRun {
public:
    enum Buffer { Src, Dst, DiffDst, DiffSrc, Workspace, kBuffers };

    FormattedRun(Module &layer, const Shape &shape) : m_layer(layer)
    {
        Desc offered(shape);
        std::vector<Desc> dst;
        const size_t workspace = layer.prepare(std::span<Desc>(&offered, 1), dst);
        if (dst.size() != 1)
            throw Error("the checks run layers of one output; this one declared " + std::to_string(dst.size()));
        m_read = offered;
        m_out = dst[0];
        const Desc *descs[] = {&m_read, &m_out, &m_out, &m_read};
        const char *names[] = {"src", "dst", "diff_dst", "diff_src"};
        for (int b = 0; b < Workspace; ++b)
            m_buffers[b] = std::make_unique<GuardedBuffer>(floats(descs[b]->bytes()),
                                                           std::string(names[b]) + " " + descs[b]->to_string());
        m_buffers[Workspace] = std::make_unique<GuardedBuffer>(floats(workspace), "workspace");
        m_workspace_bytes = workspace;
    }

    Shape output_shape() const { return m_out.shape; }
    void set_input(const Tensor &x) { convert(Desc(x.shape()), x.data(), m_read, m_buffers[Src]->data()); }
    void set_output_grad(const Tensor &dy) { convert(Desc(dy.shape()), dy.data(), m_out, m_buffers[DiffDst]->data()); }

    void forward(bool training)
    {
        nrt_tensor src = tensor(Src), dst = tensor(Dst);
        nrt_layer_call c = call(&src, &dst, training);
        m_layer.forward(c);
    }
    void backward()
    {
        nrt_tensor src = tensor(Src), dst = tensor(Dst), diff_dst = tensor(DiffDst), diff_src = tensor(DiffSrc);
        nrt_layer_call c = call(&src, &dst, m_layer.training());
        c.diff_dst = &diff_dst;
        c.diff_src = &diff_src;
        m_layer.backward(c);
    }

    Tensor output() const { return plain(m_out, Dst); }
    Tensor input_grad() const { return plain(m_read, DiffSrc); }

    std::vector<float> snapshot(Buffer b) const
    {
        const GuardedBuffer &g = *m_buffers[b];
        return std::vector<float>(g.data(), g.data() + g.floats());
    }
    // The first float of buffer b that differs bitwise from before, or -1.
    int64_t first_change(Buffer b, const std::vector<float> &before) const
    {
        const float *now = m_buffers[b]->data();
        for (size_t i = 0; i < before.size(); ++i)
            if (std::memcmp(now + i, &before[i], sizeof(float)) != 0)
                return static_cast<int64_t>(i);
        return -1;
    }
    // "wrote float 2 past the end of its dst [1, 16, 4, 4] nChw16c buffer", or "".
    std::string damage() const
    {
        for (const auto &b : m_buffers)
            if (std::string d = b->damage(); !d.empty())
                return d;
        return {};
    }

private:
    static int64_t floats(size_t bytes) { return static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float)); }

    // A oneDNN reorder between two layouts of the same f32 tensor.
    static void convert(const Desc &from, const float *src, const Desc &to, float *dst)
    {
        if (from.dtype != DType::F32 || to.dtype != DType::F32)
            throw Error("the checks convert f32 tensors only, not " + from.to_string() + " to " + to.to_string());
        static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        dnnl::stream stream(engine);
        dnnl::memory a(sdk::desc_of(from.shape.span(), from.format), engine, const_cast<float *>(src));
        dnnl::memory b(sdk::desc_of(to.shape.span(), to.format), engine, dst);
        dnnl::reorder(a, b).execute(stream, a, b);
        stream.wait();
    }

    Tensor plain(const Desc &d, Buffer b) const
    {
        Tensor t(d.shape);
        convert(d, m_buffers[b]->data(), Desc(d.shape), t.data());
        return t;
    }

    nrt_tensor tensor(Buffer b) const
    {
        const Desc &d = (b == Src || b == DiffSrc) ? m_read : m_out;
        nrt_tensor t = Tensor::view(m_buffers[b]->data(), d.shape).desc();
        t.format = d.format;
        return t;
    }

    nrt_layer_call call(nrt_tensor *src, nrt_tensor *dst, bool training) const
    {
        nrt_layer_call c{};
        c.struct_size = sizeof c;
        c.src_count = 1;
        c.dst_count = 1;
        c.src = src;
        c.dst = dst;
        c.training = training ? 1 : 0;
        c.workspace = m_workspace_bytes ? m_buffers[Workspace]->data() : nullptr;
        c.workspace_bytes = m_workspace_bytes;
        return c;
    }

    Module &m_layer;
    Desc m_read, m_out;
    size_t m_workspace_bytes = 0;
    std::unique_ptr<GuardedBuffer> m_buffers[kBuffers];
};

class LayerChecks {
public:
    LayerChecks(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context)
        : m_report(report), m_registry(registry), m_entry(entry), m_context(context),
          m_params(probe_params(entry))
    {}

    void run()
    {
        m_report.begin(m_entry.name, "create");
        try {
            create(1);
        } catch (const std::exception &e) {
            fail("create", "cannot be created with " + params_text(m_params) + ": " + e.what());
            return;
        }
        m_report.begin(m_entry.name, "input shapes");
        if (!find_shapes())
            return;
        // First: a plugin that writes out of bounds would corrupt the heap
        // under the other checks, which use unguarded tensors.
        guarded("writes only its outputs", [&] { writes_only_outputs(); });
        guarded("gradient", [&] { gradient(); });
        guarded("state round trip", [&] { state_round_trip(); });
        guarded("determinism", [&] { determinism(); });
    }

private:
    std::shared_ptr<Module> create(uint64_t seed) const
    {
        auto layer = m_registry.create_layer(m_entry.name, m_params, m_context, seed);
        layer->set_label(m_entry.name);
        return layer;
    }

    template <class Fn> void guarded(const char *check, Fn &&fn)
    {
        m_report.begin(m_entry.name, check);
        try {
            fn();
        } catch (const std::exception &e) {
            fail(check, e.what());
        }
    }
    void fail(const std::string &check, const std::string &detail) { m_report.fail(m_entry.name, check, detail); }
    void pass(const std::string &check, const std::string &detail) { m_report.pass(m_entry.name, check, detail); }

    // Input shapes prepare() accepts: batch 1 and 4 of the first feature
    // shape that fits, and batch 3 of a second one when there is one. Sizes
    // come from the required integers first (a layer's `inputs`).
    bool find_shapes()
    {
        std::vector<int64_t> sizes;
        for (const auto &[name, value] : m_params)
            if (const double *v = std::get_if<double>(&value))
                sizes.push_back(static_cast<int64_t>(*v));
        for (int64_t k : {3, 4, 5, 2, 1, 8})
            sizes.push_back(k);
        std::vector<Shape> tails;
        for (int64_t k : sizes)
            tails.push_back(Shape{k});
        for (int64_t k : sizes)
            tails.push_back(Shape{k, 6, 6});
        for (int64_t k : sizes)
            tails.push_back(Shape{k, 5});
        auto with_batch = [](int64_t n, const Shape &tail) {
            Shape s{n};
            for (int64_t d : tail)
                s.push_back(d);
            return s;
        };
        auto layer = create(1);
        std::string last_reason;
        std::vector<std::string> tried;
        auto accepts = [&](const Shape &s) {
            try {
                PluginCall call(m_entry, "prepare", s[0]);
                Desc offered(s);
                std::vector<Desc> dst;
                layer->prepare(std::span<Desc>(&offered, 1), dst);
                return true;
            } catch (const std::exception &e) {
                last_reason = e.what();
                return false;
            }
        };
        for (const Shape &tail : tails) {
            const Shape one = with_batch(1, tail), four = with_batch(4, tail);
            if (std::find(tried.begin(), tried.end(), one.to_string()) != tried.end())
                continue;
            tried.push_back(one.to_string());
            if (m_shapes.empty()) {
                if (accepts(one) && accepts(four))
                    m_shapes = {one, four};
            } else if (!(tail == Shape(m_shapes[0].span().subspan(1))) && accepts(with_batch(3, tail))) {
                m_shapes.push_back(with_batch(3, tail));
                break;
            }
        }
        if (m_shapes.empty()) {
            fail("input shapes", "prepare() refused every input shape tried (" + join(tried) +
                                     ") with " + params_text(m_params) + "; the last said: " + last_reason);
            return false;
        }
        return true;
    }

    void gradient()
    {
        GradError worst;
        Shape worst_shape;
        std::vector<std::string> shapes;
        uint64_t seed = 100;
        for (const Shape &s : m_shapes) {
            shapes.push_back(s.to_string());
            auto layer = create(seed); // fresh: no state left by another shape
            PluginCall call(m_entry, "forward or backward (gradient check)", s[0]);
            const GradError err = check_layer_gradient(*layer, input_for(s, seed + 1), seed + 2);
            if (err.max_rel > worst.max_rel || worst.index < 0) {
                worst = err;
                worst_shape = s;
            }
            seed += 10;
        }
        const std::string over = " (central differences over input shapes " + join(shapes) +
                                 ", tolerance " + number(kGradTolerance) + ")";
        if (worst.max_rel > kGradTolerance || std::isnan(worst.max_rel))
            fail("gradient", "maximum relative error " + number(worst.max_rel) + " in " +
                                 worst.tensor + " element " + std::to_string(worst.index) +
                                 " at input shape " + worst_shape.to_string() + ": " + worst.where +
                                 over);
        else
            pass("gradient", "maximum relative error " + number(worst.max_rel) + over);
    }

    // save_extra_state, a new instance of the same config (another seed, so
    // only the copied parameters can make it equal), load: same outputs.
    void state_round_trip()
    {
        const Shape &s = m_shapes.back();
        const Tensor x = input_for(s, 7);
        auto a = create(11);
        PluginCall call(m_entry, "forward, save_state or load_state", s[0]);
        FormattedRun run_a(*a, s);
        run_a.set_input(x);
        run_a.forward(true); // training may change extra state: save that
        const std::vector<uint8_t> saved = a->save_extra_state();
        auto b = m_registry.create_layer(m_entry.name, a->config(), m_context, 12);
        b->set_label(m_entry.name);
        auto pa = a->parameters();
        auto pb = b->parameters();
        if (pa.size() != pb.size()) {
            fail("state round trip", "two instances of one config have " + std::to_string(pa.size()) +
                                         " and " + std::to_string(pb.size()) + " parameters");
            return;
        }
        for (size_t i = 0; i < pa.size(); ++i) {
            if (!(pa[i].value.shape() == pb[i].value.shape())) {
                fail("state round trip", "parameter '" + pa[i].name + "' is " +
                                             pa[i].value.shape().to_string() + " in one instance and " +
                                             pb[i].value.shape().to_string() + " in another of the same config");
                return;
            }
            Tensor dst = pb[i].value;
            dst.copy_from(pa[i].value);
        }
        b->load_extra_state(saved);
        const std::vector<uint8_t> again = b->save_extra_state();
        if (again != saved) {
            fail("state round trip", "after load_state the instance saves " + std::to_string(again.size()) +
                                         " bytes that differ from the " + std::to_string(saved.size()) +
                                         " bytes it loaded");
            return;
        }
        FormattedRun run_b(*b, s);
        run_b.set_input(x);
        run_a.forward(false);
        run_b.forward(false);
        const Tensor ya = run_a.output(), yb = run_b.output();
        if (const int64_t i = first_difference(ya, yb); i >= 0) {
            fail("state round trip", "the restored instance's output differs at flat index " +
                                         std::to_string(i) + " (" + number(ya[i]) + " vs " + number(yb[i]) +
                                         ") on input " + s.to_string() +
                                         "; is some state neither a parameter nor saved by save_state?");
            return;
        }
        pass("state round trip", std::to_string(saved.size()) + " bytes of extra state and " +
                                     std::to_string(pa.size()) +
                                     " parameters restore an instance with identical outputs");
    }

    // Inference mode: training mode may draw random numbers (dropout).
    void determinism()
    {
        for (const Shape &s : m_shapes) {
            auto layer = create(21);
            PluginCall call(m_entry, "forward", s[0]);
            FormattedRun run(*layer, s);
            run.set_input(input_for(s, 22));
            run.forward(false);
            const Tensor y1 = run.output();
            run.forward(false);
            const Tensor y2 = run.output();
            if (const int64_t i = first_difference(y1, y2); i >= 0) {
                fail("determinism", "two inference forwards on the same " + s.to_string() +
                                        " input differ at flat index " + std::to_string(i) + " (" +
                                        number(y1[i]) + " vs " + number(y2[i]) + ")");
                return;
            }
        }
        pass("determinism", "two inference forwards on the same input give identical outputs");
    }

    // forward writes only dst, backward only diff_src (and its own gradients);
    // neither changes the tensors it reads. The buffers are in the formats
    // the layer negotiated (a blocked one included), guarded on both sides.
    void writes_only_outputs()
    {
        for (const Shape &s : m_shapes) {
            auto layer = create(31);
            FormattedRun run(*layer, s);
            run.set_input(input_for(s, 32));
            run.set_output_grad(random_tensor(run.output_shape(), 33));
            const std::vector<float> src = run.snapshot(FormattedRun::Src);
            auto intact = [&](const char *call) {
                const std::string damage = run.damage();
                if (!damage.empty())
                    fail("writes only its outputs", std::string(call) + " on input " + s.to_string() + " " + damage);
                return damage.empty();
            };
            auto unchanged = [&](const char *call, FormattedRun::Buffer which, const std::vector<float> &before,
                                 const char *what) {
                const int64_t i = run.first_change(which, before);
                if (i >= 0)
                    fail("writes only its outputs", std::string(call) + " on input " + s.to_string() +
                                                        " changed its " + what + " at float " + std::to_string(i));
                return i < 0;
            };
            for (bool training : {false, true}) {
                PluginCall in_progress(m_entry, "forward", s[0]);
                layer->set_training(training);
                run.forward(training);
                const char *call = training ? "forward (training)" : "forward (inference)";
                if (!intact(call) || !unchanged(call, FormattedRun::Src, src, "input"))
                    return;
            }
            const std::vector<float> dst = run.snapshot(FormattedRun::Dst), diff_dst = run.snapshot(FormattedRun::DiffDst);
            PluginCall in_progress(m_entry, "backward", s[0]);
            layer->zero_grad();
            run.backward();
            if (!intact("backward") || !unchanged("backward", FormattedRun::Src, src, "input") ||
                !unchanged("backward", FormattedRun::Dst, dst, "output") ||
                !unchanged("backward", FormattedRun::DiffDst, diff_dst, "output gradient"))
                return;
        }
        pass("writes only its outputs", "guard bytes around every buffer intact, inputs unchanged, "
                                        "after forward and backward");
    }

    Report &m_report;
    const Registry &m_registry;
    const Entry &m_entry;
    ComputeContext &m_context;
    ParamList m_params;
    std::vector<Shape> m_shapes;
};

} // namespace

void check_layer(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context)
{
    LayerChecks(report, registry, entry, context).run();
}

} // namespace neurite::cli
