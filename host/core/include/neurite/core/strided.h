#pragma once

// Loops over tensors of any layout: strided views, broadcast operands. The
// dimensions are first merged wherever every operand is contiguous across
// them, so contiguous tensors make a single row and the row function's
// unit-stride loop is what the compiler vectorises.
#include "neurite/core/tensor.h"

#include <array>
#include <cstdint>

namespace neurite::strided {

// The strides of t seen through `shape`, which t broadcasts to (trailing
// dimensions aligned as in NumPy): 0 along the dimensions t lacks or has
// as size 1. The caller has checked that t broadcasts.
inline void broadcast_strides(const Tensor &t, const Shape &shape, int64_t *out)
{
    const int offset = shape.size() - t.dim();
    for (int i = 0; i < shape.size(); ++i) {
        const int it = i - offset;
        out[i] = it >= 0 && t.size(it) != 1 ? t.stride(it) : 0;
    }
}

// Calls row(ptr, step, n) for every innermost run of `shape`: ptr[k] is
// operand k's first element of the run, step[k] its stride along it and n
// its length. Operands are given by their first element and their strides
// in `shape` (see broadcast_strides). Nothing is called for an empty shape.
template <size_t N, class Row>
void for_each_row(const Shape &shape, const std::array<float *, N> &data,
                  const std::array<const int64_t *, N> &strides, Row &&row)
{
    int64_t sizes[Shape::kMaxDims];
    int64_t st[N][Shape::kMaxDims];
    int nd = 0;
    for (int d = 0; d < shape.size(); ++d) {
        if (shape[d] == 0)
            return;
        if (shape[d] == 1)
            continue;
        bool merge = nd > 0;
        for (size_t k = 0; merge && k < N; ++k)
            merge = st[k][nd - 1] == strides[k][d] * shape[d];
        if (merge) {
            sizes[nd - 1] *= shape[d];
            for (size_t k = 0; k < N; ++k)
                st[k][nd - 1] = strides[k][d];
            continue;
        }
        sizes[nd] = shape[d];
        for (size_t k = 0; k < N; ++k)
            st[k][nd] = strides[k][d];
        ++nd;
    }
    std::array<float *, N> p = data;
    std::array<int64_t, N> step{};
    if (nd == 0) {
        row(p, step, int64_t(1));
        return;
    }
    const int inner = nd - 1;
    for (size_t k = 0; k < N; ++k)
        step[k] = st[k][inner];
    int64_t idx[Shape::kMaxDims] = {};
    while (true) {
        row(p, step, sizes[inner]);
        int d = inner - 1;
        for (; d >= 0; --d) { // odometer over the outer dimensions
            for (size_t k = 0; k < N; ++k)
                p[k] += st[k][d];
            if (++idx[d] < sizes[d])
                break;
            for (size_t k = 0; k < N; ++k)
                p[k] -= st[k][d] * sizes[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

// dst = f(src) elementwise; src broadcasts to dst's shape. dst must not
// overlap itself, and src must not partially overlap dst (the same element
// at the same place, as in an in-place update, is fine).
template <class F>
void map(Tensor &dst, const Tensor &src, F f)
{
    int64_t sd[Shape::kMaxDims], ss[Shape::kMaxDims];
    broadcast_strides(dst, dst.shape(), sd);
    broadcast_strides(src, dst.shape(), ss);
    for_each_row<2>(
        dst.shape(), {dst.data_ptr(), src.data_ptr()}, {sd, ss},
        [&](const std::array<float *, 2> &p, const std::array<int64_t, 2> &s, int64_t n) {
            float *o = p[0];
            const float *a = p[1];
            if (s[0] == 1 && s[1] == 1) {
#pragma omp simd
                for (int64_t i = 0; i < n; ++i)
                    o[i] = f(a[i]);
            } else if (s[0] == 1 && s[1] == 0) {
                const float v = f(*a);
                for (int64_t i = 0; i < n; ++i)
                    o[i] = v;
            } else {
                for (int64_t i = 0; i < n; ++i)
                    o[i * s[0]] = f(a[i * s[1]]);
            }
        });
}

// dst = f(a, b) elementwise; a and b broadcast to dst's shape (as map).
template <class F>
void map2(Tensor &dst, const Tensor &a, const Tensor &b, F f)
{
    int64_t sd[Shape::kMaxDims], sa[Shape::kMaxDims], sb[Shape::kMaxDims];
    broadcast_strides(dst, dst.shape(), sd);
    broadcast_strides(a, dst.shape(), sa);
    broadcast_strides(b, dst.shape(), sb);
    for_each_row<3>(
        dst.shape(), {dst.data_ptr(), a.data_ptr(), b.data_ptr()}, {sd, sa, sb},
        [&](const std::array<float *, 3> &p, const std::array<int64_t, 3> &s, int64_t n) {
            float *o = p[0];
            const float *x = p[1], *y = p[2];
            if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
#pragma omp simd
                for (int64_t i = 0; i < n; ++i)
                    o[i] = f(x[i], y[i]);
            } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
                const float c = *y;
#pragma omp simd
                for (int64_t i = 0; i < n; ++i)
                    o[i] = f(x[i], c);
            } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
                const float c = *x;
#pragma omp simd
                for (int64_t i = 0; i < n; ++i)
                    o[i] = f(c, y[i]);
            } else {
                for (int64_t i = 0; i < n; ++i)
                    o[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
            }
        });
}

} // namespace neurite::strided
