#include "plugin_check.h"

#include "check_process.h"
#include "check_support.h"

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

using namespace check;


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
        if ((p.type == ParamType::FloatList || p.type == ParamType::IntPair) && p.has_range())
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
        case Kind::Activation: check_layer(report, registry, entry, context); break;
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
