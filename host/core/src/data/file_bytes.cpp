#include "neurite/core/data/file_bytes.h"
#include "neurite/core/data/read_check.h"

#include "parse_errors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include <zlib.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace neurite::data {

namespace {

// Deflate cannot expand data by more than about 1032:1, so this bounds what
// honest gzip input inflates to; a forged ISIZE field cannot raise it.
constexpr uint64_t kMaxInflateRatio = 1032;
constexpr uint64_t kInflateSlack = 1 << 16;
// The most gunzip allocates before it has seen the data: what the trailer
// claims beyond this is earned by inflating.
constexpr uint64_t kMaxFirstGuess = uint64_t(64) << 20;

struct FileCloser {
    void operator()(std::FILE *f) const { std::fclose(f); }
};

// The little-endian size modulo 2^32 a gzip member stores in its last four
// bytes: a good first guess for the output size, never trusted beyond that.
uint64_t size_hint(std::span<const uint8_t> bytes, uint64_t cap)
{
    if (bytes.size() < 18)
        return kInflateSlack;
    const uint8_t *t = bytes.data() + bytes.size() - 4;
    const uint64_t isize = uint64_t(t[0]) | uint64_t(t[1]) << 8 | uint64_t(t[2]) << 16 |
                           uint64_t(t[3]) << 24;
    return std::clamp<uint64_t>(isize, 1, cap);
}

// Batches read dataset rows in random order, and with 4 KiB pages nearly
// every row costs a TLB miss whose page walk, in a training loop that has
// pushed the page tables out of cache, goes to memory. Huge pages (where
// the kernel allows them on request) remove most of those walks. Asked for
// before the memory is first touched, so the pages are huge from the start.
void reserve_with_huge_pages(std::vector<uint8_t> &bytes, size_t size)
{
    bytes.reserve(size);
#ifdef __linux__
    constexpr size_t kHugePage = size_t(2) << 20;
    if (bytes.capacity() < 2 * kHugePage)
        return;
    const auto start = reinterpret_cast<uintptr_t>(bytes.data());
    const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t last = (start + bytes.capacity()) & ~(kHugePage - 1);
    if (last > first)
        madvise(reinterpret_cast<void *>(first), last - first, MADV_HUGEPAGE);
#endif
}

bool only_zeros(std::span<const uint8_t> bytes)
{
    return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

} // namespace

std::vector<uint8_t> read_file(const std::string &path)
{
    check_read(path);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        detail::fail(path, "cannot open: it is a folder, not a file");
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file)
        detail::fail(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<uint8_t> bytes;
    // The size is only a hint (the file may change, or be a pipe): read
    // until the end either way.
    if (std::fseek(file.get(), 0, SEEK_END) == 0) {
        const long size = std::ftell(file.get());
        if (size > 0)
            reserve_with_huge_pages(bytes, static_cast<size_t>(size));
        std::fseek(file.get(), 0, SEEK_SET);
    }
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0)
        bytes.insert(bytes.end(), chunk, chunk + got);
    if (std::ferror(file.get()))
        detail::fail(path, std::string("cannot read: ") + std::strerror(errno));
    return bytes;
}

bool is_gzip(std::span<const uint8_t> bytes)
{
    return bytes.size() >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B;
}

uint64_t max_inflated_size(uint64_t compressed_bytes) { return compressed_bytes * kMaxInflateRatio + kInflateSlack; }

struct GzipReader::Stream {
    z_stream zs{};
    bool open = false;
    ~Stream()
    {
        if (open)
            inflateEnd(&zs);
    }
};

GzipReader::GzipReader(std::span<const uint8_t> compressed, std::string source)
    : m_bytes(compressed), m_source(std::move(source)), m_stream(std::make_unique<Stream>())
{
    if (inflateInit2(&m_stream->zs, 16 + MAX_WBITS) != Z_OK) // 16: expect a gzip wrapper
        detail::fail(m_source, "cannot start zlib's inflater");
    m_stream->open = true;
}

GzipReader::~GzipReader() = default;

uint64_t GzipReader::compressed_offset() const { return m_in_pos - m_stream->zs.avail_in; }

size_t GzipReader::read(uint8_t *dst, size_t n)
{
    z_stream &zs = m_stream->zs;
    size_t done = 0;
    while (done < n && !m_ended) {
        if (zs.avail_in == 0 && m_in_pos < m_bytes.size()) {
            const size_t more = std::min<size_t>(m_bytes.size() - m_in_pos, std::numeric_limits<uInt>::max());
            zs.next_in = const_cast<Bytef *>(m_bytes.data() + m_in_pos);
            zs.avail_in = static_cast<uInt>(more);
            m_in_pos += more;
        }
        const size_t room = std::min<size_t>(n - done, std::numeric_limits<uInt>::max());
        zs.next_out = dst + done;
        zs.avail_out = static_cast<uInt>(room);
        const int status = inflate(&zs, Z_NO_FLUSH);
        done += room - zs.avail_out;
        if (status == Z_STREAM_END) {
            const size_t at = compressed_offset();
            const std::span<const uint8_t> rest = m_bytes.subspan(at);
            if (rest.empty() || only_zeros(rest)) {
                m_ended = true;
            } else if (!is_gzip(rest)) {
                detail::fail_at_byte(m_source, at, "unexpected data after the end of the gzip stream");
            } else {
                inflateReset(&zs); // another gzip member follows (as `cat a.gz b.gz` makes)
            }
            continue;
        }
        if (status == Z_DATA_ERROR || status == Z_NEED_DICT)
            detail::fail_at_byte(m_source, compressed_offset(),
                                 std::string("corrupt compressed data (zlib: ") + (zs.msg ? zs.msg : "invalid data") +
                                     ")");
        if (status == Z_MEM_ERROR)
            detail::fail(m_source, "out of memory while inflating");
        if (status == Z_BUF_ERROR && zs.avail_in == 0 && m_in_pos == m_bytes.size())
            detail::fail_at_byte(m_source, m_bytes.size(),
                                 "the compressed data ends before the gzip stream does (truncated file?)");
    }
    m_produced += done;
    return done;
}

std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string &source)
{
    const uint64_t cap = max_inflated_size(bytes.size());
    GzipReader reader(bytes, source);
    std::vector<uint8_t> out;
    // The trailer's size is a first guess, never trusted with much memory:
    // a forged one cannot make this allocate (and zero) gigabytes.
    reserve_with_huge_pages(out, std::min<uint64_t>(size_hint(bytes, cap), kMaxFirstGuess));
    out.resize(out.capacity());
    size_t got = 0;
    while (!reader.ended()) {
        if (got == out.size()) {
            if (out.size() >= cap)
                detail::fail_at_byte(source, reader.compressed_offset(),
                                     "the compressed data inflates to more than " + std::to_string(cap) +
                                         " bytes, which gzip cannot");
            out.resize(static_cast<size_t>(std::min<uint64_t>(cap, out.size() * 2 + kInflateSlack)));
        }
        got += reader.read(out.data() + got, out.size() - got);
    }
    out.resize(got);
    return out;
}

std::vector<uint8_t> read_maybe_gzip(const std::string &path)
{
    std::vector<uint8_t> bytes = read_file(path);
    if (is_gzip(bytes))
        return gunzip(bytes, path);
    return bytes;
}

} // namespace neurite::data
