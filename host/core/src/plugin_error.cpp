#include "neurite/core/plugin_error.h"

namespace neurite {

namespace {
thread_local std::string t_full_message;
}

void keep_full_plugin_message(std::string message) { t_full_message = std::move(message); }

std::string full_plugin_message(const char *cut)
{
    std::string kept = std::move(t_full_message);
    t_full_message.clear();
    const std::string shown = cut ? cut : "";
    if (!kept.empty() && kept.compare(0, shown.size(), shown) == 0)
        return kept;
    return shown;
}

} // namespace neurite
