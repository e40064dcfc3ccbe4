// Header-only C++ layer over plugin_abi.h, the way dnnl.hpp wraps dnnl.h.
//
// A plugin derives from Layer, Loss or Optimizer, describes its parameters
// with the *_param() helpers, builds an nrt_entry with make_entry<T>() and
// exports the library with NEURITE_PLUGIN(...). Exceptions thrown by the
// plugin stop at the trampolines below and become a status and a message.
// The input checks every plugin needs (plugin_checks.hpp) come with it.
#ifndef NEURITE_PLUGIN_HPP
#define NEURITE_PLUGIN_HPP

#include "neurite/plugin_abi.h"
#include "neurite/plugin_denormals.hpp"

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace neurite::sdk {

// ---------------------------------------------------------------- errors

class Error : public std::runtime_error {
public:
    Error(nrt_status status, const std::string &message)
        : std::runtime_error(message), m_status(status) {}
    nrt_status status() const { return m_status; }

private:
    nrt_status m_status;
};

[[noreturn]] inline void fail(nrt_status status, const std::string &message)
{
    throw Error(status, message);
}

inline void copy_message(char *err, size_t err_size, const char *message)
{
    if (!err || err_size == 0)
        return;
    size_t n = std::strlen(message);
    if (n >= err_size)
        n = err_size - 1;
    std::memcpy(err, message, n);
    err[n] = '\0';
}

// Runs fn and turns any exception into a status; the only place one may stop.
template <class Fn>
nrt_status guarded(char *err, size_t err_size, Fn &&fn) noexcept
{
    try {
        fn();
        return NRT_OK;
    } catch (const Error &e) {
        copy_message(err, err_size, e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        copy_message(err, err_size, "out of memory");
        return NRT_ERR_INTERNAL;
    } catch (const std::exception &e) {
        copy_message(err, err_size, e.what());
        return NRT_ERR_INTERNAL;
    } catch (...) {
        copy_message(err, err_size, "unknown exception in plugin");
        return NRT_ERR_INTERNAL;
    }
}

// ---------------------------------------------------------------- tensors

inline int64_t numel(const nrt_tensor &t)
{
    int64_t n = 1;
    for (int i = 0; i < t.ndims; ++i)
        n *= t.dims[i];
    return n;
}

inline bool is_contiguous(const nrt_tensor &t)
{
    int64_t expected = 1;
    for (int i = t.ndims - 1; i >= 0; --i) {
        if (t.dims[i] != 1 && t.strides[i] != expected)
            return false;
        expected *= t.dims[i];
    }
    return true;
}

inline float *f32(const nrt_tensor &t) { return static_cast<float *>(t.data); }

inline std::string shape_string(int32_t ndims, const int64_t *dims)
{
    std::string s = "[";
    for (int i = 0; i < ndims; ++i) {
        if (i)
            s += ", ";
        s += std::to_string(dims[i]);
    }
    return s + "]";
}

inline std::string shape_string(const nrt_tensor &t) { return shape_string(t.ndims, t.dims); }

inline std::string shape_string(std::span<const int64_t> dims)
{
    return shape_string(static_cast<int32_t>(dims.size()), dims.data());
}

// A contiguous f32 tensor descriptor over memory the caller owns.
inline nrt_tensor make_tensor(float *data, std::span<const int64_t> dims)
{
    nrt_tensor t{};
    t.struct_size = sizeof(nrt_tensor);
    t.dtype = NRT_DTYPE_F32;
    t.ndims = static_cast<int32_t>(dims.size());
    int64_t stride = 1;
    for (int i = t.ndims - 1; i >= 0; --i) {
        t.dims[i] = dims[i];
        t.strides[i] = stride;
        stride *= dims[i];
    }
    t.data = data;
    return t;
}

inline void require_contiguous(const nrt_tensor &t, const char *what)
{
    if (t.dtype != NRT_DTYPE_F32)
        fail(NRT_ERR_UNSUPPORTED, std::string(what) + " must be f32");
    if (!is_contiguous(t))
        fail(NRT_ERR_UNSUPPORTED, std::string(what) + " " + shape_string(t) + " must be contiguous");
}

inline void require_same_shape(const nrt_tensor &a, const char *a_name, const nrt_tensor &b,
                               const char *b_name)
{
    bool same = a.ndims == b.ndims;
    for (int i = 0; same && i < a.ndims; ++i)
        same = a.dims[i] == b.dims[i];
    if (!same)
        fail(NRT_ERR_SHAPE, std::string(a_name) + " " + shape_string(a) + " and " + b_name + " " +
                                shape_string(b) + " must have the same shape");
}

// Owned, zero-filled, 64-byte aligned floats: parameters, gradients and
// workspaces that a plugin allocates once (not per step).
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(size_t count) { resize(count); }
    Buffer(Buffer &&o) noexcept : m_p(o.m_p), m_n(o.m_n) { o.m_p = nullptr; o.m_n = 0; }
    Buffer &operator=(Buffer &&o) noexcept
    {
        std::swap(m_p, o.m_p);
        std::swap(m_n, o.m_n);
        return *this;
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    ~Buffer() { std::free(m_p); }

    // Reallocates only to grow; contents are zero after a reallocation.
    void resize(size_t count)
    {
        if (count <= m_n && m_p)
            return;
        size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
        void *p = std::aligned_alloc(64, bytes ? bytes : 64);
        if (!p)
            throw std::bad_alloc();
        std::memset(p, 0, bytes ? bytes : 64);
        std::free(m_p);
        m_p = static_cast<float *>(p);
        m_n = count;
    }
    float *data() const { return m_p; }
    size_t size() const { return m_n; }
    float &operator[](size_t i) const { return m_p[i]; }

private:
    float *m_p = nullptr;
    size_t m_n = 0;
};

// How threads share work on a parameter tensor: part p of P owns the rows
// [first, last) of its first dimension. Layers and optimizers that split
// their work this way keep each slice of the weights, the gradients and the
// optimizer state in the cache of the core that touches it every step; on
// two cores that matters more than the arithmetic at small batch sizes.
struct RowBlock {
    int64_t first;
    int64_t last;
};

inline RowBlock row_block(int64_t rows, int part, int parts)
{
    return {rows * part / parts, rows * (part + 1) / parts};
}

// ---------------------------------------------------------------- schema

constexpr nrt_param_spec int_param(const char *name, double def, double min, double max,
                                   const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_INT, name, doc, 0, 0, def, nullptr, nullptr, min, max, nullptr};
}

constexpr nrt_param_spec required_int_param(const char *name, double min, double max,
                                            const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_INT, name, doc, 1, 0, 0, nullptr, nullptr, min, max, nullptr};
}

constexpr nrt_param_spec float_param(const char *name, double def, double min, double max,
                                     const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_FLOAT, name, doc, 0, 0, def, nullptr, nullptr, min, max, nullptr};
}

constexpr nrt_param_spec bool_param(const char *name, bool def, const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_BOOL, name, doc, 0, 0, def ? 1.0 : 0.0, nullptr, nullptr, 0, 1, nullptr};
}

// choices: "a|b|c"; the default must be one of them.
constexpr nrt_param_spec choice_param(const char *name, const char *def, const char *choices,
                                      const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_STRING, name, doc, 0, 0, 0, def, nullptr, 1, 0, choices};
}

constexpr nrt_param_spec float_list_param(const char *name, const double *def, int32_t length,
                                          double min, double max, const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_FLOAT_LIST, name, doc, 0, length, 0, nullptr, def, min, max, nullptr};
}

// One or more numbers, as many as the user gives (ABI 1.1), e.g. a shape;
// required, since a list of unknown length has no default.
constexpr nrt_param_spec required_list_param(const char *name, double min, double max, const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_FLOAT_LIST, name, doc, 1, 0, 0, nullptr, nullptr, min, max, nullptr};
}

// A spatial size: one integer or a pair {h, w}, each in [min, max]; def
// points at two numbers. choices ("same|valid") adds words a user may give
// instead, or nullptr.
constexpr nrt_param_spec int_pair_param(const char *name, const double *def, double min, double max,
                                        const char *doc, const char *choices = nullptr)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_INT_PAIR, name, doc, 0, 2, 0, nullptr, def, min, max, choices};
}

// The same with a word of choices as its default (a pool's stride "kernel").
constexpr nrt_param_spec word_pair_param(const char *name, const char *def, double min, double max,
                                         const char *choices, const char *doc)
{
    return {sizeof(nrt_param_spec), NRT_PARAM_INT_PAIR, name, doc, 0, 2, 0, def, nullptr, min, max, choices};
}

// An int-pair parameter as resolved: two sizes, or the word the user gave.
struct IntPair {
    int64_t h = 0, w = 0;
    std::string word; // empty unless a word of the schema's choices was given
};

// Resolved parameter values, as the host passes them (complete, in schema order).
class Params {
public:
    explicit Params(const nrt_params *p) : m_p(p) {}

    const nrt_param_value &get(std::string_view name) const
    {
        // Step by the host's struct size, not ours: a host of another minor
        // may lay its nrt_param_value out larger or smaller than this header.
        const size_t stride = m_p && m_p->count > 0 ? m_p->values[0].struct_size : 0;
        for (int i = 0; m_p && i < m_p->count; ++i) {
            const auto &v = *reinterpret_cast<const nrt_param_value *>(
                reinterpret_cast<const char *>(m_p->values) + static_cast<size_t>(i) * stride);
            if (name == v.name)
                return v;
        }
        fail(NRT_ERR_INVALID_ARGUMENT, "missing parameter '" + std::string(name) + "'");
    }
    double number(std::string_view name) const { return get(name).number; }
    int64_t integer(std::string_view name) const { return static_cast<int64_t>(get(name).number); }
    bool boolean(std::string_view name) const { return get(name).number != 0.0; }
    std::string string(std::string_view name) const
    {
        const char *s = get(name).string;
        return s ? s : "";
    }
    // A string that must be one of choices ("a|b|c"). The host checks values
    // against the schema, but not callers that fill nrt_params by hand (tests,
    // other hosts), nor an entry that accepts only part of a shared schema.
    std::string choice(std::string_view name, std::string_view choices) const
    {
        const std::string value = string(name);
        for (size_t start = 0; start <= choices.size();) {
            size_t end = choices.find('|', start);
            if (end == std::string_view::npos)
                end = choices.size();
            if (choices.substr(start, end - start) == value)
                return value;
            start = end + 1;
        }
        fail(NRT_ERR_INVALID_ARGUMENT, std::string(name) + " '" + value + "' is not one of " +
                                           std::string(choices));
    }
    std::span<const double> list(std::string_view name) const
    {
        const nrt_param_value &v = get(name);
        return {v.list, static_cast<size_t>(v.list_length)};
    }
    // An NRT_PARAM_INT_PAIR: {h, w}, or the word given instead.
    IntPair pair(std::string_view name) const
    {
        const nrt_param_value &v = get(name);
        IntPair out;
        if (v.list && v.list_length == 2) {
            out.h = static_cast<int64_t>(v.list[0]);
            out.w = static_cast<int64_t>(v.list[1]);
        } else if (v.string) {
            out.word = v.string;
        } else {
            fail(NRT_ERR_INVALID_ARGUMENT, "parameter '" + std::string(name) + "' is neither a pair nor a word");
        }
        return out;
    }

private:
    const nrt_params *m_p;
};

// ---------------------------------------------------------------- state

class Writer {
public:
    explicit Writer(const nrt_writer *w) : m_w(w) {}
    void write(const void *bytes, size_t count) const
    {
        if (m_w->write(m_w->context, bytes, count) != NRT_OK)
            fail(NRT_ERR_INTERNAL, "could not write state");
    }
    template <class T> void value(const T &v) const { write(&v, sizeof v); }
    void floats(const float *p, size_t n) const { write(p, n * sizeof(float)); }

private:
    const nrt_writer *m_w;
};

class Reader {
public:
    Reader(const void *bytes, size_t count)
        : m_p(static_cast<const unsigned char *>(bytes)), m_left(count) {}
    void read(void *dst, size_t count)
    {
        if (count > m_left)
            fail(NRT_ERR_STATE, "state is truncated: needed " + std::to_string(count) +
                                    " more bytes, " + std::to_string(m_left) + " left");
        std::memcpy(dst, m_p, count);
        m_p += count;
        m_left -= count;
    }
    template <class T> T value()
    {
        T v;
        read(&v, sizeof v);
        return v;
    }
    void floats(float *p, size_t n) { read(p, n * sizeof(float)); }
    void expect_end() const
    {
        if (m_left != 0)
            fail(NRT_ERR_STATE, "state has " + std::to_string(m_left) + " unexpected extra bytes");
    }

private:
    const unsigned char *m_p;
    size_t m_left;
};

// ---------------------------------------------------------------- base classes

class Layer {
public:
    virtual ~Layer() = default;
    // Validate src_dims, fill dst_dims, build per-shape resources.
    virtual void prepare(std::span<const int64_t> src_dims, std::vector<int64_t> &dst_dims) = 0;
    virtual void forward(const nrt_tensor &src, nrt_tensor &dst, bool training) = 0;
    // diff_src is null when no input gradient is wanted. Add to parameter gradients.
    virtual void backward(const nrt_tensor &src, const nrt_tensor &dst, const nrt_tensor &diff_dst,
                          nrt_tensor *diff_src) = 0;
    // deferred: see nrt_layer_vtable.zero_grad; clearing at once is always right.
    virtual void zero_grad(bool deferred)
    {
        (void)deferred;
        for (const nrt_param_ref &p : m_params)
            std::memset(p.grad.data, 0, static_cast<size_t>(numel(p.grad)) * sizeof(float));
    }
    virtual bool has_extra_state() const { return false; }
    virtual void save_state(const Writer &) const {}
    virtual void load_state(Reader &) {}
    // The layer as ONNX nodes for `opset` (see nrt_layer_vtable.onnx_form);
    // empty: it has none.
    virtual std::string onnx_form(int opset) const
    {
        (void)opset;
        return {};
    }

    const std::vector<nrt_param_ref> &params() const { return m_params; }

protected:
    // value and grad must stay valid for the layer's life.
    void add_param(const char *name, float *value, float *grad, std::span<const int64_t> dims)
    {
        nrt_param_ref p{};
        p.struct_size = sizeof(nrt_param_ref);
        p.name = name;
        p.value = make_tensor(value, dims);
        p.grad = make_tensor(grad, dims);
        m_params.push_back(p);
    }

private:
    std::vector<nrt_param_ref> m_params;
};

class Loss {
public:
    // What the target holds, declared to the host (nrt_target_kind): by
    // default the prediction's shape. A loss over class indices hides it:
    //   static constexpr nrt_target_kind target_kind = NRT_TARGET_CLASS_INDEX;
    static constexpr nrt_target_kind target_kind = NRT_TARGET_SAME_SHAPE;

    virtual ~Loss() = default;
    virtual double forward(const nrt_tensor &pred, const nrt_tensor &target) = 0;
    virtual void backward(const nrt_tensor &pred, const nrt_tensor &target, nrt_tensor &diff_pred) = 0;
};

class Optimizer {
public:
    virtual ~Optimizer() = default;
    virtual void attach(std::span<const nrt_param_ref> params) = 0;
    virtual void step() = 0;
    virtual void save_state(const Writer &) const = 0;
    virtual void load_state(Reader &) = 0;
    // ABI 1.3's shard slot (plugin_abi.h): step and keep state for the
    // elements [begin, end) of the attached parameters alone. By default an
    // optimizer cannot, and the host steps it whole on every rank.
    virtual void shard(uint64_t /*begin*/, uint64_t /*end*/)
    {
        fail(NRT_ERR_UNSUPPORTED, "this optimizer cannot step a part of its parameters");
    }

    double option(std::string_view name) const { return *find_option(name); }
    // Override to validate; the default accepts any finite value.
    virtual void set_option(std::string_view name, double value)
    {
        if (!std::isfinite(value))
            fail(NRT_ERR_INVALID_ARGUMENT, "option '" + std::string(name) + "' must be finite");
        *find_option(name) = value;
    }

protected:
    // Expose a numeric hyper-parameter (its schema name) for get/set by the host.
    void add_option(const char *name, double *storage) { m_options.push_back({name, storage}); }

private:
    struct Option {
        const char *name;
        double *storage;
    };
    double *find_option(std::string_view name) const
    {
        for (const Option &o : m_options)
            if (name == o.name)
                return o.storage;
        fail(NRT_ERR_INVALID_ARGUMENT, "no numeric option '" + std::string(name) + "'");
    }
    std::vector<Option> m_options;
};

// A thin view of what the host offers; plugin_dnnl.hpp turns it into dnnl objects.
class Host {
public:
    explicit Host(const nrt_host *h) : m_h(h) {}
    const nrt_host *raw() const { return m_h; }
    bool cancel_requested() const
    {
        return m_h && m_h->cancel_requested && m_h->cancel_requested(m_h->context);
    }
    void warn(const std::string &message) const
    {
        if (m_h && m_h->log)
            m_h->log(m_h->context, 1, message.c_str());
    }
    // Whether threads that compute should flush denormals (plugin_denormals.hpp);
    // nullopt from a host before ABI 1.1, which does not say.
    std::optional<bool> flush_denormals() const
    {
        constexpr size_t needed = offsetof(nrt_host, flush_denormals) + sizeof(nrt_host::flush_denormals);
        if (!m_h || m_h->struct_size < needed || !m_h->flush_denormals)
            return std::nullopt;
        return m_h->flush_denormals(m_h->context) != 0;
    }

private:
    const nrt_host *m_h;
};

// The one call a thread that a plugin creates makes first: it then computes
// in the floating-point mode of the host's threads (FTZ/DAZ unless the user
// opted out; see plugin_denormals.hpp). A new thread otherwise has whatever
// mode its creator had. In a thread that lives long (a pool), call it at the
// start of every job: a user's change then reaches it too, and when nothing
// changed it costs one call and a register read. OpenMP regions need nothing:
// the host sets the mode in the team of every thread that calls a plugin.
// Under a host before ABI 1.1 it leaves the thread as it is.
inline void init_compute_thread(const Host &host) noexcept
{
    if (const std::optional<bool> flush = host.flush_denormals())
        set_flush_denormals(*flush);
}

namespace detail {

// The onnx_form slot of both layer tables: the text goes out through the
// host's writer; an empty form is "none" (NRT_ERR_UNSUPPORTED).
template <class T> nrt_status onnx_form_slot(void *p, int32_t opset, const nrt_writer *out, char *e, size_t es)
{
    std::string text;
    if (nrt_status st = guarded(e, es, [&] { text = static_cast<T *>(p)->onnx_form(opset); }))
        return st;
    if (text.empty())
        return NRT_ERR_UNSUPPORTED;
    return guarded(e, es, [&] { Writer(out).write(text.data(), text.size()); });
}

} // namespace detail

} // namespace neurite::sdk

// ABI 1.1 layers (sdk::GraphLayer), built on everything above.
#include "neurite/plugin_graph.hpp"

namespace neurite::sdk {

// ---------------------------------------------------------------- trampolines

namespace detail {

inline void to_c_dims(const std::vector<int64_t> &dims, int32_t *ndims, int64_t *out)
{
    if (dims.empty() || dims.size() > NRT_MAX_DIMS)
        fail(NRT_ERR_SHAPE, "output rank " + std::to_string(dims.size()) + " is not in 1.." +
                                std::to_string(NRT_MAX_DIMS));
    *ndims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i)
        out[i] = dims[i];
}

template <class T> struct LayerTable {
    static T *self(void *p) { return static_cast<T *>(p); }
    static constexpr nrt_layer_vtable table = {
        sizeof(nrt_layer_vtable),
        [](void *p, int32_t n, const int64_t *src, int32_t *dn, int64_t *dst, char *e, size_t es) {
            return guarded(e, es, [&] {
                std::vector<int64_t> out;
                self(p)->prepare(std::span<const int64_t>(src, static_cast<size_t>(n)), out);
                to_c_dims(out, dn, dst);
            });
        },
        [](void *p, const nrt_tensor *src, nrt_tensor *dst, int32_t training, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->forward(*src, *dst, training != 0); });
        },
        [](void *p, const nrt_tensor *src, const nrt_tensor *dst, const nrt_tensor *diff_dst,
           nrt_tensor *diff_src, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->backward(*src, *dst, *diff_dst, diff_src); });
        },
        [](void *p) { return static_cast<int32_t>(self(p)->params().size()); },
        [](void *p, int32_t i, nrt_param_ref *out) -> nrt_status {
            const auto &ps = self(p)->params();
            if (i < 0 || static_cast<size_t>(i) >= ps.size() || !out)
                return NRT_ERR_INVALID_ARGUMENT;
            copy_param_ref(ps[static_cast<size_t>(i)], out);
            return NRT_OK;
        },
        [](void *p, int32_t deferred) { self(p)->zero_grad(deferred != 0); },
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
        nullptr, // prepare2: an ABI 1.0 layer
        nullptr, // forward2
        nullptr, // backward2
        nullptr, // bind_params
        onnx_form_slot<T>,
    };
};

template <class T> struct LossTable {
    static T *self(void *p) { return static_cast<T *>(p); }
    static constexpr nrt_loss_vtable table = {
        sizeof(nrt_loss_vtable),
        [](void *p, const nrt_tensor *pred, const nrt_tensor *target, double *loss, char *e,
           size_t es) { return guarded(e, es, [&] { *loss = self(p)->forward(*pred, *target); }); },
        [](void *p, const nrt_tensor *pred, const nrt_tensor *target, nrt_tensor *diff, char *e,
           size_t es) { return guarded(e, es, [&] { self(p)->backward(*pred, *target, *diff); }); },
        T::target_kind,
    };
};

template <class T> struct OptimizerTable {
    static T *self(void *p) { return static_cast<T *>(p); }
    static constexpr nrt_optimizer_vtable table = {
        sizeof(nrt_optimizer_vtable),
        [](void *p, int32_t n, const nrt_param_ref *params, char *e, size_t es) {
            return guarded(e, es, [&] {
                self(p)->attach(std::span<const nrt_param_ref>(params, static_cast<size_t>(n)));
            });
        },
        [](void *p, char *e, size_t es) { return guarded(e, es, [&] { self(p)->step(); }); },
        [](void *p, const char *name, double *value) {
            return guarded(nullptr, 0, [&] { *value = self(p)->option(name); });
        },
        [](void *p, const char *name, double value, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->set_option(name, value); });
        },
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
        [](void *p, uint64_t begin, uint64_t end, char *e, size_t es) {
            return guarded(e, es, [&] { self(p)->shard(begin, end); });
        },
    };
};

template <class T> const void *vtable_for()
{
    if constexpr (std::is_base_of_v<GraphLayer, T>)
        return &GraphLayerTable<T>::table;
    else if constexpr (std::is_base_of_v<Layer, T>)
        return &LayerTable<T>::table;
    else if constexpr (std::is_base_of_v<Loss, T>)
        return &LossTable<T>::table;
    else
        return &OptimizerTable<T>::table;
}

} // namespace detail

// T is constructed as T(Host, Params, seed) and may throw Error for bad values
// that the schema cannot express (e.g. one parameter relative to another).
template <class T>
nrt_entry make_entry_n(nrt_kind kind, const char *name, const char *version, const char *summary,
                       const nrt_param_spec *params, int32_t param_count)
{
    static_assert(std::is_base_of_v<Layer, T> || std::is_base_of_v<GraphLayer, T> ||
                  std::is_base_of_v<Loss, T> || std::is_base_of_v<Optimizer, T>);
    nrt_entry e{};
    e.struct_size = sizeof(nrt_entry);
    e.kind = kind;
    e.name = name;
    e.version = version;
    e.summary = summary;
    e.param_count = param_count;
    e.params = params;
    e.create = [](const nrt_host *h, const nrt_params *p, uint64_t seed, void **out, char *err,
                  size_t err_size) {
        return guarded(err, err_size, [&] { *out = new T(Host(h), Params(p), seed); });
    };
    e.destroy = [](void *instance) { delete static_cast<T *>(instance); };
    e.vtable = detail::vtable_for<T>();
    return e;
}

// An entry with a parameter schema (a static array of *_param() specs).
template <class T, size_t N>
nrt_entry make_entry(nrt_kind kind, const char *name, const char *version, const char *summary,
                     const nrt_param_spec (&params)[N])
{
    return make_entry_n<T>(kind, name, version, summary, params, static_cast<int32_t>(N));
}

// An entry without parameters.
template <class T>
nrt_entry make_entry(nrt_kind kind, const char *name, const char *version, const char *summary)
{
    return make_entry_n<T>(kind, name, version, summary, nullptr, 0);
}

} // namespace neurite::sdk

namespace neurite::sdk::detail {

// The oldest host minor that can drive this entry: 1 once it fills a slot
// that ABI 1.1 added, which a 1.0 host would never call.
inline uint16_t minor_needed(const nrt_entry *e)
{
    // The host refuses malformed entries itself, with a message: read nothing here.
    if (!e || e->struct_size < sizeof(nrt_entry) || !e->vtable)
        return 0;
    if (e->kind == NRT_KIND_LAYER || e->kind == NRT_KIND_ACTIVATION) {
        const auto *vt = static_cast<const nrt_layer_vtable *>(e->vtable);
        if (vt->struct_size >= sizeof(nrt_layer_vtable) && (vt->prepare2 || vt->bind_params))
            return 1;
    }
    return 0;
}

inline bool host_can_drive(const nrt_host_info *host, const nrt_entry *const *entries, size_t n)
{
    if (!host || host->abi_major != NRT_ABI_MAJOR)
        return true; // the host refuses another major itself, with a message
    for (size_t i = 0; i < n; ++i)
        if (entries[i] && minor_needed(entries[i]) > host->abi_minor)
            return false;
    return true;
}

} // namespace neurite::sdk::detail

// Exports the library: NEURITE_PLUGIN("my-layers", "1.0.0", &kFoo, &kBar).
// It declines a host of an older minor that could not drive its entries.
#define NEURITE_PLUGIN(library_name, library_version, ...)                                  \
    extern "C" NRT_EXPORT const nrt_plugin_info *neurite_plugin_entry(const nrt_host_info *host) \
    {                                                                                        \
        static const nrt_entry *const entries[] = {__VA_ARGS__};                            \
        static const nrt_plugin_info info = {                                               \
            sizeof(nrt_plugin_info),                                                         \
            NRT_ABI_MAJOR,                                                                   \
            NRT_ABI_MINOR,                                                                   \
            library_name,                                                                    \
            library_version,                                                                 \
            static_cast<int32_t>(sizeof entries / sizeof entries[0]),                       \
            entries};                                                                        \
        if (!neurite::sdk::detail::host_can_drive(host, entries, sizeof entries / sizeof entries[0])) \
            return nullptr;                                                                  \
        return &info;                                                                        \
    }

// Last, because the checks are written with everything above.
#include "neurite/plugin_checks.hpp"

#endif // NEURITE_PLUGIN_HPP
