// --check-plugin for layers and activations: input shapes (one input or
// several), guarded buffers, gradients, the state round trip, determinism,
// and the layouts a layer reads when offered blocked formats.
#include "check_support.h"
#include "layer_probe.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/model.h"
#include "neurite/core/module.h"
#include "neurite/core/plugin_call.h"

#include <exception>

namespace neurite::cli::check {

namespace {

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
        if (!find_cases())
            return;
        // First: a plugin that writes out of bounds would corrupt the heap
        // under the other checks, which use unguarded tensors.
        guarded("writes only its outputs", [&] { writes_only_outputs(); });
        guarded("gradient", [&] { gradient(); });
        guarded("state round trip", [&] { state_round_trip(); });
        guarded("determinism", [&] { determinism(); });
        guarded("layouts", [&] { layouts(); });
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

    // Inputs prepare() accepts: batch 1 and 4 of the first sample shape that
    // fits, and batch 3 of a second one when there is one. A layer that takes
    // no single input is tried with two, then three inputs of one shape
    // (merge layers). Sizes come from the required integers first (`inputs`).
    bool find_cases()
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
        m_sizes = sizes;
        std::vector<std::string> reasons;
        for (int arity = 1; arity <= 3 && m_cases.empty(); ++arity) {
            std::string last_reason;
            std::vector<std::string> tried;
            find_cases_of(arity, tails, tried, last_reason);
            if (m_cases.empty())
                reasons.push_back("with " + std::to_string(arity) + (arity == 1 ? " input" : " inputs") +
                                  " every shape tried (" + join(tried) + ") was refused; the last said: " +
                                  last_reason);
        }
        if (m_cases.empty()) {
            fail("input shapes", "prepare() with " + params_text(m_params) + ": " + join(reasons));
            return false;
        }
        std::vector<std::string> texts;
        for (const Case &c : m_cases)
            texts.push_back(case_text(c));
        pass("input shapes", "prepare() accepts " + join(texts));
        return true;
    }

    void find_cases_of(int arity, const std::vector<Shape> &tails, std::vector<std::string> &tried,
                       std::string &last_reason)
    {
        auto layer = create(1);
        auto accepts = [&](const Case &c) {
            try {
                PluginCall call(m_entry, "prepare", c[0][0]);
                std::vector<Desc> src(c.begin(), c.end()), dst;
                layer->prepare(src, dst);
                return true;
            } catch (const std::exception &e) {
                last_reason = e.what();
                return false;
            }
        };
        for (const Shape &tail : tails) {
            const Case one = with_batch(1, tail, arity), four = with_batch(4, tail, arity);
            if (std::find(tried.begin(), tried.end(), case_text(one)) != tried.end())
                continue;
            tried.push_back(case_text(one));
            if (m_cases.empty()) {
                if (accepts(one) && accepts(four))
                    m_cases = {one, four};
            } else if (!(tail == Shape(m_cases[0][0].span().subspan(1))) &&
                       accepts(with_batch(3, tail, arity))) {
                m_cases.push_back(with_batch(3, tail, arity));
                return;
            }
        }
    }

    void gradient()
    {
        GradError worst;
        std::string worst_case;
        std::vector<std::string> texts;
        uint64_t seed = 100;
        for (const Case &c : m_cases) {
            texts.push_back(case_text(c));
            auto layer = create(seed); // fresh: no state left by another shape
            PluginCall call(m_entry, "forward or backward (gradient check)", c[0][0]);
            const GradError err = c.size() == 1 ? check_layer_gradient(*layer, input_for(c[0], seed + 1), seed + 2)
                                                : check_layer_gradient(*layer, inputs_for(c, seed + 1), seed + 2);
            if (err.max_rel > worst.max_rel || worst.index < 0) {
                worst = err;
                worst_case = case_text(c);
            }
            seed += 10;
        }
        const std::string over = " (central differences over inputs " + join(texts) + ", tolerance " +
                                 number(kGradTolerance) + ")";
        if (worst.max_rel > kGradTolerance || std::isnan(worst.max_rel))
            fail("gradient", "maximum relative error " + number(worst.max_rel) + " in " + worst.tensor +
                                 " element " + std::to_string(worst.index) + " at input " + worst_case + ": " +
                                 worst.where + over);
        else
            pass("gradient", "maximum relative error " + number(worst.max_rel) + over);
    }

    // save_extra_state, a new instance of the same config (another seed, so
    // only the copied parameters can make it equal), load: same outputs.
    void state_round_trip()
    {
        const Case &c = m_cases.back();
        const std::vector<Tensor> x = inputs_for(c, 7);
        auto a = create(11);
        PluginCall call(m_entry, "forward, save_state or load_state", c[0][0]);
        a->set_training(true); // training may change extra state: save that
        LayerRunner(a).forward(x);
        const std::vector<uint8_t> saved = a->save_extra_state();
        auto b = m_registry.create_layer(m_entry.name, a->config(), m_context, 12);
        b->set_label(m_entry.name);
        auto pa = a->parameters();
        auto pb = b->parameters();
        if (pa.size() != pb.size()) {
            fail("state round trip", "two instances of one config have " + std::to_string(pa.size()) + " and " +
                                         std::to_string(pb.size()) + " parameters");
            return;
        }
        for (size_t i = 0; i < pa.size(); ++i) {
            if (!(pa[i].value.shape() == pb[i].value.shape())) {
                fail("state round trip", "parameter '" + pa[i].name + "' is " + pa[i].value.shape().to_string() +
                                             " in one instance and " + pb[i].value.shape().to_string() +
                                             " in another of the same config");
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
        a->set_training(false);
        b->set_training(false);
        const std::vector<Tensor> ya = outputs_copy(LayerRunner(a).forward(x));
        const std::vector<Tensor> yb = outputs_copy(LayerRunner(b).forward(x));
        for (size_t k = 0; k < ya.size(); ++k)
            if (const int64_t i = first_difference(ya[k], yb[k]); i >= 0) {
                fail("state round trip", "the restored instance's output " + std::to_string(k + 1) +
                                             " differs at flat index " + std::to_string(i) + " (" +
                                             number(ya[k][i]) + " vs " + number(yb[k][i]) + ") on input " +
                                             case_text(c) +
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
        for (const Case &c : m_cases) {
            auto layer = create(21);
            layer->set_training(false);
            const std::vector<Tensor> x = inputs_for(c, 22);
            PluginCall call(m_entry, "forward", c[0][0]);
            LayerRunner runner(layer);
            const std::vector<Tensor> y1 = outputs_copy(runner.forward(x));
            const std::vector<Tensor> y2 = outputs_copy(runner.forward(x));
            for (size_t k = 0; k < y1.size(); ++k)
                if (const int64_t i = first_difference(y1[k], y2[k]); i >= 0) {
                    fail("determinism", "two inference forwards on the same " + case_text(c) +
                                            " input differ in output " + std::to_string(k + 1) +
                                            " at flat index " + std::to_string(i) + " (" + number(y1[k][i]) +
                                            " vs " + number(y2[k][i]) + ")");
                    return;
                }
        }
        pass("determinism", "two inference forwards on the same input give identical outputs");
    }

    // forward writes only dst (and its workspace), backward only diff_src
    // (and its own gradients); neither changes the tensors it reads. The
    // buffers are in the formats the layer asked to read and declared.
    void writes_only_outputs()
    {
        for (const Case &c : m_cases) {
            auto layer = create(31);
            PluginCall in_progress(m_entry, "forward or backward", c[0][0]);
            GuardedCall call(*layer, c, plain_offer(c));
            call.fill(inputs_for(c, 32), 33);
            for (bool training : {false, true}) {
                layer->set_training(training);
                call.forward(training);
                const std::string damage = call.damage(training ? "forward (training)" : "forward (inference)",
                                                       /*after_backward=*/false);
                if (!damage.empty()) {
                    fail("writes only its outputs", damage + " on input " + case_text(c));
                    return;
                }
            }
            call.backward();
            const std::string damage = call.damage("backward", /*after_backward=*/true);
            if (!damage.empty()) {
                fail("writes only its outputs", damage + " on input " + case_text(c));
                return;
            }
        }
        pass("writes only its outputs", "guard bytes around every buffer and the workspace intact, inputs "
                                        "unchanged, after forward and backward");
    }

    // Offered its inputs in oneDNN's blocked formats, the layer reads them
    // as they come or asks for another format; either way its outputs and
    // gradients, converted back to plain, are those of a plain run.
    void layouts()
    {
        auto layer = create(41);
        const Case c = layout_case(*layer);
        const std::vector<int32_t> offers = blocked_formats(c[0].size());
        if (offers.empty()) {
            pass("layouts", "takes no input of rank 3 to 5 (tried " + case_text(c) +
                                "); 1-D and 2-D inputs come plain only: nothing to negotiate");
            return;
        }
        layer->set_training(false); // the same function in every run (dropout draws nothing)
        PluginCall in_progress(m_entry, "prepare, forward or backward (layouts)", c[0][0]);
        const std::vector<Tensor> x = inputs_for(c, 42);
        const LayoutRun plain = run_offered(*layer, c, NRT_FORMAT_PLAIN, x, 43);
        std::vector<std::string> seen;
        double worst = 0;
        for (int32_t offer : offers) {
            const LayoutRun run = run_offered(*layer, c, offer, x, 43);
            const std::string mismatch = compare_runs(plain, run, worst);
            if (!mismatch.empty()) {
                fail("layouts", "offered " + format_name(offer) + " (it reads " + run.read + "): " + mismatch +
                                    " differs from the plain run's on input " + case_text(c));
                return;
            }
            seen.push_back(format_name(offer) + " -> reads " + run.read);
        }
        pass("layouts", "offered " + join(seen) + " (plain -> reads " + plain.read +
                            "); outputs and gradients equal the plain run's (largest relative difference " +
                            number(worst) + ")");
    }

    // An input of rank 3 to 5 the layer accepts, where blocked formats
    // exist (batch 2, channels from the probe sizes); else a found case.
    Case layout_case(Module &layer) const
    {
        const int arity = static_cast<int>(m_cases[0].size());
        for (const Shape &tail : {Shape{0, 6, 6}, Shape{0, 5}, Shape{0, 4, 4, 4}})
            for (int64_t k : m_sizes) {
                Shape t = tail;
                t[0] = k;
                const Case c = with_batch(2, t, arity);
                try {
                    std::vector<Desc> src(c.begin(), c.end()), dst;
                    layer.prepare(src, dst);
                    return c;
                } catch (const std::exception &) {
                }
            }
        return m_cases.back();
    }

    Report &m_report;
    const Registry &m_registry;
    const Entry &m_entry;
    ComputeContext &m_context;
    ParamList m_params;
    std::vector<int64_t> m_sizes; // feature sizes to probe with
    std::vector<Case> m_cases;
};

} // namespace

void check_layer(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context)
{
    LayerChecks(report, registry, entry, context).run();
}

} // namespace neurite::cli::check
