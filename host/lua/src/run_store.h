#pragma once

// The run store (docs/run-store.md): every run of the session's monitor is
// kept under <dir>/<run-id>/ as run.json (script, arguments, seed,
// hyperparameters, times, final metrics, status, checkpoints) and
// metrics.jsonl (every scalar), as PyTorch's SummaryWriter keeps runs/.
#include "neurite/core/monitor.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

// Not Qt's headers: this one reaches every binding through session_state.h,
// and Qt's `slots` keyword would break code that names a variable so.
class QJsonObject;

namespace neurite::lua {

class RunStore {
public:
    // Whether a run directory may be written (the sandbox's rule): returns
    // why not, or an empty string.
    using WriteCheck = std::function<std::string(const std::string &path)>;
    // Where a problem goes that must not stop the script (a full disk).
    using Warn = std::function<void(const std::string &message)>;

    // `dir` empty: nothing is written, but the final metrics of each run
    // are still kept (monitor.final_metrics and train.sweep read them).
    RunStore(std::string dir, uint64_t seed, WriteCheck check, Warn warn);
    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    // The script the next runs come from; its text is copied into each run:
    // `text` when given (the window runs its editor's text, which may differ
    // from the file on disk, or have none), else the file's.
    void set_script(const std::string &path, const std::vector<std::string> &args,
                    const std::string *text = nullptr);
    void set_seed(uint64_t seed) { m_seed = seed; }

    // Subscribed to the monitor: runs begin, scalars arrive, runs end.
    void handle(const MonitorEvent &event);

    // Merged into the current run's hyperparameters (monitor.hparams, train.fit).
    void merge_hyperparameters(const QJsonObject &values);
    // A checkpoint the current run wrote (m:save).
    void add_checkpoint(const std::string &path);
    // How the script ended, told before the monitor ends its run:
    // "finished", "stopped" or "failed", with the error message. Applies to
    // the open run, or else to the run that ended last if it did not complete.
    void set_outcome(const std::string &status, const std::string &message);

    // The last value of every scalar of the open run, or of the run that ended last.
    const std::map<std::string, double> &final_metrics() const;
    // The directory of the open run ("" when none is written).
    std::string run_dir() const;
    bool enabled() const { return !m_dir.empty(); }

private:
    struct Run; // run_store.cpp
    void begin(const std::string &monitor_id, double clock);
    void end(bool completed, double clock);
    // Creates the run's directory when it first has something to keep.
    bool materialise();
    void write_run_json();
    void save(); // run.json now, creating the directory if need be
    void append_scalar(const MonitorEvent &event);
    void flush_metrics();
    std::string unique_id(const std::string &name);

    std::string m_dir;
    uint64_t m_seed;
    WriteCheck m_check;
    Warn m_warn;
    std::string m_script_path, m_script_text;
    std::vector<std::string> m_args;
    std::unique_ptr<Run> m_current; // the open run, or the one that ended last
    Run &m_run;
    int m_counter = 0;
    std::map<std::string, std::string> m_quoted_names; // metric name -> its JSON string
};

} // namespace neurite::lua
