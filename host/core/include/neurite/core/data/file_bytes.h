#pragma once

#include <cstdint>
#include <memory>
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

// Inflates gzip data (concatenated members too) a piece at a time, so a
// caller that knows how much it expects (an IDX header) allocates that and
// no more. Errors as gunzip's.
class GzipReader {
public:
    GzipReader(std::span<const uint8_t> compressed, std::string source);
    ~GzipReader();
    GzipReader(const GzipReader &) = delete;
    GzipReader &operator=(const GzipReader &) = delete;

    // Up to n bytes into dst; fewer only where the data ends.
    size_t read(uint8_t *dst, size_t n);
    bool ended() const { return m_ended; }
    uint64_t produced() const { return m_produced; }
    uint64_t compressed_offset() const;

private:
    struct Stream;
    std::span<const uint8_t> m_bytes;
    std::string m_source;
    std::unique_ptr<Stream> m_stream;
    size_t m_in_pos = 0;
    uint64_t m_produced = 0;
    bool m_ended = false;
};

// The most that compressed_bytes of deflate data can inflate to (deflate
// expands at most about 1032:1).
uint64_t max_inflated_size(uint64_t compressed_bytes);

// The file's bytes, inflated when it is gzip (by content, not by name).
std::vector<uint8_t> read_maybe_gzip(const std::string &path);

} // namespace neurite::data
