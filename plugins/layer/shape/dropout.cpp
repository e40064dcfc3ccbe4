// Dropout: in training, each value is zeroed with probability p and the
// survivors are scaled by 1 / (1 − p), so the expected output is the input;
// in evaluation it is the identity.
//
// The mask is a pure function of the layer's creation seed (which the host
// derives from the run's seed: --seed, tensor.seed), the number of training
// forwards before it and the element's index: a counter-based generator, so
// the same seed gives the same masks, threads split the work without
// changing them, and a checkpoint that saves the counter (the layer's extra
// state, with the seed) resumes the sequence where it stopped. The mask lives in the call's
// workspace, as the factor each value was multiplied by, for backward.
//
// Elementwise, so it reads and writes whatever layout the layer before
// wrote (a blocked one after a convolution stays blocked).
#include "shape_common.hpp"

#include <neurite/plugin_parallel.hpp>

#include <cmath>
#include <cstring>
#include <string>

namespace neurite::shape {

namespace {

// Below this many values a fork/join costs more than the loop.
constexpr int64_t kParallelMin = 1 << 15;
// 2^64 / φ: consecutive counters times this land far apart (SplitMix64's step).
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

// SplitMix64's finalizer: a bijection that scrambles every input bit into
// every output bit, enough to turn a counter into uniform draws.
inline uint64_t scramble(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

double checked_p(double p)
{
    if (!(p >= 0.0 && p < 1.0))
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Dropout: p = " + sdk::number_text(p) +
                                                " is outside [0, 1); p is the probability of zeroing a value, "
                                                "and p = 1 would zero them all");
    return p;
}

class Dropout final : public sdk::GraphLayer {
public:
    Dropout(sdk::Host, sdk::Params params, uint64_t seed)
        : m_p(checked_p(params.number("p"))), m_scale(static_cast<float>(1.0 / (1.0 - m_p))), m_seed(seed)
    {
        // A value is kept when its 24-bit draw u satisfies u ≥ p · 2^24.
        m_threshold = static_cast<uint32_t>(std::ceil(m_p * static_cast<double>(1u << 24)));
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Dropout", 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sdk::require_src_dims("Dropout", dims);
        // A blocked layout stays blocked, in f32 (a bf16 model offers bf16).
        const bool keep = p.src_format(0) != NRT_FORMAT_PLAIN;
        if (keep)
            p.want_src(0, p.src_format(0));
        const int32_t format = keep ? p.src_format(0) : NRT_FORMAT_PLAIN;
        p.add_output(dims, format);
        p.set_workspace(stored_bytes(dims, format)); // the mask, one factor per stored value
    }

    void forward(const sdk::Call &c) override
    {
        const int64_t n = stored_values(c.src(0));
        const float *src = sdk::f32(c.src(0));
        float *dst = sdk::f32(c.dst(0));
        if (!c.training() || m_p == 0.0) {
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
        }
        float *mask = c.workspace();
        const uint64_t key = scramble(m_seed ^ scramble((m_draws + 1) * kGolden));
        ++m_draws;
        sdk::parallel_for(n, kParallelMin, [&](int64_t first, int64_t last) {
            for (int64_t i = first; i < last; ++i) {
                const auto u = static_cast<uint32_t>(scramble(key + static_cast<uint64_t>(i) * kGolden) >> 40);
                mask[i] = u >= m_threshold ? m_scale : 0.0f;
            }
#pragma omp simd
            for (int64_t i = first; i < last; ++i)
                dst[i] = src[i] * mask[i];
        });
    }

    void backward(const sdk::Call &c) override
    {
        nrt_tensor *diff_src = c.diff_src(0);
        if (!diff_src)
            return; // no parameters
        const int64_t n = stored_values(c.src(0));
        const float *diff_dst = sdk::f32(c.diff_dst(0));
        float *out = sdk::f32(*diff_src);
        if (!c.training() || m_p == 0.0) {
            std::memcpy(out, diff_dst, static_cast<size_t>(n) * sizeof(float));
            return;
        }
        const float *mask = c.workspace();
        sdk::parallel_for(n, kParallelMin, [&](int64_t first, int64_t last) {
#pragma omp simd
            for (int64_t i = first; i < last; ++i)
                out[i] = diff_dst[i] * mask[i];
        });
    }

    // The seed and the number of masks drawn: a layer rebuilt from a
    // checkpoint (under another creation seed) resumes the same sequence.
    void save_state(const sdk::Writer &w) const override
    {
        w.value<uint32_t>(kStateVersion);
        w.value<uint64_t>(m_seed);
        w.value<uint64_t>(m_draws);
    }

    void load_state(sdk::Reader &r) override
    {
        const auto version = r.value<uint32_t>();
        if (version != kStateVersion)
            sdk::fail(NRT_ERR_STATE, "Dropout state version " + std::to_string(version) + " is not " +
                                         std::to_string(kStateVersion));
        m_seed = r.value<uint64_t>();
        m_draws = r.value<uint64_t>();
    }

private:
    static constexpr uint32_t kStateVersion = 1;

    double m_p;
    float m_scale;
    uint32_t m_threshold = 0;
    uint64_t m_seed;
    uint64_t m_draws = 0;
};

constexpr nrt_param_spec kParams[] = {
    sdk::float_param("p", 0.5, 0.0, 1.0,
                     "Probability of zeroing each value in training, in [0, 1); the rest are scaled by 1 / (1 - p)."),
};

} // namespace

const nrt_entry kDropoutEntry = sdk::make_entry<Dropout>(
    NRT_KIND_LAYER, "Dropout", "1.0.0",
    "Zeroes each value with probability p in training and scales the rest by 1 / (1 - p); identity in evaluation",
    kParams);

} // namespace neurite::shape
