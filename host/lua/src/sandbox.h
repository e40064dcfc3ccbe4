#pragma once

// The sandbox's file rules and os.exit's way out (sandbox.cpp).
#include "neurite/core/data/read_check.h"
#include "neurite/lua/runtime.h"

#include <string>

struct lua_State;

namespace neurite::lua {

// In sandbox mode: the rule every read follows (below the working
// directory, the installed datasets or an --allow-read folder, judged by
// the path's real target); outside it: none (an empty function).
data::ReadCheck sandbox_read_check(const RuntimeOptions &options);
// Why the sandbox refuses to write `path` ("what: in sandbox mode files are
// written only below the working directory; ..."), judged by where its
// symbolic links lead; empty when it may be written.
std::string sandbox_write_refusal(const std::string &path, const char *what);
// Raises "fn: '<path>' cannot be read: ..." when the session's rule refuses it.
void check_read_path(lua_State *L, const std::string &path, const char *fn);

// Makes pcall, xpcall, coroutine.resume and coroutine.close pass an
// os.exit on instead of returning it as an error.
void install_exit_guards(lua_State *L);
// Raises os.exit's sentinel (the session must already be exiting).
[[noreturn]] void raise_exit(lua_State *L);

} // namespace neurite::lua
