// Element-wise functions whose derivative follows from their output, as plain
// loops. Two uses: an activation fused into a layer, whose backward
// differentiates from the layer's dst; and tensors so small that a oneDNN
// call's fixed cost (about 0.2 µs an execute, mostly its argument map) is more
// than the work, as in the XOR network's [4, 4] activations.
#ifndef NEURITE_PLUGIN_ELTWISE_HPP
#define NEURITE_PLUGIN_ELTWISE_HPP

#include <cmath>
#include <cstdint>

namespace neurite::sdk {

// alpha and beta as oneDNN's eltwise algorithms take them:
//   Linear    y = alpha·x + beta
//   ReLU      y = x > 0 ? x : alpha·x        (alpha ≥ 0: a leaky slope)
//   Logistic  y = 1 / (1 + e^-x)
//   Tanh      y = tanh x
//   ELU       y = x > 0 ? x : alpha·(e^x − 1) (alpha ≥ 0)
enum class EltwiseFn { Linear, ReLU, Logistic, Tanh, ELU };

// Up to this many elements a plain loop beats a oneDNN eltwise call (a
// Sigmoid's forward + backward from Lua: 64 elements in loops 0.67 µs,
// 65 on oneDNN 1.01 µs).
constexpr int64_t kSmallEltwiseElements = 64;

inline void eltwise_forward(EltwiseFn fn, float alpha, float beta, const float *x, float *y, int64_t n)
{
    switch (fn) {
    case EltwiseFn::Linear:
        for (int64_t i = 0; i < n; ++i)
            y[i] = alpha * x[i] + beta;
        break;
    case EltwiseFn::ReLU:
        for (int64_t i = 0; i < n; ++i)
            y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
        break;
    case EltwiseFn::Logistic:
        for (int64_t i = 0; i < n; ++i)
            y[i] = 1.0f / (1.0f + std::exp(-x[i]));
        break;
    case EltwiseFn::Tanh:
        for (int64_t i = 0; i < n; ++i)
            y[i] = std::tanh(x[i]);
        break;
    case EltwiseFn::ELU:
        for (int64_t i = 0; i < n; ++i)
            y[i] = x[i] > 0.0f ? x[i] : alpha * std::expm1(x[i]);
        break;
    }
}

// dx = dy · f'(x), with f' written in terms of y = f(x).
inline void eltwise_backward_from_dst(EltwiseFn fn, float alpha, const float *y, const float *dy, float *dx,
                                      int64_t n)
{
    switch (fn) {
    case EltwiseFn::Linear:
        for (int64_t i = 0; i < n; ++i)
            dx[i] = alpha * dy[i];
        break;
    case EltwiseFn::ReLU:
        for (int64_t i = 0; i < n; ++i)
            dx[i] = y[i] > 0.0f ? dy[i] : alpha * dy[i];
        break;
    case EltwiseFn::Logistic:
        for (int64_t i = 0; i < n; ++i)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case EltwiseFn::Tanh:
        for (int64_t i = 0; i < n; ++i)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case EltwiseFn::ELU: // below 0, f' = alpha·e^x = y + alpha
        for (int64_t i = 0; i < n; ++i)
            dx[i] = y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
        break;
    }
}

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_ELTWISE_HPP
