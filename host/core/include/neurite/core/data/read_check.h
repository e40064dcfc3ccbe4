#pragma once

// A check every loader applies to each file before it opens it, so that one
// rule decides what a sandboxed script may read: the Lua runtime installs
// it around its loader calls, and data::read_file (which every loader uses)
// asks it. Nothing is checked where no check is installed.
#include <functional>
#include <string>

namespace neurite::data {

// Throws neurite::Error when path may not be read.
using ReadCheck = std::function<void(const std::string &path)>;

// Installs check for the current thread while the scope lives (scopes nest;
// null installs none). A loader that reads on another thread installs the
// same check there: see current_read_check().
class ReadCheckScope {
public:
    explicit ReadCheckScope(const ReadCheck *check);
    ~ReadCheckScope();
    ReadCheckScope(const ReadCheckScope &) = delete;
    ReadCheckScope &operator=(const ReadCheckScope &) = delete;

private:
    const ReadCheck *m_previous;
};

const ReadCheck *current_read_check();

// Runs the current thread's check on path, if there is one.
void check_read(const std::string &path);

} // namespace neurite::data
