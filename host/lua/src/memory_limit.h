#pragma once

// --max-memory for Lua: every allocation of the session's Lua state is
// charged to the process's memory budget (neurite/core/memory_budget.h).
//
// Passing the limit does not fail the allocation at once: Lua's own
// "not enough memory" error carries no line. The allocation goes through,
// and the next run of the hook (a few thousand instructions later, in the
// running coroutine) raises "script.lua:12: out of memory: ..." instead.
// Only an allocation that would pass the limit by far more (a giant
// string.rep) is refused outright; run_loaded then names its size and the
// line Lua last ran.
#include "session_state.h"

#include "neurite/core/shape.h"

#include <cstddef>
#include <string>

struct lua_State;

namespace neurite::lua {

// The lua_Alloc of a session; ud is its SessionState.
void *session_alloc(void *ud, void *ptr, size_t old_size, size_t new_size);

// After a full collection, when the script is still over the limit:
// "<where>out of memory: the script passed the memory limit of ...".
void raise_memory_limit(lua_State *L, int level);

// Before a tensor of `shape` is made inside Lua: raises "tensor.zeros: a
// tensor of shape [1000000, 1000000] needs 3.6 TiB, more than ..." when it
// cannot fit under the limit, or in the machine's memory.
void check_tensor_allocation(lua_State *L, const Shape &shape);

// The message for a run that ended with Lua's "not enough memory".
std::string refused_allocation_message(const detail::SessionState &s);

} // namespace neurite::lua
