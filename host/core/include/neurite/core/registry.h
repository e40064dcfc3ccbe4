#pragma once

#include "neurite/core/params.h"

#include <neurite/plugin_abi.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace neurite {

class ComputeContext;
class Module;
class LossFunction;
class Optimizer;

enum class Kind { Layer = NRT_KIND_LAYER, Activation = NRT_KIND_ACTIVATION,
                  Loss = NRT_KIND_LOSS, Optimizer = NRT_KIND_OPTIMIZER };

const char *kind_name(Kind kind); // "layer", "activation", "loss", "optimizer"

// What a loss's target holds, as the loss declares it (nrt_target_kind).
enum class LossTarget {
    Undeclared = NRT_TARGET_UNDECLARED, // an ABI 1.0 loss: see LossFunction::takes_class_indices
    ClassIndex = NRT_TARGET_CLASS_INDEX,
    SameShape = NRT_TARGET_SAME_SHAPE,
};

// For help texts: "one class index per sample, ...".
const char *loss_target_text(LossTarget target);

// What a plugin's status means, for messages: "shape error", "numeric error",
// "invalid argument", ... ("unknown status 42" for a code the ABI lacks).
std::string status_name(nrt_status status);
// Every failed plugin call reads alike: "<call> failed (<status>): <message>".
std::string call_failure(const std::string &call, nrt_status status, const char *message);

// One registry entry, described by its own schema.
struct Entry {
    Kind kind = Kind::Layer;
    std::string name;
    std::string version;
    std::string summary;
    std::string origin;  // the library file, or "lua"
    std::string library; // the library's own name
    // The plugin ABI the library was built against (the host's own for "lua").
    uint16_t abi_major = NRT_ABI_MAJOR;
    uint16_t abi_minor = NRT_ABI_MINOR;
    std::vector<ParamSpec> params;
    LossTarget loss_target = LossTarget::Undeclared; // losses only

    // How instances are made and driven: the plugin's own functions for a
    // library entry (`native` set), or the same contract supplied at run time
    // for entries defined by scripts (origin "lua").
    using CreateFn = std::function<nrt_status(const nrt_host *, const nrt_params *, uint64_t seed,
                                              void **instance, char *err, size_t err_size)>;
    CreateFn create;
    void (*destroy)(void *instance) = nullptr;
    const void *vtable = nullptr; // nrt_layer_vtable, nrt_loss_vtable or nrt_optimizer_vtable
    const nrt_entry *native = nullptr;

    // Plain text for nn.help and the plugin browser, built from the schema.
    std::string help() const;
};

// A library that was not loaded, or an entry in it that was not registered.
struct Refusal {
    std::string file;
    std::string reason;
};

// Finds, loads and lists plugins. A bad library is refused with its reason and
// never takes the host down. Loaded libraries stay loaded for the process.
class Registry {
public:
    Registry() = default;
    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;

    // build/plugins beside the executable, the install prefix, the user folder
    // (~/.local/share/neurite/plugins) and NEURITE_PLUGIN_PATH, in that order.
    static std::vector<std::string> default_search_paths();

    void load_default_paths();
    // Every *.so in folder; a missing folder is skipped silently.
    void load_directory(const std::string &folder);
    // True when the library was accepted (some entries may still be refused).
    // A library is first loaded in a probe process (see isolated loading):
    // one that crashes there is refused and never loaded here.
    bool load_library(const std::string &file);
    // On by default. Off: libraries load straight into this process (a
    // process that is itself the probe, or that may crash anyway).
    void set_isolated_loading(bool on) { m_isolated_loading = on; }

    // Stable references: entries are never moved once registered.
    const std::deque<Entry> &entries() const { return m_entries; }
    // Registers an entry defined at run time (create, destroy and vtable set).
    // A name already taken is an Error, except that an entry of the same
    // origin "lua" is replaced, so a script can be edited and run again.
    const Entry &add_entry(Entry entry);
    const std::vector<Refusal> &refusals() const { return m_refusals; }
    const Entry *find(const std::string &name) const;
    // Throws Error "unknown plugin 'Dnse' (did you mean 'Dense'?)".
    const Entry &require(const std::string &name) const;

    std::shared_ptr<Module> create_layer(const std::string &name, const ParamList &params,
                                         ComputeContext &context, uint64_t seed) const;
    std::unique_ptr<LossFunction> create_loss(const std::string &name, const ParamList &params,
                                              ComputeContext &context) const;
    std::unique_ptr<Optimizer> create_optimizer(const std::string &name, const ParamList &params,
                                                ComputeContext &context) const;

private:
    void refuse(const std::string &file, const std::string &reason);
    static std::string canonical_file(const std::string &file);
    bool is_loaded(const std::string &file) const;
    bool load_in_process(const std::string &file);
    bool register_entry(const std::string &file, const std::string &library,
                        const nrt_entry *entry, uint16_t minor);
    void *create_instance(const Entry &entry, const ResolvedParams &params,
                          ComputeContext &context, uint64_t seed) const;

    std::deque<Entry> m_entries;
    std::vector<Refusal> m_refusals;
    std::vector<std::string> m_loaded_files;
    bool m_isolated_loading = true;
};

} // namespace neurite
