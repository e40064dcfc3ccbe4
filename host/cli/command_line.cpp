#include "command_line.h"

#include "run_plot.h"

#include "neurite/core/version.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace neurite::cli {

namespace {

const char *const kUsage = "usage: neurite-run [options] script.lua [args...]";

const char *const kDescription =
    "Runs a Neurite Lua experiment without a window. The script sees its\n"
    "arguments in `arg` (arg[0] is the script) and the globals tensor, nn,\n"
    "optim, data, train and monitor. Their reference (every function and\n"
    "method, nn.define's contract for Lua layers and losses, what counts from\n"
    "1 and what from 0): docs/lua-api.md in the source tree, installed as\n"
    NEURITE_LUA_API_DOC ".";

const char *const kEpilogue =
    "\n"
    "Options go before the script; everything after it is the script's (arg[1],\n"
    "arg[2], ...). An argument there that looks like an option is refused, so\n"
    "that `neurite-run train.lua --sandbox` cannot run unsandboxed: to pass\n"
    "options to the script, put them after --:\n"
    "  neurite-run --sandbox train.lua -- --epochs 5\n"
    "\n"
    "--plot writes the format its suffix names (.png, .jpg, .bmp, ...). Its\n"
    "charts follow the window's: a validation metric shares the chart of its\n"
    "training metric (val_loss with loss), every other metric has its own.\n"
    "\n"
    "exit codes: 0 success, 1 script error, 2 usage, 130 interrupted\n";

// One option of neurite-run. A switch sets a bool field, a text option a
// string field; the numbers (--threads, --seed) are read and checked below.
struct OptionSpec {
    QStringList names;
    const char *description;
    const char *value_name = nullptr;
    bool Options::*flag = nullptr;
    std::string Options::*text = nullptr;
};

// In the order --help lists them.
const OptionSpec kOptions[] = {
    {.names = {"sandbox"},
     .description = "No io, os, package or debug; text chunks only; files are written only below the "
                    "working directory and read only below it, the installed datasets and --allow-read "
                    "folders.",
     .flag = &Options::sandbox},
    {.names = {"allow-read"},
     .description = "With --sandbox: the script may also read files below DIR (repeatable).",
     .value_name = "DIR"},
    {.names = {"max-memory"},
     .description = "Stop the script with an error at its line when Lua and tensors together would use more "
                    "than SIZE (e.g. 512M, 2G).",
     .value_name = "SIZE"},
    {.names = {"time-limit"},
     .description = "Stop the script with an error at its line after SECONDS (as Ctrl-C, checkpoints included).",
     .value_name = "SECONDS"},
    {.names = {"seed"}, .description = "Seed for initialisation, shuffling and tensor.rand (default 1).",
     .value_name = "N"},
    {.names = {"threads"}, .description = "Compute threads (default: OMP_NUM_THREADS or all cores).",
     .value_name = "N"},
    {.names = {"keep-denormals"},
     .description = "Compute with subnormal floats instead of flushing them to zero (FTZ/DAZ, the default; "
                    "slower on many x86 cores).",
     .flag = &Options::keep_denormals},
    {.names = {"precision"},
     .description = "The precision every model starts in: f32 (default) or bf16 (mixed precision: bf16 layers, "
                    "f32 master weights); bf16 refuses on a CPU without bf16 instructions.",
     .value_name = "P", .text = &Options::precision},
    {.names = {"q", "quiet"}, .description = "No progress bar and no epoch lines (print() still prints).",
     .flag = &Options::quiet},
    {.names = {"log"},
     .description = "Write every monitored scalar to FILE: .csv, or .jsonl (one JSON object a line).",
     .value_name = "FILE", .text = &Options::log},
    {.names = {"plot"}, .description = "Draw the run's charts into FILE at the end (.png, .jpg, .bmp, ...).",
     .value_name = "FILE", .text = &Options::plot},
    {.names = {"plot-log"},
     .description = "Draw the --plot charts' values on a log scale (values <= 0 are left out).",
     .flag = &Options::plot_log},
    {.names = {"runs"},
     .description = "Keep each run under DIR/<run-id>/ (run.json, metrics.jsonl, a copy of the script; "
                    "docs/run-store.md). Default: runs in the working directory.",
     .value_name = "DIR", .text = &Options::runs},
    {.names = {"no-runs"}, .description = "Keep no run store.", .flag = &Options::no_runs},
    {.names = {"sweep-parallel"},
     .description = "train.sweep runs its variants in N processes, each with the cores divided by N as "
                    "threads (default 1: in this process).",
     .value_name = "N"},
    {.names = {"list-plugins"}, .description = "List every registry entry and refused library, then exit.",
     .flag = &Options::list_plugins},
    {.names = {"help-plugin"}, .description = "Describe one entry and its parameters, then exit.",
     .value_name = "NAME", .text = &Options::help_plugin},
    {.names = {"check-plugin"},
     .description = "Load the plugin library FILE alone and check every entry (schema, gradients, state, "
                    "determinism, buffer bounds); exit 0 when all pass, 1 when one fails.",
     .value_name = "FILE", .text = &Options::check_plugin},
    {.names = {"export-onnx"},
     .description = "Convert the model MODEL.nrt to ONNX: neurite-run [--opset N] --export-onnx MODEL.nrt "
                    "OUT.onnx; the file passes the ONNX checker. Then exit.",
     .value_name = "MODEL", .text = &Options::export_onnx},
    {.names = {"opset"}, .description = "With --export-onnx: the ONNX opset to write, 13 to 17 (default 17).",
     .value_name = "N"},
    {.names = {"h", "help"}, .description = "Show this text."},
    {.names = {"v", "version"}, .description = "Show the version of Neurite."},
};

// "-q", "--seed=3", "--epochs": an option's shape. A negative number ("-1",
// "-.5") or a lone "-" is an ordinary argument.
bool looks_like_option(const std::string &a)
{
    return a.size() >= 2 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1])) && a[1] != '.';
}

const OptionSpec *find_option(const std::string &a)
{
    const std::string name = a.substr(a.find_first_not_of('-'), a.find('=') - a.find_first_not_of('-'));
    for (const OptionSpec &spec : kOptions)
        if (spec.names.contains(QString::fromStdString(name)))
            return &spec;
    return nullptr;
}

std::string help_text(const QCommandLineParser &parser)
{
    // Qt's text names the program "<executable_name>" without a
    // QCoreApplication; the usage line is ours.
    QString text = parser.helpText();
    text = text.mid(text.indexOf('\n') + 1);
    return std::string(kUsage) + "\n\n" + text.toStdString() + kEpilogue;
}

// A whole number in [min, max] for --threads or --seed.
std::optional<Exit> read_number(const std::string &option, const std::string &value, long long min,
                                long long max, const char *what, long long &out)
{
    char *end = nullptr;
    errno = 0;
    out = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end || errno || out < min || out > max)
        return usage_error(option + " needs " + what + ", got '" + value + "'");
    return std::nullopt;
}

// Everything after the script goes to the script, unless it looks like an
// option and no "--" came first: then it is refused, since the user most
// likely meant it for neurite-run (the sandbox, above all).
std::optional<Exit> take_script_arguments(const std::vector<std::string> &after_script, bool verbatim,
                                          Options &o)
{
    for (const std::string &a : after_script) {
        if (!verbatim && a == "--") {
            verbatim = true;
            continue;
        }
        if (!verbatim && looks_like_option(a)) {
            if (find_option(a))
                return usage_error("option " + a.substr(0, a.find('=')) + " after the script name; put it before " +
                                   o.script + ", or after -- to pass it to the script");
            return usage_error("'" + a + "' after the script name is not an option of neurite-run; to pass it to "
                               "the script, put it after --: neurite-run [options] " + o.script + " -- " + a);
        }
        o.args.push_back(a);
    }
    return std::nullopt;
}

void describe_options(QCommandLineParser &parser)
{
    parser.setApplicationDescription(kDescription);
    parser.addPositionalArgument("script.lua", "The Lua script to run, then its own arguments.",
                                 "script.lua [args...]");
    // After the script everything is the script's: checked by take_script_arguments.
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsPositionalArguments);
    for (const OptionSpec &spec : kOptions)
        parser.addOption(spec.value_name ? QCommandLineOption(spec.names, spec.description, spec.value_name)
                                         : QCommandLineOption(spec.names, spec.description));
}

// Qt's message, in the runner's style: "unknown option '--bogus'",
// "missing value after '--log'".
Exit parse_error(const QCommandLineParser &parser)
{
    if (!parser.unknownOptionNames().isEmpty()) {
        const QString name = parser.unknownOptionNames().first();
        return usage_error("unknown option '" + std::string(name.size() == 1 ? "-" : "--") + name.toStdString() + "'");
    }
    QString message = parser.errorText();
    if (message.endsWith('.'))
        message.chop(1);
    return usage_error(message.left(1).toLower().toStdString() + message.mid(1).toStdString());
}

std::optional<Exit> read_options(const QCommandLineParser &parser, Options &o)
{
    for (const OptionSpec &spec : kOptions) {
        if (spec.flag)
            o.*spec.flag = parser.isSet(spec.names.last());
        if (spec.text)
            o.*spec.text = parser.value(spec.names.last()).toStdString();
    }
    for (const QString &dir : parser.values("allow-read")) {
        std::error_code ec;
        if (!std::filesystem::is_directory(dir.toStdString(), ec))
            return usage_error("--allow-read needs a folder, got '" + dir.toStdString() + "'");
        o.allow_read.push_back(dir.toStdString());
    }
    if (parser.isSet("max-memory")) {
        const std::string text = parser.value("max-memory").toStdString();
        const std::optional<uint64_t> bytes = parse_size(text);
        if (!bytes || *bytes == 0)
            return usage_error("--max-memory needs a size such as 512M or 2G, got '" + text + "'");
        o.max_memory = *bytes;
    }
    if (parser.isSet("time-limit")) {
        const std::string text = parser.value("time-limit").toStdString();
        char *end = nullptr;
        o.time_limit = std::strtod(text.c_str(), &end);
        if (text.empty() || *end || !(o.time_limit > 0) || o.time_limit > 1e9)
            return usage_error("--time-limit needs a positive number of seconds, got '" + text + "'");
    }
    long long n = 0;
    if (parser.isSet("threads")) {
        if (auto e = read_number("--threads", parser.value("threads").toStdString(), 1, 4096,
                                 "a positive whole number", n))
            return e;
        o.threads = static_cast<int>(n);
    }
    if (parser.isSet("seed")) {
        if (auto e = read_number("--seed", parser.value("seed").toStdString(), 0, LLONG_MAX,
                                 "a non-negative whole number", n))
            return e;
        o.seed = static_cast<uint64_t>(n);
    }
    if (parser.isSet("sweep-parallel")) {
        if (auto e = read_number("--sweep-parallel", parser.value("sweep-parallel").toStdString(), 1, 256,
                                 "a whole number of processes from 1 to 256", n))
            return e;
        o.sweep_parallel = static_cast<int>(n);
    }
    if (parser.isSet("opset")) {
        if (auto e = read_number("--opset", parser.value("opset").toStdString(), 13, 17, "an opset from 13 to 17", n))
            return e;
        o.opset = static_cast<int>(n);
    }
    return std::nullopt;
}

} // namespace

std::optional<uint64_t> parse_size(const std::string &text)
{
    char *end = nullptr;
    errno = 0;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end == text.c_str() || errno || !(value >= 0))
        return std::nullopt;
    std::string unit(end);
    for (char &c : unit)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    static const std::pair<const char *, int> units[] = {{"", 0}, {"B", 0}, {"K", 1}, {"M", 2}, {"G", 3}, {"T", 4}};
    for (const auto &[name, power] : units) {
        const std::string n = name;
        if (unit == n || (!n.empty() && n != "B" && (unit == n + "B" || unit == n + "IB"))) {
            const double bytes = value * std::pow(1024.0, power);
            if (bytes >= 1.8e19)
                return std::nullopt;
            return static_cast<uint64_t>(bytes);
        }
    }
    return std::nullopt;
}

Exit usage_error(const std::string &message)
{
    return {kExitUsage, "neurite-run: " + message + "\n(see neurite-run --help)\n"};
}

std::optional<Exit> parse_command_line(const std::vector<std::string> &argv, Options &o)
{
    o = Options{};
    QCommandLineParser parser;
    describe_options(parser);
    QStringList args;
    for (const std::string &a : argv)
        args << QString::fromLocal8Bit(a.c_str());
    if (!parser.parse(args))
        return parse_error(parser);
    if (parser.isSet("help"))
        return Exit{kExitOk, help_text(parser)};
    if (parser.isSet("version"))
        return Exit{kExitOk, std::string("neurite-run ") + version() + "\n"};
    if (auto e = read_options(parser, o))
        return e;

    const QStringList positional = parser.positionalArguments();
    if (!positional.isEmpty()) {
        // Qt takes a lone "-" as an argument but goes on reading options
        // after it, so the script's place below would be wrong.
        if (positional.first() == "-")
            return usage_error("'-' (standard input) cannot be the script; name a .lua file");
        // Everything from the script on is positional, so the script sits
        // where the positional arguments begin.
        const auto script_at = static_cast<std::ptrdiff_t>(argv.size()) - positional.size();
        o.script = argv[static_cast<size_t>(script_at)];
        o.interpreter.assign(argv.begin(), argv.begin() + script_at);
        const bool after_double_dash = script_at >= 2 && argv[static_cast<size_t>(script_at) - 1] == "--";
        if (auto e = take_script_arguments({argv.begin() + script_at + 1, argv.end()}, after_double_dash, o))
            return e;
    }
    if (!o.export_onnx.empty()) { // the positional argument is the output, not a script
        if (o.script.empty())
            return usage_error("--export-onnx " + o.export_onnx + " needs the file to write: neurite-run "
                               "--export-onnx MODEL.nrt OUT.onnx");
        if (!o.args.empty())
            return usage_error("--export-onnx takes one output file, got more after " + o.script);
        o.export_output = o.script;
        o.script.clear();
    }
    if (o.script.empty() && !o.list_plugins && o.help_plugin.empty() && o.check_plugin.empty() &&
        o.export_onnx.empty())
        return usage_error("no script given");
    if (!o.allow_read.empty() && !o.sandbox)
        return usage_error("--allow-read widens the sandbox's reads; give --sandbox too");
    if (o.no_runs && !o.runs.empty())
        return usage_error("--runs " + o.runs + " and --no-runs contradict each other; give one");
    if (parser.isSet("runs") && o.runs.empty())
        return usage_error("--runs needs a folder, got ''");
    if (o.runs.empty())
        o.runs = "runs";
    if (o.plot_log && o.plot.empty())
        return usage_error("--plot-log draws the --plot charts on a log scale; give --plot FILE too");
    if (!o.plot.empty())
        if (const std::string problem = RunPlot::path_problem(o.plot); !problem.empty())
            return usage_error(problem);
    return std::nullopt;
}

} // namespace neurite::cli
