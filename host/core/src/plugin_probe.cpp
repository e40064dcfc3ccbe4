#include "plugin_probe.h"

#include "neurite/core/crash_report.h"
#include "neurite/core/registry.h"

#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NEURITE_VERSION
#define NEURITE_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;

namespace neurite::detail {

namespace {

// A library still loading after this long hangs the probe: it would hang
// the host as well, so it is refused.
constexpr int kLoadTimeoutMs = 20000;
constexpr const char *kCacheHeader = "neurite plugin probe v1 " NEURITE_VERSION;

struct FileStamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    bool operator==(const FileStamp &) const = default;
};

FileStamp stamp_of(const std::string &file)
{
    struct stat st {};
    if (stat(file.c_str(), &st) != 0)
        return {};
    return {int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, int64_t(st.st_size)};
}

struct CachedVerdict {
    FileStamp stamp;
    ProbeVerdict verdict;
};

// One line per library: mtime, size, path, "ok" or "refused", reason; tabs
// between (a path with a tab or newline is simply never cached).
std::map<std::string, CachedVerdict> read_cache(const std::string &path)
{
    std::map<std::string, CachedVerdict> cache;
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line) || line != kCacheHeader)
        return cache; // another version's verdicts may no longer hold
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        std::stringstream s(line);
        for (std::string field; std::getline(s, field, '\t');)
            fields.push_back(field);
        if (fields.size() < 4)
            continue;
        CachedVerdict v;
        try {
            v.stamp = {std::stoll(fields[0]), std::stoll(fields[1])};
        } catch (const std::exception &) {
            continue;
        }
        v.verdict.safe = fields[3] == "ok";
        v.verdict.reason = fields.size() > 4 ? fields[4] : "";
        cache[fields[2]] = v;
    }
    return cache;
}

bool cacheable(const std::string &text) { return text.find_first_of("\t\n") == std::string::npos; }

// Written beside and renamed over the old file, so a reader never sees half
// of it; a cache that cannot be written only costs the next start a probe.
void write_cache(const std::string &path, const std::map<std::string, CachedVerdict> &cache)
{
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    const std::string temp = path + ".tmp" + std::to_string(getpid());
    {
        std::ofstream out(temp, std::ios::trunc);
        if (!out)
            return;
        out << kCacheHeader << '\n';
        for (const auto &[file, v] : cache)
            if (cacheable(file) && cacheable(v.verdict.reason))
                out << v.stamp.mtime_ns << '\t' << v.stamp.size << '\t' << file << '\t'
                    << (v.verdict.safe ? "ok" : "refused") << '\t' << v.verdict.reason << '\n';
        if (!out.flush())
            return;
    }
    fs::rename(temp, path, ec);
    if (ec)
        fs::remove(temp, ec);
}

void write_line(int fd, const std::string &line)
{
    const std::string text = line + "\n";
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n <= 0)
            return;
        done += static_cast<size_t>(n);
    }
}

// The child: loads files[first..] one by one, saying "B i" before and
// "E i" after each; a crash writes "crashed with ..." (crash_report.h).
[[noreturn]] void run_probe_child(const std::vector<std::string> &files, size_t first, int fd)
{
    crash::unblock_signals();
    crash::install_handlers(nullptr);
    crash::set_report_fd(fd);
    // The library's own complaints (an assertion's text) stay out of the
    // host's output; its verdict says what happened.
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    Registry registry;
    registry.set_isolated_loading(false);
    for (size_t i = first; i < files.size(); ++i) {
        write_line(fd, "B " + std::to_string(i));
        registry.load_library(files[i]);
        write_line(fd, "E " + std::to_string(i));
    }
    _exit(0); // no atexit handlers or static destructors of the libraries
}

struct ChildRun {
    size_t next = 0;         // the first file not yet answered
    bool crashed = false;    // files[next] took the child down
    std::string crash_text;  // "crashed with SIGABRT in ..."
    bool timed_out = false;
};

// Reads the child's lines until it ends (or hangs in one library).
ChildRun watch_child(pid_t pid, int fd, size_t first)
{
    ChildRun run;
    run.next = first;
    bool loading = false;
    std::string pending;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLoadTimeoutMs);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        const int ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            kill(pid, SIGKILL);
            run.timed_out = loading;
            break;
        }
        char buf[512];
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        pending.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
            const std::string line = pending.substr(0, nl);
            if (line.rfind("B ", 0) == 0) {
                loading = true;
                deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLoadTimeoutMs);
            } else if (line.rfind("E ", 0) == 0) {
                loading = false;
                run.next = std::strtoul(line.c_str() + 2, nullptr, 10) + 1;
            } else if (line.rfind("crashed", 0) == 0) {
                run.crash_text = line;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    run.crashed = loading && !run.timed_out;
    if (run.crashed && run.crash_text.empty())
        run.crash_text = crash::process_ending(status);
    return run;
}

// Probes files (none of them cached); a child that cannot be started leaves
// the files unprobed, loaded in-process as before the quarantine existed.
std::vector<std::optional<ProbeVerdict>> probe_uncached(const std::vector<std::string> &files)
{
    std::vector<std::optional<ProbeVerdict>> verdicts(files.size());
    size_t first = 0;
    while (first < files.size()) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            break;
        std::fflush(nullptr); // the child must not write the parent's buffered output again
        const pid_t pid = fork();
        if (pid < 0) {
            close(fds[0]);
            close(fds[1]);
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            run_probe_child(files, first, fds[1]);
        }
        close(fds[1]);
        const ChildRun run = watch_child(pid, fds[0], first);
        close(fds[0]);
        for (size_t i = first; i < run.next && i < files.size(); ++i)
            verdicts[i] = ProbeVerdict{};
        if (run.next >= files.size())
            break;
        ProbeVerdict &bad = verdicts[run.next].emplace();
        bad.safe = false;
        if (run.timed_out)
            bad.reason = "did not finish loading within " + std::to_string(kLoadTimeoutMs / 1000) +
                         " s in a probe process (it would hang this program)";
        else if (run.crashed)
            bad.reason = run.crash_text + " when loaded in a probe process; refused so that it "
                                          "cannot take this program down";
        else
            bad.reason = "ended its probe process before loading completed";
        first = run.next + 1;
    }
    return verdicts;
}

} // namespace

std::string probe_cache_path()
{
    if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
        return std::string(xdg) + "/neurite/plugin-probe.txt";
    if (const char *home = std::getenv("HOME"); home && *home)
        return std::string(home) + "/.cache/neurite/plugin-probe.txt";
    return {};
}

std::vector<ProbeVerdict> probe_libraries(const std::vector<std::string> &files)
{
    const std::string cache_path = probe_cache_path();
    std::map<std::string, CachedVerdict> cache;
    if (!cache_path.empty())
        cache = read_cache(cache_path);
    std::vector<ProbeVerdict> verdicts(files.size());
    std::vector<std::string> unknown;
    std::vector<size_t> unknown_at;
    std::vector<FileStamp> stamps(files.size());
    for (size_t i = 0; i < files.size(); ++i) {
        stamps[i] = stamp_of(files[i]);
        const auto hit = cache.find(files[i]);
        if (stamps[i].size >= 0 && hit != cache.end() && hit->second.stamp == stamps[i]) {
            verdicts[i] = hit->second.verdict;
        } else {
            unknown.push_back(files[i]);
            unknown_at.push_back(i);
        }
    }
    if (unknown.empty())
        return verdicts;
    const std::vector<std::optional<ProbeVerdict>> found = probe_uncached(unknown);
    for (size_t k = 0; k < unknown.size(); ++k) {
        if (!found[k])
            continue; // not probed (no process could be started): loaded as before
        const size_t i = unknown_at[k];
        verdicts[i] = *found[k];
        if (stamps[i].size >= 0)
            cache[files[i]] = {stamps[i], *found[k]};
    }
    if (!cache_path.empty())
        write_cache(cache_path, cache);
    return verdicts;
}

} // namespace neurite::detail
