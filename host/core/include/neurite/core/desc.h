#pragma once

#include "neurite/core/shape.h"

#include <neurite/plugin_abi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace neurite {

enum class DType : int32_t { F32 = NRT_DTYPE_F32, BF16 = NRT_DTYPE_BF16 };

const char *dtype_name(DType dtype); // "f32", "bf16"

// A tensor as a model's nodes exchange it: dims, element type and memory
// format (NRT_FORMAT_PLAIN, or a oneDNN format tag such as nChw16c that
// consecutive oneDNN layers keep). What scripts see is always plain f32.
struct Desc {
    Shape shape;
    DType dtype = DType::F32;
    int32_t format = NRT_FORMAT_PLAIN;

    Desc() = default;
    Desc(Shape s, DType t = DType::F32, int32_t f = NRT_FORMAT_PLAIN)
        : shape(s), dtype(t), format(f) {}

    bool plain_f32() const { return dtype == DType::F32 && format == NRT_FORMAT_PLAIN; }
    // Bytes of memory, padding of blocked formats included.
    size_t bytes() const;
    // "[64, 32, 13, 13]", then " bf16" and " nChw16c" where they are not f32 and plain.
    std::string to_string() const;

    nrt_desc to_c() const;
    // Throws Error naming `what` when the descriptor is malformed.
    static Desc from_c(const nrt_desc &d, const std::string &what);

    bool operator==(const Desc &o) const
    {
        return shape == o.shape && dtype == o.dtype && format == o.format;
    }
};

// The oneDNN name of a format tag ("nChw16c"), or "plain".
std::string format_name(int32_t format);

// The ABI's view of `data` laid out as d: dims, plain strides, dtype, format.
nrt_tensor tensor_view(const Desc &d, void *data);

// Copies a tensor into another layout or dtype of the same shape (a oneDNN
// reorder): what the host does between layers that read different formats,
// for tools that drive a layer on buffers of their own. Throws Error naming
// both descriptors when oneDNN cannot convert between them.
void convert(const Desc &from, const void *src, const Desc &to, void *dst);

} // namespace neurite
