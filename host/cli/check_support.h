// What the checks of `neurite-run --check-plugin` share: the report sent to
// the parent process, guarded buffers, inputs and parameters for probing.
#pragma once

#include "check_process.h"

#include "neurite/core/gradient_check.h"
#include "neurite/core/registry.h"
#include "neurite/core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace neurite {
class ComputeContext;
}

namespace neurite::cli::check {

// Relative error a float backward pass may show against central differences
// (the same bound the built-ins' tests use).
inline constexpr double kGradTolerance = 2e-2;
// Floats of canary on each side of a buffer a plugin writes: 256 bytes, so
// the buffer itself stays 64-byte aligned as the host's tensors are.
inline constexpr int64_t kGuard = 64;
// A signalling-NaN bit pattern no computation produces by accident.
inline constexpr uint32_t kCanary = 0x7fa5a5a5u;

inline std::string number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

inline std::string join(const std::vector<std::string> &items)
{
    std::string s;
    for (const std::string &item : items)
        s += (s.empty() ? "" : ", ") + item;
    return s;
}

inline std::string params_text(const ParamList &params)
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
    explicit GuardedBuffer(const Shape &shape) : GuardedBuffer(shape.numel(), shape.to_string()) { m_shape = shape; }
    // `floats` of memory (a blocked format's padding included), named `what` in messages.
    GuardedBuffer(int64_t floats, std::string what) : m_what(std::move(what)), m_count(floats)
    {
        const size_t bytes = static_cast<size_t>(m_count + 2 * kGuard) * sizeof(float);
        m_memory.reset(static_cast<float *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
        if (!m_memory)
            throw std::bad_alloc();
        for (int64_t i = 0; i < m_count + 2 * kGuard; ++i)
            std::memcpy(m_memory.get() + i, &kCanary, sizeof kCanary);
    }
    Tensor view() const { return Tensor::view(data(), m_shape); }
    float *data() const { return m_memory.get() + kGuard; }
    int64_t size() const { return m_count; }
    // Which canary changed, as the end of a sentence, or "" when none did.
    std::string damage() const
    {
        for (int64_t i = 0; i < kGuard; ++i) {
            if (changed(kGuard + m_count + i))
                return "wrote float " + std::to_string(i) + " past the end of its " + m_what + " buffer";
            if (changed(kGuard - 1 - i))
                return "wrote float " + std::to_string(i + 1) + " before the start of its " + m_what +
                       " buffer";
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
    std::string m_what;
    Shape m_shape;
    int64_t m_count;
    std::unique_ptr<float, Free> m_memory;
};

// Flat index of the first bitwise difference, or -1.
inline int64_t first_difference(const Tensor &a, const Tensor &b)
{
    if (!(a.shape() == b.shape()))
        return 0;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (std::memcmp(a.data() + i, b.data() + i, sizeof(float)) != 0)
            return i;
    return -1;
}

// Inputs in [-1.05, -0.05] ∪ [0.05, 1.05]: kinks at 0 (ReLU, |x|) are not
// straddled by a finite difference. Images ([N, C, H, W]) get distinct
// values 0.025 apart instead, shuffled and just as far from 0, so that a
// finite difference (0.01) never reorders two of them: max pooling's
// windows keep their winners while the gradient check perturbs them.
inline Tensor input_for(const Shape &shape, uint64_t seed)
{
    Tensor t = random_tensor(shape, seed);
    if (shape.size() == 4) {
        const int64_t n = t.numel();
        for (int64_t i = 0; i < n; ++i)
            t[i] = 0.025f * static_cast<float>(i - n / 2);
        std::shuffle(t.begin(), t.end(), std::mt19937_64(seed));
    }
    for (float &v : t)
        v = v < 0 ? v - 0.05f : v + 0.05f;
    return t;
}

// The smallest valid value of every required parameter: enough to build an
// instance without guessing what the optional ones mean.
inline ParamList probe_params(const Entry &entry)
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
        case ParamType::IntPair: params.emplace_back(p.name, clamp(1.0)); break;
        }
    }
    return params;
}

// The checks of a layer or activation entry (layer_check.cpp).
void check_layer(Report &report, const Registry &registry, const Entry &entry, ComputeContext &context);

} // namespace neurite::cli::check
