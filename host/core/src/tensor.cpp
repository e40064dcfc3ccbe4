#include "neurite/core/tensor.h"

#include "neurite/core/memory_budget.h"
#include "neurite/core/precision.h"
#include "neurite/core/strided.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace neurite {

namespace {

constexpr size_t kAlignment = 64;

std::shared_ptr<float> allocate(const Shape &shape, bool zero)
{
    const int64_t count = shape.checked_numel();
    size_t bytes = checked_bytes(count, sizeof(float));
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (bytes == 0)
        bytes = kAlignment;
    // Aligned, and counted against --max-memory (which throws past the limit).
    std::shared_ptr<float> p = memory::tensor_storage(bytes);
    if (!p)
        throw Error("out of memory allocating a tensor of shape " + shape.to_string() + " (" +
                    std::to_string(count) + " floats)");
    if (zero)
        std::memset(p.get(), 0, bytes);
    return p;
}

std::string strides_text(std::span<const int64_t> strides)
{
    std::string s = "[";
    for (size_t i = 0; i < strides.size(); ++i)
        s += (i ? ", " : "") + std::to_string(strides[i]);
    return s + "]";
}

} // namespace

Tensor::Tensor(const Shape &shape) : m_shape(shape)
{
    m_storage = allocate(shape, true);
    m_data = m_storage.get();
    set_row_major_strides();
}

Tensor Tensor::uninitialized(const Shape &shape)
{
    Tensor t;
    t.m_shape = shape;
    t.m_storage = allocate(shape, false);
    t.m_data = t.m_storage.get();
    t.set_row_major_strides();
    return t;
}

Tensor Tensor::full(const Shape &shape, float value)
{
    Tensor t = uninitialized(shape);
    t.fill(value);
    return t;
}

Tensor Tensor::from(const Shape &shape, std::span<const float> values)
{
    if (static_cast<int64_t>(values.size()) != shape.checked_numel())
        throw Error("tensor of shape " + shape.to_string() + " needs " +
                    std::to_string(shape.numel()) + " values, got " +
                    std::to_string(values.size()));
    Tensor t = uninitialized(shape);
    std::copy(values.begin(), values.end(), t.m_data);
    return t;
}

Tensor Tensor::view(float *data, const Shape &shape)
{
    Tensor t;
    t.m_data = data;
    t.m_shape = shape;
    t.set_row_major_strides();
    return t;
}

void Tensor::set_row_major_strides()
{
    int64_t stride = 1;
    for (int i = dim() - 1; i >= 0; --i) {
        m_strides[i] = stride;
        stride *= std::max<int64_t>(m_shape[i], 1);
    }
    m_contiguous = true;
}

// Dimensions of size 1 do not move through memory, so their strides do not
// matter (the SDK's is_contiguous agrees), and an empty tensor has no layout.
void Tensor::update_contiguous()
{
    int64_t expected = 1;
    m_contiguous = true;
    if (numel() == 0)
        return;
    for (int i = dim() - 1; i >= 0; --i) {
        if (m_shape[i] != 1 && m_strides[i] != expected) {
            m_contiguous = false;
            return;
        }
        expected *= m_shape[i];
    }
}

void Tensor::throw_strided() const
{
    throw Error("a strided view (shape " + m_shape.to_string() + ", strides " +
                strides_text(strides()) +
                ") reached code that reads memory row by row; call contiguous() first");
}

bool Tensor::has_overlap() const
{
    for (int i = 0; i < dim(); ++i)
        if (m_strides[i] == 0 && m_shape[i] > 1)
            return true;
    return false;
}

bool Tensor::shares_memory_with(const Tensor &other) const
{
    if (numel() == 0 || other.numel() == 0)
        return false;
    auto extent = [](const Tensor &t) {
        int64_t last = 0;
        for (int i = 0; i < t.dim(); ++i)
            last += (t.m_shape[i] - 1) * t.m_strides[i];
        return std::pair<const float *, const float *>(t.m_data, t.m_data + last + 1);
    };
    const auto [a0, a1] = extent(*this);
    const auto [b0, b1] = extent(other);
    return a0 < b1 && b0 < a1;
}

void Tensor::check_dim(int d, const char *what) const
{
    if (d < 0 || d >= dim())
        throw Error(std::string(what) + ": dimension " + std::to_string(d + 1) +
                    " is out of range for a tensor of shape " + m_shape.to_string());
}

Tensor Tensor::reshape(const Shape &shape) const
{
    if (shape.checked_numel() != numel())
        throw Error("cannot reshape " + m_shape.to_string() + " (" + std::to_string(numel()) +
                    " elements) to " + shape.to_string() + " (" + std::to_string(shape.numel()) +
                    " elements)");
    if (!m_contiguous)
        throw_strided();
    Tensor t = *this;
    t.m_shape = shape;
    t.set_row_major_strides();
    return t;
}

Tensor Tensor::narrow(int d, int64_t first, int64_t count) const
{
    check_dim(d, "narrow");
    // Compared without adding, so huge values cannot wrap into range.
    if (first < 0 || count < 0 || first > m_shape[d] || count > m_shape[d] - first)
        throw Error("narrow: [" + std::to_string(first) + ", +" + std::to_string(count) +
                    ") is outside dimension " + std::to_string(d + 1) + " of shape " +
                    m_shape.to_string());
    Tensor t = *this;
    if (count > 0)
        t.m_data = m_data + first * m_strides[d];
    t.m_shape[d] = count;
    t.update_contiguous();
    return t;
}

Tensor Tensor::select(int d, int64_t i) const
{
    check_dim(d, "select");
    if (i < 0 || i >= m_shape[d])
        throw Error("select: index " + std::to_string(i + 1) + " is outside dimension " +
                    std::to_string(d + 1) + " of shape " + m_shape.to_string());
    Tensor t = *this;
    t.m_data = m_data + i * m_strides[d];
    t.m_shape.erase(d);
    std::copy(m_strides + d + 1, m_strides + dim(), t.m_strides + d);
    t.update_contiguous();
    return t;
}

Tensor Tensor::transpose(int d1, int d2) const
{
    check_dim(d1, "transpose");
    check_dim(d2, "transpose");
    Tensor t = *this;
    std::swap(t.m_shape[d1], t.m_shape[d2]);
    std::swap(t.m_strides[d1], t.m_strides[d2]);
    t.update_contiguous();
    return t;
}

Tensor Tensor::permute(std::span<const int> order) const
{
    bool seen[Shape::kMaxDims] = {};
    bool valid = static_cast<int>(order.size()) == dim();
    for (size_t k = 0; valid && k < order.size(); ++k) {
        valid = order[k] >= 0 && order[k] < dim() && !seen[order[k]];
        if (valid)
            seen[order[k]] = true;
    }
    if (!valid)
        throw Error("permute: the order must name each of the " + std::to_string(dim()) +
                    " dimensions of shape " + m_shape.to_string() + " once");
    Tensor t = *this;
    for (size_t k = 0; k < order.size(); ++k) {
        t.m_shape[static_cast<int>(k)] = m_shape[order[k]];
        t.m_strides[k] = m_strides[order[k]];
    }
    t.update_contiguous();
    return t;
}

Tensor Tensor::expand(const Shape &shape) const
{
    const int offset = shape.size() - dim();
    bool fits = offset >= 0;
    for (int i = 0; fits && i < dim(); ++i)
        fits = m_shape[i] == shape[i + offset] || m_shape[i] == 1;
    if (!fits)
        throw Error("expand: a tensor of shape " + m_shape.to_string() + " cannot be expanded to " +
                    shape.to_string() + " (each dimension must match or be 1)");
    shape.checked_numel();
    Tensor t = *this;
    t.m_shape = shape;
    for (int i = 0; i < shape.size(); ++i) {
        const int own = i - offset;
        t.m_strides[i] = own >= 0 && m_shape[own] == shape[i] ? m_strides[own] : 0;
    }
    t.update_contiguous();
    return t;
}

Tensor Tensor::unsqueeze(int d) const
{
    if (d < 0 || d > dim())
        throw Error("unsqueeze: position " + std::to_string(d + 1) +
                    " is out of range for a tensor of shape " + m_shape.to_string());
    Tensor t = *this;
    t.m_shape.insert(d, 1);
    std::copy_backward(m_strides + d, m_strides + dim(), t.m_strides + dim() + 1);
    t.m_strides[d] = d < dim() ? m_strides[d] * m_shape[d] : 1;
    t.update_contiguous();
    return t;
}

Tensor Tensor::squeeze(int d) const
{
    check_dim(d, "squeeze");
    if (m_shape[d] != 1)
        throw Error("squeeze: dimension " + std::to_string(d + 1) + " of shape " +
                    m_shape.to_string() + " has size " + std::to_string(m_shape[d]) + ", not 1");
    Tensor t = *this;
    t.m_shape.erase(d);
    std::copy(m_strides + d + 1, m_strides + dim(), t.m_strides + d);
    t.update_contiguous();
    return t;
}

Tensor Tensor::clone() const
{
    Tensor t = uninitialized(m_shape);
    t.copy_from(*this);
    return t;
}

void Tensor::fill(float value)
{
    strided::map(*this, *this, [value](float) { return value; });
}

void Tensor::copy_from(const Tensor &src)
{
    if (!(src.shape() == m_shape))
        throw Error("cannot copy a tensor of shape " + src.shape().to_string() +
                    " into one of shape " + m_shape.to_string());
    if (numel() == 0 ||
        (src.m_data == m_data && std::equal(m_strides, m_strides + dim(), src.m_strides)))
        return;
    if (has_overlap())
        throw Error("cannot copy into an expanded tensor of shape " + m_shape.to_string() +
                    " (several of its elements share memory); copy into contiguous() instead");
    if (m_contiguous && src.m_contiguous) {
        std::memmove(m_data, src.m_data, static_cast<size_t>(numel()) * sizeof(float));
        return;
    }
    // Another layout of the same memory would read what this copy already wrote.
    const Tensor from = shares_memory_with(src) ? src.clone() : src;
    strided::map(*this, from, [](float v) { return v; });
}

std::vector<float> Tensor::to_vector() const
{
    const Tensor c = contiguous();
    return {c.m_data, c.m_data + c.numel()};
}

nrt_tensor Tensor::desc() const
{
    nrt_tensor t{};
    t.struct_size = sizeof(nrt_tensor);
    t.dtype = NRT_DTYPE_F32;
    t.ndims = m_shape.size();
    int64_t stride = 1;
    for (int i = t.ndims - 1; i >= 0; --i) {
        t.dims[i] = m_shape[i];
        // A contiguous tensor states its row-major strides even where a
        // size-1 dimension's own stride differs.
        t.strides[i] = m_contiguous ? stride : m_strides[i];
        stride *= m_shape[i];
    }
    t.data = m_data;
    return t;
}

int64_t Tensor::first_non_finite() const
{
    const float *data = checked_data();
    // NaN and Inf are the floats whose exponent bits are all ones. Testing
    // the bits answers "all finite?" in one vectorised pass of integer ANDs
    // and ORs; the earlier sum of x * 0 waited on its float additions'
    // latency (24 us for a 256 x 784 batch, now about the time to read it).
    // The slower scan below only runs to find the index.
    const int64_t n = numel();
    uint32_t special = 0;
#pragma omp simd reduction(| : special)
    for (int64_t i = 0; i < n; ++i)
        special |= non_finite(data[i]);
    if (special == 0)
        return -1;
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(data[i]))
            return i;
    return -1;
}

} // namespace neurite
