#include "neurite/core/version.h"

namespace neurite {

// NEURITE_VERSION is set from the CMake project's version for this library.
const char *version() { return NEURITE_VERSION; }

} // namespace neurite
