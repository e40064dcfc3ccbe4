// Optional oneDNN helpers for plugins that build primitives on the host's engine.
#ifndef NEURITE_PLUGIN_DNNL_HPP
#define NEURITE_PLUGIN_DNNL_HPP

#include "neurite/plugin.hpp"
#include "neurite/plugin_eltwise.hpp"

#include <dnnl.hpp>

#include <algorithm>
#include <memory>
#include <vector>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

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

// The oneDNN descriptor of an nrt format (NRT_FORMAT_PLAIN or a tag) for
// dims, in f32 unless told otherwise.
inline dnnl::memory::desc desc_of(std::span<const int64_t> dims, int32_t format,
                                  dnnl::memory::data_type type = dnnl::memory::data_type::f32)
{
    const dnnl::memory::dims d(dims.begin(), dims.end());
    if (format != NRT_FORMAT_PLAIN)
        return dnnl::memory::desc(d, type, static_cast<dnnl::memory::format_tag>(format));
    dnnl::memory::dims strides(d.size());
    int64_t stride = 1;
    for (size_t i = d.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= d[i];
    }
    return dnnl::memory::desc(d, type, strides);
}

// A plain row-major f32 descriptor for dims.
inline dnnl::memory::desc plain_desc(std::span<const int64_t> dims) { return desc_of(dims, NRT_FORMAT_PLAIN); }

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

// The nrt format a oneDNN descriptor follows, whatever its data type:
// NRT_FORMAT_PLAIN for dense row-major, else the first oneDNN tag of those
// tried that describes it exactly, or -1 when none does. A layer that let a
// primitive choose its layouts (format_tag::any) declares what the
// primitive chose with it, so that the next oneDNN layer reads it as it is.
inline int32_t format_of(const dnnl::memory::desc &md)
{
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::dims dims = md.dims();
    if (md == desc_of(dims, NRT_FORMAT_PLAIN, md.data_type()))
        return NRT_FORMAT_PLAIN;
    std::span<const tag> tried;
    static constexpr tag k3[] = {tag::acb, tag::aBc16b, tag::aBc8b, tag::aBc4b};
    static constexpr tag k4[] = {tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::aBcd4b, tag::aBcd32b, tag::ABcd16a16b,
                                 tag::ABcd32a16b, tag::ABcd8a8b, tag::cdba};
    static constexpr tag k5[] = {tag::acdeb, tag::aBcde16b, tag::aBcde8b, tag::aBcde4b};
    if (dims.size() == 3)
        tried = k3;
    else if (dims.size() == 4)
        tried = k4;
    else if (dims.size() == 5)
        tried = k5;
    for (tag t : tried)
        if (md == dnnl::memory::desc(dims, md.data_type(), t))
            return static_cast<int32_t>(t);
    return -1;
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
    static constexpr int kMaxArgs = 12; // a normalization backward binds 10
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

// ---------------------------------------------------------------- activations

// A parameterless ABI 1.1 layer computed by one oneDNN forward primitive and
// its backward, with src, dst and both gradients viewed through one
// descriptor: an activation such as the eltwise and softmax families. This
// class does the plumbing they share: prepare() checks the input and builds
// the primitives, their memories and one scratchpad once per shape and
// format (the last few are kept, so a model switching between a batch size
// and its last partial batch builds nothing); forward() and backward() swap
// data handles, run and wait, so a steady-state step allocates nothing. A
// derived class only describes its primitives. An elementwise one reads its
// input in whatever oneDNN layout the layer before wrote (a blocked layout
// between convolutions stays blocked) and writes the same.
class DnnlActivation : public GraphLayer {
public:
    void prepare(Prepare &p) override
    {
        p.require_inputs(m_name, 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        require_src_dims(m_name, dims, m_rank_note);
        // bf16 in a bf16 model when the derived class computes it, else f32.
        const nrt_dtype dtype = p.src_dtype(0) == NRT_DTYPE_BF16 && computes_bf16() ? NRT_DTYPE_BF16 : NRT_DTYPE_F32;
        const bool keep = m_any_format && p.src_format(0) != NRT_FORMAT_PLAIN;
        const int32_t format = keep ? p.src_format(0) : NRT_FORMAT_PLAIN;
        p.want_src(0, format, dtype);
        m_cur = nullptr; // a failed prepare leaves nothing usable for an older shape
        int64_t count = 1;
        for (int64_t d : dims)
            count *= d;
        m_small = format == NRT_FORMAT_PLAIN && dtype == NRT_DTYPE_F32 && count <= kSmallEltwiseElements ? count : 0;
        if (count > 0)
            m_cur = with_dnnl(m_name, [&] { return built_for(dims, format, dtype); });
        p.add_output(dims, format, dtype);
    }

    void forward(const Call &c) override
    {
        if (!m_cur)
            return; // an empty tensor
        if (m_small && forward_small(static_cast<const float *>(c.src(0).data), static_cast<float *>(c.dst(0).data),
                                     m_small))
            return;
        // oneDNN only reads src; the handle is non-const by API.
        m_cur->src.set_data_handle(c.src(0).data);
        m_cur->dst.set_data_handle(c.dst(0).data);
        m_cur->forward.run(m_stream);
        m_stream.wait();
    }

    void backward(const Call &c) override
    {
        nrt_tensor *diff_src = c.diff_src(0);
        if (!diff_src || !m_cur)
            return; // no parameters, so nothing else to compute
        const bool reads_dst = m_reads == BackwardReads::Dst;
        if (m_small && backward_small(static_cast<const float *>(reads_dst ? c.dst(0).data : c.src(0).data),
                                      static_cast<const float *>(c.diff_dst(0).data),
                                      static_cast<float *>(diff_src->data), m_small))
            return;
        (reads_dst ? m_cur->dst : m_cur->src).set_data_handle(reads_dst ? c.dst(0).data : c.src(0).data);
        m_cur->diff_dst.set_data_handle(c.diff_dst(0).data);
        m_cur->diff_src.set_data_handle(diff_src->data);
        m_cur->backward.run(m_stream);
        m_stream.wait();
    }

protected:
    // What the backward primitive reads besides diff_dst: *_use_dst_for_bwd
    // algorithms and softmax differentiate from dst, which is cheaper.
    enum class BackwardReads { Src, Dst };
    // Whether the computation reads elements one by one (any layout will do).
    enum class Layouts { PlainOnly, Any };

    // The primitive descriptors for one shape; md views all four tensors.
    struct Primitives {
        dnnl::memory::desc md;
        dnnl::primitive_desc forward;
        dnnl::primitive_desc backward;
    };

    // name and rank_note (see require_src_dims) are not copied: string literals.
    DnnlActivation(const Host &host, const char *name, BackwardReads reads,
                   const char *rank_note = nullptr, Layouts layouts = Layouts::PlainOnly)
        : m_name(name), m_rank_note(rank_note), m_reads(reads), m_any_format(layouts == Layouts::Any),
          m_engine(dnnl_engine(host)), m_stream(dnnl_stream(host))
    {
    }

    // Both primitives for src_dims (never empty) in `format` (NRT_FORMAT_PLAIN
    // or the oneDNN tag the input arrives in), made on engine with attr, which
    // asks for a user scratchpad; backward with forward as its hint.
    virtual Primitives describe(std::span<const int64_t> src_dims, int32_t format, const dnnl::engine &engine,
                                const dnnl::primitive_attr &attr) const = 0;
    // A class that computes in bf16 when the model does returns true and
    // overrides this form; dtype is NRT_DTYPE_F32 or NRT_DTYPE_BF16.
    virtual bool computes_bf16() const { return false; }
    virtual Primitives describe(std::span<const int64_t> src_dims, int32_t format, nrt_dtype dtype,
                                const dnnl::engine &engine, const dnnl::primitive_attr &attr) const
    {
        (void)dtype; // f32 only, unless computes_bf16()
        return describe(src_dims, format, engine, attr);
    }

    // Plain loops for a small plain f32 tensor (at most kSmallEltwiseElements,
    // plugin_eltwise.hpp), where a oneDNN call costs more than the work.
    // Return false to run the primitives. backward_small reads what the
    // primitive would: dst or src as BackwardReads says.
    virtual bool forward_small(const float *src, float *dst, int64_t count) const
    {
        (void)src, (void)dst, (void)count;
        return false;
    }
    virtual bool backward_small(const float *src_or_dst, const float *diff_dst, float *diff_src, int64_t count) const
    {
        (void)src_or_dst, (void)diff_dst, (void)diff_src, (void)count;
        return false;
    }

private:
    static constexpr size_t kKeptShapes = 4;

    struct Built {
        std::vector<int64_t> dims;
        int32_t format = NRT_FORMAT_PLAIN;
        nrt_dtype dtype = NRT_DTYPE_F32;
        BoundPrimitive forward, backward;
        dnnl::memory src, dst, diff_dst, diff_src;
        Buffer scratchpad;
    };

    Built *built_for(std::span<const int64_t> dims, int32_t format, nrt_dtype dtype)
    {
        for (auto &b : m_built)
            if (b->format == format && b->dtype == dtype &&
                std::equal(dims.begin(), dims.end(), b->dims.begin(), b->dims.end()))
                return b.get();
        if (m_built.size() == kKeptShapes)
            m_built.erase(m_built.begin());
        m_built.push_back(build(dims, format, dtype));
        return m_built.back().get();
    }

    std::unique_ptr<Built> build(std::span<const int64_t> dims, int32_t format, nrt_dtype dtype) const
    {
        auto b = std::make_unique<Built>();
        b->dims.assign(dims.begin(), dims.end());
        b->format = format;
        b->dtype = dtype;
        // A user scratchpad keeps oneDNN from allocating one per execute.
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const Primitives p = describe(dims, format, dtype, m_engine, attr);
        // Forward and backward never run at once, so they share one buffer.
        b->scratchpad = scratchpad_for(p.forward, p.backward);
        b->src = dnnl::memory(p.md, m_engine, DNNL_MEMORY_NONE);
        b->dst = dnnl::memory(p.md, m_engine, DNNL_MEMORY_NONE);
        b->diff_dst = dnnl::memory(p.md, m_engine, DNNL_MEMORY_NONE);
        b->diff_src = dnnl::memory(p.md, m_engine, DNNL_MEMORY_NONE);
        b->forward = BoundPrimitive(dnnl::primitive(p.forward), m_name, "forward");
        b->forward.arg(DNNL_ARG_SRC, b->src);
        b->forward.arg(DNNL_ARG_DST, b->dst);
        b->forward.scratchpad(p.forward, m_engine, b->scratchpad);
        b->backward = BoundPrimitive(dnnl::primitive(p.backward), m_name, "backward");
        b->backward.arg(m_reads == BackwardReads::Dst ? DNNL_ARG_DST : DNNL_ARG_SRC,
                        m_reads == BackwardReads::Dst ? b->dst : b->src);
        b->backward.arg(DNNL_ARG_DIFF_DST, b->diff_dst);
        b->backward.arg(DNNL_ARG_DIFF_SRC, b->diff_src);
        b->backward.scratchpad(p.backward, m_engine, b->scratchpad);
        return b;
    }

    const char *m_name;
    const char *m_rank_note;
    BackwardReads m_reads;
    bool m_any_format;
    dnnl::engine m_engine;
    dnnl::stream m_stream;
    std::vector<std::unique_ptr<Built>> m_built;
    Built *m_cur = nullptr;
    int64_t m_small = 0; // the element count when the small loops apply
};

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_DNNL_HPP
