// Flatten and Reshape: new sample shapes for the same values, in row-major
// (plain) order. The batch dimension is never touched: nn.Flatten() turns
// [N, C, H, W] into [N, C·H·W], nn.Reshape{shape = {C, H, W}} turns
// [N, C·H·W] back (one dimension may be -1, inferred). The ABI gives every
// layer output its own memory, so the values are copied; a copy of one
// activation is small next to the convolutions around it. A blocked layout
// is converted to plain by the host first, since its order is not the
// logical one.
#include "shape_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace neurite::shape {

namespace {

std::string list_text(std::span<const int64_t> dims)
{
    std::string s = "{";
    for (size_t i = 0; i < dims.size(); ++i)
        s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "}";
}

int64_t product(std::span<const int64_t> dims)
{
    int64_t n = 1;
    for (int64_t d : dims)
        n *= d;
    return n;
}

// The forward and backward of a layer whose output holds its input's values in the same order.
class SameValues : public sdk::GraphLayer {
public:
    void forward(const sdk::Call &c) override
    {
        std::memcpy(c.dst(0).data, c.src(0).data, static_cast<size_t>(sdk::numel(c.src(0))) * sizeof(float));
    }

    void backward(const sdk::Call &c) override
    {
        if (nrt_tensor *diff_src = c.diff_src(0))
            std::memcpy(diff_src->data, c.diff_dst(0).data, static_cast<size_t>(sdk::numel(*diff_src)) * sizeof(float));
    }
};

class Flatten final : public SameValues {
public:
    Flatten(sdk::Host, sdk::Params, uint64_t) {}

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Flatten", 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sdk::require_src_dims("Flatten", dims);
        if (dims.size() < 2)
            sdk::fail(NRT_ERR_SHAPE, "Flatten: input " + p.src_shape(0) +
                                         " has no sample dimensions; it turns [N, ...] into [N, values per sample]");
        const int64_t dst[] = {dims[0], product(dims.subspan(1))};
        p.add_output(dst);
    }
};

// The target sample shape: whole numbers ≥ 1, and at most one -1.
std::vector<int64_t> target_shape(std::span<const double> list)
{
    if (list.empty() || list.size() >= NRT_MAX_DIMS)
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Reshape: shape must hold 1 to " + std::to_string(NRT_MAX_DIMS - 1) +
                                                " dimensions (the batch dimension is kept), got " +
                                                std::to_string(list.size()));
    std::vector<int64_t> dims;
    int inferred = 0;
    for (double d : list) {
        if (d != std::floor(d) || !(d >= 1 || d == -1) || d > (1 << 30))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Reshape: shape holds " + sdk::number_text(d) +
                                                    "; its dimensions are whole numbers from 1, or -1 for one "
                                                    "inferred from the others");
        inferred += d == -1;
        dims.push_back(static_cast<int64_t>(d));
    }
    if (inferred > 1)
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, "Reshape: shape " + list_text(dims) + " has " + std::to_string(inferred) +
                                                " dimensions of -1; only one can be inferred");
    return dims;
}

class Reshape final : public SameValues {
public:
    Reshape(sdk::Host, sdk::Params params, uint64_t) : m_shape(target_shape(params.list("shape"))) {}

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("Reshape", 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sdk::require_src_dims("Reshape", dims);
        const std::span<const int64_t> sample = dims.subspan(1);
        const int64_t values = product(sample);
        const bool infers = std::find(m_shape.begin(), m_shape.end(), -1) != m_shape.end();
        const int64_t known = infers ? -product(m_shape) : product(m_shape); // the -1 left out
        const bool fits = infers ? values % known == 0 : values == known;
        if (!fits)
            sdk::fail(NRT_ERR_SHAPE, "Reshape: cannot give samples of " + sdk::shape_string(sample) + " (" +
                                         std::to_string(values) + " values) the shape " + list_text(m_shape) + " (" +
                                         (infers ? "a multiple of " : "") + std::to_string(known) +
                                         " values); input " + p.src_shape(0));
        std::vector<int64_t> dst{dims[0]};
        for (int64_t d : m_shape)
            dst.push_back(d == -1 ? values / known : d);
        p.add_output(dst);
    }

private:
    std::vector<int64_t> m_shape;
};

constexpr nrt_param_spec kReshapeParams[] = {
    sdk::required_list_param("shape", -1, 1 << 30,
                             "The new shape of each sample, batch dimension excluded, e.g. {1, 28, 28}; "
                             "one dimension may be -1, inferred from the others."),
};

} // namespace

const nrt_entry kFlattenEntry = sdk::make_entry<Flatten>(
    NRT_KIND_LAYER, "Flatten", "1.0.0", "Flattens each sample: [N, d1, d2, ...] becomes [N, d1·d2·...]");

const nrt_entry kReshapeEntry = sdk::make_entry<Reshape>(
    NRT_KIND_LAYER, "Reshape", "1.0.0",
    "Gives each sample a new shape with the same values in the same order; the batch dimension is kept",
    kReshapeParams);

} // namespace neurite::shape
