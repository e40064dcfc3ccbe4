#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

// The whole file; Error "<path>: cannot open: <reason>" when it cannot be read.
std::vector<uint8_t> read_file(const std::string &path);

// True when bytes start with the gzip magic (1f 8b).
bool is_gzip(std::span<const uint8_t> bytes);

// Inflates gzip data (concatenated members too) with zlib. The output is capped
// at what the input could possibly hold, so a forged size field cannot make
// it allocate more. Error "<source>: byte N: ..." for corrupt or truncated data.
std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string &source);

// The file's bytes, inflated when it is gzip (by content, not by name).
std::vector<uint8_t> read_maybe_gzip(const std::string &path);

} // namespace neurite::data
