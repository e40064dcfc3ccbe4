#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct lua_State;

namespace neurite {
class ComputeContext;
class Monitor;
class Registry;
} // namespace neurite

namespace neurite::lua {

namespace detail {
struct SessionState;
}

struct RuntimeOptions {
    // No io, os, package, debug, dofile, loadfile; load() takes text chunks
    // only; files are written only below the working directory, and read
    // only below it, the installed datasets and allowed_read_dirs (every
    // path judged by where its symbolic links really lead).
    bool sandbox = false;
    std::vector<std::string> allowed_read_dirs;
    // Seeds tensor.rand/randn/randperm and every layer's initialisation, so
    // that a run is reproducible unless the seed changes.
    uint64_t seed = 1;
    // Registry::load_default_paths() when the runtime starts.
    bool load_plugins = true;
    // After a cancel request, code that declared it stops by itself at step
    // boundaries (monitor.cooperative, used by train.fit) has this long to do
    // so before the hook interrupts it anyway; and a script that caught the
    // "interrupted" error has this long to clean up before it is stopped
    // without the chance to catch it again.
    double interrupt_grace_seconds = 3.0;
    // Limits (0: none). max_memory_bytes counts Lua's allocations and
    // tensors, process-wide; passing it is an error at the script's line
    // ("out of memory: the script passed the memory limit of ..."). The
    // time limit cancels the run after that many seconds, as a Ctrl-C
    // would, with the error "time limit of N s exceeded".
    uint64_t max_memory_bytes = 0;
    double time_limit_seconds = 0;
    // The run store (docs/run-store.md): each run is kept in
    // <runs_dir>/<run-id>/ (run.json, metrics.jsonl, a copy of the script).
    // Empty: nothing is written. In sandbox mode it must lie below the
    // working directory.
    std::string runs_dir;
    // --sweep-parallel N: train.sweep runs its variants in N processes of
    // this program (1: in this one). The command line that started this
    // one (argv) is what the workers rerun.
    int sweep_processes = 1;
    int threads = 0; // the compute threads of this process (0: all cores)
    std::vector<std::string> command_line;
};

// One frame of a failed run's stack, innermost first.
struct TraceFrame {
    std::string source;   // the file's full path, or the chunk's name ("xor experiment")
    int line = 0;         // 0: a C function
    std::string function; // "local 'go'", "method 'save'", "main chunk", ...
    // In Neurite's own Lua (train.lua, callbacks.lua, ...): not the user's
    // code, shown collapsed and opened read-only by the window.
    bool library = false;
};

struct RunResult {
    enum class Status { Ok, Error, Interrupted, Exit };
    Status status = Status::Ok;
    // 0 success, 1 script error, 130 interrupted, or the code given to os.exit.
    int exit_code = 0;
    std::string message;   // "script.lua:12: ..." (empty on success)
    std::string traceback; // "stack traceback:\n\t..." (empty on success)
    // The stack when it failed, innermost first (empty without a traceback).
    // An error raised in Neurite's own Lua files names, in `message`, the
    // innermost line of the user's code instead (error_location.h).
    std::vector<TraceFrame> frames;
};

// One Lua 5.4 state with the Neurite globals (tensor, nn, optim, data, train,
// monitor), its compute context, plugin registry and seed. Scripts run on
// the thread that created the runtime; request_cancel() may come from any
// thread or a signal handler.
class LuaRuntime {
public:
    using PrintSink = std::function<void(const std::string &line)>;

    explicit LuaRuntime(const RuntimeOptions &options = {});
    ~LuaRuntime();
    LuaRuntime(const LuaRuntime &) = delete;
    LuaRuntime &operator=(const LuaRuntime &) = delete;

    ComputeContext &context();
    Registry &registry();
    Monitor &monitor();
    lua_State *state();
    // The directory of the run being recorded ("" when none is).
    std::string run_dir() const;
    const RuntimeOptions &options() const;

    // Where print() goes, one call per printed line (without the newline).
    // The default writes to stdout.
    void set_print_sink(PrintSink sink);

    // Runs a script as lua.c does: `arg[0]` is the path, `arg[1..n]` the
    // arguments (also passed as the chunk's `...`), and `interpreter` fills
    // arg[-1], arg[-2], ... (the runner and its options).
    RunResult run_file(const std::string &path, const std::vector<std::string> &args = {},
                       const std::vector<std::string> &interpreter = {});
    RunResult run_string(const std::string &code, const std::string &chunk_name = "=(string)");

    // Stops the running script at its next hook (every few thousand VM
    // instructions) with the error "interrupted"; plugins see it through
    // nrt_host.cancel_requested. Safe from any thread and from a signal handler.
    void request_cancel();
    bool cancel_requested() const;
    // Before reusing the runtime for another run.
    void clear_cancel();

    // Called from another thread when a cancel request (request_cancel or
    // the time limit) has not reached the script after a second (longer
    // while a plugin call or a train.fit step is under way): the script is
    // inside C code that cannot be interrupted, such as string.find on a
    // long text. `message` says so; the program may end itself, since
    // nothing else can stop the script. Without a handler, nothing happens.
    using StuckHandler = std::function<void(const std::string &message, bool time_limit)>;
    void set_stuck_handler(StuckHandler handler);

private:
    RunResult run_loaded(int status, int nargs);

    std::unique_ptr<detail::SessionState> m_state;
    StuckHandler m_stuck;
};

// The name the design uses for it.
using Session = LuaRuntime;

} // namespace neurite::lua
