#include "neurite/core/loss.h"

#include "neurite/core/error.h"
#include "neurite/core/plugin_call.h"
#include "neurite/core/plugin_error.h"

namespace neurite {

LossFunction::LossFunction(const Entry &entry, void *self, ParamList config)
    : m_entry(&entry),
      m_vt(static_cast<const nrt_loss_vtable *>(entry.vtable)),
      m_self(self),
      m_config(std::move(config))
{
}

LossFunction::~LossFunction()
{
    PluginCall call(*m_entry, "destroy");
    m_entry->destroy(m_self);
}

double LossFunction::forward(const Tensor &pred, const Tensor &target)
{
    nrt_tensor p = pred.desc();
    nrt_tensor t = target.desc();
    double loss = 0;
    m_err[0] = '\0';
    PluginCall call(*m_entry, "forward", pred.dim() ? pred.size(0) : -1);
    if (m_vt->forward(m_self, &p, &t, &loss, m_err, sizeof m_err) != NRT_OK)
        throw Error(m_entry->name + ": prediction " + pred.shape().to_string() + ", target " +
                    target.shape().to_string() + ": " + full_plugin_message(m_err));
    return loss;
}

void LossFunction::backward(const Tensor &pred, const Tensor &target, Tensor &diff_pred)
{
    if (!(diff_pred.shape() == pred.shape()))
        throw Error(m_entry->name + ": the gradient buffer " + diff_pred.shape().to_string() +
                    " does not match the prediction " + pred.shape().to_string());
    nrt_tensor p = pred.desc();
    nrt_tensor t = target.desc();
    nrt_tensor d = diff_pred.desc();
    m_err[0] = '\0';
    PluginCall call(*m_entry, "backward", pred.dim() ? pred.size(0) : -1);
    if (m_vt->backward(m_self, &p, &t, &d, m_err, sizeof m_err) != NRT_OK)
        throw Error(m_entry->name + ": prediction " + pred.shape().to_string() + ", target " +
                    target.shape().to_string() + ": " + full_plugin_message(m_err));
}

} // namespace neurite
