#include "neurite/core/gradient_check.h"

#include "neurite/core/loss.h"
#include "neurite/core/module.h"

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

GradError check_layer_gradient(Module &layer, const Tensor &input, uint64_t seed, double eps)
{
    Tensor x = input.clone();
    const Shape out_shape = layer.prepare(x.shape());
    Tensor out(out_shape);
    const Tensor w = random_tensor(out_shape, seed + 1);
    auto objective = [&]() {
        layer.forward(x, out, true);
        double s = 0;
        for (int64_t i = 0; i < out.numel(); ++i)
            s += static_cast<double>(out[i]) * w[i];
        return s;
    };
    objective();
    Tensor diff_src(x.shape());
    layer.zero_grad(); // immediate: the check reads the gradients
    layer.backward(x, out, w, &diff_src);
    GradError err;
    compare_gradient(x, diff_src, objective, eps, "input", err);
    for (const Parameter &p : layer.parameters()) {
        Tensor grad = p.grad.clone();
        Tensor value = p.value; // shares the plugin's memory: perturbing it moves the layer
        compare_gradient(value, grad, objective, eps, p.name, err);
    }
    return err;
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
