#include "check_process.h"

#include "neurite/core/crash_report.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace neurite::cli {

// ---- the child's side

void CheckChannel::send(char tag, const std::string &payload)
{
    std::string line(1, tag);
    line += ' ';
    for (char c : payload)
        line += c == '\n' ? ' ' : c; // one message per line
    line += '\n';
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = write(m_fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += static_cast<size_t>(n);
    }
}

void CheckChannel::begin(const std::string &who, const std::string &check) { send('S', who + '\t' + check); }
void CheckChannel::entry(int index) { send('E', std::to_string(index)); }
void CheckChannel::text(const std::string &line) { send('T', line); }
void CheckChannel::refused() { send('Q', ""); }

void CheckChannel::verdict(bool passed, const std::string &who, const std::string &check, const std::string &detail)
{
    send(passed ? 'P' : 'F', who + ": " + check + ": " + detail);
}

// ---- the parent's side

namespace {

// What the parent learnt from one child.
struct ChildState {
    std::string who, check; // the check in progress
    int entry = -1;         // the entry in progress (-1: loading the library)
    std::string crash;      // "crashed with SIGSEGV in forward (batch 4)"
    bool done = false;
};

void handle_line(const std::string &line, ChildState &state, CheckTally &tally, std::FILE *out)
{
    if (line.rfind("crashed", 0) == 0) { // from the crash handler, not the channel
        state.crash = line;
        return;
    }
    if (line.size() < 2)
        return;
    const std::string payload = line.substr(2);
    switch (line[0]) {
    case 'S': {
        const size_t tab = payload.find('\t');
        state.who = payload.substr(0, tab);
        state.check = tab == std::string::npos ? "" : payload.substr(tab + 1);
        break;
    }
    case 'E': state.entry = std::atoi(payload.c_str()); break;
    case 'P':
    case 'F':
        std::fprintf(out, "%s  %s\n", line[0] == 'P' ? "PASS" : "FAIL", payload.c_str());
        ++(line[0] == 'P' ? tally.passed : tally.failed);
        break;
    case 'T': std::fprintf(out, "%s\n", payload.c_str()); break;
    case 'Q': tally.refused = true; break;
    case 'D': state.done = true; break;
    default: break;
    }
    std::fflush(out);
}

[[noreturn]] void child_main(const std::function<void(CheckChannel &, int)> &body, int first_entry, int fd)
{
    crash::unblock_signals();
    crash::install_handlers(nullptr); // the parent prints the FAIL line
    crash::set_report_fd(fd);
    CheckChannel channel(fd);
    try {
        body(channel, first_entry);
    } catch (const std::exception &e) {
        channel.text(std::string("the check itself failed: ") + e.what());
        _exit(3);
    }
    channel.done();
    std::fflush(nullptr);
    _exit(0);
}

} // namespace

void CheckChannel::done() { send('D', ""); }

CheckTally run_checks_isolated(const std::function<void(CheckChannel &, int first_entry)> &body, std::FILE *out,
                               const std::string &library_name)
{
    CheckTally tally;
    int first_entry = 0;
    for (;;) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            std::fprintf(out, "%s: cannot start a check process: %s\n", library_name.c_str(), std::strerror(errno));
            ++tally.failed;
            return tally;
        }
        std::fflush(nullptr); // the child must not print the parent's buffered output again
        const pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child_main(body, first_entry, fds[1]);
        }
        close(fds[1]);
        if (pid < 0) {
            close(fds[0]);
            std::fprintf(out, "%s: cannot start a check process: %s\n", library_name.c_str(), std::strerror(errno));
            ++tally.failed;
            return tally;
        }
        ChildState state;
        std::string pending;
        char buf[4096];
        for (;;) {
            const ssize_t n = read(fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            pending.append(buf, static_cast<size_t>(n));
            for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
                handle_line(pending.substr(0, nl), state, tally, out);
        }
        close(fds[0]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (state.done || tally.refused)
            return tally;
        const std::string what = state.crash.empty() ? crash::process_ending(status) : state.crash;
        const std::string who = state.who.empty() ? library_name : state.who;
        const std::string check = state.check.empty() ? "loading" : state.check;
        if (state.entry < 0) {
            std::fprintf(out, "FAIL  %s: %s: %s\n%s: refused, nothing else checked\n", who.c_str(), check.c_str(),
                         what.c_str(), library_name.c_str());
            ++tally.failed;
            tally.refused = true;
            return tally;
        }
        std::fprintf(out, "FAIL  %s: %s: %s; the entry's remaining checks were not run\n", who.c_str(),
                     check.c_str(), what.c_str());
        std::fflush(out);
        ++tally.failed;
        first_entry = state.entry + 1;
    }
}

} // namespace neurite::cli
