#pragma once

// For programs that embed the runtime (the window): the C++ object behind a
// Lua value, or nullptr when the value is not one. A pointer is valid while
// the Lua value is alive, and only on the thread that runs the state.
struct lua_State;

namespace neurite {
class Model;
class Tensor;
namespace data {
class Dataset;
}
} // namespace neurite

namespace neurite::lua {

// nn.Sequential and nn.Model alike.
Model *to_model(lua_State *L, int idx);
const data::Dataset *to_dataset(lua_State *L, int idx);
const Tensor *to_tensor(lua_State *L, int idx);

} // namespace neurite::lua
