// Input checks and small numeric helpers that most plugins need. The host
// checks what it can, but a plugin is also called by tests and other hosts,
// and one unchecked NaN or shape reaches every weight; these checks let
// every plugin refuse bad input early, with the same words for the same
// problem. plugin.hpp includes this header; it can also be included alone.
#ifndef NEURITE_PLUGIN_CHECKS_HPP
#define NEURITE_PLUGIN_CHECKS_HPP

#include "neurite/plugin.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace neurite::sdk {

// ---------------------------------------------------------------- numbers

// Shortest text that reads back as the same value ("3", "1.5", "1e-07"), so
// error messages show what the user passed rather than "3.000000".
inline std::string number_text(double v)
{
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

// Sums term(i) over [0, n) in double. A single accumulator would pin the
// order of additions and keep the loop scalar; eight lanes let the compiler
// interleave, and vectorize where the term allows.
template <class Term> double lane_sum(int64_t n, Term term)
{
    constexpr int64_t kLanes = 8;
    double acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int64_t j = 0; j < kLanes; ++j)
            acc[j] += term(i + j);
    double total = 0.0;
    for (; i < n; ++i)
        total += term(i);
    for (int64_t j = 0; j < kLanes; ++j)
        total += acc[j];
    return total;
}

// ---------------------------------------------------------------- tensors

// Everything about a tensor that can be wrong before its values are read.
// For tensors no prepare() has vouched for, such as a loss's inputs.
inline void check_tensor(const nrt_tensor &t, const char *what)
{
    // Rank first: everything below indexes dims[] and strides[] by it.
    if (t.ndims < 0 || t.ndims > NRT_MAX_DIMS)
        fail(NRT_ERR_SHAPE, std::string(what) + " has rank " + std::to_string(t.ndims) +
                                ", expected 0.." + std::to_string(NRT_MAX_DIMS));
    for (int i = 0; i < t.ndims; ++i)
        if (t.dims[i] < 0)
            fail(NRT_ERR_SHAPE,
                 std::string(what) + " " + shape_string(t) + " has a negative dimension");
    require_contiguous(t, what);
    if (!t.data && numel(t) > 0)
        fail(NRT_ERR_INVALID_ARGUMENT, std::string(what) + " " + shape_string(t) + " has no data");
}

// purpose completes the message, e.g. "a loss needs at least one element".
inline void require_nonempty(const nrt_tensor &t, const char *what, const char *purpose)
{
    if (numel(t) == 0)
        fail(NRT_ERR_SHAPE, std::string(what) + " " + shape_string(t) + " is empty; " + purpose);
}

// One NaN or Inf poisons every weight it reaches, so it is refused at the
// door. x * 0 is NaN exactly when x is NaN or +-Inf, so a summing pass answers
// "any?" cheaply; only a failing tensor pays for the scan that finds where.
// Independent lanes let the compiler use SIMD without -ffast-math (which
// would assume the NaN away). purpose completes the message, e.g. "a loss
// needs finite values". t must have passed check_tensor().
inline void require_finite(const nrt_tensor &t, const char *what, const char *purpose)
{
    constexpr int64_t kLanes = 16;
    const float *x = f32(t);
    const int64_t n = numel(t);
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int64_t j = 0; j < kLanes; ++j)
            acc[j] += x[i + j] * 0.0f;
    float total = 0.0f;
    for (; i < n; ++i)
        total += x[i] * 0.0f;
    for (int64_t j = 0; j < kLanes; ++j)
        total += acc[j];
    if (!std::isnan(total))
        return;
    for (int64_t k = 0; k < n; ++k) {
        if (!std::isfinite(x[k])) {
            const char *value = std::isnan(x[k]) ? "nan" : (x[k] > 0 ? "inf" : "-inf");
            fail(NRT_ERR_NUMERIC, std::string(what) + " " + shape_string(t) + " holds " + value +
                                      " at flat index " + std::to_string(k) + " (0-based); " +
                                      purpose);
        }
    }
}

// ---------------------------------------------------------------- losses

// The purposes losses give, so that every loss says it alike.
inline constexpr const char *kLossNeedsElements = "a loss needs at least one element";
inline constexpr const char *kLossNeedsFinite = "a loss needs finite values";

// pred and target of a loss that pairs them element by element, as flat arrays.
struct ElementwiseLossInputs {
    const float *pred;
    const float *target;
    int64_t count;
};

// Everything such a loss needs before touching data: both tensors valid, of
// one shape (they are read with the same flat index), not empty, finite.
inline ElementwiseLossInputs check_elementwise_loss(const nrt_tensor &pred,
                                                    const nrt_tensor &target)
{
    check_tensor(pred, "pred");
    check_tensor(target, "target");
    require_same_shape(pred, "pred", target, "target");
    require_nonempty(pred, "pred", kLossNeedsElements);
    require_finite(pred, "pred", kLossNeedsFinite);
    require_finite(target, "target", kLossNeedsFinite);
    return {f32(pred), f32(target), numel(pred)};
}

// For Loss::backward, after pred was checked: the gradient it writes.
inline float *check_diff_pred(const nrt_tensor &diff_pred, const nrt_tensor &pred)
{
    check_tensor(diff_pred, "diff_pred");
    require_same_shape(diff_pred, "diff_pred", pred, "pred");
    return f32(diff_pred);
}

// ---------------------------------------------------------------- layers

// For Layer::prepare(): a rank the ABI can carry and no negative extent. An
// empty tensor passes: the host may feed an empty batch, and most layers do
// nothing on it. rank_note, if given, ends the rank message with why.
inline void require_src_dims(const char *layer, std::span<const int64_t> dims,
                             const char *rank_note = nullptr)
{
    if (dims.empty() || dims.size() > NRT_MAX_DIMS)
        fail(NRT_ERR_SHAPE, std::string(layer) + ": src rank " + std::to_string(dims.size()) +
                                " is not in 1.." + std::to_string(NRT_MAX_DIMS) +
                                (rank_note ? std::string("; ") + rank_note : std::string()));
    for (int64_t d : dims)
        if (d < 0)
            fail(NRT_ERR_SHAPE, std::string(layer) + ": src " + shape_string(dims) +
                                    " has a negative dimension");
}

// The input shape of a layer's last successful prepare(). Whatever was built
// for that shape (primitives, buffers, loop bounds) is only right for it, so
// forward and backward check every tensor against it. reset() before
// rebuilding, so that a prepare() that fails halfway leaves nothing usable.
class PreparedShape {
public:
    void reset() { m_ndims = 0; }
    // dims must have passed require_src_dims().
    void assign(std::span<const int64_t> dims)
    {
        m_ndims = static_cast<int32_t>(dims.size());
        m_numel = 1;
        for (std::size_t i = 0; i < dims.size(); ++i) {
            m_dims[i] = dims[i];
            m_numel *= dims[i];
        }
    }
    bool ready() const { return m_ndims > 0; }
    int64_t numel() const { return m_numel; }

    // Cheap enough for every call: strings are built only to report an error.
    void check(const char *layer, const nrt_tensor &t, const char *what) const
    {
        if (!ready())
            fail(NRT_ERR_STATE, std::string(layer) + ": prepare() must succeed before " +
                                    "forward() or backward()");
        require_contiguous(t, what);
        bool same = t.ndims == m_ndims;
        for (int i = 0; same && i < m_ndims; ++i)
            same = t.dims[i] == m_dims[i];
        if (!same)
            fail(NRT_ERR_SHAPE, std::string(layer) + ": " + what + " " + shape_string(t) +
                                    " does not match the prepared shape " +
                                    shape_string(m_ndims, m_dims.data()));
        if (!t.data && m_numel > 0)
            fail(NRT_ERR_INVALID_ARGUMENT, std::string(layer) + ": " + what + " has no data");
    }

private:
    int32_t m_ndims = 0;
    int64_t m_numel = 0;
    std::array<int64_t, NRT_MAX_DIMS> m_dims{};
};

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_CHECKS_HPP
