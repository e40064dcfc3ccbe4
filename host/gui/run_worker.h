#pragma once

#include "model_graph.h"
#include "model_pictures.h"

#include <QObject>

#include <functional>
#include <QString>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

namespace neurite {
struct MonitorEvent;
}

namespace neurite::lua {
class LuaRuntime;
}

namespace neurite::gui {

class TrainingMonitor;

// Runs scripts on its own thread: the Lua state of a run lives and dies
// there, so the UI thread never waits on training. Output, errors and the
// end of a run come back as queued signals; metrics go straight into the
// training monitor's ring buffer. The state of the last run is kept so the
// console can evaluate in it while nothing runs.
//
// The window learns what a run trains from the run's events alone: the
// "model" event (monitor.watch, which train.fit calls, or an optimizer made
// over a model) says which model trains on what; the step's scalars say
// when a picture of it may be redrawn. A loop of one's own gets the same
// pictures as train.fit, and nothing patches the script's functions.
class RunWorker : public QObject {
    Q_OBJECT

public:
    explicit RunWorker(TrainingMonitor *monitor);
    ~RunWorker() override;

    // Thread-safe: stops a run within the hook interval, even inside a long
    // C++ call that checks the cancel flag.
    void request_stop();
    bool running() const { return m_running.load(); }

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

signals:
    void started(const QString &name);
    void output(const QString &line);
    void failed(const QString &message, const QString &traceback);
    void finished(int exit_code, bool interrupted, double seconds);
    // A run announced the model it trains: its summary table and its graph.
    void model_changed(const QString &summary, const neurite::gui::ModelGraph &graph);
    void boundary_changed(const QImage &image, const QString &caption);
    // After a run that watched a classifier: the confusion matrix as a picture.
    void confusion_changed(const QImage &image, const QString &caption);

private:
    void new_runtime();
    // Runs one of the window's own chunks with `value` in `global`.
    void run_window_chunk(const char *global, const QString &value, const std::string &chunk, const char *chunk_name);
    // Calls action on the watched model and reports its sentence, or says
    // there is no model to `verb`.
    void with_trained_model(const QString &verb, const std::function<QString(Model &)> &action);
    // Monitor events, on the thread that publishes them.
    void on_event(const MonitorEvent &e);
    void on_watch(const std::shared_ptr<const WatchedModel> &watched);
    void draw_picture(int64_t step, bool now);
    bool on_run_thread() const;
    // One shared QString per run or metric name: posting a point then
    // copies no text, and the monitor matches names by their data pointer.
    const QString &interned(const std::string &text);

    TrainingMonitor *m_monitor;
    std::unique_ptr<lua::LuaRuntime> m_runtime;
    // After the runtime: destroyed before it, since the watched model's
    // layers run code of the plugins the runtime loaded.
    ModelPictures m_pictures;
    int64_t m_last_step = 0;
    std::atomic<lua::LuaRuntime *> m_active{nullptr};
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_stop_requested{false};
    QString m_run_name;
    std::unordered_map<std::string, QString> m_names; // the run thread's only
};

} // namespace neurite::gui
