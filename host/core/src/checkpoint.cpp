#include "neurite/core/checkpoint.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/durable_file.h"
#include "neurite/core/error.h"
#include "neurite/core/registry.h"

#include <QFile>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace neurite {

namespace {

constexpr char kSignature[8] = {'N', 'R', 'T', 'C', 'K', 'P', 'T', '\0'};

std::string hex(uint32_t v)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// CRC-32 (IEEE 802.3, as gzip and PNG use it); crc32_z takes a size_t length.
uint32_t checksum(std::span<const uint8_t> bytes)
{
    return static_cast<uint32_t>(crc32_z(0, bytes.data(), bytes.size()));
}

template <class T> void put(std::vector<uint8_t> &out, T v)
{
    const auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof v);
}

template <class T> T get(std::span<const uint8_t> bytes, size_t at)
{
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
}

// As the model's own errors name it: "layer 2 (Dense)" in a Sequential, else "node 2 (Dense)".
std::string node_label(const std::string &where, size_t i, const CheckpointNode &n, const CheckpointModel &in)
{
    return where + (in.type == "Sequential" ? "layer " : "node ") + std::to_string(i + 1) + " (" +
           (n.model ? n.model->type : n.entry) + ")";
}

CheckpointModel capture_model(Model &model)
{
    model.finalize();
    CheckpointModel m;
    m.type = model.type_name() == "Sequential" ? "Sequential" : "Model";
    for (int i = 0; i < model.input_count(); ++i)
        m.inputs.push_back(model.input(i));
    for (int i = 0; i < model.node_count(); ++i) {
        CheckpointNode n;
        n.inputs = model.node(i).inputs;
        Layer &layer = model.layer(i);
        if (auto *inner = dynamic_cast<Model *>(&layer)) {
            n.model = std::make_shared<CheckpointModel>(capture_model(*inner));
        } else {
            auto &mod = static_cast<Module &>(layer);
            n.entry = mod.name();
            n.version = mod.entry().version;
            n.library = mod.entry().origin == "lua" ? "lua" : mod.entry().library;
            n.config = mod.config();
            for (const Parameter &p : mod.parameters())
                n.parameters.emplace_back(p.name, p.value.clone());
            n.extra_state = mod.save_extra_state();
        }
        m.nodes.push_back(std::move(n));
    }
    m.outputs = model.outputs();
    return m;
}

std::shared_ptr<Layer> build_node(const CheckpointNode &n, const std::string &label, const Registry &registry,
                                  ComputeContext &context, uint64_t seed, const std::string &source);

// A built-in layer's config as it was trained, in today's parameters. GELU
// was the tanh approximation by default until the exact erf form became the
// default (as in PyTorch and Keras): GELU's parameter was then called
// approximation = "tanh" | "erf", and Dense's gelu had no approximate and
// was tanh. Models saved then load with the form they were trained with.
ParamList as_trained(const CheckpointNode &node)
{
    ParamList config = node.config;
    if (node.library == "lua")
        return config;
    auto find = [&config](const char *name) {
        return std::find_if(config.begin(), config.end(), [name](const auto &p) { return p.first == name; });
    };
    auto is = [](const ParamValue &v, const char *text) {
        return std::holds_alternative<std::string>(v) && std::get<std::string>(v) == text;
    };
    if (node.entry == "GELU") {
        if (auto old = find("approximation"); old != config.end())
            *old = {"approximate", std::string(is(old->second, "tanh") ? "tanh" : "none")};
    } else if (node.entry == "Dense" && find("approximate") == config.end()) {
        if (auto act = find("activation"); act != config.end() && is(act->second, "gelu"))
            config.emplace_back("approximate", std::string("tanh"));
    }
    return config;
}

std::shared_ptr<Model> build_model(const CheckpointModel &m, const std::string &where, const Registry &registry,
                                   ComputeContext &context, uint64_t seed, const std::string &source)
{
    if (m.type == "Sequential") {
        auto seq = std::make_shared<Sequential>();
        for (size_t i = 0; i < m.nodes.size(); ++i) {
            const Model::Ref chain = i == 0 ? Model::Ref{Model::kInput, 0} : Model::Ref{static_cast<int>(i) - 1, 0};
            if (m.nodes[i].inputs.size() != 1 || !(m.nodes[i].inputs[0] == chain))
                throw Error("checkpoint '" + source + "': " + node_label(where, i, m.nodes[i], m) +
                            " of a Sequential does not read the layer before it");
            seq->add(build_node(m.nodes[i], node_label(where, i, m.nodes[i], m), registry, context, seed + i, source));
        }
        return seq;
    }
    auto model = std::make_shared<Model>();
    for (const Model::Input &in : m.inputs)
        model->add_input(in.sample_shape, in.name);
    for (size_t i = 0; i < m.nodes.size(); ++i)
        model->add_node(build_node(m.nodes[i], node_label(where, i, m.nodes[i], m), registry, context, seed + i, source),
                        m.nodes[i].inputs);
    model->set_outputs(m.outputs);
    model->finalize();
    return model;
}

std::shared_ptr<Layer> build_node(const CheckpointNode &n, const std::string &label, const Registry &registry,
                                  ComputeContext &context, uint64_t seed, const std::string &source)
{
    if (n.model)
        return build_model(*n.model, label + ": ", registry, context, seed * 31 + 7, source);
    const Entry *e = registry.find(n.entry);
    if (!e) {
        const std::string head = "checkpoint '" + source + "' needs " + label + " but '" + n.entry +
                                 "' is not registered: ";
        if (n.library == "lua")
            throw Error(head + "it was defined in Lua; run its nn.define{name=\"" + n.entry +
                        "\", ...} before loading the model");
        throw Error(head + "it comes from the plugin library " + n.library + " (" + n.entry + " " + n.version +
                    "), which is not loaded (see neurite-run --list-plugins)");
    }
    try {
        return registry.create_layer(n.entry, as_trained(n), context, seed);
    } catch (const Error &err) {
        throw Error("checkpoint '" + source + "': " + label + " (saved by version " + n.version + ", " +
                    e->version + " installed): " + err.what());
    }
}

// Checks that the model has this graph's nodes and parameter shapes.
void check_same(const CheckpointModel &m, Model &model, const std::string &where, const std::string &source)
{
    const std::string head = "checkpoint '" + source + "': ";
    const char *what = m.type == "Sequential" ? " layers" : " nodes";
    if (static_cast<size_t>(model.node_count()) != m.nodes.size())
        throw Error(head + where + "has " + std::to_string(m.nodes.size()) + what + " but the model has " +
                    std::to_string(model.node_count()));
    for (size_t i = 0; i < m.nodes.size(); ++i) {
        const CheckpointNode &n = m.nodes[i];
        const std::string label = node_label(where, i, n, m);
        Layer &layer = model.layer(static_cast<int>(i));
        if (n.model) {
            auto *inner = dynamic_cast<Model *>(&layer);
            if (!inner)
                throw Error(head + label + " is a model but the model's node is " + layer.type_name());
            check_same(*n.model, *inner, label + ": ", source);
            continue;
        }
        auto *mod = dynamic_cast<Module *>(&layer);
        if (!mod || mod->name() != n.entry)
            throw Error(head + label + " does not match the model's " + layer.type_name());
        const auto params = mod->parameters();
        if (params.size() != n.parameters.size())
            throw Error(head + label + " has " + std::to_string(n.parameters.size()) +
                        " parameter tensors but the layer has " + std::to_string(params.size()));
        for (size_t k = 0; k < params.size(); ++k) {
            const auto &[name, value] = n.parameters[k];
            if (!(value.shape() == params[k].value.shape()))
                throw Error(head + label + " parameter '" + name + "' has shape " + value.shape().to_string() +
                            " in the file but " + params[k].value.shape().to_string() + " in the layer");
        }
    }
}

void copy_into(const CheckpointModel &m, Model &model)
{
    for (size_t i = 0; i < m.nodes.size(); ++i) {
        const CheckpointNode &n = m.nodes[i];
        Layer &layer = model.layer(static_cast<int>(i));
        if (n.model) {
            copy_into(*n.model, static_cast<Model &>(layer));
            continue;
        }
        auto &mod = static_cast<Module &>(layer);
        auto params = mod.parameters();
        for (size_t k = 0; k < params.size(); ++k)
            params[k].value.copy_from(n.parameters[k].second);
        mod.load_extra_state(n.extra_state);
    }
}

} // namespace

Checkpoint Checkpoint::capture(Model &model)
{
    Checkpoint c;
    c.model = capture_model(model);
    return c;
}

void Checkpoint::set_section(const std::string &name, std::vector<uint8_t> bytes)
{
    for (auto &[n, b] : sections)
        if (n == name) {
            b = std::move(bytes);
            return;
        }
    sections.emplace_back(name, std::move(bytes));
}

const std::vector<uint8_t> *Checkpoint::section(const std::string &name) const
{
    for (const auto &[n, b] : sections)
        if (n == name)
            return &b;
    return nullptr;
}

// Header, little-endian: 0 "NRTCKPT\0", 8 u32 format version, 12 u32 0,
// 16 u64 payload size, 24 u32 CRC-32 of the payload, 28 u32 0.
std::vector<uint8_t> Checkpoint::serialize() const
{
    const std::vector<uint8_t> payload = detail::encode_v2(*this);
    std::vector<uint8_t> out(kSignature, kSignature + sizeof kSignature);
    out.reserve(kHeaderSize + payload.size());
    put<uint32_t>(out, kFormatVersion);
    put<uint32_t>(out, 0);
    put<uint64_t>(out, payload.size());
    put<uint32_t>(out, checksum(payload));
    put<uint32_t>(out, 0);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

Checkpoint Checkpoint::parse(std::span<const uint8_t> bytes, const std::string &source)
{
    if (bytes.size() < sizeof kSignature || std::memcmp(bytes.data(), kSignature, sizeof kSignature) != 0)
        throw Error("'" + source + "' is not a Neurite checkpoint: bytes 0-7 are not the signature \"NRTCKPT\"");
    if (bytes.size() < kHeaderSize)
        throw Error("checkpoint '" + source + "' is truncated: the header needs " + std::to_string(kHeaderSize) +
                    " bytes, the file has " + std::to_string(bytes.size()));
    const auto version = get<uint32_t>(bytes, 8);
    if (version < 1 || version > kFormatVersion)
        throw Error("checkpoint '" + source + "' has format version " + std::to_string(version) +
                    " (byte 8) but this Neurite reads versions 1 to " + std::to_string(kFormatVersion) +
                    (version > kFormatVersion ? "; it was written by a newer Neurite" : ""));
    const auto size = get<uint64_t>(bytes, 16);
    const auto stored_crc = get<uint32_t>(bytes, 24);
    const uint64_t available = bytes.size() - kHeaderSize;
    if (size > available)
        throw Error("checkpoint '" + source + "' is truncated: the header (byte 16) announces " +
                    std::to_string(size) + " bytes of payload but the file ends at byte " +
                    std::to_string(bytes.size()) + ", " + std::to_string(size - available) + " bytes short");
    if (size < available)
        throw Error("checkpoint '" + source + "' has " + std::to_string(available - size) +
                    " unexpected bytes after its end at byte " + std::to_string(kHeaderSize + size));
    const auto payload = bytes.subspan(kHeaderSize, size);
    const uint32_t crc = checksum(payload);
    if (crc != stored_crc)
        throw Error("checkpoint '" + source + "' is corrupt: the checksum of bytes " + std::to_string(kHeaderSize) +
                    "-" + std::to_string(bytes.size()) + " is " + hex(crc) + " but the header (byte 24) says " +
                    hex(stored_crc));
    Checkpoint c;
    if (version == 1)
        detail::decode_v1(payload, kHeaderSize, source, c);
    else
        detail::decode_v2(payload, kHeaderSize, source, c);
    return c;
}

void Checkpoint::write(const std::string &path) const
{
    if (path.empty()) // Qt would print a warning of its own
        throw Error("cannot write a checkpoint: the path is empty");
    // Flushed to disk, file and folder, before it replaces the old one.
    try {
        durable_write(path, serialize());
    } catch (const Error &e) {
        throw Error("cannot write checkpoint: " + std::string(e.what()) + " (the previous file, if any, is unchanged)");
    }
}

Checkpoint Checkpoint::read(const std::string &path)
{
    if (path.empty()) // Qt would print a warning of its own
        throw Error("cannot open a checkpoint: the path is empty");
    QFile file(QString::fromStdString(path));
    if (!file.open(QIODevice::ReadOnly))
        throw Error("cannot open checkpoint '" + path + "': " + file.errorString().toStdString());
    const QByteArray data = file.readAll();
    return parse(std::span(reinterpret_cast<const uint8_t *>(data.constData()),
                           static_cast<size_t>(data.size())),
                 path);
}

std::shared_ptr<Model> Checkpoint::build(const Registry &registry, ComputeContext &context, uint64_t seed,
                                         const std::string &source) const
{
    auto m = build_model(model, "", registry, context, seed, source);
    restore(*m, source);
    return m;
}

void Checkpoint::restore(Model &target, const std::string &source) const
{
    check_same(model, target, "", source);
    copy_into(model, target);
}

} // namespace neurite
