// Dense's helpers: activation table, initialisation, the small loops that
// are cheaper in plain C++ than as separate oneDNN primitives.
#pragma once

#include <neurite/plugin.hpp>
#include <neurite/plugin_eltwise.hpp>
#include <neurite/plugin_parallel.hpp>

#include <dnnl.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include <omp.h>

namespace neurite::dense {

enum class Act { Identity, ReLU, Sigmoid, Tanh, ELU, SoftPlus, GELU, Swish };

struct ActInfo {
    const char *name;
    Act act;
    dnnl::algorithm forward;  // the post-op, or the separate eltwise
    dnnl::algorithm backward; // eltwise backward algorithm (unfused only)
    bool fused;               // post-op, backward from dst in fused_activation_backward
    float alpha;
    sdk::EltwiseFn fn;        // the plain-loop form (fused ones only)
};

// gelu_tanh: GELU by its tanh approximation rather than the exact erf form
// (PyTorch's nn.GELU(approximate = "tanh")); erf is PyTorch's and Keras's default.
inline const ActInfo *find_activation(const std::string &name, bool gelu_tanh)
{
    using dnnl::algorithm;
    static constexpr ActInfo tanh_gelu = {"gelu", Act::GELU, algorithm::eltwise_gelu_tanh,
                                          algorithm::eltwise_gelu_tanh, false, 0.0f, {}};
    if (gelu_tanh) {
        if (name != "gelu")
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Dense: approximate = \"tanh\" applies to activation = "
                                                "\"gelu\" only, not \"" + name + "\"");
        return &tanh_gelu;
    }
    using Fn = sdk::EltwiseFn;
    static constexpr ActInfo acts[] = {
        {"identity", Act::Identity, algorithm::eltwise_linear, algorithm::eltwise_linear, true, 1.0f, Fn::Linear},
        {"relu", Act::ReLU, algorithm::eltwise_relu, algorithm::eltwise_relu, true, 0.0f, Fn::ReLU},
        {"sigmoid", Act::Sigmoid, algorithm::eltwise_logistic, algorithm::eltwise_logistic, true, 0.0f, Fn::Logistic},
        {"tanh", Act::Tanh, algorithm::eltwise_tanh, algorithm::eltwise_tanh, true, 0.0f, Fn::Tanh},
        {"elu", Act::ELU, algorithm::eltwise_elu, algorithm::eltwise_elu, true, 1.0f, Fn::ELU},
        {"softplus", Act::SoftPlus, algorithm::eltwise_soft_relu, algorithm::eltwise_soft_relu, false, 0.0f, {}},
        {"gelu", Act::GELU, algorithm::eltwise_gelu_erf, algorithm::eltwise_gelu_erf, false, 0.0f, {}},
        {"swish", Act::Swish, algorithm::eltwise_swish, algorithm::eltwise_swish, false, 1.0f, {}},
    };
    for (const ActInfo &a : acts)
        if (name == a.name)
            return &a;
    sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Dense: unknown activation '" + name + "'");
}

using sdk::OneThread;

inline void initialise(float *w, int64_t in, int64_t out, std::string how, Act act, uint64_t seed)
{
    if (how == "auto")
        how = (act == Act::Sigmoid || act == Act::Tanh || act == Act::Identity) ? "xavier" : "he";
    std::mt19937_64 rng(seed);
    const size_t count = static_cast<size_t>(in * out);
    if (how == "xavier") {
        const float a = std::sqrt(6.0f / static_cast<float>(in + out));
        std::uniform_real_distribution<float> d(-a, a);
        for (size_t i = 0; i < count; ++i)
            w[i] = d(rng);
    } else if (how == "he") {
        std::normal_distribution<float> d(0.0f, std::sqrt(2.0f / static_cast<float>(in)));
        for (size_t i = 0; i < count; ++i)
            w[i] = d(rng);
    } else if (how == "uniform") {
        const float a = 1.0f / std::sqrt(static_cast<float>(in));
        std::uniform_real_distribution<float> d(-a, a);
        for (size_t i = 0; i < count; ++i)
            w[i] = d(rng);
    } else if (how == "zeros") {
        std::memset(w, 0, count * sizeof(float));
    } else {
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Dense: unknown init '" + how + "'");
    }
}

// n rows of `width` floats from a matrix with leading dimension src_ld.
inline void copy_columns(const float *src, int64_t src_ld, float *dst, int64_t dst_ld, int64_t width,
                         int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * dst_ld, src + i * src_ld, static_cast<size_t>(width) * sizeof(float));
}

// d pre = d dst · f'(pre), through dst = f(pre), for the fused activations.
// dst and diff_dst have leading dimension ld; diff_pre is contiguous {n, width}.
inline void fused_activation_backward(const ActInfo &act, const float *dst, const float *diff_dst, int64_t ld,
                                      float *diff_pre, int64_t width, int64_t n)
{
    if (!act.fused)
        sdk::fail(NRT_ERR_INTERNAL, "Dense: activation has no fused backward");
    for (int64_t r = 0; r < n; ++r)
        sdk::eltwise_backward_from_dst(act.fn, act.alpha, dst + r * ld, diff_dst + r * ld, diff_pre + r * width,
                                       width);
}

// An f32 gradient as it is, a bf16 one (its upper 16 bits) widened.
inline float widened(float v) { return v; }
inline float widened(uint16_t bf16) { return std::bit_cast<float>(static_cast<uint32_t>(bf16) << 16); }

// db[j] (+)= Σ_i diff_pre[i][j] over n rows of `width` (f32, or bf16 as uint16_t).
template <class T> void column_sums(const T *diff_pre, int64_t width, int64_t n, float *db, bool overwrite)
{
    if (overwrite)
        std::memset(db, 0, static_cast<size_t>(width) * sizeof(float));
    for (int64_t i = 0; i < n; ++i) {
        const T *row = diff_pre + i * width;
#pragma omp simd
        for (int64_t j = 0; j < width; ++j)
            db[j] += widened(row[j]);
    }
}

} // namespace neurite::dense
