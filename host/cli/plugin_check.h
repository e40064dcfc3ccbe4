#pragma once

// neurite-run --check-plugin FILE: loads one plugin library into a registry
// of its own and judges every entry by the rules docs/plugins.md states, so a
// plugin author learns that a backward pass is wrong before a model trains
// badly with it.
#include <cstdio>
#include <string>

namespace neurite::cli {

// Writes one PASS or FAIL line per check to out and returns the exit code:
// 0 when every check passed, 1 when one failed (or the library was refused),
// 2 when the file does not exist (the message goes to err).
int check_plugin(const std::string &file, std::FILE *out, std::FILE *err);

} // namespace neurite::cli
