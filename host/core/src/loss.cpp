#include "neurite/core/loss.h"

#include "neurite/core/compute_context.h"
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

void LossFunction::fail(const char *call, nrt_status status, const Tensor &pred, const Tensor &target) const
{
    throw Error(m_entry->name + ": " +
                call_failure(std::string(call) + " on prediction " + pred.shape().to_string() +
                                 " and target " + target.shape().to_string(),
                             status, m_err));
}

bool LossFunction::takes_class_indices(const Tensor &pred, const Tensor &target) const
{
    switch (m_entry->loss_target) {
    case LossTarget::ClassIndex: return true;
    case LossTarget::SameShape: return false;
    case LossTarget::Undeclared: break;
    }
    if (pred.dim() != 2 || target.numel() != pred.size(0))
        return false;
    return target.dim() == 1 || (target.dim() == 2 && target.size(1) == 1 && pred.size(1) > 1);
}

nrt_tensor LossFunction::target_desc(const Tensor &pred, const Tensor &target) const
{
    if (m_entry->loss_target != LossTarget::SameShape || target.shape() == pred.shape())
        return target.desc();
    const bool column = pred.dim() == 2 && pred.size(1) == 1 && target.dim() == 1 &&
                        target.size(0) == pred.size(0);
    if (!column)
        throw Error(m_entry->name + ": target " + target.shape().to_string() +
                    " does not fit the prediction " + pred.shape().to_string() +
                    ": this loss takes a target shaped as its prediction ([N] is also accepted "
                    "for a prediction [N, 1])");
    return target.reshape(pred.shape()).desc();
}

double LossFunction::forward(const Tensor &pred, const Tensor &target)
{
    nrt_tensor p = pred.desc();
    nrt_tensor t = target_desc(pred, target);
    double loss = 0;
    ComputeContext::prepare_team();
    m_err[0] = '\0';
    PluginCall call(*m_entry, "forward", pred.dim() ? pred.size(0) : -1);
    if (nrt_status st = m_vt->forward(m_self, &p, &t, &loss, m_err, sizeof m_err))
        fail("forward", st, pred, target);
    return loss;
}

void LossFunction::backward(const Tensor &pred, const Tensor &target, Tensor &diff_pred)
{
    if (!(diff_pred.shape() == pred.shape()))
        throw Error(m_entry->name + ": the gradient buffer " + diff_pred.shape().to_string() +
                    " does not match the prediction " + pred.shape().to_string());
    nrt_tensor p = pred.desc();
    nrt_tensor t = target_desc(pred, target);
    nrt_tensor d = diff_pred.desc();
    ComputeContext::prepare_team();
    m_err[0] = '\0';
    PluginCall call(*m_entry, "backward", pred.dim() ? pred.size(0) : -1);
    if (nrt_status st = m_vt->backward(m_self, &p, &t, &d, m_err, sizeof m_err))
        fail("backward", st, pred, target);
}

} // namespace neurite
