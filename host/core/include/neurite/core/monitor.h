#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace neurite {

// One thing a run reports. The event stream is the only way metrics leave a
// training loop: the terminal progress, the metrics log, the plot and the GUI
// charts all read these and nothing else.
struct MonitorEvent {
    enum class Type {
        RunBegin, // name: the run's name
        Scalar,   // name, value at step / epoch
        Progress, // value done of total, name is the label
        Text,     // text: one line for a person
        RunEnd    // value: 1 when the run finished, 0 when it stopped early
    };
    Type type = Type::Scalar;
    std::string run; // the run id, unique within the process
    int64_t step = 0;
    int64_t epoch = 0;
    std::string name;
    double value = 0;
    double total = 0;
    std::string text;
    double time = 0; // seconds since the monitor was created
};

const char *monitor_event_type_name(MonitorEvent::Type type); // "scalar", "progress", ...

// Publishes events to subscribers. Callbacks run synchronously on the thread
// that publishes; a subscriber on another thread (the GUI) copies the event
// and queues it. Subscribing, unsubscribing and publishing may happen on any
// thread, and a callback may unsubscribe itself.
class Monitor {
public:
    using Callback = std::function<void(const MonitorEvent &)>;

    Monitor();
    Monitor(const Monitor &) = delete;
    Monitor &operator=(const Monitor &) = delete;

    // Returns an id for unsubscribe().
    int subscribe(Callback callback);
    void unsubscribe(int id);

    // Starts a new run (ending the current one as completed, if any) and returns its id,
    // "<name>-<n>" with n counting runs of this monitor. Step and epoch restart at 0.
    std::string begin_run(const std::string &name);
    void end_run(bool completed = true);
    std::string run() const;

    void set_step(int64_t step);
    int64_t step() const;
    void set_epoch(int64_t epoch);
    int64_t epoch() const;

    // At the current step and epoch.
    void scalar(const std::string &name, double value);
    void scalar(const std::string &name, int64_t step, double value);
    void progress(double done, double total, const std::string &label);
    void text(const std::string &line);

    // Stamps the current run when event.run is empty and the time when it is 0.
    void publish(MonitorEvent event);

    double elapsed() const;

private:
    struct Subscriber {
        int id;
        std::shared_ptr<Callback> callback;
    };

    void ensure_run_locked();

    mutable std::mutex m_mutex;
    std::vector<Subscriber> m_subscribers;
    int m_next_id = 1;
    int m_run_count = 0;
    std::string m_run;
    int64_t m_step = 0;
    int64_t m_epoch = 0;
    std::chrono::steady_clock::time_point m_start;
};

} // namespace neurite
