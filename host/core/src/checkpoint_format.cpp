// The payload encodings of a checkpoint (docs/model-format.md).
//
// Version 2: u32 manifest size, the manifest (JSON: the graph, each node's
// entry, version, library, config, inputs and the places of its tensors),
// then the data area that the manifest's offsets point into.
// Version 1: a chain of layers in a binary encoding; read only.
#include "neurite/core/checkpoint.h"

#include "neurite/core/error.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstring>
#include <limits>

namespace neurite::detail {

namespace {

constexpr uint64_t kMaxBlob = uint64_t(1) << 40;

// ---------------------------------------------------------------- version 2: writing

class DataArea {
public:
    QJsonObject place(const void *data, size_t bytes)
    {
        while (m_bytes.size() % 64)
            m_bytes.push_back(0); // tensors start on a cache line
        QJsonObject o{{"offset", static_cast<double>(m_bytes.size())}, {"bytes", static_cast<double>(bytes)}};
        const auto *p = static_cast<const uint8_t *>(data);
        m_bytes.insert(m_bytes.end(), p, p + bytes);
        return o;
    }
    const std::vector<uint8_t> &bytes() const { return m_bytes; }

private:
    std::vector<uint8_t> m_bytes;
};

QJsonValue config_value(const ParamValue &v)
{
    switch (v.index()) {
    case 0: return std::get<double>(v);
    case 1: return std::get<bool>(v);
    case 2: return QString::fromStdString(std::get<std::string>(v));
    default: {
        QJsonArray a;
        for (double d : std::get<std::vector<double>>(v))
            a.append(d);
        return a;
    }
    }
}

QJsonArray ref_json(const Model::Ref &r) { return QJsonArray{r.node, r.index}; }

QJsonArray shape_json(const Shape &s)
{
    QJsonArray a;
    for (int64_t d : s)
        a.append(static_cast<double>(d));
    return a;
}

QJsonObject model_json(const CheckpointModel &m, DataArea &data)
{
    QJsonArray inputs, nodes, outputs;
    for (const Model::Input &in : m.inputs)
        inputs.append(QJsonObject{{"name", QString::fromStdString(in.name)},
                                  {"shape", in.sample_shape ? QJsonValue(shape_json(*in.sample_shape)) : QJsonValue()}});
    for (const CheckpointNode &n : m.nodes) {
        QJsonObject o;
        QJsonArray refs;
        for (const Model::Ref &r : n.inputs)
            refs.append(ref_json(r));
        o["inputs"] = refs;
        if (n.model) {
            o["model"] = model_json(*n.model, data);
        } else {
            o["entry"] = QString::fromStdString(n.entry);
            o["version"] = QString::fromStdString(n.version);
            o["library"] = QString::fromStdString(n.library);
            QJsonObject config;
            for (const auto &[name, value] : n.config)
                config[QString::fromStdString(name)] = config_value(value);
            o["config"] = config;
            QJsonArray params;
            for (const auto &[name, t] : n.parameters) {
                QJsonObject p = data.place(t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
                p["name"] = QString::fromStdString(name);
                p["shape"] = shape_json(t.shape());
                p["dtype"] = "f32";
                params.append(p);
            }
            o["parameters"] = params;
            if (!n.extra_state.empty())
                o["state"] = data.place(n.extra_state.data(), n.extra_state.size());
        }
        nodes.append(o);
    }
    for (const Model::Ref &r : m.outputs)
        outputs.append(ref_json(r));
    return {{"type", QString::fromStdString(m.type)}, {"inputs", inputs}, {"nodes", nodes}, {"outputs", outputs}};
}

// ---------------------------------------------------------------- version 2: reading

// Every read of the manifest names the field that is wrong.
class Manifest {
public:
    Manifest(const std::string &source, std::span<const uint8_t> data) : m_source(source), m_data(data) {}

    [[noreturn]] void fail(const std::string &where, const std::string &why) const
    {
        throw Error("checkpoint '" + m_source + "': " + where + ": " + why);
    }
    QJsonObject object(const QJsonValue &v, const std::string &where) const
    {
        if (!v.isObject())
            fail(where, "expected an object");
        return v.toObject();
    }
    QJsonArray array(const QJsonValue &v, const std::string &where) const
    {
        if (!v.isArray())
            fail(where, "expected a list");
        return v.toArray();
    }
    std::string string(const QJsonValue &v, const std::string &where) const
    {
        if (!v.isString())
            fail(where, "expected a string");
        return v.toString().toStdString();
    }
    int64_t integer(const QJsonValue &v, const std::string &where, int64_t min, int64_t max) const
    {
        const double d = v.toDouble(std::numeric_limits<double>::quiet_NaN());
        if (!v.isDouble() || d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) ||
            d > static_cast<double>(max))
            fail(where, "expected a whole number in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
        return static_cast<int64_t>(d);
    }
    Shape shape(const QJsonValue &v, const std::string &where) const
    {
        const QJsonArray a = array(v, where);
        if (a.size() > Shape::kMaxDims)
            fail(where, "has " + std::to_string(a.size()) + " dimensions");
        Shape s;
        for (qsizetype i = 0; i < a.size(); ++i)
            s.push_back(integer(a[i], where, 0, int64_t(1) << 40));
        return s;
    }
    Model::Ref ref(const QJsonValue &v, const std::string &where) const
    {
        const QJsonArray a = array(v, where);
        if (a.size() != 2)
            fail(where, "expected [node, output]");
        return {static_cast<int>(integer(a[0], where, -1, 1 << 24)), static_cast<int>(integer(a[1], where, 0, 1 << 16))};
    }
    // The bytes at {offset, bytes} inside the data area.
    std::span<const uint8_t> bytes(const QJsonValue &v, const std::string &where) const
    {
        const QJsonObject o = object(v, where);
        const auto offset = static_cast<uint64_t>(integer(o["offset"], where + " offset", 0, int64_t(kMaxBlob)));
        const auto n = static_cast<uint64_t>(integer(o["bytes"], where + " bytes", 0, int64_t(kMaxBlob)));
        if (offset > m_data.size() || n > m_data.size() - offset)
            fail(where, "bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                            " lie outside the data area of " + std::to_string(m_data.size()) + " bytes");
        return m_data.subspan(offset, n);
    }

private:
    const std::string &m_source;
    std::span<const uint8_t> m_data;
};

ParamValue config_from_json(const Manifest &mf, const QJsonValue &v, const std::string &where)
{
    if (v.isBool())
        return v.toBool();
    if (v.isDouble())
        return v.toDouble();
    if (v.isString())
        return v.toString().toStdString();
    std::vector<double> list;
    for (const QJsonValue &x : mf.array(v, where)) {
        if (!x.isDouble())
            mf.fail(where, "a list holds something other than numbers");
        list.push_back(x.toDouble());
    }
    return list;
}

void node_from_json(const Manifest &mf, const QJsonObject &o, const std::string &where, CheckpointNode &n,
                    int depth);

CheckpointModel model_from_json(const Manifest &mf, const QJsonValue &v, const std::string &where, int depth)
{
    if (depth > 64)
        mf.fail(where, "models nested more than 64 deep");
    const QJsonObject o = mf.object(v, where);
    CheckpointModel m;
    m.type = mf.string(o["type"], where + " type");
    if (m.type != "Sequential" && m.type != "Model")
        mf.fail(where + " type", "'" + m.type + "' is neither Sequential nor Model");
    const QJsonArray inputs = mf.array(o["inputs"], where + " inputs");
    for (qsizetype i = 0; i < inputs.size(); ++i) {
        const std::string w = where + " input " + std::to_string(i + 1);
        const QJsonObject in = mf.object(inputs[i], w);
        Model::Input input{mf.string(in["name"], w + " name"), std::nullopt};
        if (!in["shape"].isNull())
            input.sample_shape = mf.shape(in["shape"], w + " shape");
        m.inputs.push_back(std::move(input));
    }
    const QJsonArray nodes = mf.array(o["nodes"], where + " nodes");
    for (qsizetype i = 0; i < nodes.size(); ++i) {
        const std::string w = where + " node " + std::to_string(i + 1);
        CheckpointNode n;
        node_from_json(mf, mf.object(nodes[i], w), w, n, depth);
        m.nodes.push_back(std::move(n));
    }
    for (const QJsonValue &r : mf.array(o["outputs"], where + " outputs"))
        m.outputs.push_back(mf.ref(r, where + " outputs"));
    return m;
}

void node_from_json(const Manifest &mf, const QJsonObject &o, const std::string &where, CheckpointNode &n,
                    int depth)
{
    for (const QJsonValue &r : mf.array(o["inputs"], where + " inputs"))
        n.inputs.push_back(mf.ref(r, where + " inputs"));
    if (o.contains("model")) {
        n.model = std::make_shared<CheckpointModel>(model_from_json(mf, o["model"], where + " model", depth + 1));
        return;
    }
    n.entry = mf.string(o["entry"], where + " entry");
    const std::string label = where + " (" + n.entry + ")";
    n.version = mf.string(o["version"], label + " version");
    n.library = mf.string(o["library"], label + " library");
    const QJsonObject config = mf.object(o["config"], label + " config");
    for (auto it = config.begin(); it != config.end(); ++it)
        n.config.emplace_back(it.key().toStdString(),
                              config_from_json(mf, it.value(), label + " config '" + it.key().toStdString() + "'"));
    for (const QJsonValue &pv : mf.array(o["parameters"], label + " parameters")) {
        const QJsonObject p = mf.object(pv, label + " parameter");
        const std::string name = mf.string(p["name"], label + " parameter name");
        const std::string w = label + " parameter '" + name + "'";
        if (p["dtype"].toString() != "f32")
            mf.fail(w, "dtype '" + p["dtype"].toString().toStdString() + "' (this Neurite reads f32)");
        const Shape shape = mf.shape(p["shape"], w + " shape");
        const auto bytes = mf.bytes(p, w);
        if (shape.numel() > int64_t(kMaxBlob) ||
            bytes.size() != static_cast<uint64_t>(shape.numel()) * sizeof(float))
            mf.fail(w, std::to_string(bytes.size()) + " bytes for shape " + shape.to_string());
        Tensor t(shape);
        if (!bytes.empty())
            std::memcpy(t.data(), bytes.data(), bytes.size());
        n.parameters.emplace_back(name, std::move(t));
    }
    if (o.contains("state")) {
        const auto bytes = mf.bytes(o["state"], label + " state");
        n.extra_state.assign(bytes.begin(), bytes.end());
    }
}

// ---------------------------------------------------------------- version 1

enum ValueKind : uint8_t { kNumber = 0, kBool = 1, kString = 2, kList = 3 };

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
                        std::to_string(offset()) + " needs " + std::to_string(n) + " bytes but only " +
                        std::to_string(m_bytes.size() - m_pos) + " remain");
    }
    void bytes(void *dst, size_t n, const std::string &what)
    {
        need(n, what);
        if (n) // an empty span's data() may be null, which memcpy must not get
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
        throw Error("checkpoint '" + m_source + "' is corrupt at byte " + std::to_string(at) + ": " + why);
    }
    bool at_end() const { return m_pos == m_bytes.size(); }

private:
    std::span<const uint8_t> m_bytes;
    size_t m_pos = 0;
    size_t m_base;
    const std::string &m_source;
};

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

} // namespace

} // namespace neurite::detail

namespace neurite {

// A list of tensors as a section's bytes: u32 count, then each as u32 rank,
// i64 dims[rank], f32 values (version 1's encoding of a parameter).
std::vector<uint8_t> Checkpoint::encode_tensors(const std::vector<Tensor> &tensors)
{
    std::vector<uint8_t> out;
    auto put = [&out](const void *p, size_t n) {
        const auto *b = static_cast<const uint8_t *>(p);
        out.insert(out.end(), b, b + n);
    };
    const auto count = static_cast<uint32_t>(tensors.size());
    put(&count, sizeof count);
    for (const Tensor &t : tensors) {
        const auto rank = static_cast<uint32_t>(t.dim());
        put(&rank, sizeof rank);
        for (int d = 0; d < t.dim(); ++d) {
            const int64_t n = t.size(d);
            put(&n, sizeof n);
        }
        put(t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
    }
    return out;
}

std::vector<Tensor> Checkpoint::decode_tensors(std::span<const uint8_t> bytes, const std::string &source,
                                               const std::string &what)
{
    detail::Reader r(bytes, 0, source);
    const auto count = r.value<uint32_t>(what + " count");
    std::vector<Tensor> tensors;
    for (uint32_t i = 0; i < count; ++i)
        tensors.push_back(detail::read_tensor(r, what + " tensor " + std::to_string(i + 1)));
    if (!r.at_end())
        r.fail(r.offset(), "unexpected bytes after the last tensor of " + what);
    return tensors;
}

} // namespace neurite

namespace neurite::detail {

std::vector<uint8_t> encode_v2(const Checkpoint &c)
{
    DataArea data;
    QJsonObject manifest{{"format", "neurite-model"}, {"format_version", static_cast<int>(Checkpoint::kFormatVersion)}};
    manifest["model"] = model_json(c.model, data);
    QJsonArray sections;
    for (const auto &[name, bytes] : c.sections) {
        QJsonObject s = data.place(bytes.data(), bytes.size());
        s["name"] = QString::fromStdString(name);
        sections.append(s);
    }
    manifest["sections"] = sections;
    const QByteArray json = QJsonDocument(manifest).toJson(QJsonDocument::Compact);
    std::vector<uint8_t> payload(sizeof(uint32_t));
    const auto size = static_cast<uint32_t>(json.size());
    std::memcpy(payload.data(), &size, sizeof size);
    payload.insert(payload.end(), json.begin(), json.end());
    payload.insert(payload.end(), data.bytes().begin(), data.bytes().end());
    return payload;
}

void decode_v2(std::span<const uint8_t> payload, size_t base, const std::string &source, Checkpoint &c)
{
    uint32_t size = 0;
    if (payload.size() < sizeof size)
        throw Error("checkpoint '" + source + "' is truncated at byte " + std::to_string(base) +
                    ": no manifest size");
    std::memcpy(&size, payload.data(), sizeof size);
    if (size > payload.size() - sizeof size)
        throw Error("checkpoint '" + source + "' is truncated: the manifest at byte " +
                    std::to_string(base + 4) + " claims " + std::to_string(size) + " bytes");
    const QByteArray json(reinterpret_cast<const char *>(payload.data() + sizeof size), static_cast<qsizetype>(size));
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        throw Error("checkpoint '" + source + "': the manifest is not valid JSON at byte " +
                    std::to_string(base + 4 + static_cast<size_t>(error.offset)) + ": " +
                    error.errorString().toStdString());
    const Manifest mf(source, payload.subspan(sizeof size + size));
    const QJsonObject o = doc.object();
    if (o["format"].toString() != "neurite-model")
        mf.fail("manifest", "format '" + o["format"].toString().toStdString() + "' is not neurite-model");
    c.model = model_from_json(mf, o["model"], "model", 0);
    for (const QJsonValue &v : mf.array(o["sections"], "sections")) {
        const QJsonObject s = mf.object(v, "section");
        const std::string name = mf.string(s["name"], "section name");
        const auto bytes = mf.bytes(s, "section '" + name + "'");
        c.sections.emplace_back(name, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    }
}

void decode_v1(std::span<const uint8_t> payload, size_t base, const std::string &source, Checkpoint &c)
{
    Reader r(payload, base, source);
    c.model = CheckpointModel{};
    c.model.type = "Sequential";
    c.model.inputs.push_back({"input1", std::nullopt});
    const auto layer_count = r.value<uint32_t>("the layer count");
    for (uint32_t i = 0; i < layer_count; ++i) {
        CheckpointNode n;
        const std::string where = "layer " + std::to_string(i + 1);
        n.entry = r.str(where + " name");
        const std::string origin = r.str(where + " origin");
        // Version 1 stored the plugin file's path; only its name is kept.
        n.library = origin == "lua" ? "lua" : origin.substr(origin.find_last_of('/') + 1);
        const auto nconfig = r.value<uint32_t>(where + " config count");
        for (uint32_t k = 0; k < nconfig; ++k) {
            std::string name = r.str(where + " config name");
            ParamValue v = read_value(r, where + " parameter '" + name + "'");
            n.config.emplace_back(std::move(name), std::move(v));
        }
        const auto nparams = r.value<uint32_t>(where + " parameter count");
        for (uint32_t k = 0; k < nparams; ++k) {
            std::string name = r.str(where + " tensor name");
            Tensor t = read_tensor(r, where + " tensor '" + name + "'");
            n.parameters.emplace_back(std::move(name), std::move(t));
        }
        n.extra_state = r.blob(where + " extra state");
        n.inputs.push_back(i == 0 ? Model::Ref{Model::kInput, 0} : Model::Ref{static_cast<int>(i) - 1, 0});
        c.model.nodes.push_back(std::move(n));
    }
    if (layer_count > 0)
        c.model.outputs.push_back({static_cast<int>(layer_count) - 1, 0});
    const auto nsections = r.value<uint32_t>("the section count");
    for (uint32_t i = 0; i < nsections; ++i) {
        std::string name = r.str("section name");
        std::vector<uint8_t> b = r.blob("section '" + name + "'");
        c.sections.emplace_back(std::move(name), std::move(b));
    }
    if (!r.at_end())
        r.fail(r.offset(), "unexpected bytes after the last section");
}

} // namespace neurite::detail
