#include "error_location.h"

#include <lua.hpp>

#include <mutex>
#include <set>

namespace neurite::lua::detail {

namespace {

std::mutex g_library_mutex;
std::set<std::string> g_library_chunks; // as given to luaL_loadbuffer

// What the traceback line says after "in": the function's name as Lua knows it.
std::string function_text(const lua_Debug &ar)
{
    if (ar.namewhat && *ar.namewhat)
        return std::string(ar.namewhat) + " '" + (ar.name ? ar.name : "?") + "'";
    if (ar.what && *ar.what == 'm')
        return "main chunk";
    if (ar.what && *ar.what == 'C')
        return "C function";
    return "function <" + std::string(ar.short_src) + ":" + std::to_string(ar.linedefined) + ">";
}

bool user_frame(const TraceFrame &f) { return !f.library && f.line > 0; }

// The location a message starts with ("file.lua:12: ..."), as the text
// before the first ":<digits>: " of its first line; empty when it has none.
std::string location_prefix(const std::string &message, size_t &rest)
{
    const size_t end_of_line = message.find('\n');
    for (size_t colon = message.find(':'); colon != std::string::npos && colon < end_of_line;
         colon = message.find(':', colon + 1)) {
        size_t digits = colon + 1;
        while (digits < message.size() && message[digits] >= '0' && message[digits] <= '9')
            ++digits;
        if (digits > colon + 1 && message.compare(digits, 2, ": ") == 0) {
            rest = digits + 2;
            return message.substr(0, colon);
        }
    }
    return {};
}

// Whether a short source (possibly "...end/of/path.lua") names a library file.
bool library_short_source(const std::string &shown)
{
    std::lock_guard lock(g_library_mutex);
    for (const std::string &chunk : g_library_chunks) {
        const std::string full = chunk.substr(1);
        if (shown == full)
            return true;
        if (shown.size() > 3 && shown.compare(0, 3, "...") == 0 && full.size() >= shown.size() - 3 &&
            full.compare(full.size() - (shown.size() - 3), std::string::npos, shown, 3) == 0)
            return true;
    }
    return false;
}

} // namespace

void register_library_chunk(const std::string &chunk_name)
{
    std::lock_guard lock(g_library_mutex);
    g_library_chunks.insert(chunk_name);
}

bool is_library_chunk(const std::string &chunk_name)
{
    std::lock_guard lock(g_library_mutex);
    return g_library_chunks.count(chunk_name) > 0;
}

std::vector<TraceFrame> stack_frames(lua_State *L, int level)
{
    std::vector<TraceFrame> frames;
    lua_Debug ar;
    for (; lua_getstack(L, level, &ar); ++level) {
        if (!lua_getinfo(L, "Sln", &ar))
            break;
        TraceFrame f;
        const char *source = ar.source ? ar.source : "?";
        f.source = (*source == '@' || *source == '=') ? source + 1 : "[string]";
        f.line = *ar.what == 'C' ? 0 : ar.currentline;
        f.function = function_text(ar);
        f.library = is_library_chunk(source);
        frames.push_back(std::move(f));
    }
    return frames;
}

std::string at_user_line(const std::string &message, const std::vector<TraceFrame> &frames)
{
    const TraceFrame *raised = nullptr, *user = nullptr;
    for (const TraceFrame &f : frames) {
        if (!raised && f.line > 0)
            raised = &f;
        if (!user && user_frame(f))
            user = &f;
    }
    // Raised by the user's own code (or outside any script): as it is.
    if (!raised || !raised->library || !user)
        return message;
    size_t rest = 0;
    const std::string where = location_prefix(message, rest);
    if (!where.empty() && !library_short_source(where))
        return message; // already at a line of the user's (train.fit's own checks say where)
    const std::string text = where.empty() ? message : message.substr(rest);
    // The full path (not Lua's shortened one): the window opens it from the message.
    return user->source + ":" + std::to_string(user->line) + ": " + text;
}

} // namespace neurite::lua::detail
