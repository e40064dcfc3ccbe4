#pragma once

#include "neurite/core/desc.h"

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

} // namespace neurite
