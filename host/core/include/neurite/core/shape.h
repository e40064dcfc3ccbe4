#pragma once

#include "neurite/core/checked.h"
#include "neurite/core/error.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace neurite {

// Tensor dimensions without heap allocation: shapes are compared and copied
// inside every training step, so they live inline.
class Shape {
public:
    static constexpr int kMaxDims = 8;

    Shape() = default;
    Shape(std::initializer_list<int64_t> dims) { assign(std::span(dims.begin(), dims.size())); }
    explicit Shape(std::span<const int64_t> dims) { assign(dims); }

    int size() const { return m_n; }
    bool empty() const { return m_n == 0; }
    int64_t operator[](int i) const { return m_d[i]; }
    int64_t &operator[](int i) { return m_d[i]; }
    const int64_t *data() const { return m_d; }
    const int64_t *begin() const { return m_d; }
    const int64_t *end() const { return m_d + m_n; }
    std::span<const int64_t> span() const { return {m_d, static_cast<size_t>(m_n)}; }

    // The element count. Unchecked, for the shapes of existing tensors (their
    // allocation checked it); see checked_numel for any other shape.
    int64_t numel() const
    {
        int64_t n = 1;
        for (int i = 0; i < m_n; ++i)
            n *= m_d[i];
        return n;
    }

    // The element count of a shape no allocation has vouched for yet: an Error
    // when it overflows or passes kMaxTensorElements. The nonzero dimensions
    // are bounded even when another is 0, so strides never overflow either.
    int64_t checked_numel() const
    {
        int64_t n = 1;
        bool zero = false;
        for (int i = 0; i < m_n; ++i) {
            zero = zero || m_d[i] == 0;
            const int64_t d = m_d[i] == 0 ? 1 : m_d[i];
            if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxTensorElements)
                throw Error("a tensor of shape " + to_string() + " has more elements than fit in " +
                            "memory (at most " + std::to_string(kMaxTensorElements) + ")");
        }
        return zero ? 0 : n;
    }

    void push_back(int64_t d)
    {
        if (m_n == kMaxDims)
            throw Error("a tensor has at most " + std::to_string(kMaxDims) + " dimensions");
        if (d < 0)
            throw Error("negative dimension " + std::to_string(d));
        m_d[m_n++] = d;
    }

    // Inserts d before position i (0 <= i <= size()).
    void insert(int i, int64_t d)
    {
        push_back(d);
        std::rotate(m_d + i, m_d + m_n - 1, m_d + m_n);
    }

    // Removes position i.
    void erase(int i)
    {
        std::copy(m_d + i + 1, m_d + m_n, m_d + i);
        --m_n;
    }

    // A copy whose first dimension is n (the batch size).
    Shape with_first(int64_t n) const
    {
        Shape s = *this;
        s.m_d[0] = n;
        return s;
    }

    bool operator==(const Shape &o) const
    {
        return m_n == o.m_n && std::equal(m_d, m_d + m_n, o.m_d);
    }

    std::string to_string() const
    {
        std::string s = "[";
        for (int i = 0; i < m_n; ++i) {
            if (i)
                s += ", ";
            s += std::to_string(m_d[i]);
        }
        return s + "]";
    }

private:
    void assign(std::span<const int64_t> dims)
    {
        if (dims.size() > kMaxDims)
            throw Error("a tensor has at most " + std::to_string(kMaxDims) + " dimensions, got " +
                        std::to_string(dims.size()));
        m_n = static_cast<int>(dims.size());
        for (int i = 0; i < m_n; ++i) {
            if (dims[i] < 0)
                throw Error("negative dimension " + std::to_string(dims[i]));
            m_d[i] = dims[i];
        }
    }

    int m_n = 0;
    int64_t m_d[kMaxDims] = {};
};

} // namespace neurite
