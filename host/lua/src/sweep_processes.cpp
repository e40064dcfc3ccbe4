// neurite-run --sweep-parallel N: train.sweep (sweep.lua) runs its variants
// in N worker processes. The parent coordinates: it starts N copies of its
// own command line, each told by the environment which share of the
// variants is its own (variant i goes to worker (i - 1) % N + 1) and where
// to leave its results; it waits for them, passing a Ctrl-C on, and hands
// the results back to train.sweep, which sorts them as a serial sweep does.
// A worker runs the script up to train.sweep, runs its variants (each
// seeded as the serial sweep seeds it) and exits.
#include "binding.h"
#include "interrupts.h"
#include "sandbox.h"
#include "session_state.h"

#include "neurite/core/error.h"

#include <QFile>
#include <QTemporaryDir>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

namespace neurite::lua {

namespace {

// "k/N/s": this process is worker k of N for the script's s-th train.sweep;
// the folder of the workers' files (k.json: results, previous.json: the
// results of the sweeps before, which a worker returns without running them).
constexpr const char *kWorkerVariable = "NEURITE_SWEEP_WORKER";
constexpr const char *kFolderVariable = "NEURITE_SWEEP_FOLDER";

struct WorkerRole {
    int index = 0; // 1-based; 0: not a worker
    int count = 0;
    int sweep = 0;
    std::string folder;
};

WorkerRole worker_role()
{
    WorkerRole role;
    const char *text = std::getenv(kWorkerVariable);
    const char *folder = std::getenv(kFolderVariable);
    if (!text || !folder || std::sscanf(text, "%d/%d/%d", &role.index, &role.count, &role.sweep) != 3 ||
        role.index < 1 || role.count < 1 || role.index > role.count || role.sweep < 1)
        return {};
    role.folder = folder;
    return role;
}

std::string read_file(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll().toStdString() : std::string();
}

// What a worker must not inherit: its own thread count replaces the
// parent's, and the parent alone writes --log and --plot (a worker would
// overwrite them with its share of the variants).
struct DroppedOption {
    const char *name;
    bool takes_value;
};
constexpr DroppedOption kDropped[] = {
    {"--sweep-parallel", true}, {"--threads", true}, {"--log", true}, {"--plot", true}, {"--plot-log", false}};

const DroppedOption *dropped(const std::string &arg)
{
    for (const DroppedOption &d : kDropped)
        if (arg == d.name || (d.takes_value && arg.rfind(std::string(d.name) + "=", 0) == 0))
            return &d;
    return nullptr;
}

// The parent's command line for a worker: its share of the cores as
// --threads, quiet. Only the options before the script are touched; the
// script's arguments stay as they were.
std::vector<std::string> worker_command(const detail::SessionState &s, int threads)
{
    const std::vector<std::string> &argv = s.options.command_line;
    const size_t script_at = std::min(s.script_interpreter_size, argv.size());
    std::vector<std::string> out{"/proc/self/exe", "--threads", std::to_string(threads), "--quiet"};
    for (size_t i = 1; i < argv.size(); ++i) {
        const std::string &a = argv[i];
        if (const DroppedOption *d = i < script_at ? dropped(a) : nullptr) {
            if (d->takes_value && a.find('=') == std::string::npos)
                ++i; // its value is the next argument
            continue;
        }
        out.push_back(a);
    }
    return out;
}

pid_t spawn_worker(const std::vector<std::string> &command, const std::string &role, const std::string &folder)
{
    std::vector<std::string> env_text{std::string(kWorkerVariable) + "=" + role,
                                      std::string(kFolderVariable) + "=" + folder};
    for (char **e = environ; *e; ++e) {
        const std::string entry = *e;
        if (entry.rfind(std::string(kWorkerVariable) + "=", 0) != 0 &&
            entry.rfind(std::string(kFolderVariable) + "=", 0) != 0)
            env_text.push_back(entry);
    }
    std::vector<char *> env, args;
    for (std::string &e : env_text)
        env.push_back(e.data());
    env.push_back(nullptr);
    std::vector<std::string> copy = command;
    for (std::string &a : copy)
        args.push_back(a.data());
    args.push_back(nullptr);
    // The script's prints before train.sweep would appear once per worker:
    // a worker's stdout is dropped, its stderr (errors) kept.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none; // the parent's blocked SIGINT/SIGTERM must not be inherited
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    const int error = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (error != 0)
        throw Error("train.sweep: cannot start a worker process: " + std::string(std::strerror(error)));
    return pid;
}

// Waits for every worker; a stop request (Ctrl-C, --time-limit) is passed
// on to them. Returns each worker's exit code (128 + signal when killed).
std::vector<int> wait_for(detail::SessionState &s, const std::vector<pid_t> &pids)
{
    std::vector<int> codes(pids.size(), -1);
    size_t running = pids.size();
    bool stop_sent = false;
    while (running > 0) {
        for (size_t k = 0; k < pids.size(); ++k) {
            if (codes[k] != -1)
                continue;
            int status = 0;
            if (waitpid(pids[k], &status, WNOHANG) == pids[k]) {
                codes[k] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                --running;
            }
        }
        if (!stop_sent && s.context.cancel_requested()) {
            for (size_t k = 0; k < pids.size(); ++k)
                if (codes[k] == -1)
                    kill(pids[k], SIGTERM);
            stop_sent = true;
            s.cancel_noticed = true; // not stuck: stopping, as the workers do
        }
        if (running > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return codes;
}

// neurite._sweep_role() -> k, N, s, previous (this process is worker k of N
// for the script's s-th sweep; previous is the JSON text of the results of
// the sweeps before it), or nothing
int sweep_role(lua_State *L)
{
    const WorkerRole role = worker_role();
    if (role.index == 0)
        return 0;
    lua_pushinteger(L, role.index);
    lua_pushinteger(L, role.count);
    lua_pushinteger(L, role.sweep);
    const std::string previous = read_file(QString::fromStdString(role.folder + "/previous.json"));
    lua_pushlstring(L, previous.data(), previous.size());
    return 4;
}

// neurite._sweep_processes() -> N of --sweep-parallel (1: serial)
int sweep_processes(lua_State *L)
{
    lua_pushinteger(L, worker_role().index ? 1 : detail::session(L).options.sweep_processes);
    return 1;
}

// neurite._sweep_spawn(variants, sweep, previous) -> {text of worker 1's
// results, ...}: runs the script's sweep-th sweep in the workers; previous
// is the JSON text of the results of the sweeps before it.
int sweep_spawn(lua_State *L)
{
    detail::SessionState &s = detail::session(L);
    const lua_Integer variants = luaL_checkinteger(L, 1);
    const lua_Integer sweep = luaL_checkinteger(L, 2);
    const std::string previous = luaL_checkstring(L, 3);
    // Only a parent started with --sweep-parallel starts workers: a worker
    // (or a script calling this itself) starting more would multiply them.
    if (worker_role().index != 0 || s.options.sweep_processes <= 1)
        raise(L, "neurite._sweep_spawn: only train.sweep under neurite-run --sweep-parallel starts workers");
    const int workers = static_cast<int>(std::min<lua_Integer>(s.options.sweep_processes, variants));
    const int cores = s.options.threads > 0 ? s.options.threads : ComputeContext::num_threads();
    const int threads = std::max(1, cores / std::max(1, workers));
    std::vector<std::string> texts;
    std::string failure;
    guarded(L, [&] {
        QTemporaryDir dir;
        QFile previous_file(dir.filePath("previous.json"));
        if (!dir.isValid() || !previous_file.open(QIODevice::WriteOnly) ||
            previous_file.write(previous.data(), static_cast<qint64>(previous.size())) < 0 || !previous_file.flush())
            throw Error("train.sweep: cannot write the workers' files in a temporary folder");
        previous_file.close();
        const std::vector<std::string> command = worker_command(s, threads);
        std::vector<pid_t> pids;
        for (int k = 1; k <= workers; ++k)
            pids.push_back(spawn_worker(command,
                                        std::to_string(k) + "/" + std::to_string(workers) + "/" + std::to_string(sweep),
                                        dir.path().toStdString()));
        const std::vector<int> codes = wait_for(s, pids);
        for (int k = 1; k <= workers; ++k) {
            std::string text = read_file(dir.filePath(QString::number(k) + ".json"));
            if (codes[k - 1] == 0 && text.empty()) {
                failure = "train.sweep: worker " + std::to_string(k) + " of " + std::to_string(workers) +
                          " ended without reaching this sweep; with --sweep-parallel the script must take the "
                          "same path up to each train.sweep in every process";
                break;
            }
            if (codes[k - 1] != 0 || text.empty()) {
                failure = "train.sweep: worker " + std::to_string(k) + " of " + std::to_string(workers) +
                          " failed (exit code " + std::to_string(codes[k - 1]) + "); its messages are above";
                break;
            }
            texts.push_back(std::move(text));
        }
        return 0;
    });
    if (s.context.cancel_requested())
        check_interrupt(L); // "interrupted", as a serial sweep stops
    if (!failure.empty())
        raise(L, failure);
    lua_createtable(L, static_cast<int>(texts.size()), 0);
    for (size_t k = 0; k < texts.size(); ++k) {
        lua_pushlstring(L, texts[k].data(), texts[k].size());
        lua_rawseti(L, -2, static_cast<lua_Integer>(k + 1));
    }
    return 1;
}

// neurite._sweep_finish_worker(text): leaves this worker's results for the
// parent and ends the script as os.exit(0) would.
int sweep_finish_worker(lua_State *L)
{
    const std::string text = luaL_checkstring(L, 1);
    const WorkerRole role = worker_role();
    if (role.index == 0)
        raise(L, "train.sweep: this process is not a sweep worker");
    const std::string path = role.folder + "/" + std::to_string(role.index) + ".json";
    QFile file(QString::fromStdString(path));
    if (!file.open(QIODevice::WriteOnly) || file.write(text.data(), static_cast<qint64>(text.size())) < 0 ||
        !file.flush())
        raise(L, "train.sweep: cannot write the results to " + path);
    file.close();
    detail::SessionState &s = detail::session(L);
    s.exit_code = 0;
    s.exiting = true;
    raise_exit(L);
}

} // namespace

void open_sweep_functions(lua_State *L, int neurite)
{
    neurite = lua_absindex(L, neurite);
    static const luaL_Reg functions[] = {{"_sweep_role", sweep_role},
                                         {"_sweep_processes", sweep_processes},
                                         {"_sweep_spawn", sweep_spawn},
                                         {"_sweep_finish_worker", sweep_finish_worker},
                                         {nullptr, nullptr}};
    lua_pushvalue(L, neurite);
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
