// neurite-run --sweep-parallel N: train.sweep (sweep.lua) runs its variants
// in N worker processes. The parent coordinates: it starts N copies of its
// own command line, each told by the environment which share of the
// variants is its own (variant i goes to worker (i - 1) % N + 1) and where
// to leave its results; it waits for them, passing a Ctrl-C on, and hands
// the results back to train.sweep, which sorts them as a serial sweep does.
// A worker runs the script up to train.sweep, runs its variants (each
// seeded as the serial sweep seeds it) and exits.
#include "binding.h"
#include "sandbox.h"
#include "session_state.h"

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

constexpr const char *kWorkerVariable = "NEURITE_SWEEP_WORKER"; // "k/N:results-file"

struct WorkerRole {
    int index = 0; // 1-based
    int count = 0;
    std::string results;
};

WorkerRole worker_role()
{
    WorkerRole role;
    const char *text = std::getenv(kWorkerVariable);
    if (!text)
        return role;
    const std::string s = text;
    const size_t slash = s.find('/'), colon = s.find(':');
    if (slash == std::string::npos || colon == std::string::npos || colon < slash)
        return role;
    role.index = std::atoi(s.substr(0, slash).c_str());
    role.count = std::atoi(s.substr(slash + 1, colon - slash - 1).c_str());
    role.results = s.substr(colon + 1);
    if (role.index < 1 || role.count < 1 || role.index > role.count)
        role = {};
    return role;
}

bool starts_with_option(const std::string &arg, const std::string &name)
{
    return arg == name || arg.rfind(name + "=", 0) == 0;
}

// The parent's command line for a worker: its own --threads (the parent's
// cores shared out), quiet, and without --sweep-parallel. Only the options
// before the script are touched; the script's arguments stay as they were.
std::vector<std::string> worker_command(const detail::SessionState &s, int threads)
{
    const std::vector<std::string> &argv = s.options.command_line;
    const size_t script_at = std::min(s.script_interpreter_size, argv.size());
    std::vector<std::string> out{"/proc/self/exe", "--threads", std::to_string(threads), "--quiet"};
    for (size_t i = 1; i < argv.size(); ++i) {
        const std::string &a = argv[i];
        if (i < script_at && (starts_with_option(a, "--sweep-parallel") || starts_with_option(a, "--threads"))) {
            if (a.find('=') == std::string::npos)
                ++i; // its value is the next argument
            continue;
        }
        out.push_back(a);
    }
    return out;
}

pid_t spawn_worker(const std::vector<std::string> &command, const std::string &role)
{
    std::vector<std::string> env_text{std::string(kWorkerVariable) + "=" + role};
    for (char **e = environ; *e; ++e)
        if (std::string(*e).rfind(std::string(kWorkerVariable) + "=", 0) != 0)
            env_text.emplace_back(*e);
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

// neurite._sweep_role() -> k, N (this process is worker k of N), or nil
int sweep_role(lua_State *L)
{
    const WorkerRole role = worker_role();
    if (role.index == 0)
        return 0;
    lua_pushinteger(L, role.index);
    lua_pushinteger(L, role.count);
    return 2;
}

// neurite._sweep_processes() -> N of --sweep-parallel (1: serial)
int sweep_processes(lua_State *L)
{
    lua_pushinteger(L, worker_role().index ? 1 : detail::session(L).options.sweep_processes);
    return 1;
}

// neurite._sweep_spawn(variants) -> {text of worker 1's results, ...}
int sweep_spawn(lua_State *L)
{
    detail::SessionState &s = detail::session(L);
    const lua_Integer variants = luaL_checkinteger(L, 1);
    const int workers = static_cast<int>(std::min<lua_Integer>(s.options.sweep_processes, variants));
    const int cores = s.options.threads > 0 ? s.options.threads : ComputeContext::num_threads();
    const int threads = std::max(1, cores / std::max(1, workers));
    std::vector<std::string> texts;
    std::string failure;
    guarded(L, [&] {
        QTemporaryDir dir;
        if (!dir.isValid())
            throw Error("train.sweep: cannot make a folder for the workers' results");
        const std::vector<std::string> command = worker_command(s, threads);
        std::vector<pid_t> pids;
        for (int k = 1; k <= workers; ++k) {
            const std::string results = dir.filePath(QString::number(k) + ".json").toStdString();
            pids.push_back(spawn_worker(command, std::to_string(k) + "/" + std::to_string(workers) + ":" + results));
        }
        const std::vector<int> codes = wait_for(s, pids);
        for (int k = 1; k <= workers; ++k) {
            QFile file(dir.filePath(QString::number(k) + ".json"));
            if (codes[k - 1] != 0 || !file.open(QIODevice::ReadOnly)) {
                failure = "train.sweep: worker " + std::to_string(k) + " of " + std::to_string(workers) +
                          " failed (exit code " + std::to_string(codes[k - 1]) + "); its messages are above";
                break;
            }
            texts.push_back(file.readAll().toStdString());
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
    QFile file(QString::fromStdString(role.results));
    if (!file.open(QIODevice::WriteOnly) || file.write(text.data(), static_cast<qint64>(text.size())) < 0 ||
        !file.flush())
        raise(L, "train.sweep: cannot write the results to " + role.results);
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
    for (const luaL_Reg *f = functions; f->name; ++f) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, neurite, f->name);
    }
}

} // namespace neurite::lua
