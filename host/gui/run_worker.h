#pragma once

#include "error_frames.h"
#include "kernel_protocol.h"
#include "model_graph.h"

#include "neurite/core/data/dataset.h"

#include <QElapsedTimer>
#include <QImage>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <optional>
#include <unordered_map>

namespace neurite::gui {

class TrainingMonitor;

// Runs the window's scripts in a child process, the kernel (`neurite-run
// --kernel`, kernel_session.h), as a Jupyter notebook does: a plugin that
// crashes, an abort, a script that eats the memory or loops in C code ends
// that process, never the window. The kernel keeps the last run's Lua state
// for the console; it streams printed lines, metric points (in batches),
// errors, the model's graph and pictures back as frames (kernel_protocol.h),
// which this object turns into the same signals the in-process worker had.
//
// When the kernel dies mid-request, failed() says why ("the run crashed:
// SIGSEGV in plugin libx.so, entry Dense, forward (batch 4)", from the
// crash handler's line on the kernel's stderr) and finished() follows; the
// next request starts a fresh kernel. Lives on the UI thread.
class RunWorker : public QObject {
    Q_OBJECT

public:
    static constexpr int kStopGraceMs = 5000; // after Stop, the kernel is killed if still busy
    static constexpr quint64 kNoLimit = 0;

    explicit RunWorker(TrainingMonitor *monitor, QObject *parent = nullptr);
    ~RunWorker() override;

    // Asks the kernel to stop the run (as Ctrl-C does neurite-run); kills it
    // when it has not answered after kStopGraceMs.
    void request_stop();
    bool running() const { return m_busy; }
    // Stops what runs, waits up to wait_ms for it to end, then ends the kernel.
    void shut_down(int wait_ms);

    // Lua allocations plus tensors, per run (0: none); from the next run on.
    void set_max_memory(quint64 bytes) { m_max_memory = bytes; }
    quint64 max_memory() const { return m_max_memory; }
    // Where runs are kept (runs/<id>/, as neurite-run keeps them); empty: not kept.
    void set_runs_dir(const QString &dir) { m_runs_dir = dir; }
    const QString &runs_dir() const { return m_runs_dir; }
    // The Data panel's dataset: data.current() in the kernel.
    void set_dataset(const data::Dataset &dataset);
    // The kernel's process id, 0 when none runs.
    qint64 kernel_pid() const;
    // neurite-run beside the window's program, else the one of the build tree.
    static QString kernel_program();

public slots:
    // code is the script's text; name is shown in errors and the run list
    // (a file path when the script is saved, so errors link back to it).
    void run(const QString &code, const QString &name, const QString &directory);
    void evaluate(const QString &code);
    // Saves the model the last run watched (train.fit's) to path.
    void save_model(const QString &path);
    // The last run's (or the opened) model as ONNX.
    void export_onnx(const QString &path);
    // A .nrt or .onnx file as the watched model: its graph in the Model
    // panel, and `model` for the console prompt.
    void open_model(const QString &path);
    // The sample (from 0) whose feature maps the Model panel shows: a run
    // takes it at its next picture, an idle kernel redraws them at once.
    void set_picture_sample(qint64 sample);

signals:
    void started(const QString &name);
    void output(const QString &line);
    // frames: the stack, innermost first (empty when the run did not reach Lua).
    void failed(const QString &message, const QString &traceback, const neurite::gui::ErrorFrames &frames);
    void finished(int exit_code, bool interrupted, double seconds);
    // A run announced the model it trains: its summary table and its graph.
    void model_changed(const QString &summary, const neurite::gui::ModelGraph &graph);
    void boundary_changed(const QImage &image, const QString &caption);
    // After a run that watched a classifier: the confusion matrix as a picture.
    void confusion_changed(const QImage &image, const QString &caption);
    // A convolution's filters or feature maps, an autoencoder's reconstructions.
    void tiles_changed(const neurite::gui::kernel::TilePicture &picture);
    // The precision the watched model computes in: "f32" or "bf16".
    void precision_changed(const QString &precision);

private:
    // Sends a request to the kernel (started if none runs) and marks the
    // worker busy until its Finished reply, or the kernel's death.
    void request(kernel::FrameWriter &message);
    bool ensure_kernel();
    kernel::KernelSettings settings() const;
    void read_frames();
    void read_errors();
    void dispatch(const QByteArray &body);
    void on_points(QDataStream &s);
    void on_kernel_ended(int exit_code, QProcess::ExitStatus status);
    // Why the kernel ended, for the console.
    QString ending_message(int exit_code, QProcess::ExitStatus status, bool &interrupted) const;
    void drop_kernel();
    // One shared QString per run or metric name: the monitor matches names
    // by their data pointer.
    const QString &interned(const QString &text);

    TrainingMonitor *m_monitor;
    QProcess *m_process = nullptr;
    QByteArray m_frames;  // stdout, until a whole frame is in
    QByteArray m_errors;  // stderr, until a whole line is in
    QString m_crash_line; // "crashed with SIGSEGV in plugin ..., entry ..., forward (batch 4)"
    QString m_last_error_line;
    bool m_busy = false;
    bool m_stop_requested = false;
    bool m_killed_after_stop = false;
    QTimer m_kill_timer;
    QElapsedTimer m_clock;
    quint64 m_max_memory = kNoLimit;
    int m_runs_so_far = 0;
    QString m_runs_dir;
    std::optional<data::Dataset> m_dataset;
    bool m_dataset_sent = false;
    std::unordered_map<QString, QString> m_names;
};

} // namespace neurite::gui
