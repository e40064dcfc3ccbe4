// Optional oneDNN helpers for plugins that build primitives on the host's engine.
#ifndef NEURITE_PLUGIN_DNNL_HPP
#define NEURITE_PLUGIN_DNNL_HPP

#include "neurite/plugin.hpp"

#include <dnnl.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>

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

// The bytes a tensor of these dims takes in `format` (NRT_FORMAT_PLAIN or a
// dnnl_format_tag_t), the padding of blocked formats included.
inline size_t desc_bytes(std::span<const int64_t> dims, int32_t format, nrt_dtype dtype)
{
    const auto type = dtype == NRT_DTYPE_BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
    if (format == NRT_FORMAT_PLAIN) {
        int64_t n = 1;
        for (int64_t d : dims)
            n *= d;
        return static_cast<size_t>(n) * (dtype == NRT_DTYPE_BF16 ? 2 : 4);
    }
    const dnnl::memory::dims d(dims.begin(), dims.end());
    return dnnl::memory::desc(d, type, static_cast<dnnl::memory::format_tag>(format)).get_size();
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

// A primitive with its arguments bound once, run through the C API: the C++
// execute() builds a std::unordered_map and a std::vector on every call, and
// a training step should allocate nothing. It holds its memory objects, so a
// temporary passed to arg() stays alive; swap data with set_data_handle().
class BoundPrimitive {
public:
    BoundPrimitive() = default;
    // layer and what name it in errors, "<layer>: oneDNN <what> failed ...";
    // they are not copied, so they must outlive it (string literals do).
    BoundPrimitive(dnnl::primitive primitive, const char *layer, const char *what)
        : m_primitive(std::move(primitive)), m_layer(layer), m_what(what)
    {
    }

    explicit operator bool() const { return static_cast<bool>(m_primitive); }

    void arg(int name, const dnnl::memory &m)
    {
        if (m_count == kMaxArgs)
            fail(NRT_ERR_INTERNAL, std::string(m_layer) + ": oneDNN " + m_what +
                                       " takes more than " + std::to_string(kMaxArgs) + " arguments");
        m_memories[static_cast<size_t>(m_count)] = m;
        m_args[static_cast<size_t>(m_count++)] = {name, m.get()};
    }

    // Binds the user scratchpad pd asks for, if any, in buffer (see
    // scratchpad_for). pd must be the one the primitive was made from.
    void scratchpad(const dnnl::primitive_desc_base &pd, const dnnl::engine &engine,
                    const Buffer &buffer)
    {
        const dnnl::memory::desc md = pd.scratchpad_desc();
        if (md.get_size() > 0)
            arg(DNNL_ARG_SCRATCHPAD, dnnl::memory(md, engine, buffer.data()));
    }

    // Enqueues only; the caller waits on the stream when it needs the result.
    void run(const dnnl::stream &stream) const
    {
        const dnnl_status_t status =
            dnnl_primitive_execute(m_primitive.get(), stream.get(), m_count, m_args.data());
        if (status != dnnl_success)
            fail(NRT_ERR_INTERNAL, std::string(m_layer) + ": oneDNN " + m_what +
                                       " failed with status " + std::to_string(status));
    }

private:
    static constexpr int kMaxArgs = 8;
    dnnl::primitive m_primitive;
    const char *m_layer = "";
    const char *m_what = "primitive";
    std::array<dnnl_exec_arg_t, kMaxArgs> m_args{};
    std::array<dnnl::memory, kMaxArgs> m_memories;
    int m_count = 0;
};

// With dnnl::scratchpad_mode::user in the primitive attributes oneDNN
// allocates no scratchpad per execute; the plugin owns it instead. One
// buffer, as large as the largest request, serves primitives that never
// run at the same time, such as a forward and its backward. Buffer is
// 64-byte aligned, which oneDNN's kernels prefer.
template <class... Pd> Buffer scratchpad_for(const Pd &...pds)
{
    const size_t bytes = std::max({size_t{0}, pds.scratchpad_desc().get_size()...});
    return Buffer((bytes + sizeof(float) - 1) / sizeof(float));
}

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_DNNL_HPP
