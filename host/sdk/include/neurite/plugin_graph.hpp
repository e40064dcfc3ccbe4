// ABI 1.1 layers in C++: several inputs and outputs, memory descriptors,
// a host-owned workspace and host-owned parameters. plugin.hpp includes
// this header; a plugin derives from sdk::GraphLayer instead of sdk::Layer.
//
// A GraphLayer declares its parameters (declare_param, in its constructor,
// or in prepare when their shapes depend on the input) and never allocates
// them: the host places every parameter of a model in one arena and every
// gradient in another, binds views into them, and asks the layer to fill
// the initial values once (initialise). The host clears gradients; backward
// adds to them, or writes them when Call::accumulate() is false.
//
// What a forward keeps for its backward belongs in the workspace the layer
// asks for in prepare, not in the instance: a model may call the layer at
// several batch sizes, and the host keeps each call's workspace until its
// backward.
#ifndef NEURITE_PLUGIN_GRAPH_HPP
#define NEURITE_PLUGIN_GRAPH_HPP

#include "neurite/plugin.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::sdk {

// The descriptors of one prepare: inputs as their producers write them, the
// formats this layer reads them in, and the outputs it declares.
class Prepare {
public:
    Prepare(int32_t src_count, nrt_desc *src, int32_t dst_capacity, nrt_desc *dst)
        : m_src(src), m_dst(dst), m_src_count(src_count), m_dst_capacity(dst_capacity)
    {
        // Unless the layer says otherwise it reads plain f32, which every
        // producer's output can be converted to.
        m_offered.assign(src, src + src_count);
        for (int32_t i = 0; i < src_count; ++i) {
            m_src[i].format = NRT_FORMAT_PLAIN;
            m_src[i].dtype = NRT_DTYPE_F32;
        }
    }

    int inputs() const { return m_src_count; }
    std::span<const int64_t> src_dims(int i) const
    {
        const nrt_desc &d = input(i);
        return {d.dims, static_cast<size_t>(d.ndims)};
    }
    // As the producer writes it (before accept_src / want_src).
    int32_t src_format(int i) const { return input(i).format; }
    nrt_dtype src_dtype(int i) const { return static_cast<nrt_dtype>(input(i).dtype); }
    std::string src_shape(int i) const { return shape_string(src_dims(i)); }

    // Read input i as its producer writes it (no conversion).
    void accept_src(int i)
    {
        check_index(i);
        m_src[i].format = m_offered[static_cast<size_t>(i)].format;
        m_src[i].dtype = m_offered[static_cast<size_t>(i)].dtype;
    }
    // Read input i in this format and dtype; the host converts.
    void want_src(int i, int32_t format, nrt_dtype dtype = NRT_DTYPE_F32)
    {
        check_index(i);
        m_src[i].format = format;
        m_src[i].dtype = dtype;
    }

    // "Add takes at least 2 inputs, got 1", from the layer's own name.
    void require_inputs(const char *layer, int min, int max) const
    {
        if (m_src_count >= min && m_src_count <= max)
            return;
        const std::string want = min == max ? std::to_string(min)
                                 : max >= (1 << 30) ? "at least " + std::to_string(min)
                                                    : std::to_string(min) + " to " + std::to_string(max);
        fail(NRT_ERR_SHAPE, std::string(layer) + " takes " + want + " input" + (max == 1 ? "" : "s") +
                                ", got " + std::to_string(m_src_count));
    }

    // Declares the next output; returns its index.
    int add_output(std::span<const int64_t> dims, int32_t format = NRT_FORMAT_PLAIN,
                   nrt_dtype dtype = NRT_DTYPE_F32)
    {
        if (m_dst_count == m_dst_capacity)
            fail(NRT_ERR_UNSUPPORTED, "the host takes at most " + std::to_string(m_dst_capacity) +
                                          " outputs of a layer");
        if (dims.empty() || dims.size() > NRT_MAX_DIMS)
            fail(NRT_ERR_SHAPE, "output rank " + std::to_string(dims.size()) + " is not in 1.." +
                                    std::to_string(NRT_MAX_DIMS));
        nrt_desc &d = m_dst[m_dst_count];
        d = nrt_desc{};
        d.struct_size = sizeof(nrt_desc);
        d.dtype = dtype;
        d.format = format;
        d.ndims = static_cast<int32_t>(dims.size());
        std::copy(dims.begin(), dims.end(), d.dims);
        return m_dst_count++;
    }
    int outputs() const { return m_dst_count; }

    void set_workspace(uint64_t bytes) { m_workspace = bytes; }
    uint64_t workspace() const { return m_workspace; }

private:
    const nrt_desc &input(int i) const
    {
        check_index(i);
        return m_offered[static_cast<size_t>(i)];
    }
    void check_index(int i) const
    {
        if (i < 0 || i >= m_src_count)
            fail(NRT_ERR_INTERNAL, "input " + std::to_string(i) + " of " +
                                       std::to_string(m_src_count) + " does not exist");
    }

    nrt_desc *m_src;
    nrt_desc *m_dst;
    std::vector<nrt_desc> m_offered;
    int32_t m_src_count;
    int32_t m_dst_capacity;
    int32_t m_dst_count = 0;
    uint64_t m_workspace = 0;
};

// One forward or backward call, over nrt_layer_call.
class Call {
public:
    explicit Call(const nrt_layer_call &c) : m_c(c) {}

    int inputs() const { return m_c.src_count; }
    int outputs() const { return m_c.dst_count; }
    const nrt_tensor &src(int i) const { return m_c.src[i]; }
    nrt_tensor &dst(int i) const { return m_c.dst[i]; }
    // Backward only.
    const nrt_tensor &diff_dst(int i) const { return m_c.diff_dst[i]; }
    // Backward only; nullptr when the host needs no gradient for input i.
    nrt_tensor *diff_src(int i) const
    {
        return m_c.diff_src && m_c.diff_src[i].data ? &m_c.diff_src[i] : nullptr;
    }
    bool training() const { return m_c.training != 0; }
    // Backward: add to the parameter gradients (true) or write them (false).
    bool accumulate() const { return m_c.accumulate != 0; }
    template <class T = float> T *workspace() const { return static_cast<T *>(m_c.workspace); }
    uint64_t workspace_bytes() const { return m_c.workspace_bytes; }
    const nrt_layer_call &raw() const { return m_c; }

private:
    const nrt_layer_call &m_c;
};

class GraphLayer {
public:
    virtual ~GraphLayer() = default;

    // Check the inputs, choose the formats to read them in, declare the
    // outputs and the workspace. Called again when an input descriptor changes.
    virtual void prepare(Prepare &p) = 0;
    virtual void forward(const Call &c) = 0;
    // Write the input gradients; add to (or write, see Call::accumulate) the
    // parameter gradients.
    virtual void backward(const Call &c) = 0;
    // Fill the declared parameters' initial values (called once, after the
    // first binding; the creation seed is the layer's to keep).
    virtual void initialise() {}
    // The parameters moved: drop whatever holds the old addresses (e.g.
    // oneDNN memory objects), to rebuild on the next call.
    virtual void on_bind() {}
    virtual void save_state(const Writer &) const {}
    virtual void load_state(Reader &) {}
    // The layer as ONNX nodes for `opset` (see nrt_layer_vtable.onnx_form):
    // inputs X0.., outputs Y0.., parameters by their declared names. Empty:
    // it has none, and ONNX export of a model holding it fails naming it.
    virtual std::string onnx_form(int opset) const
    {
        (void)opset;
        return {};
    }

    const std::vector<nrt_param_ref> &params() const { return m_params; }
    bool bound() const { return m_bound; }

    // Used by the SDK's trampolines.
    void bind(std::span<const nrt_param_ref> params, bool initialise_values)
    {
        if (params.size() != m_params.size())
            fail(NRT_ERR_STATE, "the host bound " + std::to_string(params.size()) +
                                    " parameters but the layer declared " +
                                    std::to_string(m_params.size()));
        for (size_t i = 0; i < params.size(); ++i) {
            if (!params[i].value.data && numel(m_params[i].value) > 0)
                fail(NRT_ERR_INVALID_ARGUMENT, std::string("parameter '") + m_params[i].name +
                                                   "' was bound without memory");
            m_params[i].value.data = params[i].value.data;
            m_params[i].grad.data = params[i].grad.data;
        }
        m_bound = true;
        on_bind();
        if (initialise_values)
            initialise();
    }

protected:
    // Declares parameter `name` (a string that outlives the layer, such as a
    // literal); returns its index for value() and grad(). Buffers
    // (NRT_PARAM_FLAG_BUFFER) are saved with the weights but not trained.
    int declare_param(const char *name, std::span<const int64_t> dims, int32_t flags = 0)
    {
        if (m_bound)
            fail(NRT_ERR_STATE, std::string("parameter '") + name +
                                    "' declared after the parameters were bound");
        nrt_param_ref p{};
        p.struct_size = sizeof(nrt_param_ref);
        p.name = name;
        p.value = make_tensor(nullptr, dims);
        p.grad = make_tensor(nullptr, dims);
        p.flags = flags;
        m_params.push_back(p);
        return static_cast<int>(m_params.size() - 1);
    }
    float *value(int i) const { return f32(m_params[static_cast<size_t>(i)].value); }
    // nullptr for buffers.
    float *grad(int i) const { return f32(m_params[static_cast<size_t>(i)].grad); }
    int64_t param_size(int i) const { return numel(m_params[static_cast<size_t>(i)].value); }

    // Sets every gradient of the call's parameters to zero when the host says
    // they are logically zero (Call::accumulate() false), for layers whose
    // backward only knows how to add.
    void clear_grads_unless_accumulating(const Call &c) const
    {
        if (c.accumulate())
            return;
        for (const nrt_param_ref &p : m_params)
            if (p.grad.data)
                std::fill_n(f32(p.grad), numel(p.grad), 0.0f);
    }

private:
    std::vector<nrt_param_ref> m_params;
    bool m_bound = false;
};

namespace detail {

inline void copy_param_ref(const nrt_param_ref &from, nrt_param_ref *out)
{
    // The host's struct may be older (smaller) than ours: copy what it has room for.
    const uint32_t room = out->struct_size ? out->struct_size : sizeof(nrt_param_ref);
    const uint32_t n = std::min<uint32_t>(room, sizeof(nrt_param_ref));
    nrt_param_ref copy = from;
    copy.struct_size = n;
    std::memcpy(out, &copy, n);
}

// The host's array, read at the host's stride (its minor may differ from ours).
inline std::vector<nrt_param_ref> read_param_refs(const nrt_param_ref *params, int32_t n)
{
    std::vector<nrt_param_ref> refs(static_cast<size_t>(std::max(n, 0)));
    const uint32_t stride = n > 0 ? params[0].struct_size : 0;
    if (n > 0 && stride < offsetof(nrt_param_ref, flags))
        fail(NRT_ERR_INVALID_ARGUMENT, "parameter references of unknown size " + std::to_string(stride));
    for (int32_t i = 0; i < n; ++i) {
        const auto *src = reinterpret_cast<const unsigned char *>(params) + static_cast<size_t>(i) * stride;
        std::memcpy(&refs[static_cast<size_t>(i)], src, std::min<size_t>(stride, sizeof(nrt_param_ref)));
    }
    return refs;
}

template <class T> struct GraphLayerTable {
    static T *self(void *p) { return static_cast<T *>(p); }
    static constexpr nrt_layer_vtable table = {
        sizeof(nrt_layer_vtable),
        nullptr, // prepare (ABI 1.0)
        nullptr, // forward (ABI 1.0)
        nullptr, // backward (ABI 1.0)
        [](void *p) { return static_cast<int32_t>(self(p)->params().size()); },
        [](void *p, int32_t i, nrt_param_ref *out) -> nrt_status {
            const auto &ps = self(p)->params();
            if (i < 0 || static_cast<size_t>(i) >= ps.size() || !out)
                return NRT_ERR_INVALID_ARGUMENT;
            copy_param_ref(ps[static_cast<size_t>(i)], out);
            return NRT_OK;
        },
        nullptr, // zero_grad: the host clears gradients
        [](void *p, const nrt_writer *w, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->save_state(Writer(w)); });
        },
        [](void *p, const void *bytes, size_t n, char *e, size_t es) {
            return guarded(e, es, [&] {
                Reader r(bytes, n);
                self(p)->load_state(r);
                r.expect_end();
            });
        },
        [](void *p, int32_t n_src, nrt_desc *src, int32_t *n_dst, nrt_desc *dst, uint64_t *ws,
           char *e, size_t es) {
            return guarded(e, es, [&] {
                Prepare prep(n_src, src, *n_dst, dst);
                self(p)->prepare(prep);
                if (prep.outputs() == 0)
                    fail(NRT_ERR_INTERNAL, "prepare declared no output");
                *n_dst = prep.outputs();
                *ws = prep.workspace();
            });
        },
        [](void *p, const nrt_layer_call *c, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->forward(Call(*c)); });
        },
        [](void *p, const nrt_layer_call *c, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->backward(Call(*c)); });
        },
        [](void *p, int32_t n, const nrt_param_ref *params, int32_t init, char *e, size_t es) {
            return guarded(e, es, [&] {
                self(p)->bind(read_param_refs(params, n), init != 0);
            });
        },
        onnx_form_slot<T>,
    };
};

} // namespace detail

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_GRAPH_HPP
