#include "run_worker.h"

#include "confusion_picture.h"
#include "decision_boundary.h"
#include "training_monitor.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/data/dataset.h"
#include "neurite/core/error.h"
#include "neurite/core/sequential.h"
#include "neurite/lua/interop.h"

#include "neurite/core/monitor.h"
#include "neurite/lua/runtime.h"

#include <QElapsedTimer>

#include <algorithm>

#include <lua.hpp>
#include <QFileInfo>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace neurite::lua {
// resources/gui/confusion.lua, built in: the confusion matrix after a run.
extern const char *const kConfusionLua;
} // namespace neurite::lua

namespace neurite::gui {

namespace {

constexpr int kBoundaryIntervalMs = 250; // a picture a quarter second is live enough
constexpr int kRunNice = 5;

// Wraps train.fit so the window learns which model trains on which data and
// gets a call after every batch; the script itself is not changed.
constexpr const char *kPrelude = R"(
local gui = __neurite_gui
__neurite_gui = nil
local fit = train.fit
train.fit = function(opts)
  if type(opts) ~= "table" or opts.model == nil then return fit(opts) end
  gui.model(opts.model, opts.data)
  local copy = {}
  for k, v in pairs(opts) do copy[k] = v end
  local callbacks = {}
  for i, cb in ipairs(opts.callbacks or {}) do callbacks[i] = cb end
  -- A finished fit is remembered for the confusion matrix, computed when the
  -- script has ended so that no timing inside the script pays for it.
  callbacks[#callbacks + 1] = {on_batch_end = function() gui.tick(false) end,
                               on_train_end = function()
                                 gui.tick(true)
                                 gui.fitted(opts.model, opts.validation or opts.data, opts.validation ~= nil)
                               end,
                               on_interrupt = function() gui.tick(true) end}
  copy.callbacks = callbacks
  -- A tail call: train.fit's errors still name the script's line.
  return fit(copy)
end
)";

} // namespace

RunWorker::RunWorker(TrainingMonitor *monitor) : m_monitor(monitor) {}

RunWorker::~RunWorker() = default;

void RunWorker::request_stop()
{
    m_stop_requested = true;
    if (lua::LuaRuntime *rt = m_active.load())
        rt->request_cancel();
}

void RunWorker::attach_runtime()
{
    // Metrics go to the monitor's ring from this thread; text to the console.
    m_runtime->monitor().subscribe([this](const MonitorEvent &e) {
        switch (e.type) {
        case MonitorEvent::Type::Scalar:
            m_monitor->post(interned(e.run), interned(e.name), {double(e.step), double(e.epoch), e.value});
            break;
        case MonitorEvent::Type::Text:
            emit output(QString::fromStdString(e.text));
            break;
        default:
            break;
        }
    });
    m_runtime->set_print_sink([this](const std::string &line) { emit output(QString::fromStdString(line)); });
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
        // A fresh state per run: nothing leaks from one experiment into the next.
        m_active = nullptr;
        m_runtime = std::make_unique<lua::LuaRuntime>();
        attach_runtime();
        m_active = m_runtime.get();
        install_hooks();
        if (m_stop_requested.exchange(false))
            m_runtime->request_cancel();
        // "@path" makes Lua report errors as path:line, which the console links.
        const QString chunk = QFileInfo(name).suffix() == "lua" ? "@" + name : "=" + name;
        result = m_runtime->run_string(code.toStdString(), chunk.toStdString());
        if (result.status != lua::RunResult::Status::Interrupted)
            show_confusion();
    } catch (const std::exception &e) {
        result.status = lua::RunResult::Status::Error;
        result.exit_code = 1;
        result.message = e.what();
    }
    if (result.status == lua::RunResult::Status::Error)
        emit failed(QString::fromStdString(result.message), QString::fromStdString(result.traceback));
    m_model = nullptr; // the state stays for the prompt, but no more pictures
    m_boundary = false;
    const bool interrupted = result.status == lua::RunResult::Status::Interrupted;
    if (m_runtime)
        m_runtime->clear_cancel();
    m_stop_requested = false;
    m_running = false;
    emit finished(result.exit_code, interrupted, clock.elapsed() / 1000.0);
}

void RunWorker::evaluate(const QString &code)
{
    if (!m_runtime) {
        m_runtime = std::make_unique<lua::LuaRuntime>();
        attach_runtime();
        m_active = m_runtime.get();
    }
    ComputeContext::prepare_thread(); // as in run()
    m_running = true;
    // As the lua prompt does: an expression prints its values, anything else
    // runs as a statement. The code travels in a global, never spliced into Lua.
    lua_State *L = m_runtime->state();
    const QByteArray text = code.toUtf8();
    lua_pushlstring(L, text.constData(), static_cast<size_t>(text.size()));
    lua_setglobal(L, "__neurite_prompt");
    const lua::RunResult result = m_runtime->run_string(R"(
        local code = __neurite_prompt
        __neurite_prompt = nil
        local chunk = load("return " .. code, "=prompt")
        if not chunk then chunk = assert(load(code, "=prompt")) end
        local results = table.pack(chunk())
        if results.n > 0 then print(table.unpack(results, 1, results.n)) end
    )", "=prompt");
    if (result.status == lua::RunResult::Status::Error)
        emit failed(QString::fromStdString(result.message), QString());
    m_runtime->clear_cancel();
    m_running = false;
    emit finished(result.exit_code, result.status == lua::RunResult::Status::Interrupted, 0);
}

void RunWorker::save_model(const QString &path)
{
    if (!m_runtime || m_model_ref == LUA_NOREF) {
        emit failed(tr("No trained model to save: run a script that calls train.fit (or the quick form) first."),
                     QString());
        emit finished(1, false, 0);
        return;
    }
    m_running = true;
    // The model and the path travel in globals, never spliced into Lua; the
    // model's own save writes atomically and names the file on failure.
    lua_State *L = m_runtime->state();
    lua_rawgeti(L, LUA_REGISTRYINDEX, m_model_ref);
    lua_setglobal(L, "__neurite_model");
    const QByteArray file = path.toUtf8();
    lua_pushlstring(L, file.constData(), static_cast<size_t>(file.size()));
    lua_setglobal(L, "__neurite_path");
    const lua::RunResult result = m_runtime->run_string(R"(
        local model, path = __neurite_model, __neurite_path
        __neurite_model, __neurite_path = nil, nil
        model:save(path)
        print(string.format("Saved the trained model (%d parameters) to %s; nn.load(path) reads it back",
                            model:parameter_count(), path))
    )", "=save model");
    if (result.status == lua::RunResult::Status::Error)
        emit failed(QString::fromStdString(result.message), QString());
    m_runtime->clear_cancel();
    m_running = false;
    emit finished(result.exit_code, false, 0);
}

void RunWorker::install_hooks()
{
    lua_State *L = m_runtime->state();
    m_model = nullptr;
    m_model_ref = LUA_NOREF;
    m_fitted_model_ref = m_fitted_data_ref = LUA_NOREF; // a fresh state: no references yet
    m_boundary = false;
    lua_newtable(L);
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, &RunWorker::hook_model, 1);
    lua_setfield(L, -2, "model");
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, &RunWorker::hook_tick, 1);
    lua_setfield(L, -2, "tick");
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, &RunWorker::hook_fitted, 1);
    lua_setfield(L, -2, "fitted");
    lua_setglobal(L, "__neurite_gui");
    const lua::RunResult r = m_runtime->run_string(kPrelude, "=neurite-gui");
    if (r.status != lua::RunResult::Status::Ok)
        emit output(tr("(the window could not watch train.fit: %1)").arg(QString::fromStdString(r.message)));
}

int RunWorker::hook_model(lua_State *L)
{
    auto *self = static_cast<RunWorker *>(lua_touserdata(L, lua_upvalueindex(1)));
    Model *model = lua::to_model(L, 1);
    if (!model)
        return 0;
    luaL_unref(L, LUA_REGISTRYINDEX, self->m_model_ref);
    lua_pushvalue(L, 1);
    self->m_model_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    self->m_model = model;
    self->m_boundary = false;
    self->capture_boundary_data(L, 2);
    Shape sample;
    if (const data::Dataset *ds = lua::to_dataset(L, 2)) {
        sample = ds->input_shape();
    } else if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "x");
        if (const Tensor *x = lua::to_tensor(L, -1))
            for (int i = 1; i < x->dim(); ++i)
                sample.push_back(x->size(i));
        lua_pop(L, 1);
    }
    QString summary;
    try {
        Shape batch{1};
        for (int64_t d : sample)
            batch.push_back(d);
        summary = sample.empty() ? tr("%1 layers, %2 parameters").arg(model->node_count()).arg(model->parameter_count())
                                 : QString::fromStdString(model->summary_text(std::span<const Shape>(&batch, 1)));
    } catch (const Error &e) {
        summary = QString::fromUtf8(e.what());
    }
    emit self->model_changed(summary);
    return 0;
}

namespace {

// 0-based class numbers for the picture, from labels laid out as encoding says.
Tensor class_numbers(const Tensor &y, data::TargetEncoding encoding)
{
    const int64_t n = y.size(0);
    const int64_t width = y.numel() / n;
    Tensor labels(Shape{n});
    for (int64_t i = 0; i < n; ++i) {
        const float *row = y.data() + i * width;
        switch (encoding) {
        case data::TargetEncoding::Index: labels[i] = row[0] - 1; break; // Lua counts classes from 1
        case data::TargetEncoding::IndexColumn: labels[i] = row[0]; break;
        case data::TargetEncoding::OneHot: labels[i] = float(std::max_element(row, row + width) - row); break;
        }
    }
    return labels;
}

} // namespace

void RunWorker::capture_boundary_data(lua_State *L, int data_index)
{
    // Two features and class labels: the lecture's decision boundaries. One
    // feature and one target value: the fitted curve. Anything else has none.
    // Whether the targets are class labels is the rule data.target_kind,
    // train.evaluate and the confusion matrix use.
    const lua::TargetDescription targets = lua::describe_targets(L, data_index);
    const bool classes = targets.kind == data::TargetKind::Classes;
    Tensor inputs, labels;
    bool fit = false;
    if (const data::Dataset *ds = lua::to_dataset(L, data_index)) {
        if (ds->feature_count() == 1 && targets.kind == data::TargetKind::Values && ds->target_width() == 1) {
            inputs = ds->inputs().reshape(Shape{ds->size(), 1});
            labels = ds->targets().reshape(Shape{ds->size()});
            fit = true;
        } else if (ds->feature_count() == 2 && classes) {
            inputs = ds->inputs().reshape(Shape{ds->size(), 2});
            labels = Tensor(Shape{ds->size()});
            for (int64_t i = 0; i < ds->size(); ++i)
                labels[i] = static_cast<float>(ds->label(i));
        }
    } else if (lua_istable(L, data_index)) {
        lua_getfield(L, data_index, "x");
        lua_getfield(L, data_index, "y");
        const Tensor *x = lua::to_tensor(L, -2), *y = lua::to_tensor(L, -1);
        if (x && y && x->dim() == 2 && x->size(1) == 1 && y->numel() == x->size(0)) {
            inputs = x->clone();
            labels = y->clone().reshape(Shape{x->size(0)});
            fit = true;
        } else if (x && y && x->dim() == 2 && x->size(1) == 2 && classes && y->size(0) == x->size(0)) {
            inputs = x->clone();
            labels = class_numbers(*y, targets.encoding);
        }
        lua_pop(L, 2);
    }
    if (!inputs.defined())
        return;
    m_boundary_inputs = inputs;
    m_boundary_labels = labels;
    m_fit = fit;
    if (!fit)
        m_boundary_domain = boundary_domain(inputs);
    m_boundary = true;
    m_ticks = 0;
    m_since_boundary.invalidate();
}

int RunWorker::hook_fitted(lua_State *L)
{
    auto *self = static_cast<RunWorker *>(lua_touserdata(L, lua_upvalueindex(1)));
    luaL_unref(L, LUA_REGISTRYINDEX, self->m_fitted_model_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, self->m_fitted_data_ref);
    lua_pushvalue(L, 1);
    self->m_fitted_model_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    self->m_fitted_data_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    self->m_fitted_on_validation = lua_toboolean(L, 3);
    return 0;
}

void RunWorker::show_confusion()
{
    if (m_fitted_model_ref == LUA_NOREF || m_fitted_model_ref == LUA_REFNIL)
        return;
    lua_State *L = m_runtime->state();
    lua_rawgeti(L, LUA_REGISTRYINDEX, m_fitted_model_ref);
    lua_setglobal(L, "__neurite_model");
    lua_rawgeti(L, LUA_REGISTRYINDEX, m_fitted_data_ref);
    lua_setglobal(L, "__neurite_data");
    lua_pushboolean(L, m_fitted_on_validation);
    lua_setglobal(L, "__neurite_validation");
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, &RunWorker::hook_confusion, 1);
    lua_setglobal(L, "__neurite_show");
    // A failure here (the script changed the model since) shows nothing.
    m_runtime->run_string(lua::kConfusionLua, "=neurite-gui confusion");
}

int RunWorker::hook_confusion(lua_State *L)
{
    auto *self = static_cast<RunWorker *>(lua_touserdata(L, lua_upvalueindex(1)));
    const Tensor *matrix = lua::to_tensor(L, 1);
    if (!matrix || matrix->dim() != 2 || matrix->size(0) != matrix->size(1))
        return 0;
    const int k = static_cast<int>(matrix->size(0));
    std::vector<int64_t> counts(static_cast<size_t>(k) * static_cast<size_t>(k));
    for (size_t i = 0; i < counts.size(); ++i)
        counts[i] = static_cast<int64_t>((*matrix)[static_cast<int64_t>(i)]);
    QStringList names;
    if (lua_istable(L, 2))
        for (lua_Integer i = 1; i <= k; ++i) {
            lua_geti(L, 2, i);
            names << QString::fromUtf8(lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
            lua_pop(L, 1);
        }
    emit self->confusion_changed(render_confusion(counts, k, names), QString::fromUtf8(luaL_optstring(L, 3, "")));
    return 0;
}

int RunWorker::hook_tick(lua_State *L)
{
    auto *self = static_cast<RunWorker *>(lua_touserdata(L, lua_upvalueindex(1)));
    const bool force = lua_toboolean(L, 1); // the run's end: draw now, no new step
    if (!force)
        ++self->m_ticks;
    if (!self->m_model || !self->m_boundary)
        return 0;
    if (!force && self->m_since_boundary.isValid() && self->m_since_boundary.elapsed() < kBoundaryIntervalMs)
        return 0;
    self->m_since_boundary.start();
    try {
        BoundaryData data{&self->m_boundary_inputs, &self->m_boundary_labels};
        const QImage image =
            self->m_fit ? render_function_fit(*self->m_model, self->m_boundary_inputs, self->m_boundary_labels)
                        : render_decision_boundary(*self->m_model, data, self->m_boundary_domain);
        emit self->boundary_changed(image, tr("after %1 steps").arg(self->m_ticks));
    } catch (const Error &e) {
        self->m_boundary = false; // say it once, then stop trying
        // A 1-input model with several outputs (classes of one feature) has
        // no curve to draw; that is no news to its author.
        if (!self->m_fit)
            emit self->output(tr("(no decision boundary: %1)").arg(QString::fromUtf8(e.what())));
    }
    return 0;
}

} // namespace neurite::gui
