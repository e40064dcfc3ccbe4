#pragma once

#include "neurite/core/shape.h"

#include <neurite/plugin_abi.h>

#include <cassert>
#include <memory>
#include <span>
#include <vector>

namespace neurite {

// An f32 N-d array. Copies share storage (like torch.Tensor); clone() makes
// a deep copy. A view made by Tensor::view wraps memory it does not own.
//
// Layout: a tensor is its first element, a shape and strides (in elements,
// never negative). Everything the core allocates is contiguous (row-major).
// The view methods (narrow, select, transpose, permute, expand, squeeze,
// unsqueeze) share memory as PyTorch's views do, and may be strided: a
// narrow on a later dimension, a transpose or an expand is not contiguous.
// contiguous() returns the tensor itself when it is, else a row-major copy.
//
// Where a strided view may go:
//  - the view methods, clone(), contiguous(), fill(), copy_from(), to_vector()
//    and the loops of strided.h handle any strides;
//  - data(), begin() and end() throw an Error on a strided view, so code
//    that reads memory as row-major never reads a strided view as such;
//    operator[] and at() index row-major memory: use them on tensors that
//    are contiguous (everything the core allocates, or after contiguous());
//  - desc() reports the real strides: a plugin sees a strided view as
//    strided, and the SDK's require_contiguous refuses it;
//  - the Lua bindings hand other code contiguous tensors only (check_tensor).
// A tensor with a 0-size stride along a longer dimension (from expand) has
// elements that share memory: has_overlap() tells, and writes refuse it.
class Tensor {
public:
    Tensor() = default;
    // Zero-filled, 64-byte aligned.
    explicit Tensor(const Shape &shape);

    static Tensor zeros(const Shape &shape) { return Tensor(shape); }
    // Not zero-filled, for results the caller writes completely.
    static Tensor uninitialized(const Shape &shape);
    static Tensor full(const Shape &shape, float value);
    static Tensor from(const Shape &shape, std::span<const float> values);
    static Tensor from(const Shape &shape, std::initializer_list<float> values)
    {
        return from(shape, std::span(values.begin(), values.size()));
    }
    // Does not own data; the caller keeps it alive. Contiguous.
    static Tensor view(float *data, const Shape &shape);

    // A 0-d tensor (a scalar: empty shape, one element) is defined.
    bool defined() const { return m_data != nullptr || !m_shape.empty(); }
    const Shape &shape() const { return m_shape; }
    int dim() const { return m_shape.size(); }
    int64_t size(int i) const { return m_shape[i]; }
    int64_t numel() const { return m_shape.numel(); }
    std::span<const int64_t> strides() const { return {m_strides, static_cast<size_t>(dim())}; }
    int64_t stride(int i) const { return m_strides[i]; }
    bool is_contiguous() const { return m_contiguous; }
    // Some elements share memory (an expanded dimension).
    bool has_overlap() const;
    // The memory of the two tensors may overlap.
    bool shares_memory_with(const Tensor &other) const;

    // Row-major access: contiguous tensors only (see above).
    float *data() { return checked_data(); }
    const float *data() const { return checked_data(); }
    // The first element at any layout; index it with strides().
    float *data_ptr() const { return m_data; }
    float *begin() { return checked_data(); }
    float *end() { return checked_data() + numel(); }
    const float *begin() const { return checked_data(); }
    const float *end() const { return checked_data() + numel(); }
    float &operator[](int64_t flat)
    {
        assert(m_contiguous);
        return m_data[flat];
    }
    float operator[](int64_t flat) const
    {
        assert(m_contiguous);
        return m_data[flat];
    }
    float &at(int64_t i, int64_t j) { return m_data[i * m_strides[0] + j * m_strides[1]]; }
    float at(int64_t i, int64_t j) const { return m_data[i * m_strides[0] + j * m_strides[1]]; }

    // Same storage, other shape with as many elements. A strided view cannot
    // be reshaped in place: reshape contiguous() instead.
    Tensor reshape(const Shape &shape) const;
    // Rows [first, first + count) of the first dimension, sharing storage.
    Tensor rows(int64_t first, int64_t count) const { return narrow(0, first, count); }

    // Views (0-based dimensions and indices; an Error when out of range).
    // [first, first + count) of dimension d.
    Tensor narrow(int d, int64_t first, int64_t count) const;
    // Element i of dimension d, which the result no longer has.
    Tensor select(int d, int64_t i) const;
    Tensor transpose(int d1, int d2) const;
    // Dimension k of the result is dimension order[k] of this tensor.
    Tensor permute(std::span<const int> order) const;
    // Broadcast to `shape` (NumPy's rules: trailing dimensions aligned,
    // size 1 repeated with stride 0, new leading dimensions).
    Tensor expand(const Shape &shape) const;
    // A new dimension of size 1 before position d (0 <= d <= dim()).
    Tensor unsqueeze(int d) const;
    // Dimension d removed; it must have size 1.
    Tensor squeeze(int d) const;

    Tensor contiguous() const { return m_contiguous ? *this : clone(); }
    // A contiguous deep copy.
    Tensor clone() const;
    void fill(float value);
    // Elementwise copy of a tensor of the same shape, at any layouts.
    void copy_from(const Tensor &src);
    std::vector<float> to_vector() const;

    // The ABI descriptor of this tensor (a view, no ownership), with its strides.
    nrt_tensor desc() const;

    // Index of the first NaN or Inf, or -1. Cheap when everything is finite.
    // Contiguous tensors only.
    int64_t first_non_finite() const;

private:
    float *checked_data() const
    {
        if (!m_contiguous) [[unlikely]]
            throw_strided();
        return m_data;
    }
    [[noreturn]] void throw_strided() const;
    void set_row_major_strides();
    void update_contiguous();
    void check_dim(int d, const char *what) const;

    std::shared_ptr<float> m_storage;
    float *m_data = nullptr;
    Shape m_shape;
    int64_t m_strides[Shape::kMaxDims] = {};
    bool m_contiguous = true;
};

} // namespace neurite
