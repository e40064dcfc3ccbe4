#pragma once

#include "neurite/core/desc.h"

#include <neurite/plugin_bf16.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace neurite {

// Which bfloat16 kernels oneDNN runs on this CPU, as far as it may use the
// CPU's instructions (ONEDNN_MAX_CPU_ISA caps them, which is how tests play a
// CPU without bf16).
struct Bf16Kernels {
    // "AMX" (AMX tiles and AVX512-BF16), "AVX512-BF16", or "none".
    std::string name;
    bool supported = false;
    // What oneDNN may use: its own name of the ISA, e.g. "avx512_core_amx".
    std::string isa;
    // Without support: the instructions that are missing, for messages.
    std::string missing;
};
Bf16Kernels bf16_kernels();

// "f32" or "bf16"; anything else throws, naming `who` and the choices.
DType parse_precision(const std::string &text, const std::string &who);

// Throws, naming `who` and the missing instructions, unless the CPU runs
// bf16 kernels. bf16 without them would run in an emulation several times
// slower than f32, so it is refused rather than done quietly.
void require_bf16(const std::string &who);

// The precision new models start in (neurite-run --precision); f32 unless set.
DType default_precision();
void set_default_precision(DType precision);

// Says once per layer type, on stderr, that a layer reads and writes f32
// tensors in a bf16 model (it has no bf16 path, or, as Conv2D, multiplies
// bf16 copies inside), so the host converts at its boundary.
void note_f32_boundary(const std::string &type_name);

// The bfloat16 bits of x, rounded to nearest even (the SDK's, so that the
// host and plugins round alike).
using sdk::nearest_bf16;
using sdk::widen_bf16;

// 1 when x is NaN or Inf (its exponent bits all ones), else 0: integer
// tests that OR together in one vectorised pass, where a float sum of x * 0
// waited on its additions' latency.
inline uint32_t non_finite(float x)
{
    constexpr uint32_t exponent = 0x7f800000u;
    return static_cast<uint32_t>((std::bit_cast<uint32_t>(x) & exponent) == exponent);
}

// Rounds n floats to bfloat16 (to nearest even) and answers, in the same
// pass, whether all of them were finite: a bf16 model's input is read once
// for both. The parameter arena's refresh uses it too. Where the build
// targets AVX512-BF16 (-march=native on such a CPU) vcvtne2ps2bf16 rounds,
// which like oneDNN's bf16 kernels reads subnormal floats as zero.
bool round_to_bf16(const float *src, uint16_t *dst, size_t n);

} // namespace neurite
