#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace neurite::cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

// What neurite-run was asked to do.
struct Options {
    bool list_plugins = false;
    std::string help_plugin;
    std::string check_plugin;
    std::string export_onnx;   // --export-onnx MODEL.nrt: the model to convert
    std::string export_output; // ... and the .onnx file to write (the positional argument)
    int opset = 17;
    std::string log;
    std::string plot;
    bool plot_log = false;
    int threads = 0;
    uint64_t seed = 1;
    bool sandbox = false;
    std::vector<std::string> allow_read; // --allow-read DIR, repeatable
    uint64_t max_memory = 0;             // bytes, 0: no limit
    double time_limit = 0;               // seconds, 0: none
    bool quiet = false;
    std::string runs;       // --runs DIR: the run store's folder ("runs" when empty)
    bool no_runs = false;   // --no-runs: no run store
    int sweep_parallel = 1; // --sweep-parallel N: train.sweep's worker processes
    bool keep_denormals = false;
    std::string precision; // --precision f32|bf16: the precision models start in
    std::string script;
    std::vector<std::string> args;        // the script's arg[1], arg[2], ...
    std::vector<std::string> interpreter; // argv before the script: arg[-n] .. arg[-1]
};

// The end of the program the command line asks for instead of a run: the
// help or the version (exit 0, text for stdout), or a usage error (exit 2,
// a message for stderr).
struct Exit {
    int code = kExitOk;
    std::string text;
};

// "neurite-run: MESSAGE" and where to look, exit code 2.
Exit usage_error(const std::string &message);

// "512M", "2G", "1.5GiB", "4096": a size in bytes (K, M, G, T count by
// 1024); nullopt when the text is not one.
std::optional<uint64_t> parse_size(const std::string &text);

// Reads neurite-run's command line (argv[0] first). Options come before the
// script; after it, everything is the script's, but an argument that looks
// like an option is refused unless a "--" comes first, so that
// `neurite-run script.lua --sandbox` cannot run a script unsandboxed.
// Returns the Exit when the command line ends the program.
std::optional<Exit> parse_command_line(const std::vector<std::string> &argv, Options &options);

} // namespace neurite::cli
