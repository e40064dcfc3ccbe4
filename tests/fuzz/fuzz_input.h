#pragma once

// Shared by the fuzz targets: carves the fuzzer's bytes into option bits and
// one or two files, so one input exercises options and both halves of a
// two-file format (images + labels, X + y).
#include <cstddef>
#include <cstdint>
#include <span>

namespace neurite::fuzz {

struct Input {
    uint8_t options = 0;
    std::span<const uint8_t> first;
    std::span<const uint8_t> second;
};

// Byte 0: option bits; byte 1: where the first file ends (as a fraction of
// the rest); then the two files.
inline Input split_input(const uint8_t *data, size_t size)
{
    Input in;
    if (size < 2)
        return in;
    in.options = data[0];
    const std::span<const uint8_t> rest(data + 2, size - 2);
    const size_t cut = rest.size() * data[1] / 255;
    in.first = rest.first(cut);
    in.second = rest.subspan(cut);
    return in;
}

} // namespace neurite::fuzz
