// Optional oneDNN helpers for plugins that build primitives on the host's engine.
#ifndef NEURITE_PLUGIN_DNNL_HPP
#define NEURITE_PLUGIN_DNNL_HPP

#include "neurite/plugin.hpp"

#include <dnnl.hpp>

namespace neurite::sdk {

// Weak handles: the host owns the engine and the stream.
inline dnnl::engine dnnl_engine(const Host &host)
{
    if (!host.raw() || !host.raw()->engine)
        fail(NRT_ERR_UNSUPPORTED, "the host offers no oneDNN engine");
    return dnnl::engine(reinterpret_cast<dnnl_engine_t>(host.raw()->engine), true);
}

inline dnnl::stream dnnl_stream(const Host &host)
{
    if (!host.raw() || !host.raw()->stream)
        fail(NRT_ERR_UNSUPPORTED, "the host offers no oneDNN stream");
    return dnnl::stream(reinterpret_cast<dnnl_stream_t>(host.raw()->stream), true);
}

// A plain row-major f32 descriptor for the tensor's dims.
inline dnnl::memory::desc plain_desc(const nrt_tensor &t)
{
    dnnl::memory::dims dims(t.dims, t.dims + t.ndims);
    dnnl::memory::dims strides(t.strides, t.strides + t.ndims);
    return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

inline dnnl::memory::desc plain_desc(std::span<const int64_t> dims)
{
    dnnl::memory::dims d(dims.begin(), dims.end());
    dnnl::memory::dims strides(d.size());
    int64_t s = 1;
    for (size_t i = d.size(); i-- > 0;) {
        strides[i] = s;
        s *= d[i];
    }
    return dnnl::memory::desc(d, dnnl::memory::data_type::f32, strides);
}

// Wraps a oneDNN call so that its dnnl::error becomes a plugin error with context.
template <class Fn> auto with_dnnl(const char *what, Fn &&fn)
{
    try {
        return fn();
    } catch (const dnnl::error &e) {
        fail(NRT_ERR_INTERNAL, std::string(what) + ": oneDNN: " + e.what());
    }
}

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_DNNL_HPP
