#pragma once

// Writing a file so that it survives a crash or a power cut whole: the
// bytes go to a temporary file beside it, which is flushed to disk (fsync),
// renamed over the old file, and the folder is flushed too, so the rename
// itself is on disk. At every moment the path holds the old file or the new
// one, never a part of either. Checkpoints are written this way.
#include <cstdint>
#include <span>
#include <string>

namespace neurite {

// Throws neurite::Error "<path>: cannot write: <reason>" and leaves no
// temporary file behind. A path that is a symbolic link writes its target
// (the link stays).
void durable_write(const std::string &path, std::span<const uint8_t> bytes);

} // namespace neurite
