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
    return box ? &box->dataset : nullptr;
}

const Tensor *to_tensor(lua_State *L, int idx)
{
    auto *box = static_cast<TensorBox *>(luaL_testudata(L, idx, kTensorMeta));
    return box ? &box->value : nullptr;
}

} // namespace neurite::lua
