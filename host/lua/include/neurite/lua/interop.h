#pragma once

// For programs that embed the runtime (the window): the C++ object behind a
// Lua value, or nullptr when the value is not one. A pointer is valid while
// the Lua value is alive, and only on the thread that runs the state.
#include "neurite/core/data/dataset.h"

struct lua_State;

namespace neurite {
class Model;
class Tensor;
} // namespace neurite

namespace neurite::lua {

// nn.Sequential and nn.Model alike.
Model *to_model(lua_State *L, int idx);
const data::Dataset *to_dataset(lua_State *L, int idx);
// Contiguous: for a strided view (t:t(), t:narrow(2, ...)), a copy of its
// values at the time of the call.
const Tensor *to_tensor(lua_State *L, int idx);

// Whether a data source holds class labels, and how they are laid out: the
// rule of Lua's data.target_kind. A dataset says it (ds.kind, ds.encoding);
// a table {x =, y =} may say it with kind = "classes" | "values"; otherwise
// y's values decide (whole numbers from 1 per sample, 0/1 labels, one-hot
// rows). A tensor is taken as the targets alone. Anything else, or a table
// without y, is TargetKind::None; a table's invalid `kind` raises.
struct TargetDescription {
    data::TargetKind kind;
    data::TargetEncoding encoding; // for TargetKind::Classes
};
TargetDescription describe_targets(lua_State *L, int idx);

} // namespace neurite::lua
