// bfloat16 values as a plugin meets them in a bf16 model's tensors: the
// upper 16 bits of an f32. Widening is exact; narrowing rounds to nearest
// even like oneDNN's kernels (vcvtneps2bf16), so a plugin's own code and
// oneDNN's agree on every normal value. Subnormal floats differ: the
// instruction reads them as zero, nearest_bf16 rounds them (the host's
// threads flush them to zero anyway, unless the user keeps them).
#ifndef NEURITE_PLUGIN_BF16_HPP
#define NEURITE_PLUGIN_BF16_HPP

#include <bit>
#include <cstdint>

namespace neurite::sdk {

// The f32 with the same value as the bfloat16 bits.
inline float widen_bf16(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

// The bfloat16 bits of x, rounded to nearest even on the 16 dropped bits
// (vcvtneps2bf16's rounding). A NaN stays a quiet NaN whatever its payload:
// the rounding carry would turn some into Inf or zero.
inline uint16_t nearest_bf16(float x)
{
    const uint32_t bits = std::bit_cast<uint32_t>(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return static_cast<uint16_t>((bits >> 16) | 0x40u);
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// x as a bf16 product operand sees it: rounded to bf16, widened back.
inline float bf16_value(float x) { return widen_bf16(nearest_bf16(x)); }

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_BF16_HPP
