// Dataset userdata: #ds, ds:get(i), ds:split, ds:batches (an iterator of
// x, y backed by the core's prefetching BatchIterator), ds:normalize and the
// fields classes, shape, source, kind. Indices and class labels count from 1.
#include "dataset_box.h"
#include "tensor_args.h"

#include "neurite/core/data/split.h"
#include "neurite/core/distributed.h"

#include <cmath>
#include <cstring>

namespace neurite::lua {

namespace {

namespace nd = neurite::data;

bool shifts_labels(const nd::Dataset &ds)
{
    return ds.target_kind() == nd::TargetKind::Classes &&
           ds.target_encoding() == nd::TargetEncoding::Index;
}

// Idempotent: a script may call it by hand (getmetatable(ds).__gc(ds)).
// The box then holds an empty dataset and every use raises.
int ds_gc(lua_State *L)
{
    auto *box = static_cast<DatasetBox *>(luaL_checkudata(L, 1, kDatasetMeta));
    if (!box->freed) {
        box->dataset = nd::Dataset();
        box->freed = true;
    }
    return 0;
}

int ds_len(lua_State *L)
{
    lua_pushinteger(L, check_dataset(L, 1).size());
    return 1;
}

int ds_tostring(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    std::string s = "dataset " + ds.source() + ": " + std::to_string(ds.size()) + " samples of " +
                    ds.input_shape().to_string();
    if (ds.target_kind() == nd::TargetKind::Classes)
        s += ", " + std::to_string(ds.class_count()) + " classes (" +
             nd::target_encoding_name(ds.target_encoding()) + " targets)";
    else if (ds.target_kind() == nd::TargetKind::Values)
        s += ", targets " + ds.target_shape().to_string();
    else
        s += ", unlabelled";
    if (ds.normalization().active())
        s += std::string(", ") + nd::normalize_method_name(ds.normalization().method);
    lua_pushstring(L, s.c_str());
    return 1;
}

void push_strings(lua_State *L, const std::vector<std::string> &items)
{
    lua_createtable(L, static_cast<int>(items.size()), 0);
    for (size_t i = 0; i < items.size(); ++i) {
        lua_pushstring(L, items[i].c_str());
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
}

int ds_index(lua_State *L)
{
    // Methods even of a freed dataset: the method then names itself in the error.
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    const std::string key = lua_tostring(L, 2);
    auto *box = static_cast<DatasetBox *>(luaL_testudata(L, 1, kDatasetMeta));
    if (box && box->freed)
        raise(L, "ds." + key + ": the dataset was already freed (its __gc was called)");
    const nd::Dataset &ds = check_dataset(L, 1);
    return guarded(L, [&] {
        if (key == "classes")
            push_strings(L, ds.class_names());
        else if (key == "shape")
            push_shape(L, ds.input_shape());
        else if (key == "source")
            lua_pushstring(L, ds.source().c_str());
        else if (key == "kind")
            lua_pushstring(L, nd::target_kind_name(ds.target_kind()));
        else if (key == "encoding")
            lua_pushstring(L, nd::target_encoding_name(ds.target_encoding()));
        else if (key == "features")
            lua_pushinteger(L, ds.feature_count());
        else if (key == "warnings")
            push_strings(L, ds.warnings());
        else if (key == "feature_names")
            push_strings(L, ds.feature_names());
        else if (key == "class_counts") {
            const auto counts = ds.class_counts();
            lua_createtable(L, static_cast<int>(counts.size()), 0);
            for (size_t i = 0; i < counts.size(); ++i) {
                lua_pushinteger(L, counts[i]);
                lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
            }
        } else
            lua_pushnil(L);
        return 1;
    });
}

// ds:get(i) -> x, y: y is the 1-based class for class indices, a tensor
// for one-hot or real targets, nil for unlabelled data.
int ds_get(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    const lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > ds.size())
        raise(L, "ds:get: index " + std::to_string(i) + " is out of range for a dataset of " +
                     std::to_string(ds.size()) + " samples (indices start at 1)");
    return guarded(L, [&] {
        nd::Sample s = ds.sample(i - 1);
        push_tensor(L, std::move(s.input));
        if (shifts_labels(ds))
            lua_pushinteger(L, s.label + 1);
        else if (s.target.defined())
            push_tensor(L, std::move(s.target));
        else
            lua_pushnil(L);
        return 2;
    });
}

// ds:split(0.8, {seed=, stratify=}) -> train, rest
// ds:split{train=0.8, validation=0.1, test=0.1, seed=, stratify=} -> three parts
int ds_split(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    nd::SplitOptions o;
    const bool three = lua_istable(L, 2);
    const int opts = three ? 2 : 3;
    if (three)
        check_option_keys(L, 2, "ds:split", {"train", "validation", "test", "seed", "stratify"});
    else
        check_optional_options(L, 3, "ds:split", {"seed", "stratify"});
    if (three) {
        o.train = opt_number(L, 2, "train", 0.8, "ds:split");
        o.validation = opt_number(L, 2, "validation", 0.1, "ds:split");
        o.test = opt_number(L, 2, "test", 1.0 - o.train - o.validation, "ds:split");
    } else {
        o.train = luaL_checknumber(L, 2);
        o.validation = 1.0 - o.train;
        o.test = 0;
    }
    o.stratify = opt_bool(L, opts, "stratify", ds.target_kind() == nd::TargetKind::Classes);
    o.seed = opt_seed(L, opts, "ds:split");
    return guarded(L, [&] {
        const nd::Splits parts = nd::split(ds, o);
        push_dataset(L, parts.train);
        push_dataset(L, parts.validation);
        if (!three)
            return 2;
        push_dataset(L, parts.test);
        return 3;
    });
}

// ds:normalize([method]) fits on this dataset; ds:normalize(train) applies
// the statistics of `train`, so validation and test data get its transform.
int ds_normalize(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    return guarded(L, [&] {
        if (luaL_testudata(L, 2, kDatasetMeta)) {
            push_dataset(L, ds.with_normalization(check_dataset(L, 2).normalization()));
            return 1;
        }
        const std::string method = luaL_optstring(L, 2, "standardize");
        push_dataset(L, ds.with_normalization(
                            nd::Normalization::fit(ds, nd::normalize_method_from_name(method))));
        return 1;
    });
}

int ds_with_targets(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    const std::string e = luaL_checkstring(L, 2);
    nd::TargetEncoding encoding;
    if (e == "index")
        encoding = nd::TargetEncoding::Index;
    else if (e == "one_hot")
        encoding = nd::TargetEncoding::OneHot;
    else if (e == "index_column")
        encoding = nd::TargetEncoding::IndexColumn;
    else
        raise(L, "ds:with_targets: encoding must be index, one_hot or index_column, got \"" + e + "\"");
    return guarded(L, [&] {
        push_dataset(L, ds.with_target_encoding(encoding));
        return 1;
    });
}

int ds_inputs(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    return guarded(L, [&] {
        push_tensor(L, ds.inputs());
        return 1;
    });
}

int ds_targets(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    return guarded(L, [&] {
        Tensor t = ds.targets();
        push_tensor(L, shifts_labels(ds) ? to_one_based(t) : t);
        return 1;
    });
}

// ds:subset(indices): the samples at those 1-based indices (a table, a
// tensor or one integer), compared as integers.
int ds_subset(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    const std::vector<int64_t> rows = check_index_list(L, 2, ds.size(), 0, "ds:subset");
    return guarded(L, [&] {
        push_dataset(L, ds.subset(rows));
        return 1;
    });
}

// ds:slice(first [, count]): count samples from first (default: to the end).
int ds_slice(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    const int64_t size = ds.size();
    const int64_t first = check_int(L, 2, "ds:slice", "first");
    if (first < 1 || first > size + 1)
        raise(L, "ds:slice: first is " + std::to_string(first) + "; it must be between 1 and " +
                     std::to_string(size + 1) + " for a dataset of " + std::to_string(size) + " samples");
    const int64_t count = opt_int(L, 3, size - first + 1, "ds:slice", "count");
    if (count < 0 || count > size - first + 1) // no addition: huge counts cannot wrap
        raise(L, "ds:slice: count is " + std::to_string(count) + "; from sample " + std::to_string(first) +
                     " a dataset of " + std::to_string(size) + " samples has " +
                     std::to_string(size - first + 1) + " left");
    return guarded(L, [&] {
        push_dataset(L, ds.slice(first - 1, count));
        return 1;
    });
}

// ---- batches

// Idempotent, as batches_close: the iterator ends and the loop with it.
int batches_gc(lua_State *L)
{
    static_cast<BatchesBox *>(luaL_checkudata(L, 1, kBatchesMeta))->iterator.reset();
    return 0;
}

// Ends the background thread when a loop breaks early (the generic for's
// closing value) or the epoch is over.
int batches_close(lua_State *L)
{
    auto *box = static_cast<BatchesBox *>(luaL_checkudata(L, 1, kBatchesMeta));
    box->iterator.reset();
    return 0;
}

// The iterator function: upvalue 1 is the BatchesBox. x (and y, unless it
// holds class indices, which are shifted to 1-based copies) are views of the
// iterator's buffers: valid until the next batch; clone() to keep one.
int batches_next(lua_State *L)
{
    auto *box = static_cast<BatchesBox *>(lua_touserdata(L, lua_upvalueindex(1)));
    if (!box->iterator)
        return 0;
    return guarded(L, [&] {
        const nd::Batch *b = box->iterator->next();
        if (!b) {
            box->iterator.reset();
            return 0;
        }
        if (b->size == 0) { // a rank's empty part of a last, small batch
            lua_pushboolean(L, false);
            lua_pushboolean(L, false);
            return 2;
        }
        const int owner = lua_upvalueindex(1);
        lua_pushvalue(L, owner);
        const int keep = lua_gettop(L);
        push_tensor(L, b->inputs, keep);
        if (!b->targets.defined())
            lua_pushnil(L);
        else if (box->shift_labels)
            push_tensor(L, to_one_based(b->targets));
        else
            push_tensor(L, b->targets, keep);
        lua_remove(L, keep);
        return 2;
    });
}

// augment = {crop_padding = 4, horizontal_flip = 0.5}: PyTorch's
// RandomCrop(size, padding = 4) and RandomHorizontalFlip(p = 0.5).
nd::Augmentation opt_augment(lua_State *L, int idx, const char *fn)
{
    nd::Augmentation a;
    if (!has_options(L, idx))
        return a;
    lua_getfield(L, idx, "augment");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1))
            raise(L, std::string(fn) + ": augment must be a table such as {crop_padding = 4, horizontal_flip = 0.5}, got " +
                         describe_value(L, -1));
        const int t = lua_gettop(L);
        const std::string where = std::string(fn) + " augment";
        check_option_keys(L, t, where.c_str(), {"crop_padding", "horizontal_flip"});
        a.crop_padding = opt_integer(L, t, "crop_padding", 0, where.c_str());
        a.horizontal_flip = opt_number(L, t, "horizontal_flip", 0, where.c_str());
    }
    lua_pop(L, 1);
    return a;
}

// ds:batches{size=32, shuffle=true, seed=, drop_last=false, flatten=false, prefetch=, skip=0, augment=}
// Batches keep the samples' shape ({B, 1, 28, 28}); flatten = true gives {B, features}.
// skip = k starts after the first k batches of the epoch's order without
// gathering them: how a resumed run continues inside an epoch.
// rank = r, ranks = n (data-parallel runs; ranks count from 0): size is the
// global batch, and the iterator yields rank r's part of each (see
// nd::shard_part); a part of a last, small batch may be empty, given as
// false, false. Every rank must pass the same seed (or draw it from the same
// generator state, as train.fit's ranks do).
int ds_batches(lua_State *L)
{
    const nd::Dataset &ds = check_dataset(L, 1);
    if (!lua_isnoneornil(L, 2))
        check_option_keys(L, 2, "ds:batches",
                          {"size", "shuffle", "seed", "drop_last", "flatten", "prefetch", "skip", "augment", "rank",
                           "ranks"});
    nd::BatchOptions o;
    o.batch_size = opt_integer(L, 2, "size", o.batch_size, "ds:batches");
    o.shuffle = opt_bool(L, 2, "shuffle", true);
    o.drop_last = opt_bool(L, 2, "drop_last", false);
    o.flatten = opt_bool(L, 2, "flatten", false);
    // Prefetching pays when a core is left over; when the compute threads
    // use every core, the gathering thread only takes time from them.
    const bool spare_core = ComputeContext::num_threads() < dist::usable_cores();
    o.prefetch = opt_bool(L, 2, "prefetch", spare_core);
    // Each call is one epoch; without a seed each draws a new order.
    o.seed = opt_seed(L, 2, "ds:batches");
    o.augment = opt_augment(L, 2, "ds:batches");
    const int64_t skip = opt_integer(L, 2, "skip", 0, "ds:batches");
    o.shard_count = opt_integer(L, 2, "ranks", 1, "ds:batches");
    o.shard_index = opt_integer(L, 2, "rank", 0, "ds:batches");
    if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
        raise(L, "ds:batches: rank = " + std::to_string(o.shard_index) + " is not one of the " +
                     std::to_string(o.shard_count) + " ranks (ranks count from 0; ranks must be at least 1)");
    return guarded(L, [&] {
        auto iterator = std::make_unique<nd::BatchIterator>(ds, o);
        if (skip < 0 || skip > iterator->batches_per_epoch())
            throw Error("ds:batches: skip = " + std::to_string(skip) + " is outside 0.." +
                        std::to_string(iterator->batches_per_epoch()) + ", the batches of an epoch");
        iterator->restart(0, skip);
        void *mem = lua_newuserdatauv(L, sizeof(BatchesBox), 0);
        new (mem) BatchesBox{std::move(iterator), shifts_labels(ds)};
        luaL_setmetatable(L, kBatchesMeta);
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, batches_next, 1);
        lua_insert(L, -2);
        lua_pushnil(L);
        lua_insert(L, -2);
        lua_pushnil(L);
        lua_insert(L, -2);
        return 4; // f, nil, nil, closing value
    });
}

} // namespace

nd::Dataset &check_dataset(lua_State *L, int idx)
{
    auto *box = static_cast<DatasetBox *>(luaL_testudata(L, idx, kDatasetMeta));
    if (box && !box->freed)
        return box->dataset;
    lua_Debug ar;
    std::string fn = "dataset method";
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name)
        fn = (ar.namewhat && std::strcmp(ar.namewhat, "metamethod") == 0 ? "dataset __" : "ds:") +
             std::string(ar.name);
    if (box)
        raise(L, fn + ": the dataset was already freed (its __gc was called)");
    arg_error(L, idx, fn.c_str(), "a dataset (call it with ':')");
}

void push_dataset(lua_State *L, nd::Dataset dataset)
{
    void *mem = lua_newuserdatauv(L, sizeof(DatasetBox), 0);
    new (mem) DatasetBox{std::move(dataset)};
    luaL_setmetatable(L, kDatasetMeta);
}

void open_dataset_type(lua_State *L)
{
    static const luaL_Reg methods[] = {{"get", ds_get},         {"split", ds_split},
                                       {"batches", ds_batches}, {"normalize", ds_normalize},
                                       {"with_targets", ds_with_targets},
                                       {"inputs", ds_inputs},   {"targets", ds_targets},
                                       {"subset", ds_subset},   {"slice", ds_slice},
                                       {nullptr, nullptr}};
    luaL_newmetatable(L, kDatasetMeta);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, ds_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__gc", ds_gc}, {"__len", ds_len},
                                    {"__tostring", ds_tostring}, {nullptr, nullptr}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "dataset");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    luaL_newmetatable(L, kBatchesMeta);
    lua_pushcfunction(L, batches_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, batches_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

} // namespace neurite::lua
