#pragma once

// Numeric gradient checks by central differences, shared by the unit tests
// and `neurite-run --check-plugin`, so a plugin author's check and the
// built-ins' tests judge a backward pass by the same rule.
#include "neurite/core/tensor.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace neurite {

class Layer;
class LossFunction;
class Module;

// The worst element seen by a gradient check.
struct GradError {
    double max_abs = 0;  // largest |analytic - numeric|
    double max_rel = 0;  // largest |a - n| / max(1e-2, |a| + |n|)
    std::string where;   // "centers[4] analytic 0.12 numeric 0.08", the worst element
    std::string tensor;  // "input", "pred" or the parameter's name, of the worst element
    int64_t index = -1;  // its flat index (0-based)
};

// Uniform values in [lo, hi), the same for the same seed on every machine.
Tensor random_tensor(const Shape &shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Central differences of f at x (perturbed in place, then restored), compared
// with `analytic`; updates err where this tensor holds a worse element. In
// float, eps ~1e-2..1e-3 balances rounding against curvature.
void compare_gradient(Tensor &x, const Tensor &analytic, const std::function<double()> &f,
                      double eps, const std::string &name, GradError &err);

// d/dθ of L = Σ dst·w (w random) for a layer in training mode, for its input
// and every parameter. The layer is prepared for input's shape.
GradError check_layer_gradient(Module &layer, const Tensor &input, uint64_t seed,
                               double eps = 1e-2);
// The same for any layer or model and any number of inputs and outputs:
// L = Σ_j Σ dst_j·w_j, against every input and every trained parameter.
GradError check_layer_gradient(Layer &layer, std::vector<Tensor> inputs, uint64_t seed, double eps = 1e-2);

// d loss / d pred of a loss's backward against its forward.
GradError check_loss_gradient(LossFunction &loss, const Tensor &pred, const Tensor &target,
                              double eps = 1e-3);

} // namespace neurite
