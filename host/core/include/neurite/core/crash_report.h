#pragma once

// A crash names its culprit: when SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT
// reaches the process, one line goes to stderr saying which plugin library,
// entry and call were in progress (see plugin_call.h), and the signal then
// ends the process as it would have (exit status 128 + signal, core dump).
//
// The handler only formats into a buffer on its own stack and calls write(2):
// nothing in it allocates or takes a lock. It cannot flush stdio (fflush is
// not async-signal-safe), so a program that wants earlier output to survive a
// crash with stdout redirected line-buffers stdout (neurite-run does).
#include "neurite/core/plugin_call.h"

#include <cstddef>
#include <string>

namespace neurite::crash {

// Installs the handlers (on an alternate stack, so a stack overflow is
// reported too). `program` prefixes the line: "neurite-run: crashed with
// ..."; null writes no line to stderr (a child whose parent reports it).
void install_handlers(const char *program);

// Also writes "crashed with SIGSEGV in forward (batch 4)" and a newline to
// fd, for a parent process that reads a child's report (-1: none).
void set_report_fd(int fd);

// "SIGSEGV", "SIGABRT", ... or "signal N" (written into a static buffer for
// unknown signals). Async-signal-safe.
const char *signal_name(int sig) noexcept;

// Formats the call into buf, NUL-terminated; returns its length. With
// with_plugin: "plugin libx.so, entry Dense, forward (batch 4)", else
// "forward (batch 4)". Async-signal-safe.
size_t describe_call(char *buf, size_t size, const PluginCallFrame &frame, bool with_plugin) noexcept;

// In a forked child: no signal blocked (neurite-run blocks SIGINT and
// SIGTERM in its threads to take them on one of its own), so that Ctrl-C
// ends the child as any process.
void unblock_signals();

// How a child process ended, from its waitpid status, for a message: "was
// killed by SIGKILL", "ended with exit code 3".
std::string process_ending(int wait_status);

} // namespace neurite::crash
