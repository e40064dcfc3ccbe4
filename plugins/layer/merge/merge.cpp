// Merge layers, the joints of residual and branching models: Add, Multiply
// and Concat. ABI 1.1 layers with several inputs and no parameters.
//
// Add reads its inputs in whatever format their producers wrote, when they
// all agree (a sum is a sum in any layout, padding included), so a residual
// connection between two oneDNN layers costs no conversion. Multiply and
// Concat read plain f32.
#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>
#include <neurite/plugin_parallel.hpp>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;

constexpr int kManyInputs = 1 << 30;
// Below this many elements a fork/join costs more than the loop.
constexpr int64_t kParallelMin = 1 << 16;

void require_same_shapes(const char *layer, const sdk::Prepare &p)
{
    for (int i = 1; i < p.inputs(); ++i) {
        const auto a = p.src_dims(0), b = p.src_dims(i);
        if (!std::equal(a.begin(), a.end(), b.begin(), b.end()))
            sdk::fail(NRT_ERR_SHAPE, std::string(layer) + ": inputs " + p.src_shape(0) + " and " +
                                         p.src_shape(i) + " must have the same shape (input " +
                                         std::to_string(i + 1) + " differs)");
    }
}

int64_t elements(const nrt_tensor &t) { return sdk::numel(t); }

// Split over threads for large tensors.
template <class Body> void parallel_for(int64_t n, Body &&body) { sdk::parallel_for(n, kParallelMin, body); }

class Add final : public sdk::GraphLayer {
public:
    Add(sdk::Host, sdk::Params, uint64_t) {}

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Add", 2, kManyInputs);
        require_same_shapes("Add", p);
        bool same_format = true;
        for (int i = 1; i < p.inputs(); ++i)
            same_format = same_format && p.src_format(i) == p.src_format(0) && p.src_dtype(i) == p.src_dtype(0);
        // One blocked layout shared by all: keep it. Otherwise plain f32.
        // In f32 (a bf16 model offers bf16: the host converts).
        const bool keep = same_format && p.src_format(0) != NRT_FORMAT_PLAIN;
        for (int i = 0; keep && i < p.inputs(); ++i)
            p.want_src(i, p.src_format(0));
        const int32_t format = keep ? p.src_format(0) : NRT_FORMAT_PLAIN;
        m_elements = static_cast<int64_t>(sdk::desc_bytes(p.src_dims(0), format, NRT_DTYPE_F32) / sizeof(float));
        p.add_output(p.src_dims(0), format);
    }

    // Blocked formats pad channels: the padded size is what the buffers hold.
    void forward(const sdk::Call &c) override
    {
        const int64_t n = m_elements;
        float *dst = sdk::f32(c.dst(0));
        parallel_for(n, [&](int64_t b, int64_t e) {
            const float *a = sdk::f32(c.src(0));
            std::copy(a + b, a + e, dst + b);
            for (int k = 1; k < c.inputs(); ++k) {
                const float *s = sdk::f32(c.src(k));
#pragma omp simd
                for (int64_t i = b; i < e; ++i)
                    dst[i] += s[i];
            }
        });
    }

    void backward(const sdk::Call &c) override
    {
        const int64_t n = m_elements;
        const float *dd = sdk::f32(c.diff_dst(0));
        for (int k = 0; k < c.inputs(); ++k)
            if (nrt_tensor *ds = c.diff_src(k))
                std::memcpy(ds->data, dd, static_cast<size_t>(n) * sizeof(float));
    }

private:
    int64_t m_elements = 0; // a blocked format's padding included
};

class Multiply final : public sdk::GraphLayer {
public:
    Multiply(sdk::Host, sdk::Params, uint64_t) {}

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Multiply", 2, kManyInputs);
        require_same_shapes("Multiply", p);
        p.add_output(p.src_dims(0));
    }

    void forward(const sdk::Call &c) override
    {
        float *dst = sdk::f32(c.dst(0));
        parallel_for(elements(c.dst(0)), [&](int64_t b, int64_t e) {
            const float *a = sdk::f32(c.src(0));
            std::copy(a + b, a + e, dst + b);
            for (int k = 1; k < c.inputs(); ++k) {
                const float *s = sdk::f32(c.src(k));
#pragma omp simd
                for (int64_t i = b; i < e; ++i)
                    dst[i] *= s[i];
            }
        });
    }

    // d/d src_k of Π src_j is Π_{j≠k} src_j: products of the others, not a
    // division by src_k, which may be zero.
    void backward(const sdk::Call &c) override
    {
        const float *dd = sdk::f32(c.diff_dst(0));
        for (int k = 0; k < c.inputs(); ++k) {
            nrt_tensor *ds = c.diff_src(k);
            if (!ds)
                continue;
            float *out = sdk::f32(*ds);
            parallel_for(elements(*ds), [&](int64_t b, int64_t e) {
                std::copy(dd + b, dd + e, out + b);
                for (int j = 0; j < c.inputs(); ++j) {
                    if (j == k)
                        continue;
                    const float *s = sdk::f32(c.src(j));
#pragma omp simd
                    for (int64_t i = b; i < e; ++i)
                        out[i] *= s[i];
                }
            });
        }
    }
};

// Concatenation along one dimension; the others must agree.
class Concat final : public sdk::GraphLayer {
public:
    Concat(sdk::Host, sdk::Params params, uint64_t) : m_axis(params.integer("axis")) {}

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Concat", 2, kManyInputs);
        const auto first = p.src_dims(0);
        const int rank = static_cast<int>(first.size());
        // 1-based as dimensions are in Lua; negative counts from the end.
        const int axis = m_axis > 0 ? static_cast<int>(m_axis) - 1 : rank + static_cast<int>(m_axis);
        if (axis < 1 || axis >= rank)
            sdk::fail(NRT_ERR_SHAPE, "Concat: axis " + std::to_string(m_axis) + " does not fit input " +
                                         p.src_shape(0) + " (axis 1 is the batch; give 2.." +
                                         std::to_string(rank) + " or -1..-" + std::to_string(rank - 1) + ")");
        std::vector<int64_t> out(first.begin(), first.end());
        out[static_cast<size_t>(axis)] = 0;
        m_widths.clear();
        for (int i = 0; i < p.inputs(); ++i) {
            const auto d = p.src_dims(i);
            bool fits = static_cast<int>(d.size()) == rank;
            for (int k = 0; fits && k < rank; ++k)
                fits = k == axis || d[static_cast<size_t>(k)] == first[static_cast<size_t>(k)];
            if (!fits)
                sdk::fail(NRT_ERR_SHAPE, "Concat: inputs " + p.src_shape(0) + " and " + p.src_shape(i) +
                                             " differ outside axis " + std::to_string(axis + 1));
            out[static_cast<size_t>(axis)] += d[static_cast<size_t>(axis)];
            int64_t inner = 1;
            for (int k = axis; k < rank; ++k)
                inner *= d[static_cast<size_t>(k)];
            m_widths.push_back(inner); // contiguous elements input i gives each outer row
        }
        m_outer = 1;
        for (int k = 0; k < axis; ++k)
            m_outer *= first[static_cast<size_t>(k)];
        m_row = 0;
        for (int64_t w : m_widths)
            m_row += w;
        p.add_output(out);
    }

    void forward(const sdk::Call &c) override
    {
        float *dst = sdk::f32(c.dst(0));
        for (int64_t r = 0; r < m_outer; ++r) {
            int64_t at = r * m_row;
            for (size_t k = 0; k < m_widths.size(); ++k) {
                const float *s = sdk::f32(c.src(static_cast<int>(k))) + r * m_widths[k];
                std::memcpy(dst + at, s, static_cast<size_t>(m_widths[k]) * sizeof(float));
                at += m_widths[k];
            }
        }
    }

    void backward(const sdk::Call &c) override
    {
        const float *dd = sdk::f32(c.diff_dst(0));
        for (int64_t r = 0; r < m_outer; ++r) {
            int64_t at = r * m_row;
            for (size_t k = 0; k < m_widths.size(); ++k) {
                if (nrt_tensor *ds = c.diff_src(static_cast<int>(k)))
                    std::memcpy(sdk::f32(*ds) + r * m_widths[k], dd + at,
                                static_cast<size_t>(m_widths[k]) * sizeof(float));
                at += m_widths[k];
            }
        }
    }

private:
    int64_t m_axis;
    std::vector<int64_t> m_widths;
    int64_t m_outer = 1, m_row = 0;
};

constexpr nrt_param_spec kConcatParams[] = {
    sdk::int_param("axis", -1, -8, 8,
                   "The dimension to join along, 1-based with the batch as 1; negative counts from the "
                   "end (-1, the default, is the last)."),
};

const nrt_entry kAdd = sdk::make_entry<Add>(NRT_KIND_LAYER, "Add", "1.0.0",
                                            "Sum of two or more inputs of one shape (residual connections)");
const nrt_entry kMultiply = sdk::make_entry<Multiply>(NRT_KIND_LAYER, "Multiply", "1.0.0",
                                                      "Element-wise product of two or more inputs of one shape (gates)");
const nrt_entry kConcat = sdk::make_entry<Concat>(NRT_KIND_LAYER, "Concat", "1.0.0",
                                                  "Inputs joined along one dimension; the others must agree",
                                                  kConcatParams);

} // namespace

NEURITE_PLUGIN("neurite-merge", "1.0.0", &kAdd, &kMultiply, &kConcat)
