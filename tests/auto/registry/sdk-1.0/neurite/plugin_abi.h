/*
 * Neurite plugin ABI: the C boundary between the host and a plugin library.
 *
 * Rules that keep old plugins loading in new hosts:
 *  - Every struct starts with `struct_size`; a struct only grows at its end.
 *  - A library exports exactly one function, NRT_PLUGIN_ENTRY_SYMBOL.
 *  - No C++ exception crosses this boundary: functions return an nrt_status
 *    and write a message into the caller's buffer.
 *  - The host negotiates the version: a plugin built for another major is
 *    refused with a message naming both versions; any minor of the same major
 *    loads (a newer one's larger structs are read as far as the host knows).
 *
 * This header is C99 and includes nothing but <stddef.h> and <stdint.h>;
 * oneDNN handles are declared opaquely so that a plugin without oneDNN
 * compiles, and a plugin with oneDNN can pass them to dnnl.h directly.
 */
#ifndef NEURITE_PLUGIN_ABI_H
#define NEURITE_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NRT_ABI_MAJOR 1
#define NRT_ABI_MINOR 0

#define NRT_MAX_DIMS 8

/* The one exported symbol of a plugin library, of type nrt_plugin_entry_fn. */
#define NRT_PLUGIN_ENTRY_SYMBOL "neurite_plugin_entry"

#if defined(_WIN32)
#define NRT_EXPORT __declspec(dllexport)
#else
#define NRT_EXPORT __attribute__((visibility("default")))
#endif

/* Same struct names as dnnl_types.h, so these are dnnl_engine_t / dnnl_stream_t. */
struct dnnl_engine;
struct dnnl_stream;

typedef int32_t nrt_status;
enum {
    NRT_OK = 0,
    NRT_ERR_INVALID_ARGUMENT = 1, /* a parameter value or an input is wrong */
    NRT_ERR_SHAPE = 2,            /* tensor shapes do not fit */
    NRT_ERR_NUMERIC = 3,          /* NaN or Inf where a finite value is needed */
    NRT_ERR_UNSUPPORTED = 4,      /* a valid request this plugin cannot do */
    NRT_ERR_STATE = 5,            /* a call out of order, or state that does not fit */
    NRT_ERR_INTERNAL = 6,         /* anything else: a bug, oneDNN, out of memory */
    NRT_ERR_CANCELLED = 7         /* the host asked to stop (nrt_host.cancel_requested) */
};

typedef enum nrt_kind {
    NRT_KIND_LAYER = 1,      /* nrt_layer_vtable */
    NRT_KIND_ACTIVATION = 2, /* nrt_layer_vtable; usually no parameters */
    NRT_KIND_LOSS = 3,       /* nrt_loss_vtable */
    NRT_KIND_OPTIMIZER = 4   /* nrt_optimizer_vtable */
} nrt_kind;

typedef enum nrt_dtype { NRT_DTYPE_F32 = 1 } nrt_dtype;

/* A view on memory owned by someone else: dims and strides count elements. */
typedef struct nrt_tensor {
    uint32_t struct_size;
    int32_t dtype; /* nrt_dtype */
    int32_t ndims;
    int32_t reserved;
    int64_t dims[NRT_MAX_DIMS];
    int64_t strides[NRT_MAX_DIMS];
    void *data;
} nrt_tensor;

/* ---- Parameter schema: one description read by the registry, Lua's nn.help,
 *      the GUI plugin browser and the quick-experiment form. ---- */
typedef enum nrt_param_type {
    NRT_PARAM_INT = 1,
    NRT_PARAM_FLOAT = 2,
    NRT_PARAM_BOOL = 3,
    NRT_PARAM_STRING = 4,    /* with `choices`, one of a fixed set */
    NRT_PARAM_FLOAT_LIST = 5 /* exactly `list_length` numbers, e.g. Adam's betas */
} nrt_param_type;

typedef struct nrt_param_spec {
    uint32_t struct_size;
    int32_t type;     /* nrt_param_type */
    const char *name; /* lower_snake_case */
    const char *doc;  /* one sentence; required */
    int32_t required; /* 1: no default, the user must give it */
    int32_t list_length;
    double default_number;       /* INT, FLOAT, BOOL (0/1) */
    const char *default_string;  /* STRING */
    const double *default_list;  /* FLOAT_LIST, list_length numbers */
    double min, max;             /* inclusive range of numbers; unchecked when min > max */
    const char *choices;         /* STRING: "a|b|c", or NULL for free text */
} nrt_param_spec;

/* A resolved parameter: the host validates user values against the schema and
 * passes every parameter of the schema, in schema order, defaults filled in. */
typedef struct nrt_param_value {
    uint32_t struct_size;
    int32_t type;
    const char *name;
    double number;
    const char *string;
    const double *list;
    int32_t list_length;
} nrt_param_value;

typedef struct nrt_params {
    uint32_t struct_size;
    int32_t count;
    const nrt_param_value *values;
} nrt_params;

/* What the host offers to every instance it creates. Valid for the instance's life. */
typedef struct nrt_host {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;
    struct dnnl_engine *engine; /* the host's CPU engine, may be NULL */
    struct dnnl_stream *stream; /* an in-order stream on that engine */
    int32_t num_threads;
    void *context;
    /* level 0 info, 1 warning; may be NULL */
    void (*log)(void *context, int32_t level, const char *message);
    /* non-zero once the user asked to stop; a long call may return NRT_ERR_CANCELLED */
    int32_t (*cancel_requested)(void *context);
} nrt_host;

/* A learnable parameter and its gradient, both owned by the instance.
 * Gradients accumulate (+=) across backward calls until zero_grad. */
typedef struct nrt_param_ref {
    uint32_t struct_size;
    const char *name; /* "weight", "bias", "alpha", ... */
    nrt_tensor value;
    nrt_tensor grad;
} nrt_param_ref;

/* Sink for extra state (beyond parameters) and optimizer state. */
typedef struct nrt_writer {
    uint32_t struct_size;
    void *context;
    nrt_status (*write)(void *context, const void *bytes, size_t count);
} nrt_writer;

/* Layers and activations. Call order: prepare (for an input shape), then
 * forward/backward any number of times on that shape. */
typedef struct nrt_layer_vtable {
    uint32_t struct_size;
    /* Check the input shape, report the output shape, build what the shape
     * needs. The host calls it again only when the input shape changes. */
    nrt_status (*prepare)(void *self, int32_t ndims, const int64_t *src_dims,
                          int32_t *dst_ndims, int64_t *dst_dims, char *err, size_t err_size);
    nrt_status (*forward)(void *self, const nrt_tensor *src, nrt_tensor *dst, int32_t training,
                          char *err, size_t err_size);
    /* dst is the output of the last forward on src. diff_src is NULL when the
     * host needs no input gradient (first layer): skip that work. Parameter
     * gradients are added to, never overwritten. */
    nrt_status (*backward)(void *self, const nrt_tensor *src, const nrt_tensor *dst,
                           const nrt_tensor *diff_dst, nrt_tensor *diff_src, char *err,
                           size_t err_size);
    int32_t (*param_count)(void *self);                               /* may be NULL: 0 */
    nrt_status (*param)(void *self, int32_t index, nrt_param_ref *out); /* may be NULL */
    /* Clear the parameter gradients. With deferred = 1 the host promises not
     * to read them before the next backward or a zero_grad(0), so the plugin
     * may clear lazily (the next backward writes instead of adding), which
     * saves a pass over memory every step. May be NULL: the host clears. */
    void (*zero_grad)(void *self, int32_t deferred);
    /* Extra state that is not a parameter (running statistics, ...). The host
     * saves parameters itself. Both may be NULL. */
    nrt_status (*save_state)(void *self, const nrt_writer *writer, char *err, size_t err_size);
    nrt_status (*load_state)(void *self, const void *bytes, size_t count, char *err,
                             size_t err_size);
} nrt_layer_vtable;

/* Targets cross as f32 tensors: class indices (0-based) as {N}, or the
 * prediction's shape for real-valued and one-hot targets. */
typedef struct nrt_loss_vtable {
    uint32_t struct_size;
    nrt_status (*forward)(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                          double *loss, char *err, size_t err_size);
    /* Writes (does not add) d loss / d pred into diff_pred, shaped as pred. */
    nrt_status (*backward)(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                           nrt_tensor *diff_pred, char *err, size_t err_size);
} nrt_loss_vtable;

typedef struct nrt_optimizer_vtable {
    uint32_t struct_size;
    /* The parameters this optimizer updates, fixed for its life; called once. */
    nrt_status (*attach)(void *self, int32_t count, const nrt_param_ref *params, char *err,
                         size_t err_size);
    nrt_status (*step)(void *self, char *err, size_t err_size);
    /* A numeric hyper-parameter by schema name ("lr", "momentum", ...). */
    nrt_status (*get_option)(void *self, const char *name, double *value);
    nrt_status (*set_option)(void *self, const char *name, double value, char *err,
                             size_t err_size);
    nrt_status (*save_state)(void *self, const nrt_writer *writer, char *err, size_t err_size);
    nrt_status (*load_state)(void *self, const void *bytes, size_t count, char *err,
                             size_t err_size);
} nrt_optimizer_vtable;

typedef struct nrt_entry {
    uint32_t struct_size;
    int32_t kind; /* nrt_kind */
    const char *name;    /* registry name, CamelCase: "Dense", "ReLU", "Adam" */
    const char *version; /* "major.minor.patch" */
    const char *summary; /* one line */
    int32_t param_count;
    const nrt_param_spec *params;
    /* seed: for random initialisation; the host derives it from the run's seed. */
    nrt_status (*create)(const nrt_host *host, const nrt_params *params, uint64_t seed,
                         void **instance, char *err, size_t err_size);
    void (*destroy)(void *instance);
    const void *vtable; /* by kind: nrt_layer_vtable, nrt_loss_vtable, nrt_optimizer_vtable */
} nrt_entry;

typedef struct nrt_host_info {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;
    const char *host_version;
} nrt_host_info;

typedef struct nrt_plugin_info {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor; /* what the plugin was built against */
    const char *library_name;
    const char *library_version;
    int32_t entry_count;
    const nrt_entry *const *entries;
} nrt_plugin_info;

/* Returns NULL when the plugin refuses the host (it may then explain through
 * nothing but its absence; the host reports the file). */
typedef const nrt_plugin_info *(*nrt_plugin_entry_fn)(const nrt_host_info *host);

#ifdef __cplusplus
}
#endif

#endif /* NEURITE_PLUGIN_ABI_H */
