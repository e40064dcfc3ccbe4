#include "neurite/lua/interop.h"

#include "binding.h"
#include "dataset_box.h"

namespace neurite::lua {

Sequential *to_sequential(lua_State *L, int idx)
{
    auto *box = static_cast<SequentialBox *>(luaL_testudata(L, idx, kSequentialMeta));
    return box ? &box->model : nullptr;
}

const data::Dataset *to_dataset(lua_State *L, int idx)
{
    auto *box = static_cast<DatasetBox *>(luaL_testudata(L, idx, kDatasetMeta));
    return box && !box->freed ? &box->dataset : nullptr;
}

Tensor to_tensor(lua_State *L, int idx)
{
    auto *box = static_cast<TensorBox *>(luaL_testudata(L, idx, kTensorMeta));
    if (!box || box->freed)
        return Tensor();
    try {
        return box->value.contiguous();
    } catch (const std::exception &) { // out of memory for the copy of a strided view
        return Tensor();
    }
}

} // namespace neurite::lua
