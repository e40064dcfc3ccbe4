#pragma once

// The dataset userdata, shared by data_binding.cpp (loaders, generators)
// and dataset_binding.cpp (its methods and batch iterator).
#include "binding.h"

#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/data/dataset.h"

#include <optional>

namespace neurite::lua {

inline constexpr const char *kDatasetMeta = "neurite.Dataset";
inline constexpr const char *kBatchesMeta = "neurite.Batches";

struct DatasetBox {
    data::Dataset dataset;
    // Set by __gc, which a script can call by hand: every later use raises.
    bool freed = false;
};

struct BatchesBox {
    std::unique_ptr<data::BatchIterator> iterator;
    bool shift_labels = false; // class indices: 0-based in the core, 1-based in Lua
};

// The dataset at idx, or an error naming the call (also when it was freed).
data::Dataset &check_dataset(lua_State *L, int idx);

// Fields of an options table at idx (absent table or field: the fallback).
bool has_options(lua_State *L, int idx);
double opt_number(lua_State *L, int idx, const char *key, double fallback, const char *fn);
int64_t opt_integer(lua_State *L, int idx, const char *key, int64_t fallback, const char *fn);
bool opt_bool(lua_State *L, int idx, const char *key, bool fallback);
std::string opt_string(lua_State *L, int idx, const char *key, const std::string &fallback);
std::vector<std::string> opt_strings(lua_State *L, int idx, const char *key);
// A seed given by the script, else one drawn from the session's generator,
// so that --seed (and tensor.seed) decide every shuffle.
uint64_t opt_seed(lua_State *L, int idx, const char *fn);
void push_dataset(lua_State *L, data::Dataset dataset);

// How y lays out class labels (class_data.cpp, the rule data.target_kind
// applies to a table's y): whole numbers from 1, one per sample, are Index;
// 0/1 labels IndexColumn; one-hot rows OneHot; anything else is no labels.
std::optional<data::TargetEncoding> class_encoding(const Tensor &y);
// data.target_kind(source)
int data_target_kind(lua_State *L);
void open_dataset_type(lua_State *L);

} // namespace neurite::lua
