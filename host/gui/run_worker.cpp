#include "run_worker.h"

#include "training_monitor.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/compute_context.h"
#include "neurite/core/model.h"
#include "neurite/core/monitor.h"
#include "neurite/interchange/onnx.h"
#include "neurite/lua/runtime.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QThread>

#include <lua.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace neurite::gui {

namespace {

constexpr int kRunNice = 5;

// The console prompt's Lua (resources/lua/neurite/window_prompt.lua, built
// into the window as a Qt resource).
std::string resource_text(const char *path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll().toStdString() : std::string();
}

const std::string &prompt_chunk()
{
    static const std::string text = resource_text(":/neurite/window_prompt.lua");
    return text;
}

const std::string &open_model_chunk()
{
    static const std::string text = resource_text(":/neurite/window_open_model.lua");
    return text;
}

} // namespace

RunWorker::RunWorker(TrainingMonitor *monitor) : m_monitor(monitor)
{
    qRegisterMetaType<ModelGraph>();
}

RunWorker::~RunWorker()
{
    m_pictures.reset(); // the watched model before the plugins that run it
}

void RunWorker::request_stop()
{
    m_stop_requested = true;
    if (lua::LuaRuntime *rt = m_active.load())
        rt->request_cancel();
}

// A fresh state: nothing leaks from one experiment into the next.
void RunWorker::new_runtime()
{
    m_active = nullptr;
    m_pictures.reset();
    m_last_step = 0;
    const int runs = m_runtime ? m_runtime->monitor().run_count() : 0;
    m_runtime.reset();
    m_runtime = std::make_unique<lua::LuaRuntime>();
    m_runtime->monitor().set_run_count(runs); // the window numbers runs across scripts
    m_runtime->monitor().subscribe([this](const MonitorEvent &e) { on_event(e); });
    m_runtime->set_print_sink([this](const std::string &line) { emit output(QString::fromStdString(line)); });
    m_active = m_runtime.get();
}

bool RunWorker::on_run_thread() const
{
    return QThread::currentThread() == thread();
}

void RunWorker::on_event(const MonitorEvent &e)
{
    // Metrics go to the monitor's ring from this thread; text to the
    // console. Pictures only on the run thread, where the model runs.
    switch (e.type) {
    case MonitorEvent::Type::Scalar:
        m_monitor->post(interned(e.run), interned(e.name), {double(e.step), e.epoch_position, e.value});
        [[fallthrough]];
    case MonitorEvent::Type::Progress:
        if (on_run_thread()) {
            m_last_step = e.step;
            if (m_pictures.live())
                draw_picture(e.step, false);
        }
        break;
    case MonitorEvent::Type::Text:
        emit output(QString::fromStdString(e.text));
        break;
    case MonitorEvent::Type::Model:
        if (e.watched && on_run_thread())
            on_watch(e.watched);
        break;
    case MonitorEvent::Type::RunEnd:
        if (m_pictures.live() && on_run_thread())
            draw_picture(e.step, true);
        break;
    default:
        break;
    }
}

void RunWorker::on_watch(const std::shared_ptr<const WatchedModel> &watched)
{
    m_pictures.watch(watched);
    Model &model = *watched->model;
    const std::vector<Shape> shapes = describe_shapes(model, watched->data);
    QString summary;
    try {
        summary = shapes.empty() ? tr("%1 nodes, %2 parameters (give monitor.watch the data to see the shapes)")
                                       .arg(model.node_count())
                                       .arg(model.parameter_count())
                                 : QString::fromStdString(model.summary_text(shapes));
    } catch (const std::exception &e) {
        summary = QString::fromUtf8(e.what());
    }
    emit model_changed(summary, describe_model(model, shapes));
}

void RunWorker::draw_picture(int64_t step, bool now)
{
    if (const auto picture = m_pictures.draw(step, now))
        emit boundary_changed(picture->image, picture->caption);
    if (const QString problem = m_pictures.take_problem(); !problem.isEmpty())
        emit output(problem);
}

const QString &RunWorker::interned(const std::string &text)
{
    auto it = m_names.find(text);
    if (it == m_names.end())
        it = m_names.emplace(text, QString::fromStdString(text)).first;
    return it->second;
}

void RunWorker::run(const QString &code, const QString &name, const QString &directory)
{
    (void)directory;
    // Training fills every core; the window must still answer within a frame.
    // A nicer run thread (and the OpenMP workers it creates, which inherit it)
    // yields to the UI thread whenever both want a core.
    static thread_local const bool niced = [] {
        return setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kRunNice) == 0;
    }();
    (void)niced;
    // The UI thread created this one, and a new thread has its creator's
    // floating-point mode, not necessarily the one the user chose (FTZ/DAZ
    // unless --keep-denormals). Plugins' teams follow at their first call.
    ComputeContext::prepare_thread();
    m_running = true;
    m_run_name = name;
    QElapsedTimer clock;
    clock.start();
    emit started(name);
    lua::RunResult result;
    try {
        new_runtime();
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
                emit confusion_changed(confusion->image, confusion->caption);
    } catch (const std::exception &e) {
        result.status = lua::RunResult::Status::Error;
        result.exit_code = 1;
        result.message = e.what();
    }
    if (result.status == lua::RunResult::Status::Error)
        emit failed(QString::fromStdString(result.message), QString::fromStdString(result.traceback));
    const bool interrupted = result.status == lua::RunResult::Status::Interrupted;
    if (m_runtime)
        m_runtime->clear_cancel();
    m_stop_requested = false;
    m_running = false;
    emit finished(result.exit_code, interrupted, clock.elapsed() / 1000.0);
}

void RunWorker::evaluate(const QString &code)
{
    // As the lua prompt does: an expression prints its values, anything else
    // runs as a statement.
    run_window_chunk("__neurite_prompt", code, prompt_chunk(), "=prompt");
}

void RunWorker::open_model(const QString &path)
{
    run_window_chunk("__neurite_model_path", path, open_model_chunk(), "=open model");
}

void RunWorker::run_window_chunk(const char *global, const QString &value, const std::string &chunk,
                                 const char *chunk_name)
{
    if (!m_runtime)
        new_runtime();
    ComputeContext::prepare_thread(); // as in run()
    m_running = true;
    // The value travels in a global, never spliced into Lua source.
    lua_State *L = m_runtime->state();
    const QByteArray text = value.toUtf8();
    lua_pushlstring(L, text.constData(), static_cast<size_t>(text.size()));
    lua_setglobal(L, global);
    const lua::RunResult result = m_runtime->run_string(chunk, chunk_name);
    if (result.status == lua::RunResult::Status::Error)
        emit failed(QString::fromStdString(result.message), QString());
    m_runtime->clear_cancel();
    m_running = false;
    emit finished(result.exit_code, result.status == lua::RunResult::Status::Interrupted, 0);
}

void RunWorker::save_model(const QString &path)
{
    // On the run thread, where the model lives; the checkpoint is written
    // atomically and names the file on failure.
    with_trained_model(tr("save"), [&](Model &model) {
        Checkpoint::capture(model).write(path.toStdString());
        return tr("Saved the trained model (%1 parameters) to %2; nn.load(path) reads it back")
            .arg(model.parameter_count())
            .arg(path);
    });
}

void RunWorker::export_onnx(const QString &path)
{
    with_trained_model(tr("export"), [&](Model &model) {
        const interchange::OnnxExportOptions options;
        interchange::export_onnx(model, path.toStdString(), options);
        return tr("Exported the trained model to %1 (ONNX opset %2, checked by onnx::checker); "
                  "nn.import_onnx(path) reads it back")
            .arg(path)
            .arg(options.opset);
    });
}

void RunWorker::with_trained_model(const QString &verb, const std::function<QString(Model &)> &action)
{
    const std::shared_ptr<const WatchedModel> watched = m_pictures.watched();
    if (!watched) {
        emit failed(tr("No trained model to %1: run a script that calls train.fit (or the quick form), "
                       "or open a model, first.")
                        .arg(verb),
                    QString());
        emit finished(1, false, 0);
        return;
    }
    m_running = true;
    int code = 0;
    try {
        emit output(action(*watched->model));
    } catch (const std::exception &e) {
        emit failed(QString::fromUtf8(e.what()), QString());
        code = 1;
    }
    m_running = false;
    emit finished(code, false, 0);
}

} // namespace neurite::gui
