#include "neurite/core/registry.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/loss.h"
#include "neurite/core/module.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/suggest.h"
#include "neurite/core/plugin_call.h"
#include "neurite/core/plugin_error.h"

#include "plugin_probe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <filesystem>

#include <dlfcn.h>

#ifndef NEURITE_VERSION
#define NEURITE_VERSION "0.0.0"
#endif
#ifndef NEURITE_INSTALL_PLUGIN_DIR
#define NEURITE_INSTALL_PLUGIN_DIR ""
#endif

namespace fs = std::filesystem;

namespace neurite {

namespace {

// The sizes each struct had in ABI 1.0. A struct may be larger (a newer minor
// added fields at its end; this host reads those it knows when struct_size
// covers them) but never smaller.
//
// Minor versions: this host loads a plugin of any minor of its major, older
// or newer. An older minor's structs are what this host reads; a newer
// minor's structs are larger and read as far as this host knows them. A
// plugin that cannot work without something a newer minor added sees the
// host's version in nrt_host_info and declines by returning NULL.
constexpr uint32_t kMinPluginInfoSize = sizeof(nrt_plugin_info);
constexpr uint32_t kMinEntrySize = sizeof(nrt_entry);
constexpr uint32_t kMinParamSpecSize = sizeof(nrt_param_spec);
constexpr uint32_t kMinLayerVtableSize = offsetof(nrt_layer_vtable, prepare2); // 1.1 appended from there
// ABI 1.1 added target_kind at the end; a 1.0 loss vtable ends before it.
constexpr uint32_t kMinLossVtableSize = offsetof(nrt_loss_vtable, target_kind);
// ABI 1.3 added shard at the end; an older optimizer vtable ends before it.
constexpr uint32_t kMinOptimizerVtableSize = offsetof(nrt_optimizer_vtable, shard);

std::string version_text(uint16_t major, uint16_t minor)
{
    return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<std::string> split_choices(const char *choices)
{
    std::vector<std::string> out;
    if (!choices)
        return out;
    std::string s = choices;
    size_t start = 0;
    while (start <= s.size()) {
        size_t bar = s.find('|', start);
        if (bar == std::string::npos)
            bar = s.size();
        if (bar > start)
            out.push_back(s.substr(start, bar - start));
        start = bar + 1;
    }
    return out;
}

std::string executable_dir()
{
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

} // namespace

const char *kind_name(Kind kind)
{
    switch (kind) {
    case Kind::Layer: return "layer";
    case Kind::Activation: return "activation";
    case Kind::Loss: return "loss";
    case Kind::Optimizer: return "optimizer";
    }
    return "?";
}

std::string status_name(nrt_status status)
{
    switch (status) {
    case NRT_OK: return "no error";
    case NRT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NRT_ERR_SHAPE: return "shape error";
    case NRT_ERR_NUMERIC: return "numeric error";
    case NRT_ERR_UNSUPPORTED: return "unsupported";
    case NRT_ERR_STATE: return "state error";
    case NRT_ERR_INTERNAL: return "internal error";
    case NRT_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status " + std::to_string(status);
}

std::string call_failure(const std::string &call, nrt_status status, const char *message)
{
    // A Lua-defined entry's message may be longer than the ABI's buffer:
    // full_plugin_message restores it whole.
    return call + " failed (" + status_name(status) + "): " +
           (message && *message ? full_plugin_message(message) : std::string("the plugin gave no message"));
}

const char *loss_target_text(LossTarget target)
{
    switch (target) {
    case LossTarget::ClassIndex:
        return "one class index per sample, [N] for a prediction [N, C] (from 1 in Lua)";
    case LossTarget::SameShape:
        return "shaped as the prediction ([N] is also accepted for a prediction [N, 1])";
    case LossTarget::Undeclared:
        break;
    }
    return "not declared (an ABI 1.0 plugin): class indices when there is one value per row of a "
           "2-D prediction, else shaped as the prediction";
}

std::string Entry::help() const
{
    std::string s = name + " (" + kind_name(kind) + " " + version + ", " + origin + ")\n  " +
                    summary + "\n";
    if (kind == Kind::Loss)
        s += std::string("  Target: ") + loss_target_text(loss_target) + ".\n";
    if (params.empty())
        return s + "  No parameters.\n";
    s += "  Parameters:\n";
    for (const ParamSpec &p : params) {
        s += "    " + p.name + " (" + param_type_name(p.type) + ", " + p.default_text();
        std::string range = p.range_text();
        if (!range.empty())
            s += ", " + range;
        s += "): " + p.doc + "\n";
    }
    return s;
}

std::vector<std::string> Registry::default_search_paths()
{
    std::vector<std::string> paths;
    const std::string exe_dir = executable_dir();
    if (!exe_dir.empty()) {
        paths.push_back(exe_dir + "/../plugins");                // build tree
        paths.push_back(exe_dir + "/../lib/neurite/plugins");    // relocated install
    }
    if (*NEURITE_INSTALL_PLUGIN_DIR)
        paths.push_back(NEURITE_INSTALL_PLUGIN_DIR);
    if (const char *xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        paths.push_back(std::string(xdg) + "/neurite/plugins");
    else if (const char *home = std::getenv("HOME"); home && *home)
        paths.push_back(std::string(home) + "/.local/share/neurite/plugins");
    if (const char *env = std::getenv("NEURITE_PLUGIN_PATH")) {
        std::string list = env;
        size_t start = 0;
        while (start <= list.size()) {
            size_t colon = list.find(':', start);
            if (colon == std::string::npos)
                colon = list.size();
            if (colon > start)
                paths.push_back(list.substr(start, colon - start));
            start = colon + 1;
        }
    }
    // The same folder reached twice (build tree and install prefix) loads once.
    std::vector<std::string> unique;
    std::vector<std::string> seen;
    for (const std::string &p : paths) {
        std::error_code ec;
        std::string key = fs::weakly_canonical(p, ec).string();
        if (ec)
            key = p;
        if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
            seen.push_back(key);
            unique.push_back(p);
        }
    }
    return unique;
}

void Registry::load_default_paths()
{
    for (const std::string &dir : default_search_paths())
        load_directory(dir);
}

void Registry::load_directory(const std::string &folder)
{
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
        return;
    std::vector<std::string> files;
    for (const auto &item : fs::directory_iterator(folder, ec))
        if (item.path().extension() == ".so")
            files.push_back(item.path().string());
    std::sort(files.begin(), files.end()); // the same order on every machine
    for (std::string &f : files)
        f = canonical_file(f);
    std::vector<detail::ProbeVerdict> verdicts(files.size());
    if (m_isolated_loading)
        verdicts = detail::probe_libraries(files); // all of the folder in one probe process
    for (size_t i = 0; i < files.size(); ++i) {
        if (verdicts[i].safe)
            load_in_process(files[i]);
        else
            refuse(files[i], verdicts[i].reason);
    }
}

void Registry::refuse(const std::string &file, const std::string &reason)
{
    m_refusals.push_back({file, reason});
}

bool Registry::load_library(const std::string &file_in)
{
    const std::string file = canonical_file(file_in);
    if (m_isolated_loading && !is_loaded(file)) {
        const detail::ProbeVerdict verdict = detail::probe_libraries({file}).front();
        if (!verdict.safe) {
            refuse(file, verdict.reason);
            return false;
        }
    }
    return load_in_process(file);
}

std::string Registry::canonical_file(const std::string &file)
{
    std::error_code ec;
    std::string canonical = fs::weakly_canonical(file, ec).string();
    return ec ? file : canonical;
}

bool Registry::is_loaded(const std::string &file) const
{
    return std::find(m_loaded_files.begin(), m_loaded_files.end(), file) != m_loaded_files.end();
}

bool Registry::load_in_process(const std::string &file)
{
    if (is_loaded(file))
        return true;

    // The library's static constructors run inside dlopen.
    PluginCall loading(file.c_str(), nullptr, "dlopen (its static constructors)");
    void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        refuse(file, std::string("cannot be loaded: ") + (why ? why : "unknown dlopen error"));
        return false;
    }
    auto entry_fn = reinterpret_cast<nrt_plugin_entry_fn>(dlsym(handle, NRT_PLUGIN_ENTRY_SYMBOL));
    if (!entry_fn) {
        refuse(file, std::string("has no entry point '") + NRT_PLUGIN_ENTRY_SYMBOL +
                         "': it is not a Neurite plugin, or it was built without "
                         "NEURITE_PLUGIN(...)");
        dlclose(handle);
        return false;
    }
    nrt_host_info host{};
    host.struct_size = sizeof host;
    host.abi_major = NRT_ABI_MAJOR;
    host.abi_minor = NRT_ABI_MINOR;
    host.host_version = NEURITE_VERSION;
    const nrt_plugin_info *info = [&] {
        PluginCall call(file.c_str(), nullptr, "its entry point " NRT_PLUGIN_ENTRY_SYMBOL);
        return entry_fn(&host);
    }();
    const std::string host_abi = version_text(NRT_ABI_MAJOR, NRT_ABI_MINOR);
    if (!info) {
        refuse(file, "declined to load in this host (Neurite " NEURITE_VERSION ", plugin ABI " +
                         host_abi + ")");
        dlclose(handle);
        return false;
    }
    if (info->struct_size < kMinPluginInfoSize) {
        refuse(file, "has an unknown plugin-info struct size " + std::to_string(info->struct_size) +
                         " (ABI 1.0 has " + std::to_string(kMinPluginInfoSize) +
                         "); rebuild it against the Neurite SDK");
        dlclose(handle);
        return false;
    }
    const std::string plugin_abi = version_text(info->abi_major, info->abi_minor);
    if (info->abi_major != NRT_ABI_MAJOR) {
        const bool newer = info->abi_major > NRT_ABI_MAJOR;
        refuse(file, "was built for plugin ABI " + plugin_abi + " but this Neurite (" +
                         NEURITE_VERSION + ") speaks ABI " + host_abi + "; " +
                         (newer ? "update Neurite or rebuild the plugin against SDK " +
                                      std::to_string(NRT_ABI_MAJOR) + ".x"
                                : "rebuild the plugin against SDK " +
                                      std::to_string(NRT_ABI_MAJOR) + ".x"));
        dlclose(handle);
        return false;
    }
    const std::string library = info->library_name ? info->library_name : fs::path(file).stem().string();
    int accepted = 0;
    for (int i = 0; i < info->entry_count; ++i)
        accepted += register_entry(file, library, info->entries ? info->entries[i] : nullptr,
                                   info->abi_minor) ? 1 : 0;
    m_loaded_files.push_back(file);
    if (info->entry_count == 0)
        refuse(file, "declares no entries");
    // Libraries stay loaded even when all entries were refused: cheap, and
    // unloading code that may have started threads (OpenMP) is not safe.
    return accepted > 0;
}

bool Registry::register_entry(const std::string &file, const std::string &library,
                              const nrt_entry *e, uint16_t minor)
{
    if (!e) {
        refuse(file, "lists a null entry");
        return false;
    }
    const std::string label = std::string("entry '") + (e->name ? e->name : "?") + "'";
    if (e->struct_size < kMinEntrySize) {
        refuse(file, label + " has an unknown struct size " + std::to_string(e->struct_size) +
                         " (ABI 1.0 entries have " + std::to_string(kMinEntrySize) + ")");
        return false;
    }
    if (!e->name || !*e->name || !e->create || !e->destroy || !e->vtable) {
        refuse(file, label + " lacks a name, create, destroy or vtable");
        return false;
    }
    uint32_t vt_size = *static_cast<const uint32_t *>(e->vtable);
    uint32_t vt_min = 0;
    switch (e->kind) {
    case NRT_KIND_LAYER:
    case NRT_KIND_ACTIVATION: vt_min = kMinLayerVtableSize; break;
    case NRT_KIND_LOSS: vt_min = kMinLossVtableSize; break;
    case NRT_KIND_OPTIMIZER: vt_min = kMinOptimizerVtableSize; break;
    default:
        refuse(file, label + " has an unknown kind " + std::to_string(e->kind));
        return false;
    }
    if (vt_size < vt_min) {
        refuse(file, label + " has an unknown vtable struct size " + std::to_string(vt_size) +
                         " (ABI 1.0 has " + std::to_string(vt_min) + ")");
        return false;
    }
    LossTarget loss_target = LossTarget::Undeclared;
    if (e->kind == NRT_KIND_LOSS && vt_size >= offsetof(nrt_loss_vtable, target_kind) + sizeof(int32_t)) {
        const int32_t declared = static_cast<const nrt_loss_vtable *>(e->vtable)->target_kind;
        if (declared < NRT_TARGET_UNDECLARED || declared > NRT_TARGET_SAME_SHAPE) {
            refuse(file, label + " declares an unknown target kind " + std::to_string(declared) +
                             " (ABI " + version_text(NRT_ABI_MAJOR, NRT_ABI_MINOR) +
                             " knows 1 = class indices and 2 = the prediction's shape)");
            return false;
        }
        loss_target = static_cast<LossTarget>(declared);
    }
    if (const Entry *existing = find(e->name)) {
        refuse(file, label + " is already provided by " + existing->origin + "; skipped");
        return false;
    }
    Entry entry;
    entry.kind = static_cast<Kind>(e->kind);
    entry.name = e->name;
    entry.version = e->version ? e->version : "0";
    entry.summary = e->summary ? e->summary : "";
    entry.origin = file;
    entry.library = library;
    entry.native = e;
    entry.abi_major = NRT_ABI_MAJOR;
    entry.abi_minor = minor;
    entry.create = e->create;
    entry.destroy = e->destroy;
    entry.vtable = e->vtable;
    entry.loss_target = loss_target;
    // The schema is an array of the plugin's nrt_param_spec, whose size may
    // exceed this host's (a newer minor): step by the plugin's size.
    const uint32_t spec_stride = e->param_count > 0 && e->params ? e->params[0].struct_size : 0;
    if (e->param_count > 0 && (!e->params || spec_stride < kMinParamSpecSize)) {
        refuse(file, label + " has " + std::to_string(e->param_count) +
                         " parameters but no schema array, or specs of unknown size " +
                         std::to_string(spec_stride) + " (ABI 1.0 has " +
                         std::to_string(kMinParamSpecSize) + ")");
        return false;
    }
    for (int i = 0; i < e->param_count; ++i) {
        const nrt_param_spec &c = *reinterpret_cast<const nrt_param_spec *>(
            reinterpret_cast<const char *>(e->params) + static_cast<size_t>(i) * spec_stride);
        const std::string where = label + " parameter " + std::to_string(i + 1);
        if (c.struct_size < kMinParamSpecSize || !c.name || c.type < NRT_PARAM_INT ||
            c.type > NRT_PARAM_INT_PAIR) {
            refuse(file, where + " has an unknown struct size, no name or an unknown type");
            return false;
        }
        ParamSpec p;
        p.name = c.name;
        p.doc = c.doc ? c.doc : "";
        p.type = static_cast<ParamType>(c.type);
        p.required = c.required != 0;
        p.default_number = c.default_number;
        p.default_string = c.default_string ? c.default_string : "";
        p.list_length = c.list_length;
        if (c.default_list && c.list_length > 0)
            p.default_list.assign(c.default_list, c.default_list + c.list_length);
        p.min = c.min;
        p.max = c.max;
        p.choices = split_choices(c.choices);
        // A default the schema itself rejects would make the entry unusable.
        if (!p.required) {
            try {
                ResolvedParams probe(entry.name, {p}, {});
                ParamList self = probe.values();
                ResolvedParams again(entry.name, {p}, self);
            } catch (const Error &err) {
                refuse(file, label + ": its default is invalid: " + err.what());
                return false;
            }
        }
        entry.params.push_back(std::move(p));
    }
    m_entries.push_back(std::move(entry));
    return true;
}

const Entry &Registry::add_entry(Entry entry)
{
    if (entry.name.empty() || !entry.create || !entry.destroy || !entry.vtable)
        throw Error("cannot register '" + entry.name + "': it lacks a name, create, destroy or vtable");
    for (Entry &existing : m_entries) {
        if (existing.name != entry.name)
            continue;
        if (existing.origin == "lua" && entry.origin == "lua" && existing.kind == entry.kind) {
            existing = std::move(entry); // instances keep working: they hold their own state
            return existing;
        }
        throw Error("'" + entry.name + "' is already provided by " + existing.origin);
    }
    m_entries.push_back(std::move(entry));
    return m_entries.back();
}

const Entry *Registry::find(const std::string &name) const
{
    for (const Entry &e : m_entries)
        if (e.name == name)
            return &e;
    return nullptr;
}

const Entry &Registry::require(const std::string &name) const
{
    if (const Entry *e = find(name))
        return *e;
    std::vector<std::string> names;
    for (const Entry &e : m_entries)
        names.push_back(e.name);
    const std::string best = closest_name(name, names);
    std::string msg = "unknown plugin '" + name + "'";
    if (!best.empty())
        msg += " (did you mean '" + best + "'?)";
    else if (m_entries.empty())
        msg += ": no plugins are loaded (searched " + std::to_string(default_search_paths().size()) +
               " folders; see neurite-run --list-plugins)";
    throw Error(msg);
}

void *Registry::create_instance(const Entry &entry, const ResolvedParams &params,
                                ComputeContext &context, uint64_t seed) const
{
    char err[1024] = {};
    void *self = nullptr;
    PluginCall call(entry, "create");
    nrt_status st = entry.create(context.host(), params.c_params(), seed, &self, err, sizeof err);
    if (st != NRT_OK)
        throw Error(entry.name + ": " + call_failure("create", st, err) + " (plugin " + entry.origin + ")");
    if (!self)
        throw Error(entry.name + ": create reported success but made no instance (plugin " +
                    entry.origin + ")");
    return self;
}

namespace {

void require_kind(const Entry &e, std::initializer_list<Kind> kinds, const char *wanted)
{
    for (Kind k : kinds)
        if (e.kind == k)
            return;
    throw Error("'" + e.name + "' is a " + kind_name(e.kind) + ", not " + wanted);
}

} // namespace

std::shared_ptr<Module> Registry::create_layer(const std::string &name, const ParamList &params,
                                               ComputeContext &context, uint64_t seed) const
{
    const Entry &e = require(name);
    require_kind(e, {Kind::Layer, Kind::Activation}, "a layer or an activation");
    ResolvedParams resolved(e.name, e.params, params);
    void *self = create_instance(e, resolved, context, seed);
    return std::make_shared<Module>(e, self, resolved.values());
}

std::unique_ptr<LossFunction> Registry::create_loss(const std::string &name,
                                                    const ParamList &params,
                                                    ComputeContext &context) const
{
    const Entry &e = require(name);
    require_kind(e, {Kind::Loss}, "a loss");
    ResolvedParams resolved(e.name, e.params, params);
    void *self = create_instance(e, resolved, context, 0);
    return std::make_unique<LossFunction>(e, self, resolved.values());
}

std::unique_ptr<Optimizer> Registry::create_optimizer(const std::string &name,
                                                      const ParamList &params,
                                                      ComputeContext &context) const
{
    const Entry &e = require(name);
    require_kind(e, {Kind::Optimizer}, "an optimizer");
    ResolvedParams resolved(e.name, e.params, params);
    void *self = create_instance(e, resolved, context, 0);
    return std::make_unique<Optimizer>(e, self, resolved.values());
}

} // namespace neurite
