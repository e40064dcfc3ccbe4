#include "kernel_session.h"

#include "error_frames.h"
#include "kernel_protocol.h"
#include "model_pictures.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/compute_context.h"
#include "neurite/core/data/current.h"
#include "neurite/core/model.h"
#include "neurite/core/monitor.h"
#include "neurite/interchange/onnx.h"
#include "neurite/lua/runtime.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QtEndian>

#include <lua.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <cerrno>
#include <sys/resource.h>
#include <unistd.h>

namespace neurite::gui::kernel {

namespace {

constexpr int kRunNice = 5;        // the window's UI thread comes first when both want a core
constexpr int kFlushEveryMs = 15;  // metric points travel in batches at least this far apart
constexpr int kExitStuck = 130;    // as neurite-run after an interrupt

std::string resource_text(const char *path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll().toStdString() : std::string();
}

ErrorFrames error_frames(const std::vector<lua::TraceFrame> &frames)
{
    ErrorFrames out;
    for (const lua::TraceFrame &f : frames)
        out.append({QString::fromStdString(f.source), f.line, QString::fromStdString(f.function), f.library});
    return out;
}

// All `size` bytes through `io` (read or write), again after a signal.
template <class Io, class Byte> bool transfer_all(Io io, int fd, Byte *data, size_t size)
{
    while (size > 0) {
        const ssize_t n = io(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

bool read_all(int fd, char *data, size_t size) { return transfer_all(::read, fd, data, size); }
bool write_all(int fd, const char *data, size_t size) { return transfer_all(::write, fd, data, size); }

// One request off stdin: its body, or nullopt at the end of the stream.
std::optional<QByteArray> read_request(int fd)
{
    QByteArray buffer(kHeaderBytes, '\0');
    if (!read_all(fd, buffer.data(), kHeaderBytes))
        return std::nullopt;
    const quint32 length = qFromBigEndian<quint32>(buffer.constData());
    if (length > kMaxFrameBytes)
        return std::nullopt;
    buffer.resize(kHeaderBytes + static_cast<qsizetype>(length));
    if (!read_all(fd, buffer.data() + kHeaderBytes, length))
        return std::nullopt;
    bool broken = false;
    return take_frame(buffer, broken);
}

class Kernel {
public:
    explicit Kernel(int frames_fd) : m_frames_fd(frames_fd) {}
    int serve();

private:
    // Frames out. Points wait in m_points and go ahead of any other reply,
    // so the window sees them in order; a flusher thread sends them when
    // nothing else does. The run thread only appends a point (its text is
    // converted and written by whoever flushes), so a full pipe never
    // stalls training.
    struct PendingPoint {
        std::string run, name;
        int64_t step;
        double epoch; // MonitorEvent::epoch_position: fractional for batches
        double value;
    };
    void send(FrameWriter &message);
    void flush_points_locked();
    void post_point(const MonitorEvent &e);
    void flusher();
    void reader();

    void handle(const QByteArray &body);
    void new_runtime(const KernelSettings &settings);
    void run(const QString &code, const QString &name, const KernelSettings &settings);
    // One of the window's own chunks with `value` in `global`, in the last
    // run's state (a new one, made with `settings`, when there is none).
    void run_window_chunk(const KernelSettings &settings, const char *global, const QString &value,
                          const std::string &chunk, const char *chunk_name);
    void with_trained_model(const QString &verb, const std::function<QString(Model &)> &action);
    void on_event(const MonitorEvent &e);
    void on_watch(const std::shared_ptr<const WatchedModel> &watched);
    void draw_picture(int64_t step, bool now);
    void output(const QString &text);
    void failed(const QString &message, const QString &traceback, const ErrorFrames &frames = {});
    void finished(int exit_code, bool interrupted, double seconds);
    void picture(Reply kind, const ModelPictures::Picture &p);
    void tiles(const TilePicture &p);

    const int m_frames_fd;
    std::mutex m_write_mutex; // the frames fd
    std::mutex m_points_mutex;
    std::vector<PendingPoint> m_points, m_sending;
    std::atomic<bool> m_closing{false};

    std::mutex m_queue_mutex;
    std::condition_variable m_queue_ready;
    std::deque<QByteArray> m_queue;
    bool m_input_closed = false;

    std::unique_ptr<lua::LuaRuntime> m_runtime;
    ModelPictures m_pictures; // after the runtime: goes first, its model runs the runtime's plugins
    int64_t m_last_step = 0;
    std::atomic<lua::LuaRuntime *> m_active{nullptr};
    std::atomic<bool> m_stop_requested{false};
    const std::thread::id m_run_thread = std::this_thread::get_id(); // scripts run on the main thread
};

// With m_write_mutex held.
void Kernel::flush_points_locked()
{
    {
        std::lock_guard lock(m_points_mutex);
        if (m_points.empty())
            return;
        m_sending.swap(m_points);
    }
    FrameWriter batch;
    batch.stream() << quint8(Reply::Points) << quint32(m_sending.size());
    for (const PendingPoint &p : m_sending)
        batch.stream() << Point{QString::fromStdString(p.run), QString::fromStdString(p.name), p.step, p.epoch,
                                p.value};
    m_sending.clear(); // keeps its capacity for the next batch
    const QByteArray frame = batch.frame();
    write_all(m_frames_fd, frame.constData(), static_cast<size_t>(frame.size()));
}

void Kernel::send(FrameWriter &message)
{
    const QByteArray frame = message.frame();
    std::lock_guard lock(m_write_mutex);
    flush_points_locked();
    write_all(m_frames_fd, frame.constData(), static_cast<size_t>(frame.size()));
}

void Kernel::post_point(const MonitorEvent &e)
{
    std::lock_guard lock(m_points_mutex);
    m_points.push_back({e.run, e.name, e.step, e.epoch_position, e.value});
}

void Kernel::flusher()
{
    while (!m_closing.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kFlushEveryMs));
        std::lock_guard lock(m_write_mutex);
        flush_points_locked();
    }
}

// Requests come in here, on a thread of their own, so that Stop reaches a
// run that keeps the main thread busy.
void Kernel::reader()
{
    while (const auto body = read_request(STDIN_FILENO)) {
        kernel::FrameReader frame(*body);
        QDataStream &s = frame.stream();
        quint8 type = 0;
        s >> type;
        if (Request(type) == Request::Stop) {
            m_stop_requested = true;
            if (lua::LuaRuntime *rt = m_active.load())
                rt->request_cancel();
            continue;
        }
        if (Request(type) == Request::PictureSample) {
            qint64 sample = 0;
            s >> sample;
            m_pictures.set_sample(sample); // a run draws it at its next picture; after a run, handle() does
        }
        std::lock_guard lock(m_queue_mutex);
        m_queue.push_back(*body);
        m_queue_ready.notify_one();
    }
    // The window is gone (or closed our stdin to end us): stop what runs.
    if (lua::LuaRuntime *rt = m_active.load())
        rt->request_cancel();
    std::lock_guard lock(m_queue_mutex);
    m_input_closed = true;
    m_queue_ready.notify_one();
}

int Kernel::serve()
{
    std::thread flushing([this] { flusher(); });
    std::thread reading([this] { reader(); });
    reading.detach(); // blocked in read(2) until the window closes stdin
    FrameWriter ready;
    ready.stream() << quint8(Reply::Ready);
    send(ready);
    for (;;) {
        QByteArray body;
        {
            std::unique_lock lock(m_queue_mutex);
            m_queue_ready.wait(lock, [this] { return m_input_closed || !m_queue.empty(); });
            if (m_queue.empty())
                break;
            body = m_queue.front();
            m_queue.pop_front();
        }
        handle(body);
    }
    m_closing = true;
    flushing.join();
    m_active = nullptr;
    m_pictures.reset();
    m_runtime.reset();
    return 0;
}

void Kernel::handle(const QByteArray &body)
{
    kernel::FrameReader frame(body);
    QDataStream &s = frame.stream();
    quint8 type = 0;
    QString text, name, directory;
    KernelSettings settings;
    s >> type;
    switch (Request(type)) {
    case Request::Run:
        s >> text >> name >> directory >> settings;
        run(text, name, settings);
        break;
    case Request::Evaluate:
        s >> text >> settings;
        // As the lua prompt does: an expression prints its values.
        run_window_chunk(settings, "__neurite_prompt", text, resource_text(":/neurite/window_prompt.lua"),
                         "=prompt");
        break;
    case Request::OpenModel:
        s >> text >> settings;
        run_window_chunk(settings, "__neurite_model_path", text,
                         resource_text(":/neurite/window_open_model.lua"), "=open model");
        break;
    case Request::SaveModel:
        s >> text;
        with_trained_model(QObject::tr("save"), [&](Model &model) {
            Checkpoint::capture(model).write(text.toStdString()); // atomic; names the file on failure
            return QObject::tr("Saved the trained model (%1 parameters) to %2; nn.load(path) reads it back")
                .arg(model.parameter_count())
                .arg(text);
        });
        break;
    case Request::ExportOnnx:
        s >> text;
        with_trained_model(QObject::tr("export"), [&](Model &model) {
            const interchange::OnnxExportOptions options;
            interchange::export_onnx(model, text.toStdString(), options);
            return QObject::tr("Exported the trained model to %1 (ONNX opset %2, checked by onnx::checker); "
                               "nn.import_onnx(path) reads it back")
                .arg(text)
                .arg(options.opset);
        });
        break;
    case Request::SetDataset: {
        bool present = false;
        s >> present;
        try {
            data::set_current_dataset(present ? read_dataset(s) : data::Dataset());
        } catch (const std::exception &e) {
            output(QObject::tr("data.current() is unavailable: %1").arg(QString::fromUtf8(e.what())));
        }
        break;
    }
    case Request::PictureSample:
        if (const auto maps = m_pictures.feature_maps())
            tiles(*maps);
        break;
    default:
        output(QObject::tr("The kernel got a request it does not know (type %1).").arg(type));
        break;
    }
}

// A fresh state for each run: nothing leaks from one experiment into the next.
void Kernel::new_runtime(const KernelSettings &settings)
{
    m_active = nullptr;
    m_pictures.reset();
    m_last_step = 0;
    m_runtime.reset();
    ComputeContext::set_flush_denormals(settings.flush_denormals);
    lua::RuntimeOptions options;
    options.max_memory_bytes = settings.max_memory;
    options.runs_dir = settings.runs_dir.toStdString();
    m_runtime = std::make_unique<lua::LuaRuntime>(options);
    m_runtime->monitor().set_run_count(settings.runs_so_far);
    m_runtime->monitor().subscribe([this](const MonitorEvent &e) { on_event(e); });
    m_runtime->set_print_sink([this](const std::string &line) { output(QString::fromStdString(line)); });
    m_runtime->context().set_log_handler([this](int level, const std::string &message) {
        output(QString(level ? "warning: %1" : "info: %1").arg(QString::fromStdString(message)));
    });
    // A script stuck in C code that no cancel reaches (string.find on a long
    // text): the window asked to stop, so this process ends, saying why.
    m_runtime->set_stuck_handler([](const std::string &message, bool time_limit) {
        const std::string line = "neurite-run: " + message + "\n";
        write_all(STDERR_FILENO, line.data(), line.size());
        _exit(time_limit ? 1 : kExitStuck);
    });
    m_active = m_runtime.get();
}

void Kernel::on_event(const MonitorEvent &e)
{
    const bool run_thread = std::this_thread::get_id() == m_run_thread;
    switch (e.type) {
    case MonitorEvent::Type::Scalar:
        post_point(e);
        [[fallthrough]];
    case MonitorEvent::Type::Progress:
        if (run_thread) {
            m_last_step = e.step;
            if (m_pictures.live())
                draw_picture(e.step, false);
        }
        break;
    case MonitorEvent::Type::Text:
        output(QString::fromStdString(e.text));
        break;
    case MonitorEvent::Type::Model:
        if (e.watched && run_thread)
            on_watch(e.watched);
        break;
    case MonitorEvent::Type::RunEnd:
        if (m_pictures.live() && run_thread)
            draw_picture(e.step, true);
        break;
    default:
        break;
    }
}

void Kernel::on_watch(const std::shared_ptr<const WatchedModel> &watched)
{
    m_pictures.watch(watched);
    Model &model = *watched->model;
    const std::vector<Shape> shapes = describe_shapes(model, watched->data);
    QString summary;
    try {
        summary = shapes.empty()
                      ? QObject::tr("%1 nodes, %2 parameters (give monitor.watch the data to see the shapes)")
                            .arg(model.node_count())
                            .arg(model.parameter_count())
                      : QString::fromStdString(model.summary_text(shapes));
    } catch (const std::exception &e) {
        summary = QString::fromUtf8(e.what());
    }
    // The precision the run computes in (issue 18): mixed bf16 keeps f32 master weights.
    const QString precision = model.precision() == DType::BF16 ? QStringLiteral("bf16") : QStringLiteral("f32");
    if (!summary.endsWith('\n'))
        summary += '\n';
    summary += QObject::tr("precision: %1").arg(precision == "bf16" ? QObject::tr("bf16 (f32 master weights)") : precision);
    FrameWriter message;
    message.stream() << quint8(Reply::Model) << summary << describe_model(model, shapes) << precision;
    send(message);
}

void Kernel::picture(Reply kind, const ModelPictures::Picture &p)
{
    FrameWriter message;
    message.stream() << quint8(kind) << p.image << p.caption; // QImage travels as PNG
    send(message);
}

void Kernel::tiles(const TilePicture &p)
{
    FrameWriter message;
    message.stream() << quint8(Reply::Tiles) << p;
    send(message);
}

void Kernel::draw_picture(int64_t step, bool now)
{
    std::vector<TilePicture> layers;
    if (const auto drawn = m_pictures.draw(step, now, layers))
        picture(Reply::Boundary, *drawn);
    for (const TilePicture &p : layers)
        tiles(p);
    if (const QString problem = m_pictures.take_problem(); !problem.isEmpty())
        output(problem);
}

void Kernel::output(const QString &text)
{
    FrameWriter message;
    message.stream() << quint8(Reply::Output) << text;
    send(message);
}

void Kernel::failed(const QString &message_text, const QString &traceback, const ErrorFrames &frames)
{
    FrameWriter message;
    message.stream() << quint8(Reply::Failed) << message_text << traceback << frames;
    send(message);
}

void Kernel::finished(int exit_code, bool interrupted, double seconds)
{
    if (m_runtime)
        m_runtime->clear_cancel();
    m_stop_requested = false;
    FrameWriter message;
    message.stream() << quint8(Reply::Finished) << qint32(exit_code) << interrupted << seconds
                     << qint32(m_runtime ? m_runtime->monitor().run_count() : 0);
    send(message);
}

void Kernel::run(const QString &code, const QString &name, const KernelSettings &settings)
{
    QElapsedTimer clock;
    clock.start();
    lua::RunResult result;
    try {
        new_runtime(settings);
        if (m_stop_requested.exchange(false))
            m_runtime->request_cancel();
        // "@path" makes Lua report errors as path:line, which the console links.
        const QString chunk = QFileInfo(name).suffix() == "lua" ? "@" + name : "=" + name;
        result = m_runtime->run_string(code.toStdString(), chunk.toStdString());
        // The last picture shows the model as the run left it; the confusion
        // matrix is computed after the script, so no timing in it pays for it.
        draw_picture(m_last_step, true);
        if (result.status != lua::RunResult::Status::Interrupted)
            if (const auto confusion = m_pictures.confusion())
                picture(Reply::Confusion, *confusion);
    } catch (const std::exception &e) {
        result.status = lua::RunResult::Status::Error;
        result.exit_code = 1;
        result.message = e.what();
    }
    if (result.status == lua::RunResult::Status::Error)
        failed(QString::fromStdString(result.message), QString::fromStdString(result.traceback),
               error_frames(result.frames));
    finished(result.exit_code, result.status == lua::RunResult::Status::Interrupted, clock.elapsed() / 1000.0);
}

void Kernel::run_window_chunk(const KernelSettings &settings, const char *global, const QString &value,
                              const std::string &chunk, const char *chunk_name)
{
    if (!m_runtime)
        new_runtime(settings);
    // The value travels in a global, never spliced into Lua source.
    lua_State *L = m_runtime->state();
    const QByteArray text = value.toUtf8();
    lua_pushlstring(L, text.constData(), static_cast<size_t>(text.size()));
    lua_setglobal(L, global);
    const lua::RunResult result = m_runtime->run_string(chunk, chunk_name);
    if (result.status == lua::RunResult::Status::Error)
        failed(QString::fromStdString(result.message), QString());
    finished(result.exit_code, result.status == lua::RunResult::Status::Interrupted, 0);
}

void Kernel::with_trained_model(const QString &verb, const std::function<QString(Model &)> &action)
{
    const std::shared_ptr<const WatchedModel> watched = m_pictures.watched();
    if (!watched) {
        failed(QObject::tr("No trained model to %1: run a script that calls train.fit (or the quick form), "
                           "or open a model, first.")
                   .arg(verb),
               QString());
        finished(1, false, 0);
        return;
    }
    int code = 0;
    try {
        output(action(*watched->model));
    } catch (const std::exception &e) {
        failed(QString::fromUtf8(e.what()), QString());
        code = 1;
    }
    finished(code, false, 0);
}

} // namespace

int serve()
{
    // Frames go to the stdout the window reads; fd 1 itself then points at
    // stderr, so that a plugin's printf cannot break a frame (the window
    // shows stderr as text).
    const int frames_fd = dup(STDOUT_FILENO);
    if (frames_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        std::perror("neurite-run --kernel");
        return 1;
    }
    // The window decides when a run stops: a Ctrl-C in its terminal is its own.
    std::signal(SIGINT, SIG_IGN);
    // Training fills every core; the window must still answer within a frame.
    setpriority(PRIO_PROCESS, 0, kRunNice);
    // Pictures draw text (the confusion matrix's labels), which needs a
    // QGuiApplication; no window is ever shown.
    qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "neurite-run";
    static char *argv[] = {name, nullptr};
    // Its start-up notes (QStandardPaths on XDG_RUNTIME_DIR) would land in
    // the window's console at every new kernel: not the script's business.
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
    QGuiApplication app(argc, argv);
    qInstallMessageHandler(nullptr);
    Kernel kernel(frames_fd);
    return kernel.serve();
}

} // namespace neurite::gui::kernel
