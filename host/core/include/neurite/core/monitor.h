#pragma once

#include "neurite/core/data/dataset.h"
#include "neurite/core/tensor.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace neurite {

class Model;
struct Parameter;

// Data a run trains on, as a "model" event carries it for pictures of the
// model (a decision boundary, a fitted curve, a confusion matrix). A
// dataset is a cheap view of shared samples; tensors {x = , y = } are
// copied, their first kWatchedRows rows only, so that nothing the script
// frees later is read and no large copy is made.
struct WatchedData {
    static constexpr int64_t kWatchedRows = 10000;

    data::Dataset dataset; // when the script gave a dataset
    Tensor x, y;           // when it gave tensors: rows are samples
    int64_t rows = 0;      // samples in the data the script gave (x may hold fewer)
    // Whether y holds class labels, and how: decided by the one rule
    // (data.target_kind) where the data was announced, never from shapes here.
    data::TargetKind kind = data::TargetKind::None;
    data::TargetEncoding encoding = data::TargetEncoding::Index;
    // The script gave the inputs as their own targets (y is x: an
    // autoencoder learns to give back its input), as it said, not guessed.
    bool targets_are_inputs = false;

    static WatchedData from_dataset(const data::Dataset &dataset);
    static WatchedData from_tensors(const Tensor &x, const Tensor &y);
    bool defined() const { return rows > 0; }
};

// A model a run trains, and its data when the script said what it is.
struct WatchedModel {
    std::shared_ptr<Model> model;
    WatchedData data;
    WatchedData validation;
};

// One thing a run reports. The event stream is the only way metrics leave a
// training loop: the terminal progress, the metrics log, the plot and the GUI
// charts all read these and nothing else.
struct MonitorEvent {
    enum class Type {
        RunBegin, // name: the run's name
        Scalar,   // name, value at step / epoch
        Progress, // value done of total, name is the label
        Text,     // text: one line for a person
        RunEnd,   // value: 1 when the run finished, 0 when it stopped early
        Model     // watched: the model that trains from now on, and its data
    };
    Type type = Type::Scalar;
    std::string run; // the run id, unique within the process
    int64_t step = 0;
    int64_t epoch = 0;
    // Scalars: where in training the value falls, in epochs. In an epoch
    // that reports its progress (train.fit does, each batch), the k-th of n
    // batches of epoch e is at e - 1 + k/n, so a batch's value lands between
    // the epochs' own values (which come at e, the epoch's end); otherwise e.
    double epoch_position = 0;
    std::string name;
    double value = 0;
    double total = 0;
    std::string text;
    double time = 0; // seconds since the monitor was created
    // Model events only. The model lives on the thread that runs it: a
    // subscriber on another thread may keep the pointer but must not call it.
    std::shared_ptr<const WatchedModel> watched;
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
    // Runs are numbered name-1, name-2, ... A host that makes a new monitor
    // for each script (the window) carries the count over, so that running
    // a script again gives a run of its own, never the previous run's name.
    int run_count() const;
    void set_run_count(int count);
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

    // Announces the model that trains from now on ("model" event). How a
    // subscriber (the window) learns which model a run trains, whichever
    // loop trains it:
    //  - train.fit calls monitor.watch(model, data, validation) as it starts;
    //  - a loop of one's own calls monitor.watch itself, as it calls
    //    monitor.log for charts (as W&B's wandb.watch);
    //  - and without either, making an optimizer over a model's parameters
    //    (optim.SGD(model, ...)) announces the model, without data, through
    //    watch_parameters: the one moment a script declares what it will
    //    train, so a plain loop gets the model's graph with no extra call and
    //    no cost per step. Detecting training in forward, backward or step
    //    would add work to every step, for an answer known at that moment.
    void watch(std::shared_ptr<Model> model, WatchedData data = {}, WatchedData validation = {});
    // Announces the outermost model that all these parameters belong to,
    // unless it is the model watched last (an optimizer made after
    // monitor.watch must not drop the data the watch gave). Parameters of
    // several models, or of a layer alone, announce nothing.
    void watch_parameters(std::span<const Parameter> params);

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
    double m_epoch_fraction = -1; // the last progress of this epoch, done / total; -1: none yet
    std::weak_ptr<Model> m_watched;
    std::chrono::steady_clock::time_point m_start;
};

} // namespace neurite
