#include "kernel_protocol.h"

#include "neurite/core/data/dataset.h"
#include "neurite/core/error.h"
#include "neurite/core/tensor.h"

#include <QIODevice>
#include <QtEndian>

#include <cstring>

namespace neurite::gui::kernel {

namespace {

constexpr QDataStream::Version kStreamVersion = QDataStream::Qt_6_0;

QStringList to_qstrings(const std::vector<std::string> &texts)
{
    QStringList list;
    list.reserve(static_cast<qsizetype>(texts.size()));
    for (const std::string &t : texts)
        list << QString::fromStdString(t);
    return list;
}

std::vector<std::string> to_strings(const QStringList &list)
{
    std::vector<std::string> texts;
    texts.reserve(static_cast<size_t>(list.size()));
    for (const QString &t : list)
        texts.push_back(t.toStdString());
    return texts;
}

} // namespace

FrameWriter::FrameWriter() : m_body(kHeaderBytes, '\0'), m_stream(&m_body, QIODevice::WriteOnly)
{
    m_stream.setVersion(kStreamVersion);
    m_stream.device()->seek(kHeaderBytes); // the header is filled in by frame()
}

QByteArray FrameWriter::frame()
{
    qToBigEndian(static_cast<quint32>(m_body.size() - kHeaderBytes), m_body.data());
    return m_body;
}

std::optional<QByteArray> take_frame(QByteArray &buffer, bool &broken)
{
    broken = false;
    if (buffer.size() < kHeaderBytes)
        return std::nullopt;
    const quint32 length = qFromBigEndian<quint32>(buffer.constData());
    if (length > kMaxFrameBytes) {
        broken = true;
        return std::nullopt;
    }
    if (buffer.size() - kHeaderBytes < static_cast<qsizetype>(length))
        return std::nullopt;
    QByteArray body = buffer.mid(kHeaderBytes, length);
    buffer.remove(0, kHeaderBytes + static_cast<qsizetype>(length));
    return body;
}

FrameReader::FrameReader(const QByteArray &body) : m_stream(body)
{
    m_stream.setVersion(kStreamVersion);
}

QDataStream &operator<<(QDataStream &s, const KernelSettings &k)
{
    return s << k.flush_denormals << k.max_memory << k.runs_so_far << k.runs_dir;
}

QDataStream &operator>>(QDataStream &s, KernelSettings &k)
{
    return s >> k.flush_denormals >> k.max_memory >> k.runs_so_far >> k.runs_dir;
}

QDataStream &operator<<(QDataStream &s, const Point &p)
{
    return s << p.run << p.name << p.step << p.epoch << p.value;
}

QDataStream &operator>>(QDataStream &s, Point &p)
{
    return s >> p.run >> p.name >> p.step >> p.epoch >> p.value;
}

QDataStream &operator<<(QDataStream &s, const TilePicture &t)
{
    return s << t.kind << t.image << t.caption << t.tiles << t.columns << t.tile_width << t.tile_height << t.gap
             << t.sample << t.samples << t.input;
}

QDataStream &operator>>(QDataStream &s, TilePicture &t)
{
    return s >> t.kind >> t.image >> t.caption >> t.tiles >> t.columns >> t.tile_width >> t.tile_height >> t.gap >>
           t.sample >> t.samples >> t.input;
}

void write_dataset(QDataStream &s, const data::Dataset &d)
{
    const Shape &shape = d.input_shape();
    s << QList<qint64>(shape.begin(), shape.end()) << qint64(d.size()) << d.stored_as_bytes() << d.byte_scale();
    // The stored values of every row of the view, in the view's order.
    QByteArray features;
    for (int64_t i = 0; i < d.size(); ++i) {
        if (d.stored_as_bytes()) {
            const auto row = d.raw_bytes(i);
            features.append(reinterpret_cast<const char *>(row.data()), static_cast<qsizetype>(row.size()));
        } else {
            const auto row = d.raw_floats(i);
            features.append(reinterpret_cast<const char *>(row.data()),
                            static_cast<qsizetype>(row.size() * sizeof(float)));
        }
    }
    s << features << static_cast<quint8>(d.target_kind()) << static_cast<quint8>(d.target_encoding());
    QList<float> targets;
    qint64 width = 0, classes = 0;
    if (d.target_kind() == data::TargetKind::Classes) {
        classes = d.class_count();
        for (int64_t i = 0; i < d.size(); ++i)
            targets << static_cast<float>(d.label(i));
    } else if (d.target_kind() == data::TargetKind::Values) {
        width = d.target_width();
        const Tensor values = d.targets();
        targets = QList<float>(values.begin(), values.end());
    }
    s << targets << width << classes << to_qstrings(d.class_names()) << to_qstrings(d.feature_names())
      << QString::fromStdString(d.source()) << to_qstrings(d.warnings());
}

data::Dataset read_dataset(QDataStream &s)
{
    data::DatasetParts parts;
    QList<qint64> dims;
    qint64 count = 0, width = 0, classes = 0;
    bool bytes = false;
    float scale = 1;
    QByteArray features;
    quint8 kind = 0, encoding = 0;
    QList<float> targets;
    QStringList class_names, feature_names, warnings;
    QString source;
    s >> dims >> count >> bytes >> scale >> features >> kind >> encoding >> targets >> width >> classes >>
        class_names >> feature_names >> source >> warnings;
    if (s.status() != QDataStream::Ok)
        throw Error("the window sent a truncated dataset");
    const std::vector<int64_t> extents(dims.begin(), dims.end());
    parts.input_shape = Shape(std::span<const int64_t>(extents));
    parts.count = count;
    if (bytes) {
        parts.bytes.assign(features.begin(), features.end());
        parts.byte_scale = scale;
    } else {
        parts.floats.resize(static_cast<size_t>(features.size()) / sizeof(float));
        std::memcpy(parts.floats.data(), features.constData(), parts.floats.size() * sizeof(float));
    }
    parts.target_kind = static_cast<data::TargetKind>(kind);
    parts.targets.assign(targets.begin(), targets.end());
    parts.target_width = width;
    parts.class_count = classes;
    parts.class_names = to_strings(class_names);
    parts.feature_names = to_strings(feature_names);
    parts.source = source.toStdString();
    parts.warnings = to_strings(warnings);
    data::Dataset dataset = data::Dataset::create(std::move(parts)); // checks every size
    if (dataset.target_kind() == data::TargetKind::Classes)
        dataset = dataset.with_target_encoding(static_cast<data::TargetEncoding>(encoding));
    return dataset;
}

} // namespace neurite::gui::kernel

namespace neurite::gui {

QDataStream &operator<<(QDataStream &s, const ModelGraph &g)
{
    s << static_cast<quint32>(g.vertices.size());
    for (const ModelGraph::Vertex &v : g.vertices)
        s << static_cast<quint8>(v.kind) << v.title << v.detail;
    s << static_cast<quint32>(g.edges.size());
    for (const ModelGraph::Edge &e : g.edges)
        s << qint32(e.from) << qint32(e.to) << qint32(e.from_port) << qint32(e.from_ports) << qint32(e.to_port)
          << qint32(e.to_ports) << e.shape;
    return s;
}

QDataStream &operator>>(QDataStream &s, ModelGraph &g)
{
    quint32 n = 0;
    s >> n;
    g.vertices.clear();
    for (quint32 i = 0; i < n && s.status() == QDataStream::Ok; ++i) {
        ModelGraph::Vertex v;
        quint8 kind = 0;
        s >> kind >> v.title >> v.detail;
        v.kind = static_cast<ModelGraph::Kind>(kind);
        g.vertices.push_back(std::move(v));
    }
    s >> n;
    g.edges.clear();
    for (quint32 i = 0; i < n && s.status() == QDataStream::Ok; ++i) {
        ModelGraph::Edge e;
        qint32 f[6] = {};
        for (qint32 &x : f)
            s >> x;
        s >> e.shape;
        e.from = f[0], e.to = f[1], e.from_port = f[2], e.from_ports = f[3], e.to_port = f[4], e.to_ports = f[5];
        g.edges.push_back(std::move(e));
    }
    return s;
}

} // namespace neurite::gui
