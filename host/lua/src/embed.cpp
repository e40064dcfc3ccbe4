// Neurite's side of `require "neurite"` from another Lua interpreter
// (embed_abi.h says why there are two Lua states): a LuaRuntime of its own,
// and the values that cross. A value of this state that the interpreter
// holds stays here, in a table of handles, with a count of the proxies the
// interpreter made of it; a function of the interpreter becomes a closure
// here that calls back. Every entry point runs its Lua inside lua_pcall (this
// is the C++ build of Lua: errors are exceptions, destructors run) and
// returns a status; nothing escapes into the interpreter's C frames.
#include "embed_abi.h"

#include "neurite/core/registry.h"
#include "neurite/lua/runtime.h"

#include <lua.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct nx_state {
    std::unique_ptr<neurite::lua::LuaRuntime> runtime;
    lua_State *L = nullptr;
    nx_host_call call = nullptr;
    void *host = nullptr;
    int objects = LUA_NOREF; // registry: handle -> value
    int handles = LUA_NOREF; // registry: value -> handle
    std::unordered_map<uint64_t, int64_t> counts;
    uint64_t next_handle = 1;
    std::vector<uint64_t> host_releases; // interpreter references no closure here holds any more
};

namespace {

constexpr const char *kHostRefMeta = "neurite.embed.host_function";
constexpr int kMaxDepth = 200;

struct HostRef {
    nx_state *state;
    uint64_t ref;
};

// An nx_list that frees itself when an error unwinds the frame.
struct OwnedList {
    nx_list list{};
    OwnedList() { list.grow = nx_local_grow; }
    ~OwnedList() { nx_free(&list); }
};

void check_pushed(lua_State *L, const void *pushed)
{
    if (!pushed)
        luaL_error(L, "out of memory");
}

// The handle of the value at idx, one reference more.
uint64_t acquire(nx_state *S, lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->handles);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    uint64_t handle = static_cast<uint64_t>(lua_tointeger(L, -1));
    lua_pop(L, 1);
    if (handle == 0) {
        handle = S->next_handle++;
        lua_pushvalue(L, idx);
        lua_pushinteger(L, static_cast<lua_Integer>(handle));
        lua_rawset(L, -3);
        lua_rawgeti(L, LUA_REGISTRYINDEX, S->objects);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, static_cast<lua_Integer>(handle));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    ++S->counts[handle];
    return handle;
}

// `marks` (a stack index) holds the tables being written, to end cycles.
void write_value(nx_state *S, lua_State *L, int idx, nx_list *out, int depth, int marks);

// A plain table, copied; one seen already on the way down (a cycle) or met
// too deep goes by handle instead.
void write_table(nx_state *S, lua_State *L, int idx, nx_list *out, int depth, int marks)
{
    const size_t at = out->size;
    check_pushed(L, nx_push(out, NX_TABLE));
    size_t pairs = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        write_value(S, L, -2, out, depth + 1, marks);
        write_value(S, L, -1, out, depth + 1, marks);
        lua_pop(L, 1);
        ++pairs;
    }
    out->items[at].count = pairs;
}

void write_value(nx_state *S, lua_State *L, int idx, nx_list *out, int depth, int marks)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "nested tables");
    switch (lua_type(L, idx)) {
    case LUA_TNIL: check_pushed(L, nx_push(out, NX_NIL)); return;
    case LUA_TBOOLEAN: check_pushed(L, nx_push(out, lua_toboolean(L, idx) ? NX_TRUE : NX_FALSE)); return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            nx_item *item = nx_push(out, NX_INTEGER);
            check_pushed(L, item);
            item->integer = lua_tointeger(L, idx);
        } else {
            nx_item *item = nx_push(out, NX_NUMBER);
            check_pushed(L, item);
            item->number = lua_tonumber(L, idx);
        }
        return;
    case LUA_TSTRING: {
        size_t n = 0;
        const char *s = lua_tolstring(L, idx, &n);
        if (!nx_push_string(out, s, n))
            luaL_error(L, "out of memory");
        return;
    }
    case LUA_TFUNCTION: {
        // A closure over an interpreter function goes back as that function.
        if (lua_getupvalue(L, idx, 1)) {
            auto *host = static_cast<HostRef *>(luaL_testudata(L, -1, kHostRefMeta));
            lua_pop(L, 1);
            if (host) {
                nx_item *item = nx_push(out, NX_HOST);
                check_pushed(L, item);
                item->handle = host->ref;
                return;
            }
        }
        nx_item *item = nx_push(out, NX_FUNCTION);
        check_pushed(L, item);
        item->handle = acquire(S, L, idx);
        return;
    }
    case LUA_TTABLE:
        if (depth < kMaxDepth && !lua_getmetatable(L, idx)) {
            // Marks the table while its contents are written: a cycle ends in a handle.
            lua_pushvalue(L, idx);
            lua_rawget(L, marks);
            const bool seen = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (!seen) {
                lua_pushvalue(L, idx);
                lua_pushboolean(L, 1);
                lua_rawset(L, marks);
                write_table(S, L, idx, out, depth, marks);
                lua_pushvalue(L, idx);
                lua_pushnil(L);
                lua_rawset(L, marks);
                return;
            }
        } else if (depth < kMaxDepth) {
            lua_pop(L, 1); // the metatable: such a table goes by handle
        }
        break;
    default: break;
    }
    nx_item *item = nx_push(out, NX_OBJECT);
    check_pushed(L, item);
    item->handle = acquire(S, L, idx);
}

int call_host(lua_State *L);

int host_ref_gc(lua_State *L)
{
    auto *host = static_cast<HostRef *>(luaL_checkudata(L, 1, kHostRefMeta));
    if (host->state) {
        host->state->host_releases.push_back(host->ref);
        host->state = nullptr;
    }
    return 0;
}

// Pushes item `pos` of `in` (and what nests in it) as a value of this state.
void read_value(nx_state *S, lua_State *L, const nx_list *in, size_t &pos, int depth)
{
    luaL_checkstack(L, 6, "nested tables");
    if (pos >= in->size)
        luaL_error(L, "neurite: a value list ended early");
    const nx_item &item = in->items[pos++];
    switch (item.type) {
    case NX_NIL: lua_pushnil(L); return;
    case NX_FALSE: lua_pushboolean(L, 0); return;
    case NX_TRUE: lua_pushboolean(L, 1); return;
    case NX_INTEGER: lua_pushinteger(L, item.integer); return;
    case NX_NUMBER: lua_pushnumber(L, item.number); return;
    case NX_STRING: lua_pushlstring(L, in->bytes + item.offset, item.count); return;
    case NX_TABLE: {
        if (depth > kMaxDepth)
            luaL_error(L, "neurite: tables nested deeper than %d levels", kMaxDepth);
        lua_createtable(L, 0, static_cast<int>(std::min<size_t>(item.count, 1 << 20)));
        for (size_t k = 0; k < item.count; ++k) {
            read_value(S, L, in, pos, depth + 1);
            read_value(S, L, in, pos, depth + 1);
            if (lua_isnil(L, -2)) {
                lua_pop(L, 2);
                continue;
            }
            lua_rawset(L, -3);
        }
        return;
    }
    case NX_OBJECT:
    case NX_FUNCTION:
        lua_rawgeti(L, LUA_REGISTRYINDEX, S->objects);
        if (lua_rawgeti(L, -1, static_cast<lua_Integer>(item.handle)) == LUA_TNIL)
            luaL_error(L, "neurite: a value passed back was already released");
        lua_remove(L, -2);
        return;
    case NX_HOST: {
        auto *host = static_cast<HostRef *>(lua_newuserdatauv(L, sizeof(HostRef), 0));
        *host = {S, item.handle};
        luaL_setmetatable(L, kHostRefMeta);
        lua_pushlightuserdata(L, S);
        lua_pushcclosure(L, call_host, 2);
        return;
    }
    default: luaL_error(L, "neurite: a value of unknown kind %d", item.type);
    }
}

// The interpreter's function behind a closure made by read_value.
int call_host(lua_State *L)
{
    const auto *host = static_cast<const HostRef *>(lua_touserdata(L, lua_upvalueindex(1)));
    auto *S = static_cast<nx_state *>(lua_touserdata(L, lua_upvalueindex(2)));
    if (!S->call)
        return luaL_error(L, "neurite: the interpreter that gave this function has closed");
    OwnedList args, results;
    const int n = lua_gettop(L);
    lua_newtable(L);
    const int marks = lua_gettop(L);
    for (int i = 1; i <= n; ++i)
        write_value(S, L, i, &args.list, 0, marks);
    const int status = S->call(S->host, host->ref, &args.list, &results.list);
    lua_settop(L, 0);
    size_t pos = 0;
    while (pos < results.list.size)
        read_value(S, L, &results.list, pos, 0);
    if (status != 0)
        return lua_error(L); // the interpreter's message, as it gave it
    return lua_gettop(L);
}

struct OpCall {
    nx_state *S;
    int op;
    const nx_list *args;
    nx_list *results;
};

void run_op(lua_State *L, const OpCall &c)
{
    switch (c.op) {
    case NX_OP_INDEX: lua_gettable(L, 1); break;
    case NX_OP_NEWINDEX: lua_settable(L, 1); break;
    case NX_OP_CALL: lua_call(L, lua_gettop(L) - 1, LUA_MULTRET); break;
    case NX_OP_LEN: lua_len(L, 1); break;
    case NX_OP_TOSTRING: luaL_tolstring(L, 1, nullptr); break;
    case NX_OP_EQ: lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPEQ)); break;
    case NX_OP_LT: lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT)); break;
    case NX_OP_LE: lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLE)); break;
    case NX_OP_UNM: lua_arith(L, LUA_OPUNM); break;
    case NX_OP_CONCAT: lua_concat(L, 2); break;
    case NX_OP_NEXT:
        luaL_checktype(L, 1, LUA_TTABLE);
        if (!lua_next(L, 1)) {
            lua_pushnil(L);
            lua_pushnil(L);
        }
        lua_remove(L, 1); // key and value remain
        break;
    default:
        if (c.op < NX_OP_ADD || c.op > NX_OP_IDIV)
            luaL_error(L, "neurite: unknown operation %d", c.op);
        lua_arith(L, LUA_OPADD + (c.op - NX_OP_ADD));
    }
}

// lua_pcall'd as a closure whose upvalue 1 is a table for write_value's
// marks: the arguments in, the operation, every result out.
int protected_op(lua_State *L)
{
    const OpCall &c = *static_cast<const OpCall *>(lua_touserdata(L, 1));
    lua_settop(L, 0);
    size_t pos = 0;
    while (pos < c.args->size)
        read_value(c.S, L, c.args, pos, 0);
    run_op(L, c);
    if (c.op == NX_OP_NEWINDEX)
        return 0;
    // A call's results fill the stack, next leaves a key and a value, an
    // operator one result on top.
    const int first = c.op == NX_OP_CALL || c.op == NX_OP_NEXT ? 1 : lua_gettop(L);
    for (int i = first; i <= lua_gettop(L); ++i)
        write_value(c.S, L, i, c.results, 0, lua_upvalueindex(1));
    return 0;
}

int run_protected(nx_state *S, lua_CFunction fn, void *data, nx_list *results)
{
    lua_State *L = S->L;
    if (!lua_checkstack(L, 4)) {
        nx_clear(results);
        nx_push_string(results, "out of stack", 12);
        return 1;
    }
    lua_newtable(L); // the marks write_value keeps
    lua_pushcclosure(L, fn, 1);
    lua_pushlightuserdata(L, data);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return 0;
    size_t n = 0;
    const char *message = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : nullptr;
    std::string text = message ? std::string(message, n)
                               : std::string("neurite: an error object of type ") + luaL_typename(L, -1);
    lua_pop(L, 1);
    nx_clear(results);
    nx_push_string(results, text.data(), text.size());
    return 1;
}

// Plugin folders: those neurite-run searches, and the ones beside this
// library (lib/../plugins in a build tree, lib/neurite/plugins installed):
// the interpreter's own path says nothing about where Neurite is.
void load_plugins(neurite::Registry &registry)
{
    std::vector<std::string> folders = neurite::Registry::default_search_paths();
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&neurite_embed_api), &info) && info.dli_fname) {
        const std::filesystem::path lib = std::filesystem::path(info.dli_fname).parent_path();
        folders.push_back((lib / "../plugins").string());
        folders.push_back((lib / "neurite/plugins").string());
    }
    std::vector<std::string> seen;
    for (const std::string &folder : folders) {
        std::error_code ec;
        const std::string key = std::filesystem::weakly_canonical(folder, ec).string();
        if (std::find(seen.begin(), seen.end(), key) != seen.end())
            continue;
        seen.push_back(key);
        registry.load_directory(folder);
    }
}

nx_state *embed_open(nx_host_call call, void *host, char *error, size_t error_size)
{
    try {
        auto S = std::make_unique<nx_state>();
        neurite::lua::RuntimeOptions options;
        options.load_plugins = false;
        S->runtime = std::make_unique<neurite::lua::LuaRuntime>(options);
        load_plugins(S->runtime->registry());
        S->L = S->runtime->state();
        S->call = call;
        S->host = host;
        lua_State *L = S->L;
        luaL_newmetatable(L, kHostRefMeta);
        lua_pushcfunction(L, host_ref_gc);
        lua_setfield(L, -2, "__gc");
        lua_pop(L, 1);
        lua_newtable(L);
        S->objects = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_newtable(L);
        S->handles = luaL_ref(L, LUA_REGISTRYINDEX);
        return S.release();
    } catch (const std::exception &e) {
        std::snprintf(error, error_size, "%s", e.what());
    } catch (...) {
        std::snprintf(error, error_size, "neurite: the Lua runtime could not start");
    }
    return nullptr;
}

void embed_close(nx_state *S)
{
    // Host closures collected now would queue releases nobody takes.
    // The runtime goes first, while the queue its finalizers write to lives.
    S->call = nullptr;
    S->runtime.reset();
    delete S;
}

int modules_protected(lua_State *L)
{
    auto *S = static_cast<nx_state *>(lua_touserdata(L, 1));
    auto *out = static_cast<nx_list *>(lua_touserdata(L, 2));
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "neurite");
    lua_newtable(L);
    write_value(S, L, -2, out, 0, lua_gettop(L));
    return 0;
}

struct ModulesCall {
    nx_state *S;
    nx_list *out;
};

int modules_entry(lua_State *L)
{
    auto *c = static_cast<ModulesCall *>(lua_touserdata(L, 1));
    lua_settop(L, 0);
    lua_pushlightuserdata(L, c->S);
    lua_pushlightuserdata(L, c->out);
    return modules_protected(L);
}

int embed_modules(nx_state *S, nx_list *result)
{
    ModulesCall c{S, result};
    return run_protected(S, modules_entry, &c, result);
}

int embed_op(nx_state *S, int op, const nx_list *args, nx_list *results)
{
    OpCall c{S, op, args, results};
    return run_protected(S, protected_op, &c, results);
}

int release_protected(lua_State *L)
{
    auto *S = static_cast<nx_state *>(lua_touserdata(L, 1));
    const auto handle = static_cast<lua_Integer>(reinterpret_cast<uintptr_t>(lua_touserdata(L, 2)));
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->objects);
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->handles);
    lua_rawgeti(L, -2, handle);
    lua_pushnil(L);
    lua_rawset(L, -3); // handles[value] = nil
    lua_pushnil(L);
    lua_rawseti(L, -3, handle); // objects[handle] = nil
    return 0;
}

void embed_release(nx_state *S, uint64_t handle)
{
    auto it = S->counts.find(handle);
    if (it == S->counts.end() || --it->second > 0)
        return;
    S->counts.erase(it);
    lua_State *L = S->L;
    if (!lua_checkstack(L, 4))
        return;
    lua_pushcfunction(L, release_protected);
    lua_pushlightuserdata(L, S);
    lua_pushlightuserdata(L, reinterpret_cast<void *>(static_cast<uintptr_t>(handle)));
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

size_t embed_take_host_releases(nx_state *S, uint64_t *refs, size_t max)
{
    const size_t n = std::min(max, S->host_releases.size());
    std::copy(S->host_releases.end() - static_cast<ptrdiff_t>(n), S->host_releases.end(), refs);
    S->host_releases.resize(S->host_releases.size() - n);
    return n;
}

size_t embed_memory_kb(nx_state *S) { return static_cast<size_t>(lua_gc(S->L, LUA_GCCOUNT, 0)); }

const nx_api kApi = {NX_ABI_VERSION, embed_open,    embed_close,
                     embed_modules,  embed_op,      embed_release,
                     embed_take_host_releases, embed_memory_kb};

} // namespace

extern "C" __attribute__((visibility("default"))) const nx_api *neurite_embed_api(void) { return &kApi; }
