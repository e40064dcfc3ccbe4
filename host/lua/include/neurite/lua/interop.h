#pragma once

// For programs that embed the runtime (the window): the C++ object behind a
// Lua value, or nullptr when the value is not one. A pointer is valid while
// the Lua value is alive, and only on the thread that runs the state.
#include "neurite/core/tensor.h"

struct lua_State;

namespace neurite {
class Sequential;
namespace data {
class Dataset;
}
} // namespace neurite

namespace neurite::lua {

Sequential *to_sequential(lua_State *L, int idx);
const data::Dataset *to_dataset(lua_State *L, int idx);
// The tensor at idx, contiguous (a strided view is copied), sharing memory
// with the Lua value while it lives; an undefined Tensor when idx holds none.
Tensor to_tensor(lua_State *L, int idx);

} // namespace neurite::lua
