#pragma once

#include "neurite/core/shape.h"

#include <neurite/plugin_abi.h>

#include <memory>
#include <vector>

namespace neurite {

// An f32, row-major, always contiguous N-d array. Copies share storage (like
// torch.Tensor); clone() makes a deep copy. A view wraps memory it does not own.
class Tensor {
public:
    Tensor() = default;
    // Zero-filled, 64-byte aligned.
    explicit Tensor(const Shape &shape);

    static Tensor zeros(const Shape &shape) { return Tensor(shape); }
    static Tensor full(const Shape &shape, float value);
    static Tensor from(const Shape &shape, std::span<const float> values);
    static Tensor from(const Shape &shape, std::initializer_list<float> values)
    {
        return from(shape, std::span(values.begin(), values.size()));
    }
    // Does not own data; the caller keeps it alive.
    static Tensor view(float *data, const Shape &shape);

    bool defined() const { return !m_shape.empty(); }
    const Shape &shape() const { return m_shape; }
    int dim() const { return m_shape.size(); }
    int64_t size(int i) const { return m_shape[i]; }
    int64_t numel() const { return m_shape.numel(); }
    float *data() { return m_data; }
    const float *data() const { return m_data; }
    float *begin() { return m_data; }
    float *end() { return m_data + numel(); }
    const float *begin() const { return m_data; }
    const float *end() const { return m_data + numel(); }
    float &operator[](int64_t flat) { return m_data[flat]; }
    float operator[](int64_t flat) const { return m_data[flat]; }
    float &at(int64_t i, int64_t j) { return m_data[i * m_shape[1] + j]; }
    float at(int64_t i, int64_t j) const { return m_data[i * m_shape[1] + j]; }

    // Same storage, other shape with as many elements.
    Tensor reshape(const Shape &shape) const;
    // Rows [first, first + count) of the first dimension, sharing storage.
    Tensor rows(int64_t first, int64_t count) const;
    Tensor clone() const;
    void fill(float value);
    void copy_from(const Tensor &src);
    std::vector<float> to_vector() const { return {begin(), end()}; }

    // The ABI descriptor of this tensor (a view, no ownership).
    nrt_tensor desc() const;

    // Index of the first NaN or Inf, or -1. Cheap when everything is finite.
    int64_t first_non_finite() const;

private:
    std::shared_ptr<float> m_storage;
    float *m_data = nullptr;
    Shape m_shape;
};

} // namespace neurite
