#pragma once

// The plugin ABI hands errors back in a buffer of fixed size (1 KiB from
// the core's wrappers), which cuts a long message, and its root cause often
// comes last (a Lua traceback, nested errors). The host's own implementation
// of the ABI for Lua-defined entries leaves the whole message here as well;
// the wrappers take it instead of the cut copy. Per thread, as calls are.
#include <string>

namespace neurite {

// Keeps `message` for the wrapper of the call now failing.
void keep_full_plugin_message(std::string message);

// The message of a failed call whose buffer holds `cut`: the kept one when
// `cut` is its beginning, else `cut`. Clears what was kept either way.
std::string full_plugin_message(const char *cut);

} // namespace neurite
