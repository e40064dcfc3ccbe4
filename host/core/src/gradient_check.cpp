#include "neurite/core/gradient_check.h"

#include "neurite/core/loss.h"
#include "neurite/core/model.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace neurite {

Tensor random_tensor(const Shape &shape, uint64_t seed, float lo, float hi)
{
    Tensor t(shape);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (float &v : t)
        v = d(rng);
    return t;
}

void compare_gradient(Tensor &x, const Tensor &analytic, const std::function<double()> &f,
                      double eps, const std::string &name, GradError &err)
{
    for (int64_t i = 0; i < x.numel(); ++i) {
        const float saved = x[i];
        x[i] = static_cast<float>(saved + eps);
        const double up = f();
        x[i] = static_cast<float>(saved - eps);
        const double down = f();
        x[i] = saved;
        const double numeric = (up - down) / (2 * eps);
        const double a = analytic[i];
        const double abs_err = std::fabs(a - numeric);
        // The floor keeps near-zero gradients from turning rounding noise
        // into large relative errors.
        const double rel = abs_err / std::max(1e-2, std::fabs(a) + std::fabs(numeric));
        // NaN compares false everywhere: count it as the worst possible error.
        if (rel > err.max_rel || (std::isnan(rel) && !std::isinf(err.max_rel))) {
            err.max_rel = std::isnan(rel) ? INFINITY : rel;
            err.tensor = name;
            err.index = i;
            err.where = name + "[" + std::to_string(i) + "] analytic " + std::to_string(a) +
                        " numeric " + std::to_string(numeric);
        }
        err.max_abs = std::max(err.max_abs, abs_err);
    }
}

GradError check_layer_gradient(Layer &layer, std::vector<Tensor> inputs, uint64_t seed, double eps)
{
    for (Tensor &x : inputs)
        x = x.clone(); // perturbed in place
    const bool was_training = layer.training();
    layer.set_training(true);
    LayerRunner runner(layer.shared_from_this());
    std::vector<Tensor> weights; // L = Σ_j Σ dst_j · w_j
    auto objective = [&]() {
        const std::vector<Tensor> &out = runner.forward(inputs);
        double s = 0;
        for (size_t j = 0; j < out.size(); ++j) {
            if (weights.size() <= j)
                weights.push_back(random_tensor(out[j].shape(), seed + 1 + j));
            for (int64_t i = 0; i < out[j].numel(); ++i)
                s += static_cast<double>(out[j][i]) * weights[j][i];
        }
        return s;
    };
    std::vector<Module *> modules;
    layer.collect_modules(modules);
    // A layer that draws random numbers in training (dropout) keeps its
    // generator in its extra state. Every evaluation starts from the same
    // state, so all of them, the analytic one included, see one draw. The
    // first forward runs before the state is taken: what a layer does once
    // (RBF placing its centres on data) is then done.
    objective();
    std::vector<std::vector<uint8_t>> states;
    for (Module *m : modules)
        states.push_back(m->save_extra_state());
    auto restore = [&] {
        for (size_t k = 0; k < modules.size(); ++k)
            if (!states[k].empty())
                modules[k]->load_extra_state(states[k]);
    };
    auto same_draw = [&] {
        restore();
        return objective();
    };
    same_draw();
    for (Module *m : modules)
        m->zero_grad(false); // immediate: the check reads the gradients
    std::vector<Tensor> diff_src;
    for (const Tensor &g : runner.backward(inputs, weights))
        diff_src.push_back(g.clone());
    GradError err;
    for (size_t k = 0; k < inputs.size(); ++k)
        compare_gradient(inputs[k], diff_src[k], same_draw, eps,
                         inputs.size() == 1 ? "input" : "input " + std::to_string(k + 1), err);
    for (Module *m : modules)
        for (const Parameter &p : m->parameters()) {
            if (p.buffer)
                continue;
            Tensor grad = p.grad.clone();
            Tensor value = p.value; // shares the layer's memory: perturbing it moves the layer
            compare_gradient(value, grad, same_draw, eps,
                             modules.size() == 1 ? p.name : m->label() + " " + p.name, err);
        }
    layer.set_training(was_training);
    return err;
}

GradError check_layer_gradient(Module &layer, const Tensor &input, uint64_t seed, double eps)
{
    return check_layer_gradient(static_cast<Layer &>(layer), std::vector<Tensor>{input}, seed, eps);
}

GradError check_loss_gradient(LossFunction &loss, const Tensor &pred, const Tensor &target,
                              double eps)
{
    Tensor p = pred.clone();
    Tensor diff(p.shape());
    loss.forward(p, target);
    loss.backward(p, target, diff);
    GradError err;
    compare_gradient(p, diff, [&] { return loss.forward(p, target); }, eps, "pred", err);
    return err;
}

} // namespace neurite
