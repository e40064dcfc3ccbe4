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

GradError check_layer_gradient(Module &layer, const Tensor &input, uint64_t seed, double eps)
{
    Tensor x = input.clone();
    const bool was_training = layer.training();
    layer.set_training(true);
    LayerRunner runner(std::static_pointer_cast<Layer>(layer.shared_from_this()));
    Tensor w;
    auto objective = [&]() {
        const Tensor &out = runner.forward(x);
        if (!w.defined())
            w = random_tensor(out.shape(), seed + 1);
        double s = 0;
        for (int64_t i = 0; i < out.numel(); ++i)
            s += static_cast<double>(out[i]) * w[i];
        return s;
    };
    objective();
    layer.zero_grad(false); // immediate: the check reads the gradients
    const Tensor diff_src = runner.backward(x, w).clone();
    GradError err;
    compare_gradient(x, diff_src, objective, eps, "input", err);
    for (const Parameter &p : layer.parameters()) {
        if (p.buffer)
            continue;
        Tensor grad = p.grad.clone();
        Tensor value = p.value; // shares the layer's memory: perturbing it moves the layer
        compare_gradient(value, grad, objective, eps, p.name, err);
    }
    layer.set_training(was_training);
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
