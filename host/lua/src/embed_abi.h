/* The boundary between `require "neurite"` in another Lua interpreter and
 * Neurite's own Lua state (docs/lua-api.md, "From a plain lua5.4").
 *
 * Why two states. Neurite's bindings are built against Debian's C++ build of
 * Lua, where lua_error throws a C++ exception and so runs the destructors of
 * the C++ frames it leaves. An interpreter such as Debian's lua5.4 is a C
 * build: its lua_error longjmps, which would skip those destructors (undefined
 * behaviour in C++). Both builds export the same unmangled names (lua_pushnumber@LUA_5.4),
 * so the bindings cannot simply run on the interpreter's state either. Hence:
 *  - the module the interpreter loads (host/lua/module/neurite_module.c) is
 *    plain C, built against the C headers, and calls only the interpreter's
 *    Lua; a longjmp there crosses C frames only;
 *  - it loads libneurite-lua with RTLD_DEEPBIND, so that the bindings and the
 *    C++ Lua they link bind to each other, and asks it (embed.cpp) for a
 *    Neurite state of its own: the `neurite` runtime neurite-run has;
 *  - values cross between the two states through this header's plain C
 *    lists: numbers, strings and booleans by value, plain tables copied,
 *    everything else (tensors, models, functions, tables with a metatable) by
 *    a handle the other side keeps alive until the proxy is collected.
 *  Neither side lets an error escape: every call returns a status and, on
 *  failure, the message, which the module raises in the interpreter's state
 *  from a C frame.
 */
#ifndef NEURITE_EMBED_ABI_H
#define NEURITE_EMBED_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NX_ABI_VERSION 1

enum nx_type {
    NX_NIL,
    NX_FALSE,
    NX_TRUE,
    NX_INTEGER,
    NX_NUMBER,
    NX_STRING,   /* text at `offset` in the list's bytes, `count` long */
    NX_TABLE,    /* `count` pairs follow: key item(s), value item(s) */
    NX_OBJECT,   /* a value of Neurite's state, by handle; carries one reference */
    NX_FUNCTION, /* a function of Neurite's state, by handle; carries one reference */
    NX_HOST      /* a function of the interpreter, by its registry reference */
};

typedef struct nx_item {
    int type;
    int64_t integer;
    double number;
    uint64_t handle; /* NX_OBJECT/NX_FUNCTION: handle; NX_HOST: registry reference */
    size_t offset;   /* NX_STRING */
    size_t count;    /* NX_STRING: bytes; NX_TABLE: pairs */
} nx_item;

/* A sequence of values; tables nest inline. Owned by whoever made it, and
 * grown and freed only with its maker's allocator (`grow`): the two sides may
 * not share one (RTLD_DEEPBIND binds Neurite's malloc to the C library even
 * when the interpreter runs with a preloaded one). */
typedef struct nx_list {
    nx_item *items;
    size_t size, capacity;
    char *bytes;
    size_t bytes_used, bytes_capacity;
    void *(*grow)(void *block, size_t size); /* realloc; free when size is 0 */
} nx_list;

/* The allocator of the side that compiles this: for nx_list.grow. */
static inline void *nx_local_grow(void *block, size_t size)
{
    if (size == 0) {
        free(block);
        return NULL;
    }
    return realloc(block, size);
}

/* Appends an item, zeroed but for its type; NULL when out of memory. */
static inline nx_item *nx_push(nx_list *list, int type)
{
    if (list->size == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 16;
        nx_item *grown = (nx_item *)list->grow(list->items, capacity * sizeof(nx_item));
        if (!grown)
            return NULL;
        list->items = grown;
        list->capacity = capacity;
    }
    nx_item *item = &list->items[list->size++];
    memset(item, 0, sizeof *item);
    item->type = type;
    return item;
}

/* Appends a string item; 0 when out of memory. */
static inline int nx_push_string(nx_list *list, const char *text, size_t length)
{
    if (list->bytes_capacity - list->bytes_used < length) {
        size_t capacity = list->bytes_capacity ? list->bytes_capacity : 256;
        while (capacity - list->bytes_used < length)
            capacity *= 2;
        char *grown = (char *)list->grow(list->bytes, capacity);
        if (!grown)
            return 0;
        list->bytes = grown;
        list->bytes_capacity = capacity;
    }
    nx_item *item = nx_push(list, NX_STRING);
    if (!item)
        return 0;
    if (length)
        memcpy(list->bytes + list->bytes_used, text, length);
    item->offset = list->bytes_used;
    item->count = length;
    list->bytes_used += length;
    return 1;
}

static inline void nx_clear(nx_list *list) { list->size = 0, list->bytes_used = 0; }

static inline void nx_free(nx_list *list)
{
    void *(*grow)(void *, size_t) = list->grow;
    if (grow) {
        grow(list->items, 0);
        grow(list->bytes, 0);
    }
    memset(list, 0, sizeof *list);
    list->grow = grow;
}

/* What Neurite's state asks of the interpreter: call host function `ref`
 * with `args`, results into `results`; returns 0, or 1 with the error message
 * as the only result. `host` is the module's context. */
typedef int (*nx_host_call)(void *host, uint64_t ref, const nx_list *args, nx_list *results);

/* Operations on a value of Neurite's state (args[0]), as Lua's metamethods. */
enum nx_op {
    NX_OP_INDEX,    /* args: object, key */
    NX_OP_NEWINDEX, /* args: object, key, value */
    NX_OP_CALL,     /* args: function, arguments... */
    NX_OP_LEN,
    NX_OP_TOSTRING,
    NX_OP_EQ, NX_OP_LT, NX_OP_LE,            /* args: a, b */
    NX_OP_ADD, NX_OP_SUB, NX_OP_MUL, NX_OP_MOD, NX_OP_POW, NX_OP_DIV, NX_OP_IDIV, /* as LUA_OPADD.. */
    NX_OP_UNM,
    NX_OP_CONCAT,
    NX_OP_NEXT /* args: table, key: the next key and value (pairs over a proxy) */
};

typedef struct nx_state nx_state;

/* The functions libneurite-lua exports for the module (embed.cpp). */
typedef struct nx_api {
    int version;
    /* A Neurite state; NULL with the reason in `error` on failure. */
    nx_state *(*open)(nx_host_call call, void *host, char *error, size_t error_size);
    void (*close)(nx_state *state);
    /* The table of modules (tensor, nn, optim, data, train, monitor, dist, json). */
    int (*modules)(nx_state *state, nx_list *result);
    /* 0 with the results, or 1 with the error message as the only result. */
    int (*op)(nx_state *state, int op, const nx_list *args, nx_list *results);
    /* The interpreter dropped its proxy: one reference less on `handle`. */
    void (*release)(nx_state *state, uint64_t handle);
    /* Host references Neurite's state no longer holds (to luaL_unref). */
    size_t (*take_host_releases)(nx_state *state, uint64_t *refs, size_t max);
    /* Kilobytes Neurite's state holds (tensors included): the module steps
     * the interpreter's collector by what it grows, since a proxy is small
     * and the tensor behind it may be large. */
    size_t (*memory_kb)(nx_state *state);
} nx_api;

/* The symbol the module looks up in libneurite-lua. */
const nx_api *neurite_embed_api(void);

#ifdef __cplusplus
}
#endif

#endif
