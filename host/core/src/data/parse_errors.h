#pragma once

// How every loader words its errors: "<source>: byte N: ..." for binary
// formats, "<source>: line N: ..." for text, so the user can find the spot.
#include "neurite/core/error.h"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace neurite::data::detail {

[[noreturn]] inline void fail(const std::string &source, const std::string &message)
{
    throw Error(source + ": " + message);
}

[[noreturn]] inline void fail_at_byte(const std::string &source, uint64_t offset,
                                      const std::string &message)
{
    throw Error(source + ": byte " + std::to_string(offset) + ": " + message);
}

[[noreturn]] inline void fail_at_line(const std::string &source, int64_t line,
                                      const std::string &message)
{
    throw Error(source + ": line " + std::to_string(line) + ": " + message);
}

inline std::string hex32(uint32_t value)
{
    char text[16];
    std::snprintf(text, sizeof text, "0x%08X", value);
    return text;
}

// 'text' for a message, shortened so a garbage field cannot flood it, with
// control bytes shown as '?'.
inline std::string quoted(std::string_view text, size_t max_chars = 40)
{
    std::string out = "'";
    for (size_t i = 0; i < text.size() && i < max_chars; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        out += c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c);
    }
    if (text.size() > max_chars)
        out += "...";
    return out + "'";
}

// A number as a person writes it: "1.5", "-1", "1e+20" (not "1.500000").
inline std::string number_text(double value)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

inline std::string plural(int64_t n, const char *one, const char *many)
{
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The bytes of data a binary header promises (dims × element size), checked
// against what follows the header: never trusted beyond the file's size, so
// a forged header cannot make a loader allocate or read past the end.
inline uint64_t check_data_size(const std::string &source, size_t file_size, size_t data_offset,
                                uint64_t element_size, std::span<const int64_t> dims,
                                const std::string &described)
{
    uint64_t total = element_size;
    bool overflow = false;
    for (int64_t d : dims)
        overflow = overflow || __builtin_mul_overflow(total, static_cast<uint64_t>(d), &total);
    const uint64_t present = file_size - data_offset;
    if (overflow || total > present)
        fail_at_byte(source, file_size,
                     "truncated: the header describes " + described + " (" +
                         (overflow ? std::string("more than 2^64") : std::to_string(total)) +
                         " bytes after the " + std::to_string(data_offset) +
                         "-byte header), but the file ends after " + std::to_string(present));
    if (total < present)
        fail_at_byte(source, data_offset + total,
                     plural(static_cast<int64_t>(present - total), "unexpected byte follows",
                            "unexpected bytes follow") +
                         " the data (" + described + ")");
    return total;
}

} // namespace neurite::data::detail
