#pragma once

// The wire between the window and its kernel (`neurite-run --kernel`), the
// child process that runs the window's scripts. Each message is one frame:
// a 4-byte big-endian length, then a QDataStream (Qt 6.0 format) that starts
// with the message's type. The window writes requests to the kernel's stdin;
// the kernel writes replies to its stdout, which it keeps for frames alone
// (text a plugin writes to stdout lands on stderr, which the window shows).
#include "model_graph.h"

#include <QByteArray>
#include <QDataStream>
#include <QImage>
#include <QMetaType>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace neurite::data {
class Dataset;
}

namespace neurite::gui::kernel {

// Window -> kernel.
enum class Request : quint8 {
    Run = 1,      // code, name, directory, KernelSettings: a fresh Lua state runs the script
    Evaluate,     // code: the console prompt, in the last run's state
    OpenModel,    // path: a .nrt or .onnx file as the watched model
    SaveModel,    // path: the watched model as a checkpoint
    ExportOnnx,   // path: the watched model as ONNX
    Stop,         // cancel what runs (taken at once, also mid-run)
    SetDataset,   // bool present, then the dataset: data.current()
    PictureSample, // qint64: the sample (from 0) whose feature maps the Model panel shows; taken at once
};

// Kernel -> window.
enum class Reply : quint8 {
    Ready = 1,   // the kernel started and reads requests
    Output,      // text: a printed line
    Points,      // quint32 n, then n × (run, name, step, epoch, value)
    Failed,      // message, traceback, ErrorFrames (error_frames.h)
    Finished,    // exit code, interrupted, seconds, runs so far
    Model,       // summary, ModelGraph, then (since the Tiles reply) precision: "f32" or "bf16"
    Boundary,    // QImage (PNG in the stream), caption
    Confusion,   // QImage, caption
    Tiles,       // TilePicture: filters, feature maps or reconstructions
};

// What a run is given besides its script.
struct KernelSettings {
    bool flush_denormals = true;
    quint64 max_memory = 0; // bytes, 0: none
    qint32 runs_so_far = 0; // the window numbers runs across kernels
    QString runs_dir;       // the run store's folder (docs/run-store.md); empty: none
};

// One monitored scalar.
struct Point {
    QString run, name;
    qint64 step = 0;
    double epoch = 0; // where in training, in epochs (MonitorEvent::epoch_position)
    double value = 0;
};

// A picture of tiles drawn from the model (data::render_image_grid) and
// where its tiles are, so the window can tell one from another.
struct TilePicture {
    enum Kind : quint8 {
        Filters,        // the first convolution's weights: a tile per output channel (and input channel)
        FeatureMaps,    // its outputs for one sample: a tile per output channel
        Reconstructions // an autoencoder's: each original, then its reconstruction
    };
    quint8 kind = Filters;
    QImage image;
    QString caption;
    qint32 tiles = 0, columns = 0, tile_width = 0, tile_height = 0, gap = 0;
    qint64 sample = -1, samples = 0; // FeatureMaps: which sample (from 0) of how many
    QImage input;                    // FeatureMaps: that sample as an image, when it is one
};

constexpr int kHeaderBytes = 4;
constexpr quint32 kMaxFrameBytes = 1u << 30; // a larger length is a broken stream

// A stream that writes a message body, and the frame around it.
class FrameWriter {
public:
    FrameWriter();
    QDataStream &stream() { return m_stream; }
    // The whole frame: length header and body.
    QByteArray frame();

private:
    QByteArray m_body;
    QDataStream m_stream;
};

// Takes whole frames off the front of `buffer`: the body of the first one,
// or nullopt while it is incomplete. Sets `broken` when the length is absurd.
std::optional<QByteArray> take_frame(QByteArray &buffer, bool &broken);

// A stream that reads a frame's body.
class FrameReader {
public:
    explicit FrameReader(const QByteArray &body);
    QDataStream &stream() { return m_stream; }

private:
    QDataStream m_stream;
};

QDataStream &operator<<(QDataStream &s, const KernelSettings &k);
QDataStream &operator>>(QDataStream &s, KernelSettings &k);
QDataStream &operator<<(QDataStream &s, const Point &p);
QDataStream &operator>>(QDataStream &s, Point &p);
QDataStream &operator<<(QDataStream &s, const TilePicture &t);
QDataStream &operator>>(QDataStream &s, TilePicture &t);

// The stored samples of a dataset view (raw bytes or floats, targets, class
// and feature names, source); a normalization is not carried.
void write_dataset(QDataStream &s, const data::Dataset &dataset);
// Throws neurite::Error when the stream does not hold a valid dataset.
data::Dataset read_dataset(QDataStream &s);

} // namespace neurite::gui::kernel

Q_DECLARE_METATYPE(neurite::gui::kernel::TilePicture)

namespace neurite::gui {
// Beside ModelGraph, where argument-dependent lookup finds them.
QDataStream &operator<<(QDataStream &s, const ModelGraph &g);
QDataStream &operator>>(QDataStream &s, ModelGraph &g);
} // namespace neurite::gui
