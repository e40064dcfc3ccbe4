#pragma once

// --check-plugin runs its checks in a child process, so that a plugin that
// crashes (a null dereference, abort()) fails its check with the signal and
// the call in progress instead of ending the report halfway.
//
// The child reports over a pipe, one line per message, written with write(2)
// as it goes: nothing is lost in a buffer when it dies. The parent prints
// the verdicts, counts them and, after a crash, starts a new child that
// resumes with the entry after the one that crashed.
//
// fork() rather than re-running neurite-run with an internal flag: the check
// forks before it has loaded a plugin or started a thread (oneDNN's and
// OpenMP's pools start in the child), so the child is a clean copy that
// needs no command line of its own, and nothing a user can type reaches it.
#include <cstdio>
#include <functional>
#include <string>

namespace neurite::cli {

// The child's end of the pipe.
class CheckChannel {
public:
    explicit CheckChannel(int fd) : m_fd(fd) {}
    // A check starts: named in the FAIL line if the child dies during it.
    void begin(const std::string &who, const std::string &check);
    // Entry number `index` (0-based) starts; a restart skips through it.
    void entry(int index);
    void verdict(bool passed, const std::string &who, const std::string &check, const std::string &detail);
    // A line printed as it is.
    void text(const std::string &line);
    // Nothing more will be checked (the library was refused): no summary.
    void refused();
    // Every check ran.
    void done();

private:
    void send(char tag, const std::string &payload);
    int m_fd;
};

struct CheckTally {
    int passed = 0;
    int failed = 0;
    bool refused = false;
};

// Runs body(channel, first_entry) in child processes until one finishes,
// printing PASS/FAIL lines to out as they arrive. A child that dies adds a
// FAIL line for the check in progress ("crashed with SIGSEGV in forward
// (batch 4)"); the next child starts at the entry after it.
CheckTally run_checks_isolated(const std::function<void(CheckChannel &, int first_entry)> &body, std::FILE *out,
                               const std::string &library_name);

} // namespace neurite::cli
