// The `data` module: the loaders and generators of host/core/data as Lua
// functions, and datasets as userdata (#ds, ds:get(i), ds:split, ds:batches,
// ds:normalize, ds.classes). Class indices are 1-based here, as everywhere
// in Lua; the core's 0-based labels are shifted at this boundary.
#include "dataset_box.h"
#include "sandbox.h"
#include "tensor_args.h"

#include "neurite/core/data/csv.h"
#include "neurite/core/data/current.h"
#include "neurite/core/data/generators.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/data/image_folder.h"
#include "neurite/core/data/image_grid.h"
#include "neurite/core/data/npy.h"
#include "neurite/core/data/split.h"

#include <map>
#include <mutex>

namespace neurite::lua {

namespace nd = neurite::data;

// ---- options tables

bool has_options(lua_State *L, int idx) { return lua_istable(L, idx) && !test_tensor(L, idx); }

double opt_number(lua_State *L, int idx, const char *key, double fallback, const char *fn)
{
    if (!has_options(L, idx))
        return fallback;
    lua_getfield(L, idx, key);
    double v = fallback;
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok)
            raise(L, std::string(fn) + ": option '" + key + "' must be a number, got " +
                         describe_value(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

int64_t opt_integer(lua_State *L, int idx, const char *key, int64_t fallback, const char *fn)
{
    const double v = opt_number(L, idx, key, static_cast<double>(fallback), fn);
    if (v != std::floor(v))
        raise(L, std::string(fn) + ": option '" + key + "' must be a whole number, got " +
                     param_value_text(v));
    return static_cast<int64_t>(v);
}

bool opt_bool(lua_State *L, int idx, const char *key, bool fallback)
{
    if (!has_options(L, idx))
        return fallback;
    lua_getfield(L, idx, key);
    const bool v = lua_isnil(L, -1) ? fallback : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

std::string opt_string(lua_State *L, int idx, const char *key, const std::string &fallback)
{
    if (!has_options(L, idx))
        return fallback;
    lua_getfield(L, idx, key);
    std::string v = lua_isstring(L, -1) ? lua_tostring(L, -1) : fallback;
    lua_pop(L, 1);
    return v;
}

std::vector<std::string> opt_strings(lua_State *L, int idx, const char *key)
{
    std::vector<std::string> out;
    if (!has_options(L, idx))
        return out;
    lua_getfield(L, idx, key);
    if (lua_istable(L, -1))
        for (lua_Integer i = 1; i <= luaL_len(L, -1); ++i) {
            lua_geti(L, -1, i);
            if (const char *s = lua_tostring(L, -1))
                out.emplace_back(s);
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
    return out;
}

// A seed given by the script, else one drawn from the session's generator,
// so that --seed (and tensor.seed) decide every shuffle.
uint64_t opt_seed(lua_State *L, int idx, const char *fn)
{
    if (has_options(L, idx)) {
        lua_getfield(L, idx, "seed");
        const bool given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given)
            return static_cast<uint64_t>(opt_integer(L, idx, "seed", 0, fn));
    }
    return detail::session(L).rng();
}

namespace {

nd::TargetMode target_mode(lua_State *L, const std::string &s, const char *fn)
{
    if (s == "auto") return nd::TargetMode::Auto;
    if (s == "classes") return nd::TargetMode::Classes;
    if (s == "values") return nd::TargetMode::Values;
    if (s == "none") return nd::TargetMode::None;
    raise(L, std::string(fn) + ": target_kind must be auto, classes, values or none, got \"" + s + "\"");
}

// ---- loaders and generators

template <class Fn>
int dataset_result(lua_State *L, Fn &&make)
{
    detail::ActiveScope scope(L);
    // Every file the loader opens or lists passes the sandbox's rule.
    nd::ReadCheckScope reads(&detail::session(L).read_check);
    return guarded(L, [&] {
        push_dataset(L, make());
        return 1;
    });
}

int data_fashion_mnist(lua_State *L)
{
    check_optional_options(L, 1, "data.fashion_mnist", {"split", "dir"});
    const std::string split = opt_string(L, 1, "split", "");
    const std::string dir = opt_string(L, 1, "dir", nd::kFashionMnistDir);
    if (!split.empty() && split != "train" && split != "test")
        raise(L, "data.fashion_mnist: split must be \"train\" or \"test\", got \"" + split + "\"");
    check_read_path(L, dir, "data.fashion_mnist");
    // Loaded once per process: datasets are immutable and shared by views.
    static std::mutex mutex;
    static std::map<std::string, nd::TrainTest> cache;
    nd::ReadCheckScope reads(&detail::session(L).read_check);
    return guarded(L, [&] {
        nd::TrainTest sets;
        {
            std::lock_guard lock(mutex);
            auto it = cache.find(dir);
            if (it == cache.end())
                it = cache.emplace(dir, nd::load_fashion_mnist(dir)).first;
            sets = it->second;
        }
        if (split == "test") {
            push_dataset(L, sets.test);
            return 1;
        }
        push_dataset(L, sets.train);
        if (!split.empty())
            return 1;
        push_dataset(L, sets.test); // no split: train, test
        return 2;
    });
}

int data_idx(lua_State *L)
{
    const std::string images = luaL_checkstring(L, 1);
    const std::string labels = luaL_optstring(L, 2, "");
    nd::IdxOptions o;
    check_optional_options(L, 3, "data.idx", {"scale", "classes"});
    o.scale_to_unit = opt_bool(L, 3, "scale", true);
    o.class_names = opt_strings(L, 3, "classes");
    return dataset_result(L, [&] { return nd::load_idx(images, labels, o); });
}

// The target column given by number: from 1, or from the end when negative
// (-1 is the last), as the core counts it from 0 or from the end.
int csv_target_index(lua_State *L, int idx)
{
    const int64_t column = check_int(L, idx, "data.csv", "target");
    constexpr int64_t kMostColumns = 1 << 24;
    if (column == 0 || column > kMostColumns || column < -kMostColumns)
        raise(L, "data.csv: target = " + std::to_string(column) +
                     " is not a column; columns count from 1 (-1 is the last), or name one by its header");
    return static_cast<int>(column > 0 ? column - 1 : column);
}

int data_csv(lua_State *L)
{
    const std::string path = luaL_checkstring(L, 1);
    nd::CsvOptions o;
    check_optional_options(L, 2, "data.csv", {"target", "delimiter", "header", "target_kind", "skip_incomplete"});
    if (has_options(L, 2)) {
        lua_getfield(L, 2, "target");
        if (lua_type(L, -1) == LUA_TNUMBER)
            o.target_index = csv_target_index(L, -1);
        else if (lua_type(L, -1) == LUA_TSTRING)
            o.target_column = lua_tostring(L, -1);
        lua_pop(L, 1);
        const std::string delimiter = opt_string(L, 2, "delimiter", "");
        if (delimiter.size() > 1)
            raise(L, "data.csv: delimiter must be one character, got \"" + delimiter + "\"");
        o.delimiter = delimiter.empty() ? 0 : delimiter[0];
        lua_getfield(L, 2, "header");
        if (lua_isboolean(L, -1))
            o.header = lua_toboolean(L, -1) ? nd::HeaderMode::Present : nd::HeaderMode::Absent;
        lua_pop(L, 1);
        o.target = target_mode(L, opt_string(L, 2, "target_kind", "auto"), "data.csv");
        o.skip_incomplete_rows = opt_bool(L, 2, "skip_incomplete", false);
    }
    return dataset_result(L, [&] { return nd::load_csv(path, o); });
}

int data_npy(lua_State *L)
{
    const std::string x = luaL_checkstring(L, 1);
    const std::string y = luaL_optstring(L, 2, "");
    nd::NpyOptions o;
    check_optional_options(L, 3, "data.npy", {"target_kind", "scale", "classes"});
    o.target = target_mode(L, opt_string(L, 3, "target_kind", "auto"), "data.npy");
    o.scale_to_unit = opt_bool(L, 3, "scale", false);
    o.class_names = opt_strings(L, 3, "classes");
    return dataset_result(L, [&] { return nd::load_npy(x, y, o); });
}

int data_images(lua_State *L)
{
    const std::string folder = luaL_checkstring(L, 1);
    nd::ImageFolderOptions o;
    check_optional_options(L, 2, "data.images", {"size", "grayscale", "skip_unreadable", "scale"});
    if (has_options(L, 2)) {
        lua_getfield(L, 2, "size");
        if (lua_istable(L, -1)) {
            const Shape s = shape_from_table(L, -1, "data.images");
            if (s.size() != 2)
                raise(L, "data.images: size must be {width, height}");
            o.width = static_cast<int>(s[0]);
            o.height = static_cast<int>(s[1]);
        }
        lua_pop(L, 1);
        o.grayscale = opt_bool(L, 2, "grayscale", true);
        o.skip_unreadable = opt_bool(L, 2, "skip_unreadable", true);
        o.scale_to_unit = opt_bool(L, 2, "scale", true);
    }
    return dataset_result(L, [&] { return nd::load_image_folder(folder, o); });
}

int data_gates(lua_State *L)
{
    const std::string gate = luaL_checkstring(L, 1);
    return dataset_result(L, [&] { return nd::make_gate(gate); });
}

int data_xor(lua_State *L)
{
    nd::XorCloudsOptions o;
    check_optional_options(L, 1, "data.xor", {"count", "noise", "seed"});
    o.count = opt_integer(L, 1, "count", o.count, "data.xor");
    o.noise = opt_number(L, 1, "noise", o.noise, "data.xor");
    o.seed = opt_seed(L, 1, "data.xor");
    return dataset_result(L, [&] { return nd::make_xor_clouds(o); });
}

int data_gaussians(lua_State *L)
{
    nd::GaussiansOptions o;
    check_optional_options(L, 1, "data.gaussians", {"count", "separation", "stddev", "seed"});
    o.count = opt_integer(L, 1, "count", o.count, "data.gaussians");
    o.separation = opt_number(L, 1, "separation", o.separation, "data.gaussians");
    o.stddev = opt_number(L, 1, "stddev", o.stddev, "data.gaussians");
    o.seed = opt_seed(L, 1, "data.gaussians");
    return dataset_result(L, [&] { return nd::make_gaussians(o); });
}

int data_moons(lua_State *L)
{
    nd::MoonsOptions o;
    check_optional_options(L, 1, "data.moons", {"count", "noise", "seed"});
    o.count = opt_integer(L, 1, "count", o.count, "data.moons");
    o.noise = opt_number(L, 1, "noise", o.noise, "data.moons");
    o.seed = opt_seed(L, 1, "data.moons");
    return dataset_result(L, [&] { return nd::make_moons(o); });
}

int data_spirals(lua_State *L)
{
    nd::SpiralsOptions o;
    check_optional_options(L, 1, "data.spirals", {"count", "arms", "turns", "noise", "seed"});
    o.count = opt_integer(L, 1, "count", o.count, "data.spirals");
    o.arms = static_cast<int>(opt_integer(L, 1, "arms", o.arms, "data.spirals"));
    o.turns = opt_number(L, 1, "turns", o.turns, "data.spirals");
    o.noise = opt_number(L, 1, "noise", o.noise, "data.spirals");
    o.seed = opt_seed(L, 1, "data.spirals");
    return dataset_result(L, [&] { return nd::make_spirals(o); });
}

int data_sine(lua_State *L)
{
    nd::SineOptions o;
    check_optional_options(L, 1, "data.sine",
                           {"count", "x_min", "x_max", "frequency", "amplitude", "noise", "evenly_spaced", "seed"});
    o.count = opt_integer(L, 1, "count", o.count, "data.sine");
    o.x_min = opt_number(L, 1, "x_min", o.x_min, "data.sine");
    o.x_max = opt_number(L, 1, "x_max", o.x_max, "data.sine");
    o.frequency = opt_number(L, 1, "frequency", o.frequency, "data.sine");
    o.amplitude = opt_number(L, 1, "amplitude", o.amplitude, "data.sine");
    o.noise = opt_number(L, 1, "noise", o.noise, "data.sine");
    o.evenly_spaced = opt_bool(L, 1, "evenly_spaced", false);
    o.seed = opt_seed(L, 1, "data.sine");
    return dataset_result(L, [&] { return nd::make_sine(o); });
}

// data.tensors(x, y, {kind = "classes"|"values", classes = {...}}): y's
// classes are 1-based, as the rest of the Lua API counts them.
int data_tensors(lua_State *L)
{
    const Tensor &x = check_tensor(L, 1);
    Tensor y = check_tensor(L, 2);
    check_optional_options(L, 3, "data.tensors", {"kind", "classes"});
    // By default classes when y holds class indices [N] (whole numbers from
    // 1), by the rule of data.target_kind; never by y's shape alone.
    const bool indices = y.dim() == 1 && class_encoding(y) == nd::TargetEncoding::Index;
    const std::string kind = opt_string(L, 3, "kind", indices ? "classes" : "values");
    if (kind != "classes" && kind != "values")
        raise(L, "data.tensors: kind must be \"classes\" or \"values\", got \"" + kind + "\"");
    const auto names = opt_strings(L, 3, "classes");
    return dataset_result(L, [&] {
        if (kind == "classes")
            return nd::Dataset::from_tensors(x, to_zero_based(y), nd::TargetKind::Classes, names);
        return nd::Dataset::from_tensors(x, y, nd::TargetKind::Values, names);
    });
}

// The images to draw: one tensor, or a list of tensors of one shape whose
// i-th images go side by side in row i (originals beside reconstructions).
Tensor images_argument(lua_State *L, int idx, int &columns)
{
    if (test_tensor(L, idx))
        return check_tensor(L, idx);
    if (!lua_istable(L, idx) || luaL_len(L, idx) < 1)
        raise(L, "data.save_images: images must be a tensor [N, C, H, W] or a list of them, got " +
                     describe_value(L, idx));
    std::vector<Tensor> lists;
    for (lua_Integer i = 1; i <= luaL_len(L, idx); ++i) {
        lua_geti(L, idx, i);
        if (!test_tensor(L, -1))
            raise(L, "data.save_images: images[" + std::to_string(i) + "] must be a tensor, got " +
                         describe_value(L, -1));
        lists.push_back(check_tensor(L, -1).contiguous());
        lua_pop(L, 1);
        if (lists.back().shape() != lists.front().shape() || lists.back().dim() < 1)
            raise(L, "data.save_images: images[" + std::to_string(i) + "] is " + lists.back().shape().to_string() +
                         ", images[1] " + lists.front().shape().to_string() + ": they must have one shape");
    }
    columns = static_cast<int>(lists.size());
    return nd::interleave_images(lists);
}

// data.save_images(path, images [, {columns, scale, gap, range, color}]) -> width, height
int data_save_images(lua_State *L)
{
    const char *fn = "data.save_images";
    const std::string path = luaL_checkstring(L, 1);
    check_optional_options(L, 3, fn, {"columns", "scale", "gap", "range", "color"});
    nd::ImageGridOptions o;
    const Tensor images = images_argument(L, 2, o.columns);
    o.columns = static_cast<int>(opt_integer(L, 3, "columns", o.columns, fn));
    o.scale = static_cast<int>(opt_integer(L, 3, "scale", 1, fn));
    o.gap = static_cast<int>(opt_integer(L, 3, "gap", 1, fn));
    o.color = opt_bool(L, 3, "color", images.dim() == 4 && images.size(1) == 3);
    if (has_options(L, 3)) {
        lua_getfield(L, 3, "range");
        if (lua_istable(L, -1)) {
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > lua_tonumber(L, -2)))
                raise(L, "data.save_images: range must be {lo, hi} with lo < hi, \"shared\" or \"symmetric\"");
            o.range = nd::ImageGridOptions::Range::Given;
            o.lo = static_cast<float>(lua_tonumber(L, -2));
            o.hi = static_cast<float>(lua_tonumber(L, -1));
            lua_pop(L, 2);
        } else if (lua_isstring(L, -1) && std::string(lua_tostring(L, -1)) == "symmetric") {
            o.range = nd::ImageGridOptions::Range::Symmetric;
        } else if (!lua_isnil(L, -1) && !(lua_isstring(L, -1) && std::string(lua_tostring(L, -1)) == "shared")) {
            raise(L, "data.save_images: range must be {lo, hi} with lo < hi, \"shared\" or \"symmetric\"");
        }
        lua_pop(L, 1);
    }
    check_write_path(L, path, fn);
    return guarded(L, [&] {
        const nd::ImageGrid grid = nd::render_image_grid(images, o);
        nd::write_image_grid(grid, path);
        lua_pushinteger(L, grid.width);
        lua_pushinteger(L, grid.height);
        return 2;
    });
}

// The dataset opened in the window's data panel, or nil.
int data_current(lua_State *L)
{
    nd::Dataset ds = nd::current_dataset();
    if (ds.empty()) {
        lua_pushnil(L);
        return 1;
    }
    push_dataset(L, std::move(ds));
    return 1;
}

} // namespace

void open_data(lua_State *L)
{
    open_dataset_type(L);
    static const luaL_Reg functions[] = {
        {"fashion_mnist", data_fashion_mnist}, {"idx", data_idx},       {"csv", data_csv},
        {"npy", data_npy},                     {"images", data_images}, {"gates", data_gates},
        {"xor", data_xor},                     {"gaussians", data_gaussians}, {"moons", data_moons},
        {"spirals", data_spirals},             {"sine", data_sine},     {"tensors", data_tensors},
        {"target_kind", data_target_kind},
        {"current", data_current},             {"save_images", data_save_images},
        {nullptr, nullptr}};
    luaL_newlib(L, functions);
}

} // namespace neurite::lua
