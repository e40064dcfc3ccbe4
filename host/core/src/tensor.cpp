#include "neurite/core/tensor.h"

#include "neurite/core/memory_budget.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace neurite {

namespace {

std::shared_ptr<float> allocate(int64_t count)
{
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    std::shared_ptr<float> p = memory::tensor_storage(bytes); // aligned, counted against --max-memory
    if (!p)
        throw Error("out of memory allocating a tensor of " + std::to_string(count) + " floats");
    std::memset(p.get(), 0, bytes);
    return p;
}

} // namespace

Tensor::Tensor(const Shape &shape) : m_shape(shape)
{
    m_storage = allocate(shape.numel());
    m_data = m_storage.get();
}

Tensor Tensor::full(const Shape &shape, float value)
{
    Tensor t(shape);
    t.fill(value);
    return t;
}

Tensor Tensor::from(const Shape &shape, std::span<const float> values)
{
    if (static_cast<int64_t>(values.size()) != shape.numel())
        throw Error("tensor of shape " + shape.to_string() + " needs " +
                    std::to_string(shape.numel()) + " values, got " +
                    std::to_string(values.size()));
    Tensor t(shape);
    std::copy(values.begin(), values.end(), t.m_data);
    return t;
}

Tensor Tensor::view(float *data, const Shape &shape)
{
    Tensor t;
    t.m_data = data;
    t.m_shape = shape;
    return t;
}

Tensor Tensor::reshape(const Shape &shape) const
{
    if (shape.numel() != numel())
        throw Error("cannot reshape " + m_shape.to_string() + " (" + std::to_string(numel()) +
                    " elements) to " + shape.to_string() + " (" +
                    std::to_string(shape.numel()) + " elements)");
    Tensor t = *this;
    t.m_shape = shape;
    return t;
}

Tensor Tensor::rows(int64_t first, int64_t count) const
{
    if (dim() == 0 || first < 0 || count < 0 || first + count > m_shape[0])
        throw Error("rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                    ") are outside a tensor of shape " + m_shape.to_string());
    Tensor t = *this;
    int64_t row = m_shape[0] == 0 ? 0 : numel() / m_shape[0];
    t.m_data = m_data + first * row;
    t.m_shape[0] = count;
    return t;
}

Tensor Tensor::clone() const
{
    Tensor t(m_shape);
    if (numel())
        std::memcpy(t.m_data, m_data, static_cast<size_t>(numel()) * sizeof(float));
    return t;
}

void Tensor::fill(float value)
{
    std::fill(begin(), end(), value);
}

void Tensor::copy_from(const Tensor &src)
{
    if (!(src.shape() == m_shape))
        throw Error("cannot copy a tensor of shape " + src.shape().to_string() +
                    " into one of shape " + m_shape.to_string());
    if (numel() && src.m_data != m_data)
        std::memmove(m_data, src.m_data, static_cast<size_t>(numel()) * sizeof(float));
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
        t.strides[i] = stride;
        stride *= m_shape[i];
    }
    t.data = m_data;
    return t;
}

int64_t Tensor::first_non_finite() const
{
    // x * 0 is 0 for finite x and NaN for NaN or Inf, so one vectorised sum
    // answers "all finite?" before the slower scan that finds the index.
    const int64_t n = numel();
    float probe = 0.0f;
#pragma omp simd reduction(+ : probe)
    for (int64_t i = 0; i < n; ++i)
        probe += m_data[i] * 0.0f;
    if (probe == 0.0f)
        return -1;
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(m_data[i]))
            return i;
    return -1;
}

} // namespace neurite
