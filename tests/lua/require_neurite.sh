#!/bin/sh
# require_neurite.sh LUA MODULE_DIR: `require "neurite"` from a plain lua5.4
# (require_neurite.lua), then how its symbols bound: Neurite's library must
# call the C++ build of Lua it was made for (so a Lua error unwinds its C++
# frames), and the module the interpreter's own C build.
lua=$1; dir=$2
here=$(cd "$(dirname "$0")" && pwd)
path="package.cpath = '$dir/?.so;' .. package.cpath"
fail() { echo "require_neurite.sh: $*"; exit 1; }
"$lua" -e "$path" "$here/require_neurite.lua" || fail "the script failed"
LD_DEBUG=bindings "$lua" -e "$path; require 'neurite'" 2>require_neurite.bindings || fail "require failed"
grep "libneurite-lua.so .*normal symbol \`lua_error'" require_neurite.bindings >require_neurite.lua_error
grep -q "liblua5.4-c++" require_neurite.lua_error || fail "libneurite-lua's lua_error is not the C++ Lua's: $(cat require_neurite.lua_error)"
grep "neurite.so .*normal symbol \`lua_error'" require_neurite.bindings | grep -q "liblua5.4-c++" &&
    fail "the module calls the C++ Lua instead of the interpreter's"
echo "require_neurite.sh: libneurite-lua binds to the C++ Lua, the module to the interpreter's"
