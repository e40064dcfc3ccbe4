#pragma once

#include <neurite/plugin_abi.h>

#include <cstdint>
#include <vector>

namespace neurite::detail {

// An nrt_writer that appends what a plugin writes to `out`.
inline nrt_writer byte_sink(std::vector<uint8_t> &out)
{
    nrt_writer w{};
    w.struct_size = sizeof w;
    w.context = &out;
    w.write = [](void *ctx, const void *bytes, size_t n) -> nrt_status {
        auto *v = static_cast<std::vector<uint8_t> *>(ctx);
        const auto *b = static_cast<const uint8_t *>(bytes);
        v->insert(v->end(), b, b + n);
        return NRT_OK;
    };
    return w;
}

} // namespace neurite::detail
