#pragma once

#include <stdexcept>
#include <string>

namespace neurite {

// Every error the core raises: a complete sentence with its context (file and
// line, layer and shapes, plugin and versions), safe to show a user as is.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string &message) : std::runtime_error(message) {}
};

} // namespace neurite
