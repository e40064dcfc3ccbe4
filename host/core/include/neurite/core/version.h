#pragma once

namespace neurite {

// The release, "0.1.0": CMake's project(Neurite VERSION ...) is its one source.
const char *version();

} // namespace neurite
