/* neurite.so: `local neurite = require "neurite"` from a plain Lua 5.4
 * interpreter (Debian's lua5.4, a C build of Lua). Plain C on purpose: it
 * runs on the interpreter's Lua, where an error longjmps, so no frame here
 * may own anything a longjmp would skip (lists live in userdata the
 * collector frees). Neurite itself runs in a Lua state of its own inside
 * libneurite-lua, loaded with RTLD_DEEPBIND so that it keeps to the C++ Lua
 * it was built for; host/lua/src/embed_abi.h explains the design, and how
 * values cross. Here: proxies for Neurite's values, the interpreter's
 * functions called back, errors raised at the script's line. */
#define _GNU_SOURCE
#include <dlfcn.h>

#include <lauxlib.h>
#include <lua.h>

#include <stdio.h>

#include "../src/embed_abi.h"

#define CONTEXT_KEY "neurite.embed.context"
#define PROXY_META "neurite.embed.proxy"
#define LIST_META "neurite.embed.list"
#define MAX_DEPTH 100
#define NON_STRING_ERROR "(a function of the script raised an error object that is not a string)"

typedef struct Context {
    const nx_api *api;
    nx_state *state;
    lua_State *L;    /* the interpreter's thread inside the current call */
    int cache;       /* registry: handle -> proxy, weak values */
    size_t inner_kb; /* Neurite's memory at the last look */
    int closed;
} Context;

typedef struct Proxy {
    Context *ctx;
    uint64_t handle;
} Proxy;

static int proxy_call(lua_State *L);

/* The error value of the last failed callback, kept in the registry under
 * this key: when Neurite hands the error back unchanged, the script gets
 * that value itself (its message without a second position, or its table). */
static const char PENDING_ERROR_KEY = 0;

/* ---- lists, freed by the collector whatever way the call ends */

static int list_gc(lua_State *L)
{
    nx_free((nx_list *)luaL_checkudata(L, 1, LIST_META));
    return 0;
}

static nx_list *new_list(lua_State *L)
{
    nx_list *list = (nx_list *)lua_newuserdatauv(L, sizeof(nx_list), 0);
    memset(list, 0, sizeof *list);
    list->grow = nx_local_grow;
    luaL_setmetatable(L, LIST_META);
    return list;
}

static void *checked(lua_State *L, void *pushed)
{
    if (!pushed)
        luaL_error(L, "neurite: out of memory");
    return pushed;
}

/* ---- the interpreter's values out */

static Proxy *test_proxy(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TFUNCTION && lua_tocfunction(L, idx) == proxy_call) {
        lua_getupvalue(L, idx, 1);
        Proxy *p = (Proxy *)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return p;
    }
    return (Proxy *)luaL_testudata(L, idx, PROXY_META);
}

static void write_value(lua_State *L, int idx, nx_list *out, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "neurite: nested tables");
    Proxy *proxy = test_proxy(L, idx);
    if (proxy) {
        ((nx_item *)checked(L, nx_push(out, NX_OBJECT)))->handle = proxy->handle;
        return;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: checked(L, nx_push(out, NX_NIL)); return;
    case LUA_TBOOLEAN: checked(L, nx_push(out, lua_toboolean(L, idx) ? NX_TRUE : NX_FALSE)); return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            ((nx_item *)checked(L, nx_push(out, NX_INTEGER)))->integer = lua_tointeger(L, idx);
        else
            ((nx_item *)checked(L, nx_push(out, NX_NUMBER)))->number = lua_tonumber(L, idx);
        return;
    case LUA_TSTRING: {
        size_t n = 0;
        const char *s = lua_tolstring(L, idx, &n);
        if (!nx_push_string(out, s, n))
            luaL_error(L, "neurite: out of memory");
        return;
    }
    case LUA_TFUNCTION: {
        nx_item *item = (nx_item *)checked(L, nx_push(out, NX_HOST));
        lua_pushvalue(L, idx);
        item->handle = (uint64_t)luaL_ref(L, LUA_REGISTRYINDEX);
        return;
    }
    case LUA_TTABLE: {
        if (depth >= MAX_DEPTH)
            luaL_error(L, "neurite: a table nested deeper than %d levels (does it contain itself?)", MAX_DEPTH);
        size_t at = out->size, pairs = 0;
        checked(L, nx_push(out, NX_TABLE));
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            write_value(L, -2, out, depth + 1);
            write_value(L, -1, out, depth + 1);
            lua_pop(L, 1);
            ++pairs;
        }
        out->items[at].count = pairs;
        return;
    }
    default:
        luaL_error(L, "neurite: cannot pass a %s to Neurite (numbers, strings, booleans, tables, functions "
                      "and Neurite's values can cross)", luaL_typename(L, idx));
    }
}

/* ---- Neurite's values in */

static void push_proxy(lua_State *L, Context *ctx, uint64_t handle, int function)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->cache);
    if (lua_rawgeti(L, -1, (lua_Integer)handle) != LUA_TNIL) {
        lua_remove(L, -2);
        ctx->api->release(ctx->state, handle); /* the proxy holds its reference already */
        return;
    }
    lua_pop(L, 1);
    Proxy *p = (Proxy *)lua_newuserdatauv(L, sizeof(Proxy), 0);
    p->ctx = ctx;
    p->handle = handle;
    luaL_setmetatable(L, PROXY_META);
    if (function)
        lua_pushcclosure(L, proxy_call, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (lua_Integer)handle);
    lua_remove(L, -2);
}

static void read_value(lua_State *L, Context *ctx, const nx_list *in, size_t *pos)
{
    luaL_checkstack(L, 4, "neurite: nested tables");
    if (*pos >= in->size)
        luaL_error(L, "neurite: a value list ended early");
    const nx_item *item = &in->items[(*pos)++];
    switch (item->type) {
    case NX_NIL: lua_pushnil(L); return;
    case NX_FALSE: lua_pushboolean(L, 0); return;
    case NX_TRUE: lua_pushboolean(L, 1); return;
    case NX_INTEGER: lua_pushinteger(L, (lua_Integer)item->integer); return;
    case NX_NUMBER: lua_pushnumber(L, item->number); return;
    case NX_STRING: lua_pushlstring(L, in->bytes + item->offset, item->count); return;
    case NX_TABLE: {
        size_t pairs = item->count;
        lua_createtable(L, 0, pairs < (1u << 20) ? (int)pairs : 1 << 20);
        for (size_t k = 0; k < pairs; ++k) {
            read_value(L, ctx, in, pos);
            read_value(L, ctx, in, pos);
            if (lua_isnil(L, -2))
                lua_pop(L, 2);
            else
                lua_rawset(L, -3);
        }
        return;
    }
    case NX_OBJECT: push_proxy(L, ctx, item->handle, 0); return;
    case NX_FUNCTION: push_proxy(L, ctx, item->handle, 1); return;
    case NX_HOST: lua_rawgeti(L, LUA_REGISTRYINDEX, (lua_Integer)item->handle); return;
    default: luaL_error(L, "neurite: a value of unknown kind %d", item->type);
    }
}

/* ---- calls into Neurite */

static Context *context(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, CONTEXT_KEY);
    Context *ctx = (Context *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!ctx || ctx->closed)
        luaL_error(L, "neurite: the module was closed");
    return ctx;
}

/* After a call: references Neurite dropped, and the collector stepped by
 * what Neurite's memory grew, so that proxies of large tensors go in time. */
static void settle(lua_State *L, Context *ctx)
{
    uint64_t refs[64];
    size_t n;
    while ((n = ctx->api->take_host_releases(ctx->state, refs, 64)) > 0)
        for (size_t i = 0; i < n; ++i)
            luaL_unref(L, LUA_REGISTRYINDEX, (int)refs[i]);
    size_t kb = ctx->api->memory_kb(ctx->state);
    if (kb > ctx->inner_kb)
        lua_gc(L, LUA_GCSTEP, (int)(kb - ctx->inner_kb < 1u << 20 ? kb - ctx->inner_kb : 1u << 20));
    ctx->inner_kb = ctx->api->memory_kb(ctx->state);
}

/* Operation `op` on the values first..last of the stack; pushes the results. */
static int run_op(lua_State *L, int op, int first, int last)
{
    Context *ctx = context(L);
    nx_list *args = new_list(L);
    nx_list *results = new_list(L);
    for (int i = first; i <= last; ++i)
        write_value(L, i, args, 0);
    lua_State *outer = ctx->L;
    ctx->L = L;
    int status = ctx->api->op(ctx->state, op, args, results);
    ctx->L = outer;
    settle(L, ctx);
    int top = lua_gettop(L);
    size_t pos = 0;
    while (pos < results->size)
        read_value(L, ctx, results, &pos);
    if (status != 0) {
        /* A callback's error coming back as the callback raised it. */
        lua_rawgetp(L, LUA_REGISTRYINDEX, &PENDING_ERROR_KEY);
        const char *pending = lua_tostring(L, -1);
        int same = pending ? lua_rawequal(L, -1, -2)
                           : !lua_isnil(L, -1) && strcmp(lua_tostring(L, -2), NON_STRING_ERROR) == 0;
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &PENDING_ERROR_KEY);
        if (same)
            return lua_error(L);
        lua_pop(L, 1);
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
        return lua_error(L);
    }
    return lua_gettop(L) - top;
}

static int proxy_call(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    return run_op(L, NX_OP_CALL, 1, lua_gettop(L));
}

static int m_index(lua_State *L) { return run_op(L, NX_OP_INDEX, 1, 2); }
static int m_newindex(lua_State *L) { return run_op(L, NX_OP_NEWINDEX, 1, 3); }
static int m_call(lua_State *L) { return run_op(L, NX_OP_CALL, 1, lua_gettop(L)); }
static int m_len(lua_State *L) { return run_op(L, NX_OP_LEN, 1, 1); }
static int m_tostring(lua_State *L) { return run_op(L, NX_OP_TOSTRING, 1, 1); }
static int m_eq(lua_State *L) { return run_op(L, NX_OP_EQ, 1, 2); }
static int m_lt(lua_State *L) { return run_op(L, NX_OP_LT, 1, 2); }
static int m_le(lua_State *L) { return run_op(L, NX_OP_LE, 1, 2); }
static int m_add(lua_State *L) { return run_op(L, NX_OP_ADD, 1, 2); }
static int m_sub(lua_State *L) { return run_op(L, NX_OP_SUB, 1, 2); }
static int m_mul(lua_State *L) { return run_op(L, NX_OP_MUL, 1, 2); }
static int m_mod(lua_State *L) { return run_op(L, NX_OP_MOD, 1, 2); }
static int m_pow(lua_State *L) { return run_op(L, NX_OP_POW, 1, 2); }
static int m_div(lua_State *L) { return run_op(L, NX_OP_DIV, 1, 2); }
static int m_idiv(lua_State *L) { return run_op(L, NX_OP_IDIV, 1, 2); }
static int m_unm(lua_State *L) { return run_op(L, NX_OP_UNM, 1, 1); }
static int m_concat(lua_State *L) { return run_op(L, NX_OP_CONCAT, 1, 2); }

/* pairs(proxy): Neurite's next over the table behind it. */
static int proxy_next(lua_State *L)
{
    lua_settop(L, 2);
    int n = run_op(L, NX_OP_NEXT, 1, 2);
    return lua_isnil(L, -n) ? 1 : n;
}

static int m_pairs(lua_State *L)
{
    lua_pushcfunction(L, proxy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int m_gc(lua_State *L)
{
    Proxy *p = (Proxy *)luaL_checkudata(L, 1, PROXY_META);
    if (p->ctx && !p->ctx->closed)
        p->ctx->api->release(p->ctx->state, p->handle);
    p->ctx = NULL;
    return 0;
}

/* ---- Neurite calling the interpreter's functions */

typedef struct HostCall {
    Context *ctx;
    uint64_t ref;
    const nx_list *args;
    nx_list *results;
} HostCall;

static int protected_host_call(lua_State *L)
{
    HostCall *c = (HostCall *)lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, (lua_Integer)c->ref);
    size_t pos = 0;
    while (pos < c->args->size)
        read_value(L, c->ctx, c->args, &pos);
    if (lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0) != LUA_OK) {
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &PENDING_ERROR_KEY);
        return lua_error(L);
    }
    for (int i = 1; i <= lua_gettop(L); ++i)
        write_value(L, i, c->results, 0);
    return 0;
}

static void set_message(nx_list *results, const char *text, size_t length)
{
    nx_clear(results);
    nx_push_string(results, text, length);
}

/* Called by Neurite's state while a run_op of this interpreter waits: the
 * call is protected, so no error of the interpreter's Lua longjmps through
 * Neurite's C++ frames. */
static int host_call(void *host, uint64_t ref, const nx_list *args, nx_list *results)
{
    Context *ctx = (Context *)host;
    lua_State *L = ctx->L;
    if (!L || !lua_checkstack(L, 4)) {
        set_message(results, "neurite: no interpreter call to run a function in", 48);
        return 1;
    }
    HostCall c = {ctx, ref, args, results};
    lua_pushcfunction(L, protected_host_call);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return 0;
    size_t n = 0;
    const char *message = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (message)
        set_message(results, message, n);
    else
        set_message(results, NON_STRING_ERROR, strlen(NON_STRING_ERROR));
    lua_pop(L, 1);
    return 1;
}

/* ---- opening */

static int context_gc(lua_State *L)
{
    Context *ctx = (Context *)lua_touserdata(L, 1);
    if (!ctx->closed && ctx->state) {
        ctx->closed = 1;
        ctx->api->close(ctx->state);
        ctx->state = NULL;
    }
    return 0;
}

/* libneurite-lua beside this module: <libdir>/lua/5.4/neurite.so and
 * <libdir>/libneurite-lua.so, in the build tree as installed. */
static void *load_library(lua_State *L)
{
    Dl_info info;
    char path[4096];
    const char *error = "dladdr failed";
    if (dladdr((void *)load_library, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        int dir = slash ? (int)(slash - info.dli_fname) : 1;
        snprintf(path, sizeof path, "%.*s/../../libneurite-lua.so", dir, slash ? info.dli_fname : ".");
        void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
        if (library)
            return library;
        error = dlerror();
    }
    luaL_error(L, "neurite: cannot load Neurite's library %s: %s", path, error ? error : "?");
    return NULL;
}

int luaopen_neurite(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, CONTEXT_KEY);
    int loaded = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (loaded)
        return luaL_error(L, "neurite: already opened in this Lua state (use require, which keeps the module)");
    void *library = load_library(L); /* never closed: its compute threads outlive any state */
    const nx_api *(*entry)(void) = (const nx_api *(*)(void))dlsym(library, "neurite_embed_api");
    const nx_api *api = entry ? entry() : NULL;
    if (!api || api->version != NX_ABI_VERSION)
        return luaL_error(L, "neurite: libneurite-lua does not match this module (ABI %d)", NX_ABI_VERSION);

    luaL_newmetatable(L, LIST_META);
    lua_pushcfunction(L, list_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg proxy_methods[] = {
        {"__index", m_index}, {"__newindex", m_newindex}, {"__call", m_call},     {"__len", m_len},
        {"__tostring", m_tostring}, {"__eq", m_eq},       {"__lt", m_lt},         {"__le", m_le},
        {"__add", m_add},     {"__sub", m_sub},           {"__mul", m_mul},       {"__mod", m_mod},
        {"__pow", m_pow},     {"__div", m_div},           {"__idiv", m_idiv},     {"__unm", m_unm},
        {"__concat", m_concat}, {"__pairs", m_pairs},     {"__gc", m_gc},         {NULL, NULL}};
    luaL_newmetatable(L, PROXY_META);
    luaL_setfuncs(L, proxy_methods, 0);
    lua_pop(L, 1);

    Context *ctx = (Context *)lua_newuserdatauv(L, sizeof(Context), 0);
    memset(ctx, 0, sizeof *ctx);
    ctx->api = api;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, context_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, CONTEXT_KEY);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    ctx->cache = luaL_ref(L, LUA_REGISTRYINDEX);

    char error[512] = "";
    ctx->state = api->open(host_call, ctx, error, sizeof error);
    if (!ctx->state) {
        ctx->closed = 1;
        return luaL_error(L, "neurite: %s", error);
    }
    nx_list *modules = new_list(L);
    ctx->L = L;
    int status = api->modules(ctx->state, modules);
    ctx->L = NULL;
    size_t pos = 0;
    read_value(L, ctx, modules, &pos);
    if (status != 0)
        return luaL_error(L, "neurite: %s", lua_tostring(L, -1));
    return 1;
}
