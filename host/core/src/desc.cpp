#include "neurite/core/desc.h"

#include "neurite/core/error.h"
#include "model_plan.h"

#include <dnnl.hpp>
#include <oneapi/dnnl/dnnl_debug.h>

namespace neurite {

namespace {

dnnl::memory::data_type dnnl_type(DType t)
{
    return t == DType::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

size_t element_size(DType t) { return t == DType::BF16 ? 2 : 4; }

} // namespace

const char *dtype_name(DType dtype) { return dtype == DType::BF16 ? "bf16" : "f32"; }

std::string format_name(int32_t format)
{
    if (format == NRT_FORMAT_PLAIN)
        return "plain";
    const char *name = dnnl_fmt_tag2str(static_cast<dnnl_format_tag_t>(format));
    return name ? name : "format " + std::to_string(format);
}

size_t Desc::bytes() const
{
    if (format == NRT_FORMAT_PLAIN)
        return static_cast<size_t>(shape.numel()) * element_size(dtype);
    const dnnl::memory::dims dims(shape.begin(), shape.end());
    try {
        return dnnl::memory::desc(dims, dnnl_type(dtype), static_cast<dnnl::memory::format_tag>(format))
            .get_size();
    } catch (const dnnl::error &) {
        throw Error("format " + format_name(format) + " does not fit the shape " + shape.to_string());
    }
}

std::string Desc::to_string() const
{
    std::string s = shape.to_string();
    if (dtype != DType::F32)
        s += std::string(" ") + dtype_name(dtype);
    if (format != NRT_FORMAT_PLAIN)
        s += " " + format_name(format);
    return s;
}

nrt_desc Desc::to_c() const
{
    nrt_desc d{};
    d.struct_size = sizeof d;
    d.dtype = static_cast<int32_t>(dtype);
    d.format = format;
    d.ndims = shape.size();
    for (int i = 0; i < shape.size(); ++i)
        d.dims[i] = shape[i];
    return d;
}

Desc Desc::from_c(const nrt_desc &d, const std::string &what)
{
    if (d.ndims < 1 || d.ndims > NRT_MAX_DIMS)
        throw Error(what + " has rank " + std::to_string(d.ndims) + ", expected 1.." +
                    std::to_string(NRT_MAX_DIMS));
    if (d.dtype != NRT_DTYPE_F32 && d.dtype != NRT_DTYPE_BF16)
        throw Error(what + " has an unknown dtype " + std::to_string(d.dtype));
    Desc out;
    out.shape = Shape(std::span<const int64_t>(d.dims, static_cast<size_t>(d.ndims)));
    out.dtype = static_cast<DType>(d.dtype);
    out.format = d.format;
    if (out.format != NRT_FORMAT_PLAIN)
        (void)out.bytes(); // refuses a format that does not fit the dims
    return out;
}

nrt_tensor tensor_view(const Desc &d, void *data)
{
    nrt_tensor t{};
    t.struct_size = sizeof t;
    t.dtype = static_cast<int32_t>(d.dtype);
    t.format = d.format;
    t.ndims = d.shape.size();
    int64_t stride = 1;
    for (int i = t.ndims - 1; i >= 0; --i) {
        t.dims[i] = d.shape[i];
        t.strides[i] = stride;
        stride *= d.shape[i];
    }
    t.data = data;
    return t;
}

void convert(const Desc &from, const void *src, const Desc &to, void *dst)
{
    if (!(from.shape == to.shape))
        throw Error("cannot convert " + from.to_string() + " to " + to.to_string() + ": the shapes differ");
    // oneDNN's memory takes a non-const handle; a reorder only reads its source.
    detail::Conversion(from, const_cast<void *>(src), to, dst).run();
}

} // namespace neurite
