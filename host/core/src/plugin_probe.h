#pragma once

// Quarantine for plugin libraries that crash while loading: before the host
// dlopens a library, a child process loads it first. A library whose static
// constructors or entry point crash (or exit) ends only that child, and is
// refused with the reason. Verdicts are cached by file, size and mtime
// (under $XDG_CACHE_HOME/neurite or ~/.cache/neurite), so a warm start costs
// one stat per library and no process.
#include <string>
#include <vector>

namespace neurite::detail {

struct ProbeVerdict {
    bool safe = true;
    std::string reason; // why it was refused, when !safe
};

// One verdict per file, in the same order. Libraries are probed in one child
// process, and in a new one after each crash.
std::vector<ProbeVerdict> probe_libraries(const std::vector<std::string> &files);

// Where the verdicts are cached (empty when neither XDG_CACHE_HOME nor HOME
// is set: then nothing is cached).
std::string probe_cache_path();

} // namespace neurite::detail
