// neurite-run: runs a Lua experiment headless.
//
// Exit codes: 0 success, 1 script error (message with file:line and a
// traceback on stderr), 2 usage, 130 interrupted (SIGINT or SIGTERM: the
// script stops at its next step boundary, checkpoint callbacks run).
//
// Under mpirun (or srun) each process is one rank of a data-parallel run
// (ranks.h): rank 0 alone prints, draws progress and writes --log and
// --plot; a rank that fails names itself and ends every rank.
#include "command_line.h"
#include "export_onnx.h"
#include "metrics_log.h"
#include "plugin_check.h"
#include "ranks.h"
#include "run_plot.h"
#include "terminal_progress.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/crash_report.h"
#include "neurite/core/distributed.h"
#include "neurite/core/error.h"
#include "neurite/core/monitor.h"
#include "neurite/core/registry.h"
#include "neurite/lua/runtime.h"

#include "kernel_session.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace neurite::cli;

// Help and version to stdout, usage errors to stderr.
int finish(const Exit &exit)
{
    std::fputs(exit.text.c_str(), exit.code == kExitOk ? stdout : stderr);
    return exit.code;
}

void list_plugins(const neurite::Registry &registry)
{
    for (neurite::Kind kind : {neurite::Kind::Layer, neurite::Kind::Activation, neurite::Kind::Loss,
                               neurite::Kind::Optimizer}) {
        // "losses", not "losss".
        const std::string kind_name = neurite::kind_name(kind);
        std::printf("%s%s:\n", kind_name.c_str(), kind_name.back() == 's' ? "es" : "s");
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

// SIGINT and SIGTERM ask the script to stop; a second one ends the process
// (so does the first when no script runs: --check-plugin, plugin loading).
std::atomic<neurite::lua::LuaRuntime *> g_runtime{nullptr};

void on_signal(int count)
{
    if (count > 1 || !g_runtime.load()) {
        static const char message[] = "\nneurite-run: stopped without cleanup\n";
        const ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(kExitInterrupted);
    }
    g_runtime.load()->request_cancel();
}

// The signals are blocked in every thread and taken by one thread of their
// own with sigwait: a signal handler that interrupts a compute thread
// writes its frame below that thread's stack pointer, and oneDNN's JIT
// kernels keep data there (a Ctrl-C during a large matmul corrupted the
// heap). Called first thing in main, before any thread exists, so that
// every thread inherits the mask; a forked child unblocks them again.
void take_signals_on_a_thread()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
        for (int count = 1;; ++count) {
            int sig = 0;
            if (sigwait(&set, &sig) == 0)
                on_signal(count);
        }
    }).detach();
}

} // namespace

int main(int argc, char **argv)
{
    // A crash cannot flush stdio (the handler may only write(2)): with
    // stdout line-buffered, every line printed before it is out already,
    // also when stdout is a file or a pipe.
    std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
    // Before MPI starts: Open MPI leaves a signal alone that has a handler.
    static const std::string program = program_label();
    neurite::crash::install_handlers(program.c_str());
    // Hidden: the window's run process, which takes its work as frames on
    // stdin (host/gui/kernel_session.h), not from a command line.
    if (argc == 2 && std::string(argv[1]) == "--kernel")
        return neurite::gui::kernel::serve();
    take_signals_on_a_thread(); // before MPI's threads, which inherit the mask
    Options o;
    if (const auto exit = parse_command_line(std::vector<std::string>(argv, argv + argc), o))
        return finish(*exit);
    if (const std::string error = start_ranks(); !error.empty()) {
        std::fprintf(stderr, "%s: %s\n", program.c_str(), error.c_str());
        return kExitError;
    }
    set_rank_threads(o.threads);
    const bool main_rank = neurite::dist::is_main();
    neurite::ComputeContext::set_flush_denormals(!o.keep_denormals); // and this thread, which runs the script
    // Before the runtime: the check loads the one library into a registry of
    // its own, so no installed plugin can stand in for it.
    if (!o.check_plugin.empty())
        return finish_rank(neurite::cli::check_plugin(o.check_plugin, stdout, stderr));

    std::unique_ptr<neurite::lua::LuaRuntime> runtime;
    try {
        neurite::lua::RuntimeOptions ro;
        ro.sandbox = o.sandbox;
        ro.allowed_read_dirs = o.allow_read;
        ro.max_memory_bytes = o.max_memory;
        ro.time_limit_seconds = o.time_limit;
        ro.seed = o.seed;
        runtime = std::make_unique<neurite::lua::LuaRuntime>(ro);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s%s\n", message_prefix().c_str(), e.what());
        return finish_rank(kExitError);
    }
    if (!o.export_onnx.empty())
        return neurite::cli::export_onnx(runtime->registry(), runtime->context(), o.export_onnx, o.export_output,
                                         o.opset, stdout, stderr);
    if (o.list_plugins) {
        list_plugins(runtime->registry());
        if (o.script.empty() && o.help_plugin.empty())
            return finish_rank(kExitOk);
    }
    if (!o.help_plugin.empty()) {
        const neurite::Entry *entry = runtime->registry().find(o.help_plugin);
        if (!entry) {
            try {
                runtime->registry().require(o.help_plugin);
            } catch (const std::exception &e) {
                return finish_rank(finish(usage_error(std::string("--help-plugin: ") + e.what())));
            }
        }
        std::fputs(entry->help().c_str(), stdout);
        if (o.script.empty())
            return finish_rank(kExitOk);
    }

    std::unique_ptr<neurite::cli::MetricsLog> log;
    neurite::cli::RunPlot plot(o.plot_log);
    try {
        if (!o.log.empty() && main_rank)
            log = std::make_unique<neurite::cli::MetricsLog>(o.log);
    } catch (const std::exception &e) {
        return finish_rank(finish(usage_error(e.what())));
    }
    // The other ranks run the same script on their share of the data and
    // would print the same lines: only their errors are shown.
    neurite::cli::TerminalProgress progress(stdout, isatty(STDOUT_FILENO) != 0, o.quiet || !main_rank);
    neurite::Monitor &monitor = runtime->monitor();
    if (main_rank) {
        monitor.subscribe([&](const neurite::MonitorEvent &e) { progress.handle(e); });
        if (log)
            monitor.subscribe([&](const neurite::MonitorEvent &e) { log->handle(e); });
        if (!o.plot.empty())
            monitor.subscribe([&](const neurite::MonitorEvent &e) { plot.handle(e); });
    }
    runtime->set_print_sink([&](const std::string &line) {
        if (!main_rank)
            return;
        progress.clear();
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
    });
    runtime->context().set_log_handler([&](int level, const std::string &message) {
        if (!main_rank)
            return;
        progress.clear();
        std::fprintf(stderr, "%s: %s\n", level ? "warning" : "info", message.c_str());
    });

    // A script stuck in C code that nothing can interrupt (string.find on a
    // long text) would ignore Ctrl-C and the time limit: end the process.
    runtime->set_stuck_handler([](const std::string &message, bool time_limit) {
        const std::string line = "neurite-run: " + message + "\n";
        const ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
        _exit(time_limit ? kExitError : kExitInterrupted);
    });
    g_runtime.store(runtime.get());
    const neurite::lua::RunResult result = runtime->run_file(o.script, o.args, o.interpreter);
    progress.clear();
    std::fflush(stdout);

    int code = result.exit_code;
    switch (result.status) {
    case neurite::lua::RunResult::Status::Ok:
    case neurite::lua::RunResult::Status::Exit: break;
    case neurite::lua::RunResult::Status::Interrupted:
        if (main_rank)
            std::fprintf(stderr, "neurite-run: %s\n", result.message.c_str());
        break;
    case neurite::lua::RunResult::Status::Error:
        std::fprintf(stderr, "%s%s\n", message_prefix().c_str(), result.message.c_str());
        if (!result.traceback.empty())
            std::fprintf(stderr, "%s\n", result.traceback.c_str());
        break;
    }
    try {
        if (log)
            log->flush();
        if (!o.plot.empty() && main_rank)
            plot.write(o.plot);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "neurite-run: %s\n", e.what());
        if (code == kExitOk)
            code = kExitError;
    }
    g_runtime.store(nullptr);
    return finish_rank(code);
}
