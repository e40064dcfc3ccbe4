// libFuzzer target: a .nrt file through Checkpoint::parse, with the
// checksum patched to match so that the damage reaches the manifest and the
// data area; then every node's tensors are read back.
#include "neurite/core/checkpoint.h"
#include "neurite/core/error.h"

#include <zlib.h>

#include <cstring>
#include <vector>

namespace {

void touch(const neurite::CheckpointModel &m, int depth)
{
    for (const neurite::CheckpointNode &n : m.nodes) {
        if (n.model && depth < 64)
            touch(*n.model, depth + 1);
        for (const auto &p : n.parameters)
            (void)p.second.to_vector();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::vector<uint8_t> bytes(data, data + size);
    if (bytes.size() >= neurite::Checkpoint::kHeaderSize) {
        const uint64_t payload = bytes.size() - neurite::Checkpoint::kHeaderSize;
        std::memcpy(bytes.data() + 16, &payload, sizeof payload);
        const uint32_t crc = static_cast<uint32_t>(
            crc32_z(crc32_z(0, nullptr, 0), bytes.data() + neurite::Checkpoint::kHeaderSize, payload));
        std::memcpy(bytes.data() + 24, &crc, sizeof crc);
    }
    try {
        const neurite::Checkpoint c = neurite::Checkpoint::parse(bytes, "fuzz.nrt");
        touch(c.model, 0);
    } catch (const neurite::Error &) {
    }
    return 0;
}
