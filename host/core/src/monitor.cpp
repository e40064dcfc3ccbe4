#include "neurite/core/monitor.h"

#include "neurite/core/model.h"
#include "neurite/core/module.h"

#include <algorithm>

namespace neurite {

const char *monitor_event_type_name(MonitorEvent::Type type)
{
    switch (type) {
    case MonitorEvent::Type::RunBegin: return "run_begin";
    case MonitorEvent::Type::Scalar: return "scalar";
    case MonitorEvent::Type::Progress: return "progress";
    case MonitorEvent::Type::Text: return "text";
    case MonitorEvent::Type::RunEnd: return "run_end";
    case MonitorEvent::Type::Model: return "model";
    }
    return "?";
}

Monitor::Monitor() : m_start(std::chrono::steady_clock::now()) {}

int Monitor::subscribe(Callback callback)
{
    std::lock_guard lock(m_mutex);
    const int id = m_next_id++;
    m_subscribers.push_back({id, std::make_shared<Callback>(std::move(callback))});
    return id;
}

void Monitor::unsubscribe(int id)
{
    std::lock_guard lock(m_mutex);
    std::erase_if(m_subscribers, [id](const Subscriber &s) { return s.id == id; });
}

double Monitor::elapsed() const
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

void Monitor::ensure_run_locked()
{
    // Events published before any begin_run still belong to a run, so that
    // a log or a chart never has to handle an empty id.
    if (m_run.empty())
        m_run = "run-" + std::to_string(++m_run_count);
}

int Monitor::run_count() const
{
    std::lock_guard lock(m_mutex);
    return m_run_count;
}

void Monitor::set_run_count(int count)
{
    std::lock_guard lock(m_mutex);
    m_run_count = count;
}

std::string Monitor::begin_run(const std::string &name)
{
    // A script that starts a run of its own (train.fit{name = ...}) has
    // finished the part before it; only end_run(false) means "stopped early".
    end_run(true);
    MonitorEvent e;
    {
        std::lock_guard lock(m_mutex);
        const std::string base = name.empty() ? std::string("run") : name;
        m_run = base + "-" + std::to_string(++m_run_count);
        m_step = 0;
        m_epoch = 0;
        e.run = m_run;
    }
    e.type = MonitorEvent::Type::RunBegin;
    e.name = name;
    publish(std::move(e));
    return run();
}

void Monitor::end_run(bool completed)
{
    MonitorEvent e;
    {
        std::lock_guard lock(m_mutex);
        if (m_run.empty())
            return;
        e.run = m_run;
        e.step = m_step;
        e.epoch = m_epoch;
    }
    e.type = MonitorEvent::Type::RunEnd;
    e.value = completed ? 1 : 0;
    publish(std::move(e));
    std::lock_guard lock(m_mutex);
    m_run.clear();
}

std::string Monitor::run() const
{
    std::lock_guard lock(m_mutex);
    return m_run;
}

void Monitor::set_step(int64_t step)
{
    std::lock_guard lock(m_mutex);
    m_step = step;
}

int64_t Monitor::step() const
{
    std::lock_guard lock(m_mutex);
    return m_step;
}

void Monitor::set_epoch(int64_t epoch)
{
    std::lock_guard lock(m_mutex);
    m_epoch = epoch;
    m_epoch_fraction = -1;
}

int64_t Monitor::epoch() const
{
    std::lock_guard lock(m_mutex);
    return m_epoch;
}

void Monitor::scalar(const std::string &name, double value)
{
    scalar(name, step(), value);
}

void Monitor::scalar(const std::string &name, int64_t step, double value)
{
    MonitorEvent e;
    e.type = MonitorEvent::Type::Scalar;
    e.name = name;
    e.step = step;
    {
        std::lock_guard lock(m_mutex);
        e.epoch = m_epoch;
        e.epoch_position = m_epoch_fraction < 0 ? double(m_epoch) : double(m_epoch - 1) + m_epoch_fraction;
    }
    e.value = value;
    publish(std::move(e));
}

void Monitor::progress(double done, double total, const std::string &label)
{
    MonitorEvent e;
    e.type = MonitorEvent::Type::Progress;
    e.name = label;
    e.value = done;
    e.total = total;
    e.step = step();
    {
        std::lock_guard lock(m_mutex);
        e.epoch = m_epoch;
        if (total > 0 && done >= 0)
            m_epoch_fraction = std::min(done / total, 1.0);
    }
    publish(std::move(e));
}

void Monitor::text(const std::string &line)
{
    MonitorEvent e;
    e.type = MonitorEvent::Type::Text;
    e.text = line;
    e.step = step();
    e.epoch = epoch();
    publish(std::move(e));
}

WatchedData WatchedData::from_dataset(const data::Dataset &dataset)
{
    WatchedData d;
    d.dataset = dataset;
    d.rows = dataset.size();
    d.kind = dataset.target_kind();
    d.encoding = dataset.target_encoding();
    return d;
}

WatchedData WatchedData::from_tensors(const Tensor &x, const Tensor &y)
{
    WatchedData d;
    if (!x.defined() || !y.defined() || x.dim() < 1 || y.dim() < 1 || x.size(0) != y.size(0) || x.size(0) == 0)
        return d;
    const int64_t kept = std::min(x.size(0), kWatchedRows);
    d.x = x.rows(0, kept).clone();
    d.y = y.rows(0, kept).clone();
    d.rows = x.size(0);
    d.targets_are_inputs = x.data_ptr() == y.data_ptr() && x.shape() == y.shape() &&
                           std::equal(x.strides().begin(), x.strides().end(), y.strides().begin());
    return d;
}

void Monitor::watch(std::shared_ptr<Model> model, WatchedData data, WatchedData validation)
{
    if (!model)
        return;
    {
        std::lock_guard lock(m_mutex);
        m_watched = model;
    }
    auto watched = std::make_shared<WatchedModel>();
    watched->model = std::move(model);
    watched->data = std::move(data);
    watched->validation = std::move(validation);
    MonitorEvent e;
    e.type = MonitorEvent::Type::Model;
    e.step = step();
    e.epoch = epoch();
    e.watched = std::move(watched);
    publish(std::move(e));
}

void Monitor::watch_parameters(std::span<const Parameter> params)
{
    Model *root = nullptr;
    for (const Parameter &p : params) {
        Model *top = p.owner ? p.owner->parent() : nullptr;
        if (!top)
            return; // a layer alone
        while (top->parent())
            top = top->parent();
        if (root && top != root)
            return; // parameters of several models
        root = top;
    }
    if (!root)
        return;
    auto model = std::static_pointer_cast<Model>(root->weak_from_this().lock());
    if (!model)
        return; // not owned by a shared_ptr: nobody could keep it for a picture
    {
        std::lock_guard lock(m_mutex);
        if (m_watched.lock() == model)
            return;
    }
    watch(std::move(model));
}

void Monitor::publish(MonitorEvent event)
{
    std::vector<std::shared_ptr<Callback>> targets;
    {
        std::lock_guard lock(m_mutex);
        if (event.run.empty()) {
            ensure_run_locked();
            event.run = m_run;
        }
        targets.reserve(m_subscribers.size());
        for (const Subscriber &s : m_subscribers)
            targets.push_back(s.callback);
    }
    if (event.time == 0)
        event.time = elapsed();
    // Outside the lock: a callback may subscribe, unsubscribe or publish.
    for (const auto &cb : targets)
        (*cb)(event);
}

} // namespace neurite
