#include "neurite/core/data/npy.h"

#include "neurite/core/data/file_bytes.h"

#include "parse_errors.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace neurite::data {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr const char *kSupported =
    "supported are float32 ('<f4'), float64 ('<f8'), uint8 ('|u1') and int64 ('<i8'), little-endian";

size_t element_size(NpyType type)
{
    switch (type) {
    case NpyType::UInt8: return 1;
    case NpyType::Float32: return 4;
    case NpyType::Float64:
    case NpyType::Int64: return 8;
    }
    return 1;
}

uint64_t little_endian(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

double npy_value(const uint8_t *data, NpyType type, size_t i)
{
    const uint8_t *p = data + i * element_size(type);
    switch (type) {
    case NpyType::UInt8: return p[0];
    case NpyType::Float32: return std::bit_cast<float>(static_cast<uint32_t>(little_endian(p, 4)));
    case NpyType::Float64: return std::bit_cast<double>(little_endian(p, 8));
    case NpyType::Int64: return static_cast<double>(static_cast<int64_t>(little_endian(p, 8)));
    }
    return 0;
}

// Reads the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (100, 2), }
// reporting positions as file offsets.
class HeaderReader {
public:
    HeaderReader(std::string_view text, size_t file_offset, const std::string &source)
        : m_text(text), m_base(file_offset), m_source(source)
    {
    }

    size_t offset() const { return m_base + m_pos; }

    [[noreturn]] void fail(const std::string &message) const
    {
        detail::fail_at_byte(m_source, offset(), message);
    }

    void skip_space()
    {
        while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' ||
                                         m_text[m_pos] == '\n' || m_text[m_pos] == '\r'))
            ++m_pos;
    }

    bool accept(char c)
    {
        skip_space();
        if (m_pos < m_text.size() && m_text[m_pos] == c) {
            ++m_pos;
            return true;
        }
        return false;
    }

    void expect(char c, const char *where)
    {
        if (!accept(c))
            fail(std::string("malformed header: expected '") + c + "' " + where);
    }

    std::string string_literal()
    {
        skip_space();
        if (m_pos >= m_text.size() || (m_text[m_pos] != '\'' && m_text[m_pos] != '"'))
            fail("malformed header: expected a quoted string");
        const char quote = m_text[m_pos++];
        const size_t end = m_text.find(quote, m_pos);
        if (end == std::string_view::npos)
            fail("malformed header: a string is not closed");
        std::string s(m_text.substr(m_pos, end - m_pos));
        m_pos = end + 1;
        return s;
    }

    bool boolean()
    {
        skip_space();
        for (const auto &[word, value] : {std::pair{"True", true}, std::pair{"False", false}})
            if (m_text.substr(m_pos).starts_with(word)) {
                m_pos += std::strlen(word);
                return value;
            }
        fail("malformed header: fortran_order must be True or False");
    }

    std::vector<int64_t> shape_tuple()
    {
        expect('(', "to open the shape");
        std::vector<int64_t> shape;
        while (!accept(')')) {
            skip_space();
            uint64_t d = 0;
            const size_t start = m_pos;
            while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
                d = d * 10 + static_cast<uint64_t>(m_text[m_pos++] - '0');
                if (d > (uint64_t(1) << 48))
                    fail("a dimension of the shape is too large");
            }
            if (m_pos == start)
                fail("malformed header: the shape must be a tuple of whole numbers");
            shape.push_back(static_cast<int64_t>(d));
            if (!accept(','))
                expect(')', "to close the shape");
            else
                continue;
            break;
        }
        return shape;
    }

private:
    std::string_view m_text;
    size_t m_base;
    const std::string &m_source;
    size_t m_pos = 0;
};

NpyType dtype_from(const std::string &descr, const HeaderReader &at)
{
    if (descr == "<f4")
        return NpyType::Float32;
    if (descr == "<f8")
        return NpyType::Float64;
    if (descr == "|u1" || descr == "<u1" || descr == ">u1" || descr == "u1")
        return NpyType::UInt8;
    if (descr == "<i8")
        return NpyType::Int64;
    at.fail("unsupported dtype " + detail::quoted(descr) + "; " + kSupported);
}

// The file's bytes, or the span's copied; the header is validated by the caller.
struct NpyFile {
    std::vector<uint8_t> bytes;
    std::string source;
    NpyHeader header;
};

Dataset npy_dataset(NpyFile x, const NpyFile *y, const NpyOptions &options)
{
    const NpyHeader &hx = x.header;
    if (hx.shape.empty())
        detail::fail(x.source, "X is a single number; it needs a first dimension of samples");
    DatasetParts parts;
    parts.source = x.source;
    parts.count = hx.shape[0];
    parts.input_shape = hx.shape.size() == 1 ? Shape{1} : Shape(std::span(hx.shape).subspan(1));
    const size_t values = hx.data_bytes / element_size(hx.type);
    if (hx.type == NpyType::UInt8) {
        parts.bytes = std::move(x.bytes);
        parts.byte_offset = hx.data_offset;
        parts.byte_scale = options.scale_to_unit ? 1.0f / 255.0f : 1.0f;
    } else {
        parts.floats.resize(values);
        for (size_t i = 0; i < values; ++i) {
            const double v = npy_value(x.bytes.data() + hx.data_offset, hx.type, i);
            if (!std::isfinite(v) || std::fabs(v) > 3.4e38)
                detail::fail_at_byte(x.source, hx.data_offset + i * element_size(hx.type),
                                     "element " + std::to_string(i) + " is " + detail::number_text(v) +
                                         ", not a finite float32 (missing values are not supported)");
            parts.floats[i] = static_cast<float>(v);
        }
    }
    if (!y || options.target == TargetMode::None)
        return Dataset::create(std::move(parts));

    const NpyHeader &hy = y->header;
    if (hy.shape.empty() || hy.shape[0] != parts.count)
        detail::fail(y->source, "y holds " + (hy.shape.empty() ? std::string("a single number") :
                                              detail::plural(hy.shape[0], "row", "rows")) +
                                    ", but " + x.source + " holds " +
                                    detail::plural(parts.count, "sample", "samples") +
                                    "; every sample needs one target");
    const bool integer = hy.type == NpyType::UInt8 || hy.type == NpyType::Int64;
    const TargetMode mode = options.target != TargetMode::Auto
                                ? options.target
                                : (integer && hy.shape.size() == 1 ? TargetMode::Classes : TargetMode::Values);
    const size_t targets = hy.data_bytes / element_size(hy.type);
    const int64_t named = static_cast<int64_t>(options.class_names.size());
    if (mode == TargetMode::Classes && targets != static_cast<size_t>(parts.count))
        detail::fail(y->source, "class targets are one per sample, but y has shape " +
                                    Shape(std::span(hy.shape)).to_string());
    parts.targets.resize(targets);
    for (size_t i = 0; i < targets; ++i) {
        const double v = npy_value(y->bytes.data() + hy.data_offset, hy.type, i);
        const size_t at = hy.data_offset + i * element_size(hy.type);
        if (!std::isfinite(v) || std::fabs(v) > 3.4e38)
            detail::fail_at_byte(y->source, at, "target " + std::to_string(i) + " is " + detail::number_text(v) +
                                                    ", not a finite float32");
        if (mode == TargetMode::Classes &&
            (v < 0 || v != std::floor(v) || (named && v >= static_cast<double>(named))))
            detail::fail_at_byte(y->source, at,
                                 "target " + std::to_string(i) + " is " + detail::number_text(v) +
                                     (named ? ", not one of the " + std::to_string(named) + " classes named"
                                            : ", not a class index (a whole number from 0)"));
        parts.targets[i] = static_cast<float>(v);
    }
    if (mode == TargetMode::Classes) {
        parts.target_kind = TargetKind::Classes;
        parts.class_names = options.class_names;
        parts.class_count = named;
    } else {
        parts.target_kind = TargetKind::Values;
        parts.target_width = parts.count ? static_cast<int64_t>(targets) / parts.count : 1;
    }
    return Dataset::create(std::move(parts));
}

} // namespace

const char *npy_type_name(NpyType type)
{
    switch (type) {
    case NpyType::Float32: return "float32";
    case NpyType::Float64: return "float64";
    case NpyType::UInt8: return "uint8";
    case NpyType::Int64: return "int64";
    }
    return "?";
}

NpyHeader parse_npy_header(std::span<const uint8_t> bytes, const std::string &source)
{
    if (bytes.empty())
        detail::fail(source, "the file is empty, expected a NumPy .npy header");
    if (bytes.size() < kMagicSize || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
        detail::fail_at_byte(source, 0, "not a NumPy .npy file (it must start with \\x93NUMPY)");
    if (bytes.size() < 10)
        detail::fail_at_byte(source, bytes.size(), "truncated: the file ends inside the .npy preamble");
    const int major = bytes[6];
    if (major < 1 || major > 3)
        detail::fail_at_byte(source, 6, "unsupported .npy format version " + std::to_string(major) + "." +
                                            std::to_string(bytes[7]) + " (1.0 to 3.0 are)");
    const size_t length_size = major == 1 ? 2 : 4;
    const size_t text_start = 8 + length_size;
    if (bytes.size() < text_start)
        detail::fail_at_byte(source, bytes.size(), "truncated: the file ends inside the .npy preamble");
    const uint64_t text_length = little_endian(bytes.data() + 8, length_size);
    if (text_length > bytes.size() - text_start)
        detail::fail_at_byte(source, bytes.size(),
                             "truncated: the header is " + std::to_string(text_length) +
                                 " bytes long, but the file ends after " +
                                 std::to_string(bytes.size() - text_start));

    const std::string_view text(reinterpret_cast<const char *>(bytes.data() + text_start), text_length);
    HeaderReader reader(text, text_start, source);
    NpyHeader header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    reader.expect('{', "to open the header dict");
    while (!reader.accept('}')) {
        const std::string key = reader.string_literal();
        reader.expect(':', "after a key");
        reader.skip_space();
        if (key == "descr") {
            const HeaderReader at = reader;
            header.type = dtype_from(reader.string_literal(), at);
            seen_descr = true;
        } else if (key == "fortran_order") {
            const HeaderReader at = reader;
            if (reader.boolean())
                at.fail("the array is stored in Fortran (column-major) order; only C order is "
                        "supported (save numpy.ascontiguousarray(a) instead)");
            seen_order = true;
        } else if (key == "shape") {
            header.shape = reader.shape_tuple();
            seen_shape = true;
        } else {
            reader.fail("malformed header: unknown key " + detail::quoted(key));
        }
        if (!reader.accept(',')) {
            reader.expect('}', "to close the header dict");
            break;
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        reader.fail("malformed header: 'descr', 'fortran_order' and 'shape' are all required");
    if (header.shape.size() >= static_cast<size_t>(Shape::kMaxDims))
        detail::fail_at_byte(source, text_start, "the array has " + std::to_string(header.shape.size()) +
                                                     " dimensions; at most " +
                                                     std::to_string(Shape::kMaxDims - 1) + " are supported");

    header.data_offset = text_start + text_length;
    header.data_bytes = detail::check_data_size(source, bytes.size(), header.data_offset,
                                                element_size(header.type), header.shape,
                                                "a " + Shape(std::span(header.shape)).to_string() +
                                                    " array of " + npy_type_name(header.type));
    return header;
}

Dataset parse_npy(std::span<const uint8_t> x, const std::string &x_source, std::span<const uint8_t> y,
                  const std::string &y_source, const NpyOptions &options)
{
    NpyFile xf{{x.begin(), x.end()}, x_source, parse_npy_header(x, x_source)};
    if (y.empty() && y_source.empty())
        return npy_dataset(std::move(xf), nullptr, options);
    NpyFile yf{{y.begin(), y.end()}, y_source, parse_npy_header(y, y_source)};
    return npy_dataset(std::move(xf), &yf, options);
}

Dataset load_npy(const std::string &x_path, const std::string &y_path, const NpyOptions &options)
{
    NpyFile xf{read_file(x_path), x_path, {}};
    xf.header = parse_npy_header(xf.bytes, x_path);
    if (y_path.empty())
        return npy_dataset(std::move(xf), nullptr, options);
    NpyFile yf{read_file(y_path), y_path, {}};
    yf.header = parse_npy_header(yf.bytes, y_path);
    return npy_dataset(std::move(xf), &yf, options);
}

} // namespace neurite::data
