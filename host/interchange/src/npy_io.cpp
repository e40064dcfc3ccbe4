// .npy files for tensors (format 1.0 written; 1.0 to 3.0 read through the
// dataset loader's header parser, data::parse_npy_header).
#include "neurite/interchange/npy_io.h"

#include "neurite/core/data/file_bytes.h"
#include "neurite/core/durable_file.h"
#include "neurite/core/error.h"

#include <bit>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <limits>

namespace neurite::interchange {

namespace {

static_assert(std::endian::native == std::endian::little,
              ".npy files are written little-endian, as this machine stores numbers");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kPreamble = 10; // magic, version 1.0, u16 header length

const char *descr_of(NpyType type)
{
    switch (type) {
    case NpyType::Float32: return "<f4";
    case NpyType::Float64: return "<f8";
    case NpyType::UInt8: return "|u1";
    case NpyType::Int64: return "<i8";
    }
    return "<f4";
}

size_t size_of(NpyType type)
{
    switch (type) {
    case NpyType::UInt8: return 1;
    case NpyType::Float32: return 4;
    default: return 8;
    }
}

// "()", "(3,)", "(2, 3)": Python's tuple syntax, as numpy writes it.
std::string shape_tuple(const Shape &shape)
{
    std::string s = "(";
    for (int i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

std::string number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", v);
    return text;
}

// An integer dtype holds only whole numbers in its range.
void check_fits(double v, NpyType type, int64_t index, const std::string &what)
{
    const double lo = type == NpyType::UInt8 ? 0.0 : -9223372036854775808.0;
    const double hi = type == NpyType::UInt8 ? 255.0 : 9223372036854775807.0;
    if (!std::isfinite(v) || v != std::floor(v) || v < lo || v > hi)
        throw Error(what + ": element " + std::to_string(index + 1) + " is " + number(v) + ", not a whole number in [" +
                    number(lo) + ", " + number(hi) + "] as " + data::npy_type_name(type) + " needs");
}

template <class T> void put(uint8_t *dst, T v) { std::memcpy(dst, &v, sizeof v); }
template <class T> T get(const uint8_t *src)
{
    T v;
    std::memcpy(&v, src, sizeof v);
    return v;
}

} // namespace

NpyType npy_type_from_name(const std::string &name, const std::string &where)
{
    for (NpyType t : {NpyType::Float32, NpyType::Float64, NpyType::Int64, NpyType::UInt8})
        if (name == data::npy_type_name(t))
            return t;
    throw Error(where + ": unknown dtype '" + name + "' (dtypes: float32, float64, int64, uint8)");
}

std::vector<uint8_t> encode_npy(const Tensor &tensor, NpyType type, const std::string &what)
{
    const Tensor t = tensor.contiguous();
    std::string header = "{'descr': '" + std::string(descr_of(type)) +
                         "', 'fortran_order': False, 'shape': " + shape_tuple(t.shape()) + ", }";
    // numpy pads the header with spaces so the data starts on a 64-byte line.
    const size_t unpadded = kPreamble + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';

    const auto count = static_cast<size_t>(t.numel());
    std::vector<uint8_t> out(kPreamble + header.size() + count * size_of(type));
    std::memcpy(out.data(), kMagic, 6);
    out[6] = 1;
    out[7] = 0;
    put<uint16_t>(out.data() + 8, static_cast<uint16_t>(header.size()));
    std::memcpy(out.data() + kPreamble, header.data(), header.size());
    uint8_t *dst = out.data() + kPreamble + header.size();
    const float *src = count ? t.data() : nullptr;
    for (size_t i = 0; i < count; ++i) {
        const float v = src[i];
        switch (type) {
        case NpyType::Float32: put<float>(dst + 4 * i, v); break;
        case NpyType::Float64: put<double>(dst + 8 * i, v); break;
        case NpyType::Int64:
            check_fits(v, type, static_cast<int64_t>(i), what);
            put<int64_t>(dst + 8 * i, static_cast<int64_t>(v));
            break;
        case NpyType::UInt8:
            check_fits(v, type, static_cast<int64_t>(i), what);
            dst[i] = static_cast<uint8_t>(v);
            break;
        }
    }
    return out;
}

Tensor decode_npy(std::span<const uint8_t> bytes, const std::string &source, NpyType *stored)
{
    const data::NpyHeader h = data::parse_npy_header(bytes, source);
    Shape shape;
    for (int64_t d : h.shape)
        shape.push_back(d);
    shape.checked_numel();
    Tensor t = Tensor::uninitialized(shape);
    const auto count = static_cast<size_t>(t.numel());
    const uint8_t *src = bytes.data() + h.data_offset;
    float *dst = count ? t.data() : nullptr;
    const size_t step = size_of(h.type);
    for (size_t i = 0; i < count; ++i) {
        const uint8_t *p = src + i * step;
        switch (h.type) {
        case NpyType::Float32: dst[i] = get<float>(p); break;
        case NpyType::Float64: {
            const double v = get<double>(p);
            if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
                throw Error(source + ": byte " + std::to_string(h.data_offset + i * step) + ": element " +
                            std::to_string(i + 1) + " is " + number(v) + ", too large for float32");
            dst[i] = static_cast<float>(v);
            break;
        }
        case NpyType::Int64: dst[i] = static_cast<float>(get<int64_t>(p)); break;
        case NpyType::UInt8: dst[i] = p[0]; break;
        }
    }
    if (stored)
        *stored = h.type;
    return t;
}

void save_npy(const std::string &path, const Tensor &t, NpyType type)
{
    durable_write(path, encode_npy(t, type, path));
}

Tensor load_npy(const std::string &path, NpyType *stored)
{
    return decode_npy(data::read_file(path), path, stored);
}

} // namespace neurite::interchange
