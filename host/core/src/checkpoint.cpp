#include "neurite/core/checkpoint.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/registry.h"
#include "neurite/core/sequential.h"

#include <QFile>
#include <QSaveFile>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace neurite {

namespace {

constexpr char kSignature[8] = {'N', 'R', 'T', 'C', 'K', 'P', 'T', '\0'};
// A plugin's extra state or a section beyond this is certainly a corrupt length.
constexpr uint64_t kMaxBlob = uint64_t(1) << 40;

enum ValueKind : uint8_t { kNumber = 0, kBool = 1, kString = 2, kList = 3 };

// CRC-32 (IEEE 802.3, as gzip and PNG use it); crc32_z takes a size_t length.
uint32_t checksum(std::span<const uint8_t> bytes)
{
    return static_cast<uint32_t>(crc32_z(0, bytes.data(), bytes.size()));
}

std::string hex(uint32_t v)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

class Writer {
public:
    explicit Writer(std::vector<uint8_t> &out) : m_out(out) {}
    void bytes(const void *p, size_t n)
    {
        const auto *b = static_cast<const uint8_t *>(p);
        m_out.insert(m_out.end(), b, b + n);
    }
    template <class T> void value(T v) { bytes(&v, sizeof v); }
    void str(const std::string &s)
    {
        value<uint32_t>(static_cast<uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    void blob(const std::vector<uint8_t> &b)
    {
        value<uint64_t>(b.size());
        bytes(b.data(), b.size());
    }

private:
    std::vector<uint8_t> &m_out;
};

// Bounds-checked reads; every error names the source and the byte offset.
class Reader {
public:
    Reader(std::span<const uint8_t> bytes, size_t base, const std::string &source)
        : m_bytes(bytes), m_base(base), m_source(source) {}

    size_t offset() const { return m_base + m_pos; }

    void need(uint64_t n, const std::string &what) const
    {
        if (n > m_bytes.size() - m_pos)
            throw Error("checkpoint '" + m_source + "' is truncated: " + what + " at byte " +
                        std::to_string(offset()) + " needs " + std::to_string(n) +
                        " bytes but only " + std::to_string(m_bytes.size() - m_pos) +
                        " remain");
    }
    void bytes(void *dst, size_t n, const std::string &what)
    {
        need(n, what);
        std::memcpy(dst, m_bytes.data() + m_pos, n);
        m_pos += n;
    }
    template <class T> T value(const std::string &what)
    {
        T v;
        bytes(&v, sizeof v, what);
        return v;
    }
    std::string str(const std::string &what)
    {
        const auto n = value<uint32_t>(what + " length");
        need(n, what);
        std::string s(reinterpret_cast<const char *>(m_bytes.data() + m_pos), n);
        m_pos += n;
        return s;
    }
    std::vector<uint8_t> blob(const std::string &what)
    {
        const size_t at = offset();
        const auto n = value<uint64_t>(what + " length");
        if (n > kMaxBlob)
            fail(at, what + " claims " + std::to_string(n) + " bytes");
        need(n, what);
        std::vector<uint8_t> b(m_bytes.begin() + static_cast<long>(m_pos),
                               m_bytes.begin() + static_cast<long>(m_pos + n));
        m_pos += n;
        return b;
    }
    [[noreturn]] void fail(size_t at, const std::string &why) const
    {
        throw Error("checkpoint '" + m_source + "' is corrupt at byte " + std::to_string(at) +
                    ": " + why);
    }
    bool at_end() const { return m_pos == m_bytes.size(); }

private:
    std::span<const uint8_t> m_bytes;
    size_t m_pos = 0;
    size_t m_base;
    const std::string &m_source;
};

void write_value(Writer &w, const ParamValue &v)
{
    switch (v.index()) {
    case 0:
        w.value<uint8_t>(kNumber);
        w.value<double>(std::get<double>(v));
        break;
    case 1:
        w.value<uint8_t>(kBool);
        w.value<uint8_t>(std::get<bool>(v) ? 1 : 0);
        break;
    case 2:
        w.value<uint8_t>(kString);
        w.str(std::get<std::string>(v));
        break;
    default: {
        const auto &list = std::get<std::vector<double>>(v);
        w.value<uint8_t>(kList);
        w.value<uint32_t>(static_cast<uint32_t>(list.size()));
        for (double d : list)
            w.value<double>(d);
    }
    }
}

ParamValue read_value(Reader &r, const std::string &what)
{
    const size_t at = r.offset();
    switch (r.value<uint8_t>(what + " kind")) {
    case kNumber: return r.value<double>(what);
    case kBool: return r.value<uint8_t>(what) != 0;
    case kString: return r.str(what);
    case kList: {
        const auto n = r.value<uint32_t>(what + " length");
        r.need(uint64_t(n) * sizeof(double), what);
        std::vector<double> list(n);
        r.bytes(list.data(), list.size() * sizeof(double), what);
        return list;
    }
    default: r.fail(at, what + " has an unknown value kind");
    }
}

// A tensor as stored: u32 rank, i64 dims[rank], f32 values.
void write_tensor(Writer &w, const Tensor &t)
{
    w.value<uint32_t>(static_cast<uint32_t>(t.dim()));
    for (int d = 0; d < t.dim(); ++d)
        w.value<int64_t>(t.size(d));
    w.bytes(t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
}

Tensor read_tensor(Reader &r, const std::string &what)
{
    const size_t dims_at = r.offset();
    const auto ndims = r.value<uint32_t>(what + " rank");
    if (ndims < 1 || ndims > static_cast<uint32_t>(Shape::kMaxDims))
        r.fail(dims_at, what + " has rank " + std::to_string(ndims));
    Shape shape;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < ndims; ++d) {
        const auto n = r.value<int64_t>(what + " dimension");
        if (n < 0 || (n > 0 && numel > std::numeric_limits<uint32_t>::max() / uint64_t(n)))
            r.fail(dims_at, what + " has an impossible dimension " + std::to_string(n));
        numel *= static_cast<uint64_t>(n);
        shape.push_back(n);
    }
    r.need(numel * sizeof(float), what + " values");
    Tensor t(shape);
    r.bytes(t.data(), numel * sizeof(float), what + " values");
    return t;
}

std::string layer_label(size_t i, const std::string &entry)
{
    return "layer " + std::to_string(i + 1) + " (" + entry + ")";
}

// A built-in layer's config as it was trained, in today's parameters. GELU
// was the tanh approximation by default until the exact erf form became the
// default (as in PyTorch and Keras): GELU's parameter was then called
// approximation = "tanh" | "erf", and Dense's gelu had no approximate and
// was tanh. Models saved then load with the form they were trained with.
ParamList as_trained(const CheckpointLayer &layer)
{
    ParamList config = layer.config;
    if (layer.origin == "lua")
        return config;
    auto find = [&config](const char *name) {
        return std::find_if(config.begin(), config.end(), [name](const auto &p) { return p.first == name; });
    };
    auto is = [](const ParamValue &v, const char *text) {
        return std::holds_alternative<std::string>(v) && std::get<std::string>(v) == text;
    };
    if (layer.entry == "GELU") {
        if (auto old = find("approximation"); old != config.end())
            *old = {"approximate", std::string(is(old->second, "tanh") ? "tanh" : "none")};
    } else if (layer.entry == "Dense" && find("approximate") == config.end()) {
        if (auto act = find("activation"); act != config.end() && is(act->second, "gelu"))
            config.emplace_back("approximate", std::string("tanh"));
    }
    return config;
}

} // namespace

Checkpoint Checkpoint::capture(const Sequential &model)
{
    Checkpoint c;
    for (int i = 0; i < model.size(); ++i) {
        const Module &m = model.at(i);
        CheckpointLayer layer;
        layer.entry = m.name();
        layer.origin = m.entry().origin;
        layer.config = m.config();
        for (const Parameter &p : m.parameters())
            layer.parameters.emplace_back(p.name, p.value.clone());
        layer.extra_state = m.save_extra_state();
        c.layers.push_back(std::move(layer));
    }
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

std::vector<uint8_t> Checkpoint::serialize() const
{
    std::vector<uint8_t> payload;
    Writer w(payload);
    w.value<uint32_t>(static_cast<uint32_t>(layers.size()));
    for (const CheckpointLayer &l : layers) {
        w.str(l.entry);
        w.str(l.origin);
        w.value<uint32_t>(static_cast<uint32_t>(l.config.size()));
        for (const auto &[name, value] : l.config) {
            w.str(name);
            write_value(w, value);
        }
        w.value<uint32_t>(static_cast<uint32_t>(l.parameters.size()));
        for (const auto &[name, t] : l.parameters) {
            w.str(name);
            write_tensor(w, t);
        }
        w.blob(l.extra_state);
    }
    w.value<uint32_t>(static_cast<uint32_t>(sections.size()));
    for (const auto &[name, bytes] : sections) {
        w.str(name);
        w.blob(bytes);
    }

    std::vector<uint8_t> out;
    out.reserve(kHeaderSize + payload.size());
    Writer h(out);
    h.bytes(kSignature, sizeof kSignature);
    h.value<uint32_t>(kFormatVersion);
    h.value<uint32_t>(0);
    h.value<uint64_t>(payload.size());
    h.value<uint32_t>(checksum(payload));
    h.value<uint32_t>(0);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

Checkpoint Checkpoint::parse(std::span<const uint8_t> bytes, const std::string &source)
{
    Reader header(bytes, 0, source);
    char signature[8];
    header.bytes(signature, sizeof signature, "the signature");
    if (std::memcmp(signature, kSignature, sizeof kSignature) != 0)
        throw Error("'" + source + "' is not a Neurite checkpoint: bytes 0-7 are not the "
                    "signature \"NRTCKPT\"");
    const auto version = header.value<uint32_t>("the format version");
    if (version != kFormatVersion)
        throw Error("checkpoint '" + source + "' has format version " + std::to_string(version) +
                    " (byte 8) but this Neurite reads version " +
                    std::to_string(kFormatVersion) +
                    (version > kFormatVersion ? "; it was written by a newer Neurite" : ""));
    header.value<uint32_t>("the header");
    const auto size = header.value<uint64_t>("the payload size");
    const auto stored_crc = header.value<uint32_t>("the checksum");
    header.value<uint32_t>("the header");
    const uint64_t available = bytes.size() - kHeaderSize;
    if (size > available)
        throw Error("checkpoint '" + source + "' is truncated: the header (byte 16) announces " +
                    std::to_string(size) + " bytes of payload but the file ends at byte " +
                    std::to_string(bytes.size()) + ", " + std::to_string(size - available) +
                    " bytes short");
    if (size < available)
        throw Error("checkpoint '" + source + "' has " + std::to_string(available - size) +
                    " unexpected bytes after its end at byte " +
                    std::to_string(kHeaderSize + size));
    const auto payload = bytes.subspan(kHeaderSize, size);
    const uint32_t crc = checksum(payload);
    if (crc != stored_crc)
        throw Error("checkpoint '" + source + "' is corrupt: the checksum of bytes " +
                    std::to_string(kHeaderSize) + "-" + std::to_string(bytes.size()) +
                    " is " + hex(crc) + " but the header (byte 24) says " + hex(stored_crc));

    Reader r(payload, kHeaderSize, source);
    Checkpoint c;
    const auto layer_count = r.value<uint32_t>("the layer count");
    for (uint32_t i = 0; i < layer_count; ++i) {
        CheckpointLayer l;
        const std::string where = "layer " + std::to_string(i + 1);
        l.entry = r.str(where + " name");
        l.origin = r.str(where + " origin");
        const auto nconfig = r.value<uint32_t>(where + " config count");
        for (uint32_t k = 0; k < nconfig; ++k) {
            std::string name = r.str(where + " config name");
            ParamValue v = read_value(r, where + " parameter '" + name + "'");
            l.config.emplace_back(std::move(name), std::move(v));
        }
        const auto nparams = r.value<uint32_t>(where + " parameter count");
        for (uint32_t k = 0; k < nparams; ++k) {
            std::string name = r.str(where + " tensor name");
            Tensor t = read_tensor(r, where + " tensor '" + name + "'");
            l.parameters.emplace_back(std::move(name), std::move(t));
        }
        l.extra_state = r.blob(where + " extra state");
        c.layers.push_back(std::move(l));
    }
    const auto nsections = r.value<uint32_t>("the section count");
    for (uint32_t i = 0; i < nsections; ++i) {
        std::string name = r.str("section name");
        std::vector<uint8_t> b = r.blob("section '" + name + "'");
        c.sections.emplace_back(std::move(name), std::move(b));
    }
    if (!r.at_end())
        r.fail(r.offset(), "unexpected bytes after the last section");
    return c;
}

std::vector<uint8_t> Checkpoint::encode_tensors(const std::vector<Tensor> &tensors)
{
    std::vector<uint8_t> out;
    Writer w(out);
    w.value<uint32_t>(static_cast<uint32_t>(tensors.size()));
    for (const Tensor &t : tensors)
        write_tensor(w, t);
    return out;
}

std::vector<Tensor> Checkpoint::decode_tensors(std::span<const uint8_t> bytes, const std::string &source,
                                               const std::string &what)
{
    Reader r(bytes, 0, source);
    const auto count = r.value<uint32_t>(what + " count");
    std::vector<Tensor> tensors;
    for (uint32_t i = 0; i < count; ++i)
        tensors.push_back(read_tensor(r, what + " tensor " + std::to_string(i + 1)));
    if (!r.at_end())
        r.fail(r.offset(), "unexpected bytes after the last tensor of " + what);
    return tensors;
}

void Checkpoint::write(const std::string &path) const
{
    if (path.empty()) // Qt would print a warning of its own
        throw Error("cannot write a checkpoint: the path is empty");
    const std::vector<uint8_t> bytes = serialize();
    QSaveFile file(QString::fromStdString(path));
    if (!file.open(QIODevice::WriteOnly))
        throw Error("cannot write checkpoint '" + path + "': " + file.errorString().toStdString());
    const auto n = file.write(reinterpret_cast<const char *>(bytes.data()),
                              static_cast<qint64>(bytes.size()));
    if (n != static_cast<qint64>(bytes.size()) || !file.commit())
        throw Error("cannot write checkpoint '" + path + "': " + file.errorString().toStdString() +
                    " (the previous file, if any, is unchanged)");
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

std::unique_ptr<Sequential> Checkpoint::build(const Registry &registry, ComputeContext &context,
                                              uint64_t seed, const std::string &source) const
{
    auto model = std::make_unique<Sequential>();
    for (size_t i = 0; i < layers.size(); ++i) {
        const CheckpointLayer &l = layers[i];
        if (!registry.find(l.entry)) {
            const std::string head = "checkpoint '" + source + "' needs " + layer_label(i, l.entry) +
                                     " but '" + l.entry + "' is not registered: ";
            if (l.origin == "lua")
                throw Error(head + "it was defined in Lua; run its nn.define{name=\"" + l.entry +
                            "\", ...} before loading the model");
            throw Error(head + "it came from the plugin " + l.origin +
                        ", which is not loaded (see neurite-run --list-plugins)");
        }
        model->add(registry.create_layer(l.entry, as_trained(l), context, seed + i));
    }
    restore(*model, source);
    return model;
}

void Checkpoint::restore(Sequential &model, const std::string &source) const
{
    if (static_cast<size_t>(model.size()) != layers.size())
        throw Error("checkpoint '" + source + "' has " + std::to_string(layers.size()) +
                    " layers but the model has " + std::to_string(model.size()));
    for (size_t i = 0; i < layers.size(); ++i) {
        const CheckpointLayer &l = layers[i];
        Module &m = model.at(static_cast<int>(i));
        const std::string label = layer_label(i, l.entry);
        if (m.name() != l.entry)
            throw Error("checkpoint '" + source + "': " + label + " does not match the model's " +
                        layer_label(i, m.name()));
        auto &params = m.parameters();
        if (params.size() != l.parameters.size())
            throw Error("checkpoint '" + source + "': " + label + " has " +
                        std::to_string(l.parameters.size()) + " parameter tensors but the layer has " +
                        std::to_string(params.size()));
        for (size_t k = 0; k < params.size(); ++k) {
            const auto &[name, value] = l.parameters[k];
            if (!(value.shape() == params[k].value.shape()))
                throw Error("checkpoint '" + source + "': " + label + " parameter '" + name +
                            "' has shape " + value.shape().to_string() + " in the file but " +
                            params[k].value.shape().to_string() + " in the layer");
        }
    }
    // Everything was checked first, so a mismatch leaves the model untouched.
    for (size_t i = 0; i < layers.size(); ++i) {
        Module &m = model.at(static_cast<int>(i));
        auto &params = m.parameters();
        for (size_t k = 0; k < params.size(); ++k)
            params[k].value.copy_from(layers[i].parameters[k].second);
        m.load_extra_state(layers[i].extra_state);
    }
}

} // namespace neurite
