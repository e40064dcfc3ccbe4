// What m:forward, m:backward, layer:forward, layer:backward and
// loss:backward return: views of the buffers the module reuses, not copies
// (Torch7's contract; see "Views of a module's buffers" in docs/lua-api.md).
// A step of a training loop then allocates no tensor: the same userdata
// come back each call, cached in a table in a user value of the module's
// userdata, as long as they still show the same memory. Also test_userdata,
// the quick type test of the bindings' hot paths.
#include "binding.h"

namespace neurite::lua {

namespace {

// The cache table in user value `slot` of the userdata at owner, made on first use.
void push_cache(lua_State *L, int owner, int slot)
{
    if (lua_getiuservalue(L, owner, slot) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 4, 0);
    lua_pushvalue(L, -1);
    if (!lua_setiuservalue(L, owner, slot))
        raise(L, "internal: a module's userdata has no user value for its views");
}

// The cached view at cache[key] (cache at `cache`) when it still shows t;
// else a new one, cached. Leaves it on the stack.
void push_cached_view(lua_State *L, int owner, int cache, lua_Integer key, const Tensor &t)
{
    lua_rawgeti(L, cache, key);
    if (TensorBox *box = test_tensor(L, -1)) {
        const Tensor &v = box->value;
        // A script cannot make a box show other memory (reshape and the views
        // make new userdata), but it may have called __gc by hand.
        if (!box->owner && v.data_ptr() == t.data_ptr() && v.shape() == t.shape() && v.is_contiguous())
            return;
    }
    lua_pop(L, 1);
    push_tensor(L, t, owner); // the module stays alive while a view of it is held
    lua_pushvalue(L, -1);
    lua_rawseti(L, cache, key);
}

} // namespace

void push_buffer_views(lua_State *L, int owner, int slot, BufferKind kind, std::span<const Tensor> tensors)
{
    owner = lua_absindex(L, owner);
    push_cache(L, owner, slot);
    const int cache = lua_gettop(L);
    // Keys: forward outputs 1, 2, ...; input gradients from kInputGradKeys on.
    constexpr lua_Integer kInputGradKeys = 1 << 16;
    const lua_Integer first = kind == BufferKind::output ? 1 : kInputGradKeys;
    if (tensors.size() == 1) {
        push_cached_view(L, owner, cache, first, tensors[0]);
    } else {
        lua_createtable(L, static_cast<int>(tensors.size()), 0);
        for (size_t i = 0; i < tensors.size(); ++i) {
            push_cached_view(L, owner, cache, first + static_cast<lua_Integer>(i), tensors[i]);
            lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
        }
    }
    lua_remove(L, cache);
}

bool aliases_output(lua_State *L, int owner, int slot, const Tensor &input)
{
    if (lua_getiuservalue(L, owner, slot) != LUA_TTABLE) {
        lua_pop(L, 1);
        return false;
    }
    bool shared = false;
    for (lua_Integer key = 1; !shared; ++key) {
        const bool more = lua_rawgeti(L, -1, key) != LUA_TNIL;
        if (const TensorBox *box = more ? test_tensor(L, -1) : nullptr)
            shared = box->value.shares_memory_with(input);
        lua_pop(L, 1);
        if (!more)
            break;
    }
    lua_pop(L, 1);
    return shared;
}

void *test_userdata(lua_State *L, int idx, const char *meta)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx))
        return nullptr;
    const void *known = nullptr;
    for (auto &m : detail::session(L).metatables) {
        if (m.name == meta) {
            known = m.table;
            break;
        }
        if (!m.name) { // first use of this type in the session
            luaL_getmetatable(L, meta);
            known = lua_topointer(L, -1); // the registry keeps it for the state's life
            lua_pop(L, 1);
            if (known)
                m = {meta, known};
            break;
        }
    }
    const bool same = known ? lua_topointer(L, -1) == known : (luaL_getmetatable(L, meta), lua_rawequal(L, -1, -2));
    lua_pop(L, known ? 1 : 2);
    return same ? p : nullptr;
}

} // namespace neurite::lua
