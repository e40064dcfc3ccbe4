// What the layers of the shape library share: Dropout, Flatten and Reshape.
#ifndef NEURITE_LAYER_SHAPE_COMMON_HPP
#define NEURITE_LAYER_SHAPE_COMMON_HPP

#include <neurite/plugin.hpp>

#include <dnnl.h>

#include <cstdint>
#include <span>
#include <string>

namespace neurite::shape {

namespace sdk = neurite::sdk;

// The bytes a tensor of these dims takes in `format`, a blocked format's
// padding included. Through oneDNN's C API, which needs no heap, because
// forward and backward ask on every call.
inline uint64_t stored_bytes(std::span<const int64_t> dims, int32_t format)
{
    int64_t n = 1;
    for (int64_t d : dims)
        n *= d;
    if (format == NRT_FORMAT_PLAIN || n == 0)
        return static_cast<uint64_t>(n) * sizeof(float);
    dnnl_memory_desc_t md;
    dnnl_dims_t d;
    for (size_t i = 0; i < dims.size(); ++i)
        d[i] = dims[i];
    if (dnnl_memory_desc_init_by_tag(&md, static_cast<int>(dims.size()), d, dnnl_f32,
                                     static_cast<dnnl_format_tag_t>(format)) != dnnl_success)
        sdk::fail(NRT_ERR_UNSUPPORTED, "memory format " + std::to_string(format) + " does not fit a tensor " +
                                           sdk::shape_string(dims));
    return dnnl_memory_desc_get_size(&md);
}

inline int64_t stored_values(const nrt_tensor &t)
{
    return static_cast<int64_t>(stored_bytes({t.dims, static_cast<size_t>(t.ndims)}, t.format) / sizeof(float));
}

// The entries, defined in dropout.cpp and reshape.cpp.
extern const nrt_entry kDropoutEntry;
extern const nrt_entry kFlattenEntry;
extern const nrt_entry kReshapeEntry;

} // namespace neurite::shape

#endif // NEURITE_LAYER_SHAPE_COMMON_HPP
