/*
 * Neurite plugin ABI: the C boundary between the host and a plugin library.
 *
 * Rules that keep old plugins loading in new hosts:
 *  - Every struct starts with `struct_size`; a struct only grows at its end.
 *  - A minor version adds fields at the end of structs (marked "ABI 1.N"
 *    below). The host reads such a field only when the plugin's struct_size
 *    covers it; an older plugin's shorter struct gets a documented fallback.
 *  - A library exports exactly one function, NRT_PLUGIN_ENTRY_SYMBOL.
 *  - No C++ exception crosses this boundary: functions return an nrt_status
 *    and write a message into the caller's buffer.
 *  - The host negotiates the version: a plugin built for another major is
 *    refused with a message naming both versions; any minor of the same major
 *    loads (a newer one's larger structs are read as far as the host knows).
 *  - A minor version only appends: fields at the end of structs, enum values,
 *    slots at the end of vtables. A plugin that fills a newer minor's slots
 *    declines an older host in its entry point (the SDK does this for you).
 *
 * ABI 1.1 adds, for layers: several inputs and outputs, memory descriptors
 * (dtype and memory format) negotiated in prepare2, a host-owned workspace
 * that carries what a forward saves for its backward, and host-owned
 * parameters (the host allocates every parameter of a model in one
 * contiguous arena and every gradient in another, and binds views into them).
 * ABI 1.0 layers keep working unchanged.
 *
 * ABI 1.2 adds one optional layer slot, onnx_form: the layer described as
 * ONNX nodes, which ONNX export writes in its place. An older host never
 * calls it, so filling it alone does not make a plugin decline such a host.
 * It also adds nrt_param_ref.value_bf16, the bfloat16 copy of a parameter a
 * host binds when a model computes in bf16 (mixed precision).
 *
 * ABI 1.3 adds one optional optimizer slot, shard: the optimizer steps a
 * contiguous part of its parameters and keeps the state of that part alone
 * (a data-parallel run splits the step between its ranks). An older host
 * never calls it; an optimizer without it is stepped whole on every rank.
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
#define NRT_ABI_MINOR 3

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

typedef enum nrt_dtype {
    NRT_DTYPE_F32 = 1,
    NRT_DTYPE_BF16 = 2 /* ABI 1.1: bfloat16, the upper half of an f32 */
} nrt_dtype;

/* Memory formats (ABI 1.1). NRT_FORMAT_PLAIN is dense row-major: the only
 * format of ABI 1.0, of every tensor a script sees and of every loss input.
 * Any other value is a oneDNN dnnl_format_tag_t (for example nChw16c) that
 * the memory follows, so that consecutive oneDNN layers can keep the blocked
 * layout their primitives prefer. A plugin that cannot read a format asks
 * for plain in prepare2 and the host converts. */
#define NRT_FORMAT_PLAIN 0

/* A view on memory owned by someone else: dims and strides count elements.
 * Strides describe plain memory only; a blocked format (see NRT_FORMAT_PLAIN)
 * is described by its format tag and the dims. */
typedef struct nrt_tensor {
    uint32_t struct_size;
    int32_t dtype; /* nrt_dtype */
    int32_t ndims;
    int32_t format; /* NRT_FORMAT_PLAIN (ABI 1.0: always 0) or a dnnl_format_tag_t */
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
    NRT_PARAM_FLOAT_LIST = 5, /* exactly `list_length` numbers, e.g. Adam's betas; ABI 1.1:
                                 list_length 0 takes one or more (a shape), and then
                                 the parameter has no default (it is required) */
    /* ABI 1.1: a spatial size such as a kernel or a stride. The user gives
     * one integer (both dimensions) or a list of two {h, w}, each inside
     * [min, max]; with `choices`, also one of those words (padding "same").
     * The plugin receives a list of two numbers (list, list_length 2), or the
     * word in `string`. The default is default_list (two numbers) or, when
     * that is NULL, the word default_string. A host that predates this value
     * refuses the entry, naming its unknown type. */
    NRT_PARAM_INT_PAIR = 6
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
    /* Since 1.1 (absent when struct_size ends before it): non-zero while the
     * threads that compute should flush denormals to zero (FTZ/DAZ), which is
     * the default; the user may switch it at any time. The host's threads and
     * their OpenMP teams follow it already; a thread the plugin creates calls
     * neurite::sdk::init_compute_thread (plugin.hpp). May be NULL. */
    int32_t (*flush_denormals)(void *context);
} nrt_host;

/* Flags of a parameter (ABI 1.1). A buffer is state that belongs with the
 * weights (saved, loaded, exported) but is not trained: it has no gradient
 * (grad.data is NULL) and optimizers leave it alone; batch norm's running
 * statistics are buffers. */
enum { NRT_PARAM_FLAG_BUFFER = 1 };

/* A learnable parameter and its gradient. ABI 1.0: both owned by the
 * instance. ABI 1.1 layers with bind_params: declared by the layer (name,
 * value dims, flags; data NULL), allocated and bound by the host.
 * Gradients accumulate (+=) across backward calls until zeroed. */
typedef struct nrt_param_ref {
    uint32_t struct_size;
    const char *name; /* "weight", "bias", "alpha", ... */
    nrt_tensor value;
    nrt_tensor grad;
    int32_t flags; /* ABI 1.1: NRT_PARAM_FLAG_*; absent (0) in ABI 1.0 */
    int32_t reserved;
    /* ABI 1.2 (absent when struct_size ends before it): a
     * bfloat16 copy of value, bound by the host to a model that computes in
     * bf16 (data NULL otherwise, and for buffers). The host refreshes it from
     * the f32 value in one pass over the arena before each forward; a layer
     * only reads it. value stays the f32 master copy that optimizers update. */
    nrt_tensor value_bf16;
} nrt_param_ref;

/* A tensor's description without its memory, as prepare2 negotiates it (ABI 1.1). */
typedef struct nrt_desc {
    uint32_t struct_size;
    int32_t dtype;  /* nrt_dtype */
    int32_t ndims;
    int32_t format; /* NRT_FORMAT_PLAIN or a dnnl_format_tag_t */
    int64_t dims[NRT_MAX_DIMS];
} nrt_desc;

/* One forward or backward call of an ABI 1.1 layer. Inputs and outputs are
 * in the descriptors prepare2 agreed on. */
typedef struct nrt_layer_call {
    uint32_t struct_size;
    int32_t src_count;
    int32_t dst_count;
    /* 1 in training mode (dropout draws a mask, batch norm uses the batch's
     * statistics); the same value in a backward as in its forward. */
    int32_t training;
    const nrt_tensor *src;      /* src_count inputs */
    nrt_tensor *dst;            /* forward: the outputs to write; backward: what forward wrote */
    const nrt_tensor *diff_dst; /* backward: d loss / d output, dst_count of them */
    /* backward: d loss / d input, to be written (not added), src_count of
     * them; an entry whose data is NULL is not wanted: skip its work. */
    nrt_tensor *diff_src;
    /* prepare2's workspace_bytes, 64-byte aligned and owned by the host, one
     * per use of the layer in a model: what a forward keeps for its backward
     * (pre-activations, pooling indices, dropout masks) lives here, not in
     * the instance. The host keeps it intact from a forward to the backward
     * that follows. */
    void *workspace;
    uint64_t workspace_bytes;
    /* backward: 1 adds to the parameter gradients; 0 says they are logically
     * zero, so the layer writes them instead (one pass over memory less). */
    int32_t accumulate;
    int32_t reserved;
} nrt_layer_call;

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

    /* ---- ABI 1.1. A layer that sets prepare2 is driven through prepare2,
     * forward2 and backward2 only; its 1.0 prepare/forward/backward may be NULL. */

    /* src[i] describes input i as its producer writes it; the layer may
     * change src[i].dtype and src[i].format to what it reads (the host then
     * converts; leave them to accept). It writes its outputs' descriptors into
     * dst (*dst_count holds the capacity on entry and the number of outputs
     * on return) and the bytes of workspace it needs (see nrt_layer_call).
     * The host calls it again whenever an input descriptor changes. */
    nrt_status (*prepare2)(void *self, int32_t src_count, nrt_desc *src, int32_t *dst_count,
                           nrt_desc *dst, uint64_t *workspace_bytes, char *err, size_t err_size);
    nrt_status (*forward2)(void *self, const nrt_layer_call *call, char *err, size_t err_size);
    nrt_status (*backward2)(void *self, const nrt_layer_call *call, char *err, size_t err_size);
    /* Host-owned parameters. When set, param_count and param declare the
     * parameters (name, value dims, flags; no data) from creation on, or
     * from the first prepare2 when their shapes depend on the input. The
     * host allocates them in its arena and binds them here, in declaration
     * order; grad.data is NULL for buffers. The views stay valid until the
     * next bind_params, and the layer keeps nothing derived from an earlier
     * binding's addresses. initialise = 1: fill the initial values (from the
     * creation seed); 0: the memory already holds values to keep. The host
     * clears gradients itself (see nrt_layer_call.accumulate), so zero_grad
     * may be NULL. */
    nrt_status (*bind_params)(void *self, int32_t count, const nrt_param_ref *params,
                              int32_t initialise, char *err, size_t err_size);

    /* ---- ABI 1.2, optional (may be NULL, or return NRT_ERR_UNSUPPORTED:
     * the layer has no ONNX form, and export names it). Writes the layer as
     * a list of ONNX nodes in ONNX's textual syntax (onnx/defs/parser.h), for
     * the target opset (13 to 17), e.g.
     *     { t = Mul(X0, scale)
     *       Y0 = Relu(t) }
     * X0, X1, ... are the layer's inputs and Y0, Y1, ... its outputs; a
     * declared parameter's name is that parameter (written as an initializer
     * with its current value); every other name is a value of this layer's
     * own, renamed so that it cannot clash. Constants are Constant nodes.
     * It may call out->write any number of times; the text is their
     * concatenation. */
    nrt_status (*onnx_form)(void *self, int32_t opset, const nrt_writer *out, char *err, size_t err_size);
} nrt_layer_vtable;

/* What a loss's target holds (nrt_loss_vtable.target_kind, ABI 1.1). The
 * host uses it to convert class indices (Lua counts classes from 1, the ABI
 * from 0) and to check the target's shape before the loss sees it. */
typedef enum nrt_target_kind {
    /* An ABI 1.0 loss, which declares nothing: the host guesses from the
     * shapes, as ABI 1.0 hosts did (docs/plugins.md, "Loss targets"). */
    NRT_TARGET_UNDECLARED = 0,
    /* One class index per sample, 0-based, as f32: {N} (the host also
     * passes {N, 1} through) for a prediction {N, C}. */
    NRT_TARGET_CLASS_INDEX = 1,
    /* The prediction's shape: real values, probabilities or one-hot rows.
     * For a prediction {N, 1} the host also accepts {N} and passes it to the
     * loss as {N, 1}. */
    NRT_TARGET_SAME_SHAPE = 2
} nrt_target_kind;

/* Targets cross as f32 tensors, as target_kind says. */
typedef struct nrt_loss_vtable {
    uint32_t struct_size;
    nrt_status (*forward)(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                          double *loss, char *err, size_t err_size);
    /* Writes (does not add) d loss / d pred into diff_pred, shaped as pred. */
    nrt_status (*backward)(void *self, const nrt_tensor *pred, const nrt_tensor *target,
                           nrt_tensor *diff_pred, char *err, size_t err_size);
    /* ABI 1.1: an nrt_target_kind. An ABI 1.0 vtable ends before it. */
    int32_t target_kind;
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
    /* ABI 1.3, optional (NULL, or absent when struct_size ends before it: the
     * host steps the optimizer over all its parameters). Restricts it to the
     * elements [begin, end) of its parameters taken as one sequence in
     * attach order: step() then reads the gradients and writes the values of
     * those elements alone, and the per-element state (momentum, moments)
     * is kept for them alone. [0, total) undoes it. State of elements that
     * stay in the range is kept; elements that enter it start from their
     * initial state. NRT_ERR_UNSUPPORTED: this optimizer cannot step a part
     * (its update is not element by element); the host then steps it whole.
     * While restricted, save_state writes the format it always writes, for
     * all parameters, with every per-element value outside the range as
     * zero bits (0.0f) and every other byte as an unrestricted optimizer in
     * the same state would: the host merges the ranks' parts with a bitwise
     * OR into the whole state. load_state takes the whole state and keeps
     * the range's part. */
    nrt_status (*shard)(void *self, uint64_t begin, uint64_t end, char *err, size_t err_size);
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
