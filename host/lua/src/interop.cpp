#include "neurite/lua/interop.h"

#include "binding.h"
#include "dataset_box.h"

namespace neurite::lua {

Model *to_model(lua_State *L, int idx)
{
    auto *box = static_cast<ModelBox *>(luaL_testudata(L, idx, kModelMeta));
    return box ? box->model.get() : nullptr;
}

const data::Dataset *to_dataset(lua_State *L, int idx)
{
    auto *box = static_cast<DatasetBox *>(luaL_testudata(L, idx, kDatasetMeta));
    return box && !box->freed ? &box->dataset : nullptr;
}

const Tensor *to_tensor(lua_State *L, int idx)
{
    auto *box = static_cast<TensorBox *>(luaL_testudata(L, idx, kTensorMeta));
    if (!box || box->freed)
        return nullptr;
    if (box->value.is_contiguous())
        return &box->value;
    // A strided view: callers read rows of memory, so they get a contiguous
    // copy of its values now, which the box keeps while the Lua value lives.
    try {
        box->snapshot = std::make_unique<Tensor>(box->value.clone());
    } catch (const std::exception &) { // no memory for the copy
        return nullptr;
    }
    return box->snapshot.get();
}

} // namespace neurite::lua
