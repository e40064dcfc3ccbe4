// neurite-run: runs a Lua experiment headless.
//
// Exit codes: 0 success, 1 script error (message with file:line and a
// traceback on stderr), 2 usage, 130 interrupted (SIGINT or SIGTERM: the
// script stops at its next step boundary, checkpoint callbacks run).
#include "metrics_log.h"
#include "plugin_check.h"
#include "run_plot.h"
#include "terminal_progress.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/monitor.h"
#include "neurite/core/registry.h"
#include "neurite/lua/runtime.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

const char *const kUsage =
    "usage: neurite-run [options] script.lua [args...]\n"
    "\n"
    "Runs a Neurite Lua experiment without a window. The script sees its\n"
    "arguments in `arg` (arg[0] is the script) and the globals tensor, nn,\n"
    "optim, data, train and monitor.\n"
    "\n"
    "options:\n"
    "  --list-plugins       list every registry entry and refused library, then exit\n"
    "  --help-plugin NAME   describe one entry and its parameters, then exit\n"
    "  --check-plugin FILE  load the plugin library FILE alone and check every entry\n"
    "                       (schema, gradients, state, determinism, buffer bounds);\n"
    "                       exit 0 when all pass, 1 when one fails\n"
    "  --log FILE           write every monitored scalar to FILE (.csv or .jsonl)\n"
    "  --plot FILE.png      draw the run's charts into FILE.png at the end\n"
    "  --threads N          compute threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --seed N             seed for initialisation, shuffling and tensor.rand (default 1)\n"
    "  --keep-denormals     compute with subnormal floats instead of flushing them to\n"
    "                       zero (FTZ/DAZ, the default; slower on many x86 cores)\n"
    "  --sandbox            no io, os, package or debug; text chunks only; files are\n"
    "                       written only below the working directory\n"
    "  --quiet              no progress bar and no epoch lines (print() still prints)\n"
    "  --help               this text\n"
    "  --                   end of options\n"
    "\n"
    "exit codes: 0 success, 1 script error, 2 usage, 130 interrupted\n";

struct Options {
    bool list_plugins = false;
    std::string help_plugin;
    std::string check_plugin;
    std::string log;
    std::string plot;
    int threads = 0;
    uint64_t seed = 1;
    bool sandbox = false;
    bool quiet = false;
    bool keep_denormals = false;
    std::string script;
    std::vector<std::string> args;
    std::vector<std::string> interpreter; // argv before the script, for arg[-n]
};

int usage_error(const std::string &message)
{
    std::fprintf(stderr, "neurite-run: %s\n(see neurite-run --help)\n", message.c_str());
    return kExitUsage;
}

// Returns an exit code when the command line ends the program (help,
// usage errors), nothing when a script (or a listing) should run.
std::optional<int> parse(int argc, char **argv, Options &o)
{
    o.interpreter.push_back(argv[0]);
    int i = 1;
    auto value = [&]() -> std::optional<std::string> {
        if (i + 1 >= argc)
            return std::nullopt;
        o.interpreter.push_back(argv[i + 1]);
        return std::string(argv[++i]);
    };
    for (; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.empty() || a[0] != '-' || a == "-")
            break;
        o.interpreter.push_back(a);
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return kExitOk;
        }
        if (a == "--list-plugins") {
            o.list_plugins = true;
        } else if (a == "--sandbox") {
            o.sandbox = true;
        } else if (a == "--quiet" || a == "-q") {
            o.quiet = true;
        } else if (a == "--keep-denormals") {
            o.keep_denormals = true;
        } else if (a == "--help-plugin" || a == "--check-plugin" || a == "--log" || a == "--plot" || a == "--threads" ||
                   a == "--seed") {
            const auto v = value();
            if (!v)
                return usage_error(a + " needs a value");
            if (a == "--help-plugin") {
                o.help_plugin = *v;
            } else if (a == "--check-plugin") {
                o.check_plugin = *v;
            } else if (a == "--log") {
                o.log = *v;
            } else if (a == "--plot") {
                o.plot = *v;
            } else {
                char *end = nullptr;
                errno = 0;
                const long long n = std::strtoll(v->c_str(), &end, 10);
                if (v->empty() || *end || errno || n < 0 || (a == "--threads" && (n < 1 || n > 4096)))
                    return usage_error(a + " needs " +
                                       (a == "--threads" ? std::string("a positive whole number")
                                                         : std::string("a non-negative whole number")) +
                                       ", got '" + *v + "'");
                if (a == "--threads")
                    o.threads = static_cast<int>(n);
                else
                    o.seed = static_cast<uint64_t>(n);
            }
        } else {
            return usage_error("unknown option '" + a + "'");
        }
    }
    if (i < argc) {
        o.script = argv[i++];
        for (; i < argc; ++i)
            o.args.emplace_back(argv[i]);
    }
    if (o.script.empty() && !o.list_plugins && o.help_plugin.empty() && o.check_plugin.empty())
        return usage_error("no script given");
    if (!o.plot.empty() && o.plot.size() < 4)
        return usage_error("--plot needs a file name ending in .png");
    return std::nullopt;
}

void list_plugins(const neurite::Registry &registry)
{
    for (neurite::Kind kind : {neurite::Kind::Layer, neurite::Kind::Activation, neurite::Kind::Loss,
                               neurite::Kind::Optimizer}) {
        std::printf("%ss:\n", neurite::kind_name(kind));
        for (const neurite::Entry &e : registry.entries())
            if (e.kind == kind)
                std::printf("  %-28s %-8s %s\n    %s\n", e.name.c_str(), e.version.c_str(),
                            e.summary.c_str(), e.origin.c_str());
    }
    if (!registry.refusals().empty()) {
        std::printf("refused:\n");
        for (const neurite::Refusal &r : registry.refusals())
            std::printf("  %s\n    %s\n", r.file.c_str(), r.reason.c_str());
    }
    std::printf("searched:");
    for (const std::string &dir : neurite::Registry::default_search_paths())
        std::printf(" %s", dir.c_str());
    std::printf("\n");
}

// SIGINT and SIGTERM ask the script to stop; a second one ends the process.
std::atomic<neurite::lua::LuaRuntime *> g_runtime{nullptr};
std::atomic<int> g_signals{0};

void on_signal(int)
{
    if (g_signals.fetch_add(1) > 0) {
        static const char message[] = "\nneurite-run: stopped without cleanup\n";
        const ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(kExitInterrupted);
    }
    if (auto *runtime = g_runtime.load())
        runtime->request_cancel();
}

void install_signal_handlers()
{
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    if (const auto code = parse(argc, argv, o))
        return *code;
    if (o.threads > 0)
        neurite::ComputeContext::set_num_threads(o.threads);
    neurite::ComputeContext::set_flush_denormals(!o.keep_denormals); // and this thread, which runs the script
    // Before the runtime: the check loads the one library into a registry of
    // its own, so no installed plugin can stand in for it.
    if (!o.check_plugin.empty())
        return neurite::cli::check_plugin(o.check_plugin, stdout, stderr);

    std::unique_ptr<neurite::lua::LuaRuntime> runtime;
    try {
        neurite::lua::RuntimeOptions ro;
        ro.sandbox = o.sandbox;
        ro.seed = o.seed;
        runtime = std::make_unique<neurite::lua::LuaRuntime>(ro);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "neurite-run: %s\n", e.what());
        return kExitError;
    }
    if (o.list_plugins) {
        list_plugins(runtime->registry());
        if (o.script.empty() && o.help_plugin.empty())
            return kExitOk;
    }
    if (!o.help_plugin.empty()) {
        const neurite::Entry *entry = runtime->registry().find(o.help_plugin);
        if (!entry) {
            try {
                runtime->registry().require(o.help_plugin);
            } catch (const std::exception &e) {
                return usage_error(std::string("--help-plugin: ") + e.what());
            }
        }
        std::fputs(entry->help().c_str(), stdout);
        if (o.script.empty())
            return kExitOk;
    }

    std::unique_ptr<neurite::cli::MetricsLog> log;
    neurite::cli::RunPlot plot;
    try {
        if (!o.log.empty())
            log = std::make_unique<neurite::cli::MetricsLog>(o.log);
    } catch (const std::exception &e) {
        return usage_error(e.what());
    }
    neurite::cli::TerminalProgress progress(stdout, isatty(STDOUT_FILENO) != 0, o.quiet);
    neurite::Monitor &monitor = runtime->monitor();
    monitor.subscribe([&](const neurite::MonitorEvent &e) { progress.handle(e); });
    if (log)
        monitor.subscribe([&](const neurite::MonitorEvent &e) { log->handle(e); });
    if (!o.plot.empty())
        monitor.subscribe([&](const neurite::MonitorEvent &e) { plot.handle(e); });
    runtime->set_print_sink([&](const std::string &line) {
        progress.clear();
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
    });
    runtime->context().set_log_handler([&](int level, const std::string &message) {
        progress.clear();
        std::fprintf(stderr, "%s: %s\n", level ? "warning" : "info", message.c_str());
    });

    g_runtime.store(runtime.get());
    install_signal_handlers();
    const neurite::lua::RunResult result = runtime->run_file(o.script, o.args, o.interpreter);
    progress.clear();
    std::fflush(stdout);

    int code = result.exit_code;
    switch (result.status) {
    case neurite::lua::RunResult::Status::Ok:
    case neurite::lua::RunResult::Status::Exit: break;
    case neurite::lua::RunResult::Status::Interrupted:
        std::fprintf(stderr, "neurite-run: %s\n", result.message.c_str());
        break;
    case neurite::lua::RunResult::Status::Error:
        std::fprintf(stderr, "neurite-run: %s\n", result.message.c_str());
        if (!result.traceback.empty())
            std::fprintf(stderr, "%s\n", result.traceback.c_str());
        break;
    }
    try {
        if (log)
            log->flush();
        if (!o.plot.empty())
            plot.write(o.plot);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "neurite-run: %s\n", e.what());
        if (code == kExitOk)
            code = kExitError;
    }
    g_runtime.store(nullptr);
    return code;
}
