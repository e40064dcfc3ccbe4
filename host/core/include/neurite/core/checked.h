#pragma once

// Size arithmetic that throws instead of wrapping. A size that wraps turns a
// huge request into a tiny allocation that is then indexed far outside its
// bounds, so every product or sum of element counts, offsets and byte counts
// goes through these.
#include "neurite/core/error.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace neurite {

// The most elements one tensor may hold: 4 TiB of floats, beyond any machine
// this runs on, and far from where int64_t offsets or size_t bytes overflow.
inline constexpr int64_t kMaxTensorElements = int64_t(1) << 40;

[[noreturn]] inline void throw_size_overflow(int64_t a, char op, int64_t b)
{
    throw Error("size arithmetic overflows: " + std::to_string(a) + " " + op + " " +
                std::to_string(b) + " does not fit in 64 bits");
}

inline int64_t checked_mul(int64_t a, int64_t b)
{
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        throw_size_overflow(a, '*', b);
    return r;
}

inline int64_t checked_add(int64_t a, int64_t b)
{
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        throw_size_overflow(a, '+', b);
    return r;
}

// Bytes for `count` elements of `size` bytes each, for an allocator.
inline size_t checked_bytes(int64_t count, size_t size)
{
    if (count < 0)
        throw Error("a negative element count (" + std::to_string(count) + ") cannot be allocated");
    size_t r = 0;
    if (__builtin_mul_overflow(static_cast<size_t>(count), size, &r))
        throw_size_overflow(count, '*', static_cast<int64_t>(size));
    return r;
}

} // namespace neurite
