#include "run_worker.h"

#include "training_monitor.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/crash_report.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QRegularExpression>

#include <csignal>

namespace neurite::gui {

using kernel::FrameWriter;
using kernel::Reply;
using kernel::Request;

namespace {

constexpr int kExitInterrupted = 130;
constexpr int kCloseWaitMs = 2000; // a kernel told to end has this long before it is killed

QString after_crash_marker(const QString &line)
{
    static const QString marker = QStringLiteral("crashed with ");
    const qsizetype at = line.indexOf(marker);
    return at < 0 ? QString() : line.mid(at + marker.size()).trimmed();
}

} // namespace

RunWorker::RunWorker(TrainingMonitor *monitor, QObject *parent) : QObject(parent), m_monitor(monitor)
{
    qRegisterMetaType<ModelGraph>();
    qRegisterMetaType<kernel::TilePicture>();
    m_kill_timer.setSingleShot(true);
    connect(&m_kill_timer, &QTimer::timeout, this, [this] {
        if (m_process && m_busy) {
            m_killed_after_stop = true;
            m_process->kill();
        }
    });
}

RunWorker::~RunWorker() { shut_down(0); }

QString RunWorker::kernel_program()
{
    const QString beside = QCoreApplication::applicationDirPath() + "/neurite-run";
    if (QFileInfo(beside).isExecutable())
        return beside;
#ifdef NEURITE_BUILD_KERNEL
    return QStringLiteral(NEURITE_BUILD_KERNEL); // tests and benchmarks run from their own folders
#else
    return beside;
#endif
}

qint64 RunWorker::kernel_pid() const
{
    return m_process && m_process->state() != QProcess::NotRunning ? m_process->processId() : 0;
}

kernel::KernelSettings RunWorker::settings() const
{
    return {ComputeContext::flush_denormals(), m_max_memory, m_runs_so_far, m_runs_dir};
}

bool RunWorker::ensure_kernel()
{
    if (m_process && m_process->state() == QProcess::NotRunning)
        drop_kernel(); // it died while idle, and its end is not yet handled
    if (m_process)
        return true;
    m_process = new QProcess(this);
    m_frames.clear();
    m_errors.clear();
    m_crash_line.clear();
    m_last_error_line.clear();
    m_dataset_sent = false;
    connect(m_process, &QProcess::readyReadStandardOutput, this, &RunWorker::read_frames);
    connect(m_process, &QProcess::readyReadStandardError, this, &RunWorker::read_errors);
    connect(m_process, &QProcess::finished, this, &RunWorker::on_kernel_ended);
    m_process->start(kernel_program(), {"--kernel"});
    if (!m_process->waitForStarted(10000)) {
        emit failed(tr("Cannot start the run process %1: %2").arg(kernel_program(), m_process->errorString()),
                    QString(), {});
        drop_kernel();
        return false;
    }
    return true;
}

void RunWorker::drop_kernel()
{
    if (!m_process)
        return;
    m_process->disconnect(this);
    if (m_process->state() != QProcess::NotRunning) {
        m_process->kill();
        m_process->waitForFinished(kCloseWaitMs);
    }
    m_process->deleteLater();
    m_process = nullptr;
}

void RunWorker::request(FrameWriter &message)
{
    m_busy = true;
    m_stop_requested = false;
    m_killed_after_stop = false;
    m_clock.start();
    if (!ensure_kernel()) {
        m_busy = false;
        emit finished(1, false, 0);
        return;
    }
    if (m_dataset && !m_dataset_sent) {
        FrameWriter data;
        data.stream() << quint8(Request::SetDataset) << !m_dataset->empty();
        if (!m_dataset->empty())
            kernel::write_dataset(data.stream(), *m_dataset);
        m_process->write(data.frame());
        m_dataset_sent = true;
    }
    m_process->write(message.frame());
}

void RunWorker::set_dataset(const data::Dataset &dataset)
{
    m_dataset = dataset;
    m_dataset_sent = false;
}

void RunWorker::request_stop()
{
    if (!m_busy || !m_process || m_stop_requested)
        return;
    m_stop_requested = true;
    FrameWriter stop;
    stop.stream() << quint8(Request::Stop);
    m_process->write(stop.frame());
    m_kill_timer.start(kStopGraceMs);
}

void RunWorker::shut_down(int wait_ms)
{
    if (!m_process)
        return;
    if (m_busy && wait_ms > 0) {
        request_stop();
        QElapsedTimer waited;
        waited.start();
        while (m_busy && m_process && waited.elapsed() < wait_ms)
            m_process->waitForReadyRead(50); // delivers the frames, Finished among them
    }
    if (!m_process)
        return;
    m_process->disconnect(this);
    m_process->closeWriteChannel(); // the kernel ends when its stdin does
    if (!m_process->waitForFinished(kCloseWaitMs))
        m_process->kill();
    m_process->waitForFinished(kCloseWaitMs);
    delete m_process;
    m_process = nullptr;
    m_busy = false;
}

void RunWorker::run(const QString &code, const QString &name, const QString &directory)
{
    emit started(name);
    FrameWriter message;
    message.stream() << quint8(Request::Run) << code << name << directory << settings();
    request(message);
}

void RunWorker::evaluate(const QString &code)
{
    FrameWriter message;
    message.stream() << quint8(Request::Evaluate) << code << settings();
    request(message);
}

void RunWorker::open_model(const QString &path)
{
    FrameWriter message;
    message.stream() << quint8(Request::OpenModel) << path << settings();
    request(message);
}

void RunWorker::save_model(const QString &path)
{
    FrameWriter message;
    message.stream() << quint8(Request::SaveModel) << path;
    request(message);
}

void RunWorker::export_onnx(const QString &path)
{
    FrameWriter message;
    message.stream() << quint8(Request::ExportOnnx) << path;
    request(message);
}

void RunWorker::set_picture_sample(qint64 sample)
{
    // Not a request: no Finished follows, and the kernel takes it mid-run.
    if (!m_process || m_process->state() == QProcess::NotRunning)
        return;
    FrameWriter message;
    message.stream() << quint8(Request::PictureSample) << sample;
    m_process->write(message.frame());
}

void RunWorker::read_frames()
{
    if (!m_process)
        return;
    m_frames += m_process->readAllStandardOutput();
    for (;;) {
        bool broken = false;
        const std::optional<QByteArray> body = kernel::take_frame(m_frames, broken);
        if (broken) {
            emit output(tr("The run process sent a broken frame; ending it."));
            m_process->kill();
            return;
        }
        if (!body)
            return;
        dispatch(*body);
        if (!m_process) // a slot ended the kernel
            return;
    }
}

void RunWorker::dispatch(const QByteArray &body)
{
    kernel::FrameReader frame(body);
    QDataStream &s = frame.stream();
    quint8 type = 0;
    s >> type;
    QString text, more;
    QImage image;
    switch (Reply(type)) {
    case Reply::Ready:
        break;
    case Reply::Output:
        s >> text;
        emit output(text);
        break;
    case Reply::Points:
        on_points(s);
        break;
    case Reply::Failed: {
        s >> text >> more;
        ErrorFrames frames; // a field added at the end: absent from older kernels
        if (!s.atEnd())
            s >> frames;
        emit failed(text, more, frames);
        break;
    }
    case Reply::Finished: {
        qint32 code = 0, runs = 0;
        bool interrupted = false;
        double seconds = 0;
        s >> code >> interrupted >> seconds >> runs;
        m_runs_so_far = runs;
        m_busy = false;
        m_kill_timer.stop();
        emit finished(code, interrupted, seconds);
        break;
    }
    case Reply::Model: {
        ModelGraph graph;
        s >> text >> graph >> more;
        emit model_changed(text, graph);
        if (!more.isEmpty())
            emit precision_changed(more);
        break;
    }
    case Reply::Tiles: {
        kernel::TilePicture picture;
        s >> picture;
        if (s.status() == QDataStream::Ok)
            emit tiles_changed(picture);
        break;
    }
    case Reply::Boundary:
        s >> image >> text;
        emit boundary_changed(image, text);
        break;
    case Reply::Confusion:
        s >> image >> text;
        emit confusion_changed(image, text);
        break;
    default:
        emit output(tr("The run process sent a reply this window does not know (type %1).").arg(type));
        break;
    }
}

void RunWorker::on_points(QDataStream &s)
{
    quint32 count = 0;
    s >> count;
    kernel::Point p;
    for (quint32 i = 0; i < count && s.status() == QDataStream::Ok; ++i) {
        s >> p;
        m_monitor->post(interned(p.run), interned(p.name), {double(p.step), p.epoch, p.value});
    }
}

const QString &RunWorker::interned(const QString &text)
{
    auto it = m_names.find(text);
    if (it == m_names.end())
        it = m_names.emplace(text, text).first;
    return it->second;
}

// The kernel's stderr: what plugins print there (and to stdout, which the
// kernel points at stderr), its stuck message, and the crash handler's line.
// Shown in the console and passed on to the window's own stderr.
void RunWorker::read_errors()
{
    if (!m_process)
        return;
    m_errors += m_process->readAllStandardError();
    qsizetype end;
    while ((end = m_errors.indexOf('\n')) >= 0) {
        const QString line = QString::fromUtf8(m_errors.left(end));
        m_errors.remove(0, end + 1);
        std::fprintf(stderr, "%s\n", qPrintable(line));
        if (const QString crash = after_crash_marker(line); !crash.isEmpty()) {
            m_crash_line = crash; // said once, in the failure message
            continue;
        }
        m_last_error_line = line;
        emit output(line);
    }
}

QString RunWorker::ending_message(int exit_code, QProcess::ExitStatus status, bool &interrupted) const
{
    interrupted = false;
    if (status == QProcess::CrashExit) {
        // QProcess gives the signal's number as the exit code of a crash.
        if (exit_code == SIGKILL && m_killed_after_stop) {
            interrupted = true;
            return tr("Stopped: the script did not stop within %1 s of Stop (busy inside C code), "
                      "so its process was ended.")
                .arg(kStopGraceMs / 1000);
        }
        if (!m_crash_line.isEmpty())
            return tr("The run crashed: %1.").arg(m_crash_line);
        if (exit_code == SIGKILL)
            return tr("The run was killed by SIGKILL: the system ran out of memory (its OOM killer), or "
                      "another program killed it.");
        return tr("The run was ended by %1.").arg(QString::fromLatin1(crash::signal_name(exit_code)));
    }
    if (m_stop_requested && exit_code == kExitInterrupted) {
        interrupted = true;
        return tr("Stopped: %1").arg(m_last_error_line.isEmpty() ? tr("the run process was ended")
                                                                 : m_last_error_line);
    }
    return tr("The run process ended unexpectedly with exit code %1%2")
        .arg(exit_code)
        .arg(m_last_error_line.isEmpty() ? QString(".") : ": " + m_last_error_line);
}

void RunWorker::on_kernel_ended(int exit_code, QProcess::ExitStatus status)
{
    read_frames(); // what it sent before it ended
    read_errors();
    if (!m_errors.isEmpty()) { // a last line without its newline
        m_errors += '\n';
        read_errors();
    }
    const bool was_busy = m_busy;
    bool interrupted = false;
    const QString why = ending_message(exit_code, status, interrupted);
    m_busy = false;
    m_kill_timer.stop();
    drop_kernel();
    const QString after = tr("The window and its scripts are unharmed; the next run starts a fresh process "
                             "(the console's variables of the last run are gone).");
    if (!was_busy) {
        emit output(why + " " + after);
        return;
    }
    if (interrupted) {
        emit output(why);
    } else {
        emit failed(why + "\n" + after, QString(), {});
    }
    // As a shell reports it: 128 + the signal for a crash.
    int code = status == QProcess::CrashExit ? 128 + exit_code : exit_code;
    if (interrupted)
        code = kExitInterrupted;
    emit finished(code == 0 ? 1 : code, interrupted, m_clock.elapsed() / 1000.0);
}

} // namespace neurite::gui
