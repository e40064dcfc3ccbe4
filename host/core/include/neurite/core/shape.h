#pragma once

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

    int64_t numel() const
    {
        int64_t n = 1;
        for (int i = 0; i < m_n; ++i)
            n *= m_d[i];
        return n;
    }

    void push_back(int64_t d)
    {
        if (m_n == kMaxDims)
            throw Error("a tensor has at most " + std::to_string(kMaxDims) + " dimensions");
        m_d[m_n++] = d;
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
