// Element-wise activations that oneDNN's eltwise primitive does not offer,
// written as plain loops over contiguous f32 arrays.
//
// Each activation overrides one whole-array function per direction, so there
// is one virtual call per tensor and the loops inside stay simple enough for
// the compiler to vectorize. No oneDNN and no allocation after prepare().

#include <neurite/plugin.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr const char *kVersion = "1.0.0";

class Pointwise : public sdk::Layer {
public:
    void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) override
    {
        m_shape.reset();
        sdk::require_src_dims(m_name, src_dims);
        m_shape.assign(src_dims);
        dst_dims.assign(src_dims.begin(), src_dims.end());
    }

    void forward(const nrt_tensor &src, nrt_tensor &dst, bool) override
    {
        m_shape.check(m_name, src, "src");
        m_shape.check(m_name, dst, "dst");
        if (m_shape.numel() > 0)
            apply(sdk::f32(src), sdk::f32(dst), m_shape.numel());
    }

    void backward(const nrt_tensor &src, const nrt_tensor &, const nrt_tensor &diff_dst,
                  nrt_tensor *diff_src) override
    {
        if (!diff_src)
            return; // no parameters, so nothing else to compute
        m_shape.check(m_name, src, "src");
        m_shape.check(m_name, diff_dst, "diff_dst");
        m_shape.check(m_name, *diff_src, "diff_src");
        if (m_shape.numel() > 0)
            gradient(sdk::f32(src), sdk::f32(diff_dst), sdk::f32(*diff_src), m_shape.numel());
    }

protected:
    explicit Pointwise(const char *name) : m_name(name) {}

    // dst may alias src, and diff_src may alias diff_dst (in-place use), so
    // implementations read element i before writing element i and never
    // promise the compiler that the arrays are disjoint.
    virtual void apply(const float *src, float *dst, int64_t n) const = 0;
    virtual void gradient(const float *src, const float *diff_dst, float *diff_src,
                          int64_t n) const = 0;

private:
    const char *m_name;
    sdk::PreparedShape m_shape;
};

// Shared by the step functions: their derivative is 0 wherever it exists, so
// the honest gradient is zero and nothing flows to earlier layers.
void write_zero_gradient(float *diff_src, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        diff_src[i] = 0.0f;
}

class BinaryStep final : public Pointwise {
public:
    BinaryStep(sdk::Host, sdk::Params, uint64_t) : Pointwise("BinaryStep") {}

protected:
    void apply(const float *src, float *dst, int64_t n) const override
    {
        for (int64_t i = 0; i < n; ++i)
            dst[i] = src[i] >= 0.0f ? 1.0f : 0.0f;
    }
    void gradient(const float *, const float *, float *diff_src, int64_t n) const override
    {
        write_zero_gradient(diff_src, n);
    }
};

class Sign final : public Pointwise {
public:
    Sign(sdk::Host, sdk::Params, uint64_t) : Pointwise("Sign") {}

protected:
    // 0 maps to +1 so that the output is always a valid sign, as in the lecture.
    void apply(const float *src, float *dst, int64_t n) const override
    {
        for (int64_t i = 0; i < n; ++i)
            dst[i] = src[i] >= 0.0f ? 1.0f : -1.0f;
    }
    void gradient(const float *, const float *, float *diff_src, int64_t n) const override
    {
        write_zero_gradient(diff_src, n);
    }
};

class ArcTan final : public Pointwise {
public:
    ArcTan(sdk::Host, sdk::Params, uint64_t) : Pointwise("ArcTan") {}

protected:
    void apply(const float *src, float *dst, int64_t n) const override
    {
        for (int64_t i = 0; i < n; ++i)
            dst[i] = std::atan(src[i]);
    }
    void gradient(const float *src, const float *diff_dst, float *diff_src,
                  int64_t n) const override
    {
        for (int64_t i = 0; i < n; ++i) {
            const float x = src[i];
            diff_src[i] = diff_dst[i] / (1.0f + x * x);
        }
    }
};

const nrt_entry kBinaryStep = sdk::make_entry<BinaryStep>(
    NRT_KIND_ACTIVATION, "BinaryStep", kVersion,
    "BinaryStep: f(x) = 1 if x >= 0 else 0; derivative is 0 (undefined at 0); "
    "gradients do not flow");
const nrt_entry kSign = sdk::make_entry<Sign>(
    NRT_KIND_ACTIVATION, "Sign", kVersion,
    "Sign: f(x) = -1 if x < 0 else +1; derivative is 0 (undefined at 0); gradients do not flow");
const nrt_entry kArcTan = sdk::make_entry<ArcTan>(
    NRT_KIND_ACTIVATION, "ArcTan", kVersion, "ArcTan: f(x) = atan(x), f' = 1/(1+x^2)");

} // namespace

NEURITE_PLUGIN("neurite-activation-pointwise", kVersion, &kBinaryStep, &kSign, &kArcTan)
