#include "neurite/core/module.h"

#include "neurite/core/error.h"

#include "byte_sink.h"

namespace neurite {

Module::Module(const Entry &entry, void *self, ParamList config)
    : m_entry(&entry),
      m_vt(static_cast<const nrt_layer_vtable *>(entry.vtable)),
      m_self(self),
      m_config(std::move(config)),
      m_label(entry.name)
{
    const int32_t n = m_vt->param_count ? m_vt->param_count(m_self) : 0;
    if (n < 0) {
        m_entry->destroy(m_self);
        throw Error(entry.name + ": the plugin reported " + std::to_string(n) + " parameters (" +
                    entry.origin + ")");
    }
    for (int32_t i = 0; i < n; ++i) {
        nrt_param_ref ref{};
        ref.struct_size = sizeof ref;
        const nrt_status st = m_vt->param ? m_vt->param(m_self, i, &ref) : NRT_ERR_UNSUPPORTED;
        if (st != NRT_OK || !ref.value.data || !ref.grad.data) {
            m_entry->destroy(m_self);
            throw Error(entry.name + ": parameter " + std::to_string(i + 1) + " of " + std::to_string(n) +
                        " could not be read from the plugin (" +
                        (st != NRT_OK ? status_name(st) : std::string("no value or gradient memory")) +
                        "; " + entry.origin + ")");
        }
        Shape shape(std::span<const int64_t>(ref.value.dims, static_cast<size_t>(ref.value.ndims)));
        m_params.push_back({ref.name ? ref.name : "param" + std::to_string(i + 1),
                            Tensor::view(static_cast<float *>(ref.value.data), shape),
                            Tensor::view(static_cast<float *>(ref.grad.data), shape), this});
    }
}

Module::~Module() { m_entry->destroy(m_self); }

void Module::fail(const char *call, nrt_status status, const char *message) const
{
    throw Error(m_label + ": " + call_failure(call, status, message));
}

const Shape &Module::prepare(const Shape &src)
{
    if (src == m_src_shape && !m_dst_shape.empty())
        return m_dst_shape;
    int32_t dst_ndims = 0;
    int64_t dst_dims[NRT_MAX_DIMS] = {};
    m_err[0] = '\0';
    nrt_status st = m_vt->prepare(m_self, src.size(), src.data(), &dst_ndims, dst_dims, m_err,
                                  sizeof m_err);
    if (st != NRT_OK) {
        m_src_shape = Shape();
        m_dst_shape = Shape();
        // "does not fit" says what a shape error is; other kinds are named.
        throw Error(m_label + ": input " + src.to_string() + " does not fit" +
                    (st == NRT_ERR_SHAPE ? std::string() : " (" + status_name(st) + ")") + ": " +
                    (m_err[0] ? m_err : "the plugin gave no message"));
    }
    if (dst_ndims < 1 || dst_ndims > NRT_MAX_DIMS)
        throw Error(m_label + ": the plugin reported an output rank of " + std::to_string(dst_ndims));
    m_src_shape = src;
    m_dst_shape = Shape(std::span<const int64_t>(dst_dims, static_cast<size_t>(dst_ndims)));
    return m_dst_shape;
}

void Module::forward(const Tensor &src, Tensor &dst, bool training)
{
    if (!(src.shape() == m_src_shape) || !(dst.shape() == m_dst_shape))
        throw Error(m_label + ": forward on input " + src.shape().to_string() + " and output " +
                    dst.shape().to_string() + " but the layer was prepared for " +
                    m_src_shape.to_string() + " -> " + m_dst_shape.to_string());
    nrt_tensor s = src.desc();
    nrt_tensor d = dst.desc();
    m_err[0] = '\0';
    if (nrt_status st = m_vt->forward(m_self, &s, &d, training ? 1 : 0, m_err, sizeof m_err))
        fail("forward", st, m_err);
}

void Module::backward(const Tensor &src, const Tensor &dst, const Tensor &diff_dst,
                      Tensor *diff_src)
{
    if (!(diff_dst.shape() == dst.shape()))
        throw Error(m_label + ": the output gradient " + diff_dst.shape().to_string() +
                    " does not match the output " + dst.shape().to_string());
    if (diff_src && !(diff_src->shape() == src.shape()))
        throw Error(m_label + ": the input gradient buffer " + diff_src->shape().to_string() +
                    " does not match the input " + src.shape().to_string());
    nrt_tensor s = src.desc();
    nrt_tensor d = dst.desc();
    nrt_tensor dd = diff_dst.desc();
    nrt_tensor ds;
    if (diff_src)
        ds = diff_src->desc();
    m_err[0] = '\0';
    m_zero_pending = false; // the plugin has now written its gradients
    if (nrt_status st = m_vt->backward(m_self, &s, &d, &dd, diff_src ? &ds : nullptr, m_err,
                                       sizeof m_err))
        fail("backward", st, m_err);
    m_backward_done = true;
}

int64_t Module::parameter_count() const
{
    int64_t n = 0;
    for (const Parameter &p : m_params)
        n += p.value.numel();
    return n;
}

void Module::zero_grad(bool deferred)
{
    if (!m_vt->zero_grad) {
        for (Parameter &p : m_params)
            p.grad.fill(0.0f);
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
    m_vt->zero_grad(m_self, deferred ? 1 : 0);
    m_zero_pending = deferred;
    if (!deferred) {
        check_grads_cleared();
        m_clear_checked = m_clear_checked || m_backward_done;
    }
}

void Module::check_grads_cleared() const
{
    for (const Parameter &p : m_params) {
        const float *g = p.grad.data();
        const int64_t n = p.grad.numel();
        for (int64_t i = 0; i < n; ++i)
            if (g[i] != 0.0f)
                throw Error(m_label + ": zero_grad left the gradient of '" + p.name + "' " +
                            p.grad.shape().to_string() + " at " + param_value_text(double(g[i])) +
                            " in element " + std::to_string(i + 1) +
                            " (1-based); the plugin does not clear its gradients (" +
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
    m_err[0] = '\0';
    if (nrt_status st = m_vt->save_state(m_self, &w, m_err, sizeof m_err))
        fail("save_state", st, m_err);
    return bytes;
}

void Module::load_extra_state(const std::vector<uint8_t> &bytes)
{
    if (!m_vt->load_state) {
        if (!bytes.empty())
            throw Error(m_label + ": the checkpoint has " + std::to_string(bytes.size()) +
                        " bytes of extra state but the plugin cannot load any");
        return;
    }
    m_err[0] = '\0';
    if (nrt_status st = m_vt->load_state(m_self, bytes.data(), bytes.size(), m_err, sizeof m_err))
        fail("load_state", st, m_err);
}

} // namespace neurite
