#pragma once

#include "neurite/core/tensor.h"

#include <QElapsedTimer>
#include <QImage>
#include <QObject>
#include <QRectF>
#include <QString>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

struct lua_State;

namespace neurite {
class Model;
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
    // Saves the model the last train.fit trained to path.
    void save_model(const QString &path);

signals:
    void started(const QString &name);
    void output(const QString &line);
    void failed(const QString &message, const QString &traceback);
    void finished(int exit_code, bool interrupted, double seconds);
    void model_changed(const QString &summary);
    void boundary_changed(const QImage &image, const QString &caption);
    // After train.fit on class data: the confusion matrix as a picture.
    void confusion_changed(const QImage &image, const QString &caption);

private:
    void attach_runtime();
    void install_hooks();
    // Called from the script (through train.fit) on the run thread.
    static int hook_model(lua_State *L);
    static int hook_tick(lua_State *L);
    static int hook_fitted(lua_State *L);
    static int hook_confusion(lua_State *L);
    void show_confusion();
    void capture_boundary_data(lua_State *L, int data_index);
    // One shared QString per run or metric name: posting a point then
    // copies no text, and the monitor matches names by their data pointer.
    const QString &interned(const std::string &text);

    TrainingMonitor *m_monitor;
    std::unique_ptr<lua::LuaRuntime> m_runtime;
    std::atomic<lua::LuaRuntime *> m_active{nullptr};
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_stop_requested{false};
    QString m_run_name;
    std::unordered_map<std::string, QString> m_names; // the run thread's only

    // The model train.fit is training, for the summary and the boundary.
    Model *m_model = nullptr;
    int m_model_ref = -2; // LUA_NOREF: keeps the model alive while we point at it
    // The last train.fit's model and evaluation data, for the confusion matrix.
    int m_fitted_model_ref = -2, m_fitted_data_ref = -2; // LUA_NOREF
    bool m_fitted_on_validation = false;
    bool m_boundary = false; // a picture of the model is drawn while it trains:
    bool m_fit = false;      // the fitted curve (1-D regression), else the decision boundary
    Tensor m_boundary_inputs, m_boundary_labels;
    QRectF m_boundary_domain;
    QElapsedTimer m_since_boundary;
    int m_ticks = 0;
};

} // namespace neurite::gui
