#pragma once

// Errors raised inside Neurite's own Lua (train.fit, the callbacks, ...) are
// the user's to fix: a shape that does not fit, a path that cannot be
// written. Their message names the innermost line of the user's code, not
// train.lua's, and the stack says which frames are the library's, so the
// window can collapse them and open those files read-only.
#include "neurite/lua/runtime.h"

#include <string>
#include <vector>

struct lua_State;

namespace neurite::lua::detail {

// The chunk names ("@/path/train.lua", "=[built-in neurite/train.lua]") of
// Neurite's own Lua files, shared by every runtime of the process.
void register_library_chunk(const std::string &chunk_name);
bool is_library_chunk(const std::string &chunk_name);

// The stack of L from `level` on (inside a message handler: 1 is the
// function that raised), innermost first.
std::vector<TraceFrame> stack_frames(lua_State *L, int level);

// `message` as raised; when the innermost Lua frame is a library file's and
// the message names that file's line (or no line), the same message at the
// innermost user frame's line: "script.lua:12: <what went wrong>".
std::string at_user_line(const std::string &message, const std::vector<TraceFrame> &frames);

} // namespace neurite::lua::detail
