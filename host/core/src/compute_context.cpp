#include "neurite/core/compute_context.h"

#include <cstdio>

#include <omp.h>

namespace neurite {

ComputeContext::ComputeContext()
    : m_engine(dnnl::engine::kind::cpu, 0), m_stream(m_engine)
{
    m_host.struct_size = sizeof(nrt_host);
    m_host.abi_major = NRT_ABI_MAJOR;
    m_host.abi_minor = NRT_ABI_MINOR;
    m_host.engine = reinterpret_cast<struct dnnl_engine *>(m_engine.get());
    m_host.stream = reinterpret_cast<struct dnnl_stream *>(m_stream.get());
    m_host.num_threads = num_threads();
    m_host.context = this;
    m_host.log = [](void *self, int32_t level, const char *message) {
        auto *ctx = static_cast<ComputeContext *>(self);
        if (ctx->m_log)
            ctx->m_log(level, message ? message : "");
        else
            std::fprintf(stderr, "%s: %s\n", level ? "warning" : "info", message ? message : "");
    };
    m_host.cancel_requested = [](void *self) -> int32_t {
        return static_cast<ComputeContext *>(self)->cancel_requested() ? 1 : 0;
    };
}

void ComputeContext::set_log_handler(std::function<void(int, const std::string &)> handler)
{
    m_log = std::move(handler);
}

void ComputeContext::set_num_threads(int n)
{
    if (n > 0)
        omp_set_num_threads(n);
}

int ComputeContext::num_threads() { return omp_get_max_threads(); }

} // namespace neurite
