#pragma once

// Shared by the unit tests: one registry over the build's plugin folder, and
// the numeric gradient check every layer, activation and loss must pass.
#include "neurite/core/compute_context.h"
#include "neurite/core/loss.h"
#include "neurite/core/module.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/registry.h"

#include <cmath>
#include <functional>
#include <random>
#include <string>

namespace neurite::test {

inline Registry &registry()
{
    static Registry *reg = [] {
        auto *r = new Registry;
        r->load_default_paths();
        return r;
    }();
    return *reg;
}

inline ComputeContext &context()
{
    static ComputeContext *ctx = new ComputeContext;
    return *ctx;
}

inline Tensor random_tensor(const Shape &shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f)
{
    Tensor t(shape);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (float &v : t)
        v = d(rng);
    return t;
}

struct GradError {
    double max_abs = 0;     // largest |analytic - numeric|
    double max_rel = 0;     // largest |a - n| / max(1e-2, |a| + |n|)
    std::string where;      // which element was worst
};

// Central differences of f at x (in place, restored), compared with `analytic`.
// In float, eps ~1e-2..1e-3 balances rounding against curvature.
inline void compare_gradient(Tensor &x, const Tensor &analytic, const std::function<double()> &f,
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
        const double rel = abs_err / std::max(1e-2, std::fabs(a) + std::fabs(numeric));
        if (rel > err.max_rel) {
            err.max_rel = rel;
            err.where = name + "[" + std::to_string(i) + "] analytic " + std::to_string(a) +
                        " numeric " + std::to_string(numeric);
        }
        err.max_abs = std::max(err.max_abs, abs_err);
    }
}

// d/dθ of L = Σ dst·w for a layer, for its input and every parameter.
inline GradError check_layer_gradient(Module &layer, const Tensor &input, uint64_t seed,
                                      double eps = 1e-2)
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
        Tensor value = p.value;
        compare_gradient(value, grad, objective, eps, p.name, err);
    }
    return err;
}

} // namespace neurite::test
