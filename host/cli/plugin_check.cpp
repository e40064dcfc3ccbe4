#include "plugin_check.h"

#include "check_process.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/gradient_check.h"
#include "neurite/core/loss.h"
#include "neurite/core/module.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/plugin_call.h"
#include "neurite/core/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace neurite::cli {

namespace {

// Relative error a float backward pass may show against central differences
// (the same bound the built-ins' tests use).
constexpr double kGradTolerance = 2e-2;
// Floats of canary on each side of a buffer a plugin writes: 256 bytes, so
// the buffer itself stays 64-byte aligned as the host's tensors are.
constexpr int64_t kGuard = 64;
// A signalling-NaN bit pattern no computation produces by accident.
constexpr uint32_t kCanary = 0x7fa5a5a5u;

std::string number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string join(const std::vector<std::string> &items)
{
    std::string s;
    for (const std::string &item : items)
        s += (s.empty() ? "" : ", ") + item;
    return s;
}

std::string params_text(const ParamList &params)
{
    std::vector<std::string> parts;
    for (const auto &[name, value] : params)
        parts.push_back(name + "=" + param_value_text(value));
    return parts.empty() ? "defaults" : join(parts);
}

// The verdicts of the checks, sent to the parent process as they come.
class Report {
public:
    explicit Report(CheckChannel &channel) : m_channel(channel) {}
    // Names the check that a crash during it fails.
    void begin(const std::string &who, const std::string &check) { m_channel.begin(who, check); }
    void pass(const std::string &who, const std::string &check, const std::string &detail)
    {
        m_channel.verdict(true, who, check, detail);
    }
    void fail(const std::string &who, const std::string &check, const std::string &detail)
    {
        m_channel.verdict(false, who, check, detail);
    }

private:
    CheckChannel &m_channel;
};

// A buffer with canaries on both sides, to catch a plugin writing past (or
// before) the tensor it was given.
class GuardedBuffer {
public:
    explicit GuardedBuffer(const Shape &shape) : m_shape(shape), m_count(shape.numel())
    {
        const size_t bytes = static_cast<size_t>(m_count + 2 * kGuard) * sizeof(float);
        m_memory.reset(static_cast<float *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
        if (!m_memory)
            throw std::bad_alloc();
        for (int64_t i = 0; i < m_count + 2 * kGuard; ++i)
            std::memcpy(m_memory.get() + i, &kCanary, sizeof kCanary);
    }
    Tensor view() const { return Tensor::view(m_memory.get() + kGuard, m_shape); }
    // Which canary changed, as the end of a sentence, or "" when none did.
    std::string damage() const
    {
        for (int64_t i = 0; i < kGuard; ++i) {
            if (changed(kGuard + m_count + i))
                return "wrote float " + std::to_string(i) + " past the end of its " +
                       m_shape.to_string() + " buffer";
            if (changed(kGuard - 1 - i))
                return "wrote float " + std::to_string(i + 1) + " before the start of its " +
                       m_shape.to_string() + " buffer";
        }
        return {};
    }

private:
    bool changed(int64_t i) const
    {
        uint32_t bits = 0;
        std::memcpy(&bits, m_memory.get() + i, sizeof bits);
        return bits != kCanary;
    }
    struct Free {
        void operator()(float *p) const { std::free(p); }
    };
    Shape m_shape;
    int64_t m_count;
    std::unique_ptr<float, Free> m_memory;
};

// Flat index of the first bitwise difference, or -1.
int64_t first_difference(const Tensor &a, const Tensor &b)
{
    if (!(a.shape() == b.shape()))
        return 0;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (std::memcmp(a.data() + i, b.data() + i, sizeof(float)) != 0)
            return i;
    return -1;
}

// Inputs in [-1.05, -0.05] ∪ [0.05, 1.05]: kinks at 0 (ReLU, |x|) are not
// straddled by a finite difference.
Tensor input_for(const Shape &shape, uint64_t seed)
{
    Tensor t = random_tensor(shape, seed);
    for (float &v : t)
        v = v < 0 ? v - 0.05f : v + 0.05f;
    return t;
}

// The smallest valid value of every required parameter: enough to build an
// instance without guessing what the optional ones mean.
ParamList probe_params(const Entry &entry)
{
    ParamList params;
    for (const ParamSpec &p : entry.params) {
        if (!p.required)
            continue;
        auto clamp = [&](double v) { return p.has_range() ? std::clamp(v, p.min, p.max) : v; };
        switch (p.type) {
        case ParamType::Int: params.emplace_back(p.name, clamp(3.0)); break;
        case ParamType::Float: params.emplace_back(p.name, clamp(0.5)); break;
        case ParamType::Bool: params.emplace_back(p.name, false); break;
        case ParamType::String:
            params.emplace_back(p.name, p.choices.empty() ? std::string("x") : p.choices.front());
            break;
        case ParamType::FloatList:
            // A list of any length (a shape) gets one element, sized as an integer would be.
            params.emplace_back(p.name, p.list_length == 0 ? std::vector<double>{clamp(3.0)}
                                                           : std::vector<double>(static_cast<size_t>(p.list_length),
                                                                                 clamp(0.5)));
            break;
        }
    }
    return params;
}

void check_schema(Report &report, const Entry &entry)
{
    report.begin(entry.name, "schema");
    std::vector<std::string> problems, required;
    for (const ParamSpec &p : entry.params) {
        if (p.doc.empty())
            problems.push_back("parameter '" + p.name + "' has no doc");
        if (p.required) {
            required.push_back(p.name);
            continue;
        }
        const bool numeric = p.type == ParamType::Int || p.type == ParamType::Float;
        if (numeric && p.has_range() && (p.default_number < p.min || p.default_number > p.max))
            problems.push_back("default " + p.default_text() + " of '" + p.name +
                               "' is outside its range " + p.range_text());
        if (p.type == ParamType::FloatList && p.has_range())
            for (double v : p.default_list)
                if (v < p.min || v > p.max)
                    problems.push_back("default " + p.default_text() + " of '" + p.name +
                                       "' is outside its range " + p.range_text());
        if (p.type == ParamType::String && !p.choices.empty() &&
            std::find(p.choices.begin(), p.choices.end(), p.default_string) == p.choices.end())
            problems.push_back("default \"" + p.default_string + "\" of '" + p.name +
                               "' is not one of " + p.range_text());
    }
    if (!problems.empty()) {
        report.fail(entry.name, "schema", join(problems));
        return;
    }
    const size_t n = entry.params.size();
    report.pass(entry.name, "schema",
                n == 0 ? std::string("no parameters")
                       : std::to_string(n) + (n == 1 ? " parameter" : " parameters") +
                             ", documented, defaults inside their ranges; required: " +
                             (required.empty() ? "none" : join(required)));
}

// ---------------------------------------------------------------- layers

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
                layer->prepare(s);
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
        Tensor ya(a->prepare(s));
        a->forward_plain(x, ya, true); // training may change extra state: save that
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
        Tensor yb(b->prepare(s));
        a->forward_plain(x, ya, false);
        b->forward_plain(x, yb, false);
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
            const Tensor x = input_for(s, 22);
            Tensor y1(layer->prepare(s)), y2(y1.shape());
            PluginCall call(m_entry, "forward", s[0]);
            layer->forward_plain(x, y1, false);
            layer->forward_plain(x, y2, false);
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
    // neither changes the tensors it reads.
    void writes_only_outputs()
    {
        for (const Shape &s : m_shapes) {
            auto layer = create(31);
            const Shape out_shape = layer->prepare(s);
            const Tensor x = input_for(s, 32), dy = random_tensor(out_shape, 33);
            GuardedBuffer src(s), dst(out_shape), diff_dst(out_shape), diff_src(s);
            Tensor src_view = src.view(), dst_view = dst.view(), dd_view = diff_dst.view();
            src_view.copy_from(x);
            dd_view.copy_from(dy);
            auto check = [&](const char *call, const GuardedBuffer &buffer, const char *what) {
                const std::string damage = buffer.damage();
                if (damage.empty())
                    return true;
                fail("writes only its outputs", std::string(call) + " on input " + s.to_string() + " " +
                                                    damage + " (" + what + ")");
                return false;
            };
            auto unchanged = [&](const char *call, const Tensor &now, const Tensor &before, const char *what) {
                const int64_t i = first_difference(now, before);
                if (i < 0)
                    return true;
                fail("writes only its outputs", std::string(call) + " on input " + s.to_string() +
                                                    " changed its " + what + " at flat index " +
                                                    std::to_string(i));
                return false;
            };
            for (bool training : {false, true}) {
                PluginCall in_progress(m_entry, "forward", s[0]);
                layer->set_training(training);
                layer->forward_plain(src_view, dst_view, training);
                const char *call = training ? "forward (training)" : "forward (inference)";
                if (!check(call, dst, "dst") || !check(call, src, "src") ||
                    !unchanged(call, src_view, x, "input"))
                    return;
            }
            const Tensor y = dst_view.clone();
            Tensor ds_view = diff_src.view();
            PluginCall in_progress(m_entry, "backward", s[0]);
            layer->zero_grad();
            layer->backward_plain(src_view, dst_view, dd_view, &ds_view);
            if (!check("backward", diff_src, "diff_src") || !check("backward", src, "src") ||
                !check("backward", dst, "dst") || !check("backward", diff_dst, "diff_dst") ||
                !unchanged("backward", src_view, x, "input") || !unchanged("backward", dst_view, y, "output") ||
                !unchanged("backward", dd_view, dy, "output gradient"))
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

// ---------------------------------------------------------------- losses

// Predictions in (0.1, 0.9) suit probabilities, logits and regression alike;
// targets are what the loss declares: rows of a distribution (shaped as
// pred) or class indices. An ABI 1.0 loss declares nothing, so both are
// tried, in that order, until forward accepts one.
void check_loss(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context)
{
    std::unique_ptr<LossFunction> loss;
    const ParamList params = probe_params(entry);
    report.begin(entry.name, "create");
    try {
        loss = registry.create_loss(entry.name, params, context);
    } catch (const std::exception &e) {
        report.fail(entry.name, "create", "cannot be created with " + params_text(params) + ": " + e.what());
        return;
    }
    report.begin(entry.name, "gradient");
    constexpr int64_t kClasses = 3;
    GradError worst;
    std::string worst_case;
    std::vector<std::string> cases;
    for (int64_t batch : {1, 4}) {
        const Shape shape{batch, kClasses};
        Tensor distribution = random_tensor(shape, 40 + batch, 0.05f, 1.0f);
        for (int64_t b = 0; b < batch; ++b) {
            float sum = 0;
            for (int64_t c = 0; c < kClasses; ++c)
                sum += distribution.at(b, c);
            for (int64_t c = 0; c < kClasses; ++c)
                distribution.at(b, c) /= sum;
        }
        Tensor classes(Shape{batch});
        for (int64_t b = 0; b < batch; ++b)
            classes[b] = static_cast<float>((b + 1) % kClasses);
        Tensor pred = random_tensor(shape, 50 + batch, 0.1f, 0.9f);
        // Away from pred == target, where |x|-like losses have a kink.
        for (int64_t i = 0; i < pred.numel(); ++i)
            if (std::fabs(pred[i] - distribution[i]) < 0.02f)
                pred[i] += 0.05f;
        std::string refusal;
        bool accepted = false;
        std::vector<const Tensor *> targets = {&distribution, &classes};
        if (entry.loss_target == LossTarget::ClassIndex)
            targets = {&classes};
        else if (entry.loss_target == LossTarget::SameShape)
            targets = {&distribution};
        for (const Tensor *target : targets) {
            try {
                const double value = loss->forward(pred, *target);
                if (!std::isfinite(value))
                    throw std::runtime_error("forward returned " + number(value));
            } catch (const std::exception &e) {
                refusal = e.what();
                continue;
            }
            accepted = true;
            const std::string what = "pred " + pred.shape().to_string() + " with target " +
                                     target->shape().to_string();
            cases.push_back(what);
            try {
                const GradError err = check_loss_gradient(*loss, pred, *target);
                if (err.max_rel > worst.max_rel || worst.index < 0) {
                    worst = err;
                    worst_case = what;
                }
            } catch (const std::exception &e) {
                report.fail(entry.name, "gradient", what + ": " + e.what());
                return;
            }
            break;
        }
        if (!accepted) {
            const std::string tried = targets.size() > 1
                                          ? std::string("both a distribution and a class-index target")
                                          : std::string("the target it declares, ") +
                                                loss_target_text(entry.loss_target);
            report.fail(entry.name, "gradient", "forward refused pred " + shape.to_string() + " with " + tried +
                                                    "; the last said: " + refusal);
            return;
        }
    }
    const std::string over = " (central differences over " + join(cases) + ", tolerance " +
                             number(kGradTolerance) + ")";
    if (worst.max_rel > kGradTolerance || std::isnan(worst.max_rel))
        report.fail(entry.name, "gradient", "maximum relative error " + number(worst.max_rel) +
                                                " of backward against forward at " + worst_case + ": " +
                                                worst.where + over);
    else
        report.pass(entry.name, "gradient", "maximum relative error " + number(worst.max_rel) + over);
}

// ---------------------------------------------------------------- optimizers

struct ParamSet {
    std::vector<Tensor> values, grads;
    std::vector<Parameter> refs;
};

ParamSet make_param_set(uint64_t seed)
{
    ParamSet set;
    const Shape shapes[] = {Shape{3, 4}, Shape{4}};
    const char *names[] = {"weight", "bias"};
    for (int i = 0; i < 2; ++i) {
        set.values.push_back(random_tensor(shapes[i], seed + static_cast<uint64_t>(i)));
        set.grads.push_back(Tensor(shapes[i]));
        set.refs.push_back({names[i], set.values.back(), set.grads.back(), false, nullptr, nullptr});
    }
    return set;
}

// Steps [first, last) with gradients that depend on the step number alone,
// so two runs over the same steps see the same gradients.
void run_steps(Optimizer &opt, ParamSet &set, int first, int last)
{
    for (int k = first; k < last; ++k) {
        for (size_t i = 0; i < set.grads.size(); ++i)
            set.grads[i].copy_from(random_tensor(set.grads[i].shape(), 1000 + 10 * static_cast<uint64_t>(k) + i));
        opt.step();
    }
}

void check_optimizer(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context)
{
    const ParamList params = probe_params(entry);
    auto create = [&] { return registry.create_optimizer(entry.name, params, context); };
    report.begin(entry.name, "step");
    try {
        auto opt = create();
        ParamSet set = make_param_set(60);
        const std::vector<Tensor> before = {set.values[0].clone(), set.values[1].clone()};
        opt->attach(set.refs);
        run_steps(*opt, set, 0, 1);
        bool moved = false;
        for (size_t i = 0; i < set.values.size(); ++i) {
            if (const int64_t bad = set.values[i].first_non_finite(); bad >= 0) {
                report.fail(entry.name, "step", "one step made " + set.refs[i].name + " element " +
                                                    std::to_string(bad) + " non-finite");
                return;
            }
            moved = moved || first_difference(set.values[i], before[i]) >= 0;
        }
        if (!moved) {
            report.fail(entry.name, "step", "a step with non-zero gradients left every parameter "
                                            "unchanged (with " + params_text(params) + ")");
            return;
        }
        report.pass(entry.name, "step", "attached to 2 parameters (16 values); a step moves them and "
                                        "keeps them finite");
    } catch (const std::exception &e) {
        report.fail(entry.name, "step", e.what());
        return;
    }
    report.begin(entry.name, "state round trip");
    try {
        // Uninterrupted: 6 steps. Interrupted: 3 steps, save, a new
        // optimizer on copies of the parameters loads the state, 3 more.
        auto whole = create();
        ParamSet a = make_param_set(70);
        whole->attach(a.refs);
        run_steps(*whole, a, 0, 3);
        const std::vector<uint8_t> state = whole->save_state();
        ParamSet b = make_param_set(70);
        for (size_t i = 0; i < a.values.size(); ++i)
            b.values[i].copy_from(a.values[i]);
        run_steps(*whole, a, 3, 6);
        auto resumed = create();
        resumed->attach(b.refs);
        resumed->load_state(state);
        run_steps(*resumed, b, 3, 6);
        for (size_t i = 0; i < a.values.size(); ++i) {
            if (const int64_t at = first_difference(a.values[i], b.values[i]); at >= 0) {
                report.fail(entry.name, "state round trip",
                            "3 steps, save_state, load_state into a new optimizer and 3 more steps "
                            "leave " + a.refs[i].name + " element " + std::to_string(at) + " at " +
                                number(b.values[i][at]) + ", 6 uninterrupted steps at " +
                                number(a.values[i][at]) + "; is some state not saved?");
                return;
            }
        }
        report.pass(entry.name, "state round trip",
                    std::to_string(state.size()) + " bytes of state; a resumed run equals an "
                                                   "uninterrupted one bit for bit");
    } catch (const std::exception &e) {
        report.fail(entry.name, "state round trip", e.what());
    }
}

} // namespace

namespace {

// The checks of one library, in the check process. first_entry > 0 after a
// crash: the library's own lines were printed by the first process.
void run_checks(const std::string &file, CheckChannel &channel, int first_entry)
{
    Report report(channel);
    Registry registry; // this library alone: nothing else can mask its entries
    // Loaded here and now: this process is the probe, and a crash while
    // loading is the answer the check reports.
    registry.set_isolated_loading(false);
    ComputeContext context;
    const std::string name = std::filesystem::path(file).filename().string();
    report.begin(name, "ABI negotiation");
    const bool loaded = registry.load_library(file);
    const std::string host_abi = std::to_string(NRT_ABI_MAJOR) + "." + std::to_string(NRT_ABI_MINOR);
    if (!loaded && registry.entries().empty()) {
        for (const Refusal &r : registry.refusals())
            report.fail(name, "ABI negotiation", "refused: the library " + r.reason);
        if (registry.refusals().empty())
            report.fail(name, "ABI negotiation", "refused without a reason");
        channel.text(name + ": refused, nothing else checked");
        channel.refused();
        return;
    }
    if (first_entry == 0) {
        const Entry &first = registry.entries().front();
        report.pass(name, "ABI negotiation",
                    "library '" + first.library + "' built for plugin ABI " + std::to_string(first.abi_major) + "." +
                        std::to_string(first.abi_minor) + ", host speaks " + host_abi + "; " +
                        std::to_string(registry.entries().size()) +
                        (registry.entries().size() == 1 ? " entry" : " entries"));
        for (const Refusal &r : registry.refusals())
            report.fail(name, "ABI negotiation", "refused: " + r.reason);
    }
    for (int i = first_entry; i < static_cast<int>(registry.entries().size()); ++i) {
        const Entry &entry = registry.entries()[static_cast<size_t>(i)];
        channel.entry(i);
        check_schema(report, entry);
        switch (entry.kind) {
        case Kind::Layer:
        case Kind::Activation: LayerChecks(report, registry, entry, context).run(); break;
        case Kind::Loss: check_loss(report, registry, entry, context); break;
        case Kind::Optimizer: check_optimizer(report, registry, entry, context); break;
        }
    }
}

} // namespace

int check_plugin(const std::string &file, std::FILE *out, std::FILE *err)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
        std::fprintf(err, "neurite-run: --check-plugin: there is no file '%s'\n", file.c_str());
        return 2;
    }
    const std::string name = std::filesystem::path(file).filename().string();
    const CheckTally tally = run_checks_isolated(
        [&](CheckChannel &channel, int first_entry) { run_checks(file, channel, first_entry); }, out, name);
    if (tally.refused)
        return 1;
    if (tally.failed == 0)
        std::fprintf(out, "%s: all %d checks passed\n", name.c_str(), tally.passed);
    else
        std::fprintf(out, "%s: %d of %d checks failed\n", name.c_str(), tally.failed, tally.failed + tally.passed);
    return tally.failed == 0 ? 0 : 1;
}

} // namespace neurite::cli
