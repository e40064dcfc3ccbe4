#include "neurite/core/module.h"

#include "neurite/core/arena.h"
#include "neurite/core/compute_context.h"
#include "neurite/core/plugin_call.h"
#include "neurite/core/plugin_error.h"
#include "neurite/core/error.h"

#include "byte_sink.h"

#include <algorithm>
#include <cstring>

namespace neurite {

namespace {

// Where ABI 1.1's slots begin: a plugin whose vtable is shorter is 1.0.
constexpr uint32_t kLayerVtable11Size =
    offsetof(nrt_layer_vtable, bind_params) + sizeof(nrt_layer_vtable::bind_params);
constexpr uint32_t kLayerVtable12Size =
    offsetof(nrt_layer_vtable, onnx_form) + sizeof(nrt_layer_vtable::onnx_form);
constexpr uint32_t kParamRefFlagsEnd = offsetof(nrt_param_ref, flags) + sizeof(int32_t);

// How many outputs a layer may declare; the host's dst capacity.
constexpr int32_t kMaxOutputs = 16;

Shape shape_of(const nrt_tensor &t)
{
    return Shape(std::span<const int64_t>(t.dims, static_cast<size_t>(std::clamp(t.ndims, 0, NRT_MAX_DIMS))));
}

} // namespace

Module::Module(const Entry &entry, void *self, ParamList config)
    : m_entry(&entry),
      m_vt(static_cast<const nrt_layer_vtable *>(entry.vtable)),
      m_self(self),
      m_config(std::move(config))
{
    PluginCall call(entry, "param");
    set_label(entry.name);
    const bool has_11_slots = entry.abi_minor >= 1 && m_vt->struct_size >= kLayerVtable11Size;
    m_v11 = has_11_slots && m_vt->prepare2 && m_vt->forward2 && m_vt->backward2;
    m_host_owned = has_11_slots && m_vt->bind_params;
    if (!m_v11 && (!m_vt->prepare || !m_vt->forward || !m_vt->backward)) {
        m_entry->destroy(m_self);
        throw Error(entry.name + " (" + entry.origin +
                    "): the layer has neither the ABI 1.0 prepare/forward/backward nor the "
                    "ABI 1.1 prepare2/forward2/backward2");
    }
    try {
        read_declarations();
    } catch (...) {
        m_entry->destroy(m_self);
        throw;
    }
}

Module::~Module()
{
    PluginCall call(*m_entry, "destroy");
    if (m_arena)
        m_arena->detach_module();
    m_entry->destroy(m_self);
}

void Module::fail(const char *call, nrt_status status, const char *message) const
{
    throw Error(label() + ": " + call_failure(call, status, message)); // the whole message, past the buffer
}

// ABI 1.0: the plugin's own memory. ABI 1.1 with bind_params: declarations
// (no memory yet); they may appear only after the first prepare.
void Module::read_declarations()
{
    const int32_t n = m_vt->param_count ? m_vt->param_count(m_self) : 0;
    if (n < 0)
        throw Error(label() + ": the plugin reports " + std::to_string(n) + " parameters");
    if (static_cast<size_t>(n) == m_slots.size())
        return;
    if (m_host_owned && m_initialised)
        throw Error(label() + ": the plugin declared new parameters after they were bound");
    std::vector<Slot> slots;
    for (int32_t i = 0; i < n; ++i) {
        nrt_param_ref ref{};
        ref.struct_size = sizeof ref;
        const std::string which = label() + ": parameter " + std::to_string(i + 1);
        const nrt_status st = m_vt->param ? m_vt->param(m_self, i, &ref) : NRT_ERR_UNSUPPORTED;
        if (st != NRT_OK)
            throw Error(which + " of " + std::to_string(n) + " could not be read from the plugin (" +
                        status_name(st) + "; " + m_entry->origin + ")");
        if (ref.value.ndims < 0 || ref.value.ndims > NRT_MAX_DIMS)
            throw Error(which + " has rank " + std::to_string(ref.value.ndims));
        Slot slot;
        slot.name = ref.name ? ref.name : "param" + std::to_string(i + 1);
        slot.shape = shape_of(ref.value);
        slot.buffer = ref.struct_size >= kParamRefFlagsEnd && (ref.flags & NRT_PARAM_FLAG_BUFFER);
        if (!m_host_owned) {
            if (!ref.value.data || (!slot.buffer && !ref.grad.data))
                throw Error(which + " (" + slot.name + ") has no memory (" + m_entry->origin + ")");
            slot.value = Tensor::view(static_cast<float *>(ref.value.data), slot.shape);
            if (!slot.buffer)
                slot.grad = Tensor::view(static_cast<float *>(ref.grad.data), slot.shape);
        }
        slots.push_back(std::move(slot));
    }
    m_slots = std::move(slots);
}

void Module::ensure_bound()
{
    if (!m_host_owned || m_slots.empty())
        return;
    if (m_arena && m_initialised)
        return;
    Module *self = this;
    ParameterArena::adopt(std::span<Module *const>(&self, 1));
}

void Module::bind(const std::shared_ptr<ParameterArena> &arena, std::span<float *const> values,
                  std::span<float *const> grads, std::span<uint16_t *const> lows)
{
    std::vector<nrt_param_ref> refs(m_slots.size());
    for (size_t i = 0; i < m_slots.size(); ++i) {
        Slot &s = m_slots[i];
        const size_t n = static_cast<size_t>(s.shape.numel());
        // Bound again in place (ParameterArena::set_bf16): nothing to copy.
        if (s.value.defined() && n && values[i] != s.value.data())
            std::memcpy(values[i], s.value.data(), n * sizeof(float));
        if (s.grad.defined() && grads[i] && n && grads[i] != s.grad.data())
            std::memcpy(grads[i], s.grad.data(), n * sizeof(float));
        nrt_param_ref &r = refs[i];
        r.struct_size = sizeof r;
        r.name = s.name.c_str();
        r.value = Tensor::view(values[i], s.shape).desc();
        r.grad = grads[i] ? Tensor::view(grads[i], s.shape).desc() : nrt_tensor{};
        r.flags = s.buffer ? NRT_PARAM_FLAG_BUFFER : 0;
        if (i < lows.size() && lows[i]) {
            r.value_bf16 = Tensor::view(values[i], s.shape).desc();
            r.value_bf16.dtype = NRT_DTYPE_BF16;
            r.value_bf16.data = lows[i];
        }
    }
    PluginCall call(*m_entry, "bind_params");
    m_err[0] = '\0';
    if (nrt_status st = m_vt->bind_params(m_self, static_cast<int32_t>(refs.size()), refs.data(),
                                          m_initialised ? 0 : 1, m_err, sizeof m_err))
        fail("binding its parameters", st, m_err);
    for (size_t i = 0; i < m_slots.size(); ++i) {
        m_slots[i].value = Tensor::view(values[i], m_slots[i].shape);
        m_slots[i].grad = grads[i] ? Tensor::view(grads[i], m_slots[i].shape) : Tensor();
    }
    if (m_arena != arena) {
        if (m_arena)
            m_arena->detach_module();
        arena->attach_module();
        m_arena = arena;
    }
    m_initialised = true;
}

size_t Module::prepare(std::span<Desc> src, std::vector<Desc> &dst)
{
    if (!m_dst.empty() && std::equal(src.begin(), src.end(), m_src_offered.begin(), m_src_offered.end())) {
        std::copy(m_src_read.begin(), m_src_read.end(), src.begin());
        dst = m_dst;
        return m_workspace;
    }
    m_dst.clear();
    const std::vector<Desc> offered(src.begin(), src.end());
    PluginCall call(*m_entry, "prepare", src.empty() || src[0].shape.empty() ? -1 : src[0].shape[0]);
    const size_t workspace = m_v11 ? prepare_v11(src, dst) : prepare_v10(src, dst);
    m_src_offered = offered;
    m_src_read.assign(src.begin(), src.end());
    m_dst = dst;
    m_workspace = workspace;
    bump_prepare_epoch();
    if (m_host_owned) {
        read_declarations(); // shapes that depended on the input appear now
        ensure_bound();
    }
    m_call_elements = parameter_count();
    for (const std::vector<Desc> *list : {&m_src_read, &m_dst})
        for (const Desc &d : *list)
            m_call_elements += d.shape.numel();
    return workspace;
}

Shape Module::prepare(const Shape &src)
{
    Desc d(src);
    std::vector<Desc> dst;
    prepare(std::span<Desc>(&d, 1), dst);
    if (dst.size() != 1 || !d.plain_f32() || !dst[0].plain_f32())
        throw Error(label() + ": used as a single-input, single-output plain f32 layer, but it "
                              "has " + std::to_string(dst.size()) + " outputs or other formats");
    return dst[0].shape;
}

size_t Module::prepare_v10(std::span<Desc> src, std::vector<Desc> &dst)
{
    if (src.size() != 1)
        throw Error(label() + ": takes one input, got " + std::to_string(src.size()));
    src[0].dtype = DType::F32;
    src[0].format = NRT_FORMAT_PLAIN;
    const Shape &in = src[0].shape;
    int32_t dst_ndims = 0;
    int64_t dst_dims[NRT_MAX_DIMS] = {};
    m_err[0] = '\0';
    if (nrt_status st = m_vt->prepare(m_self, in.size(), in.data(), &dst_ndims, dst_dims, m_err, sizeof m_err))
        // "does not fit" says what a shape error is; other kinds are named.
        throw Error(label() + ": input " + in.to_string() + " does not fit" +
                    (st == NRT_ERR_SHAPE ? std::string() : " (" + status_name(st) + ")") + ": " +
                    (m_err[0] ? full_plugin_message(m_err) : std::string("the plugin gave no message")));
    if (dst_ndims < 1 || dst_ndims > NRT_MAX_DIMS)
        throw Error(label() + ": the plugin reported an output rank of " + std::to_string(dst_ndims));
    dst.assign(1, Desc(Shape(std::span<const int64_t>(dst_dims, static_cast<size_t>(dst_ndims)))));
    return 0;
}

size_t Module::prepare_v11(std::span<Desc> src, std::vector<Desc> &dst)
{
    std::vector<nrt_desc> c_src(src.size());
    for (size_t i = 0; i < src.size(); ++i)
        c_src[i] = src[i].to_c();
    nrt_desc c_dst[kMaxOutputs] = {};
    int32_t dst_count = kMaxOutputs;
    uint64_t workspace = 0;
    m_err[0] = '\0';
    if (nrt_status st = m_vt->prepare2(m_self, static_cast<int32_t>(c_src.size()), c_src.data(), &dst_count,
                                       c_dst, &workspace, m_err, sizeof m_err)) {
        std::string inputs;
        for (size_t i = 0; i < src.size(); ++i)
            inputs += (i ? " and " : "") + src[i].shape.to_string();
        throw Error(label() + ": input" + (src.size() == 1 ? " " : "s ") + inputs +
                    (src.size() == 1 ? " does" : " do") + " not fit" +
                    (st == NRT_ERR_SHAPE ? std::string() : " (" + status_name(st) + ")") + ": " +
                    (m_err[0] ? full_plugin_message(m_err) : std::string("the plugin gave no message")));
    }
    if (dst_count < 1 || dst_count > kMaxOutputs)
        throw Error(label() + ": the plugin declared " + std::to_string(dst_count) + " outputs");
    for (size_t i = 0; i < src.size(); ++i) {
        const Desc read = Desc::from_c(c_src[i], label() + ": the format asked for input " + std::to_string(i + 1));
        if (!(read.shape == src[i].shape))
            throw Error(label() + ": prepare changed the dims of input " + std::to_string(i + 1));
        src[i] = read;
    }
    dst.clear();
    for (int32_t j = 0; j < dst_count; ++j)
        dst.push_back(Desc::from_c(c_dst[j], label() + ": output " + std::to_string(j + 1)));
    return static_cast<size_t>(workspace);
}

namespace {

int64_t batch_of(const nrt_layer_call &call)
{
    return call.src_count > 0 && call.src[0].ndims > 0 ? call.src[0].dims[0] : -1;
}

} // namespace

bool Module::runs_serial() const
{
    return m_entry->native != nullptr && m_call_elements < ComputeContext::kSerialElements;
}

void Module::forward(const nrt_layer_call &call)
{
    PluginCall in_progress(*m_entry, "forward", batch_of(call));
    ComputeContext::prepare_team();
    const ComputeContext::SerialScope serial(runs_serial());
    m_err[0] = '\0';
    nrt_status st;
    if (m_v11)
        st = m_vt->forward2(m_self, &call, m_err, sizeof m_err);
    else
        st = m_vt->forward(m_self, call.src, call.dst, call.training, m_err, sizeof m_err);
    if (st != NRT_OK)
        fail("forward", st, m_err);
}

void Module::backward(const nrt_layer_call &call)
{
    PluginCall in_progress(*m_entry, "backward", batch_of(call));
    ComputeContext::prepare_team();
    const ComputeContext::SerialScope serial(runs_serial());
    m_err[0] = '\0';
    nrt_status st;
    if (m_v11) {
        nrt_layer_call c = call;
        c.accumulate = m_zero_pending ? 0 : 1;
        if (m_zero_pending && !m_host_owned) {
            // The plugin's own memory (a Lua layer's): cleared here, so that a
            // layer that only knows how to add need not read `accumulate`.
            for (Slot &s : m_slots)
                if (s.grad.defined())
                    s.grad.fill(0.0f);
            c.accumulate = 1;
        }
        st = m_vt->backward2(m_self, &c, m_err, sizeof m_err);
    } else {
        nrt_tensor *diff_src = call.diff_src && call.diff_src[0].data ? call.diff_src : nullptr;
        st = m_vt->backward(m_self, call.src, call.dst, call.diff_dst, diff_src, m_err, sizeof m_err);
    }
    m_zero_pending = false; // the plugin has now written its gradients
    if (st != NRT_OK)
        fail("backward", st, m_err);
    m_backward_done = true;
}

namespace {

nrt_layer_call plain_call(nrt_tensor *src, nrt_tensor *dst, Tensor &workspace, size_t bytes, bool training)
{
    nrt_layer_call c{};
    c.struct_size = sizeof c;
    c.src_count = 1;
    c.dst_count = 1;
    c.src = src;
    c.dst = dst;
    c.training = training ? 1 : 0;
    if (bytes) {
        const auto floats = static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
        if (!workspace.defined() || workspace.numel() < floats)
            workspace = Tensor(Shape{floats});
        c.workspace = workspace.data();
        c.workspace_bytes = bytes;
    }
    return c;
}

} // namespace

void Module::forward_plain(const Tensor &src, Tensor &dst, bool training)
{
    if (m_dst.size() != 1 || m_src_read.size() != 1 || !m_src_read[0].plain_f32() || !m_dst[0].plain_f32() ||
        !(m_src_read[0].shape == src.shape()) || !(m_dst[0].shape == dst.shape()))
        throw Error(label() + ": forward on " + src.shape().to_string() + " -> " + dst.shape().to_string() +
                    " needs a prepare for one plain f32 input of that shape first");
    nrt_tensor s = src.desc(), d = dst.desc();
    const nrt_layer_call c = plain_call(&s, &d, m_plain_workspace, m_workspace, training);
    forward(c);
}

void Module::backward_plain(const Tensor &src, const Tensor &dst, const Tensor &diff_dst, Tensor *diff_src)
{
    if (m_dst.size() != 1 || !(m_src_read[0].shape == src.shape()) || !(m_dst[0].shape == dst.shape()) ||
        !(diff_dst.shape() == dst.shape()) || (diff_src && !(diff_src->shape() == src.shape())))
        throw Error(label() + ": backward on shapes that do not match the last prepare");
    nrt_tensor s = src.desc(), d = dst.desc(), dd = diff_dst.desc();
    nrt_tensor ds = diff_src ? diff_src->desc() : nrt_tensor{};
    nrt_layer_call c = plain_call(&s, &d, m_plain_workspace, m_workspace, training());
    c.diff_dst = &dd;
    c.diff_src = &ds;
    backward(c);
}

std::vector<Parameter> Module::parameters()
{
    ensure_bound();
    sync_grads(); // whoever asks may read the gradients
    std::vector<Parameter> out;
    auto self = std::static_pointer_cast<Module>(shared_from_this());
    for (const Slot &s : m_slots)
        out.push_back({s.name, s.value, s.grad, s.buffer, self, m_host_owned ? m_arena : nullptr});
    return out;
}

int64_t Module::parameter_count() const
{
    int64_t n = 0;
    for (const Slot &s : m_slots)
        if (!s.buffer)
            n += s.shape.numel();
    return n;
}

void Module::zero_grad(bool deferred)
{
    if (m_v11 || !m_vt->zero_grad) {
        // The host's own memory: the next backward writes instead of adding.
        if (deferred && m_v11) {
            m_zero_pending = true;
            return;
        }
        for (Slot &s : m_slots)
            if (s.grad.defined())
                s.grad.fill(0.0f);
        m_zero_pending = false;
        return;
    }
    // zero_grad returns no status in ABI 1.0, so the host checks what it
    // can: an immediate clear must leave every gradient at 0. The first
    // clear after a backward is made immediate for that check, once, so a
    // zero_grad that clears nothing stops the run at its second step
    // instead of silently summing gradients over the whole run.
    if (deferred && m_backward_done && !m_clear_checked)
        deferred = false;
    {
        PluginCall call(*m_entry, "zero_grad");
        m_vt->zero_grad(m_self, deferred ? 1 : 0);
    }
    m_zero_pending = deferred;
    if (!deferred) {
        check_grads_cleared();
        m_clear_checked = m_clear_checked || m_backward_done;
    }
}

void Module::check_grads_cleared() const
{
    for (const Slot &s : m_slots) {
        if (!s.grad.defined())
            continue;
        const float *g = s.grad.data();
        const int64_t n = s.grad.numel();
        for (int64_t i = 0; i < n; ++i)
            if (g[i] != 0.0f)
                throw Error(label() + ": zero_grad left the gradient of '" + s.name + "' " +
                            s.shape.to_string() + " at " + param_value_text(double(g[i])) + " in element " +
                            std::to_string(i + 1) + " (1-based); the plugin does not clear its gradients (" +
                            m_entry->origin + ")");
    }
}

void Module::sync_grads()
{
    if (m_zero_pending)
        zero_grad(false);
}

std::vector<uint8_t> Module::save_extra_state() const
{
    std::vector<uint8_t> bytes;
    if (!m_vt->save_state)
        return bytes;
    nrt_writer w = detail::byte_sink(bytes);
    PluginCall call(*m_entry, "save_state");
    m_err[0] = '\0';
    if (nrt_status st = m_vt->save_state(m_self, &w, m_err, sizeof m_err))
        fail("save_state", st, m_err);
    return bytes;
}

std::optional<std::string> Module::onnx_form(int opset) const
{
    if (m_entry->abi_minor < 2 || m_vt->struct_size < kLayerVtable12Size || !m_vt->onnx_form)
        return std::nullopt;
    std::vector<uint8_t> bytes;
    nrt_writer w = detail::byte_sink(bytes);
    PluginCall call(*m_entry, "onnx_form");
    m_err[0] = '\0';
    const nrt_status st = m_vt->onnx_form(m_self, opset, &w, m_err, sizeof m_err);
    if (st == NRT_ERR_UNSUPPORTED)
        return std::nullopt;
    if (st != NRT_OK)
        fail("onnx_form", st, m_err);
    return std::string(bytes.begin(), bytes.end());
}

void Module::load_extra_state(const std::vector<uint8_t> &bytes)
{
    if (!m_vt->load_state) {
        if (!bytes.empty())
            throw Error(label() + ": the checkpoint has " + std::to_string(bytes.size()) +
                        " bytes of extra state but the plugin cannot load any");
        return;
    }
    PluginCall call(*m_entry, "load_state");
    m_err[0] = '\0';
    if (nrt_status st = m_vt->load_state(m_self, bytes.data(), bytes.size(), m_err, sizeof m_err))
        fail("load_state", st, m_err);
}

} // namespace neurite
